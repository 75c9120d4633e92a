//! Simulated nodes: their objects (capacity, readiness, virtual-kubelet nodes), node Leases
//! renewed like a kubelet's, and readiness faults.

use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::{PatchKind, WriteOptions};
use cceone_kube_apiserver::{ApiError, Core};
use serde_json::{Value, json};

/// The shape of the simulated nodes.
#[derive(Debug, Clone)]
pub struct NodeShape {
    /// Regular nodes.
    pub nodes: usize,
    /// CPU per node (a quantity).
    pub cpu: String,
    /// Memory per node (a quantity).
    pub memory: String,
    /// Pods per node.
    pub pods: u32,
    /// How many of the regular nodes are NotReady.
    pub not_ready: usize,
    /// Extra nodes labelled `type: virtual-kubelet`.
    pub virtual_nodes: usize,
    /// Kubelet version reported.
    pub kubelet_version: String,
}

/// The name of regular node `i`.
pub fn node_name(i: usize) -> String {
    format!("sim-node-{i}")
}

fn now() -> String {
    cceone_kube_apiserver::meta::now_rfc3339()
}

fn conditions(ready: bool) -> Value {
    let t = now();
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "False",
            "KubeletNotReady",
            "container runtime network not ready: simulated fault",
        )
    };
    let ok = |ty: &str, reason: &str, msg: &str| json!({"type": ty, "status": "False", "reason": reason, "message": msg, "lastHeartbeatTime": t, "lastTransitionTime": t});
    json!([
        ok("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ok("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ok("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        {"type": "Ready", "status": status, "reason": reason, "message": message, "lastHeartbeatTime": t, "lastTransitionTime": t},
    ])
}

fn taints(ready: bool, is_virtual: bool) -> Value {
    let mut t = Vec::new();
    if !ready {
        t.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}));
    }
    if is_virtual {
        t.push(json!({"key": "virtual-kubelet.io/provider", "value": "cceone", "effect": "NoSchedule"}));
    }
    json!(t)
}

fn node_object(
    name: &str,
    index: usize,
    shape: &NodeShape,
    ready: bool,
    is_virtual: bool,
) -> Value {
    let capacity = json!({"cpu": shape.cpu, "memory": shape.memory, "pods": shape.pods.to_string(), "ephemeral-storage": "100Gi"});
    let mut labels = json!({
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "sim.standard",
    });
    if is_virtual {
        labels["type"] = json!("virtual-kubelet");
    }
    let mut spec = json!({"podCIDR": format!("10.244.{}.0/24", index % 256)});
    let t = taints(ready, is_virtual);
    if t.as_array().is_some_and(|a| !a.is_empty()) {
        spec["taints"] = t;
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": conditions(ready),
            "addresses": [{"type": "InternalIP", "address": format!("192.168.{}.{}", index / 250, index % 250 + 2)}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "kubeletVersion": shape.kubelet_version, "kubeProxyVersion": shape.kubelet_version,
                "osImage": "cceone-kubesim", "kernelVersion": "6.1.0-sim", "containerRuntimeVersion": "containerd://1.7.0",
                "operatingSystem": "linux", "architecture": "amd64", "machineID": format!("sim-{index}"), "systemUUID": format!("sim-{index}"), "bootID": "sim",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    })
}

fn opts(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// Create the nodes (those already present from an earlier run are kept as they are).
pub async fn seed(core: &Arc<Core>, shape: &NodeShape) -> Result<(), ApiError> {
    let nodes = core.resource("", "v1", "nodes")?;
    let total = shape.nodes + shape.virtual_nodes;
    for i in 0..total {
        let is_virtual = i >= shape.nodes;
        let name = if is_virtual {
            format!("sim-virtual-node-{}", i - shape.nodes)
        } else {
            node_name(i)
        };
        let ready = is_virtual || i >= shape.not_ready;
        let obj = node_object(&name, i, shape, ready, is_virtual);
        match core.create(&nodes, None, obj, &opts("kubelet")).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Set a node Ready or NotReady (a fault, or its repair).
pub async fn set_ready(core: &Arc<Core>, name: &str, ready: bool) -> Result<Value, ApiError> {
    let nodes = core.resource("", "v1", "nodes")?;
    let node = core.get(&nodes, None, name).await?;
    let is_virtual = node
        .pointer("/metadata/labels/type")
        .and_then(Value::as_str)
        == Some("virtual-kubelet");
    let status_patch = json!({"status": {"conditions": conditions(ready)}});
    core.patch(
        &nodes,
        None,
        name,
        Some("status"),
        PatchKind::Merge,
        &status_patch,
        &opts("kubelet"),
    )
    .await?;
    let spec_patch = json!({"spec": {"taints": taints(ready, is_virtual)}});
    core.patch(
        &nodes,
        None,
        name,
        None,
        PatchKind::Merge,
        &spec_patch,
        &opts("node-lifecycle-controller"),
    )
    .await
}

/// Renew every node's Lease in `kube-node-lease` each `interval`, as kubelets do.
pub async fn renew_leases(core: Arc<Core>, interval: Duration) {
    let (Ok(leases), Ok(nodes)) = (
        core.resource("coordination.k8s.io", "v1", "leases"),
        core.resource("", "v1", "nodes"),
    ) else {
        return;
    };
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let Ok(page) = core.list(&nodes, None, &Default::default()).await else {
            continue;
        };
        let now_micro = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        for item in page.items {
            let Ok(node) = serde_json::from_slice::<Value>(&item) else {
                continue;
            };
            let Some(name) = node.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            if !cceone_kubesim_core::node_is_ready(&node) {
                continue; // a NotReady kubelet stops renewing
            }
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro},
            });
            let ns = Some("kube-node-lease");
            let res = match core
                .patch(
                    &leases,
                    ns,
                    name,
                    None,
                    PatchKind::Merge,
                    &json!({"spec": {"renewTime": now_micro}}),
                    &opts("kubelet"),
                )
                .await
            {
                Err(ApiError::NotFound { .. }) => {
                    core.create(&leases, ns, lease, &opts("kubelet")).await
                }
                other => other,
            };
            if let Err(e) = res {
                tracing::debug!(node = name, error = %e, "lease renewal failed");
            }
        }
    }
}
