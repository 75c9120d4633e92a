//! Forwarding a proxied request to the hub that holds the cluster's tunnel (several hubs of one
//! federation, see [`crate::owner`]). The hubs speak HTTP/2 over mutual TLS to each other: this
//! hub presents a certificate of the shared CA with O=[`HUBS_ORG`], and the holder, seeing that,
//! takes the caller's identity from the impersonation headers this hub sets from what it verified
//! (a proxy token or a user certificate), exactly as the tunnel would carry it. A forwarded
//! request is never forwarded again. One HTTP/2 connection per peer carries every forwarded
//! request, streams (watches, logs) included; the caller's proxy token is still watched here,
//! so a revoked kubeconfig ends a forwarded stream as it ends a local one.
//!
//! exec, attach and port-forward switch protocols (`Connection: Upgrade`, WebSocket or SPDY),
//! which HTTP/2 cannot carry: each of those gets an HTTP/1.1 connection of its own to the
//! holder, the holder's `101 Switching Protocols` is passed back to the caller, and the two
//! upgraded connections are spliced until either side closes (kube-apiserver's proxy does the
//! same for its upgrade-aware handler: `k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go`
//! dials the backend anew for an upgrade and copies both ways).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cceone_platform::ca::{HUBS_ORG, HubCa};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http2::SendRequest;
use parking_lot::Mutex;

use crate::https::{Body, status};
use crate::{Hub, HubError};

/// The header naming the hub that forwarded a request (also: never forward it again).
pub(crate) const FORWARDED_BY: &str = "x-cceone-forwarded-by";

/// How long the certificate a hub shows its peers is valid (made anew at each start).
const PEER_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Connections to the other hubs.
pub(crate) struct Forwarder {
    /// TLS offering `h2`: the shared connection per peer.
    tls: Arc<rustls::ClientConfig>,
    /// TLS offering `http/1.1`: one connection per upgraded request.
    tls_http1: Arc<rustls::ClientConfig>,
    conns: Mutex<HashMap<String, SendRequest<Incoming>>>,
}

impl Forwarder {
    /// A forwarder presenting a peer certificate for hub `me` from `ca`.
    pub(crate) fn new(ca: &HubCa, me: &str) -> Result<Forwarder, HubError> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        let tls_err = |e: &dyn std::fmt::Display| HubError::Tls(e.to_string());
        let (cert_pem, key_pem) = ca.sign_hub_peer(me, PEER_CERT_VALIDITY)?;
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_err(&e))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| tls_err(&e))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.ca_pem().as_bytes()) {
            roots
                .add(c.map_err(|e| tls_err(&e))?)
                .map_err(|e| tls_err(&e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_err(&e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| tls_err(&e))?;
        let mut tls_http1 = tls.clone();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        tls_http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Forwarder {
            tls: Arc::new(tls),
            tls_http1: Arc::new(tls_http1),
            conns: Mutex::default(),
        })
    }

    /// A new TLS connection to the hub at `endpoint` (within 5 s).
    async fn dial(
        endpoint: &str,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        let host = endpoint
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .ok_or_else(|| format!("peer endpoint {endpoint:?} is not host:port"))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("peer endpoint {endpoint:?}: {e}"))?;
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(endpoint)
                .await
                .map_err(|e| format!("connecting to {endpoint}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            tokio_rustls::TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {endpoint}: {e}"))
        };
        tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| format!("connecting to {endpoint} timed out"))?
    }

    /// The HTTP/2 connection to `endpoint`, reused while it lasts.
    async fn connection(&self, endpoint: &str) -> Result<SendRequest<Incoming>, String> {
        if let Some(c) = self.conns.lock().get(endpoint).cloned()
            && !c.is_closed()
        {
            return Ok(c);
        }
        let tls = Forwarder::dial(endpoint, &self.tls).await?;
        let (sender, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Duration::from_secs(30))
                .keep_alive_timeout(Duration::from_secs(20))
                .handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP/2 with {endpoint}: {e}"))?;
        let peer = endpoint.to_string();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer, error = %e, "connection to a peer hub ended");
            }
        });
        self.conns
            .lock()
            .insert(endpoint.to_string(), sender.clone());
        Ok(sender)
    }
}

