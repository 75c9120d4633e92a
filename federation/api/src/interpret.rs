//! Karmada's default resource interpreter (`pkg/resourceinterpreter/default/native`) for the
//! built-in workloads: replicas and per-replica requirements of a template, revising a
//! manifest's replicas, the status a member object reports back (`reflectstatus.go`) and its
//! health (`healthy.go`). The agent uses the last two; the detector and binding controller the
//! first two.

use std::collections::BTreeMap;

use cceone_kube_quantity::Quantity;
use serde_json::{Map, Value, json};

use crate::names;
use crate::value::{arr_at, at, i64_at, obj_at, str_at};

/// Health of a member object, as Work and binding statuses spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The object is healthy.
    Healthy,
    /// The object is not healthy yet (or any more).
    Unhealthy,
    /// Health could not be determined.
    Unknown,
}

impl Health {
    /// `Healthy`, `Unhealthy` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Unhealthy => "Unhealthy",
            Health::Unknown => "Unknown",
        }
    }
}

/// `(group-version, kind)` of an object.
fn gvk(o: &Value) -> (&str, &str) {
    (str_at(o, &["apiVersion"]), str_at(o, &["kind"]))
}

/// The replicas and per-replica requirements of a workload template (Deployment, ReplicaSet,
/// StatefulSet: `spec.replicas`; Job: `min(parallelism, completions)`; Pod: 1); `(0, None)` for
/// anything else. An absent `spec.replicas` / `parallelism` counts as 1, the value
/// kube-apiserver would have defaulted.
pub fn get_replicas(template: &Value) -> (i32, Option<Value>) {
    let clamp = |v: i64| i32::try_from(v.max(0)).unwrap_or(i32::MAX);
    match gvk(template) {
        ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet") => {
            let replicas = i64_at(template, &["spec", "replicas"]).unwrap_or(1);
            let pod = at(template, &["spec", "template", "spec"]).unwrap_or(&Value::Null);
            (clamp(replicas), replica_requirements(pod))
        }
        ("batch/v1", "Job") => {
            let parallelism = i64_at(template, &["spec", "parallelism"]).unwrap_or(1);
            let completions = i64_at(template, &["spec", "completions"]).unwrap_or(parallelism);
            let pod = at(template, &["spec", "template", "spec"]).unwrap_or(&Value::Null);
            (
                clamp(parallelism.min(completions)),
                replica_requirements(pod),
            )
        }
        ("v1", "Pod") => (
            1,
            replica_requirements(template.get("spec").unwrap_or(&Value::Null)),
        ),
        _ => (0, None),
    }
}

/// `GenerateReplicaRequirements`: the node claim (nodeSelector, tolerations, required node
/// affinity) and resource request of one replica; `None` when it has neither.
pub fn replica_requirements(pod_spec: &Value) -> Option<Value> {
    let mut claim = Map::new();
    if let Some(sel) = pod_spec.get("nodeSelector").filter(|v| !v.is_null()) {
        claim.insert("nodeSelector".into(), sel.clone());
    }
    if !arr_at(pod_spec, &["tolerations"]).is_empty() {
        claim.insert("tolerations".into(), pod_spec["tolerations"].clone());
    }
    if let Some(aff) = at(
        pod_spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ],
    )
    .filter(|v| !v.is_null())
    {
        claim.insert("hardNodeAffinity".into(), aff.clone());
    }
    let request = pod_request(pod_spec);
    if claim.is_empty() && request.is_empty() {
        return None;
    }
    let mut req = Map::new();
    if !claim.is_empty() {
        req.insert("nodeClaim".into(), Value::Object(claim));
    }
    if !request.is_empty() {
        req.insert("resourceRequest".into(), Value::Object(request));
    }
    Some(Value::Object(req))
}

/// Whether a resource name is counted (`cpu`, `memory`, `ephemeral-storage`, `pods` and the
/// scalar ones: extended, hugepages, attachable volumes).
fn counted(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage" | "pods")
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.contains("kubernetes.io/"))
}

