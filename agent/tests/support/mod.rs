//! Test support: run the real `cceone-kubesim` binary as the member cluster, a fake hub that
//! answers `/v1/register` over real TLS, and wait on conditions with deadlines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cceone_cluster_agent::config::{self, Config};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// Build `cceone-kubesim` once per test binary and return its path (next to this test's
/// profile directory, e.g. `target/debug/cceone-kubesim`).
pub fn kubesim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "-q",
            "-p",
            "cceone-kubesim",
            "--bin",
            "cceone-kubesim",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "building cceone-kubesim failed");
        profile_dir.join("cceone-kubesim")
    })
    .clone()
}

/// A running simulator process, killed on drop.
pub struct Sim {
    child: Child,
    dir: tempfile::TempDir,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
}

impl Sim {
    /// Start with extra flags, e.g. `["--nodes", "3"]`; returns once it serves.
    pub async fn start(extra: &[&str]) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("m.kubeconfig");
        let log = std::fs::File::create(dir.path().join("sim.log")).unwrap();
        let child = Command::new(kubesim_bin())
            .args(["--listen", "127.0.0.1:0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut sim = Sim {
            child,
            dir,
            kubeconfig,
        };
        let path = sim.kubeconfig.clone();
        eventually(
            "the simulator writes its kubeconfig",
            Duration::from_secs(60),
            || {
                let path = path.clone();
                async move { path.exists().then_some(()) }
            },
        )
        .await;
        assert!(
            sim.child.try_wait().unwrap().is_none(),
            "simulator exited: {}",
            sim.log()
        );
        sim
    }

    /// The process id (to read its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The simulator's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    /// A kube-rs client from the written kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    /// Flip a node's readiness through the simulator's admin endpoint.
    pub async fn set_node_ready(&self, client: &kube::Client, node: &str, ready: bool) {
        let req = http::Request::post(format!("/admin/nodes/{node}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&json!({ "ready": ready })).unwrap())
            .unwrap();
        let answer = client.request_text(req).await.unwrap();
        assert!(answer.contains("\"ready\""), "admin answer: {answer}");
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `f` yields `Some`, polling every 50 ms; panic with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An agent configuration from `(variable, value)` pairs on top of the required ones.
pub fn agent_config(hub: &str, ca_pem: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: BTreeMap<String, String> = [
        (config::HUB_ENDPOINT, hub),
        (config::CLUSTER_NAME, "member1"),
        (config::HUB_CA, ca_pem),
        (config::HEALTH_ADDR, "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_env(&env).unwrap()
}

/// A throwaway CA certificate (PEM) for configs that never reach a hub.
pub fn throwaway_ca() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// A GET over plain HTTP/1.0: `(status, body)`.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The expiry of certificates the fake hub issues.
pub const FAKE_NOT_AFTER: &str = "2099-01-01T00:00:00Z";

/// A stand-in for the hub's registration endpoint over real TLS: signs the agent's CSR when it
/// presents the one valid token, once.
pub struct FakeHub {
    /// `127.0.0.1:<port>`.
    pub endpoint: String,
    /// The CA the hub's serving certificate and the issued client certificates chain to.
    pub ca_pem: String,
    /// Successful registrations.
    pub registrations: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

struct HubState {
    token: String,
    used: Mutex<bool>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_pem: String,
    registrations: Arc<AtomicUsize>,
}

impl FakeHub {
    /// Serve on a free port, offering HTTP/2 and HTTP/1.1; `token` registers `member1` once.
    pub async fn start(token: &str) -> FakeHub {
        FakeHub::start_with_alpn(token, &[b"h2", b"http/1.1"]).await
    }

    /// [`FakeHub::start`] offering only the given ALPN protocols.
    pub async fn start_with_alpn(token: &str, alpn: &[&[u8]]) -> FakeHub {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake hub CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            )
            .unwrap();
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = listener.local_addr().unwrap().to_string();
        let registrations = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(HubState {
            token: token.to_string(),
            used: Mutex::new(false),
            issuer,
            ca_pem: ca_cert.pem(),
            registrations: Arc::clone(&registrations),
        });
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        FakeHub {
            endpoint,
            ca_pem: ca_cert.pem(),
            registrations,
            task,
        }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: &HubState,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Full<Bytes>> {
    let reply = |code: u16, v: Value| {
        let mut r = http::Response::new(Full::new(Bytes::from(v.to_string())));
        *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
        r
    };
    if req.method() != http::Method::POST || req.uri().path() != "/v1/register" {
        return reply(404, json!({"message": "not found"}));
    }
    let Ok(body) = req.into_body().collect().await else {
        return reply(400, json!({"message": "unreadable body"}));
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return reply(400, json!({"message": "not JSON"}));
    };
    let token = v["token"].as_str().unwrap_or_default();
    if token != state.token {
        return reply(
            401,
            json!({"message": "bootstrap token is invalid or expired"}),
        );
    }
    {
        let mut used = state.used.lock().unwrap();
        if *used {
            return reply(401, json!({"message": "bootstrap token was already used"}));
        }
        *used = true;
    }
    let csr = v["csrPem"].as_str().unwrap_or_default();
    let Ok(mut params) = rcgen::CertificateSigningRequestParams::from_pem(csr) else {
        return reply(400, json!({"message": "bad CSR"}));
    };
    params.params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let cert = params.signed_by(&state.issuer).unwrap();
    state.registrations.fetch_add(1, Ordering::SeqCst);
    let not_after = FAKE_NOT_AFTER
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    reply(
        200,
        json!({"clusterName": "member1", "certificatePem": cert.pem(), "caPem": state.ca_pem, "notAfter": not_after}),
    )
}
