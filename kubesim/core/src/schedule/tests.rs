//! Tests for pod placement and resource accounting.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::nodes::{node_is_ready, node_schedulable, node_schedulable_for};
use crate::resources::{node_allocatable, pod_requests};
use crate::test_support::{bound, node, not_ready_node, pod, with_phase};

/// Schedules `count` pods one after another, binding each; returns the
/// placements (node name or error message).
fn place_all(pods: Vec<Value>, nodes: &[Value]) -> Vec<Result<String, String>> {
    let mut placed: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for p in pods {
        match schedule(&p, nodes, &placed) {
            Ok(n) => {
                placed.push(bound(p, &n));
                out.push(Ok(n));
            }
            Err(e) => out.push(Err(e.message)),
        }
    }
    out
}

#[test]
fn cpu_capacity_is_respected() {
    let nodes = [node("n1", "4", "16Gi", 110)];
    let pods = (0..3).map(|i| pod(&format!("p{i}"), "1500m", "")).collect();
    let result = place_all(pods, &nodes);
    assert_eq!(result[0], Ok("n1".into()));
    assert_eq!(result[1], Ok("n1".into()));
    assert_eq!(
        result[2],
        Err("0/1 nodes are available: 1 Insufficient cpu.".into())
    );
}

#[test]
fn memory_and_pod_count_are_respected() {
    let nodes = [node("n1", "8", "1Gi", 110)];
    let result = place_all(vec![pod("a", "", "600Mi"), pod("b", "", "600Mi")], &nodes);
    assert_eq!(
        result[1],
        Err("0/1 nodes are available: 1 Insufficient memory.".into())
    );

    let nodes = [node("n1", "8", "8Gi", 2)];
    let pods = (0..3).map(|i| pod(&format!("p{i}"), "", "")).collect();
    let result = place_all(pods, &nodes);
    assert_eq!(
        result[2],
        Err("0/1 nodes are available: 1 Too many pods.".into())
    );
}

#[test]
fn finished_pods_do_not_count() {
    let nodes = [node("n1", "1", "1Gi", 110)];
    let done = with_phase(bound(pod("done", "1", ""), "n1"), "Succeeded");
    assert_eq!(
        schedule(&pod("p", "1", ""), &nodes, &[done]),
        Ok("n1".into())
    );
}

#[test]
fn message_counts_each_reason() {
    let nodes = [
        not_ready_node("a"),
        node("b", "1", "1Gi", 110),
        node("c", "1", "1Gi", 110),
    ];
    let err = schedule(&pod("p", "2", ""), &nodes, &[]).unwrap_err();
    assert_eq!(
        err.message,
        "0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu."
    );
    let err = schedule(&pod("p", "2", "2Gi"), &nodes[1..], &[]).unwrap_err();
    assert_eq!(
        err.message,
        "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."
    );
    assert_eq!(
        schedule(&pod("p", "", ""), &[], &[])
            .unwrap_err()
            .to_string(),
        "no nodes available to schedule pods"
    );
}

#[test]
fn not_ready_and_cordoned_nodes_are_skipped() {
    let mut cordoned = node("b", "4", "8Gi", 110);
    cordoned["spec"]["unschedulable"] = json!(true);
    let nodes = [
        not_ready_node("a"),
        cordoned.clone(),
        node("c", "4", "8Gi", 110),
    ];
    assert_eq!(schedule(&pod("p", "1", ""), &nodes, &[]), Ok("c".into()));
    let err = schedule(&pod("p", "1", ""), &nodes[..2], &[]).unwrap_err();
    assert_eq!(
        err.message,
        "0/2 nodes are available: 1 node(s) were not ready, 1 node(s) were unschedulable."
    );
    assert!(!node_is_ready(&nodes[0]));
    assert!(!node_schedulable(&cordoned));
    let mut tolerant = pod("t", "1", "");
    tolerant["spec"]["tolerations"] = json!([{ "key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule" }]);
    assert!(node_schedulable_for(&cordoned, &tolerant));
}

#[test]
fn taints_need_tolerations() {
    let mut tainted = node("gpu", "8", "8Gi", 110);
    tainted["spec"]["taints"] =
        json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }]);
    let mut soft = node("soft", "8", "8Gi", 110);
    soft["spec"]["taints"] = json!([{ "key": "x", "effect": "PreferNoSchedule" }]);
    assert!(!node_schedulable(&tainted));
    assert!(node_schedulable(&soft));

    let plain = pod("p", "1", "");
    let err = schedule(&plain, std::slice::from_ref(&tainted), &[]).unwrap_err();
    assert_eq!(
        err.message,
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."
    );
    for toleration in [
        json!({ "key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule" }),
        json!({ "key": "dedicated", "operator": "Exists" }),
        json!({ "operator": "Exists" }),
        json!({ "key": "dedicated", "value": "gpu" }),
    ] {
        let mut p = plain.clone();
        p["spec"]["tolerations"] = json!([toleration]);
        assert_eq!(
            schedule(&p, std::slice::from_ref(&tainted), &[]),
            Ok("gpu".into()),
            "{toleration}"
        );
    }
    for toleration in [
        json!({ "key": "dedicated", "value": "cpu", "effect": "NoSchedule" }),
        json!({ "key": "dedicated", "operator": "Exists", "effect": "NoExecute" }),
        json!({ "key": "other", "operator": "Exists" }),
    ] {
        let mut p = plain.clone();
        p["spec"]["tolerations"] = json!([toleration]);
        assert!(
            schedule(&p, std::slice::from_ref(&tainted), &[]).is_err(),
            "{toleration}"
        );
    }
}