/// A quantity in the unit Karmada's `Resource` keeps it in: milli-cores for cpu, whole units
/// (rounded up) otherwise.
fn amount(name: &str, q: &Quantity) -> i128 {
    if name == "cpu" { q.milli() } else { q.value() }
}

/// `Resource.AddPodTemplateRequest(...).ResourceList()`: containers' requests (limits standing
/// in for missing requests) summed, raised to any init container's, plus the pod overhead.
fn pod_request(pod_spec: &Value) -> Map<String, Value> {
    let requests = |c: &Value| -> BTreeMap<String, i128> {
        let mut out = BTreeMap::new();
        for source in ["limits", "requests"] {
            for (k, v) in obj_at(c, &["resources", source]).into_iter().flatten() {
                let q = quantity(v);
                if let Some(q) = q.filter(|_| counted(k)) {
                    out.insert(k.clone(), amount(k, &q));
                }
            }
        }
        out
    };
    let mut total: BTreeMap<String, i128> = BTreeMap::new();
    for c in arr_at(pod_spec, &["containers"]) {
        for (k, v) in requests(c) {
            *total.entry(k).or_default() += v;
        }
    }
    for c in arr_at(pod_spec, &["initContainers"]) {
        for (k, v) in requests(c) {
            let e = total.entry(k).or_default();
            *e = (*e).max(v);
        }
    }
    for (k, v) in obj_at(pod_spec, &["overhead"]).into_iter().flatten() {
        if let Some(q) = quantity(v).filter(|_| counted(k)) {
            *total.entry(k.clone()).or_default() += amount(k, &q);
        }
    }
    total
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| {
            let text = if k == "cpu" {
                Quantity::from_milli(v).to_string()
            } else if matches!(k.as_str(), "memory" | "ephemeral-storage")
                || k.starts_with("hugepages-")
            {
                Quantity::from_units(v).format_binary()
            } else {
                Quantity::from_units(v).to_string()
            };
            (k, json!(text))
        })
        .collect()
}

