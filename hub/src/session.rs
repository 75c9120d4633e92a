//! Agent sessions: one active tunnel per cluster. A session opens the control stream, negotiates
//! the protocol version, then relays heartbeats, status reports and certificate rotation until
//! the tunnel closes, a heartbeat is missed, or the cluster is revoked.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cceone_platform::phase::{SessionEvent, Transport as PhaseTransport};
use cceone_proto::v1::{self, agent_message, hub_message, stream_open};
use cceone_tunnel::{HubConn, Transport, TunnelError};
use parking_lot::Mutex;
use serde_json::json;

use crate::Hub;

mod outbox;

pub(crate) use outbox::Outbox;

/// A live session.
#[derive(Clone)]
pub struct SessionHandle {
    /// Unique per session, so a replaced session does not remove its successor.
    pub id: u64,
    /// The tunnel.
    pub conn: HubConn,
    /// Negotiated protocol version.
    pub version: u32,
    /// Why the hub closed it, if it did.
    pub closed_because: Arc<Mutex<Option<&'static str>>>,
    /// Outgoing control messages.
    pub(crate) control: ControlTx,
    /// The agent id its Hello gave.
    pub agent_id: String,
    /// When the agent last sent anything ([`now_ms`]).
    pub last_seen: Arc<AtomicU64>,
    /// The certificate it authenticated with.
    pub cert: PeerCert,
}

/// The queue of a session's outgoing control messages (see [`outbox`]).
pub(crate) type ControlTx = Outbox;

/// What the hub knows of the certificate a tunnel authenticated with.
#[derive(Debug, Clone, Default)]
pub struct PeerCert {
    /// notBefore, unix seconds.
    pub not_before: Option<i64>,
    /// notAfter, unix seconds.
    pub not_after: Option<i64>,
    /// The serial number, lowercase hex.
    pub serial: Option<String>,
}

/// Milliseconds on a monotonic clock private to this process.
fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A tunnel refused because another agent holds a healthy session with the same identity.
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    /// The live session's agent id.
    pub(crate) live_agent: String,
    /// The live session's peer.
    pub(crate) live_peer: std::net::SocketAddr,
}

/// All live sessions by cluster name.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, SessionHandle>>,
    next_id: AtomicU64,
    /// When a refused takeover was last written to a cluster's operation log (at most one a
    /// minute, however often an impostor retries).
    refusals_noted: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// The tunnel of a cluster, when connected.
    pub fn get(&self, cluster: &str) -> Option<SessionHandle> {
        self.map.lock().get(cluster).cloned()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names of connected clusters.
    pub fn names(&self) -> Vec<String> {
        self.map.lock().keys().cloned().collect()
    }

    /// Close a cluster's tunnel (revoked, unsubscribed, deleted, shutting down).
    pub fn close(&self, cluster: &str, why: &'static str) {
        if let Some(s) = self.map.lock().get(cluster) {
            *s.closed_because.lock() = Some(why);
            s.control.try_send(Box::new(v1::HubMessage {
                msg: Some(hub_message::Msg::Goodbye(v1::Goodbye {
                    reason: why.into(),
                })),
            }));
            let conn = s.conn.clone();
            tokio::spawn(async move {
                // Let the goodbye go out, then cut the connection.
                tokio::time::sleep(Duration::from_millis(100)).await;
                conn.close(why);
            });
        }
    }

    /// Makes `s` the cluster's session unless a different agent holds a healthy one (see
    /// [`crate::takeover`]); returns the session it replaced.
    fn admit(
        &self,
        cluster: &str,
        s: SessionHandle,
        healthy_within: Duration,
    ) -> Result<Option<SessionHandle>, Refused> {
        let mut map = self.map.lock();
        let now = now_ms();
        // A session the hub is already closing stands in nobody's way.
        let live = map
            .get(cluster)
            .filter(|l| l.closed_because.lock().is_none());
        let decision = crate::takeover::decide(
            live.map(|l| crate::takeover::Live {
                agent_id: &l.agent_id,
                peer: l.conn.peer().ip(),
                quiet_for: Duration::from_millis(
                    now.saturating_sub(l.last_seen.load(Ordering::Relaxed)),
                ),
            }),
            crate::takeover::Arrival {
                agent_id: &s.agent_id,
                peer: s.conn.peer().ip(),
            },
            healthy_within,
        );
        match (decision, live) {
            (crate::takeover::Decision::Refuse, Some(l)) => Err(Refused {
                live_agent: l.agent_id.clone(),
                live_peer: l.conn.peer(),
            }),
            _ => Ok(map.insert(cluster.to_string(), s)),
        }
    }

    /// Whether a refusal for `cluster` should be written to its operation log now.
    fn note_refusal(&self, cluster: &str) -> bool {
        let mut noted = self.refusals_noted.lock();
        let now = Instant::now();
        match noted.get(cluster) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(60) => false,
            _ => {
                noted.insert(cluster.to_string(), now);
                true
            }
        }
    }

    /// Close the cluster's session if its certificate is not one of `serials` (a
    /// re-registration retired it).
    pub fn close_unless_serial(&self, cluster: &str, serials: &[String]) {
        let retired = self
            .map
            .lock()
            .get(cluster)
            .is_some_and(|s| s.cert.serial.as_ref().is_some_and(|x| !serials.contains(x)));
        if retired {
            self.close(cluster, "certificate retired by a new registration");
        }
    }

    fn remove_if(&self, cluster: &str, id: u64) -> bool {
        let mut m = self.map.lock();
        if m.get(cluster).is_some_and(|s| s.id == id) {
            m.remove(cluster);
            true
        } else {
            false
        }
    }
}

