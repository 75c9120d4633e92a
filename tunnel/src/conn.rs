//! A tunnel connection: the hub's side opens streams, the agent's side accepts them. Over
//! TLS/TCP the agent dials and then serves HTTP/2 (so the hub, the HTTP/2 client, can open
//! streams toward it); over QUIC either side could open, and the hub does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, watch};

use crate::stream::Stream;
use crate::{ALPN, TunnelError};

/// Which transport carries a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP/2 (gRPC framing) over TLS over TCP.
    Grpc,
    /// QUIC over UDP.
    Quic,
}

impl Transport {
    /// `grpc` or `quic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Quic => "quic",
        }
    }
}

/// Flow-control windows: large enough that a proxied list runs at link speed.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONN_WINDOW: u32 = 8 * 1024 * 1024;

#[derive(Clone)]
enum HubInner {
    /// HTTP/2: a task drives the connection; `closed` turns true when it ends, and `close_tx`
    /// tells it to stop.
    H2 {
        send: h2::client::SendRequest<Bytes>,
        closed: watch::Receiver<bool>,
        close_tx: Arc<watch::Sender<bool>>,
    },
    /// QUIC: quinn itself says when the connection is closed, so nothing else is kept per
    /// idle tunnel.
    Quic(quinn::Connection),
}

/// The hub's handle on one agent connection. Cheap to clone.
#[derive(Clone)]
pub struct HubConn {
    inner: HubInner,
    peer: SocketAddr,
}

impl HubConn {
    /// Take over a TLS connection the agent dialed (ALPN already checked): become its HTTP/2
    /// client.
    pub async fn over_tls(
        tls: tokio_rustls::server::TlsStream<TcpStream>,
        peer: SocketAddr,
    ) -> Result<HubConn, TunnelError> {
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_send_buffer_size(256 * 1024)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(TunnelError::H2)?;
        let (close_tx, closed) = watch::channel(false);
        let close_tx = Arc::new(close_tx);
        let mut stop = closed.clone();
        let done = Arc::clone(&close_tx);
        tokio::spawn(async move {
            tokio::select! {
                r = connection => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "tunnel connection ended");
                    }
                }
                _ = stop.wait_for(|c| *c) => {}
            }
            let _ = done.send(true);
        });
        Ok(HubConn {
            inner: HubInner::H2 {
                send,
                closed,
                close_tx,
            },
            peer,
        })
    }

    /// Wrap an accepted QUIC connection. No task watches it and no channel says when it ends
    /// (quinn says itself when it is closed).
    pub fn over_quic(conn: quinn::Connection) -> HubConn {
        let peer = conn.remote_address();
        HubConn {
            inner: HubInner::Quic(conn),
            peer,
        }
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        match self.inner {
            HubInner::H2 { .. } => Transport::Grpc,
            HubInner::Quic(_) => Transport::Quic,
        }
    }

    /// The agent's address as seen by the hub.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Open a new stream toward the agent.
    pub async fn open(&self) -> Result<Stream, TunnelError> {
        if self.is_closed() {
            return Err(TunnelError::Closed("tunnel closed".into()));
        }
        match &self.inner {
            HubInner::H2 { send, .. } => {
                let mut send = send.clone().ready().await.map_err(TunnelError::H2)?;
                let req = http::Request::post("/cceone.tunnel.v1.Tunnel/Stream")
                    .header("content-type", "application/grpc")
                    .body(())
                    .map_err(|e| TunnelError::Closed(e.to_string()))?;
                let (resp, tx) = send.send_request(req, false).map_err(TunnelError::H2)?;
                Ok(Stream::h2_hub(tx, resp))
            }
            HubInner::Quic(c) => {
                let (tx, rx) = c
                    .open_bi()
                    .await
                    .map_err(|e| TunnelError::Closed(format!("quic open: {e}")))?;
                Ok(Stream::quic(tx, rx))
            }
        }
    }

    /// Close the whole connection now.
    pub fn close(&self, reason: &str) {
        match &self.inner {
            HubInner::Quic(c) => c.close(quinn::VarInt::from_u32(0), reason.as_bytes()),
            HubInner::H2 { close_tx, .. } => {
                let _ = close_tx.send(true);
            }
        }
    }

    /// Resolves once the connection is gone.
    pub async fn closed(&self) {
        match &self.inner {
            HubInner::Quic(q) => {
                q.closed().await;
            }
            HubInner::H2 { closed, .. } => {
                let _ = closed.clone().wait_for(|x| *x).await;
            }
        }
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            HubInner::Quic(q) => q.close_reason().is_some(),
            HubInner::H2 { closed, .. } => *closed.borrow(),
        }
    }
}

