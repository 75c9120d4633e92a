//! Registration over real TLS against a stand-in hub, and the whole agent (health, election,
//! identity, the tunnel seam) against a real simulated member cluster.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use cceone_cluster_agent::config;
use cceone_cluster_agent::https::HttpsClient;
use cceone_cluster_agent::identity::{self, IdentityError};
use cceone_cluster_agent::{Agent, HealthServer, ensure_identity};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use support::{FAKE_NOT_AFTER, FakeHub, Sim, agent_config, eventually, http_get};

#[tokio::test]
async fn register_signs_our_csr_once_and_refusals_are_permanent() {
    let hub = FakeHub::start("good-token").await;
    let cfg = agent_config(
        &hub.endpoint,
        &hub.ca_pem,
        &[(config::BOOTSTRAP_TOKEN, "good-token")],
    );
    let http = HttpsClient::new(&cfg.hub_ca_pem).unwrap();
    let id = identity::register(&cfg, &http).await.unwrap();
    assert_eq!(id.cluster_name, "member1");
    assert_eq!(id.ca_pem, hub.ca_pem);
    assert_eq!(
        id.not_before,
        "2024-01-01T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    );
    assert_eq!(
        id.not_after,
        FAKE_NOT_AFTER
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    );
    assert!(!id.needs_rotation(identity::now_unix()));
    // The certificate works as a client identity.
    HttpsClient::with_identity(&id.ca_pem, &id.cert_pem, id.key_pem.expose()).unwrap();

    // The token is one-time.
    let e = identity::register(&cfg, &http).await.unwrap_err();
    assert!(
        matches!(&e, IdentityError::Rejected { status: 401, message } if message.contains("already used")),
        "{e}"
    );
    assert!(!e.is_retryable());

    let wrong = agent_config(
        &hub.endpoint,
        &hub.ca_pem,
        &[(config::BOOTSTRAP_TOKEN, "forged")],
    );
    let e = identity::register(&wrong, &http).await.unwrap_err();
    assert!(e.to_string().contains("invalid or expired"), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(
        hub.registrations.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn register_over_http1_when_the_hub_offers_only_that() {
    let hub = FakeHub::start_with_alpn("t1", &[b"http/1.1"]).await;
    let cfg = agent_config(
        &hub.endpoint,
        &hub.ca_pem,
        &[(config::BOOTSTRAP_TOKEN, "t1")],
    );
    let id = identity::register(&cfg, &HttpsClient::new(&hub.ca_pem).unwrap())
        .await
        .unwrap();
    assert_eq!(id.cluster_name, "member1");
}

#[tokio::test]
async fn unreachable_or_untrusted_hub_is_retryable() {
    let hub = FakeHub::start("t").await;
    // Nothing listens on a just-closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = agent_config(
        &closed.to_string(),
        &hub.ca_pem,
        &[(config::BOOTSTRAP_TOKEN, "t")],
    );
    let e = identity::register(&cfg, &HttpsClient::new(&cfg.hub_ca_pem).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, IdentityError::Transport(_)) && e.is_retryable(),
        "{e}"
    );

    // A hub whose certificate does not chain to the configured CA fails the handshake.
    let other_ca = support::throwaway_ca();
    let cfg = agent_config(&hub.endpoint, &other_ca, &[(config::BOOTSTRAP_TOKEN, "t")]);
    let e = identity::register(&cfg, &HttpsClient::new(&other_ca).unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TLS handshake"), "{e}");
    assert!(e.is_retryable());

    // Without a token there is nothing to try.
    let cfg = agent_config(&hub.endpoint, &hub.ca_pem, &[]);
    let e = identity::register(&cfg, &HttpsClient::new(&hub.ca_pem).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, IdentityError::NoToken));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_registers_stores_its_identity_and_reuses_it_after_restart() {
    let sim = Sim::start(&["--nodes", "2"]).await;
    let client = sim.client().await;
    let hub = FakeHub::start("join-me").await;
    let cfg = agent_config(
        &hub.endpoint,
        &hub.ca_pem,
        &[
            (config::BOOTSTRAP_TOKEN, "join-me"),
            (config::AGENT_ID, "agent-a"),
        ],
    );
    let health = HealthServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = health.local_addr().unwrap();
    let agent = Agent::new(cfg.clone(), client.clone());
    let metrics = agent.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(agent.run_with(health, async move {
        let _ = stopped.await;
    }));

    eventually(
        "the agent registers and stores its identity",
        Duration::from_secs(30),
        || async { identity::load(&client, &cfg).await.unwrap() },
    )
    .await;
    assert_eq!(
        hub.registrations.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    let (_, metrics_text) = http_get(addr, "/metrics").await;
    assert!(
        metrics_text.contains("cceone_agent_leader 1"),
        "{metrics_text}"
    );
    // The leader has no tunnel yet (the seam only waits), so it is not ready.
    assert_eq!(http_get(addr, "/readyz").await.0, 503);
    assert!(metrics.leader.load(std::sync::atomic::Ordering::Relaxed));

    // Shutdown releases the Lease.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let lease = Api::<Lease>::namespaced(client.clone(), "kube-system")
        .get("cceone-cluster-agent")
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None);

    // A restarted replica with no token reuses the stored identity without registering.
    let restarted = agent_config(&hub.endpoint, &hub.ca_pem, &[(config::AGENT_ID, "agent-b")]);
    let stored = identity::load(&client, &restarted).await.unwrap().unwrap();
    let id = ensure_identity(&restarted, &client).await.unwrap();
    assert_eq!(id, stored);
    assert_eq!(
        hub.registrations.load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // Without a stored identity, a used token is a permanent error.
    let fresh = agent_config(
        &hub.endpoint,
        &hub.ca_pem,
        &[
            (config::BOOTSTRAP_TOKEN, "join-me"),
            (config::IDENTITY_SECRET, "another-identity"),
        ],
    );
    let e = ensure_identity(&fresh, &client).await.unwrap_err();
    assert!(matches!(e, IdentityError::Rejected { .. }), "{e}");
}
