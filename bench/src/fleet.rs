//! Lightweight test-side agents: many tunnel clients in this process on one shared runtime.
//! Each dials the hub with `cceone_tunnel::dial` using a certificate signed by the hub's CA,
//! answers the control stream as the real agent does (Hello, Inventory, one Status, a
//! heartbeat at the interval the hub asks for), ignores other streams, and reconnects with the
//! real agent's backoff (500 ms base, 30 s cap, full jitter) when the tunnel is lost. Given
//! several hub endpoints, an agent goes through them as the real agent's `connect_loop` does
//! (one that cannot be reached or refuses is passed over at once; after a session ends the next
//! round starts at the hub after it), each agent with a list of its own (as rendered for its
//! cluster).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cceone_cluster_agent::backoff::Backoff;
use cceone_cluster_agent::config::MaskedString;
use cceone_cluster_agent::identity::Identity;
use cceone_proto::v1::{self, agent_message, hub_message, stream_open};
use cceone_tunnel::{AgentConn, DialConfig, TransportChoice};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, watch};

/// Client TLS configurations for clusters `names`, with certificates signed directly by the
/// hub CA in `ca_dir` (as registration would). One key pair serves every certificate: the hub
/// verifies each chain the same way, and generating 10,000 keys would only slow the setup.
pub(crate) fn identities(
    ca_dir: &std::path::Path,
    names: &[String],
) -> anyhow::Result<Vec<Arc<rustls::ClientConfig>>> {
    let ca = cceone_platform::ca::HubCa::load_or_generate(ca_dir)?;
    let (key_pem, csr_pem) = Identity::new_key_and_csr("bench")?;
    let validity = Duration::from_secs(30 * 24 * 3600);
    names
        .iter()
        .map(|name| {
            let (cert_pem, not_after) = ca.sign_cluster_csr(&csr_pem, name, validity)?;
            let id = Identity {
                cluster_name: name.clone(),
                key_pem: MaskedString::new(key_pem.clone()),
                cert_pem,
                ca_pem: ca.ca_pem().to_string(),
                not_before: 0,
                not_after,
            };
            cceone_cluster_agent::session::tls_config(&id).map_err(|e| anyhow::anyhow!(e))
        })
        .collect()
}

/// QUIC test agents per client UDP socket.
const AGENTS_PER_SOCKET: usize = 100;

/// Counters shared by every agent of a fleet.
#[derive(Default)]
pub(crate) struct Stats {
    /// Agents with an established session (HelloAck received) right now.
    pub(crate) connected: AtomicUsize,
    /// Sessions established since the start.
    pub(crate) sessions: AtomicU64,
    /// Failed dials or handshakes.
    pub(crate) failures: AtomicU64,
    /// Sessions lost.
    pub(crate) lost: AtomicU64,
    /// The current epoch (bumped when the hub is restarted).
    epoch: AtomicU32,
    /// When the current epoch began.
    epoch_start: Mutex<Option<Instant>>,
    /// Agents that established a session in the current epoch.
    pub(crate) back: AtomicUsize,
    /// Per agent: time from the epoch start to its first session in that epoch.
    back_after: Mutex<Vec<Duration>>,
    /// A sample of the last failure.
    pub(crate) last_failure: Mutex<String>,
}

