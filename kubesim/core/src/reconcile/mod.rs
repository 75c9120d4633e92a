//! Workload reconciliation plans: given a ReplicaSet, StatefulSet, DaemonSet
//! or Job, the pods it owns and the nodes, the pod creations and deletions
//! that move the cluster toward the workload's spec — one step of what the
//! kube-controller-manager would do; given a Deployment and its ReplicaSets,
//! or a CronJob and its Jobs, the objects to create, scale and delete. Pod
//! names are derived deterministically, so re-planning before earlier
//! creations are visible yields the same names (and the API server rejects
//! the duplicates) instead of extra pods.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::events::Event;
use crate::json::{at, is_terminating, name, name_suffix, namespace, nonempty_str_at, set, str_at};
use crate::resources::qos_class;

pub(crate) mod cron;
mod cronjob;
mod daemonset;
mod deployment;
mod job;
mod replicaset;
mod statefulset;

pub(crate) use cronjob::cronjob_status;
pub use cronjob::reconcile_cronjob;
pub(crate) use daemonset::{daemon_pod_template, node_should_run, target_node};
pub use deployment::reconcile_deployment;
pub(crate) use deployment::{current_hash, fenceposts, find_new, is_recreate};
pub(crate) use job::{JobState, counts as job_counts, is_indexed, state as job_state};
pub(crate) use statefulset::{ordinal, update_revision};

/// What the driver must do for one workload.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this complete pod object (no `spec.nodeName` unless the
    /// controller pins it, as for DaemonSet pods).
    CreatePod(Value),
    /// Delete the named pod.
    DeletePod {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// Create this object (a ReplicaSet or a Job); record `event` once it is created.
    Create {
        /// The complete object, `apiVersion` and `kind` included.
        object: Value,
        /// What to record on success.
        event: Option<Event>,
    },
    /// Merge-patch an object; record `event` once it is patched.
    Patch {
        /// The object.
        target: Target,
        /// The JSON merge patch.
        patch: Value,
        /// What to record on success.
        event: Option<Event>,
    },
    /// Delete an object; record `event` once it is deleted.
    Delete {
        /// The object.
        target: Target,
        /// What to record on success.
        event: Option<Event>,
    },
    /// Record an event.
    Record(Event),
}

/// An object a controller writes to, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `Deployment`, `ReplicaSet` or `Job`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl Target {
    /// The target naming `obj` as a `kind`.
    pub(crate) fn of(kind: &'static str, obj: &Value) -> Target {
        Target {
            kind,
            namespace: namespace(obj).to_owned(),
            name: name(obj).to_owned(),
        }
    }
}

impl Action {
    /// The action deleting `pod`.
    pub(crate) fn delete(pod: &Value) -> Action {
        Action::DeletePod {
            namespace: namespace(pod).to_owned(),
            name: name(pod).to_owned(),
        }
    }
}

/// The actions that move `workload` (a `ReplicaSet`, `StatefulSet`,
/// `DaemonSet` or `Job` in JSON form) toward its spec, given the pods it owns
/// (`ownerReferences` uid equal to the workload's) and the cluster's nodes.
/// Workloads being deleted and other kinds (Deployments and CronJobs own no
/// pods: see [`reconcile_deployment`], [`reconcile_cronjob`]) get no actions.
pub fn reconcile(workload: &Value, owned_pods: &[Value], nodes: &[Value]) -> Vec<Action> {
    if is_terminating(workload) {
        return Vec::new();
    }
    match str_at(workload, &["kind"]).unwrap_or("") {
        "ReplicaSet" => replicaset::reconcile(workload, owned_pods),
        "StatefulSet" => statefulset::reconcile(workload, owned_pods),
        "DaemonSet" => daemonset::reconcile(workload, owned_pods, nodes),
        "Job" => job::reconcile(workload, owned_pods),
        _ => Vec::new(),
    }
}

