//! Identity comes from the client certificate alone: cluster A's certificate cannot report as
//! cluster B (whatever the CSR, the Hello or a rotation CSR say), and revoking a cluster closes
//! its live tunnel at once and refuses every reconnect.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use cceone_proto::v1::{self, agent_message, hub_message};
use cceone_tunnel::TransportChoice;
use support::fake::{self, FakeSession, agent_msg, cert_cn};
use support::{Platform, eventually, kubesim, throughout};

#[test]
fn a_certificate_speaks_only_for_its_own_cluster() {
    let p = Platform::start(&[]);
    // Alpha's token with a CSR that asks for "beta": the certificate names alpha.
    let alpha = p.test_identity("alpha", "beta");
    assert_eq!(alpha.cluster, "alpha");
    assert_eq!(cert_cn(&alpha.cert_pem), "alpha");
    p.register("beta", &[]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = p.hub_endpoint();
    let mut session = rt.block_on(async {
        // Everything in the messages claims to be beta.
        let (conn, control) = fake::connect(
            &endpoint,
            "127.0.0.1",
            &alpha,
            TransportChoice::Grpc,
            "beta",
        )
        .await
        .unwrap();
        let s = FakeSession::start(conn, control);
        let status = v1::ClusterStatus {
            kubernetes_version: "v1.99.0-beta".into(),
            vcpus: "42".into(),
            nodes: Some(v1::NodeSummary { total: 9, ready: 9 }),
            ..Default::default()
        };
        s.out
            .send(agent_msg(agent_message::Msg::Status(status)))
            .await
            .unwrap();
        s
    });
    p.wait_field("alpha", ".status.vcpus", "42", Duration::from_secs(20));
    assert_eq!(p.cluster_field("alpha", ".status.phase"), "Running");
    assert_eq!(
        p.cluster_field("alpha", ".status.kubernetesVersion"),
        "v1.99.0-beta"
    );

    // A rotation CSR naming beta, sent over alpha's tunnel, still yields an alpha certificate.
    let (_, csr) = fake::new_key_and_csr("beta");
    let issued = rt.block_on(async {
        session
            .out
            .send(agent_msg(agent_message::Msg::Csr(v1::CsrRequest {
                csr_pem: csr,
            })))
            .await
            .unwrap();
        session.next(Duration::from_secs(10)).await
    });
    match issued {
        Some(v1::HubMessage {
            msg: Some(hub_message::Msg::Certificate(c)),
        }) => assert_eq!(cert_cn(&c.certificate_pem), "alpha"),
        other => panic!("expected a certificate, got {other:?}"),
    }

    // Beta never changed.
    assert_eq!(p.cluster_field("beta", ".status.phase"), "Pending");
    assert_eq!(p.cluster_field("beta", ".status.vcpus"), "");
    assert_eq!(p.cluster_field("beta", ".status.kubernetesVersion"), "");
    let ops = p.operation_reasons("beta");
    assert!(
        !ops.iter().any(|r| r.starts_with("Agent") || r == "Revoked"),
        "{ops:?}"
    );
    drop(session);
}

#[test]
fn revoked_cluster_loses_its_tunnel_and_cannot_reconnect() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "2"]);
    let env = p.register("alpha", &[]);
    let agent = p.agent("alpha", &member_kc, env);
    p.wait_phase("alpha", "Running", Duration::from_secs(40));
    assert_eq!(
        support::metric(&p.metrics(), "cceone_hub_sessions"),
        1,
        "one live session"
    );

    p.cceonectl(&["cluster", "revoke", "alpha"]);
    // At once: the hub watches the cluster and cuts its tunnel.
    p.wait_phase("alpha", "Disconnected", Duration::from_secs(5));
    let ops = p.operation_reasons("alpha");
    assert!(ops.iter().any(|r| r == "Revoked"), "{ops:?}");
    assert_eq!(support::metric(&p.metrics(), "cceone_hub_sessions"), 0);
    eventually("the agent heard why", Duration::from_secs(10), || {
        let log = agent.log_text();
        (log.contains("the hub closed the tunnel") && log.contains("revoked")).then_some(())
    });

    // The agent keeps trying; every attempt is refused and counted.
    eventually(
        "a reconnect refused as revoked",
        Duration::from_secs(20),
        || (p.refusals("revoked") >= 1).then_some(()),
    );
    throughout("alpha stays Disconnected", Duration::from_secs(3), || {
        p.cluster_field("alpha", ".status.phase") == "Disconnected"
    });
    assert_eq!(support::metric(&p.metrics(), "cceone_hub_sessions"), 0);
}