#[test]
fn node_selector_and_affinity() {
    let mut ssd = node("ssd", "4", "8Gi", 110);
    ssd["metadata"]["labels"]["disk"] = json!("ssd");
    let nodes = [node("a", "4", "8Gi", 110), ssd];
    let mut p = pod("p", "1", "");
    p["spec"]["nodeSelector"] = json!({ "disk": "ssd" });
    assert_eq!(schedule(&p, &nodes, &[]), Ok("ssd".into()));
    p["spec"]["nodeSelector"] = json!({ "disk": "nvme" });
    assert_eq!(
        schedule(&p, &nodes, &[]).unwrap_err().message,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    );

    let mut q = pod("q", "1", "");
    q["spec"]["affinity"] = json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{ "matchExpressions": [{ "key": "disk", "operator": "DoesNotExist" }] }]
    }}});
    assert_eq!(schedule(&q, &nodes, &[]), Ok("a".into()));
    q["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] = json!([{ "matchFields": [{ "key": "metadata.name", "operator": "In", "values": ["ssd"] }] }]);
    assert_eq!(schedule(&q, &nodes, &[]), Ok("ssd".into()));
}

#[test]
fn preset_node_name_is_honored() {
    let nodes = [node("a", "4", "8Gi", 110), node("b", "1", "8Gi", 110)];
    let p = bound(pod("p", "1", ""), "b");
    assert_eq!(
        schedule(&p, &nodes, std::slice::from_ref(&p)),
        Ok("b".into())
    );
    let big = bound(pod("big", "2", ""), "b");
    assert_eq!(
        schedule(&big, &nodes, &[]).unwrap_err().message,
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match the requested node name."
    );
}

#[test]
fn load_spreads_across_nodes() {
    let nodes = [
        node("n1", "4", "8Gi", 110),
        node("n2", "4", "8Gi", 110),
        node("n3", "4", "8Gi", 110),
    ];
    let pods = (0..6)
        .map(|i| pod(&format!("p{i}"), "500m", "256Mi"))
        .collect();
    let result: Vec<String> = place_all(pods, &nodes)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(result, ["n1", "n2", "n3", "n1", "n2", "n3"]);
    // Pods without requests spread too (scored with non-zero defaults).
    let pods = (0..3).map(|i| pod(&format!("e{i}"), "", "")).collect();
    let result: Vec<String> = place_all(pods, &nodes)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(result, ["n1", "n2", "n3"]);
    // A bigger node attracts more pods.
    let nodes = [
        node("small", "2", "4Gi", 110),
        node("big", "8", "16Gi", 110),
    ];
    let pods = (0..5)
        .map(|i| pod(&format!("p{i}"), "500m", "1Gi"))
        .collect();
    let result: Vec<String> = place_all(pods, &nodes)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(result, ["big", "big", "big", "big", "small"]);
}

#[test]
fn requests_follow_kube_rules() {
    let mut p = pod("p", "250m", "64Mi");
    p["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "b", "resources": { "limits": { "cpu": "1", "memory": "1Gi" } } }));
    let r = pod_requests(&p);
    assert_eq!(r.cpu.to_string(), "1250m");
    assert_eq!(r.memory.format_binary(), "1088Mi");
    assert_eq!(r.pods, 1);
    // An init container needing more than the app containers sets the peak.
    p["spec"]["initContainers"] =
        json!([{ "name": "init", "resources": { "requests": { "cpu": "2" } } }]);
    assert_eq!(pod_requests(&p).cpu.to_string(), "2");
    // Sidecars add to the running total.
    p["spec"]["initContainers"] = json!([
        { "name": "side", "restartPolicy": "Always", "resources": { "requests": { "cpu": "500m" } } },
        { "name": "init", "resources": { "requests": { "cpu": "1" } } },
    ]);
    assert_eq!(pod_requests(&p).cpu.to_string(), "1750m");
    p["spec"]["overhead"] = json!({ "cpu": "250m" });
    assert_eq!(pod_requests(&p).cpu.to_string(), "2");
}

#[test]
fn allocatable_falls_back_to_capacity() {
    let n = json!({ "status": { "capacity": { "cpu": "2", "memory": "4Gi", "pods": "10" },
                                 "allocatable": { "cpu": "1900m" } } });
    let a = node_allocatable(&n);
    assert_eq!(a.cpu.to_string(), "1900m");
    assert_eq!(a.memory.format_binary(), "4Gi");
    assert_eq!(a.pods, 10);
    assert_eq!(node_allocatable(&json!({})).pods, crate::DEFAULT_MAX_PODS);
}

#[test]
fn extended_resources_are_checked() {
    let mut gpu = node("gpu", "8", "8Gi", 110);
    gpu["status"]["allocatable"]["nvidia.com/gpu"] = json!("1");
    let nodes = [node("cpu", "8", "8Gi", 110), gpu];
    let mut p = pod("p", "1", "");
    p["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] = json!("1");
    let result = place_all(
        vec![p.clone(), {
            let mut q = p;
            q["metadata"]["name"] = json!("q");
            q["metadata"]["uid"] = json!("uid-q");
            q
        }],
        &nodes,
    );
    assert_eq!(result[0], Ok("gpu".into()));
    assert_eq!(
        result[1],
        Err("0/2 nodes are available: 2 Insufficient nvidia.com/gpu.".into())
    );
}