/// `spec.replicas`, defaulting to 1, never negative.
pub(crate) fn replicas(workload: &Value) -> i64 {
    at(workload, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

/// The default `apiVersion` for a workload kind.
fn default_api_version(kind: &str) -> &'static str {
    match kind {
        "Job" | "CronJob" => "batch/v1",
        "Pod" | "ReplicationController" => "v1",
        _ => "apps/v1",
    }
}

/// Extra metadata for a new pod beyond its template.
#[derive(Default)]
pub(crate) struct PodExtras {
    /// Labels added to the template's.
    pub(crate) labels: Vec<(String, String)>,
    /// Annotations added to the template's.
    pub(crate) annotations: Vec<(String, String)>,
}

/// Builds a pod from the workload's `spec.template`: name, namespace,
/// template labels and annotations plus `extras`, a controller owner
/// reference, the template spec and an initial Pending status.
pub(crate) fn new_pod(workload: &Value, pod_name: &str, extras: PodExtras) -> Value {
    let template = at(workload, &["spec", "template"]);
    let string_map = |key: &str, extra: Vec<(String, String)>| {
        let mut map = template
            .and_then(|t| at(t, &["metadata", key]))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in extra {
            map.insert(k, Value::String(v));
        }
        map
    };
    let kind = str_at(workload, &["kind"]).unwrap_or("");
    let owner = json!({
        "apiVersion": nonempty_str_at(workload, &["apiVersion"]).unwrap_or(default_api_version(kind)),
        "kind": kind,
        "name": name(workload),
        "uid": str_at(workload, &["metadata", "uid"]).unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true,
    });
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(pod_name));
    metadata.insert("namespace".into(), json!(namespace(workload)));
    metadata.insert(
        "labels".into(),
        Value::Object(string_map("labels", extras.labels)),
    );
    let annotations = string_map("annotations", extras.annotations);
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    metadata.insert("ownerReferences".into(), json!([owner]));
    let spec = template
        .and_then(|t| t.get("spec"))
        .filter(|s| s.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": Value::Object(metadata),
        "spec": spec,
    });
    let qos = qos_class(&pod);
    set(
        &mut pod,
        &["status"],
        json!({ "phase": "Pending", "qosClass": qos }),
    );
    pod
}

/// Generates pod names `<prefix><5 chars>` that collide neither with
/// existing pods nor with each other.
pub(crate) struct NameGen<'a> {
    /// Seed for the suffixes (workload identity and scope).
    seed: String,
    /// Name prefix, including the trailing dash.
    prefix: String,
    /// Names already in use.
    taken: HashSet<&'a str>,
    /// Names handed out by this generator.
    issued: HashSet<String>,
    /// Next counter to try.
    counter: u64,
}

impl<'a> NameGen<'a> {
    /// A generator for `prefix`, avoiding the names of `existing`.
    pub(crate) fn new(seed: String, prefix: String, existing: &'a [Value]) -> Self {
        NameGen {
            seed,
            prefix,
            taken: existing.iter().map(name).collect(),
            issued: HashSet::new(),
            counter: 0,
        }
    }

    /// Restarts the suffix sequence from another seed, still avoiding every
    /// name issued so far.
    pub(crate) fn reseed(&mut self, seed: String) {
        self.seed = seed;
        self.counter = 0;
    }

    /// The next free name.
    pub(crate) fn next_name(&mut self) -> String {
        loop {
            let candidate = format!("{}{}", self.prefix, name_suffix(&self.seed, self.counter));
            self.counter += 1;
            if !self.taken.contains(candidate.as_str()) && !self.issued.contains(&candidate) {
                self.issued.insert(candidate.clone());
                return candidate;
            }
        }
    }
}

/// Deletes up to `count` pods from `candidates` in controller preference
/// order, appending to `actions`; returns how many were deleted.
pub(crate) fn delete_preferred(
    candidates: &[&Value],
    count: usize,
    actions: &mut Vec<Action>,
) -> usize {
    let mut sorted: Vec<&Value> = candidates.to_vec();
    sorted.sort_by(|a, b| crate::pods::deletion_order(a, b));
    let n = count.min(sorted.len());
    actions.extend(sorted.into_iter().take(n).map(Action::delete));
    n
}

#[cfg(test)]
mod tests;
