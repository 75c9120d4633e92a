//! NAT: the member cluster and its agent run in a network namespace behind a masquerading router
//! that lets nothing new in. The agent dials out, the cluster turns Running with the metering
//! rule's vCPU count, and `kubectl` reaches it through the hub's proxy, while a direct dial into
//! the member's API server from the hub's side fails.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::netlab::NetLab;
use support::{Platform, eventually, kubectl, kubesim_in};

#[test]
fn agent_behind_nat_joins_and_is_reachable_only_through_the_hub() {
    let Some(lab) = NetLab::nat("agent_behind_nat_joins_and_is_reachable_only_through_the_hub")
    else {
        return;
    };
    let p = Platform::start_at(&lab.hub_ip, &[]);
    // The member listens on every address of its namespace; its kubeconfig says 127.0.0.1,
    // which is the member's own loopback for the agent running beside it.
    let (_member, member_kc) = kubesim_in(
        Some(&lab.member),
        "0.0.0.0:0",
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
    let env = p.register("edge", &["--region", "behind-nat"]);
    assert_eq!(env["CCEONE_HUB_ENDPOINT"], p.hub_endpoint());
    let _agent = p.agent_in(Some(&lab.member), "edge", &member_kc, env);
    p.wait_phase("edge", "Running", Duration::from_secs(40));
    p.wait_field("edge", ".status.vcpus", "7", Duration::from_secs(20));
    assert_eq!(p.cluster_field("edge", ".status.nodeSummary.ready"), "3");
    // QUIC crosses the NAT too.
    assert_eq!(p.cluster_field("edge", ".status.transport"), "quic");
    // The hub saw the router's address, not the member's.
    let log = p.hub_log();
    assert!(
        log.contains(&format!("peer={}:", lab.uplink_ip)) && !log.contains(&lab.member_ip),
        "{log}"
    );

    // Through the hub, kubectl reaches the member.
    let (proxy_kc, _) = p.proxy_kubeconfig("edge", "edge.kubeconfig");
    let nodes = kubectl(&proxy_kc, &["get", "nodes"]);
    assert!(
        nodes.contains("sim-node-1") && nodes.contains("NotReady"),
        "{nodes}"
    );
    kubectl(&proxy_kc, &["create", "namespace", "through-the-hub"]);
    // (kubectl inside the member's namespace: its kubeconfig points at the member's loopback)
    let kc = member_kc.display().to_string();
    let kubectl_bin = support::kubectl_bin().display().to_string();
    let ns = lab
        .member_output(&[&kubectl_bin, "--kubeconfig", &kc, "get", "namespaces"])
        .unwrap();
    assert!(ns.contains("through-the-hub"), "{ns}");

    // Directly, nothing gets in: the member's API server answers inside its namespace, but a
    // dial from the hub's side (which has a route to it) is dropped by the router.
    let port = api_port(&member_kc);
    lab.member_exec(&[
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{}/{port}", lab.member_ip),
    ])
    .unwrap();
    let target: SocketAddr = format!("{}:{port}", lab.member_ip).parse().unwrap();
    let dial = TcpStream::connect_timeout(&target, Duration::from_secs(2));
    assert!(dial.is_err(), "a connection into the member got through");
    // And the tunnel is still up after all that.
    eventually("edge still Running", Duration::from_secs(5), || {
        (p.cluster_field("edge", ".status.phase") == "Running").then_some(())
    });
}

/// The port of the member's API server, from its kubeconfig.
fn api_port(kc: &std::path::Path) -> u16 {
    let text = std::fs::read_to_string(kc).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .unwrap()
        .trim()
        .trim_matches('"');
    server.rsplit(':').next().unwrap().parse().unwrap()
}