fn phase_transport(t: Transport) -> PhaseTransport {
    match t {
        Transport::Grpc => PhaseTransport::Grpc,
        Transport::Quic => PhaseTransport::Quic,
    }
}

/// Run one agent's session until it ends.
pub(crate) async fn run(hub: Arc<Hub>, cluster: String, conn: HubConn, cert: PeerCert) {
    let transport = conn.transport();
    match serve(Arc::clone(&hub), &cluster, conn.clone(), cert).await {
        Ok(()) => {}
        Err(e) => {
            tracing::info!(cluster, transport = transport.as_str(), error = %e, "session ended")
        }
    }
    conn.close("session ended");
}

/// What the session loop keeps once the agent is admitted.
struct Admitted {
    id: u64,
    version: u32,
    control: cceone_tunnel::Stream,
    outbox: Outbox,
    closed_because: Arc<Mutex<Option<&'static str>>>,
    last_seen: Arc<AtomicU64>,
    /// The agent confirms Work removals (`CAP_WORK_REMOVED`).
    confirms: bool,
}

async fn serve(
    hub: Arc<Hub>,
    cluster: &str,
    conn: HubConn,
    cert: PeerCert,
) -> Result<(), TunnelError> {
    // The handshake, admission and first status writes are boxed: inlined, their futures would
    // size the task of every idle session, which afterwards only waits on messages.
    let Admitted {
        id,
        version,
        control,
        outbox,
        closed_because,
        last_seen,
        confirms,
    } = Box::pin(admit(&hub, cluster, &conn, cert)).await?;
    let transport = conn.transport();
    let gauge = match transport {
        Transport::Grpc => &hub.metrics.tunnels_grpc,
        Transport::Quic => &hub.metrics.tunnels_quic,
    };
    gauge.fetch_add(1, Ordering::Relaxed);
    // Whatever ends this future, nothing more is queued for the agent.
    let _outbox_closed = outbox::CloseOnDrop(outbox.clone());
    let sink = crate::sink::Sink::start(&hub, cluster);
    let grace = hub.cfg.heartbeat_grace;
    let mut relay: crate::works::RelayHandle = None;
    let mut last_heartbeat_write = Instant::now();
    let (tx, mut rx) = control.split();
    // One message at a time goes out from here; the agent's messages are read meanwhile (a
    // write waiting on a slow agent must not stop its heartbeats being seen).
    let mut writer = Writer::Idle(tx);
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    let outcome: SessionEvent = loop {
        let event = tokio::select! {
            m = rx.recv::<v1::AgentMessage>() => Event::Received(m),
            () = &mut deadline => Event::Silent,
            () = conn.closed() => Event::Closed,
            r = writer.written(), if writer.is_busy() => Event::Written(r),
            m = outbox.next(), if writer.is_idle() => Event::Queued(m),
        };
        let msg = match event {
            Event::Queued(m) => {
                writer.start(m);
                continue;
            }
            Event::Written(Ok(tx)) => {
                writer = Writer::Idle(tx);
                continue;
            }
            Event::Written(Err(e)) => {
                break SessionEvent::Disconnected {
                    reason: format!("control stream failed: {e}"),
                    at: jiff::Timestamp::now(),
                };
            }
            Event::Closed => {
                break SessionEvent::Disconnected {
                    reason: "the tunnel connection closed".into(),
                    at: jiff::Timestamp::now(),
                };
            }
            Event::Silent => {
                tracing::warn!(
                    cluster,
                    "no heartbeat within the grace period; closing the tunnel"
                );
                break SessionEvent::HeartbeatMissed {
                    at: jiff::Timestamp::now(),
                };
            }
            Event::Received(Err(e)) => {
                count_malformed(&hub, cluster, &e, "in session");
                break SessionEvent::Disconnected {
                    reason: format!("control stream failed: {e}"),
                    at: jiff::Timestamp::now(),
                };
            }
            Event::Received(Ok(None)) => {
                break SessionEvent::Disconnected {
                    reason: "the agent closed the tunnel".into(),
                    at: jiff::Timestamp::now(),
                };
            }
            Event::Received(Ok(Some(m))) => m,
        };
        deadline.as_mut().reset(tokio::time::Instant::now() + grace);
        last_seen.store(now_ms(), Ordering::Relaxed);
        match msg.msg {
            Some(agent_message::Msg::Heartbeat(hb)) => {
                hub.metrics.heartbeats.fetch_add(1, Ordering::Relaxed);
                outbox.try_send_echo(Box::new(v1::HubMessage {
                    msg: Some(hub_message::Msg::Heartbeat(hb)),
                }));
                if last_heartbeat_write.elapsed() >= hub.cfg.heartbeat_record_every {
                    last_heartbeat_write = Instant::now();
                    let t = cceone_platform::phase::rfc3339(jiff::Timestamp::now());
                    sink.cluster(json!({"lastHeartbeatTime": t}));
                }
            }
            Some(agent_message::Msg::Status(s)) => {
                hub.metrics.status_reports.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(cluster, vcpus = %s.vcpus, "status report");
                sink.cluster(crate::clusters::status_fields(&s));
            }
            Some(agent_message::Msg::Csr(req)) => rotate(&hub, cluster, &req, &outbox, &sink),
            Some(agent_message::Msg::Inventory(inv)) if version >= 2 => {
                tracing::info!(
                    cluster,
                    held = inv.works.len(),
                    "agent inventory received; relaying works"
                );
                crate::works::start(&hub, cluster, inv, confirms, &outbox, &mut relay);
            }
            Some(agent_message::Msg::WorkStatus(ws)) if version >= 2 => sink.work(ws),
            Some(agent_message::Msg::WorkRemoved(r)) if version >= 2 => {
                crate::works::removed(&hub, cluster, r);
            }
            Some(agent_message::Msg::WorkStatus(_))
            | Some(agent_message::Msg::Inventory(_))
            | Some(agent_message::Msg::WorkRemoved(_)) => {
                tracing::debug!(
                    cluster,
                    version,
                    "work message on a protocol version without the Work relay; ignored"
                );
            }
            Some(agent_message::Msg::Hello(_)) | None => {
                hub.metrics.refuse("protocol");
                break SessionEvent::Disconnected {
                    reason: "protocol violation: unexpected control message".into(),
                    at: jiff::Timestamp::now(),
                };
            }
        }
    };
    crate::works::stop(&mut relay);
    outbox.close();
    drop(writer);
    // What the sink holds is still written: its writer, if any, finishes it.
    drop(sink);
    gauge.fetch_sub(1, Ordering::Relaxed);
    let removed = hub.sessions.remove_if(cluster, id);
    conn.close("session ended");
    let why = *closed_because.lock();
    Box::pin(record_end(&hub, cluster, why, removed, outcome)).await;
    Ok(())
}

