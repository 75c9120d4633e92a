//! `cceone-cluster-agent`: runs in each member cluster (`kube-system`, two replicas), dials out
//! to the hub and keeps one tunnel. This crate holds everything but the tunnel session itself:
//! configuration, the client identity kept in a Secret, leader election on a Lease, the status
//! collector (nodes, capacity, vCPUs by the metering rule), reconnect backoff and the health
//! server. [`run`] ties them together; [`connect_loop`] is the seam where the tunnel session
//! plugs in.
//!
//! The agent talks to its member cluster only through kube-rs.

pub mod backoff;
pub mod config;
pub mod health;
pub mod https;
pub mod identity;
pub mod leader;
pub mod proxy;
pub mod session;
pub mod status;
pub mod works;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;

pub use config::Config;
pub use health::{AgentMetrics, HealthServer};
pub use identity::Identity;
pub use status::{ClusterStatusSnapshot, watch_status};

use crate::backoff::Backoff;
use crate::https::HttpsClient;
use crate::identity::IdentityError;
use crate::leader::{LeaderConfig, LeaderElection};

/// How many times a freshly registered identity is written to its Secret before the agent goes
/// on with it in memory only.
const STORE_ATTEMPTS: u32 = 5;

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The health server could not bind its address.
    #[error("health server on {addr}: {source}")]
    Health {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Registration failed for good (bad, expired or used token; no token; hub mismatch).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The tunnel session failed for good.
    #[error("tunnel: {0}")]
    Tunnel(String),
}

/// One agent replica.
pub struct Agent {
    cfg: Config,
    client: Client,
    metrics: Arc<AgentMetrics>,
}

impl Agent {
    /// An agent for `cfg`, reaching its member cluster through `client`.
    pub fn new(cfg: Config, client: Client) -> Agent {
        Agent {
            cfg,
            client,
            metrics: AgentMetrics::new(),
        }
    }

    /// The shared metrics (also served on `/metrics`).
    pub fn metrics(&self) -> Arc<AgentMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Serve health, campaign for leadership, and while leading: ensure the identity and run
    /// [`connect_loop`]. Returns when `shutdown` completes (after releasing the Lease), when
    /// registration is refused for good, or when the tunnel ends for good.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let health = HealthServer::bind(self.cfg.health_addr)
            .await
            .map_err(|source| AgentError::Health {
                addr: self.cfg.health_addr,
                source,
            })?;
        self.run_with(health, shutdown).await
    }

    /// [`Agent::run`] with an already bound health server (tests bind port 0 and read it back).
    pub async fn run_with(
        self,
        health: HealthServer,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), AgentError> {
        let Agent {
            cfg,
            client,
            metrics,
        } = self;
        tracing::info!(
            addr = %health.local_addr().unwrap_or(cfg.health_addr),
            cluster = cfg.cluster_name,
            agent_id = cfg.agent_id,
            "cceone-cluster-agent starting"
        );
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let health_task = tokio::spawn(health.serve(Arc::clone(&metrics), async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }));
        let election = LeaderElection::start(
            client.clone(),
            LeaderConfig::from_config(&cfg),
            Some(Arc::clone(&metrics)),
        );
        let mut is_leader = election.subscribe();
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                r = is_leader.wait_for(|l| *l) => if r.is_err() { break Ok(()) },
            }
            let mut lost = is_leader.clone();
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                _ = lost.wait_for(|l| !*l) => {
                    tracing::info!("no longer the leader; closing the tunnel");
                    metrics.tunnel_connected.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                r = lead(&cfg, &client, &metrics) => break r,
            }
        };
        election.shutdown().await;
        let _ = stop_tx.send(true);
        let _ = health_task.await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "agent stopped");
        }
        result
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("cfg", &self.cfg)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// Run one agent until `shutdown` completes; see [`Agent::run`].
pub async fn run(
    cfg: Config,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    Agent::new(cfg, client).run(shutdown).await
}

/// The leader's work: identity, status collection, tunnel. Dropped when leadership is lost.
async fn lead(
    cfg: &Config,
    client: &Client,
    metrics: &Arc<AgentMetrics>,
) -> Result<(), AgentError> {
    let identity = ensure_identity(cfg, client).await?;
    tracing::info!(
        cluster = identity.cluster_name,
        not_after = identity.not_after,
        "identity ready"
    );
    let status = watch_status(client.clone());
    connect_loop(cfg, identity, client.clone(), status, Arc::clone(metrics)).await
}

