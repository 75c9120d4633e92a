//! The `RegisteredCluster` CustomResourceDefinition (group `platform.cceone.io`): its schema and
//! printer columns, applying it to the federation API, and typed access to its spec.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::phase::{MAX_OPERATIONS, Phase};
use crate::{GROUP, PlatformError, VERSION};

/// The kind of a registered cluster.
pub const KIND: &str = "RegisteredCluster";
/// Its plural resource name.
pub const PLURAL: &str = "registeredclusters";
/// The CRD's name (`<plural>.<group>`).
pub const CRD_NAME: &str = "registeredclusters.platform.cceone.io";

/// How long [`ensure_crds`] waits for `Established`.
const ESTABLISH_DEADLINE: Duration = Duration::from_secs(30);

/// Where a registered cluster runs, which also decides its price per vCPU-hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterType {
    /// A ctyun cloud cluster.
    #[serde(rename = "ctyun")]
    Ctyun,
    /// A cluster in the customer's own data centre (IDC).
    #[serde(rename = "local")]
    Local,
    /// A cluster on another cloud.
    #[serde(rename = "third-party")]
    ThirdParty,
}

impl ClusterType {
    /// Every type, in the order the schema lists them.
    pub const ALL: [ClusterType; 3] = [
        ClusterType::Ctyun,
        ClusterType::Local,
        ClusterType::ThirdParty,
    ];

    /// The value stored in `spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterType::Ctyun => "ctyun",
            ClusterType::Local => "local",
            ClusterType::ThirdParty => "third-party",
        }
    }

    /// Parse a `spec.type` value.
    pub fn parse(s: &str) -> Option<ClusterType> {
        ClusterType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The `spec` of a RegisteredCluster, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredClusterSpec {
    /// Where the cluster runs.
    #[serde(rename = "type")]
    pub cluster_type: ClusterType,
    /// Cloud or infrastructure provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Unsubscribing is refused while true.
    #[serde(default)]
    pub delete_protection: bool,
    /// The cluster's certificate is refused and its tunnel closed.
    #[serde(default)]
    pub revoked: bool,
    /// The admin unsubscribed the cluster.
    #[serde(default)]
    pub unsubscribed: bool,
    /// The fleet the cluster belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<String>,
}

impl RegisteredClusterSpec {
    /// The spec of a RegisteredCluster object (`None` when absent or invalid).
    pub fn of(obj: &Value) -> Option<RegisteredClusterSpec> {
        serde_json::from_value(obj.get("spec")?.clone()).ok()
    }
}

pub(crate) fn string() -> Value {
    json!({"type": "string"})
}

pub(crate) fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

pub(crate) fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn spec_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": ClusterType::ALL.map(ClusterType::as_str),
                "description": "Where the cluster runs: ctyun, local (IDC) or third-party."},
            "provider": string(),
            "region": string(),
            "zone": string(),
            "deleteProtection": {"type": "boolean", "description": "Refuse unsubscribing."},
            "revoked": {"type": "boolean",
                "description": "Refuse the cluster's certificate and close its tunnel."},
            "unsubscribed": {"type": "boolean"},
            "fleet": string(),
        },
    })
}

fn status_schema() -> Value {
    let phases: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": phases},
            "vcpus": {"type": "string",
                "description": "vCPUs by the metering rule, a Kubernetes quantity such as 7 or 3500m."},
            "kubernetesVersion": string(),
            "nodeSummary": {"type": "object", "properties": {
                "total": {"type": "integer"}, "ready": {"type": "integer"}}},
            "resourceSummary": {"type": "object", "properties": {
                "capacity": string_map(), "allocatable": string_map(), "allocated": string_map()}},
            "apiEnablements": {"type": "array", "items": {"type": "object", "properties": {
                "groupVersion": string(),
                "resources": {"type": "array", "items": {"type": "object", "properties": {
                    "name": string(), "kind": string()}}},
            }}},
            "transport": {"type": "string", "enum": ["grpc", "quic"]},
            "protocolVersion": {"x-kubernetes-int-or-string": true},
            "agentVersion": string(),
            "agentId": string(),
            "agentAddress": {"type": "string",
                "description": "The address the agent's tunnel came from, as its hub saw it."},
            "hub": {"type": "string",
                "description": "The hub holding the cluster's tunnel (its id; several hubs may serve one federation). Only that hub relays the cluster's Works and forwards its proxied requests."},
            "lastHeartbeatTime": date_time(),
            "connectedSince": date_time(),
            "certificateNotAfter": date_time(),
            "certificateSerials": {"type": "array", "items": string(),
                "description": "Serials (hex) of the certificates that may speak for the cluster: the one issued at its latest registration and those of later rotations, the newest two. Any other certificate is refused."},
            "federationMember": {"type": "boolean",
                "description": "Whether the cluster is (to be) a member of the federation: false while it is in a fleet that is not bound to the federation, or once it is unsubscribed. Absent means yes (a cluster in no fleet joins directly)."},
            "deleteProtection": {"type": "boolean",
                "description": "The delete protection last recorded in the operation log."},
            "membership": {"type": "string",
                "description": "Why federationMember is what it is, for people."},
            "registrationGeneration": {"type": "integer",
                "description": "How many times a bootstrap token was redeemed for the cluster."},
            "conditions": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "required": ["type", "status"], "properties": {
                    "type": string(),
                    "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                    "reason": string(),
                    "message": string(),
                    "lastTransitionTime": date_time(),
                    "observedGeneration": {"type": "integer"},
                }},
            },
            "operations": {
                "type": "array",
                "maxItems": MAX_OPERATIONS,
                "description": "The operation log, newest last.",
                "items": {"type": "object", "properties": {
                    "time": date_time(), "type": string(), "reason": string(), "message": string(),
                    "user": string()}},
            },
        },
    })
}

