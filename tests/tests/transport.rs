//! Transports and protocol versions: with UDP blocked, `auto` falls back to TLS over TCP;
//! `quic` and `grpc` get what they ask for; an older agent (protocol 1) works with a newer hub
//! and a newer agent with an older hub, both settling on version 1.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::netlab::NetLab;
use support::{Platform, kubectl, kubesim, kubesim_in};

#[test]
fn auto_falls_back_to_tcp_when_udp_is_blocked() {
    let Some(lab) = NetLab::nat("auto_falls_back_to_tcp_when_udp_is_blocked") else {
        return;
    };
    lab.block_member_udp();
    let p = Platform::start_at(&lab.hub_ip, &[]);
    let (_member, member_kc) = kubesim_in(
        Some(&lab.member),
        "127.0.0.1:0",
        "member",
        p.dir.path(),
        &["--nodes", "2", "--node-cpu", "2"],
    );
    let mut env = p.register("udpless", &[]);
    env.insert("CCEONE_TRANSPORT".into(), "auto".into());
    let agent = p.agent_in(Some(&lab.member), "udpless", &member_kc, env);
    p.wait_phase("udpless", "Running", Duration::from_secs(40));
    assert_eq!(p.cluster_field("udpless", ".status.transport"), "grpc");
    p.wait_field("udpless", ".status.vcpus", "4", Duration::from_secs(20));
    let log = agent.log_text();
    assert!(
        log.contains("QUIC unavailable; falling back to TLS over TCP"),
        "{log}"
    );
    let metrics = p.metrics();
    assert_eq!(
        support::metric(&metrics, "cceone_hub_tunnels{transport=\"grpc\"}"),
        1,
        "{metrics}"
    );
    assert_eq!(
        support::metric(&metrics, "cceone_hub_tunnels{transport=\"quic\"}"),
        0,
        "{metrics}"
    );
}

#[test]
fn each_transport_gets_what_it_asks_for() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "1"]);
    let mut agents = Vec::new();
    for (cluster, transport, want) in [
        ("over-quic", "quic", "quic"),
        ("over-grpc", "grpc", "grpc"),
        ("over-auto", "auto", "quic"),
    ] {
        // One namespace per agent: each has its own Lease and identity Secret.
        kubectl(&member_kc, &["create", "namespace", cluster]);
        let mut env = p.register(cluster, &[]);
        env.insert("CCEONE_TRANSPORT".into(), transport.into());
        env.insert("CCEONE_NAMESPACE".into(), cluster.into());
        agents.push((p.agent(cluster, &member_kc, env), cluster, want));
    }
    for (_, cluster, want) in &agents {
        p.wait_phase(cluster, "Running", Duration::from_secs(40));
        assert_eq!(p.cluster_field(cluster, ".status.transport"), *want);
        assert_eq!(p.cluster_field(cluster, ".status.protocolVersion"), "2");
    }
    let metrics = p.metrics();
    assert_eq!(
        support::metric(&metrics, "cceone_hub_tunnels{transport=\"quic\"}"),
        2,
        "{metrics}"
    );
    assert_eq!(
        support::metric(&metrics, "cceone_hub_tunnels{transport=\"grpc\"}"),
        1,
        "{metrics}"
    );
}

#[test]
fn older_agent_works_with_newer_hub() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "3"]);
    let mut env = p.register("old-agent", &[]);
    env.insert("CCEONE_AGENT_PROTOCOL_MAX".into(), "1".into());
    let _agent = p.agent("old-agent", &member_kc, env);
    p.wait_phase("old-agent", "Running", Duration::from_secs(40));
    assert_eq!(p.cluster_field("old-agent", ".status.protocolVersion"), "1");
    p.wait_field("old-agent", ".status.vcpus", "12", Duration::from_secs(20));
    // Version 1 still carries heartbeats: the session outlives the grace period.
    support::throughout("old agent stays Running", Duration::from_secs(5), || {
        p.cluster_field("old-agent", ".status.phase") == "Running"
    });
}

#[test]
fn newer_agent_works_with_older_hub() {
    let p = Platform::start(&["--max-protocol-version", "1"]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "1"]);
    let env = p.register("new-agent", &[]);
    let _agent = p.agent("new-agent", &member_kc, env);
    p.wait_phase("new-agent", "Running", Duration::from_secs(40));
    assert_eq!(p.cluster_field("new-agent", ".status.protocolVersion"), "1");
    p.wait_field("new-agent", ".status.vcpus", "4", Duration::from_secs(20));
    support::throughout("new agent stays Running", Duration::from_secs(5), || {
        p.cluster_field("new-agent", ".status.phase") == "Running"
    });
}
