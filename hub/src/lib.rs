//! `cceone-hub`: the gateway member clusters dial out to, on one port (default 9443) for TLS over
//! TCP and QUIC over UDP. It registers clusters (one-time bootstrap token + CSR → a client
//! certificate naming the cluster), holds one tunnel per cluster, records each cluster's phase,
//! operation log and status (vCPU count, nodes, capacity) in the federation API, and proxies
//! Kubernetes API requests into member clusters through their tunnels.

mod admission;
mod audit;
mod clusters;
pub mod endpoint;
mod forward;
mod guesses;
mod https;
mod listing;
mod metrics;
mod owner;
pub mod peers;
pub mod pki;
mod proxytokens;
pub mod rbac;
mod registration;
mod serials;
mod server;
mod session;
mod sink;
mod takeover;
mod works;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cceone_platform::ca::HubCa;
use cceone_platform::phase::SessionEvent;

pub use clusters::{ClusterInfo, Clusters};
pub use metrics::Metrics;
pub use registration::{Registration, RegistrationError, parse_registration};
pub use session::Sessions;

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// TCP and UDP listen address.
    pub listen: SocketAddr,
    /// Where the CA and serving certificate live.
    pub data_dir: PathBuf,
    /// Where the hub records each proxied request (`audit.k8s.io/v1` Event JSON lines, as the
    /// federation's audit log), if anywhere.
    pub audit_log: Option<PathBuf>,
    /// The audit policy (`audit.k8s.io/v1` `Policy`); None: the API server's default.
    pub audit_policy: Option<cceone_kube_apiserver::audit::Policy>,
    /// Endpoint agents should dial (host:port), published for `cceonectl`. Empty: the listen
    /// address, or with `0.0.0.0`/`::` this host's first non-loopback address (see
    /// [`endpoint::Advertised::choose`]).
    pub public_endpoint: String,
    /// Endpoint over a private network, if any.
    pub private_endpoint: Option<String>,
    /// Extra names for the serving certificate.
    pub hostnames: Vec<String>,
    /// How often agents send heartbeats.
    pub heartbeat_interval: Duration,
    /// No message for this long closes a tunnel (Disconnected).
    pub heartbeat_grace: Duration,
    /// How often `lastHeartbeatTime` is written to the API (writes are costly at scale).
    pub heartbeat_record_every: Duration,
    /// How often agents resend status unchanged.
    pub status_resync: Duration,
    /// A Pending cluster with no agent after this long turns AccessTimeout.
    pub access_timeout: Duration,
    /// Validity of agent certificates.
    pub cert_validity: Duration,
    /// Concurrent TLS handshakes admitted at once, per transport (TCP and QUIC have separate
    /// pools). A TCP peer takes a slot only once its whole ClientHello has arrived.
    pub max_handshakes: usize,
    /// Open TCP connections at most (tunnels and HTTPS); more are closed at accept.
    pub max_connections: usize,
    /// Unauthenticated connections (before and during the handshake) from one source address
    /// (an IPv6 /64) at once; more are closed at accept.
    pub max_per_source: u32,
    /// How long a TCP peer has to send its complete ClientHello after connecting.
    pub client_hello_timeout: Duration,
    /// How long an HTTPS client has to send a request's headers, counted from when the
    /// connection is ready for one (so it also closes idle keep-alive connections).
    pub header_read_timeout: Duration,
    /// Highest protocol version offered (tests lower it to act as an older hub).
    pub max_protocol_version: u32,
    /// Where to serve /healthz, /livez, /readyz over plain HTTP as well, and /metrics (served
    /// only here: the main port is public). On the main port probes share the TLS handshake
    /// queue with the agents, so during a reconnect storm a probe could wait seconds; here it
    /// never waits.
    pub health_listen: Option<SocketAddr>,
    /// This hub's id among the hubs of its federation (its Lease and `status.hub` of the
    /// clusters it holds). Empty: [`peers::default_id`] (the host's name and the port).
    pub hub_id: String,
    /// `host:port` the other hubs reach this one at (forwarded proxy requests). Empty: the
    /// endpoint agents are told to dial.
    pub peer_endpoint: String,
    /// How long this hub's Lease keeps it alive for the others without a renewal.
    pub hub_lease: Duration,
}

