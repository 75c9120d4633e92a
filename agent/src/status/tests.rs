use serde_json::{Value, json};

use super::compute::{SlimPodSpec, pod_requests, totals, vcpus};
use super::*;

fn node(name: &str, cpu: &str, ready: Option<&str>, is_virtual: bool) -> SlimNode {
    let mut conditions = vec![json!({"type": "MemoryPressure", "status": "False"})];
    if let Some(status) = ready {
        conditions.push(json!({"type": "Ready", "status": status, "reason": "KubeletReady"}));
    }
    let mut labels = json!({"kubernetes.io/hostname": name});
    if is_virtual {
        labels["type"] = json!("virtual-kubelet");
    }
    let v = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "resourceVersion": "7", "labels": labels,
                     "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
        "status": {
            "capacity": {"cpu": cpu, "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": cpu, "memory": "15Gi", "pods": "110"},
            "conditions": conditions,
            "nodeInfo": {"kubeletVersion": "v1.32.0"},
        },
    });
    serde_json::from_value(v).expect("node fixture")
}

fn pod(v: Value) -> SlimPod {
    serde_json::from_value(v).expect("pod fixture")
}

fn container(cpu: &str, mem: &str) -> Value {
    json!({"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"cpu": "8"}}})
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).expect("quantity")
}

fn fixture() -> Vec<NodeSummary> {
    [
        node("a", "3500m", Some("True"), false),
        node("b", "4", Some("True"), false),
        node("c", "8", Some("False"), false),
        node("v", "16", Some("True"), true),
        node("d", "2", None, false),
        node("u", "1", Some("Unknown"), false),
    ]
    .iter()
    .map(SlimNode::summary)
    .collect()
}

#[test]
fn metering_rule_counts_ready_real_nodes_exactly() {
    let nodes = fixture();
    assert_eq!(vcpus(&nodes[..5]).to_string(), "7500m");
    assert_eq!(vcpus(&nodes).to_string(), "7500m");
    assert_eq!(vcpus(&nodes[..2]).to_string(), "7500m");
    assert_eq!(vcpus(&nodes[1..2]).to_string(), "4");
    assert_eq!(vcpus(&[]).to_string(), "0");
}

#[test]
fn node_summary_reads_labels_conditions_and_quantities() {
    let n = node("v", "16", Some("True"), true);
    assert_eq!(
        n.metadata.labels.as_ref().map(|l| l.len()),
        Some(1),
        "only the type label is kept"
    );
    assert_eq!(n.metadata.resource_version.as_deref(), Some("7"));
    let s = n.summary();
    assert!(s.ready && s.is_virtual);
    assert_eq!(s.capacity.memory, q("16Gi"));
    assert_eq!(s.allocatable.memory, q("15Gi"));
    assert_eq!(s.capacity.pods, q("110"));
    let other_type = serde_json::from_value::<SlimNode>(json!({
        "metadata": {"name": "x", "labels": {"type": "edge"}},
        "status": {"capacity": {"cpu": "bogus"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .expect("node");
    let s = other_type.summary();
    assert!(s.ready && !s.is_virtual);
    assert_eq!(s.capacity.cpu, Quantity::ZERO, "malformed counts as zero");
}

#[test]
fn totals_over_nodes_and_pods() {
    let nodes = fixture();
    let usages = [
        PodUsage {
            cpu: q("250m"),
            memory: q("64Mi"),
        },
        PodUsage {
            cpu: q("1"),
            memory: q("1Gi"),
        },
    ];
    let t = totals(&nodes, &usages);
    assert_eq!(t.nodes_total, 6);
    assert_eq!(t.nodes_ready, 3);
    assert_eq!(t.capacity.cpu.to_string(), "34500m");
    assert_eq!(t.capacity.pods.to_string(), "660");
    assert_eq!(t.allocatable.memory.format_binary(), "90Gi");
    assert_eq!(t.allocated.cpu.to_string(), "1250m");
    assert_eq!(t.allocated.memory.format_binary(), "1088Mi");
    assert_eq!(t.allocated.pods.to_string(), "2");
    assert_eq!(t.vcpus.to_string(), "7500m");
    let snap = ClusterStatusSnapshot::new(&ClusterInfo::default(), &t);
    assert_eq!(snap.allocated["cpu"].to_string(), "1250m");
    assert_eq!(
        snap.capacity.keys().collect::<Vec<_>>(),
        ["cpu", "memory", "pods"]
    );
}

#[test]
fn only_bound_non_terminal_pods_count() {
    let base = |node: Option<&str>, phase: &str| {
        pod(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [container("100m", "10Mi")]},
            "status": {"phase": phase},
        }))
    };
    assert!(base(Some("n1"), "Running").usage().is_some());
    assert!(base(Some("n1"), "Pending").usage().is_some());
    assert!(base(Some("n1"), "Unknown").usage().is_some());
    assert!(base(None, "Pending").usage().is_none(), "unscheduled");
    assert!(
        base(Some(""), "Pending").usage().is_none(),
        "empty nodeName"
    );
    assert!(base(Some("n1"), "Succeeded").usage().is_none());
    assert!(base(Some("n1"), "Failed").usage().is_none());
    assert_eq!(base(Some("n1"), "Running").key(), "ns/p");
}

#[test]
fn requests_take_max_of_init_and_sum_of_containers() {
    let spec = |v: Value| serde_json::from_value::<SlimPodSpec>(v).expect("spec");
    // sum(containers) = 300m/30Mi; the big init container wins on cpu only.
    let s = spec(json!({
        "containers": [container("100m", "10Mi"), container("200m", "20Mi")],
        "initContainers": [container("500m", "5Mi"), container("50m", "1Mi")],
    }));
    let r = pod_requests(&s);
    assert_eq!(
        (r.cpu.to_string(), r.memory.format_binary()),
        ("500m".into(), "30Mi".into())
    );
    // A sidecar (restartPolicy Always) runs alongside later init containers and the app.
    let mut sidecar = container("100m", "100Mi");
    sidecar["restartPolicy"] = json!("Always");
    let s = spec(json!({
        "containers": [container("200m", "10Mi")],
        "initContainers": [sidecar, container("250m", "1Mi")],
        "overhead": {"cpu": "10m", "memory": "1Mi"},
    }));
    let r = pod_requests(&s);
    assert_eq!(r.cpu.to_string(), "360m", "max(200m+100m, 100m+250m) + 10m");
    assert_eq!(
        r.memory.format_binary(),
        "111Mi",
        "max(10Mi+100Mi, 101Mi) + 1Mi"
    );
    // Containers without requests count zero.
    let s = spec(json!({"containers": [{"name": "c", "image": "x"}]}));
    assert_eq!(pod_requests(&s), Resources::default());
}

#[test]
fn state_folds_watch_events() {
    use kube::runtime::watcher::Event as E;
    let mut st = State::default();
    assert!(!st.apply(Input::Node(Ok(E::Init))));
    for n in ["a", "b"] {
        st.apply(Input::Node(Ok(E::InitApply(node(
            n,
            "2",
            Some("True"),
            false,
        )))));
    }
    assert!(st.apply(Input::Node(Ok(E::InitDone))));
    assert!(st.nodes_synced && !st.pods_synced);
    assert_eq!(st.totals().vcpus.to_string(), "4");
    let same = node("a", "2", Some("True"), false);
    assert!(!st.apply(Input::Node(Ok(E::Apply(same)))), "no-op update");
    let down = node("a", "2", Some("False"), false);
    assert!(st.apply(Input::Node(Ok(E::Apply(down)))));
    assert_eq!(st.totals().vcpus.to_string(), "2");
    let gone = node("b", "2", Some("True"), false);
    assert!(st.apply(Input::Node(Ok(E::Delete(gone)))));
    assert_eq!(st.totals().nodes_total, 1);

    let running = pod(json!({"metadata": {"name": "p", "namespace": "d"},
        "spec": {"nodeName": "a", "containers": [container("1", "1Gi")]}, "status": {"phase": "Running"}}));
    let done = pod(json!({"metadata": {"name": "p", "namespace": "d"},
        "spec": {"nodeName": "a", "containers": [container("1", "1Gi")]}, "status": {"phase": "Succeeded"}}));
    st.apply(Input::Pod(Ok(E::Init)));
    st.apply(Input::Pod(Ok(E::InitApply(running))));
    assert!(st.apply(Input::Pod(Ok(E::InitDone))));
    assert_eq!(st.totals().allocated.cpu.to_string(), "1");
    assert!(
        st.apply(Input::Pod(Ok(E::Apply(done)))),
        "terminal pods release"
    );
    assert_eq!(st.totals().allocated.pods, Quantity::ZERO);
}
