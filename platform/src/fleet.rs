//! The `Fleet` CustomResourceDefinition (seed `003_*` §4.3): a cluster-scoped group of
//! registered clusters, optionally bound to the federation so that its clusters become
//! federation members. Which fleet a cluster is in is the cluster's own `spec.fleet`, so a
//! cluster belongs to at most one fleet by construction; the fleet's status sums its members'
//! reports (pure: [`fleet_status`]).

use cceone_kube_quantity::Quantity;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crd::{column, string};
use crate::{GROUP, VERSION};

/// The kind of a fleet.
pub const KIND: &str = "Fleet";
/// Its plural resource name.
pub const PLURAL: &str = "fleets";
/// The CRD's name.
pub const CRD_NAME: &str = "fleets.platform.cceone.io";
/// The name of the one federation this platform runs; the only value `spec.federation` takes.
pub const FEDERATION: &str = "default";

/// The `spec` of a Fleet, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSpec {
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The federation the fleet is bound to ([`FEDERATION`]), if any: while bound, every
    /// member cluster is a federation member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<String>,
}

impl FleetSpec {
    /// The spec of a Fleet object (`None` when absent or invalid).
    pub fn of(obj: &Value) -> Option<FleetSpec> {
        match obj.get("spec") {
            None | Some(Value::Null) => Some(FleetSpec::default()),
            Some(spec) => serde_json::from_value(spec.clone()).ok(),
        }
    }

    /// Whether the fleet is bound to the federation.
    pub fn bound(&self) -> bool {
        self.federation.as_deref().is_some_and(|f| !f.is_empty())
    }
}

/// The Fleet CRD: cluster-scoped, status subresource, short name `flt`, category `cceone`,
/// printer columns NAME CLUSTERS FEDERATION NODES CPU-ALLOCATED MEMORY-ALLOCATED AGE.
pub fn fleet_crd() -> Value {
    let int = json!({"type": "integer"});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "cceone"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": KIND,
                "listKind": format!("{KIND}List"),
                "plural": PLURAL,
                "singular": "fleet",
                "shortNames": ["flt"],
                "categories": ["cceone"],
            },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": string(),
                        "kind": string(),
                        "metadata": {"type": "object"},
                        "spec": {"type": "object", "properties": {
                            "description": string(),
                            "federation": {"type": "string",
                                "description": "The federation the fleet is bound to (\"default\"): its clusters are federation members while it is set."},
                        }},
                        "status": {"type": "object", "properties": {
                            "clusters": int.clone(),
                            "clusterNames": {"type": "array", "items": string()},
                            "nodes": int.clone(),
                            "readyNodes": int.clone(),
                            "vcpus": string(),
                            "cpuAllocated": {"type": "string",
                                "description": "CPU requested by pods over allocatable CPU of the members, as a percentage."},
                            "memoryAllocated": {"type": "string",
                                "description": "Memory requested by pods over allocatable memory of the members, as a percentage."},
                            "observedGeneration": int,
                        }},
                    },
                }},
                "additionalPrinterColumns": [
                    column("Clusters", "integer", ".status.clusters", 0),
                    column("Federation", "string", ".spec.federation", 0),
                    column("Nodes", "integer", ".status.nodes", 0),
                    column("CPU-Allocated", "string", ".status.cpuAllocated", 0),
                    column("Memory-Allocated", "string", ".status.memoryAllocated", 0),
                    column("Age", "date", ".metadata.creationTimestamp", 0),
                    column("vCPUs", "string", ".status.vcpus", 1),
                    column("Description", "string", ".spec.description", 1),
                ],
            }],
        },
    })
}

/// The kube-rs resource description of Fleets.
pub fn fleet_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// A dynamic API handle on Fleets (cluster-scoped).
pub fn fleets(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &fleet_resource())
}

/// The fleet a RegisteredCluster object names in `spec.fleet` (None when empty or absent).
pub fn fleet_of(cluster: &Value) -> Option<&str> {
    cluster
        .pointer("/spec/fleet")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
}

fn quantity(v: &Value, ptr: &str) -> Quantity {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .and_then(|q| Quantity::parse(q).ok())
        .unwrap_or(Quantity::ZERO)
}

/// `part / whole` as a whole percentage (`"37%"`), `"0%"` when there is nothing allocatable.
fn percent(part: Quantity, whole: Quantity) -> String {
    let whole = whole.milli();
    if whole <= 0 {
        return "0%".into();
    }
    format!("{}%", (part.milli() * 100 + whole / 2) / whole)
}

