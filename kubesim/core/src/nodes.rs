//! Node predicates: readiness, cordoning, taints against tolerations, and
//! `nodeSelector` / required node affinity, following the scheduler's
//! `NodeUnschedulable`, `TaintToleration` and `NodeAffinity` filters.

use serde_json::Value;

use crate::json::{array_at, at, bool_at, condition_true, name, str_at};

/// Taint key the node lifecycle controller uses for NotReady nodes.
pub(crate) const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint key for cordoned (`spec.unschedulable`) nodes.
pub(crate) const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Whether the node's `Ready` condition has status `True`.
pub fn node_is_ready(node: &Value) -> bool {
    condition_true(node, "Ready")
}

/// Whether a pod without tolerations or node constraints could be placed on
/// the node: it is ready, not cordoned, and has no `NoSchedule`/`NoExecute`
/// taints. Use [`node_schedulable_for`] for a particular pod.
pub fn node_schedulable(node: &Value) -> bool {
    node_schedulable_for(node, &Value::Null)
}

/// Whether `pod` may be placed on the node, resources aside: the node is
/// ready (or the pod tolerates the not-ready taint), not cordoned (or the pod
/// tolerates the unschedulable taint), every `NoSchedule`/`NoExecute` taint is
/// tolerated, and `spec.nodeSelector` / required node affinity match.
pub fn node_schedulable_for(node: &Value, pod: &Value) -> bool {
    node_filter_failure(node, pod).is_none()
}

/// The first scheduler filter the node fails for `pod`, as kube's reason
/// text (without the count), or `None` when it passes all non-resource
/// filters. `spec.nodeName` is checked by the caller.
pub(crate) fn node_filter_failure(node: &Value, pod: &Value) -> Option<String> {
    let tolerations = array_at(pod, &["spec", "tolerations"]);
    if !node_is_ready(node) && !tolerates(tolerations, TAINT_NOT_READY, "", "NoSchedule") {
        return Some("node(s) were not ready".into());
    }
    if bool_at(node, &["spec", "unschedulable"])
        && !tolerates(tolerations, TAINT_UNSCHEDULABLE, "", "NoSchedule")
    {
        return Some("node(s) were unschedulable".into());
    }
    if let Some(taint) = untolerated_taint(node, tolerations) {
        let key = str_at(taint, &["key"]).unwrap_or("");
        let value = str_at(taint, &["value"]).unwrap_or("");
        return Some(format!("node(s) had untolerated taint {{{key}: {value}}}"));
    }
    if !matches_node_constraints(pod, node) {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    None
}

/// Whether any toleration tolerates the taint `key=value:effect`
/// (Kubernetes' `Toleration.ToleratesTaint`).
pub(crate) fn tolerates(tolerations: &[Value], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|t| {
        let t_effect = str_at(t, &["effect"]).unwrap_or("");
        let t_key = str_at(t, &["key"]).unwrap_or("");
        if !t_effect.is_empty() && t_effect != effect {
            return false;
        }
        if !t_key.is_empty() && t_key != key {
            return false;
        }
        match str_at(t, &["operator"]).unwrap_or("Equal") {
            "Exists" => true,
            "" | "Equal" => !t_key.is_empty() && str_at(t, &["value"]).unwrap_or("") == value,
            _ => false,
        }
    })
}

/// The first `NoSchedule`/`NoExecute` taint of the node no toleration covers.
pub(crate) fn untolerated_taint<'a>(node: &'a Value, tolerations: &[Value]) -> Option<&'a Value> {
    array_at(node, &["spec", "taints"]).iter().find(|taint| {
        let effect = str_at(taint, &["effect"]).unwrap_or("");
        (effect == "NoSchedule" || effect == "NoExecute")
            && !tolerates(
                tolerations,
                str_at(taint, &["key"]).unwrap_or(""),
                str_at(taint, &["value"]).unwrap_or(""),
                effect,
            )
    })
}

/// Whether the node matches the pod's `spec.nodeSelector` and the required
/// terms of `spec.affinity.nodeAffinity`.
pub(crate) fn matches_node_constraints(pod: &Value, node: &Value) -> bool {
    let labels = at(node, &["metadata", "labels"]);
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let selector_ok = at(pod, &["spec", "nodeSelector"])
        .and_then(Value::as_object)
        .is_none_or(|sel| sel.iter().all(|(k, v)| label(k) == v.as_str()));
    if !selector_ok {
        return false;
    }
    let Some(required) = at(
        pod,
        &[
            "spec",
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ],
    ) else {
        return true;
    };
    let terms = array_at(required, &["nodeSelectorTerms"]);
    terms.iter().any(|term| {
        let exprs = array_at(term, &["matchExpressions"]);
        let fields = array_at(term, &["matchFields"]);
        (!exprs.is_empty() || !fields.is_empty())
            && exprs.iter().all(|e| requirement_matches(e, label))
            && fields
                .iter()
                .all(|e| requirement_matches(e, |k| (k == "metadata.name").then(|| name(node))))
    })
}

/// Evaluates one node selector requirement against a key lookup.
fn requirement_matches<'a>(req: &Value, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
    let key = str_at(req, &["key"]).unwrap_or("");
    let values: Vec<&str> = array_at(req, &["values"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let actual = lookup(key);
    let number = |s: &str| s.parse::<i64>().ok();
    let bound = values.first().and_then(|v| number(v));
    match str_at(req, &["operator"]).unwrap_or("") {
        "In" => actual.is_some_and(|a| values.contains(&a)),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        "Gt" => matches!((actual.and_then(number), bound), (Some(a), Some(b)) if a > b),
        "Lt" => matches!((actual.and_then(number), bound), (Some(a), Some(b)) if a < b),
        _ => false,
    }
}
