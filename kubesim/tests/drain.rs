//! Cordon, drain and eviction with PodDisruptionBudgets, with the real `kubectl` (v1.32) and
//! the official Python client against the real `cceone-kubesim`: `kubectl cordon` taints the
//! node, `kubectl drain` evicts through `pods/eviction` and waits out the budget one pod at a
//! time while the ReplicaSet recreates pods elsewhere, the budget's status counts as the
//! disruption controller does, and an eviction the budget forbids is a 429 in upstream's words.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Sim, ensure_python_client, eventually, python_ok};

const WAIT: Duration = Duration::from_secs(30);

fn nodes_of(sim: &Sim) -> Vec<String> {
    sim.jsonpath(&["pods", "-l", "app=web"], "{.items[*].spec.nodeName}")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn ready_replicas(sim: &Sim, n: usize) {
    eventually(&format!("{n} ready replicas"), WAIT, || {
        let r = sim.jsonpath(&["deployment", "web"], "{.status.readyReplicas}");
        (r == n.to_string()).then_some(())
    });
}

#[test]
fn drain_waits_for_the_budget_and_moves_every_pod() {
    let sim = Sim::start(&["--nodes", "3"]);
    // All three replicas on sim-node-0: the other nodes are cordoned while they start.
    sim.ok(&["cordon", "sim-node-1", "sim-node-2"]);
    let taint = eventually("the cordon taint", WAIT, || {
        let t = sim.jsonpath(
            &["node", "sim-node-1"],
            "{.spec.taints[*].key}:{.spec.taints[*].effect}",
        );
        t.contains("node.kubernetes.io/unschedulable").then_some(t)
    });
    assert!(taint.ends_with("NoSchedule"), "{taint}");
    sim.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    ready_replicas(&sim, 3);
    assert_eq!(nodes_of(&sim), ["sim-node-0"; 3]);
    sim.ok(&["uncordon", "sim-node-1", "sim-node-2"]);
    eventually("the taint removed", WAIT, || {
        let t = sim.jsonpath(&["node", "sim-node-1"], "{.spec.taints}");
        (!t.contains("unschedulable")).then_some(())
    });

    // A budget of replicas-1: one disruption at a time.
    sim.ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ]);
    let status = eventually("the budget's status", WAIT, || {
        let s = sim.jsonpath(&["pdb", "web"], "{.status.expectedPods} {.status.currentHealthy} {.status.desiredHealthy} {.status.disruptionsAllowed} {.status.observedGeneration} {.status.conditions[0].type}={.status.conditions[0].status}");
        s.starts_with("3 ").then_some(s)
    });
    assert_eq!(status, "3 3 2 1 1 DisruptionAllowed=True");
    let table = sim.ok(&["get", "pdb", "web"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "MIN",
            "AVAILABLE",
            "MAX",
            "UNAVAILABLE",
            "ALLOWED",
            "DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(rows[1][..4], ["web", "2", "N/A", "1"]);

    let out = sim.kubectl(&[
        "drain",
        "sim-node-0",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=90s",
    ]);
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("node/sim-node-0 cordoned"), "{stdout}");
    assert!(stdout.contains("node/sim-node-0 drained"), "{stdout}");
    assert_eq!(stdout.matches(" evicted").count(), 3, "{stdout}");
    // The budget held the second and third evictions back until the first pod's replacement ran.
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{stderr}"
    );
    ready_replicas(&sim, 3);
    let nodes = nodes_of(&sim);
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n != "sim-node-0"), "{nodes:?}");
    let node = sim.jsonpath(
        &["node", "sim-node-0"],
        "{.spec.unschedulable} {.spec.taints[*].key}",
    );
    assert_eq!(node, "true node.kubernetes.io/unschedulable");
    sim.ok(&["uncordon", "sim-node-0"]);
}

#[test]
fn python_client_sees_the_budget_refuse_an_eviction() {
    ensure_python_client();
    let sim = Sim::start(&[]);
    sim.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    ready_replicas(&sim, 2);
    sim.ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ]);
    eventually("the budget's status", WAIT, || {
        let s = sim.jsonpath(
            &["pdb", "web"],
            "{.status.currentHealthy} {.status.disruptionsAllowed}",
        );
        (s == "2 0").then_some(())
    });
    let pod = sim.jsonpath(&["pods", "-l", "app=web"], "{.items[0].metadata.name}");
    let script = r#"
import json, sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
body = client.V1Eviction(metadata=client.V1ObjectMeta(name=sys.argv[2], namespace="default"))
try:
    core.create_namespaced_pod_eviction(sys.argv[2], "default", body)
    print("evicted")
except ApiException as e:
    status = json.loads(e.body)
    print(e.status, status["reason"], status["message"])
    print(status["details"]["causes"][0]["reason"], status["details"]["causes"][0]["message"])
"#;
    let printed = python_ok(script, &[sim.kubeconfig.as_os_str(), pod.as_ref()]);
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "429 TooManyRequests Cannot evict pod as it would violate the pod's disruption budget.",
            "DisruptionBudget The disruption budget web needs 2 healthy pods and has 2 currently",
        ]
    );
    // The pod is still there; with room in the budget the same eviction goes through and marks
    // the pod as the target of a disruption before deleting it.
    sim.ok(&["get", "pod", &pod]);
    sim.ok(&[
        "patch",
        "pdb",
        "web",
        "--type=merge",
        "-p",
        "{\"spec\":{\"minAvailable\":1}}",
    ]);
    eventually("room in the budget", WAIT, || {
        let s = sim.jsonpath(
            &["pdb", "web"],
            "{.status.disruptionsAllowed} {.status.observedGeneration}",
        );
        (s == "1 2").then_some(())
    });
    let printed = python_ok(script, &[sim.kubeconfig.as_os_str(), pod.as_ref()]);
    assert_eq!(printed.trim(), "evicted");
    eventually("the evicted pod gone", WAIT, || {
        (!sim.kubectl(&["get", "pod", &pod]).status.success()).then_some(())
    });
}
