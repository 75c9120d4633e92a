//! Tests for the simulated kubelet.

#![allow(clippy::unwrap_used)]

use jiff::SignedDuration;
use serde_json::json;

use super::*;
use crate::test_support::{bound, node, not_ready_node, pod, ts};

const DELAY: SignedDuration = SignedDuration::from_secs(5);
const RUN: SignedDuration = SignedDuration::from_secs(30);

/// Applies a status update to a pod.
fn with_status(mut p: Value, status: Value) -> Value {
    p["status"] = status;
    p
}

fn cond<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap()
}

#[test]
fn bound_pod_starts_after_delay() {
    let n = node("n1", "4", "8Gi", 110);
    let p = bound(pod("web", "100m", ""), "n1");
    let t0 = ts("2024-01-01T00:00:00Z");
    // First: the binding is recorded.
    let s1 = advance_pod(&p, Some(&n), t0, DELAY, RUN).unwrap();
    assert_eq!(s1["phase"], "Pending");
    assert_eq!(cond(&s1, "PodScheduled")["status"], "True");
    assert_eq!(
        cond(&s1, "PodScheduled")["lastTransitionTime"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(s1["qosClass"], "Burstable");
    let p = with_status(p, s1);
    // Nothing changes until the delay has passed.
    assert_eq!(
        advance_pod(&p, Some(&n), ts("2024-01-01T00:00:04Z"), DELAY, RUN),
        None
    );
    let s2 = advance_pod(&p, Some(&n), ts("2024-01-01T00:00:05.5Z"), DELAY, RUN).unwrap();
    assert_eq!(s2["phase"], "Running");
    for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(cond(&s2, kind)["status"], "True", "{kind}");
    }
    assert_eq!(
        cond(&s2, "PodScheduled")["lastTransitionTime"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(
        cond(&s2, "Ready")["lastTransitionTime"],
        "2024-01-01T00:00:05Z"
    );
    let c = &s2["containerStatuses"][0];
    assert_eq!(c["name"], "app");
    assert_eq!(c["ready"], true);
    assert_eq!(c["started"], true);
    assert_eq!(c["restartCount"], 0);
    assert_eq!(c["state"]["running"]["startedAt"], "2024-01-01T00:00:05Z");
    assert_eq!(s2["startTime"], "2024-01-01T00:00:05Z");
    assert_eq!(s2["hostIP"], "192.168.0.2");
    assert!(s2["podIP"].as_str().unwrap().starts_with("10."));
    let p = with_status(p, s2.clone());
    // Deterministic and stable once running.
    assert_eq!(
        advance_pod(&p, Some(&n), ts("2024-01-01T01:00:00Z"), DELAY, RUN),
        None
    );
    let again = advance_pod(
        &with_status(
            p.clone(),
            json!({ "phase": "Pending", "conditions": [cond(&s2, "PodScheduled")] }),
        ),
        Some(&n),
        ts("2024-01-01T00:00:05Z"),
        DELAY,
        RUN,
    )
    .unwrap();
    assert_eq!(again["podIP"], s2["podIP"]);
}

#[test]
fn zero_delay_starts_immediately_and_pod_cidr_is_used() {
    let mut n = node("n1", "4", "8Gi", 110);
    n["spec"]["podCIDR"] = json!("10.244.3.0/24");
    let p = bound(pod("web", "", ""), "n1");
    let s = advance_pod(
        &p,
        Some(&n),
        ts("2024-01-01T00:00:00Z"),
        SignedDuration::ZERO,
        RUN,
    )
    .unwrap();
    assert_eq!(s["phase"], "Running");
    assert_eq!(s["qosClass"], "BestEffort");
    assert!(
        s["podIP"].as_str().unwrap().starts_with("10.244.3."),
        "{}",
        s["podIP"]
    );
}

#[test]
fn unbound_missing_node_and_terminating_pods_do_not_change() {
    let n = node("n1", "4", "8Gi", 110);
    let t = ts("2024-01-01T00:00:00Z");
    assert_eq!(
        advance_pod(&pod("p", "", ""), Some(&n), t, DELAY, RUN),
        None
    );
    let p = bound(pod("p", "", ""), "n1");
    assert_eq!(advance_pod(&p, None, t, DELAY, RUN), None);
    assert_eq!(
        advance_pod(&p, Some(&node("other", "1", "1Gi", 1)), t, DELAY, RUN),
        None
    );
    let mut gone = p.clone();
    gone["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    assert_eq!(advance_pod(&gone, Some(&n), t, DELAY, RUN), None);
}

#[test]
fn not_ready_node_holds_pods_and_clears_ready() {
    let bad = not_ready_node("n1");
    let p = bound(pod("p", "", ""), "n1");
    let t = ts("2024-01-01T00:10:00Z");
    let s = advance_pod(&p, Some(&bad), t, DELAY, RUN).unwrap();
    assert_eq!(s["phase"], "Pending");
    let p = with_status(p, s);
    assert_eq!(
        advance_pod(&p, Some(&bad), ts("2024-01-01T01:00:00Z"), DELAY, RUN),
        None
    );

    let good = node("n1", "4", "8Gi", 110);
    let running = advance_pod(&p, Some(&good), ts("2024-01-01T01:00:00Z"), DELAY, RUN).unwrap();
    let p = with_status(p, running);
    let s = advance_pod(&p, Some(&bad), ts("2024-01-01T02:00:00Z"), DELAY, RUN).unwrap();
    assert_eq!(s["phase"], "Running");
    assert_eq!(cond(&s, "Ready")["status"], "False");
    let p = with_status(p, s);
    let s = advance_pod(&p, Some(&good), ts("2024-01-01T03:00:00Z"), DELAY, RUN).unwrap();
    assert_eq!(cond(&s, "Ready")["status"], "True");
}

#[test]
fn job_pods_succeed_after_running() {
    let n = node("n1", "4", "8Gi", 110);
    let mut p = bound(pod("job-abcde", "", ""), "n1");
    p["metadata"]["ownerReferences"] =
        json!([{ "kind": "Job", "name": "job", "uid": "u", "controller": true }]);
    let s = advance_pod(
        &p,
        Some(&n),
        ts("2024-01-01T00:00:00Z"),
        SignedDuration::ZERO,
        RUN,
    )
    .unwrap();
    let p = with_status(p, s);
    assert_eq!(
        advance_pod(&p, Some(&n), ts("2024-01-01T00:00:29Z"), DELAY, RUN),
        None
    );
    let done = advance_pod(&p, Some(&n), ts("2024-01-01T00:00:30Z"), DELAY, RUN).unwrap();
    assert_eq!(done["phase"], "Succeeded");
    let term = &done["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(term["exitCode"], 0);
    assert_eq!(term["reason"], "Completed");
    assert_eq!(term["startedAt"], "2024-01-01T00:00:00Z");
    assert_eq!(term["finishedAt"], "2024-01-01T00:00:30Z");
    assert_eq!(cond(&done, "Ready")["status"], "False");
    assert_eq!(cond(&done, "Ready")["reason"], "PodCompleted");
    let p = with_status(p, done);
    assert_eq!(
        advance_pod(&p, Some(&n), ts("2024-01-02T00:00:00Z"), DELAY, RUN),
        None
    );
}

#[test]
fn unschedulable_statuses() {
    let t = ts("2024-01-01T00:00:00Z");
    let msg = "0/1 nodes are available: 1 Insufficient cpu.";
    let s = unschedulable_status(msg, t);
    assert_eq!(s["phase"], "Pending");
    let c = cond(&s, "PodScheduled");
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "Unschedulable");
    assert_eq!(c["message"], msg);
    assert_eq!(c["lastTransitionTime"], "2024-01-01T00:00:00Z");

    let p = with_status(pod("p", "1", ""), s.clone());
    assert_eq!(
        pod_unschedulable_status(&p, msg, ts("2024-01-01T00:01:00Z")),
        None
    );
    let other = pod_unschedulable_status(
        &p,
        "0/2 nodes are available: 2 Insufficient cpu.",
        ts("2024-01-01T00:01:00Z"),
    )
    .unwrap();
    assert_eq!(
        cond(&other, "PodScheduled")["lastTransitionTime"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(other["qosClass"], "Burstable");
}

#[test]
fn next_transition_is_when_time_alone_moves_a_pod_on() {
    let n = node("n1", "4", "8Gi", 110);
    let stop = SignedDuration::from_secs(2);
    let t0 = ts("2024-01-01T00:00:00Z");
    let unbound = pod("web", "100m", "");
    assert_eq!(next_transition(&unbound, t0, DELAY, RUN, stop), None);
    // Bound, not yet recorded as scheduled: advance_pod moves it at once.
    let p = bound(unbound, "n1");
    assert_eq!(next_transition(&p, t0, DELAY, RUN, stop), None);
    let p = with_status(
        p.clone(),
        advance_pod(&p, Some(&n), t0, DELAY, RUN).unwrap(),
    );
    let start = ts("2024-01-01T00:00:05Z");
    assert_eq!(next_transition(&p, t0, DELAY, RUN, stop), Some(start));
    assert!(advance_pod(&p, Some(&n), start, DELAY, RUN).is_some());
    // Past the start delay only the node (not ready) holds it: no timer.
    assert_eq!(next_transition(&p, start, DELAY, RUN, stop), None);
    let running = with_status(
        p.clone(),
        advance_pod(&p, Some(&n), start, DELAY, RUN).unwrap(),
    );
    assert_eq!(next_transition(&running, start, DELAY, RUN, stop), None);

    let mut job = running.clone();
    job["metadata"]["ownerReferences"] =
        json!([{ "kind": "Job", "name": "job", "uid": "u", "controller": true }]);
    let done = ts("2024-01-01T00:00:35Z");
    assert_eq!(next_transition(&job, start, DELAY, RUN, stop), Some(done));
    assert!(advance_pod(&job, Some(&n), done, DELAY, RUN).is_some());

    let mut deleted = running;
    deleted["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:40Z");
    deleted["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    let stopped = ts("2024-01-01T00:00:12Z");
    assert_eq!(
        next_transition(&deleted, start, DELAY, RUN, stop),
        Some(stopped)
    );
    assert_eq!(termination_done(&deleted, stopped, stop), Some(true));
    assert_eq!(next_transition(&deleted, stopped, DELAY, RUN, stop), None);
}
