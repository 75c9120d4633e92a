//! One tunnel session as the agent sees it: answer the hub's control stream (version
//! negotiation, heartbeats, status when it changes and at a slow resync, certificate rotation)
//! and serve every other stream the hub opens as a proxied API request.

use std::sync::Arc;
use std::time::Duration;

use cceone_proto::v1::{self, agent_message, hub_message, stream_open};
use cceone_tunnel::{AgentConn, TunnelError};
use tokio::sync::watch;

use crate::identity::{self, Identity};
use crate::status::ClusterStatusSnapshot;

/// What a session needs from the agent.
#[derive(Clone)]
pub struct SessionContext {
    /// The member cluster.
    pub client: kube::Client,
    /// The agent's settings.
    pub cfg: crate::config::Config,
    /// Status snapshots, updated when the cluster changes.
    pub status: watch::Receiver<ClusterStatusSnapshot>,
    /// The current identity (replaced on rotation).
    pub identity: Arc<tokio::sync::Mutex<Identity>>,
    /// Metrics.
    pub metrics: Arc<crate::health::AgentMetrics>,
    /// The Works this agent holds (kept across sessions).
    pub works: Arc<crate::works::Works>,
}

enum WorkCmd {
    Apply(v1::WorkDelivery),
    Delete(v1::WorkDeletion),
}

/// Works applied at once. Each Work is applied in the order its versions arrive (a Work always
/// goes to the same lane); different Works proceed side by side, so one slow apply, or many
/// Works arriving together, do not queue everything behind them.
const WORK_LANES: usize = 8;

/// Status passes (every 500 ms) between full reads of every held Work's objects.
const SWEEP_TICKS: u64 = 120;

impl WorkCmd {
    fn lane(&self) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match self {
            WorkCmd::Apply(d) => (&d.namespace, &d.name).hash(&mut h),
            WorkCmd::Delete(d) => (&d.namespace, &d.name).hash(&mut h),
        }
        (h.finish() % WORK_LANES as u64) as usize
    }
}

/// Apply Works and report their status as it changes, off the control loop so a slow apply
/// never delays a heartbeat. Aborting the returned task stops its lanes too.
fn spawn_work_worker(
    works: Arc<crate::works::Works>,
    out: tokio::sync::mpsc::Sender<v1::AgentMessage>,
) -> (
    tokio::sync::mpsc::Sender<WorkCmd>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<WorkCmd>(1024);
    let task = tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        let mut lanes = Vec::with_capacity(WORK_LANES);
        for _ in 0..WORK_LANES {
            let (lane_tx, mut lane_rx) = tokio::sync::mpsc::channel::<WorkCmd>(256);
            let works = Arc::clone(&works);
            let out = out.clone();
            tasks.spawn(async move {
                let mut retries = tokio::task::JoinSet::new();
                while let Some(cmd) = lane_rx.recv().await {
                    match cmd {
                        WorkCmd::Apply(d) => works.apply(d).await,
                        WorkCmd::Delete(d) => {
                            let left = works.delete(&d).await;
                            // Reaped here so the set holds only retries still running.
                            while retries.try_join_next().is_some() {}
                            retries.spawn(confirm_removal(
                                Arc::clone(&works),
                                d,
                                left,
                                out.clone(),
                            ));
                        }
                    }
                }
            });
            lanes.push(lane_tx);
        }
        let status_works = Arc::clone(&works);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut first = true;
            let mut ticks = 0u64;
            loop {
                tick.tick().await;
                ticks += 1;
                // Watches mark what changed; every SWEEP_TICKS every Work is read anyway.
                let sweep = ticks.is_multiple_of(SWEEP_TICKS);
                for ws in status_works.changed_statuses(first, sweep).await {
                    if out
                        .send(msg(agent_message::Msg::WorkStatus(ws)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                first = false;
            }
        });
        while let Some(cmd) = rx.recv().await {
            if lanes[cmd.lane()].send(cmd).await.is_err() {
                return;
            }
        }
    });
    (tx, task)
}

