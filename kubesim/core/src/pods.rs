//! Pod predicates shared by reconciliation and status: phase, readiness,
//! availability, ownership and the controllers' deletion preference.

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::json::{
    array_at, condition, condition_true, is_terminating, name, nonempty_str_at, parse_time, str_at,
};

/// `status.phase`, `Pending` when unset.
pub(crate) fn phase(pod: &Value) -> &str {
    str_at(pod, &["status", "phase"])
        .filter(|p| !p.is_empty())
        .unwrap_or("Pending")
}

/// Whether the pod has finished (Succeeded or Failed).
pub(crate) fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether the pod counts as a live replica: not finished, not being deleted.
pub(crate) fn is_active(pod: &Value) -> bool {
    !is_terminal(pod) && !is_terminating(pod)
}

/// Whether the pod's `Ready` condition is `True`.
pub(crate) fn is_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// Whether the pod is Running and Ready (the StatefulSet ordering test).
pub(crate) fn is_running_and_ready(pod: &Value) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

/// Whether the pod has been Ready for at least `min_ready_seconds` at `now`.
pub(crate) fn is_available(pod: &Value, min_ready_seconds: i64, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let since = condition(pod, "Ready").and_then(|c| parse_time(c.get("lastTransitionTime")));
    since
        .and_then(|t| {
            t.checked_add(SignedDuration::from_secs(min_ready_seconds))
                .ok()
        })
        .is_some_and(|t| t <= now)
}

/// `spec.nodeName` when set.
pub(crate) fn node_name(pod: &Value) -> Option<&str> {
    nonempty_str_at(pod, &["spec", "nodeName"])
}

/// The kind of the pod's controller owner reference, if any.
pub(crate) fn controller_kind(pod: &Value) -> Option<&str> {
    array_at(pod, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| str_at(r, &["kind"]))
}

/// Ranks phases for deletion: earlier phases go first.
fn phase_rank(pod: &Value) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

/// The order in which controllers prefer to delete pods (Kubernetes'
/// `ActivePods` ordering): unassigned before assigned, pending before
/// running, not-ready before ready, then newer before older, then by name
/// descending. `Ordering::Less` means `a` is deleted first.
pub(crate) fn deletion_order(a: &Value, b: &Value) -> Ordering {
    let created = |p: &Value| parse_time(p.pointer("/metadata/creationTimestamp"));
    node_name(a)
        .is_some()
        .cmp(&node_name(b).is_some())
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| match (created(a), created(b)) {
            // Missing timestamps (not yet persisted) count as newest.
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => y.cmp(&x),
        })
        .then_with(|| name(b).cmp(name(a)))
}
