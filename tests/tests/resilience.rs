//! Restarts and failover: the hub killed and restarted (agents reconnect, status recovers,
//! including what changed meanwhile); an agent killed (Disconnected within the grace period,
//! Running again on return without registering again); two agent replicas on one member
//! (exactly one holds the tunnel; the standby takes over when the leader dies).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::{Platform, eventually, kubectl, kubesim, metric, step};

#[test]
fn hub_restart_agents_reconnect_and_state_recovers() {
    let mut p = Platform::start(&[]);
    let mut agents = Vec::new();
    let mut members = Vec::new();
    for (cluster, transport) in [("via-quic", "quic"), ("via-grpc", "grpc")] {
        let (member, kc) = kubesim(cluster, p.dir.path(), &["--nodes", "3", "--node-cpu", "2"]);
        let mut env = p.register(cluster, &[]);
        env.insert("CCEONE_TRANSPORT".into(), transport.into());
        agents.push(p.agent(&format!("{cluster}-agent"), &kc, env));
        members.push((cluster, member, kc));
    }
    // connectedSince has a resolution of one second, and a reconnect takes less: count the
    // connections in the operation log instead.
    let connects = |p: &Platform, cluster: &str| {
        p.operation_reasons(cluster)
            .iter()
            .filter(|r| {
                matches!(
                    r.as_str(),
                    "AgentConnected" | "TunnelReplaced" | "AgentReconnected"
                )
            })
            .count()
    };
    let mut since = Vec::new();
    for (cluster, _, _) in &members {
        p.wait_phase(cluster, "Running", Duration::from_secs(40));
        p.wait_field(cluster, ".status.vcpus", "6", Duration::from_secs(20));
        since.push(connects(&p, cluster));
    }

    p.hub.kill();
    step("hub killed");
    // While the hub is down, each member changes: one node turns virtual-kubelet.
    for (_, _, kc) in &members {
        kubectl(kc, &["label", "node", "sim-node-1", "type=virtual-kubelet"]);
    }
    p.restart_hub();
    step("hub restarted");
    for ((cluster, _, _), before) in members.iter().zip(&since) {
        eventually(
            &format!("{cluster} reconnected"),
            Duration::from_secs(30),
            || {
                (p.cluster_field(cluster, ".status.phase") == "Running"
                    && connects(&p, cluster) > *before)
                    .then_some(())
            },
        );
        p.wait_field(cluster, ".status.vcpus", "4", Duration::from_secs(20));
        let ops = p.operation_reasons(cluster);
        assert!(
            ops.iter()
                .any(|r| r == "TunnelReplaced" || r == "AgentReconnected"),
            "{cluster}: {ops:?}"
        );
    }
    let metrics = p.metrics();
    assert_eq!(metric(&metrics, "cceone_hub_sessions"), 2, "{metrics}");
    // Nobody registered again: the agents kept their identities.
    assert_eq!(
        metric(&metrics, "cceone_hub_registrations_total"),
        0,
        "{metrics}"
    );
}

#[test]
fn killed_agent_is_disconnected_then_returns_without_registering() {
    let p = Platform::start(&["--heartbeat-grace-secs", "4"]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "2"]);
    let mut env = p.register("alpha", &[]);
    let mut agent = p.agent("alpha", &member_kc, env.clone());
    p.wait_phase("alpha", "Running", Duration::from_secs(40));
    p.wait_field("alpha", ".status.vcpus", "8", Duration::from_secs(20));

    agent.kill();
    let killed = Instant::now();
    p.wait_phase("alpha", "Disconnected", Duration::from_secs(10));
    assert!(
        killed.elapsed() < Duration::from_secs(4 + 2),
        "Disconnected only after {:?}",
        killed.elapsed()
    );
    let ops = p.operation_reasons("alpha");
    assert!(
        ops.iter()
            .any(|r| r == "TunnelClosed" || r == "HeartbeatMissed"),
        "{ops:?}"
    );

    // Back without a token: the identity Secret in the member is enough. The same replica
    // identity (a container restarted in its pod keeps its name) takes its Lease back at once.
    env.remove("CCEONE_BOOTSTRAP_TOKEN");
    env.insert("CCEONE_AGENT_ID".into(), "alpha-agent".into());
    let again = p.agent("alpha-again", &member_kc, env);
    p.wait_phase("alpha", "Running", Duration::from_secs(40));
    let ops = p.operation_reasons("alpha");
    assert_eq!(
        ops.last().map(String::as_str),
        Some("AgentReconnected"),
        "{ops:?}"
    );
    assert!(!again.log_text().contains("registered with the hub"));
    assert_eq!(
        metric(&p.metrics(), "cceone_hub_registrations_total"),
        1,
        "registered once"
    );
}

#[test]
fn standby_replica_takes_over_when_the_leader_dies() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "1"]);
    let env = p.register("ha", &[]);
    let mut replicas: Vec<_> = ["replica-a", "replica-b"]
        .into_iter()
        .map(|id| {
            let mut env = env.clone();
            env.insert("CCEONE_AGENT_ID".into(), id.into());
            (id, p.agent(id, &member_kc, env))
        })
        .collect();
    p.wait_phase("ha", "Running", Duration::from_secs(40));
    let leader = p.cluster_field("ha", ".status.agentId");
    let (li, si) = if leader == "replica-a" {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(replicas[li].0, leader);
    let standby = replicas[si].0;
    // Exactly one replica holds the tunnel.
    assert!(replicas[li].1.log_text().contains("tunnel established"));
    assert!(!replicas[si].1.log_text().contains("tunnel established"));
    assert_eq!(metric(&p.metrics(), "cceone_hub_sessions"), 1);

    replicas[li].1.kill();
    let killed = Instant::now();
    step("leader killed");
    eventually(
        "the standby holds the tunnel",
        Duration::from_secs(30),
        || {
            (p.cluster_field("ha", ".status.phase") == "Running"
                && p.cluster_field("ha", ".status.agentId") == standby)
                .then_some(())
        },
    );
    step(&format!(
        "standby took over {:.1}s after the leader died",
        killed.elapsed().as_secs_f64()
    ));
    assert_eq!(metric(&p.metrics(), "cceone_hub_sessions"), 1);
    assert_eq!(metric(&p.metrics(), "cceone_hub_registrations_total"), 1);
}
