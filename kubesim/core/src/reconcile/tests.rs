//! Tests for workload reconciliation plans.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::json::label;
use crate::test_support::{make_ready, node, not_ready_node, with_phase, workload};

const T0: &str = "2024-01-01T00:00:00Z";

/// Applies a plan to a pod list.
fn apply(pods: &mut Vec<Value>, actions: &[Action]) {
    for action in actions {
        match action {
            Action::CreatePod(p) => {
                assert!(
                    pods.iter().all(|q| name(q) != name(p)),
                    "duplicate {}",
                    name(p)
                );
                pods.push(p.clone());
            }
            Action::DeletePod { name: n, .. } => pods.retain(|q| name(q) != n),
            other => panic!("not a pod action: {other:?}"),
        }
    }
}

fn created(actions: &[Action]) -> Vec<&Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn deleted(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::DeletePod { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn ready_all(pods: &mut [Value]) {
    for p in pods.iter_mut() {
        *p = make_ready(p.clone(), T0);
    }
}

/// Runs reconcile until it plans nothing, marking pods ready after each step.
fn converge(w: &Value, pods: &mut Vec<Value>, nodes: &[Value]) -> usize {
    for round in 0..100 {
        let actions = reconcile(w, pods, nodes);
        if actions.is_empty() {
            return round;
        }
        apply(pods, &actions);
        ready_all(pods);
    }
    panic!("no convergence");
}

#[test]
fn replicaset_scales_up_with_complete_pods() {
    let d = workload("ReplicaSet", "web", json!({ "replicas": 3 }));
    let actions = reconcile(&d, &[], &[]);
    let pods = created(&actions);
    assert_eq!(pods.len(), 3);
    let names: BTreeSet<&str> = pods.iter().map(|p| name(p)).collect();
    assert_eq!(names.len(), 3);
    for p in &pods {
        let n = name(p);
        assert!(n.starts_with("web-"), "{n}");
        assert_eq!(n.len(), "web-".len() + 5);
        assert_eq!(p["metadata"]["namespace"], "ns");
        assert_eq!(p["metadata"]["labels"]["app"], "web");
        assert_eq!(
            p["metadata"]["ownerReferences"],
            json!([{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "uid-web",
                     "controller": true, "blockOwnerDeletion": true }])
        );
        assert_eq!(p["spec"]["containers"][0]["image"], "busybox:1");
        assert!(p["spec"].get("nodeName").is_none());
    }
    // Same inputs, same plan: names are deterministic.
    assert_eq!(reconcile(&d, &[], &[]), actions);
}

#[test]
fn replicaset_scales_down_newest_and_unscheduled_first() {
    let d = workload("ReplicaSet", "web", json!({ "replicas": 4 }));
    let mut pods = Vec::new();
    let first = reconcile(&d, &pods, &[]);
    apply(&mut pods, &first);
    for (i, p) in pods.iter_mut().enumerate() {
        p["metadata"]["creationTimestamp"] = json!(format!("2024-01-01T00:00:0{i}Z"));
        if i < 3 {
            p["spec"]["nodeName"] = json!("n1");
            *p = make_ready(p.clone(), T0);
        }
    }
    let names: Vec<String> = pods.iter().map(|p| name(p).to_owned()).collect();
    let d2 = workload("ReplicaSet", "web", json!({ "replicas": 2 }));
    let actions = reconcile(&d2, &pods, &[]);
    // The unscheduled pod goes first, then the newest scheduled one.
    assert_eq!(deleted(&actions), vec![names[3].clone(), names[2].clone()]);
    assert!(created(&actions).is_empty());
    apply(&mut pods, &actions);
    assert!(reconcile(&d2, &pods, &[]).is_empty());
}

#[test]
fn replicaset_new_names_avoid_existing_pods() {
    let d = workload("ReplicaSet", "web", json!({ "replicas": 2 }));
    let mut pods = Vec::new();
    let first = reconcile(&d, &pods, &[]);
    apply(&mut pods, &first);
    let first = pods.remove(0);
    let mut terminating = first.clone();
    terminating["metadata"]["deletionTimestamp"] = json!(T0);
    pods.push(terminating);
    let actions = reconcile(&d, &pods, &[]);
    let new = created(&actions);
    assert_eq!(new.len(), 1);
    assert_ne!(name(new[0]), name(&first));
    assert!(pods.iter().all(|p| name(p) != name(new[0])));
}

#[test]
fn replicaset_replaces_failed_pods() {
    let d = workload("ReplicaSet", "web", json!({ "replicas": 1 }));
    let mut pods = Vec::new();
    let first = reconcile(&d, &pods, &[]);
    apply(&mut pods, &first);
    pods[0] = with_phase(pods[0].clone(), "Failed");
    let actions = reconcile(&d, &pods, &[]);
    assert_eq!(deleted(&actions), vec![name(&pods[0]).to_owned()]);
    assert_eq!(created(&actions).len(), 1);
}

#[test]
fn statefulset_creates_in_order() {
    let s = workload(
        "StatefulSet",
        "db",
        json!({ "replicas": 3, "serviceName": "db-headless" }),
    );
    let mut pods = Vec::new();
    let actions = reconcile(&s, &pods, &[]);
    assert_eq!(created(&actions).len(), 1);
    let p0 = created(&actions)[0].clone();
    assert_eq!(name(&p0), "db-0");
    assert_eq!(
        p0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "db-0"
    );
    assert_eq!(
        p0["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
        "0"
    );
    assert!(
        label(&p0, "controller-revision-hash")
            .unwrap()
            .starts_with("db-")
    );
    assert_eq!(p0["spec"]["hostname"], "db-0");
    assert_eq!(p0["spec"]["subdomain"], "db-headless");
    apply(&mut pods, &actions);
    // db-1 waits until db-0 is Running and Ready.
    assert!(reconcile(&s, &pods, &[]).is_empty());
    ready_all(&mut pods);
    let actions = reconcile(&s, &pods, &[]);
    assert_eq!(
        created(&actions)
            .iter()
            .map(|p| name(p))
            .collect::<Vec<_>>(),
        ["db-1"]
    );
    apply(&mut pods, &actions);
    ready_all(&mut pods);
    converge(&s, &mut pods, &[]);
    let mut names: Vec<&str> = pods.iter().map(name).collect();
    names.sort_unstable();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);

    // Scale down removes the highest ordinal first, one at a time.
    let s1 = workload("StatefulSet", "db", json!({ "replicas": 1 }));
    assert_eq!(deleted(&reconcile(&s1, &pods, &[])), ["db-2"]);
}

#[test]
fn statefulset_parallel_and_rolling_update() {
    let s = workload(
        "StatefulSet",
        "db",
        json!({ "replicas": 3, "podManagementPolicy": "Parallel" }),
    );
    let actions = reconcile(&s, &[], &[]);
    let mut names: Vec<&str> = created(&actions).iter().map(|p| name(p)).collect();
    names.sort_unstable();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);

    let mut pods = Vec::new();
    converge(&s, &mut pods, &[]);
    let mut s2 = s.clone();
    s2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
    // Updates go from the highest ordinal down.
    assert_eq!(deleted(&reconcile(&s2, &pods, &[])), ["db-2"]);
    converge(&s2, &mut pods, &[]);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2")
    );

    // A partition keeps lower ordinals on the old revision.
    let mut s3 = s2.clone();
    s3["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:3");
    s3["spec"]["updateStrategy"] =
        json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } });
    converge(&s3, &mut pods, &[]);
    let image = |n: &str| {
        pods.iter().find(|p| name(p) == n).unwrap()["spec"]["containers"][0]["image"].clone()
    };
    assert_eq!(image("db-2"), "busybox:3");
    assert_eq!(image("db-1"), "busybox:2");
}