impl HubConfig {
    /// Defaults for a hub listening on `listen` with state in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> HubConfig {
        HubConfig {
            listen,
            data_dir,
            audit_log: None,
            audit_policy: None,
            public_endpoint: String::new(),
            private_endpoint: None,
            hostnames: Vec::new(),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_grace: Duration::from_secs(15),
            heartbeat_record_every: Duration::from_secs(30),
            status_resync: Duration::from_secs(300),
            access_timeout: Duration::from_secs(600),
            // A week: agents rotate after about five days, so a copied certificate is
            // worthless within days, not a year.
            cert_validity: Duration::from_secs(7 * 24 * 3600),
            max_handshakes: 256,
            max_connections: 16_384,
            max_per_source: 128,
            client_hello_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            max_protocol_version: cceone_proto::MAX_VERSION,
            health_listen: None,
            hub_id: String::new(),
            peer_endpoint: String::new(),
            hub_lease: Duration::from_secs(10),
        }
    }
}

/// Shared hub state.
pub struct Hub {
    cfg: HubConfig,
    client: kube::Client,
    /// The record of proxied requests.
    audit: Option<audit::ProxyAudit>,
    ca: HubCa,
    clusters: Clusters,
    sessions: Sessions,
    metrics: Metrics,
    proxy_tokens: proxytokens::ProxyTokens,
    admission: admission::Admission,
    works: Arc<works::Router>,
    /// Certificate serial lists this hub wrote (see [`serials`]).
    serials: serials::Written,
    /// Refused bootstrap tokens per source.
    guesses: guesses::Guesses,
    /// The other hubs of the federation.
    peers: Arc<peers::Peers>,
    /// Connections to them, for forwarded proxy requests.
    forwarder: forward::Forwarder,
}