impl Stats {
    /// Start a new epoch (the hub is about to be killed): every agent counts again once it is
    /// back.
    pub(crate) fn new_epoch(&self) {
        *self.epoch_start.lock().unwrap() = Some(Instant::now());
        self.back.store(0, Ordering::SeqCst);
        self.back_after.lock().unwrap().clear();
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Times to come back in the current epoch.
    pub(crate) fn back_after(&self) -> Vec<Duration> {
        self.back_after.lock().unwrap().clone()
    }
}

/// A running fleet.
pub(crate) struct Fleet {
    /// Shared counters.
    pub(crate) stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Start one agent per TLS configuration, agent `i` dialing the hub endpoints
    /// `lists[i % lists.len()]` in order over `transport`, with at most `ramp` first
    /// connections in flight (later reconnects are not limited: that is the hubs' admission
    /// limit's job).
    pub(crate) fn start(
        lists: &[Vec<String>],
        transport: TransportChoice,
        tls: Vec<Arc<rustls::ClientConfig>>,
        ramp: usize,
    ) -> Fleet {
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(ramp.max(1)));
        // QUIC agents share client endpoints, AGENTS_PER_SOCKET to a UDP socket: an endpoint
        // per agent (as a real agent has) costs this process a few MiB each in receive buffers,
        // which at 10,000 agents is more memory than the machine has. The hub tells
        // connections apart by connection ID, so its side is the same either way.
        let sockets: Vec<quinn::Endpoint> = if matches!(transport, TransportChoice::Grpc) {
            Vec::new()
        } else {
            (0..tls.len().div_ceil(AGENTS_PER_SOCKET))
                .filter_map(|_| quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).ok())
                .collect()
        };
        let tasks = tls
            .into_iter()
            .enumerate()
            .map(|(i, tls)| {
                let quic_endpoint = (!sockets.is_empty())
                    .then(|| sockets[i / AGENTS_PER_SOCKET % sockets.len()].clone());
                let cfgs = lists[i % lists.len()]
                    .iter()
                    .map(|endpoint| DialConfig {
                        endpoint: endpoint.clone(),
                        tls: Arc::clone(&tls),
                        server_name: "localhost".into(),
                        transport,
                        quic_timeout: Duration::from_secs(10),
                        quic_endpoint: quic_endpoint.clone(),
                    })
                    .collect();
                tokio::spawn(agent(
                    i,
                    cfgs,
                    Arc::clone(&stats),
                    stop_rx.clone(),
                    Arc::clone(&gate),
                ))
            })
            .collect();
        Fleet { stats, stop, tasks }
    }

    /// Close every tunnel and stop.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

