//! The agent against a real simulated member cluster (`cceone-kubesim` as a process), through
//! kube-rs only: the status collector and the metering rule, the identity Secret, and leader
//! election between two replicas.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use cceone_cluster_agent::config::{self, MaskedString};
use cceone_cluster_agent::identity::{self, Identity};
use cceone_cluster_agent::leader::{LeaderConfig, LeaderElection};
use cceone_cluster_agent::status::{ClusterStatusSnapshot, StatusOptions, watch_status_with};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::PostParams;
use support::{Sim, agent_config, eventually, throwaway_ca};
use tokio::sync::watch;

const SIM_FLAGS: [&str; 8] = [
    "--nodes",
    "3",
    "--node-cpu",
    "3500m",
    "--not-ready-nodes",
    "1",
    "--virtual-nodes",
    "1",
];

async fn wait_snapshot(
    rx: &mut watch::Receiver<ClusterStatusSnapshot>,
    what: &str,
    pred: impl Fn(&ClusterStatusSnapshot) -> bool,
) -> ClusterStatusSnapshot {
    let got = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| pred(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match got {
        Ok(Ok(s)) => s,
        _ => panic!("timed out waiting for {what}; last: {:?}", *rx.borrow()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_nodes_and_pods_by_the_metering_rule() {
    let sim = Sim::start(&SIM_FLAGS).await;
    let client = sim.client().await;
    let opts = StatusOptions {
        debounce: Duration::from_millis(50),
        ..StatusOptions::default()
    };
    let mut rx = watch_status_with(client.clone(), opts);
    let s = wait_snapshot(&mut rx, "the first snapshot", |s| s.nodes_total > 0).await;
    assert_eq!((s.nodes_total, s.nodes_ready), (4, 3), "{s:?}");
    assert_eq!(s.vcpus.to_string(), "7", "2 Ready regular nodes x 3500m");
    assert_eq!(s.kubernetes_version, "v1.32.0");
    assert_eq!(s.capacity["cpu"].to_string(), "14");
    assert_eq!(s.capacity["pods"].to_string(), "440");
    assert_eq!(s.allocatable["memory"].format_binary(), "64Gi");
    let core = s.api_enablements.iter().find(|(gv, _)| gv == "v1").unwrap();
    assert!(core.1.contains(&("pods".into(), "Pod".into())), "{core:?}");
    assert!(
        core.1.iter().all(|(name, _)| !name.contains('/')),
        "no subresources"
    );
    let leases = s
        .api_enablements
        .iter()
        .find(|(gv, _)| gv == "coordination.k8s.io/v1")
        .unwrap();
    assert!(leases.1.contains(&("leases".into(), "Lease".into())));

    sim.set_node_ready(&client, "sim-node-0", true).await;
    let s = wait_snapshot(&mut rx, "vcpus 10500m", |s| s.vcpus.to_string() == "10500m").await;
    assert_eq!(s.nodes_ready, 4);

    // A pod bound to a node counts its requests; the virtual node's capacity never counts.
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "sim-node-1", "containers": [{"name": "c", "image": "nginx",
            "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]},
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    let s = wait_snapshot(&mut rx, "the pod's requests", |s| {
        s.allocated
            .get("cpu")
            .is_some_and(|q| q.to_string() == "250m")
    })
    .await;
    assert_eq!(s.allocated["memory"].format_binary(), "64Mi");
    assert_eq!(s.allocated["pods"].to_string(), "1");

    sim.set_node_ready(&client, "sim-node-2", false).await;
    let s = wait_snapshot(&mut rx, "vcpus 7", |s| s.vcpus.to_string() == "7").await;
    assert_eq!(s.nodes_ready, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_round_trips_through_the_member_secret() {
    let sim = Sim::start(&["--nodes", "1"]).await;
    let client = sim.client().await;
    let ca = throwaway_ca();
    let cfg = agent_config("hub.example.com:9443", &ca, &[]);
    assert_eq!(
        identity::load(&client, &cfg).await.unwrap(),
        None,
        "nothing stored yet"
    );

    let (key_pem, _csr) = Identity::new_key_and_csr(&cfg.cluster_name).unwrap();
    let first = Identity {
        cluster_name: cfg.cluster_name.clone(),
        key_pem: MaskedString::new(key_pem),
        cert_pem: "-----BEGIN CERTIFICATE-----\nfirst\n-----END CERTIFICATE-----\n".into(),
        ca_pem: ca.clone(),
        not_before: 1_700_000_000,
        not_after: 1_800_000_000,
    };
    identity::store(&client, &cfg, &first).await.unwrap();
    assert_eq!(
        identity::load(&client, &cfg).await.unwrap(),
        Some(first.clone())
    );

    // Rotation overwrites in place.
    let second = Identity {
        cert_pem: "-----BEGIN CERTIFICATE-----\nsecond\n-----END CERTIFICATE-----\n".into(),
        not_after: 1_900_000_000,
        ..first.clone()
    };
    identity::store(&client, &cfg, &second).await.unwrap();
    assert_eq!(identity::load(&client, &cfg).await.unwrap(), Some(second));

    // The Secret is an ordinary one in the agent's namespace.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "kube-system");
    let s = secrets.get("cceone-agent-identity").await.unwrap();
    let data = s.data.unwrap();
    assert!(data.contains_key("tls.key") && data.contains_key("tls.crt"));

    // Another cluster's identity, or another Secret name, is not ours.
    let other = agent_config(
        "hub.example.com:9443",
        &ca,
        &[(config::CLUSTER_NAME, "member2")],
    );
    assert_eq!(identity::load(&client, &other).await.unwrap(), None);
    let renamed = agent_config(
        "hub.example.com:9443",
        &ca,
        &[(config::IDENTITY_SECRET, "elsewhere")],
    );
    assert_eq!(identity::load(&client, &renamed).await.unwrap(), None);
}

fn holder(lease: &Lease) -> Option<String> {
    lease
        .spec
        .as_ref()?
        .holder_identity
        .clone()
        .filter(|h| !h.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_leader_and_the_standby_takes_over() {
    let sim = Sim::start(&["--nodes", "1"]).await;
    let client = sim.client().await;
    let a = LeaderElection::start(
        client.clone(),
        LeaderConfig::new("kube-system", "agent-a"),
        None,
    );
    let b = LeaderElection::start(
        client.clone(),
        LeaderConfig::new("kube-system", "agent-b"),
        None,
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let first = eventually("one replica leads", Duration::from_secs(20), || async {
        match (a.is_leader(), b.is_leader()) {
            (true, false) => Some("agent-a"),
            (false, true) => Some("agent-b"),
            (true, true) => panic!("two leaders"),
            (false, false) => None,
        }
    })
    .await;
    // Both have campaigned at least once more (retry 2 s, renew 5 s); still exactly one.
    let lease = leases.get("cceone-cluster-agent").await.unwrap();
    assert_eq!(holder(&lease).as_deref(), Some(first));
    let mut renewals = 0;
    let mut last_rv = lease.metadata.resource_version.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while renewals < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader did not renew twice in 20s"
        );
        assert!(
            a.is_leader() ^ b.is_leader(),
            "exactly one leader at all times"
        );
        let l = leases.get("cceone-cluster-agent").await.unwrap();
        assert_eq!(holder(&l).as_deref(), Some(first));
        if l.metadata.resource_version != last_rv {
            renewals += 1;
            last_rv = l.metadata.resource_version.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The leader stops (releasing the Lease); the standby leads within 20 s.
    let (leader, standby, standby_id) = if first == "agent-a" {
        (a, b, "agent-b")
    } else {
        (b, a, "agent-a")
    };
    let mut standby_rx = standby.subscribe();
    leader.shutdown().await;
    let took_over = tokio::time::timeout(Duration::from_secs(20), standby_rx.wait_for(|l| *l))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(took_over, "standby did not take over within 20s");
    let lease = leases.get("cceone-cluster-agent").await.unwrap();
    assert_eq!(holder(&lease).as_deref(), Some(standby_id));
    assert!(lease.spec.unwrap().lease_transitions.unwrap_or(0) >= 1);
    standby.shutdown().await;
    let lease = leases.get("cceone-cluster-agent").await.unwrap();
    assert_eq!(holder(&lease), None, "released on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_of_a_crashed_holder_is_taken_over() {
    let sim = Sim::start(&["--nodes", "1"]).await;
    let client = sim.client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    // A holder that crashed 1 s after renewing a 3 s lease: no release, only expiry.
    let now = Timestamp::now();
    let ghost = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("cceone-cluster-agent".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("crashed".into()),
            lease_duration_seconds: Some(3),
            renew_time: Some(MicroTime(now - SignedDuration::from_secs(1))),
            ..Default::default()
        }),
    };
    leases.create(&PostParams::default(), &ghost).await.unwrap();
    let c = LeaderElection::start(
        client.clone(),
        LeaderConfig::new("kube-system", "agent-c"),
        None,
    );
    let mut rx = c.subscribe();
    rx.wait_for(|l| !*l).await.unwrap();
    // (Never hold a watch::Ref across an await: it blocks the sender.)
    let led = tokio::time::timeout(Duration::from_secs(15), rx.wait_for(|l| *l))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(led, "did not take over the expired lease");
    let took = Timestamp::now();
    assert!(
        took >= now + SignedDuration::from_secs(2),
        "took over before expiry"
    );
    c.shutdown().await;
}