/// A failure to start the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Platform API or CA failure.
    #[error(transparent)]
    Platform(#[from] cceone_platform::PlatformError),
    /// TLS configuration failure.
    #[error("tls: {0}")]
    Tls(String),
    /// The audit log could not be opened.
    #[error("opening the audit log: {0}")]
    Audit(#[source] std::io::Error),
    /// Binding a socket failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running hub.
pub struct RunningHub {
    /// The shared state.
    pub hub: Arc<Hub>,
    /// The bound address (TCP and UDP).
    pub addr: SocketAddr,
    /// The endpoint agents are told to dial (published in the hub info).
    pub public_endpoint: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    /// Where a client on this host dials the hub: the listen address, or loopback when the hub
    /// listens on every address.
    pub fn local_endpoint(&self) -> SocketAddr {
        endpoint::local_endpoint(self.addr)
    }

    /// Give up this hub's Lease, so the other hubs take its clusters' agents at once (call
    /// before [`RunningHub::shutdown`] when stopping for good).
    pub async fn leave(&self) {
        let me = self.hub.peers.me();
        if let Err(e) = cceone_platform::hubinfo::set_hub_endpoint(&self.hub.client, me, None).await
        {
            tracing::debug!(error = %e, "taking this hub out of the hub info failed");
        }
        self.hub.peers.release().await;
    }

    /// Stop serving (tunnels close; agents reconnect to the next hub).
    pub fn shutdown(self) {
        for name in self.hub.sessions.names() {
            self.hub.sessions.close(&name, "shutdown");
        }
        for t in self.tasks {
            t.abort();
        }
    }
}

impl Hub {
    /// The live sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The CA in PEM.
    pub fn ca_pem(&self) -> &str {
        self.ca.ca_pem()
    }

    /// This hub's id among the hubs of its federation.
    pub fn id(&self) -> &str {
        self.peers.me()
    }
}

fn server_tls(ca: &HubCa, names: &[String]) -> Result<rustls::ServerConfig, HubError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let (cert_pem, key_pem) = ca.serving_cert(names)?;
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HubError::Tls(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| HubError::Tls(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.ca_pem().as_bytes()) {
        roots
            .add(c.map_err(|e| HubError::Tls(e.to_string()))?)
            .map_err(|e| HubError::Tls(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| HubError::Tls(e.to_string()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HubError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| HubError::Tls(e.to_string()))?;
    Ok(cfg)
}

/// Pending connections the kernel queues for the TCP listener. Tokio's default (1024) is
/// overrun when thousands of agents reconnect at once after a hub restart; the dropped SYNs are
/// retried by the kernel after 1, 3, 7, 15, 31, 63 s, which stretches a storm out for minutes.
/// (The kernel caps it at `net.core.somaxconn`.)
const LISTEN_BACKLOG: u32 = 16384;

fn listen_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The QUIC endpoint, with its stateless-reset key and connection-ID key derived from the CA
/// key rather than random: a restarted hub (or another replica with the same CA) then
/// recognises the connection IDs of connections it no longer knows and answers their packets
/// with a valid stateless reset, so agents reconnect at once instead of after the 30 s idle
/// timeout. Without a readable CA key both stay random.
fn quic_endpoint(
    server: quinn::ServerConfig,
    addr: SocketAddr,
    ca_dir: &std::path::Path,
) -> std::io::Result<quinn::Endpoint> {
    let mut endpoint_cfg = quinn::EndpointConfig::default();
    if let Ok(ca_key) = std::fs::read(ca_dir.join("ca.key")) {
        let master = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &ca_key);
        let reset = ring::hmac::sign(&master, b"cceone-hub QUIC stateless reset key v1");
        endpoint_cfg.reset_key(Arc::new(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            reset.as_ref(),
        )));
        let cid = ring::hmac::sign(&master, b"cceone-hub QUIC connection ID key v1");
        let mut cid_key = [0u8; 8];
        cid_key.copy_from_slice(&cid.as_ref()[..8]);
        let cid_key = u64::from_le_bytes(cid_key);
        endpoint_cfg.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
        });
        // Resets are only sent for connection IDs that validate, and are smaller than the
        // packet that caused them; after a restart with 10,000 QUIC agents the default (one
        // reset per 20 ms) would take minutes to reach them all. 100 µs leaves no agent
        // waiting for its next packet to be reset; measured at 10,000 agents (cceone-bench)
        // the storm moved little (all back 44.9 s at 1 ms, 42.7 s here): handshakes bound it.
        endpoint_cfg.min_reset_interval(std::time::Duration::from_micros(100));
    }
    let socket = std::net::UdpSocket::bind(addr)?;
    // One socket carries every QUIC agent: with the default receive buffer (~208 KiB) a few
    // thousand agents handshaking at once overflow it, the dropped packets time handshakes out,
    // and the retries make it worse. The kernel caps this at net.core.rmem_max.
    let state = quinn::udp::UdpSocketState::new((&socket).into())?;
    if let Err(e) = state.set_recv_buffer_size((&socket).into(), QUIC_RECV_BUFFER) {
        tracing::warn!(error = %e, "could not enlarge the QUIC socket's receive buffer");
    }
    let got = state.recv_buffer_size((&socket).into()).unwrap_or(0);
    if got < QUIC_RECV_BUFFER {
        tracing::warn!(
            bytes = got,
            wanted = QUIC_RECV_BUFFER,
            "the QUIC socket's receive buffer is capped by net.core.rmem_max; raise it for many QUIC agents"
        );
    }
    let runtime = quinn::default_runtime()
        .ok_or_else(|| std::io::Error::other("no async runtime for QUIC"))?;
    quinn::Endpoint::new(endpoint_cfg, Some(server), socket, runtime)
}

/// Receive buffer asked for the QUIC socket.
const QUIC_RECV_BUFFER: usize = 8 << 20;

/// Start the hub: CA, CRDs, published hub info, listeners and background tasks.
pub async fn start(cfg: HubConfig, client: kube::Client) -> Result<RunningHub, HubError> {
    cceone_platform::ensure_system_namespace(&client).await?;
    let ca = pki::load(&client, &cfg.data_dir.join("ca")).await?;
    cceone_platform::ensure_crds(&client, "cceone-hub").await?;
    let tcp = listen_tcp(cfg.listen).map_err(|source| HubError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let addr = tcp.local_addr().map_err(|source| HubError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let host_addrs = if addr.ip().is_unspecified() {
        endpoint::host_addresses()
    } else {
        Vec::new()
    };
    let advertised = endpoint::Advertised::choose(&cfg.public_endpoint, addr, &host_addrs);
    if let Some(warning) = advertised.warning() {
        tracing::warn!(endpoint = advertised.endpoint, listen = %addr, "{warning}");
    }
    let names = endpoint::certificate_names(
        &cfg.hostnames,
        &advertised.endpoint,
        cfg.private_endpoint.as_deref(),
        addr,
        &host_addrs,
    );
    let mut tls = server_tls(&ca, &names)?;
    let mut quic_tls = tls.clone();
    tls.alpn_protocols = vec![
        cceone_tunnel::ALPN.to_vec(),
        b"h2".to_vec(),
        b"http/1.1".to_vec(),
    ];
    quic_tls.alpn_protocols = vec![cceone_tunnel::ALPN.to_vec()];
    quic_tls.max_early_data_size = 0;
    let quic_crypto = quinn::crypto::rustls::QuicServerConfig::try_from(quic_tls)
        .map_err(|e| HubError::Tls(e.to_string()))?;
    let mut quic_cfg = quinn::ServerConfig::with_crypto(Arc::new(quic_crypto));
    // Connection attempts buffered before the accept loop sees them (each is checked and most
    // answered with a stateless Retry there).
    quic_cfg.max_incoming(4096);
    quic_cfg.transport_config(cceone_tunnel::hub_quic_transport());
    let endpoint = quic_endpoint(quic_cfg, addr, &cfg.data_dir.join("ca"))
        .map_err(|source| HubError::Bind { addr, source })?;
    let public_endpoint = advertised.endpoint;
    let info = cceone_platform::hubinfo::HubInfo {
        public_endpoint: public_endpoint.clone(),
        private_endpoint: cfg.private_endpoint.clone(),
        ca_bundle: ca.ca_pem().to_string(),
        hub_endpoints: Vec::new(),
    };
    cceone_platform::hubinfo::publish(&client, &info).await?;
    let hub_id = match cfg.hub_id.trim() {
        "" => peers::default_id(addr.port()),
        id => peers::sanitize(id),
    };
    let peer_endpoint = match cfg.peer_endpoint.trim() {
        "" => public_endpoint.clone(),
        e => e.to_string(),
    };
    let peers = peers::Peers::new(&client, &hub_id, &peer_endpoint, cfg.hub_lease);
    // Who else is alive, before any tunnel is judged by it.
    peers.start().await;
    // Listed beside the other hubs at once, so an agent registered now is told of this one.
    if let Err(e) =
        cceone_platform::hubinfo::set_hub_endpoint(&client, peers.me(), Some(&public_endpoint))
            .await
    {
        tracing::warn!(error = %e, "listing this hub in the hub info failed; retrying in the background");
    }
    let forwarder = forward::Forwarder::new(&ca, &hub_id)?;
    let hub = Arc::new(Hub {
        admission: admission::Admission::new(admission::Limits {
            handshakes: cfg.max_handshakes,
            connections: cfg.max_connections,
            per_source: cfg.max_per_source.max(1),
            slot_wait: Duration::from_secs(5),
        }),
        clusters: Clusters::new(&client, Arc::clone(&peers)),
        proxy_tokens: proxytokens::ProxyTokens::default(),
        sessions: Sessions::default(),
        metrics: Metrics::default(),
        audit: match &cfg.audit_log {
            Some(path) => Some(
                audit::ProxyAudit::open(path.clone(), cfg.audit_policy.clone())
                    .map_err(HubError::Audit)?,
            ),
            None => None,
        },
        cfg,
        client: client.clone(),
        ca,
        works: Arc::default(),
        serials: serials::Written::default(),
        guesses: guesses::Guesses::default(),
        peers,
        forwarder,
    });
    let mut tasks = vec![tokio::spawn(Arc::clone(&hub.peers).run())];
    tasks.push(tokio::spawn(listing::run(
        client.clone(),
        Arc::clone(&hub.peers),
        public_endpoint.clone(),
        (hub.cfg.hub_lease / 2).max(Duration::from_secs(1)),
    )));
    let revoker = Arc::clone(&hub);
    tasks.push(tokio::spawn(hub.clusters.clone().run(move |name, why| {
        tracing::info!(
            cluster = name,
            why,
            "closing the tunnel of a cluster that may no longer connect"
        );
        revoker.sessions.close(name, why);
    })));
    tasks.push(tokio::spawn(Arc::clone(&hub.works).run(client.clone())));
    tasks.push(tokio::spawn(hub.proxy_tokens.clone().run(client)));
    hub.clusters.wait_ready(Duration::from_secs(10)).await;
    tasks.push(tokio::spawn(server::serve_tcp(
        Arc::clone(&hub),
        tcp,
        Arc::new(tls),
    )));
    tasks.push(tokio::spawn(server::serve_quic(Arc::clone(&hub), endpoint)));
    if let Some(health) = hub.cfg.health_listen {
        let listener = tokio::net::TcpListener::bind(health)
            .await
            .map_err(|source| HubError::Bind {
                addr: health,
                source,
            })?;
        let bound = listener.local_addr().unwrap_or(health);
        tracing::info!(addr = %bound, "health endpoints and metrics over plain HTTP");
        tasks.push(tokio::spawn(server::serve_health(
            Arc::clone(&hub),
            listener,
        )));
    }
    tasks.push(tokio::spawn(sweep(Arc::clone(&hub))));
    tracing::info!(%addr, public_endpoint, hub = hub.peers.me(), peer_endpoint, "hub serving (TLS/TCP and QUIC)");
    Ok(RunningHub {
        hub,
        addr,
        public_endpoint,
        tasks,
    })
}

/// Mark clusters Disconnected when they show Running with no tunnel here, and AccessTimeout when
/// no agent came in time. A cluster another live hub holds is that hub's to sweep.
async fn sweep(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let started = jiff::Timestamp::now();
    loop {
        tick.tick().await;
        let now = jiff::Timestamp::now();
        let up_for = now.duration_since(started).unsigned_abs();
        for (name, info) in hub.clusters.snapshot() {
            if !owner::may_record(&hub.peers, &info.hub) {
                continue;
            }
            let connected = hub.sessions.get(&name).is_some();
            if info.phase == "Running" && !connected && up_for > hub.cfg.heartbeat_grace {
                hub.clusters
                    .record(
                        &name,
                        SessionEvent::Disconnected {
                            reason: "no tunnel at the hub within the grace period".into(),
                            at: now,
                        },
                    )
                    .await;
            }
            if matches!(info.phase.as_str(), "Pending" | "Creating") && !connected {
                let age = info
                    .created
                    .map(|c| now.duration_since(c).unsigned_abs())
                    .unwrap_or_default();
                if age > hub.cfg.access_timeout {
                    hub.clusters
                        .record(&name, SessionEvent::AccessDeadlinePassed { at: now })
                        .await;
                }
            }
        }
    }
}
