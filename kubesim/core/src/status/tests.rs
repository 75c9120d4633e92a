//! Tests for workload status.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::reconcile::{Action, reconcile, reconcile_deployment};
use crate::test_support::{make_ready, node, ts, with_phase, workload};

const T0: &str = "2024-01-01T00:00:00Z";

/// The pods a fresh reconcile of `w` creates (of a Deployment: its new ReplicaSet's).
fn planned(w: &Value, nodes: &[Value]) -> Vec<Value> {
    if w["kind"] == "Deployment" {
        return planned(&replica_set(w, &[], ts(T0)), nodes);
    }
    reconcile(w, &[], nodes)
        .into_iter()
        .filter_map(|a| match a {
            Action::CreatePod(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The Deployment's new ReplicaSet as its controller creates it, at the full
/// replica count, with the status `pods` give it.
fn replica_set(d: &Value, pods: &[Value], now: Timestamp) -> Value {
    let mut rs = reconcile_deployment(d, &[])
        .into_iter()
        .find_map(|a| match a {
            Action::Create { object, .. } => Some(object),
            _ => None,
        })
        .unwrap();
    rs["metadata"]["generation"] = json!(1);
    rs["metadata"]["uid"] = json!("uid-rs");
    rs["spec"]["replicas"] = d["spec"]["replicas"].clone();
    rs["status"] = workload_status(&rs, pods, &[], now);
    rs
}

/// A Deployment's status when its one ReplicaSet holds `pods`.
fn deployment_status(d: &Value, pods: &[Value], now: Timestamp) -> Value {
    workload_status(d, &[replica_set(d, pods, now)], &[], now)
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
fn deployment_with_two_of_three_ready_is_unavailable() {
    let d = workload("Deployment", "web", json!({ "replicas": 3 }));
    let mut pods = planned(&d, &[]);
    pods[0] = make_ready(pods[0].clone(), T0);
    pods[1] = make_ready(pods[1].clone(), T0);
    let now = ts("2024-01-01T00:01:00Z");
    let s = deployment_status(&d, &pods, now);
    assert_eq!(s["observedGeneration"], 1);
    assert_eq!(s["replicas"], 3);
    assert_eq!(s["updatedReplicas"], 3);
    assert_eq!(s["readyReplicas"], 2);
    assert_eq!(s["availableReplicas"], 2);
    assert_eq!(s["unavailableReplicas"], 1);
    // maxUnavailable 25% of 3 rounds down to 0, so all 3 must be available.
    let available = cond(&s, "Available");
    assert_eq!(available["status"], "False");
    assert_eq!(available["reason"], "MinimumReplicasUnavailable");
    assert_eq!(
        available["message"],
        "Deployment does not have minimum availability."
    );
    let progressing = cond(&s, "Progressing");
    assert_eq!(progressing["status"], "True");
    assert_eq!(progressing["reason"], "ReplicaSetUpdated");

    // Recomputing with the same inputs keeps timestamps.
    let mut d2 = d.clone();
    d2["status"] = s.clone();
    assert_eq!(deployment_status(&d2, &pods, ts("2024-01-01T00:02:00Z")), s);

    // Once the third is ready, Available flips and the rollout completes.
    pods[2] = make_ready(pods[2].clone(), T0);
    let later = ts("2024-01-01T00:03:00Z");
    let s2 = deployment_status(&d2, &pods, later);
    assert!(s2.get("unavailableReplicas").is_none());
    assert_eq!(cond(&s2, "Available")["status"], "True");
    assert_eq!(cond(&s2, "Available")["reason"], "MinimumReplicasAvailable");
    assert_eq!(
        cond(&s2, "Available")["lastTransitionTime"],
        "2024-01-01T00:03:00Z"
    );
    let p = cond(&s2, "Progressing");
    assert_eq!(p["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        p["lastTransitionTime"], "2024-01-01T00:01:00Z",
        "status stayed True"
    );
    let hash = pods[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(
        p["message"],
        format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
    );
}

#[test]
fn deployment_tolerates_one_unavailable_of_four() {
    let d = workload("Deployment", "web", json!({ "replicas": 4 }));
    let mut pods = planned(&d, &[]);
    for p in pods.iter_mut().take(3) {
        *p = make_ready(p.clone(), T0);
    }
    let s = deployment_status(&d, &pods, ts(T0));
    assert_eq!(s["readyReplicas"], 3);
    assert_eq!(cond(&s, "Available")["status"], "True");
    // minReadySeconds delays availability.
    let mut slow = d.clone();
    slow["spec"]["minReadySeconds"] = json!(30);
    let s = deployment_status(&slow, &pods, ts("2024-01-01T00:00:10Z"));
    assert_eq!(s["readyReplicas"], 3);
    assert!(s.get("availableReplicas").is_none());
    assert_eq!(s["unavailableReplicas"], 4);
    assert_eq!(cond(&s, "Available")["status"], "False");
}

#[test]
fn deployment_without_pods_omits_zero_counts_and_times_out() {
    let d = workload("Deployment", "web", json!({ "replicas": 2 }));
    let s = deployment_status(&d, &[], ts(T0));
    for key in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert!(s.get(key).is_none(), "{key}");
    }
    assert_eq!(s["unavailableReplicas"], 2);
    let mut d2 = d.clone();
    d2["status"] = s;
    let stuck = deployment_status(&d2, &[], ts("2024-01-01T00:10:00Z"));
    assert_eq!(cond(&stuck, "Progressing")["status"], "False");
    assert_eq!(
        cond(&stuck, "Progressing")["reason"],
        "ProgressDeadlineExceeded"
    );
    let zero = workload("Deployment", "web", json!({ "replicas": 0 }));
    let s = deployment_status(&zero, &[], ts(T0));
    assert_eq!(cond(&s, "Available")["status"], "True");
    assert!(s.get("unavailableReplicas").is_none());
}

#[test]
fn statefulset_status_counts() {
    let s = workload(
        "StatefulSet",
        "db",
        json!({ "replicas": 2, "podManagementPolicy": "Parallel" }),
    );
    let mut pods = planned(&s, &[]);
    pods[0] = make_ready(pods[0].clone(), T0);
    let st = workload_status(&s, &pods, &[], ts(T0));
    assert_eq!(st["replicas"], 2);
    assert_eq!(st["readyReplicas"], 1);
    assert_eq!(st["availableReplicas"], 1);
    assert_eq!(st["currentReplicas"], 2);
    assert_eq!(st["updatedReplicas"], 2);
    assert_eq!(st["currentRevision"], st["updateRevision"]);
    assert_eq!(st["observedGeneration"], 1);
    let empty = workload_status(&s, &[], &[], ts(T0));
    assert_eq!(empty["replicas"], 0);
    assert_eq!(empty["availableReplicas"], 0);
    assert!(empty.get("readyReplicas").is_none());
}

#[test]
fn daemonset_status_counts() {
    let nodes: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|n| node(n, "1", "1Gi", 10))
        .collect();
    let ds = workload("DaemonSet", "agent", json!({}));
    let mut pods = planned(&ds, &nodes[..2]);
    pods[0] = make_ready(pods[0].clone(), T0);
    let st = workload_status(&ds, &pods, &nodes, ts(T0));
    assert_eq!(st["desiredNumberScheduled"], 3);
    assert_eq!(st["currentNumberScheduled"], 2);
    assert_eq!(st["numberReady"], 1);
    assert_eq!(st["numberAvailable"], 1);
    assert_eq!(st["numberUnavailable"], 2);
    assert_eq!(st["updatedNumberScheduled"], 2);
    assert_eq!(st["numberMisscheduled"], 0);
    let mut picky = ds.clone();
    picky["spec"]["template"]["spec"]["nodeSelector"] = json!({ "kubernetes.io/hostname": "a" });
    let st = workload_status(&picky, &pods, &nodes, ts(T0));
    assert_eq!(st["desiredNumberScheduled"], 1);
    assert_eq!(st["numberMisscheduled"], 1);
    assert!(st.get("updatedNumberScheduled").is_none());
}

#[test]
fn job_status_through_completion() {
    let job = workload("Job", "j", json!({ "completions": 2, "parallelism": 2 }));
    let mut pods = planned(&job, &[]);
    pods[0] = make_ready(pods[0].clone(), T0);
    let st = workload_status(&job, &pods, &[], ts(T0));
    assert_eq!(st["active"], 2);
    assert_eq!(st["ready"], 1);
    assert_eq!(st["startTime"], T0);
    assert!(st.get("succeeded").is_none());
    assert!(st.get("conditions").is_none());
    assert!(st.get("completionTime").is_none());

    let mut j2 = job.clone();
    j2["status"] = st;
    let done: Vec<Value> = pods
        .iter()
        .map(|p| with_phase(p.clone(), "Succeeded"))
        .collect();
    let st = workload_status(&j2, &done, &[], ts("2024-01-01T00:01:00Z"));
    assert_eq!(st["succeeded"], 2);
    assert!(st.get("active").is_none());
    assert_eq!(st["ready"], 0);
    assert_eq!(st["startTime"], T0);
    assert_eq!(st["completionTime"], "2024-01-01T00:01:00Z");
    assert_eq!(cond(&st, "SuccessCriteriaMet")["status"], "True");
    assert_eq!(cond(&st, "Complete")["status"], "True");
    assert_eq!(cond(&st, "Complete")["reason"], "CompletionsReached");
    j2["status"] = st.clone();
    assert_eq!(
        workload_status(&j2, &done, &[], ts("2024-01-01T00:05:00Z")),
        st
    );
}

#[test]
fn job_failure_and_suspension() {
    let job = workload("Job", "j", json!({ "backoffLimit": 0 }));
    let pods: Vec<Value> = planned(&job, &[])
        .into_iter()
        .map(|p| with_phase(p, "Failed"))
        .collect();
    let st = workload_status(&job, &pods, &[], ts(T0));
    assert_eq!(st["failed"], 1);
    assert_eq!(cond(&st, "Failed")["reason"], "BackoffLimitExceeded");
    assert_eq!(cond(&st, "FailureTarget")["status"], "True");

    let suspended = workload("Job", "s", json!({ "suspend": true }));
    let st = workload_status(&suspended, &[], &[], ts(T0));
    assert_eq!(cond(&st, "Suspended")["status"], "True");
    assert!(st.get("startTime").is_none());
    let mut resumed = workload("Job", "s", json!({ "suspend": false }));
    resumed["status"] = st;
    let st = workload_status(&resumed, &[], &[], ts("2024-01-01T00:01:00Z"));
    assert_eq!(cond(&st, "Suspended")["status"], "False");
    assert_eq!(cond(&st, "Suspended")["reason"], "JobResumed");
}

#[test]
fn indexed_job_reports_completed_indexes() {
    let job = workload(
        "Job",
        "ix",
        json!({ "completions": 4, "parallelism": 4, "completionMode": "Indexed" }),
    );
    let mut pods = planned(&job, &[]);
    for i in [0, 1, 3] {
        pods[i] = with_phase(pods[i].clone(), "Succeeded");
    }
    let st = workload_status(&job, &pods, &[], ts(T0));
    assert_eq!(st["completedIndexes"], "0-1,3");
    assert_eq!(st["succeeded"], 3);
    assert_eq!(st["active"], 1);
}

#[test]
fn unknown_kinds_keep_their_status() {
    let cm = json!({ "kind": "ReplicationController", "status": { "replicas": 1 } });
    assert_eq!(
        workload_status(&cm, &[], &[], ts(T0)),
        json!({ "replicas": 1 })
    );
}

#[test]
fn status_changes_at_min_ready_and_progress_deadline() {
    let d = workload("Deployment", "web", json!({ "replicas": 2 }));
    let pods: Vec<Value> = planned(&d, &[])
        .into_iter()
        .map(|p| make_ready(p, T0))
        .collect();
    let rs = replica_set(&d, &pods, ts(T0));
    assert_eq!(status_changes_at(&rs, &pods, ts(T0)), None);
    let mut slow = rs.clone();
    slow["spec"]["minReadySeconds"] = json!(30);
    let due = ts("2024-01-01T00:00:30Z");
    assert_eq!(status_changes_at(&slow, &pods, ts(T0)), Some(due));
    assert_eq!(
        status_changes_at(&slow, &pods, ts("2024-01-01T00:00:29Z")),
        Some(due)
    );
    assert_eq!(status_changes_at(&slow, &pods, due), None);

    // A rollout without progress is looked at again at its deadline.
    let mut stuck = d.clone();
    stuck["status"] = deployment_status(&d, &[], ts(T0));
    let deadline = ts("2024-01-01T00:10:00Z");
    assert_eq!(status_changes_at(&stuck, &[], ts(T0)), Some(deadline));
    stuck["status"] = workload_status(&stuck, &[], &[], deadline);
    assert_eq!(status_changes_at(&stuck, &[], deadline), None);
}
