//! PodDisruptionBudget status, as kube-controller-manager's disruption controller
//! (`pkg/controller/disruption/disruption.go`) computes it: the expected pods (the pods
//! themselves for an integer `minAvailable`, else the scale of their controllers), the healthy
//! ones (ready, not deleting, not just evicted), how many may be disrupted, and the
//! `DisruptionAllowed` condition. The caller selects the pods and sums the controllers' scale.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::json::{at, format_time, generation, int_or_percent, is_terminating, name, parse_time};
use crate::pods::is_ready;

/// How long an eviction recorded in `status.disruptedPods` keeps its pod out of the healthy
/// count if the pod is not deleted (`DeletionTimeout`).
const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

/// Whether the expected count comes from the pods' controllers (a `maxUnavailable`, or a
/// percentage `minAvailable`) rather than from the pods themselves.
pub fn needs_controller_scale(pdb: &Value) -> bool {
    match at(pdb, &["spec", "minAvailable"]) {
        Some(Value::Number(_)) => false,
        Some(Value::String(s)) => s.ends_with('%') || s.parse::<i64>().is_err(),
        _ => true,
    }
}

/// The new status of `pdb` given the pods its selector picks and (when
/// [`needs_controller_scale`]) the summed scale of their controllers.
pub fn pdb_status(pdb: &Value, pods: &[&Value], controller_scale: i64, now: Timestamp) -> Value {
    let (expected, desired) = match (
        at(pdb, &["spec", "minAvailable"]),
        at(pdb, &["spec", "maxUnavailable"]),
    ) {
        (_, Some(max)) => {
            let unavailable = int_or_percent(Some(max), controller_scale, true, "0");
            (controller_scale, (controller_scale - unavailable).max(0))
        }
        (Some(min), None) if !needs_controller_scale(pdb) => (
            pods.len() as i64,
            int_or_percent(Some(min), pods.len() as i64, true, "0"),
        ),
        (Some(min), None) => (
            controller_scale,
            int_or_percent(Some(min), controller_scale, true, "0"),
        ),
        (None, None) => (pods.len() as i64, 0),
    };
    // Evictions the apiserver recorded: kept while the pod is there, not deleting, and the
    // timeout has not passed.
    let mut disrupted = Map::new();
    if let Some(m) = at(pdb, &["status", "disruptedPods"]).and_then(Value::as_object) {
        for (pod_name, at_time) in m {
            let alive = pods
                .iter()
                .any(|p| name(p) == pod_name && !is_terminating(p));
            let fresh = parse_time(Some(at_time)).is_some_and(|t| t + DELETION_TIMEOUT > now);
            if alive && fresh {
                disrupted.insert(pod_name.clone(), at_time.clone());
            }
        }
    }
    let healthy = pods
        .iter()
        .filter(|p| is_ready(p) && !is_terminating(p) && !disrupted.contains_key(name(p)))
        .count() as i64;
    let allowed = (healthy - desired).max(0);
    let generation = generation(pdb).unwrap_or(0);
    let (cond_status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let since = at(pdb, &["status", "conditions"])
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed")
                    && c.get("status").and_then(Value::as_str) == Some(cond_status)
            })
        })
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(format_time(now)));
    let mut status = json!({
        "observedGeneration": generation,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": allowed,
        "expectedPods": expected,
        "conditions": [{"type": "DisruptionAllowed", "status": cond_status, "reason": reason,
                        "message": "", "observedGeneration": generation, "lastTransitionTime": since}],
    });
    if !disrupted.is_empty() {
        status["disruptedPods"] = Value::Object(disrupted);
    }
    status
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    #[test]
    fn min_available_counts_the_pods_themselves() {
        let pdb = json!({"metadata": {"generation": 2}, "spec": {"minAvailable": 2}});
        let (a, b, c) = (pod("a", true), pod("b", true), pod("c", false));
        let now = Timestamp::UNIX_EPOCH;
        let s = pdb_status(&pdb, &[&a, &b, &c], 0, now);
        assert_eq!(s["expectedPods"], 3);
        assert_eq!(s["currentHealthy"], 2);
        assert_eq!(s["desiredHealthy"], 2);
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(s["conditions"][0]["reason"], "InsufficientPods");
        let c = pod("c", true);
        let s = pdb_status(&pdb, &[&a, &b, &c], 0, now);
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(s["conditions"][0]["status"], "True");
    }

    #[test]
    fn a_recent_eviction_is_not_healthy_and_max_unavailable_uses_the_scale() {
        let now = Timestamp::UNIX_EPOCH + SignedDuration::from_secs(600);
        let pdb = json!({"spec": {"maxUnavailable": 1},
            "status": {"disruptedPods": {"a": format_time(now), "gone": format_time(now)}}});
        let (a, b) = (pod("a", true), pod("b", true));
        assert!(needs_controller_scale(&pdb));
        let s = pdb_status(&pdb, &[&a, &b], 3, now);
        assert_eq!(s["expectedPods"], 3);
        assert_eq!(s["desiredHealthy"], 2);
        assert_eq!(s["currentHealthy"], 1);
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["disruptedPods"], json!({"a": format_time(now)}));
    }
}