/// The caller a forwarding hub vouches for, when `groups` (of the client certificate) make the
/// caller a hub: the user and groups of its impersonation headers.
pub(crate) fn vouched_identity(
    cert_groups: &[String],
    headers: &http::HeaderMap,
) -> Option<(String, Vec<String>)> {
    if !cert_groups.iter().any(|g| g == HUBS_ORG) {
        return None;
    }
    let user = headers.get("impersonate-user")?.to_str().ok()?.to_string();
    let groups = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    Some((user, groups))
}

/// Forward `req` (for `cluster`, proxied as `user` in `groups`) to hub `holder` at `endpoint`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn forward(
    hub: Arc<Hub>,
    cluster: &str,
    holder: &str,
    endpoint: &str,
    req: Request<Incoming>,
    user: &str,
    groups: &[String],
    bearer: Option<String>,
) -> Response<Body> {
    if let Some(protocol) = crate::https::upgrade_of(req.headers()) {
        return forward_upgrade(
            hub, cluster, holder, endpoint, req, user, groups, bearer, protocol,
        )
        .await;
    }
    let sender = match hub.forwarder.connection(endpoint).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(cluster, holder, error = %e, "forwarding to the holding hub failed");
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!(
                    "cluster {cluster} is connected to hub {holder}, which cannot be reached from this hub"
                ),
            );
        }
    };
    let (parts, body) = req.into_parts();
    let out = match outbound(&hub, &parts, endpoint, user, groups) {
        Ok(b) => b.body(body),
        Err(e) => return bad_path(&e),
    };
    let out = match out {
        Ok(r) => r,
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("request headers: {e}"),
            );
        }
    };
    let mut sender = sender;
    let resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => {
            hub.forwarder.conns.lock().remove(endpoint);
            return bad_gateway(holder, &e);
        }
    };
    hub.metrics
        .proxy_forwarded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (parts, mut incoming) = resp.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    let cluster = cluster.to_string();
    tokio::spawn(async move {
        let revoked = async {
            match &bearer {
                Some(t) => hub.proxy_tokens.still_valid(t, &cluster).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(revoked);
        loop {
            let frame = tokio::select! {
                f = incoming.frame() => f,
                // The caller went away: dropping the holder's answer resets its HTTP/2 stream,
                // and the holder ends the member's request in turn.
                () = tx.closed() => return,
                () = &mut revoked => {
                    let _ = tx
                        .send(Err(std::io::Error::other("the proxy kubeconfig was revoked or expired")))
                        .await;
                    return;
                }
            };
            match frame {
                Some(Ok(f)) => {
                    if f.is_data() && tx.send(Ok(f)).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
                None => return,
            }
        }
    });
    let mut resp = Response::new(
        StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed_unsync(),
    );
    *resp.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if crate::https::forwardable(name.as_str()) {
            resp.headers_mut().append(name, value.clone());
        }
    }
    resp
}

/// The answer to a request whose path makes no URI.
fn bad_path(e: &http::uri::InvalidUri) -> Response<Body> {
    status(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("request path: {e}"),
    )
}

/// The answer when sending a request to hub `holder` failed.
fn bad_gateway(holder: &str, e: &hyper::Error) -> Response<Body> {
    status(
        StatusCode::BAD_GATEWAY,
        "ServiceUnavailable",
        &format!("forwarding to hub {holder}: {e}"),
    )
}

/// The request to send the holder for the caller's `parts`: the same method, path and
/// forwardable headers, with the caller's identity as impersonation headers and this hub named
/// as the forwarder.
fn outbound(
    hub: &Hub,
    parts: &http::request::Parts,
    endpoint: &str,
    user: &str,
    groups: &[String],
) -> Result<http::request::Builder, http::uri::InvalidUri> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = format!("https://{endpoint}{path}").parse::<http::Uri>()?;
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in &parts.headers {
        if crate::https::forwardable(name.as_str()) {
            out = out.header(name, value);
        }
    }
    out = out
        .header("impersonate-user", user)
        .header(FORWARDED_BY, hub.peers.me());
    for g in groups {
        out = out.header("impersonate-group", g);
    }
    Ok(out)
}