#[test]
fn daemonset_runs_one_pod_per_eligible_node() {
    let mut tainted = node("c", "4", "8Gi", 110);
    tainted["spec"]["taints"] =
        json!([{ "key": "dedicated", "value": "x", "effect": "NoSchedule" }]);
    let mut cordoned = node("d", "4", "8Gi", 110);
    cordoned["spec"]["unschedulable"] = json!(true);
    let nodes = vec![
        node("a", "4", "8Gi", 110),
        not_ready_node("b"),
        tainted,
        cordoned,
    ];
    let ds = workload("DaemonSet", "agent", json!({}));
    let actions = reconcile(&ds, &[], &nodes);
    let mut targets: Vec<&str> = created(&actions)
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    // NotReady and cordoned nodes still get daemon pods; the taint keeps "c" out.
    assert_eq!(targets, ["a", "b", "d"]);
    let p = created(&actions)[0];
    assert!(name(p).starts_with("agent-") && name(p).len() == "agent-".len() + 5);
    assert!(label(p, "controller-revision-hash").is_some());
    assert_eq!(
        p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchFields"][0]["values"][0],
        p["spec"]["nodeName"]
    );
    let mut pods = Vec::new();
    apply(&mut pods, &actions);
    assert!(reconcile(&ds, &pods, &nodes).is_empty());

    // A removed node's pod is deleted; a node selector narrows the set.
    let actions = reconcile(&ds, &pods, &nodes[..2]);
    assert_eq!(deleted(&actions).len(), 1);
    let mut ds2 = ds.clone();
    ds2["spec"]["template"]["spec"]["nodeSelector"] = json!({ "kubernetes.io/hostname": "a" });
    ready_all(&mut pods);
    let actions = reconcile(&ds2, &pods, &nodes);
    // b and d no longer match; a's pod has the old template and is rolled.
    assert_eq!(deleted(&actions).len(), 3, "{actions:?}");
    apply(&mut pods, &actions);
    let actions = reconcile(&ds2, &pods, &nodes);
    assert_eq!(created(&actions).len(), 1);
    assert_eq!(created(&actions)[0]["spec"]["nodeName"], "a");
}

