//! Forwarding a proxied request to the hub that holds the cluster's tunnel (several hubs of one
//! federation, see [`crate::owner`]). The hubs speak HTTP/2 over mutual TLS to each other: this
//! hub presents a certificate of the shared CA with O=[`HUBS_ORG`], and the holder, seeing that,
//! takes the caller's identity from the impersonation headers this hub sets from what it verified
//! (a proxy token or a user certificate), exactly as the tunnel would carry it. A forwarded
//! request is never forwarded again. One HTTP/2 connection per peer carries every forwarded
//! request, streams (watches, logs) included; the caller's proxy token is still watched here,
//! so a revoked kubeconfig ends a forwarded stream as it ends a local one.

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
    tls: Arc<rustls::ClientConfig>,
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
        tls.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Forwarder {
            tls: Arc::new(tls),
            conns: Mutex::default(),
        })
    }

    /// The HTTP/2 connection to `endpoint`, reused while it lasts.
    async fn connection(&self, endpoint: &str) -> Result<SendRequest<Incoming>, String> {
        if let Some(c) = self.conns.lock().get(endpoint).cloned()
            && !c.is_closed()
        {
            return Ok(c);
        }
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
            tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {endpoint}: {e}"))
        };
        let tls = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| format!("connecting to {endpoint} timed out"))??;
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
    if crate::https::upgrade_of(req.headers()).is_some() {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &format!(
                "cluster {cluster} is connected to hub {holder}; exec, attach and port-forward must go to that hub"
            ),
        );
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
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = match format!("https://{endpoint}{path}").parse::<http::Uri>() {
        Ok(u) => u,
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("request path: {e}"),
            );
        }
    };
    let mut out = Request::builder().method(parts.method).uri(uri);
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
    let out = match out.body(body) {
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
            return status(
                StatusCode::BAD_GATEWAY,
                "ServiceUnavailable",
                &format!("forwarding to hub {holder}: {e}"),
            );
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