async fn agent(
    i: usize,
    cfgs: Vec<DialConfig>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
) {
    let mut backoff = Backoff::new();
    let mut my_epoch = u32::MAX;
    let mut ever_up = false;
    let n = cfgs.len().max(1);
    // Where the next round starts in the list.
    let mut next = 0;
    loop {
        for k in 0..cfgs.len() {
            let at = (next + k) % n;
            let started = Instant::now();
            let permit = if ever_up {
                None
            } else {
                match Arc::clone(&gate).acquire_owned().await {
                    Ok(p) => Some(p),
                    Err(_) => return,
                }
            };
            let dialed = tokio::select! {
                r = cceone_tunnel::dial(&cfgs[at]) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            let conn = match dialed {
                Ok(conn) => conn,
                Err(e) => {
                    drop(permit);
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    *stats.last_failure.lock().unwrap() = e.to_string();
                    continue;
                }
            };
            let outcome = tokio::select! {
                r = session(i, &conn, &stats, permit, &mut my_epoch) => r,
                _ = stop.wait_for(|s| *s) => { conn.close(); return; }
            };
            match outcome {
                Ok(()) => {
                    ever_up = true;
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                    backoff.connection_lasted(started.elapsed());
                    next = at + 1;
                    break;
                }
                Err(e) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    *stats.last_failure.lock().unwrap() = e;
                }
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The protocol version offered: `BENCH_PROTO_MAX` (1 leaves out the Work relay), else the
/// newest.
pub(crate) fn max_version() -> u32 {
    std::env::var("BENCH_PROTO_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cceone_proto::MAX_VERSION)
}

fn msg(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

/// A small, plausible status report (three 4-CPU nodes).
fn status() -> v1::ClusterStatus {
    let map = |cpu: &str, mem: &str, pods: &str| {
        [("cpu", cpu), ("memory", mem), ("pods", pods)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let res = |gv: &str, rs: &[(&str, &str)]| v1::ApiEnablement {
        group_version: gv.into(),
        resources: rs
            .iter()
            .map(|(n, k)| v1::ApiResource {
                name: n.to_string(),
                kind: k.to_string(),
            })
            .collect(),
    };
    v1::ClusterStatus {
        kubernetes_version: "v1.32.0".into(),
        api_enablements: vec![
            res(
                "v1",
                &[
                    ("pods", "Pod"),
                    ("services", "Service"),
                    ("configmaps", "ConfigMap"),
                    ("secrets", "Secret"),
                    ("nodes", "Node"),
                ],
            ),
            res(
                "apps/v1",
                &[
                    ("deployments", "Deployment"),
                    ("statefulsets", "StatefulSet"),
                    ("daemonsets", "DaemonSet"),
                ],
            ),
        ],
        nodes: Some(v1::NodeSummary { total: 3, ready: 3 }),
        resources: Some(v1::ResourceSummary {
            capacity: map("12", "48Gi", "330"),
            allocatable: map("12", "48Gi", "330"),
            allocated: map("0", "0", "0"),
        }),
        vcpus: "12".into(),
        observed_unix_ms: jiff::Timestamp::now().as_millisecond(),
    }
}

/// One session: Ok(()) when an established session was lost, Err before it was established.
async fn session(
    i: usize,
    conn: &AgentConn,
    stats: &Stats,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    my_epoch: &mut u32,
) -> Result<(), String> {
    let mut control = tokio::time::timeout(Duration::from_secs(30), conn.accept())
        .await
        .ok()
        .flatten()
        .ok_or("the hub opened no control stream")?;
    match control.recv::<v1::StreamOpen>().await {
        Ok(Some(v1::StreamOpen {
            kind: Some(stream_open::Kind::Control(_)),
        })) => {}
        other => return Err(format!("expected the control stream, got {other:?}")),
    }
    let hello = v1::Hello {
        max_version: max_version(),
        min_version: cceone_proto::MIN_VERSION,
        agent_version: "bench".into(),
        agent_id: format!("bench-agent-{i}"),
        capabilities: vec!["proxy".into(), "csr".into()],
    };
    control
        .send(&msg(agent_message::Msg::Hello(hello)))
        .await
        .map_err(|e| e.to_string())?;
    let ack = match control.recv::<v1::HubMessage>().await {
        Ok(Some(v1::HubMessage {
            msg: Some(hub_message::Msg::HelloAck(a)),
        })) => a,
        other => return Err(format!("expected HelloAck, got {other:?}")),
    };
    drop(permit);
    stats.connected.fetch_add(1, Ordering::SeqCst);
    stats.sessions.fetch_add(1, Ordering::Relaxed);
    let epoch = stats.epoch.load(Ordering::SeqCst);
    if *my_epoch != epoch {
        *my_epoch = epoch;
        let since = stats
            .epoch_start
            .lock()
            .unwrap()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        stats.back_after.lock().unwrap().push(since);
        stats.back.fetch_add(1, Ordering::SeqCst);
    }
    struct Connected<'a>(&'a AtomicUsize);
    impl Drop for Connected<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _connected = Connected(&stats.connected);
    if ack.version >= 2 {
        let inv = v1::WorkInventory { works: Vec::new() };
        if control
            .send(&msg(agent_message::Msg::Inventory(inv)))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
    if control
        .send(&msg(agent_message::Msg::Status(status())))
        .await
        .is_err()
    {
        return Ok(());
    }
    let every = Duration::from_millis(u64::from(ack.heartbeat_interval_ms.max(200)));
    let mut heartbeat = tokio::time::interval(every);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                seq += 1;
                let hb = v1::Heartbeat { seq, sent_unix_ms: jiff::Timestamp::now().as_millisecond() };
                if control.send(&msg(agent_message::Msg::Heartbeat(hb))).await.is_err() {
                    return Ok(());
                }
            }
            m = control.recv::<v1::HubMessage>() => match m {
                Ok(Some(v1::HubMessage { msg: Some(hub_message::Msg::Goodbye(_)) })) => return Ok(()),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Ok(()),
            },
            s = conn.accept() => if s.is_none() { return Ok(()) },
        }
    }
}