/// What woke the session loop.
enum Event {
    Received(Result<Option<v1::AgentMessage>, TunnelError>),
    Silent,
    Closed,
    Written(Result<cceone_tunnel::Sender, TunnelError>),
    Queued(Box<v1::HubMessage>),
}

/// The control stream's sending half: idle, or writing one message (boxed only while it does).
enum Writer {
    Idle(cceone_tunnel::Sender),
    Busy(std::pin::Pin<Box<dyn Future<Output = WriteDone> + Send>>),
    Gone,
}

type WriteDone = Result<cceone_tunnel::Sender, TunnelError>;

impl Writer {
    fn is_idle(&self) -> bool {
        matches!(self, Writer::Idle(_))
    }

    fn is_busy(&self) -> bool {
        matches!(self, Writer::Busy(_))
    }

    /// Start writing `m` (the writer must be idle).
    fn start(&mut self, m: Box<v1::HubMessage>) {
        if let Writer::Idle(mut tx) = std::mem::replace(self, Writer::Gone) {
            *self = Writer::Busy(Box::pin(async move {
                tx.send(&*m).await?;
                Ok(tx)
            }));
        }
    }

    /// The write in progress finishing (pending forever when there is none).
    async fn written(&mut self) -> WriteDone {
        match self {
            Writer::Busy(w) => w.await,
            _ => std::future::pending().await,
        }
    }
}