/// Tell the hub a deleted Work's objects are gone from the member, first removing what the
/// deletion could not (the member's API refused or failed), again and again with a growing
/// pause: the Work keeps its execution finalizer in the federation until this answer arrives,
/// as Karmada's execution controller keeps it until the member's objects are deleted
/// (pkg/controllers/execution/execution_controller.go, tryDeleteWorkload).
async fn confirm_removal(
    works: Arc<crate::works::Works>,
    d: v1::WorkDeletion,
    mut left: crate::works::Removal,
    out: tokio::sync::mpsc::Sender<v1::AgentMessage>,
) {
    let mut pause = Duration::from_millis(500);
    while !left.is_done() {
        tokio::time::sleep(pause).await;
        if out.is_closed() {
            return;
        }
        pause = (pause * 2).min(Duration::from_secs(30));
        left = works.remove_objects(left).await;
    }
    let removed = v1::WorkRemoved {
        namespace: d.namespace,
        name: d.name,
        uid: d.uid,
    };
    let _ = out
        .send(msg(agent_message::Msg::WorkRemoved(removed)))
        .await;
}

/// How a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The hub said goodbye (revoked, replaced, shutting down).
    Goodbye(String),
    /// The connection failed.
    Lost(TunnelError),
    /// A new certificate arrived; reconnect with it.
    Rotated,
}

fn to_proto(s: &ClusterStatusSnapshot) -> v1::ClusterStatus {
    let q = |m: &std::collections::BTreeMap<String, cceone_kube_quantity::Quantity>| -> std::collections::HashMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), if k == "memory" { v.format_binary() } else { v.to_string() })).collect()
    };
    v1::ClusterStatus {
        kubernetes_version: s.kubernetes_version.clone(),
        api_enablements: s
            .api_enablements
            .iter()
            .map(|a| v1::ApiEnablement {
                group_version: a.0.clone(),
                resources: a
                    .1
                    .iter()
                    .map(|(name, kind)| v1::ApiResource {
                        name: name.clone(),
                        kind: kind.clone(),
                    })
                    .collect(),
            })
            .collect(),
        nodes: Some(v1::NodeSummary {
            total: s.nodes_total,
            ready: s.nodes_ready,
        }),
        resources: Some(v1::ResourceSummary {
            capacity: q(&s.capacity),
            allocatable: q(&s.allocatable),
            allocated: q(&s.allocated),
        }),
        vcpus: s.vcpus.to_string(),
        observed_unix_ms: jiff::Timestamp::now().as_millisecond(),
    }
}

