//! A test-side agent: redeem a bootstrap token with our own CSR through `/v1/register`, then dial
//! the hub with that certificate through `cceone_tunnel::dial` and speak (or break) the tunnel
//! protocol by hand.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cceone_proto::v1::{self, agent_message, hub_message, stream_open};
use cceone_tunnel::{AgentConn, DialConfig, Sender, Stream, TransportChoice};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::{Value, json};

use super::Platform;

/// A client identity the hub signed.
#[derive(Debug, Clone)]
pub struct TestIdentity {
    /// The cluster the hub says it signed for.
    pub cluster: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

/// A fresh key and a CSR with common name `cn`: (key PEM, CSR PEM).
pub fn new_key_and_csr(cn: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let csr = params.serialize_request(&key).unwrap();
    (key.serialize_pem(), csr.pem().unwrap())
}

/// The common name of a PEM certificate.
pub fn cert_cn(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|n| n.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

impl Platform {
    /// POST `/v1/register` with `token` and `csr_pem`: (status, JSON answer).
    pub fn redeem(&self, token: &str, csr_pem: &str) -> (u16, Value) {
        let body = json!({"token": token, "csrPem": csr_pem, "agentVersion": "e2e"}).to_string();
        let (status, text) = self
            .https(
                "POST",
                "/v1/register",
                &[("content-type", "application/json")],
                body.as_bytes(),
            )
            .unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Register `name` with `cceonectl` and redeem its token with a CSR naming `csr_cn`.
    pub fn test_identity(&self, name: &str, csr_cn: &str) -> TestIdentity {
        let env = self.register(name, &[]);
        let token = &env["CCEONE_BOOTSTRAP_TOKEN"];
        let (key_pem, csr_pem) = new_key_and_csr(csr_cn);
        let (status, v) = self.redeem(token, &csr_pem);
        assert_eq!(status, 200, "registration refused: {v}");
        TestIdentity {
            cluster: v["clusterName"].as_str().unwrap().into(),
            cert_pem: v["certificatePem"].as_str().unwrap().into(),
            key_pem,
            ca_pem: v["caPem"].as_str().unwrap().into(),
        }
    }
}

/// TLS 1.3 client configuration presenting `id` and trusting the hub CA.
pub fn tunnel_tls(id: &TestIdentity) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(id.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let certs = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    Arc::new(cfg)
}

/// Dial the hub as `id` over `transport`.
pub async fn dial(
    p_endpoint: &str,
    server_name: &str,
    id: &TestIdentity,
    transport: TransportChoice,
) -> Result<AgentConn, cceone_tunnel::TunnelError> {
    cceone_tunnel::dial(&DialConfig {
        endpoint: p_endpoint.into(),
        tls: tunnel_tls(id),
        server_name: server_name.into(),
        transport,
        quic_timeout: Duration::from_secs(5),
        quic_endpoint: None,
    })
    .await
}

/// Accept the hub's control stream and check its StreamOpen.
pub async fn control_stream(conn: &AgentConn) -> Result<Stream, String> {
    let mut s = tokio::time::timeout(Duration::from_secs(10), conn.accept())
        .await
        .map_err(|_| "no control stream within 10s".to_string())?
        .ok_or("the tunnel closed before a control stream")?;
    match s.recv::<v1::StreamOpen>().await {
        Ok(Some(v1::StreamOpen {
            kind: Some(stream_open::Kind::Control(_)),
        })) => Ok(s),
        other => Err(format!("expected ControlOpen, got {other:?}")),
    }
}

/// An agent message.
pub fn agent_msg(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

/// Send Hello and wait for the HelloAck.
pub async fn hello(control: &mut Stream, agent_id: &str) -> Result<v1::HelloAck, String> {
    let h = v1::Hello {
        max_version: cceone_proto::MAX_VERSION,
        min_version: cceone_proto::MIN_VERSION,
        agent_version: "e2e".into(),
        agent_id: agent_id.into(),
        capabilities: vec![],
    };
    control
        .send(&agent_msg(agent_message::Msg::Hello(h)))
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(10), control.recv::<v1::HubMessage>()).await {
        Ok(Ok(Some(v1::HubMessage {
            msg: Some(hub_message::Msg::HelloAck(a)),
        }))) => Ok(a),
        other => Err(format!("expected HelloAck, got {other:?}")),
    }
}

/// Dial, accept the control stream and complete the Hello exchange.
pub async fn connect(
    endpoint: &str,
    server_name: &str,
    id: &TestIdentity,
    transport: TransportChoice,
    agent_id: &str,
) -> Result<(AgentConn, Stream), String> {
    let conn = dial(endpoint, server_name, id, transport)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = control_stream(&conn).await?;
    hello(&mut control, agent_id).await?;
    Ok((conn, control))
}

/// Write raw bytes on a stream, bypassing the framing.
pub async fn send_raw(tx: &mut Sender, data: &[u8]) {
    match tx {
        Sender::H2(s) => s
            .send_data(Bytes::copy_from_slice(data), false)
            .expect("h2 send"),
        Sender::Quic(s) => s.write_all(data).await.expect("quic write"),
    }
}

/// Whether the hub ended the tunnel within `timeout`: the control stream fails or finishes
/// (a Goodbye first is fine) and no further stream arrives.
pub async fn hub_closed(conn: &AgentConn, control: &mut Stream, timeout: Duration) -> bool {
    let closed = async {
        while let Ok(Some(_)) = control.recv::<v1::HubMessage>().await {}
        while conn.accept().await.is_some() {}
    };
    tokio::time::timeout(timeout, closed).await.is_ok()
}

/// A live fake session: heartbeats every 500 ms and any queued messages go out from a task;
/// what the hub sends is read from `rx`.
pub struct FakeSession {
    pub conn: AgentConn,
    pub out: tokio::sync::mpsc::Sender<v1::AgentMessage>,
    pub rx: cceone_tunnel::Receiver,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSession {
    /// Start heartbeating on an established control stream (call inside the runtime).
    pub fn start(conn: AgentConn, control: Stream) -> FakeSession {
        let (mut tx, rx) = control.split();
        let (out, mut queue) = tokio::sync::mpsc::channel::<v1::AgentMessage>(16);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut seq = 0;
            loop {
                let m = tokio::select! {
                    _ = tick.tick() => {
                        seq += 1;
                        agent_msg(agent_message::Msg::Heartbeat(v1::Heartbeat { seq, sent_unix_ms: 0 }))
                    }
                    m = queue.recv() => match m { Some(m) => m, None => return },
                };
                if tx.send(&m).await.is_err() {
                    return;
                }
            }
        });
        FakeSession {
            conn,
            out,
            rx,
            task,
        }
    }

    /// The next hub message that is not a heartbeat echo.
    pub async fn next(&mut self, timeout: Duration) -> Option<v1::HubMessage> {
        tokio::time::timeout(timeout, async {
            loop {
                match self.rx.recv::<v1::HubMessage>().await {
                    Ok(Some(v1::HubMessage {
                        msg: Some(hub_message::Msg::Heartbeat(_)),
                    })) => continue,
                    Ok(Some(m)) => return Some(m),
                    _ => return None,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

impl Drop for FakeSession {
    fn drop(&mut self) {
        self.task.abort();
        self.conn.close();
    }
}