/// The agent's side of a tunnel: streams the hub opens.
pub struct AgentConn {
    incoming: Mutex<mpsc::Receiver<Stream>>,
    transport: Transport,
    stop: watch::Sender<bool>,
    quic: Option<(quinn::Connection, quinn::Endpoint)>,
}

impl AgentConn {
    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The next stream the hub opened; None once the connection is gone.
    pub async fn accept(&self) -> Option<Stream> {
        self.incoming.lock().await.recv().await
    }

    /// Close the connection.
    pub fn close(&self) {
        let _ = self.stop.send(true);
        if let Some((c, _)) = &self.quic {
            c.close(quinn::VarInt::from_u32(0), b"agent closing");
        }
    }
}

impl Drop for AgentConn {
    fn drop(&mut self) {
        self.close();
    }
}

/// How an agent picks its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportChoice {
    /// TLS/TCP only.
    Grpc,
    /// QUIC only.
    Quic,
    /// Try QUIC, fall back to TLS/TCP when UDP is blocked.
    Auto,
}

impl std::str::FromStr for TransportChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grpc" | "tcp" => Ok(TransportChoice::Grpc),
            "quic" => Ok(TransportChoice::Quic),
            "auto" => Ok(TransportChoice::Auto),
            other => Err(format!(
                "unknown transport {other:?} (want grpc, quic or auto)"
            )),
        }
    }
}

/// Where and how an agent dials.
#[derive(Clone)]
pub struct DialConfig {
    /// `host:port` of the hub.
    pub endpoint: String,
    /// TLS client configuration: hub CA roots and the agent's client certificate. ALPN is set here.
    pub tls: Arc<rustls::ClientConfig>,
    /// Name to verify on the hub's certificate.
    pub server_name: String,
    /// Transport choice.
    pub transport: TransportChoice,
    /// How long to wait for QUIC before falling back (auto) or failing (quic).
    pub quic_timeout: Duration,
    /// A client QUIC endpoint to dial from. `None` (what an agent uses) binds a fresh UDP
    /// socket for each dial; many tunnels in one process (benchmarks, tests) share a few.
    pub quic_endpoint: Option<quinn::Endpoint>,
}

impl std::fmt::Debug for DialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialConfig")
            .field("endpoint", &self.endpoint)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Dial the hub and set up the tunnel.
pub async fn dial(cfg: &DialConfig) -> Result<AgentConn, TunnelError> {
    let mut tls = (*cfg.tls).clone();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let tls = Arc::new(tls);
    let addr = tokio::net::lookup_host(&cfg.endpoint)
        .await
        .map_err(|e| TunnelError::Dial(format!("resolving {}: {e}", cfg.endpoint)))?
        .next()
        .ok_or_else(|| TunnelError::Dial(format!("{} resolves to nothing", cfg.endpoint)))?;
    match cfg.transport {
        TransportChoice::Grpc => dial_tcp(addr, tls, &cfg.server_name).await,
        TransportChoice::Quic => tokio::time::timeout(
            cfg.quic_timeout,
            dial_quic(addr, tls, &cfg.server_name, cfg.quic_endpoint.as_ref()),
        )
        .await
        .map_err(|_| TunnelError::Dial(format!("QUIC handshake with {addr} timed out")))?,
        TransportChoice::Auto => {
            match tokio::time::timeout(
                cfg.quic_timeout,
                dial_quic(
                    addr,
                    Arc::clone(&tls),
                    &cfg.server_name,
                    cfg.quic_endpoint.as_ref(),
                ),
            )
            .await
            {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(TunnelError::Refused(m))) => Err(TunnelError::Refused(m)),
                outcome => {
                    let why = match outcome {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    tracing::info!(%addr, reason = %why, "QUIC unavailable; falling back to TLS over TCP");
                    dial_tcp(addr, tls, &cfg.server_name).await
                }
            }
        }
    }
}

fn server_name(name: &str) -> Result<rustls::pki_types::ServerName<'static>, TunnelError> {
    rustls::pki_types::ServerName::try_from(name.to_string())
        .map_err(|e| TunnelError::Dial(format!("bad server name {name}: {e}")))
}