fn msg(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

/// Run a session on an established tunnel until it ends.
pub async fn run(conn: AgentConn, mut ctx: SessionContext) -> SessionEnd {
    let Some(mut control) = tokio::time::timeout(Duration::from_secs(15), conn.accept())
        .await
        .ok()
        .flatten()
    else {
        return SessionEnd::Lost(TunnelError::Protocol(
            "the hub opened no control stream".into(),
        ));
    };
    match control.recv::<v1::StreamOpen>().await {
        Ok(Some(v1::StreamOpen {
            kind: Some(stream_open::Kind::Control(_)),
        })) => {}
        Ok(_) => {
            return SessionEnd::Lost(TunnelError::Protocol(
                "the first stream was not the control stream".into(),
            ));
        }
        Err(e) => return SessionEnd::Lost(e),
    }
    let max_version = ctx.cfg.protocol_max.unwrap_or(cceone_proto::MAX_VERSION);
    let hello = v1::Hello {
        max_version,
        min_version: cceone_proto::MIN_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        agent_id: ctx.cfg.agent_id.clone(),
        capabilities: vec![
            "proxy".into(),
            "csr".into(),
            cceone_proto::CAP_WORK_REMOVED.into(),
        ],
    };
    if let Err(e) = control.send(&msg(agent_message::Msg::Hello(hello))).await {
        return SessionEnd::Lost(e);
    }
    let ack = match control.recv::<v1::HubMessage>().await {
        Ok(Some(v1::HubMessage {
            msg: Some(hub_message::Msg::HelloAck(a)),
        })) => a,
        Ok(Some(v1::HubMessage {
            msg: Some(hub_message::Msg::Goodbye(g)),
        })) => return SessionEnd::Goodbye(g.reason),
        Ok(_) => return SessionEnd::Lost(TunnelError::Protocol("expected HelloAck".into())),
        Err(e) => return SessionEnd::Lost(e),
    };
    tracing::info!(transport = conn.transport().as_str(), version = ack.version, hub = %ack.hub_version, "tunnel established");
    ctx.metrics
        .tunnel_connected
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let conn = Arc::new(conn);
    let acceptor = {
        let conn = Arc::clone(&conn);
        let client = ctx.client.clone();
        tokio::spawn(async move {
            while let Some(mut stream) = conn.accept().await {
                let client = client.clone();
                tokio::spawn(async move {
                    match stream.recv::<v1::StreamOpen>().await {
                        Ok(Some(v1::StreamOpen {
                            kind: Some(stream_open::Kind::Proxy(req)),
                        })) => {
                            let (tx, rx) = stream.split();
                            let (method, path) = (req.method.clone(), req.path.clone());
                            if let Err(e) = crate::proxy::serve(client, req, tx, rx).await {
                                tracing::debug!(%method, %path, error = %e, "proxied request ended early");
                            }
                        }
                        Ok(_) => tracing::warn!("unexpected stream from the hub; ignoring it"),
                        Err(e) => {
                            tracing::warn!(error = %e, "malformed stream opening from the hub")
                        }
                    }
                });
            }
        })
    };
    let (work_out_tx, mut work_out_rx) = tokio::sync::mpsc::channel::<v1::AgentMessage>(256);
    let work_worker =
        (ack.version >= 2).then(|| spawn_work_worker(Arc::clone(&ctx.works), work_out_tx));
    if ack.version >= 2 {
        let inv = ctx.works.inventory().await;
        if let Err(e) = control.send(&msg(agent_message::Msg::Inventory(inv))).await {
            acceptor.abort();
            return SessionEnd::Lost(e);
        }
    }
    let work_tx = work_worker.as_ref().map(|(tx, _)| tx.clone());
    let end = control_loop(&mut control, &mut ctx, &ack, work_tx, &mut work_out_rx).await;
    if let Some((_, task)) = work_worker {
        task.abort();
    }
    acceptor.abort();
    conn.close();
    ctx.metrics
        .tunnel_connected
        .store(false, std::sync::atomic::Ordering::Relaxed);
    end
}

async fn control_loop(
    control: &mut cceone_tunnel::Stream,
    ctx: &mut SessionContext,
    ack: &v1::HelloAck,
    work_tx: Option<tokio::sync::mpsc::Sender<WorkCmd>>,
    work_out: &mut tokio::sync::mpsc::Receiver<v1::AgentMessage>,
) -> SessionEnd {
    let hb_every = Duration::from_millis(u64::from(ack.heartbeat_interval_ms.max(200)));
    let resync_every = Duration::from_millis(u64::from(ack.status_resync_ms.max(1000)));
    let mut heartbeat = tokio::time::interval(hb_every);
    // The hub echoes every heartbeat. Hearing nothing for several intervals means the hub is
    // gone without closing the connection (killed, or a QUIC path that went dark); without this
    // a QUIC tunnel would wait for its 30 s idle timeout before reconnecting.
    let hub_silence = (hb_every * 4).max(Duration::from_secs(3));
    let mut last_heard = tokio::time::Instant::now();
    let mut resync = tokio::time::interval(resync_every);
    let mut rotation_check = tokio::time::interval(Duration::from_secs(30));
    let mut seq = 0u64;
    let mut pending_key: Option<String> = None;
    let status_now = to_proto(&ctx.status.borrow_and_update());
    if let Err(e) = control
        .send(&msg(agent_message::Msg::Status(status_now)))
        .await
    {
        return SessionEnd::Lost(e);
    }
    ctx.metrics
        .status_sends_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    loop {
        let out = tokio::select! {
            _ = heartbeat.tick() => {
                seq += 1;
                Some(msg(agent_message::Msg::Heartbeat(v1::Heartbeat { seq, sent_unix_ms: jiff::Timestamp::now().as_millisecond() })))
            }
            changed = ctx.status.changed() => {
                if changed.is_err() {
                    return SessionEnd::Lost(TunnelError::Closed("status collector stopped".into()));
                }
                ctx.metrics.status_sends_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(msg(agent_message::Msg::Status(to_proto(&ctx.status.borrow_and_update()))))
            }
            Some(m) = work_out.recv() => Some(m),
            _ = resync.tick() => {
                ctx.metrics.status_sends_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(msg(agent_message::Msg::Status(to_proto(&ctx.status.borrow()))))
            }
            _ = rotation_check.tick() => {
                let id = ctx.identity.lock().await;
                if pending_key.is_none() && id.needs_rotation(identity::now_unix()) {
                    match Identity::new_key_and_csr(&id.cluster_name) {
                        Ok((key, csr)) => {
                            tracing::info!("certificate past two thirds of its validity; asking the hub for a new one");
                            pending_key = Some(key);
                            Some(msg(agent_message::Msg::Csr(v1::CsrRequest { csr_pem: csr })))
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not make a rotation CSR");
                            None
                        }
                    }
                } else {
                    None
                }
            }
            _ = tokio::time::sleep_until(last_heard + hub_silence) => {
                return SessionEnd::Lost(TunnelError::Closed(format!(
                    "nothing from the hub for {hub_silence:?}"
                )));
            }
            incoming = control.recv::<v1::HubMessage>() => {
                if matches!(incoming, Ok(Some(_))) {
                    last_heard = tokio::time::Instant::now();
                }
                match incoming {
                    Ok(Some(m)) => match m.msg {
                        Some(hub_message::Msg::Heartbeat(_)) | Some(hub_message::Msg::HelloAck(_)) | None => None,
                        Some(hub_message::Msg::Goodbye(g)) => return SessionEnd::Goodbye(g.reason),
                        Some(hub_message::Msg::StatusRequest(_)) => Some(msg(agent_message::Msg::Status(to_proto(&ctx.status.borrow())))),
                        Some(hub_message::Msg::Certificate(c)) => {
                            let Some(key) = pending_key.take() else { continue };
                            let mut id = ctx.identity.lock().await;
                            let new = Identity {
                                cluster_name: id.cluster_name.clone(),
                                key_pem: crate::config::MaskedString::new(key),
                                cert_pem: c.certificate_pem,
                                ca_pem: c.ca_pem,
                                not_before: identity::now_unix(),
                                not_after: c.not_after_unix,
                            };
                            if let Err(e) = identity::store(&ctx.client, &ctx.cfg, &new).await {
                                tracing::warn!(error = %e, "could not keep the rotated certificate; staying on the old one");
                                continue;
                            }
                            *id = new;
                            tracing::info!("certificate rotated; reconnecting with it");
                            return SessionEnd::Rotated;
                        }
                        Some(hub_message::Msg::Work(d)) => {
                            if let Some(tx) = &work_tx {
                                let _ = tx.send(WorkCmd::Apply(d)).await;
                            }
                            None
                        }
                        Some(hub_message::Msg::WorkDeleted(d)) => {
                            if let Some(tx) = &work_tx {
                                let _ = tx.send(WorkCmd::Delete(d)).await;
                            }
                            None
                        }
                    },
                    Ok(None) => return SessionEnd::Lost(TunnelError::Closed("the hub closed the control stream".into())),
                    Err(e) => return SessionEnd::Lost(e),
                }
            }
        };
        if let Some(m) = out
            && let Err(e) = control.send(&m).await
        {
            return SessionEnd::Lost(e);
        }
    }
}

/// TLS client configuration for the tunnel from an identity: trust the hub CA, present the
/// cluster certificate.
pub fn tls_config(id: &Identity) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(id.ca_pem.as_bytes()) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let certs = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let key =
        PrivateKeyDer::from_pem_slice(id.key_pem.expose().as_bytes()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(cfg))
}
