//! The hub's listeners on one port: TLS over TCP (the tunnel ALPN becomes an agent session,
//! anything else is HTTPS) and QUIC over UDP. Admission ([`crate::admission`]) keeps a reconnect
//! storm or a hostile peer from flattening the hub.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;

use crate::Hub;
use crate::admission::Transport;
use crate::https::CertUser;
use crate::session::PeerCert;

/// Longest a TLS or QUIC handshake may take once it holds a slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose certificate is this: an agent's (cluster name) or a user's.
enum Peer {
    Cluster(String, PeerCert),
    User(CertUser),
    Anonymous,
    Unknown,
}

/// (notBefore, notAfter) of a certificate, unix seconds.
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    Some((
        c.validity().not_before.timestamp(),
        c.validity().not_after.timestamp(),
    ))
}

fn classify(certs: Option<&[CertificateDer<'static>]>) -> Peer {
    let Some(first) = certs.and_then(|c| c.first()) else {
        return Peer::Anonymous;
    };
    if let Some(cluster) = cceone_platform::ca::cluster_of_cert(first.as_ref()) {
        let (not_before, not_after) = validity(first.as_ref()).unzip();
        let cert = PeerCert {
            not_before,
            not_after,
            serial: crate::serials::of_der(first.as_ref()),
        };
        return Peer::Cluster(cluster, cert);
    }
    let Ok((_, c)) = x509_parser::parse_x509_certificate(first.as_ref()) else {
        return Peer::Unknown;
    };
    let name = c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|n| n.as_str().ok())
        .map(String::from);
    let groups = c
        .subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    match name {
        Some(name) => Peer::User(CertUser { name, groups }),
        None => Peer::Unknown,
    }
}

/// Check a tunnel's identity; Some(cluster) when it may hold a session.
fn admit_tunnel(hub: &Hub, peer: Peer, addr: std::net::SocketAddr) -> Option<(String, PeerCert)> {
    match peer {
        Peer::Cluster(name, cert) => match hub.clusters.get(&name) {
            Some(info) if info.keeps_tunnel() => {
                // What this hub wrote is newer than its cache, unless another hub has held the
                // tunnel since (and may have rotated the certificate): then the cluster's status.
                let allowed = if info.hub.is_empty() || info.hub == hub.peers.me() {
                    hub.serials.current(&name, info.created, &info.serials)
                } else {
                    info.serials.clone()
                };
                let issued_at = cert
                    .not_before
                    .map(|nb| nb + cceone_platform::ca::BACKDATE.as_secs() as i64);
                let registered_at = info.created.map(|t| t.as_second());
                if crate::serials::admits(
                    &allowed,
                    cert.serial.as_deref(),
                    issued_at,
                    registered_at,
                ) {
                    return Some((name, cert));
                }
                hub.metrics.refuse("retired_certificate");
                tracing::warn!(
                    cluster = name,
                    %addr,
                    serial = cert.serial.as_deref().unwrap_or("-"),
                    "tunnel refused: the certificate was retired by a later registration or rotation"
                );
                None
            }
            Some(_) => {
                hub.metrics.refuse("revoked");
                tracing::warn!(cluster = name, %addr, "tunnel refused: the cluster is revoked or unsubscribed");
                None
            }
            None => {
                hub.metrics.refuse("unknown_cluster");
                tracing::warn!(cluster = name, %addr, "tunnel refused: no such registered cluster");
                None
            }
        },
        _ => {
            hub.metrics.refuse("no_cluster_certificate");
            tracing::warn!(%addr, "tunnel refused: no cluster client certificate");
            None
        }
    }
}

/// Accept TLS/TCP connections forever. See [`crate::admission`] for what a peer may hold
/// before it has authenticated.
pub(crate) async fn serve_tcp(
    hub: Arc<Hub>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) {
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(connection) = hub.admission.connection() else {
            hub.metrics.refuse("connection_cap");
            tracing::debug!(%addr, "connection refused: the hub is at its connection cap");
            continue;
        };
        let Some(source) = hub.admission.source(addr.ip()) else {
            hub.metrics.refuse("source_cap");
            tracing::debug!(%addr, "connection refused: too many unauthenticated connections from this source");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let hub = Arc::clone(&hub);
        let tls = Arc::clone(&tls);
        tokio::spawn(async move {
            let _connection = connection;
            // The handshake, the HTTP/2 setup and the HTTPS server are boxed: the task of a
            // tunnel lives as long as the tunnel, and inlined they would size it (it is then
            // only the session's state).
            let Some(tls) = Box::pin(handshake_tcp(&hub, tcp, addr, tls)).await else {
                return;
            };
            let (_, session) = tls.get_ref();
            let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
            let peer = classify(session.peer_certificates());
            if alpn.as_deref() == Some(cceone_tunnel::ALPN) {
                let Some((cluster, na)) = admit_tunnel(&hub, peer, addr) else {
                    return;
                };
                let conn = match Box::pin(cceone_tunnel::HubConn::over_tls(tls, addr)).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::info!(%addr, cluster, error = %e, "tunnel setup failed");
                        return;
                    }
                };
                drop(source);
                crate::session::run(hub, cluster, conn, na).await;
            } else {
                drop(source);
                let user = match peer {
                    Peer::User(u) => Some(u),
                    _ => None,
                };
                Box::pin(crate::https::serve(hub, tls, user, addr)).await;
            }
        });
    }
}

