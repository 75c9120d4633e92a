//! Stolen agent identities are caught (issue 9, item 4): a second agent presenting a live
//! cluster's certificate while its session is healthy is refused (the real session keeps
//! working, the refusal is counted, logged and noted in the cluster's operation log) and may
//! only take over once the real session has gone quiet; a new registration of a cluster (a
//! fresh token redeemed, or the name deleted and registered again) retires every certificate
//! issued before it, closing a session that holds one.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use cceone_proto::v1::{self, agent_message, hub_message};
use cceone_tunnel::TransportChoice;
use support::fake::{self, FakeSession, agent_msg};
use support::{Platform, eventually};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_copied_identity_is_refused_while_the_real_agent_is_healthy() {
    let p = Platform::start(&[]);
    let id = p.test_identity("alpha", "alpha");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = p.hub_endpoint();
    let real = rt.block_on(async {
        let (conn, control) =
            fake::connect(&endpoint, "127.0.0.1", &id, TransportChoice::Grpc, "real")
                .await
                .unwrap();
        FakeSession::start(conn, control)
    });
    p.wait_phase("alpha", "Running", WAIT);

    // The copy, over either transport, with another agent id: refused, not a replacement.
    for transport in [TransportChoice::Grpc, TransportChoice::Quic] {
        let err = rt
            .block_on(fake::connect(
                &endpoint,
                "127.0.0.1",
                &id,
                transport,
                "thief",
            ))
            .err()
            .expect("the copied identity was admitted");
        assert!(
            err.contains("another agent holds a healthy session"),
            "{transport:?}: {err}"
        );
    }
    assert!(p.refusals("duplicate_identity") >= 2);
    assert!(
        p.hub_log()
            .contains("another agent holds a healthy session")
    );
    eventually("the refusal in the operation log", WAIT, || {
        p.operation_reasons("alpha")
            .iter()
            .any(|r| r == "DuplicateIdentityRefused")
            .then_some(())
    });
    // The real agent's session still carries its reports.
    rt.block_on(async {
        let status = v1::ClusterStatus {
            vcpus: "77".into(),
            ..Default::default()
        };
        real.out
            .send(agent_msg(agent_message::Msg::Status(status)))
            .await
            .unwrap();
    });
    p.wait_field("alpha", ".status.vcpus", "77", WAIT);
    assert_eq!(p.cluster_field("alpha", ".status.agentId"), "real");

    // Once the real agent is gone (no heartbeats), the identity may connect again.
    drop(real);
    let took = std::time::Instant::now();
    eventually(
        "a new agent takes over after the real one went quiet",
        WAIT,
        || {
            rt.block_on(fake::connect(
                &endpoint,
                "127.0.0.1",
                &id,
                TransportChoice::Grpc,
                "successor",
            ))
            .ok()
            .map(drop)
        },
    );
    println!(
        "successor admitted {:?} after the real agent stopped",
        took.elapsed()
    );
}

#[test]
fn a_new_registration_retires_earlier_certificates() {
    let p = Platform::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = p.hub_endpoint();
    let first = p.test_identity("beta", "beta");
    let mut old = rt.block_on(async {
        let (conn, control) =
            fake::connect(&endpoint, "127.0.0.1", &first, TransportChoice::Grpc, "a1")
                .await
                .unwrap();
        FakeSession::start(conn, control)
    });
    p.wait_phase("beta", "Running", WAIT);
    let serials = p.cluster_json("beta")["status"]["certificateSerials"].clone();
    assert_eq!(serials.as_array().map(Vec::len), Some(1), "{serials}");
    assert_eq!(
        p.cluster_field("beta", ".status.registrationGeneration"),
        "1"
    );

    // A fresh token redeemed: the session on the old certificate is closed, and the old
    // certificate is refused from then on; the new one works.
    let token = p.cceonectl(&["cluster", "token", "beta"]);
    let (key_pem, csr_pem) = fake::new_key_and_csr("beta");
    let (status, v) = p.redeem(token.trim(), &csr_pem);
    assert_eq!(status, 200, "{v}");
    let second = fake::TestIdentity {
        cluster: "beta".into(),
        cert_pem: v["certificatePem"].as_str().unwrap().into(),
        key_pem,
        ca_pem: v["caPem"].as_str().unwrap().into(),
    };
    let bye = rt.block_on(old.next(WAIT));
    assert!(
        matches!(&bye, Some(v1::HubMessage { msg: Some(hub_message::Msg::Goodbye(g)) })
            if g.reason.contains("retired")),
        "the old session was not closed: {bye:?}"
    );
    let before = p.refusals("retired_certificate");
    assert!(
        rt.block_on(fake::connect(
            &endpoint,
            "127.0.0.1",
            &first,
            TransportChoice::Grpc,
            "a1"
        ))
        .is_err()
    );
    assert!(p.refusals("retired_certificate") > before);
    rt.block_on(fake::connect(
        &endpoint,
        "127.0.0.1",
        &second,
        TransportChoice::Grpc,
        "a2",
    ))
    .unwrap();
    assert_eq!(
        p.cluster_field("beta", ".status.registrationGeneration"),
        "2"
    );

    // The name deleted and registered again: before the new agent redeems anything, the
    // certificate of the earlier registration is refused.
    p.kubectl(&["delete", "registeredcluster", "beta"]);
    eventually("beta deleted", WAIT, || {
        p.cluster_field("beta", ".metadata.name")
            .is_empty()
            .then_some(())
    });
    // Certificates are stamped to the second: let the new object be created a second later.
    std::thread::sleep(Duration::from_millis(1100));
    p.register("beta", &[]);
    let before = p.refusals("retired_certificate");
    eventually(
        "the earlier registration's certificate refused",
        WAIT,
        || {
            rt.block_on(fake::connect(
                &endpoint,
                "127.0.0.1",
                &second,
                TransportChoice::Grpc,
                "a2",
            ))
            .is_err()
            .then_some(())
        },
    );
    assert!(p.refusals("retired_certificate") > before);
}
