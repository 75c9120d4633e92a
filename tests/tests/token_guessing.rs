//! Bootstrap tokens cannot be probed or guessed quickly (issue 9, item 6): an unknown token id
//! and a known id with a wrong secret get the same answer, and after ten refusals within a
//! minute a source address gets 429 without its tokens being looked at, while another address
//! still registers.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::Platform;
use support::fake::new_key_and_csr;

/// POST /v1/register from the loopback address `from`: (status, message).
async fn redeem_from(p_hub: SocketAddr, ca: &str, from: [u8; 4], token: &str) -> (u16, String) {
    let (_, csr) = new_key_and_csr("guess");
    let body = json!({"token": token, "csrPem": csr, "agentVersion": "e2e"}).to_string();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::from((from, 0))).unwrap();
    let tcp = sock.connect(p_hub).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(support::https::client_tls(ca).unwrap())
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post("/v1/register")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        status,
        v["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn token_ids_are_not_revealed_and_guessing_is_rate_limited() {
    let p = Platform::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hub: SocketAddr = p.hub_endpoint().parse().unwrap();
    let ca = p.ca_pem();
    let env = p.register("target", &[]);
    let token = env["CCEONE_BOOTSTRAP_TOKEN"].clone();
    let (id, _) = token.split_once('.').unwrap();
    let attacker = [127, 0, 0, 40];

    // A real id with a wrong secret and a made-up id: the same words.
    let (s1, wrong) = rt.block_on(redeem_from(
        hub,
        &ca,
        attacker,
        &format!("{id}.{}", "q".repeat(16)),
    ));
    let (s2, unknown) = rt.block_on(redeem_from(hub, &ca, attacker, "zzzzzz.qqqqqqqqqqqqqqqq"));
    assert_eq!((s1, s2), (401, 401), "{wrong} / {unknown}");
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("unknown token or wrong secret"), "{wrong}");

    // Eight more guesses reach the limit of ten; then the source is held back, even with the
    // right token, and without the federation API being asked.
    for i in 0..8 {
        let (s, m) = rt.block_on(redeem_from(hub, &ca, attacker, &format!("{id}.{i:0>16}")));
        assert_eq!(s, 401, "{m}");
    }
    let (s, m) = rt.block_on(redeem_from(hub, &ca, attacker, &token));
    assert_eq!(s, 429, "{m}");
    assert!(p.refusals("token_rate_limited") >= 1);

    // Another address is not affected: the right token registers.
    let (s, m) = rt.block_on(redeem_from(hub, &ca, [127, 0, 0, 41], &token));
    assert_eq!(s, 200, "{m}");
}