async fn dial_tcp(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    name: &str,
) -> Result<AgentConn, TunnelError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| TunnelError::Dial(format!("connecting to {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(tls);
    let stream = connector
        .connect(server_name(name)?, tcp)
        .await
        .map_err(|e| TunnelError::Refused(format!("TLS with {addr}: {e}")))?;
    let mut conn = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_send_buffer_size(256 * 1024)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|e| {
            if e.is_io() {
                TunnelError::Refused(format!("hub closed the tunnel: {e}"))
            } else {
                TunnelError::H2(e)
            }
        })?;
    let (tx, rx) = mpsc::channel(64);
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                n = conn.accept() => n,
                _ = stopped.wait_for(|s| *s) => break,
            };
            match next {
                Some(Ok((req, mut respond))) => {
                    let body = req.into_body();
                    let resp = http::Response::builder()
                        .status(200)
                        .header("content-type", "application/grpc")
                        .body(());
                    let Ok(resp) = resp else { continue };
                    match respond.send_response(resp, false) {
                        Ok(send) => {
                            if tx.send(Stream::h2_agent(send, body)).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "could not answer a tunnel stream"),
                    }
                }
                Some(Err(e)) => {
                    tracing::info!(error = %e, "tunnel connection ended");
                    break;
                }
                None => break,
            }
        }
    });
    Ok(AgentConn {
        incoming: Mutex::new(rx),
        transport: Transport::Grpc,
        stop,
        quic: None,
    })
}

/// QUIC transport parameters of the agent's end: the hub may open up to 1024 streams at once
/// (proxied requests and watches).
pub fn quic_transport() -> Arc<quinn::TransportConfig> {
    Arc::new(transport_accepting(1024))
}

/// QUIC transport parameters of the hub's end, set for many idle tunnels (heap profile of 2,000
/// QUIC tunnels, issue 11):
/// - the hub opens every stream and the agent none, so the hub accepts no peer-opened streams:
///   quinn sets up state for every stream a peer may open, and the default limits (1024 here,
///   100 unidirectional) cost about 85 KiB per tunnel;
/// - no segmentation offload: quinn's per-connection send buffer keeps the capacity of its
///   largest batch for the connection's life (room for 10 datagrams once a handshake flight
///   needed two), and the hub's bulk runs the other way (the agent sends proxied responses);
/// - no path-MTU discovery from the hub's side (its probes and their state, for a direction that
///   carries little); the agent's side still discovers the path for the bulk it sends;
/// - no unreliable datagrams: the tunnel never uses them.
pub fn hub_quic_transport() -> Arc<quinn::TransportConfig> {
    let mut t = transport_accepting(0);
    t.enable_segmentation_offload(false);
    t.mtu_discovery_config(None);
    t.datagram_receive_buffer_size(None);
    Arc::new(t)
}

fn transport_accepting(peer_streams: u32) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_secs(10)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(Duration::from_secs(30)) {
        t.max_idle_timeout(Some(idle));
    }
    t.stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW));
    t.receive_window(quinn::VarInt::from_u32(CONN_WINDOW));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(peer_streams));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t
}

async fn dial_quic(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    name: &str,
    shared: Option<&quinn::Endpoint>,
) -> Result<AgentConn, TunnelError> {
    let quic_tls = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| TunnelError::Dial(format!("QUIC TLS config: {e}")))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic_tls));
    client.transport_config(quic_transport());
    let endpoint = match shared {
        Some(e) => e.clone(),
        None => {
            let bind: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            quinn::Endpoint::client(bind)
                .map_err(|e| TunnelError::Dial(format!("QUIC socket: {e}")))?
        }
    };
    let connecting = endpoint
        .connect_with(client, addr, name)
        .map_err(|e| TunnelError::Dial(format!("QUIC connect: {e}")))?;
    let conn = connecting.await.map_err(|e| match e {
        quinn::ConnectionError::ConnectionClosed(_)
        | quinn::ConnectionError::ApplicationClosed(_) => {
            TunnelError::Refused(format!("hub refused the QUIC tunnel: {e}"))
        }
        other => TunnelError::Dial(format!("QUIC handshake with {addr}: {other}")),
    })?;
    let (tx, rx) = mpsc::channel(64);
    let (stop, mut stopped) = watch::channel(false);
    let accept_conn = conn.clone();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                n = accept_conn.accept_bi() => n,
                _ = stopped.wait_for(|s| *s) => break,
            };
            match next {
                Ok((send, recv)) => {
                    if tx.send(Stream::quic(send, recv)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "QUIC tunnel ended");
                    break;
                }
            }
        }
    });
    Ok(AgentConn {
        incoming: Mutex::new(rx),
        transport: Transport::Quic,
        stop,
        quic: Some((conn, endpoint)),
    })
}