pub(crate) fn column(name: &str, ty: &str, path: &str, priority: i32) -> Value {
    json!({"name": name, "type": ty, "jsonPath": path, "priority": priority})
}

/// The RegisteredCluster CRD: cluster-scoped, status subresource, short name `regc`, category
/// `cceone`, a structural schema and the printer columns `kubectl get registeredclusters` shows
/// (ZONE, TRANSPORT and PROTECTED only with `-o wide`).
pub fn registered_cluster_crd() -> Value {
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
                "singular": "registeredcluster",
                "shortNames": ["regc"],
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
                        "spec": spec_schema(),
                        "status": status_schema(),
                    },
                }},
                "additionalPrinterColumns": [
                    column("Type", "string", ".spec.type", 0),
                    column("Provider", "string", ".spec.provider", 0),
                    column("Version", "string", ".status.kubernetesVersion", 0),
                    column("Region", "string", ".spec.region", 0),
                    column("Phase", "string", ".status.phase", 0),
                    column("vCPUs", "string", ".status.vcpus", 0),
                    column("Age", "date", ".metadata.creationTimestamp", 0),
                    column("Zone", "string", ".spec.zone", 1),
                    column("Transport", "string", ".status.transport", 1),
                    column("Protected", "boolean", ".spec.deleteProtection", 1),
                ],
            }],
        },
    })
}

/// The kube-rs resource description of RegisteredClusters.
pub fn registered_cluster_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// A dynamic API handle on RegisteredClusters (cluster-scoped).
pub fn registered_clusters(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &registered_cluster_resource())
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Apply the platform's CRDs with server-side apply as `manager` (forcing ownership, so the hub
/// and `cceonectl` can both keep them current) and wait until each reports `Established`.
pub async fn ensure_crds(client: &kube::Client, manager: &str) -> Result<(), PlatformError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(manager).force();
    let crds = [
        (CRD_NAME, registered_cluster_crd()),
        (crate::fleet::CRD_NAME, crate::fleet::fleet_crd()),
        (crate::usage::CRD_NAME, crate::usage::usage_record_crd()),
        (crate::grant::CRD_NAME, crate::grant::grant_crd()),
    ];
    for (name, crd) in &crds {
        api.patch(name, &params, &Patch::Apply(crd))
            .await
            .map_err(|e| PlatformError::api(format!("applying CRD {name}"), e))?;
    }
    let start = Instant::now();
    for (name, _) in crds {
        loop {
            let crd = api
                .get(name)
                .await
                .map_err(|e| PlatformError::api(format!("reading CRD {name}"), e))?;
            if established(&crd) {
                break;
            }
            if start.elapsed() > ESTABLISH_DEADLINE {
                return Err(PlatformError::NotEstablished {
                    name: name.to_string(),
                    waited_secs: ESTABLISH_DEADLINE.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn crd_is_a_valid_typed_crd_with_the_promised_shape() {
        let v = registered_cluster_crd();
        let crd: CustomResourceDefinition = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["regc".to_string()][..])
        );
        let version = &crd.spec.versions[0];
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let cols: Vec<(String, i32)> = version
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| (c.name.to_uppercase(), c.priority.unwrap_or(0)))
            .collect();
        let shown: Vec<&str> = cols
            .iter()
            .filter(|c| c.1 == 0)
            .map(|c| c.0.as_str())
            .collect();
        assert_eq!(
            shown,
            [
                "TYPE", "PROVIDER", "VERSION", "REGION", "PHASE", "VCPUS", "AGE"
            ]
        );
        assert!(cols.contains(&("ZONE".into(), 1)) && cols.contains(&("TRANSPORT".into(), 1)));
        let phases = v
            .pointer(
                "/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/phase/enum",
            )
            .unwrap();
        assert_eq!(phases.as_array().unwrap().len(), Phase::ALL.len());
    }

    #[test]
    fn spec_round_trips() {
        let obj =
            json!({"spec": {"type": "third-party", "region": "r1", "deleteProtection": true}});
        let spec = RegisteredClusterSpec::of(&obj).unwrap();
        assert_eq!(spec.cluster_type, ClusterType::ThirdParty);
        assert!(spec.delete_protection && !spec.revoked);
        assert_eq!(serde_json::to_value(&spec).unwrap()["type"], "third-party");
        assert!(RegisteredClusterSpec::of(&json!({"spec": {"type": "mars"}})).is_none());
        assert_eq!(ClusterType::parse("local"), Some(ClusterType::Local));
        assert_eq!(ClusterType::parse("Local"), None);
    }
}