/// Open the control stream, take the agent's Hello, negotiate, admit the session (or refuse
/// it) and record the connection.
async fn admit(
    hub: &Arc<Hub>,
    cluster: &str,
    conn: &HubConn,
    cert: PeerCert,
) -> Result<Admitted, TunnelError> {
    let cert_not_after = cert.not_after;
    let transport = conn.transport();
    let max = hub.cfg.max_protocol_version.min(cceone_proto::MAX_VERSION);
    let mut control = conn.open().await?;
    let open = v1::StreamOpen {
        kind: Some(stream_open::Kind::Control(v1::ControlOpen {
            hub_max_version: max,
        })),
    };
    control.send(&open).await?;
    let hello =
        match tokio::time::timeout(Duration::from_secs(10), control.recv::<v1::AgentMessage>())
            .await
        {
            Ok(Ok(Some(v1::AgentMessage {
                msg: Some(agent_message::Msg::Hello(h)),
            }))) => h,
            Ok(Ok(_)) => {
                hub.metrics.refuse("protocol");
                tracing::warn!(
                    cluster,
                    "the first control message was not Hello; closing this tunnel"
                );
                return Err(TunnelError::Protocol(
                    "the first control message must be Hello".into(),
                ));
            }
            Ok(Err(e)) => {
                count_malformed(hub, cluster, &e, "before Hello");
                return Err(e);
            }
            Err(_) => {
                hub.metrics.refuse("hello_timeout");
                return Err(TunnelError::Protocol("no Hello within 10s".into()));
            }
        };
    let Some(version) = cceone_proto::negotiate(
        hello.min_version,
        hello.max_version,
        cceone_proto::MIN_VERSION,
        max,
    ) else {
        hub.metrics.refuse("protocol_version");
        let bye = v1::HubMessage {
            msg: Some(hub_message::Msg::Goodbye(v1::Goodbye {
                reason: format!(
                    "no common protocol version (agent {}..={}, hub {}..={max})",
                    hello.min_version,
                    hello.max_version,
                    cceone_proto::MIN_VERSION
                ),
            })),
        };
        let _ = control.send(&bye).await;
        return Err(TunnelError::Protocol("no common protocol version".into()));
    };
    let outbox = Outbox::default();
    let id = hub.sessions.next_id.fetch_add(1, Ordering::Relaxed);
    let closed_because: Arc<Mutex<Option<&'static str>>> = Arc::default();
    let last_seen = Arc::new(AtomicU64::new(now_ms()));
    let handle = SessionHandle {
        id,
        conn: conn.clone(),
        version,
        closed_because: Arc::clone(&closed_because),
        control: outbox.clone(),
        agent_id: hello.agent_id.clone(),
        last_seen: Arc::clone(&last_seen),
        cert,
    };
    let healthy_within = hub.cfg.heartbeat_grace.min(hub.cfg.heartbeat_interval * 2);
    if let Err(holder) = crate::owner::admit(hub, cluster, &hello.agent_id, conn.peer().ip()) {
        hub.metrics.refuse("held_by_another_hub");
        tracing::info!(cluster, holder, agent = %hello.agent_id, peer = %conn.peer(), "tunnel refused: another hub holds a healthy tunnel of this cluster");
        let bye = v1::HubMessage {
            msg: Some(hub_message::Msg::Goodbye(v1::Goodbye {
                reason: format!("hub {holder} holds a healthy tunnel of this cluster"),
            })),
        };
        let _ = control.send(&bye).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        return Err(TunnelError::Protocol(format!(
            "refused: hub {holder} holds this cluster's tunnel"
        )));
    }
    match hub.sessions.admit(cluster, handle, healthy_within) {
        Ok(Some(old)) => {
            *old.closed_because.lock() = Some("replaced");
            old.control.try_send(Box::new(v1::HubMessage {
                msg: Some(hub_message::Msg::Goodbye(v1::Goodbye {
                    reason: "replaced by a newer connection".into(),
                })),
            }));
            old.conn.close("replaced by a newer connection");
        }
        Ok(None) => {}
        Err(refused) => {
            refuse_takeover(hub, cluster, conn, &hello.agent_id, &refused).await;
            let bye = v1::HubMessage {
                msg: Some(hub_message::Msg::Goodbye(v1::Goodbye {
                    reason: "another agent holds a healthy session for this cluster".into(),
                })),
            };
            let _ = control.send(&bye).await;
            // Let the goodbye reach the agent before the tunnel is cut, so it can say why.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(TunnelError::Protocol(
                "refused: another agent holds a healthy session for this cluster".into(),
            ));
        }
    }
    let ack = v1::HelloAck {
        version,
        hub_version: env!("CARGO_PKG_VERSION").into(),
        heartbeat_interval_ms: hub.cfg.heartbeat_interval.as_millis() as u32,
        status_resync_ms: hub.cfg.status_resync.as_millis() as u32,
        capabilities: vec!["proxy".into(), "csr".into()],
    };
    if let Err(e) = control
        .send(&v1::HubMessage {
            msg: Some(hub_message::Msg::HelloAck(ack)),
        })
        .await
    {
        hub.sessions.remove_if(cluster, id);
        return Err(e);
    }
    tracing::info!(cluster, transport = transport.as_str(), version, agent = %hello.agent_id, peer = %conn.peer(), "agent connected");
    let now = jiff::Timestamp::now();
    hub.clusters
        .record_connected(
            cluster,
            SessionEvent::Connected {
                transport: phase_transport(transport),
                agent_id: hello.agent_id.clone(),
                at: now,
            },
            conn.peer().ip(),
        )
        .await;
    let mut fields = json!({
        "transport": transport.as_str(),
        "protocolVersion": version,
        "agentVersion": hello.agent_version,
        "agentId": hello.agent_id,
        "lastHeartbeatTime": cceone_platform::phase::rfc3339(now),
    });
    if let Some(na) = cert_not_after.and_then(|s| jiff::Timestamp::from_second(s).ok()) {
        fields["certificateNotAfter"] = json!(cceone_platform::phase::rfc3339(na));
    }
    hub.clusters.patch_status(cluster, fields).await;
    let confirms = hello
        .capabilities
        .iter()
        .any(|c| c == cceone_proto::CAP_WORK_REMOVED);
    Ok(Admitted {
        id,
        version,
        control,
        outbox,
        closed_because,
        last_seen,
        confirms,
    })
}