#[test]
fn daemonset_rolls_one_node_at_a_time() {
    let nodes: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|n| node(n, "4", "8Gi", 110))
        .collect();
    let ds = workload("DaemonSet", "agent", json!({}));
    let mut pods = Vec::new();
    converge(&ds, &mut pods, &nodes);
    assert_eq!(pods.len(), 3);
    let mut ds2 = ds.clone();
    ds2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
    let actions = reconcile(&ds2, &pods, &nodes);
    assert_eq!(deleted(&actions).len(), 1);
    apply(&mut pods, &actions);
    let actions = reconcile(&ds2, &pods, &nodes);
    assert_eq!(created(&actions).len(), 1);
    assert!(deleted(&actions).is_empty(), "the new pod is not ready yet");
    converge(&ds2, &mut pods, &nodes);
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2")
    );
}

#[test]
fn job_runs_to_completions() {
    let job = workload(
        "Job",
        "batch",
        json!({ "completions": 5, "parallelism": 2 }),
    );
    let mut pods = Vec::new();
    let actions = reconcile(&job, &pods, &[]);
    assert_eq!(created(&actions).len(), 2);
    let p = created(&actions)[0];
    assert_eq!(p["metadata"]["labels"]["job-name"], "batch");
    assert_eq!(
        p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
        "uid-batch"
    );
    assert_eq!(
        p["metadata"]["ownerReferences"][0]["apiVersion"],
        "batch/v1"
    );
    apply(&mut pods, &actions);
    assert!(reconcile(&job, &pods, &[]).is_empty());

    for round in 0..10 {
        for p in pods.iter_mut() {
            if p["status"]["phase"] == "Pending" {
                *p = with_phase(p.clone(), "Succeeded");
            }
        }
        let actions = reconcile(&job, &pods, &[]);
        if actions.is_empty() {
            break;
        }
        assert!(
            deleted(&actions).is_empty(),
            "succeeded pods are kept (round {round})"
        );
        apply(&mut pods, &actions);
    }
    assert_eq!(pods.len(), 5);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Succeeded"));
}

#[test]
fn job_backoff_suspend_and_indexed() {
    let job = workload("Job", "j", json!({ "backoffLimit": 1 }));
    let mut pods = Vec::new();
    let first = reconcile(&job, &pods, &[]);
    apply(&mut pods, &first);
    pods[0] = with_phase(pods[0].clone(), "Failed");
    let actions = reconcile(&job, &pods, &[]);
    assert_eq!(
        created(&actions).len(),
        1,
        "one failure is within the backoff limit"
    );
    apply(&mut pods, &actions);
    pods[1] = with_phase(pods[1].clone(), "Failed");
    assert!(
        reconcile(&job, &pods, &[]).is_empty(),
        "backoff limit exceeded"
    );

    let suspended = workload("Job", "s", json!({ "suspend": true }));
    assert!(reconcile(&suspended, &[], &[]).is_empty());

    let indexed = workload(
        "Job",
        "ix",
        json!({ "completions": 3, "parallelism": 3, "completionMode": "Indexed" }),
    );
    let actions = reconcile(&indexed, &[], &[]);
    let indexes: Vec<&str> = created(&actions)
        .iter()
        .map(|p| {
            p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(indexes, ["0", "1", "2"]);
    assert!(name(created(&actions)[1]).starts_with("ix-1-"));
    assert_eq!(created(&actions)[1]["spec"]["hostname"], "ix-1");
}

#[test]
fn other_kinds_and_deleted_workloads_get_no_actions() {
    assert!(reconcile(&json!({ "kind": "ConfigMap" }), &[], &[]).is_empty());
    let mut d = workload("ReplicaSet", "web", json!({}));
    d["metadata"]["deletionTimestamp"] = json!(T0);
    assert!(reconcile(&d, &[], &[]).is_empty());
    // Deployments own ReplicaSets, not pods.
    let d = workload("Deployment", "web", json!({}));
    assert!(reconcile(&d, &[], &[]).is_empty());
    // Garbage specs do not panic.
    let weird =
        json!({ "kind": "ReplicaSet", "spec": { "replicas": "x", "template": { "spec": 7 } } });
    assert_eq!(created(&reconcile(&weird, &[], &[])).len(), 1);
    let weird_ds = json!({ "kind": "DaemonSet", "spec": { "template": { "spec": { "affinity": 3, "tolerations": 1 } } } });
    assert_eq!(
        created(&reconcile(&weird_ds, &[], &[node("a", "1", "1Gi", 10)])).len(),
        1
    );
}

mod deployments;
