//! Node: Ready / NotReady / Unknown, cordoned, roles, wide node info.

use serde_json::{Value, json};

use super::{ago, cells, cols, columns};

fn node(ready: &str, labels: Value) -> Value {
    json!({
        "metadata": {"name": "cp-1", "creationTimestamp": ago(40 * 86400), "labels": labels},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady"}
            ],
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "Hostname", "address": "cp-1"}
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.2",
                "osImage": "Ubuntu 24.04.1 LTS",
                "kernelVersion": "6.8.0-51-generic",
                "containerRuntimeVersion": "containerd://1.7.24"
            }
        }
    })
}

#[test]
fn node_columns() {
    assert_eq!(
        columns("", "Node"),
        cols(&[
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP*",
            "External-IP*",
            "OS-Image*",
            "Kernel-Version*",
            "Container-Runtime*"
        ])
    );
}

#[test]
fn ready_control_plane() {
    let n = node(
        "True",
        json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "cp-1"}),
    );
    assert_eq!(
        cells("", "Node", &n),
        vec![
            json!("cp-1"),
            json!("Ready"),
            json!("control-plane"),
            json!("40d"),
            json!("v1.32.2"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Ubuntu 24.04.1 LTS"),
            json!("6.8.0-51-generic"),
            json!("containerd://1.7.24")
        ]
    );
}

#[test]
fn not_ready_without_roles() {
    let n = node("Unknown", json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        cells("", "Node", &n)[1..3],
        [json!("NotReady"), json!("<none>")]
    );
    let n = node("False", json!({}));
    assert_eq!(cells("", "Node", &n)[1], json!("NotReady"));
}

#[test]
fn cordoned_with_several_roles() {
    let mut n = node(
        "True",
        json!({
            "node-role.kubernetes.io/worker": "",
            "node-role.kubernetes.io/infra": "true",
            "kubernetes.io/role": "worker",
            "node-role.kubernetes.io/": ""
        }),
    );
    n["spec"]["unschedulable"] = json!(true);
    assert_eq!(
        cells("", "Node", &n)[1..3],
        [json!("Ready,SchedulingDisabled"), json!("infra,worker")]
    );
    n["status"]["conditions"] = json!([]);
    assert_eq!(
        cells("", "Node", &n)[1],
        json!("Unknown,SchedulingDisabled")
    );
}

#[test]
fn missing_node_info() {
    let n = json!({"metadata": {"name": "bare"}, "status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.4"}]}});
    assert_eq!(
        cells("", "Node", &n),
        vec![
            json!("bare"),
            json!("Unknown"),
            json!("<none>"),
            json!("<unknown>"),
            json!(""),
            json!("<none>"),
            json!("203.0.113.4"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
}