/// The stored identity, or a new one from registering with the bootstrap token (then stored).
/// Retryable failures are retried with backoff; permanent ones are returned.
pub async fn ensure_identity(cfg: &Config, client: &Client) -> Result<Identity, IdentityError> {
    let mut backoff = Backoff::new();
    loop {
        match try_ensure_identity(cfg, client).await {
            Ok(id) => return Ok(id),
            Err(e) if e.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "identity not ready yet");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn try_ensure_identity(cfg: &Config, client: &Client) -> Result<Identity, IdentityError> {
    if let Some(id) = identity::load(client, cfg).await? {
        if !id.is_expired(identity::now_unix()) {
            return Ok(id);
        }
        tracing::warn!(
            not_after = id.not_after,
            "stored certificate has expired; registering again"
        );
        if cfg.bootstrap_token.is_none() {
            return Err(IdentityError::NoToken);
        }
    }
    let http = HttpsClient::new(&cfg.hub_ca_pem)?;
    let id = identity::register(cfg, &http).await?;
    tracing::info!(cluster = id.cluster_name, "registered with the hub");
    let mut backoff = Backoff::with(
        Duration::from_millis(500),
        Duration::from_secs(5),
        Duration::MAX,
    );
    for attempt in 1..=STORE_ATTEMPTS {
        match identity::store(client, cfg, &id).await {
            Ok(()) => return Ok(id),
            Err(e) if attempt < STORE_ATTEMPTS => {
                tracing::warn!(error = %e, "storing the identity failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store the identity; a restart will need a new bootstrap token");
            }
        }
    }
    Ok(id)
}

/// Keep one tunnel to the hub up while this replica leads: dial with `identity` (mTLS) over the
/// configured transport, run the session (heartbeats, status as it changes, Works, proxied
/// requests), and reconnect with capped exponential backoff and full jitter. With several hubs
/// (a list in `CCEONE_HUB_ENDPOINT`, or a name with several addresses) each address is tried in
/// turn: a hub that cannot be reached or refuses the tunnel is passed over at once, and after a
/// session ends the next attempt starts at the hub after it (the one that failed is the likeliest
/// to be gone). Backoff applies between whole rounds and after a session ends. The future is
/// dropped when leadership is lost or the agent shuts down.
pub async fn connect_loop(
    cfg: &Config,
    identity: Identity,
    client: Client,
    mut status: watch::Receiver<ClusterStatusSnapshot>,
    metrics: Arc<AgentMetrics>,
) -> Result<(), AgentError> {
    use std::sync::atomic::Ordering;
    // The first complete snapshot, so the first status report is already right.
    if *status.borrow() == ClusterStatusSnapshot::default() {
        let _ = tokio::time::timeout(Duration::from_secs(30), status.changed()).await;
    }
    let identity = Arc::new(tokio::sync::Mutex::new(identity));
    let works = works::Works::new(client.clone(), Arc::clone(&metrics));
    let mut backoff = Backoff::new();
    let transport = match cfg.transport {
        config::Transport::Auto => cceone_tunnel::TransportChoice::Auto,
        config::Transport::Grpc => cceone_tunnel::TransportChoice::Grpc,
        config::Transport::Quic => cceone_tunnel::TransportChoice::Quic,
    };
    // Where the next round starts, in the list of addresses.
    let mut next = 0usize;
    loop {
        let id = identity.lock().await.clone();
        let tls = session::tls_config(&id).map_err(AgentError::Tunnel)?;
        let candidates = hub_addresses(cfg).await;
        let mut rotated = false;
        let mut established = false;
        let n = candidates.len();
        for i in 0..n {
            let at = (next + i) % n;
            let (addr, host) = &candidates[at];
            let dial = cceone_tunnel::DialConfig {
                endpoint: addr.to_string(),
                tls: Arc::clone(&tls),
                server_name: host.clone(),
                transport,
                quic_timeout: Duration::from_secs(3),
                quic_endpoint: None,
            };
            let conn = match cceone_tunnel::dial(&dial).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(hub = %addr, name = %host, error = %e, "could not reach the hub");
                    continue;
                }
            };
            let started = std::time::Instant::now();
            // The session sends a status report once the hub has accepted it.
            let reports_before = metrics.status_sends_total.load(Ordering::Relaxed);
            let ctx = session::SessionContext {
                client: client.clone(),
                cfg: cfg.clone(),
                status: status.clone(),
                identity: Arc::clone(&identity),
                metrics: Arc::clone(&metrics),
                works: Arc::clone(&works),
            };
            let end = session::run(conn, ctx).await;
            metrics.tunnel_connected.store(false, Ordering::Relaxed);
            metrics.reconnects_total.fetch_add(1, Ordering::Relaxed);
            established = metrics.status_sends_total.load(Ordering::Relaxed) != reports_before;
            match end {
                session::SessionEnd::Rotated => {
                    rotated = true;
                    next = at;
                    break;
                }
                session::SessionEnd::Goodbye(reason) => {
                    tracing::warn!(hub = %addr, reason, "the hub closed the tunnel")
                }
                session::SessionEnd::Lost(e) => {
                    tracing::warn!(hub = %addr, error = %e, "tunnel lost")
                }
            }
            if established {
                backoff.connection_lasted(started.elapsed());
                next = at + 1;
                break;
            }
        }
        if rotated {
            continue;
        }
        let delay = backoff.next_delay();
        if !established && n > 1 {
            tracing::info!(retry_in = ?delay, hubs = n, "no hub took the tunnel; trying them all again");
        } else {
            tracing::info!(retry_in = ?delay, "reconnecting to the hub");
        }
        tokio::time::sleep(delay).await;
    }
}

/// Every address of every configured hub endpoint, in order, each with the name its
/// certificate must carry (a name resolving to several addresses gives several entries). An
/// endpoint that does not resolve now is left out of this round; with none at all the
/// endpoints are tried by name (the dial then reports why).
async fn hub_addresses(cfg: &Config) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for endpoint in cfg.hub_endpoints() {
        match tokio::net::lookup_host(endpoint.authority()).await {
            Ok(addrs) => {
                for a in addrs {
                    let entry = (a.to_string(), endpoint.host.clone());
                    if !out.contains(&entry) {
                        out.push(entry);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(hub = %endpoint, error = %e, "could not resolve the hub");
            }
        }
    }
    if out.is_empty() {
        out = cfg
            .hub_endpoints()
            .map(|e| (e.authority(), e.host.clone()))
            .collect();
    }
    out
}
