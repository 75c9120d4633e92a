//! DaemonSet reconciliation: one pod per node the template fits (node
//! selector, required node affinity and taints, with the tolerations the
//! DaemonSet controller adds; readiness and cordoning are ignored as in
//! Kubernetes). Pods are pinned with `spec.nodeName` and a `metadata.name`
//! node affinity, named `<ds>-<5 chars>`, and rolled with `maxUnavailable`.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::{Action, NameGen, PodExtras, new_pod};
use crate::json::{
    array_at, at, generation, int_or_percent, is_terminating, label, name, namespace, set, str_at,
    template_hash,
};
use crate::nodes::{matches_node_constraints, untolerated_taint};
use crate::pods::{deletion_order, is_ready, is_terminal, node_name};

/// Label with the template hash on DaemonSet pods.
pub(crate) const REVISION_LABEL: &str = "controller-revision-hash";

/// Tolerations the DaemonSet controller adds to every daemon pod.
const DEFAULT_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// A pod-shaped value with the DaemonSet's template spec plus the default
/// daemon tolerations, for [`node_should_run`].
pub(crate) fn daemon_pod_template(ds: &Value) -> Value {
    let mut spec = at(ds, &["spec", "template", "spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    add_default_tolerations(&mut spec);
    json!({ "spec": spec })
}

/// Appends the daemon tolerations `spec` lacks.
fn add_default_tolerations(spec: &mut Value) {
    let mut tolerations: Vec<Value> = array_at(spec, &["tolerations"]).to_vec();
    let mut extra: Vec<(&str, &str)> = DEFAULT_TOLERATIONS.to_vec();
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        extra.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    for (key, effect) in extra {
        let present = tolerations
            .iter()
            .any(|t| str_at(t, &["key"]) == Some(key) && str_at(t, &["effect"]) == Some(effect));
        if !present {
            tolerations.push(json!({ "key": key, "operator": "Exists", "effect": effect }));
        }
    }
    set(spec, &["tolerations"], Value::Array(tolerations));
}

/// Whether a daemon pod built from `template` (see [`daemon_pod_template`])
/// belongs on `node`.
pub(crate) fn node_should_run(template: &Value, node: &Value) -> bool {
    matches_node_constraints(template, node)
        && untolerated_taint(node, array_at(template, &["spec", "tolerations"])).is_none()
}

/// The node a daemon pod is for: `spec.nodeName`, else the single
/// `metadata.name` value of its required node affinity.
pub(crate) fn target_node(pod: &Value) -> Option<&str> {
    node_name(pod).or_else(|| {
        let terms = at(
            pod,
            &[
                "spec",
                "affinity",
                "nodeAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution",
            ],
        )
        .map(|r| array_at(r, &["nodeSelectorTerms"]))
        .unwrap_or(&[]);
        terms
            .iter()
            .flat_map(|t| array_at(t, &["matchFields"]))
            .find(|f| str_at(f, &["key"]) == Some("metadata.name"))
            .and_then(|f| array_at(f, &["values"]).first())
            .and_then(Value::as_str)
    })
}

/// One reconciliation step for a DaemonSet.
pub(super) fn reconcile(ds: &Value, owned: &[Value], nodes: &[Value]) -> Vec<Action> {
    let template = daemon_pod_template(ds);
    let hash = template_hash(at(ds, &["spec", "template"]));
    let mut actions: Vec<Action> = owned
        .iter()
        .filter(|p| is_terminal(p) && !is_terminating(p))
        .map(Action::delete)
        .collect();
    let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for pod in owned
        .iter()
        .filter(|p| !is_terminal(p) && !is_terminating(p))
    {
        by_node
            .entry(target_node(pod).unwrap_or(""))
            .or_default()
            .push(pod);
    }
    let mut sorted_nodes: Vec<&Value> = nodes.iter().collect();
    sorted_nodes.sort_by(|a, b| name(a).cmp(name(b)));
    let known: HashSet<&str> = sorted_nodes.iter().map(|n| name(n)).collect();

    let prefix = format!("{}-", name(ds));
    let mut names = NameGen::new(String::new(), prefix, owned);
    // (kept pod, node) for nodes that should run the daemon and have a pod.
    let mut kept: Vec<&Value> = Vec::new();
    let mut unavailable = 0i64;
    let mut desired = 0i64;
    for node in &sorted_nodes {
        let node_name = name(node);
        let pods = by_node.remove(node_name).unwrap_or_default();
        if !node_should_run(&template, node) {
            actions.extend(pods.iter().map(|p| Action::delete(p)));
            continue;
        }
        desired += 1;
        let mut pods = pods;
        // Keep the best pod: ready first, then oldest (reverse deletion order).
        pods.sort_by(|a, b| deletion_order(b, a));
        let mut iter = pods.into_iter();
        match iter.next() {
            None => {
                names.reseed(format!("{}/{}/{node_name}", namespace(ds), name(ds)));
                actions.push(Action::CreatePod(daemon_pod(
                    ds,
                    &names.next_name(),
                    node_name,
                    &hash,
                )));
                unavailable += 1;
            }
            Some(pod) => {
                if !is_ready(pod) {
                    unavailable += 1;
                }
                kept.push(pod);
            }
        }
        actions.extend(iter.map(Action::delete));
    }
    for (node, pods) in by_node {
        if node.is_empty() || !known.contains(node) {
            actions.extend(pods.iter().map(|p| Action::delete(p)));
        }
    }

    if str_at(ds, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return actions;
    }
    let rolling = at(ds, &["spec", "updateStrategy", "rollingUpdate"]);
    let mut max_unavailable = int_or_percent(
        rolling.and_then(|r| r.get("maxUnavailable")),
        desired,
        true,
        "1",
    );
    let max_surge = int_or_percent(rolling.and_then(|r| r.get("maxSurge")), desired, true, "0");
    if max_unavailable <= 0 && max_surge <= 0 {
        max_unavailable = 1;
    }
    let stale = kept
        .into_iter()
        .filter(|p| label(p, REVISION_LABEL) != Some(hash.as_str()));
    let (stale_ready, stale_unready): (Vec<&Value>, Vec<&Value>) = stale.partition(|p| is_ready(p));
    // Old pods that are not available anyway are replaced right away.
    actions.extend(stale_unready.into_iter().map(Action::delete));
    for pod in stale_ready {
        if unavailable >= max_unavailable {
            break;
        }
        actions.push(Action::delete(pod));
        unavailable += 1;
    }
    actions
}

/// The daemon pod for one node.
fn daemon_pod(ds: &Value, pod_name: &str, node: &str, hash: &str) -> Value {
    let mut labels = vec![(REVISION_LABEL.to_owned(), hash.to_owned())];
    if let Some(g) = generation(ds) {
        labels.push(("pod-template-generation".to_owned(), g.to_string()));
    }
    let extras = PodExtras {
        labels,
        annotations: Vec::new(),
    };
    let mut pod = new_pod(ds, pod_name, extras);
    let mut spec = pod.get("spec").cloned().unwrap_or_else(|| json!({}));
    add_default_tolerations(&mut spec);
    set(&mut spec, &["nodeName"], json!(node));
    let required = json!({
        "nodeSelectorTerms": [{
            "matchFields": [{ "key": "metadata.name", "operator": "In", "values": [node] }],
        }],
    });
    set(
        &mut spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ],
        required,
    );
    set(&mut pod, &["spec"], spec);
    pod
}