/// The TLS handshake of one TCP peer: its whole ClientHello within the short timeout, then a
/// handshake slot, then the rest of the handshake; None (counted) when any step fails.
async fn handshake_tcp(
    hub: &Hub,
    tcp: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let hello = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let start = match tokio::time::timeout(hub.cfg.client_hello_timeout, hello).await {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => {
            hub.metrics.refuse("client_hello");
            tracing::debug!(%addr, error = %e, "no valid ClientHello");
            return None;
        }
        Err(_) => {
            hub.metrics.refuse("client_hello_timeout");
            return None;
        }
    };
    hub.metrics
        .admission_waiting
        .fetch_add(1, Ordering::Relaxed);
    let slot = hub.admission.handshake(Transport::Tcp).await;
    hub.metrics
        .admission_waiting
        .fetch_sub(1, Ordering::Relaxed);
    let Some(_slot) = slot else {
        hub.metrics.refuse("handshake_busy");
        return None;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(tls)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            hub.metrics.refuse("tls_handshake");
            tracing::info!(%addr, error = %e, "TLS handshake refused");
            None
        }
        Err(_) => {
            hub.metrics.refuse("tls_timeout");
            None
        }
    }
}

/// Accept plain-HTTP health connections forever (no admission queue: probes never wait behind
/// agents' handshakes).
pub(crate) async fn serve_health(hub: Arc<Hub>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(crate::https::serve_health(Arc::clone(&hub), tcp));
            }
            Err(e) => {
                tracing::warn!(error = %e, "health accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Accept QUIC connections forever: an unvalidated address is sent a stateless Retry first
/// (spoofed sources never come back), and handshakes take slots of their own pool.
pub(crate) async fn serve_quic(hub: Arc<Hub>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let addr = incoming.remote_address();
        if !incoming.remote_address_validated() && incoming.may_retry() {
            if incoming.retry().is_err() {
                hub.metrics.refuse("quic_retry");
            }
            continue;
        }
        let Some(source) = hub.admission.source(addr.ip()) else {
            hub.metrics.refuse("source_cap");
            incoming.refuse();
            continue;
        };
        // The Incoming (a few hundred bytes) is boxed: the task lives as long as the tunnel,
        // and its arguments stay part of it.
        tokio::spawn(quic_tunnel(Arc::clone(&hub), Box::new(incoming), source));
    }
}

/// One QUIC connection: a handshake slot, the handshake, the agent's identity, then its session.
async fn quic_tunnel(
    hub: Arc<Hub>,
    incoming: Box<quinn::Incoming>,
    source: crate::admission::SourceGuard,
) {
    // Boxed, as over TCP: the task lives as long as the tunnel.
    let Some((cluster, cert, conn)) = Box::pin(quic_handshake(&hub, *incoming)).await else {
        return;
    };
    drop(source);
    let hub_conn = cceone_tunnel::HubConn::over_quic(conn);
    crate::session::run(hub, cluster, hub_conn, cert).await;
}

/// The handshake of one QUIC peer and its admission as a cluster's tunnel; None (counted, and
/// the connection refused or closed) when any step fails.
async fn quic_handshake(
    hub: &Hub,
    incoming: quinn::Incoming,
) -> Option<(String, PeerCert, quinn::Connection)> {
    let addr = incoming.remote_address();
    hub.metrics
        .admission_waiting
        .fetch_add(1, Ordering::Relaxed);
    let permit = hub.admission.handshake(Transport::Quic).await;
    hub.metrics
        .admission_waiting
        .fetch_sub(1, Ordering::Relaxed);
    let Some(permit) = permit else {
        hub.metrics.refuse("handshake_busy");
        incoming.refuse();
        return None;
    };
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            hub.metrics.refuse("quic_handshake");
            tracing::info!(%addr, error = %e, "QUIC handshake refused");
            return None;
        }
        Err(_) => {
            hub.metrics.refuse("tls_timeout");
            return None;
        }
    };
    drop(permit);
    let certs = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok());
    let peer = classify(certs.as_deref().map(Vec::as_slice));
    let Some((cluster, cert)) = admit_tunnel(hub, peer, addr) else {
        conn.close(quinn::VarInt::from_u32(403), b"tunnel refused");
        return None;
    };
    Some((cluster, cert, conn))
}