/// A fleet's status from its member RegisteredClusters (as the hub reports them): how many
/// there are, their nodes, vCPUs, and the CPU and memory allocation rates (requested over
/// allocatable, summed over the members, as the seed's fleet overview shows them).
pub fn fleet_status(members: &[&Value]) -> Value {
    let mut names: Vec<&str> = members
        .iter()
        .filter_map(|m| m.pointer("/metadata/name").and_then(Value::as_str))
        .collect();
    names.sort_unstable();
    let int = |m: &Value, p: &str| m.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let sum = |p: &str| -> Quantity { members.iter().map(|m| quantity(m, p)).sum() };
    json!({
        "clusters": members.len(),
        "clusterNames": names,
        "nodes": members.iter().map(|m| int(m, "/status/nodeSummary/total")).sum::<i64>(),
        "readyNodes": members.iter().map(|m| int(m, "/status/nodeSummary/ready")).sum::<i64>(),
        "vcpus": sum("/status/vcpus").to_string(),
        "cpuAllocated": percent(
            sum("/status/resourceSummary/allocated/cpu"),
            sum("/status/resourceSummary/allocatable/cpu"),
        ),
        "memoryAllocated": percent(
            sum("/status/resourceSummary/allocated/memory"),
            sum("/status/resourceSummary/allocatable/memory"),
        ),
    })
}

/// Whether a registered cluster should be a federation member, and why: a cluster in no
/// fleet joins the federation directly (the one-machine default); a cluster in a fleet is a
/// member exactly while its fleet is bound to the federation; an unsubscribed one never.
/// `fleet` is the cluster's fleet object when it exists.
pub fn membership(cluster: &Value, fleet: Option<&Value>) -> (bool, String) {
    let unsubscribed = cluster.pointer("/spec/unsubscribed") == Some(&Value::Bool(true));
    if unsubscribed {
        return (false, "the cluster is unsubscribed".into());
    }
    match (fleet_of(cluster), fleet) {
        (None, _) => (true, "in no fleet: joins the federation directly".into()),
        (Some(name), Some(f)) if FleetSpec::of(f).is_some_and(|s| s.bound()) => {
            (true, format!("fleet {name} is bound to the federation"))
        }
        (Some(name), Some(_)) => (
            false,
            format!("fleet {name} is not bound to the federation"),
        ),
        (Some(name), None) => (false, format!("fleet {name} does not exist")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

    #[test]
    fn crd_has_the_promised_columns() {
        let crd: CustomResourceDefinition = serde_json::from_value(fleet_crd()).unwrap();
        assert_eq!(crd.spec.scope, "Cluster");
        let shown: Vec<String> = crd.spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .filter(|c| c.priority.unwrap_or(0) == 0)
            .map(|c| c.name.to_uppercase())
            .collect();
        assert_eq!(
            shown,
            [
                "CLUSTERS",
                "FEDERATION",
                "NODES",
                "CPU-ALLOCATED",
                "MEMORY-ALLOCATED",
                "AGE"
            ]
        );
    }

    fn member(name: &str, nodes: i64, alloc: &str, cpu: &str, mem_alloc: &str, mem: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"type": "local", "fleet": "f"},
            "status": {"vcpus": cpu, "nodeSummary": {"total": nodes, "ready": nodes},
            "resourceSummary": {"allocatable": {"cpu": cpu, "memory": mem},
                "allocated": {"cpu": alloc, "memory": mem_alloc}}}})
    }

    #[test]
    fn status_sums_members() {
        let a = member("b", 3, "1500m", "6", "1Gi", "8Gi");
        let b = member("a", 2, "500m", "4", "3Gi", "8Gi");
        let st = fleet_status(&[&a, &b]);
        assert_eq!(st["clusters"], 2);
        assert_eq!(st["clusterNames"], json!(["a", "b"]));
        assert_eq!(st["nodes"], 5);
        assert_eq!(st["vcpus"], "10");
        assert_eq!(st["cpuAllocated"], "20%");
        assert_eq!(st["memoryAllocated"], "25%");
        let empty = fleet_status(&[]);
        assert_eq!(empty["clusters"], 0);
        assert_eq!(empty["cpuAllocated"], "0%");
    }

    #[test]
    fn membership_follows_the_fleet_binding() {
        let alone = json!({"spec": {"type": "local"}});
        assert!(membership(&alone, None).0);
        let inside = json!({"spec": {"type": "local", "fleet": "f"}});
        let unbound = json!({"metadata": {"name": "f"}, "spec": {}});
        let bound = json!({"metadata": {"name": "f"}, "spec": {"federation": FEDERATION}});
        assert!(!membership(&inside, Some(&unbound)).0);
        assert!(membership(&inside, Some(&bound)).0);
        assert!(!membership(&inside, None).0);
        let gone = json!({"spec": {"type": "local", "unsubscribed": true}});
        assert!(!membership(&gone, None).0);
    }
}