/// Sign a rotation CSR for the session's cluster and send the certificate back.
fn rotate(
    hub: &Hub,
    cluster: &str,
    req: &v1::CsrRequest,
    outbox: &Outbox,
    sink: &Arc<crate::sink::Sink>,
) {
    // The subject comes from this session's verified identity, never from the CSR.
    match hub
        .ca
        .sign_cluster_csr(&req.csr_pem, cluster, hub.cfg.cert_validity)
    {
        Ok((cert, not_after)) => {
            tracing::info!(cluster, not_after, "rotated the agent certificate");
            let issued_pem = cert.clone();
            let issued = v1::CertificateIssued {
                certificate_pem: cert,
                ca_pem: hub.ca.ca_pem().to_string(),
                not_after_unix: not_after,
            };
            // Queued from a task of its own: the session loop drains the queue, so it must not
            // wait for room itself.
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let _ = outbox
                    .send(Box::new(v1::HubMessage {
                        msg: Some(hub_message::Msg::Certificate(issued)),
                    }))
                    .await;
            });
            let mut fields = json!({});
            if let Ok(t) = jiff::Timestamp::from_second(not_after) {
                fields["certificateNotAfter"] = json!(cceone_platform::phase::rfc3339(t));
            }
            if let Some(serial) = crate::serials::of_pem(&issued_pem) {
                let info = hub.clusters.get(cluster).unwrap_or_default();
                let current = hub.serials.current(cluster, info.created, &info.serials);
                let list = crate::serials::after_rotation(&current, &serial);
                hub.serials.set(cluster, info.created, list.clone());
                fields["certificateSerials"] = json!(list);
            }
            sink.cluster(fields);
        }
        Err(e) => {
            hub.metrics.refuse("bad_csr");
            tracing::warn!(cluster, error = %e, "refused a rotation CSR");
        }
    }
}

