//! Object builders shared by the unit tests.

#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use serde_json::{Value, json};

/// A Ready node with the given allocatable cpu, memory and pod count.
pub(crate) fn node(name: &str, cpu: &str, memory: &str, pods: i64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name } },
        "spec": {},
        "status": {
            "allocatable": { "cpu": cpu, "memory": memory, "pods": pods.to_string() },
            "capacity": { "cpu": cpu, "memory": memory, "pods": pods.to_string() },
            "conditions": [{ "type": "Ready", "status": "True" }],
            "addresses": [{ "type": "InternalIP", "address": format!("192.168.0.{}", name.len()) }],
        },
    })
}

/// A NotReady node.
pub(crate) fn not_ready_node(name: &str) -> Value {
    let mut n = node(name, "4", "8Gi", 110);
    n["status"]["conditions"] = json!([{ "type": "Ready", "status": "False" }]);
    n
}

/// A pod with one container requesting `cpu` and `memory` (empty = none).
pub(crate) fn pod(name: &str, cpu: &str, memory: &str) -> Value {
    let mut requests = serde_json::Map::new();
    if !cpu.is_empty() {
        requests.insert("cpu".into(), json!(cpu));
    }
    if !memory.is_empty() {
        requests.insert("memory".into(), json!(memory));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": "default", "uid": format!("uid-{name}") },
        "spec": { "containers": [{ "name": "app", "image": "nginx", "resources": { "requests": requests } }] },
        "status": { "phase": "Pending" },
    })
}

/// `pod` bound to `node`.
pub(crate) fn bound(mut pod: Value, node: &str) -> Value {
    pod["spec"]["nodeName"] = json!(node);
    pod
}

/// Marks a pod Running and Ready (since `since`).
pub(crate) fn make_ready(mut pod: Value, since: &str) -> Value {
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [
            { "type": "Ready", "status": "True", "lastTransitionTime": since },
            { "type": "PodScheduled", "status": "True", "lastTransitionTime": since },
        ],
    });
    pod
}

/// Sets a pod's phase (keeping nothing else of its status).
pub(crate) fn with_phase(mut pod: Value, phase: &str) -> Value {
    pod["status"] = json!({ "phase": phase });
    pod
}

/// Parses an RFC 3339 time.
pub(crate) fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A workload of `kind` with a one-container template.
pub(crate) fn workload(kind: &str, name: &str, spec: Value) -> Value {
    let api = if kind == "Job" { "batch/v1" } else { "apps/v1" };
    let mut obj = json!({
        "apiVersion": api,
        "kind": kind,
        "metadata": { "name": name, "namespace": "ns", "uid": format!("uid-{name}"), "generation": 1 },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "c", "image": "busybox:1" }] },
            },
        },
    });
    if let (Some(target), Some(extra)) = (obj["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
    obj
}
