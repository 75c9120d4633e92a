//! A member cluster joins: register with `cceonectl`, start the agent binary with the printed
//! settings, and watch the registered cluster turn Running with the metering rule's vCPU count;
//! then reach the member through the hub's proxy with `kubectl`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Platform, eventually, kubesim, ok, run};

#[test]
fn register_join_running_with_exact_vcpus_and_proxy() {
    let p = Platform::start(&[]);
    // 3 nodes of 3500m, one NotReady, plus one virtual-kubelet node: 2 x 3500m count.
    let (_member, member_kc) = kubesim(
        "member",
        p.dir.path(),
        &[
            "--nodes",
            "3",
            "--node-cpu",
            "3500m",
            "--not-ready-nodes",
            "1",
            "--virtual-nodes",
            "1",
        ],
    );
    let env = p.register("demo", &["--region", "r1", "--provider", "sim"]);
    assert!(env.contains_key("CCEONE_BOOTSTRAP_TOKEN"), "{env:?}");
    assert_eq!(p.cluster_field("demo", ".status.phase"), "Pending");
    let _agent = p.agent("demo", &member_kc, env);
    p.wait_phase("demo", "Running", Duration::from_secs(60));
    eventually("vcpus reported", Duration::from_secs(30), || {
        (p.cluster_field("demo", ".status.vcpus") == "7").then_some(())
    });
    assert_eq!(p.cluster_field("demo", ".status.nodeSummary.total"), "4");
    assert_eq!(p.cluster_field("demo", ".status.nodeSummary.ready"), "3");
    assert_eq!(
        p.cluster_field("demo", ".status.kubernetesVersion"),
        "v1.32.0"
    );
    let table = p.kubectl(&["get", "registeredclusters"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "TYPE", "PROVIDER", "VERSION", "REGION", "PHASE", "VCPUS", "AGE"
        ]
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..7],
        ["demo", "local", "sim", "v1.32.0", "r1", "Running", "7"]
    );

    // The proxy: an issued kubeconfig reaches the member's API through the tunnel.
    let fed_kc = p.fed_kc.display().to_string();
    let kc_text = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            fed_kc.as_str(),
            "cluster",
            "kubeconfig",
            "demo",
        ],
    );
    let proxy_kc = p.dir.path().join("proxy.kubeconfig");
    std::fs::write(&proxy_kc, kc_text).unwrap();
    let proxy_kc = proxy_kc.display().to_string();
    let nodes = ok(
        "kubectl",
        &["--kubeconfig", proxy_kc.as_str(), "get", "nodes"],
    );
    assert!(
        nodes.contains("sim-node-1") && nodes.contains("NotReady"),
        "{nodes}"
    );
    let pods = run(
        "kubectl",
        &["--kubeconfig", proxy_kc.as_str(), "get", "pods", "-A"],
    );
    assert!(
        pods.status.success(),
        "{}",
        String::from_utf8_lossy(&pods.stderr)
    );

    // Probes and metrics also over plain HTTP on the health port (no TLS handshake queue).
    assert_eq!(p.health_get("/healthz"), (200, "ok".into()));
    assert_eq!(p.health_get("/readyz"), (200, "ok".into()));
    let (code, metrics) = p.health_get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        support::metric(&metrics, "cceone_hub_sessions"),
        1,
        "{metrics}"
    );
    assert_eq!(p.health_get("/v1/register").0, 404);
    // The public port serves probes but not what the hub counts.
    let (code, body) = p.https("GET", "/metrics", &[], b"").unwrap();
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("health port"), "{body}");
    assert_eq!(p.https("GET", "/healthz", &[], b"").unwrap().0, 200);
}