/// Forward an upgrade request (exec, attach, port-forward) to the holder over an HTTP/1.1
/// connection of its own; once the holder switches protocols, answer the caller 101 with its
/// headers and splice the two upgraded connections until either side closes (or the caller's
/// proxy kubeconfig is revoked). Anything else the holder answers goes back as it is.
#[allow(clippy::too_many_arguments)]
async fn forward_upgrade(
    hub: Arc<Hub>,
    cluster: &str,
    holder: &str,
    endpoint: &str,
    mut req: Request<Incoming>,
    user: &str,
    groups: &[String],
    bearer: Option<String>,
    protocol: String,
) -> Response<Body> {
    let unreachable = |e: &str| {
        tracing::warn!(cluster, holder, error = %e, "forwarding an upgrade to the holding hub failed");
        status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &format!(
                "cluster {cluster} is connected to hub {holder}, which cannot be reached from this hub"
            ),
        )
    };
    let tls = match Forwarder::dial(endpoint, &hub.forwarder.tls_http1).await {
        Ok(t) => t,
        Err(e) => return unreachable(&e),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::Builder::new()
        .handshake::<_, http_body_util::Empty<Bytes>>(hyper_util::rt::TokioIo::new(tls))
        .await
    {
        Ok(x) => x,
        Err(e) => return unreachable(&e.to_string()),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upgrade connection to a peer hub ended");
        }
    });
    let caller_upgrade = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    let out = match outbound(&hub, &parts, endpoint, user, groups) {
        Ok(b) => b,
        Err(e) => return bad_path(&e),
    };
    // HTTP/1.1 to the holder: origin-form target, a Host header, and the upgrade asked for.
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let out = out
        .uri(path)
        .header(http::header::HOST, endpoint)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, protocol)
        .body(http_body_util::Empty::<Bytes>::new());
    let out = match out {
        Ok(r) => r,
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("request headers: {e}"),
            );
        }
    };
    let mut resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => return bad_gateway(holder, &e),
    };
    hub.metrics
        .proxy_forwarded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Refused (RBAC, a bad request, no such pod): the holder's answer, as it is.
        return resp.map(|b| b.map_err(std::io::Error::other).boxed_unsync());
    }
    let holder_upgrade = hyper::upgrade::on(&mut resp);
    let mut answer = Response::new(
        http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in resp.headers() {
        let n = name.as_str();
        if crate::https::forwardable(n) || n == "upgrade" || n == "connection" {
            answer.headers_mut().append(name, value.clone());
        }
    }
    let cluster = cluster.to_string();
    tokio::spawn(async move {
        let (caller, holder) = match tokio::join!(caller_upgrade, holder_upgrade) {
            (Ok(c), Ok(h)) => (c, h),
            (c, h) => {
                tracing::debug!(
                    cluster,
                    caller = c.is_ok(),
                    holder = h.is_ok(),
                    "a forwarded upgrade did not complete"
                );
                return;
            }
        };
        let mut caller = hyper_util::rt::TokioIo::new(caller);
        let mut holder = hyper_util::rt::TokioIo::new(holder);
        let revoked = async {
            match &bearer {
                Some(t) => hub.proxy_tokens.still_valid(t, &cluster).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            moved = tokio::io::copy_bidirectional(&mut caller, &mut holder) => {
                tracing::debug!(cluster, ?moved, "forwarded upgraded stream ended");
            }
            () = revoked => {
                tracing::info!(cluster, "ending a forwarded upgraded stream: its kubeconfig was revoked or expired");
            }
        }
    });
    answer
}