/// A quantity from a JSON string or number.
pub fn quantity(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => Quantity::parse(s).ok(),
        Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// Sets a manifest's replicas for one member cluster (`ReviseReplica`): `spec.replicas` of a
/// Deployment, ReplicaSet or StatefulSet, `spec.parallelism` of a Job; other kinds unchanged.
pub fn revise_replicas(manifest: &mut Value, replicas: i32) {
    let field = match gvk(manifest) {
        ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet") => "replicas",
        ("batch/v1", "Job") => "parallelism",
        _ => return,
    };
    if let Some(spec) = manifest.as_object_mut().and_then(|m| {
        if !m.get("spec").is_some_and(Value::is_object) {
            m.insert("spec".into(), Value::Object(Map::new()));
        }
        m.get_mut("spec").and_then(Value::as_object_mut)
    }) {
        spec.insert(field.into(), json!(replicas));
    }
}

/// The status a member object reports in its Work's `manifestStatuses` (`ReflectStatus`):
/// for Deployment, ReplicaSet, StatefulSet and DaemonSet the counters plus `generation` and
/// `resourceTemplateGeneration` (from the `resourcetemplate.karmada.io/generation`
/// annotation); for Job its counters, conditions and times; for a Service only a LoadBalancer's
/// `loadBalancer`; for anything else the whole `status`. `None` when there is nothing to report.
pub fn reflect_status(member: &Value) -> Option<Value> {
    let status = member.get("status").filter(|v| v.is_object())?;
    let pick = |fields: &[&str], generations: bool| {
        let mut out = Map::new();
        if generations {
            let generation = i64_at(member, &["metadata", "generation"]).unwrap_or(0);
            let rtg = obj_at(member, &["metadata", "annotations"])
                .and_then(|a| a.get(names::RESOURCE_TEMPLATE_GENERATION_ANNOTATION))
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            for (k, v) in [
                ("generation", generation),
                ("resourceTemplateGeneration", rtg),
            ] {
                if v != 0 {
                    out.insert(k.into(), json!(v));
                }
            }
        }
        for f in fields {
            if let Some(v) = status.get(*f).filter(|v| !v.is_null() && **v != json!(0)) {
                out.insert((*f).into(), v.clone());
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    };
    match gvk(member) {
        ("apps/v1", "Deployment") => pick(
            &[
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
                "unavailableReplicas",
                "observedGeneration",
            ],
            true,
        ),
        ("apps/v1", "ReplicaSet") => pick(
            &[
                "replicas",
                "readyReplicas",
                "availableReplicas",
                "observedGeneration",
            ],
            true,
        ),
        ("apps/v1", "StatefulSet") => pick(
            &[
                "replicas",
                "readyReplicas",
                "currentReplicas",
                "updatedReplicas",
                "availableReplicas",
                "observedGeneration",
            ],
            true,
        ),
        ("apps/v1", "DaemonSet") => pick(
            &[
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "numberAvailable",
                "numberMisscheduled",
                "numberReady",
                "updatedNumberScheduled",
                "numberUnavailable",
                "observedGeneration",
            ],
            true,
        ),
        ("batch/v1", "Job") => pick(
            &[
                "active",
                "succeeded",
                "failed",
                "conditions",
                "startTime",
                "completionTime",
            ],
            false,
        ),
        ("v1", "Service") => (str_at(member, &["spec", "type"]) == "LoadBalancer").then(
            || json!({"loadBalancer": status.get("loadBalancer").cloned().unwrap_or(json!({}))}),
        ),
        _ => Some(status.clone()),
    }
}

/// The health of a member object (`InterpretHealth`); kinds without a built-in rule are
/// Healthy, as Karmada's work status controller treats them.
pub fn interpret_health(member: &Value) -> Health {
    let i = |p: &[&str]| i64_at(member, p).unwrap_or(0);
    let generation = i(&["metadata", "generation"]);
    let observed = i(&["status", "observedGeneration"]);
    let ok = match gvk(member) {
        ("apps/v1", "Deployment" | "StatefulSet") => {
            observed == generation
                && i64_at(member, &["spec", "replicas"])
                    .is_none_or(|r| i(&["status", "updatedReplicas"]) >= r)
                && i(&["status", "availableReplicas"]) >= i(&["status", "updatedReplicas"])
        }
        ("apps/v1", "ReplicaSet") => {
            observed == generation
                && i64_at(member, &["spec", "replicas"])
                    .is_none_or(|r| i(&["status", "availableReplicas"]) >= r)
        }
        ("apps/v1", "DaemonSet") => {
            observed == generation
                && i(&["status", "updatedNumberScheduled"])
                    >= i(&["status", "desiredNumberScheduled"])
                && i(&["status", "numberAvailable"]) >= i(&["status", "updatedNumberScheduled"])
        }
        ("v1", "Service") => {
            str_at(member, &["spec", "type"]) != "LoadBalancer" || lb_has_address(member)
        }
        ("networking.k8s.io/v1", "Ingress") => lb_has_address(member),
        ("v1", "PersistentVolumeClaim") => str_at(member, &["status", "phase"]) == "Bound",
        ("v1", "Pod") => {
            let phase = str_at(member, &["status", "phase"]);
            phase == "Succeeded"
                || (phase == "Running"
                    && arr_at(member, &["status", "conditions"]).iter().any(|c| {
                        str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True"
                    }))
        }
        ("policy/v1", "PodDisruptionBudget") => {
            i(&["status", "currentHealthy"]) >= i(&["status", "desiredHealthy"])
        }
        _ => true,
    };
    if ok {
        Health::Healthy
    } else {
        Health::Unhealthy
    }
}

fn lb_has_address(member: &Value) -> bool {
    arr_at(member, &["status", "loadBalancer", "ingress"])
        .iter()
        .any(|i| !str_at(i, &["hostname"]).is_empty() || !str_at(i, &["ip"]).is_empty())
}
