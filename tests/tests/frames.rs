//! Malformed tunnel traffic: garbage, an oversized length prefix, a truncated frame, an
//! undecodable message and the wrong message at the wrong time, over TLS/TCP and QUIC, before
//! and after the Hello. Each closes only the tunnel that sent it (the hub counts it), another
//! agent's session stays Running, and the hub stays up (`/healthz` 200). A malformed answer to a
//! proxied request fails only that request.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use cceone_proto::v1::{self, agent_message, stream_open};
use cceone_tunnel::TransportChoice;
use prost::Message;
use support::fake::{self, FakeSession, agent_msg};
use support::{Platform, eventually, kubesim, step};

struct Case {
    what: &'static str,
    transport: TransportChoice,
    /// Sent before the Hello (else after a good Hello exchange).
    before_hello: bool,
    bytes: Vec<u8>,
    /// Finish the stream after the bytes.
    finish: bool,
    /// The refusal reason the hub counts.
    reason: &'static str,
}

fn framed<M: Message>(m: &M) -> Vec<u8> {
    cceone_tunnel::frame::encode(&m.encode_to_vec()).to_vec()
}

fn cases() -> Vec<Case> {
    use TransportChoice::{Grpc, Quic};
    let hello = agent_msg(agent_message::Msg::Hello(v1::Hello {
        max_version: 2,
        min_version: 1,
        ..Default::default()
    }));
    let heartbeat = agent_msg(agent_message::Msg::Heartbeat(v1::Heartbeat::default()));
    let case = |what, transport, before_hello, bytes, finish, reason| Case {
        what,
        transport,
        before_hello,
        bytes,
        finish,
        reason,
    };
    vec![
        case(
            "garbage (bad flag byte)",
            Grpc,
            false,
            b"\xff\x00garbage that is no frame".to_vec(),
            false,
            "malformed_frame",
        ),
        case(
            "oversized length prefix",
            Quic,
            false,
            vec![0, 0xff, 0xff, 0xff, 0xf0],
            false,
            "malformed_frame",
        ),
        case(
            "truncated frame",
            Grpc,
            false,
            vec![0, 0, 0, 0, 100, 1, 2, 3],
            true,
            "malformed_frame",
        ),
        case(
            "truncated frame",
            Quic,
            false,
            vec![0, 0, 0, 0, 100, 1, 2, 3],
            true,
            "malformed_frame",
        ),
        case(
            "undecodable message",
            Grpc,
            false,
            cceone_tunnel::frame::encode(&[0xff, 0xff, 0xff, 0xff]).to_vec(),
            false,
            "malformed_frame",
        ),
        case(
            "a second Hello",
            Quic,
            false,
            framed(&hello),
            false,
            "protocol",
        ),
        case(
            "an empty message",
            Grpc,
            false,
            framed(&v1::AgentMessage { msg: None }),
            false,
            "protocol",
        ),
        case(
            "garbage before the Hello",
            Quic,
            true,
            b"\x05\x04\x03\x02\x01\x00".to_vec(),
            false,
            "malformed_frame",
        ),
        case(
            "a heartbeat before the Hello",
            Grpc,
            true,
            framed(&heartbeat),
            false,
            "protocol",
        ),
    ]
}

#[test]
fn malformed_frames_close_only_the_tunnel_that_sent_them() {
    let mut p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "1"]);
    let env = p.register("good", &[]);
    let _good = p.agent("good", &member_kc, env);
    p.wait_phase("good", "Running", Duration::from_secs(40));
    let good_since = p.cluster_field("good", ".status.connectedSince");
    let evil = p.test_identity("evil", "evil");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = p.hub_endpoint();

    for case in cases() {
        let label = format!("{} over {:?}", case.what, case.transport);
        let before = p.refusals(case.reason);
        let closed = rt.block_on(async {
            let conn = fake::dial(&endpoint, "127.0.0.1", &evil, case.transport)
                .await
                .unwrap();
            let mut control = fake::control_stream(&conn).await.unwrap();
            if !case.before_hello {
                fake::hello(&mut control, "evil").await.unwrap();
            }
            fake::send_raw(&mut control.tx, &case.bytes).await;
            if case.finish {
                control.tx.finish().unwrap();
            }
            fake::hub_closed(&conn, &mut control, Duration::from_secs(10)).await
        });
        assert!(closed, "{label}: the hub kept the tunnel open");
        eventually(
            &format!("{label}: counted as {}", case.reason),
            Duration::from_secs(5),
            || (p.refusals(case.reason) > before).then_some(()),
        );
        assert!(p.hub.running(), "{label}: the hub died");
        assert!(p.healthz_ok(), "{label}: /healthz failed");
    }

    // The other agent never noticed.
    assert_eq!(p.cluster_field("good", ".status.phase"), "Running");
    assert_eq!(
        p.cluster_field("good", ".status.connectedSince"),
        good_since
    );
    assert_eq!(p.cluster_field("evil", ".status.phase"), "Disconnected");
    let log = p.hub_log();
    assert!(!log.contains("panicked"), "{log}");
    step("all malformed tunnels closed");
}

#[test]
fn malformed_proxy_answer_fails_only_that_request() {
    let mut p = Platform::start(&[]);
    let evil = p.test_identity("evil", "evil");
    let (_, token_id) = p.proxy_kubeconfig("evil", "evil.kubeconfig");
    let kc_text = std::fs::read_to_string(p.dir.path().join("evil.kubeconfig")).unwrap();
    let bearer = kc_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no token in {kc_text}"));
    assert!(!token_id.is_empty());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = p.hub_endpoint();
    let session = rt.block_on(async {
        let (conn, control) =
            fake::connect(&endpoint, "127.0.0.1", &evil, TransportChoice::Grpc, "evil")
                .await
                .unwrap();
        FakeSession::start(conn, control)
    });
    p.wait_phase("evil", "Running", Duration::from_secs(20));
    let since = p.cluster_field("evil", ".status.connectedSince");
    let ca = p.ca_pem();
    let auth = format!("Bearer {bearer}");
    let headers = [("authorization", auth.as_str())];

    for garbage in [
        b"\xff\xff\xff\xff\xff".to_vec(),
        vec![0, 0xff, 0xff, 0xff, 0xff],
    ] {
        let (status, body) = rt.block_on(async {
            let answer = async {
                let mut s = session.conn.accept().await.unwrap();
                match s.recv::<v1::StreamOpen>().await.unwrap() {
                    Some(v1::StreamOpen {
                        kind: Some(stream_open::Kind::Proxy(_)),
                    }) => {}
                    other => panic!("expected a proxy stream, got {other:?}"),
                }
                fake::send_raw(&mut s.tx, &garbage).await;
                s
            };
            let request = support::https::request_async(
                &endpoint,
                "127.0.0.1",
                &ca,
                "GET",
                "/clusters/evil/proxy/api/v1/namespaces",
                &headers,
                b"",
            );
            let (stream, resp) = tokio::join!(answer, request);
            drop(stream);
            resp.unwrap()
        });
        assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
        assert!(p.hub.running(), "the hub died");
    }
    // The tunnel itself is fine: still Running, same session, heartbeats flowing.
    support::throughout("evil stays Running", Duration::from_secs(2), || {
        p.cluster_field("evil", ".status.phase") == "Running"
    });
    assert_eq!(p.cluster_field("evil", ".status.connectedSince"), since);
    assert!(p.healthz_ok());
    drop(session);
}