/// Write how the session ended to the cluster's status, unless another session or hub took
/// over or the hub is shutting down.
async fn record_end(
    hub: &Hub,
    cluster: &str,
    why: Option<&'static str>,
    removed: bool,
    outcome: SessionEvent,
) {
    match why {
        Some("replaced") => {}
        Some("revoked") => {
            hub.clusters
                .record(
                    cluster,
                    SessionEvent::Revoked {
                        at: jiff::Timestamp::now(),
                    },
                )
                .await
        }
        Some("shutdown") | Some(crate::owner::MOVED) => {}
        _ if removed => {
            tracing::info!(cluster, ?outcome, "agent disconnected");
            hub.clusters.record(cluster, outcome).await;
        }
        _ => {}
    }
}

/// A second agent presented the identity of a cluster whose session is healthy: count it, say
/// so, and note it in the cluster's operation log (rate limited).
async fn refuse_takeover(
    hub: &Hub,
    cluster: &str,
    conn: &HubConn,
    agent_id: &str,
    refused: &Refused,
) {
    hub.metrics.refuse("duplicate_identity");
    tracing::warn!(
        cluster,
        peer = %conn.peer(),
        agent = agent_id,
        live_peer = %refused.live_peer,
        live_agent = refused.live_agent,
        "tunnel refused: another agent holds a healthy session with this cluster's identity (a copied identity?)"
    );
    if hub.sessions.note_refusal(cluster) {
        let op = cceone_platform::phase::Operation::new(
            jiff::Timestamp::now(),
            "Security",
            "DuplicateIdentityRefused",
            format!(
                "a second agent ({agent_id} from {}) presented this cluster's identity while the \
                 session of {} from {} was healthy; it was refused",
                conn.peer(),
                refused.live_agent,
                refused.live_peer
            ),
        );
        hub.clusters.append_operation(cluster, op).await;
    }
}

/// A control stream failed: when the agent sent bytes that are no frame or no message, count it
/// as a refusal and say so (the tunnel closes either way).
fn count_malformed(hub: &Hub, cluster: &str, e: &TunnelError, when: &'static str) {
    if matches!(e, TunnelError::Frame(_) | TunnelError::Decode(_)) {
        hub.metrics.refuse("malformed_frame");
        tracing::warn!(cluster, error = %e, when, "malformed control frame; closing this tunnel");
    }
}
