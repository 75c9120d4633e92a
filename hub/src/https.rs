//! Plain HTTPS on the hub's port (connections without the tunnel ALPN): health and metrics,
//! agent registration, and the cluster proxy that carries any Kubernetes API request through a
//! cluster's tunnel, streaming included, with the caller's identity as impersonation headers.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use cceone_proto::v1::{self, stream_open};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use crate::Hub;

pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn json_resp(code: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A Kubernetes `Status` error, so kubectl prints it well.
pub(crate) fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_resp(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": reason, "message": message, "code": code.as_u16()}),
    )
}

fn text(code: StatusCode, s: &str) -> Response<Body> {
    let mut r = Response::new(full(s.to_string()));
    *r.status_mut() = code;
    r
}

/// Who called, from the TLS client certificate (a user certificate issued by the hub CA).
#[derive(Debug, Clone)]
pub(crate) struct CertUser {
    pub(crate) name: String,
    pub(crate) groups: Vec<String>,
}

/// Serve one HTTPS connection.
pub(crate) async fn serve<IO>(
    hub: Arc<Hub>,
    io: IO,
    cert_user: Option<CertUser>,
    peer: std::net::SocketAddr,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = hub.cfg.header_read_timeout;
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let hub = Arc::clone(&hub);
        let cert_user = cert_user.clone();
        async move { Ok::<_, Infallible>(route(hub, req, cert_user, peer).await) }
    });
    let builder = http_builder(header_read_timeout);
    // Upgrades: exec, attach and port-forward through the cluster proxy switch protocols.
    if let Err(e) = builder
        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), svc)
        .await
    {
        tracing::debug!(error = %e, "https connection ended with an error");
    }
}

/// An HTTP/1 and HTTP/2 server whose clients must send each request's headers within
/// `header_read_timeout` of the connection being ready for one (a slow or idle HTTP/1 client is
/// closed), and whose HTTP/2 peers must answer pings (a vanished one is closed).
fn http_builder(
    header_read_timeout: std::time::Duration,
) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(std::time::Duration::from_secs(30))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    builder
}

/// The health endpoints, or None for any other path. `/metrics` only when `metrics` (the plain
/// health port): the public port answers anyone who can reach it, and what the hub counts (live
/// sessions, refusals by reason, sources in admission) tells an attacker how an attack is going.
fn probe(hub: &Hub, path: &str, metrics: bool) -> Option<Response<Body>> {
    Some(match path {
        "/healthz" | "/livez" => text(StatusCode::OK, "ok"),
        "/readyz" => {
            if hub.clusters.is_ready() {
                text(StatusCode::OK, "ok")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "registered clusters not loaded yet",
                )
            }
        }
        "/metrics" if metrics => {
            let mut m = hub.metrics.render();
            m.push_str(&format!("# HELP cceone_hub_sessions Live agent sessions.\n# TYPE cceone_hub_sessions gauge\ncceone_hub_sessions {}\n", hub.sessions.len()));
            m.push_str(&format!(
                "# HELP cceone_hub_connections Open TCP connections.\n# TYPE cceone_hub_connections gauge\ncceone_hub_connections {}\n\
                 # HELP cceone_hub_unauthenticated_sources Source addresses with connections still in admission.\n# TYPE cceone_hub_unauthenticated_sources gauge\ncceone_hub_unauthenticated_sources {}\n",
                hub.admission.open_connections(),
                hub.admission.pending_sources()
            ));
            text(StatusCode::OK, &m)
        }
        _ => return None,
    })
}

/// Serve one plain-HTTP connection of the health listener: probes and metrics only.
pub(crate) async fn serve_health(hub: Arc<Hub>, io: tokio::net::TcpStream) {
    let header_read_timeout = hub.cfg.header_read_timeout;
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let hub = Arc::clone(&hub);
        async move {
            Ok::<_, Infallible>(probe(&hub, req.uri().path(), true).unwrap_or_else(|| {
                status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "this port serves /healthz, /livez, /readyz and /metrics",
                )
            }))
        }
    });
    let builder = http_builder(header_read_timeout);
    if let Err(e) = builder
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await
    {
        tracing::debug!(error = %e, "health connection ended with an error");
    }
}

async fn route(
    hub: Arc<Hub>,
    req: Request<Incoming>,
    cert_user: Option<CertUser>,
    peer: std::net::SocketAddr,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(r) = probe(&hub, &path, false) {
        return r;
    }
    match (req.method().clone(), path.as_str()) {
        (http::Method::POST, "/v1/register") => register(&hub, req, peer.ip()).await,
        (_, p) if p.starts_with("/clusters/") => match hub.audit.clone() {
            Some(log) => log.around(req, peer, |r| proxy(hub, r, cert_user)).await,
            None => proxy(hub, req, cert_user).await,
        },
        (_, "/metrics") => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "metrics are served on the hub's health port only (--health-listen)",
        ),
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the hub serves /v1/register, /clusters/<name>/proxy/..., /healthz, /livez and /readyz",
        ),
    }
}

async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(body, limit);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string())
}

async fn register(
    hub: &Arc<Hub>,
    req: Request<Incoming>,
    source: std::net::IpAddr,
) -> Response<Body> {
    if !hub.guesses.allowed(source, std::time::Instant::now()) {
        hub.metrics.refuse("token_rate_limited");
        return status(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many refused bootstrap tokens from this address; retry later",
        );
    }
    let body = match read_limited(req.into_body(), crate::registration::MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("reading the body: {e}"),
            );
        }
    };
    let reg = match crate::registration::parse_registration(&body) {
        Ok(r) => r,
        Err(e) => {
            hub.metrics.refuse("malformed_registration");
            return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string());
        }
    };
    let (token, csr) = (reg.token.as_str(), reg.csr_pem.as_str());
    // Check the CSR before redeeming: a token spent on an unusable CSR could not be used again.
    if let Err(e) = cceone_platform::ca::check_csr(csr) {
        hub.metrics.refuse("bad_csr");
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("the CSR was refused: {e}"),
        );
    }
    let cluster = match cceone_platform::token::redeem(&hub.client, token, jiff::Timestamp::now())
        .await
    {
        Ok(c) => c,
        // The federation API failing says nothing about the token: the agent must retry,
        // not give up as it does on a 401.
        Err(e @ cceone_platform::TokenError::Api(_)) => {
            tracing::warn!(error = %e, "registration failed: the federation API is unavailable");
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!("checking the bootstrap token failed; retry: {e}"),
            );
        }
        Err(e) => {
            let reason = e.reason();
            hub.metrics.refuse(reason);
            hub.guesses.failed(source, std::time::Instant::now());
            tracing::warn!(reason, %source, error = %e, "registration refused");
            // An unknown id and a wrong secret get the same words: the answer must not say
            // which token ids exist. Expired or used is only said to whoever knows the secret.
            let told = match e {
                cceone_platform::TokenError::Unknown | cceone_platform::TokenError::WrongSecret => {
                    "unknown token or wrong secret".to_string()
                }
                e => e.to_string(),
            };
            return status(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                &format!("bootstrap token refused: {told}"),
            );
        }
    };
    if hub
        .clusters
        .get(&cluster)
        .is_some_and(|c| !c.admits_tunnel())
    {
        hub.metrics.refuse("revoked");
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("cluster {cluster} is revoked or unsubscribed"),
        );
    }
    match hub
        .ca
        .sign_cluster_csr(csr, &cluster, hub.cfg.cert_validity)
    {
        Ok((cert, not_after)) => {
            hub.metrics.registrations.fetch_add(1, Ordering::Relaxed);
            let agent_version = reg.agent_version.as_str();
            tracing::info!(cluster, agent_version, "agent registered");
            let at = jiff::Timestamp::now();
            let op = cceone_platform::phase::Operation::new(
                at,
                "Register",
                "AgentRegistered",
                "the agent redeemed its bootstrap token and received a client certificate",
            );
            hub.clusters.append_operation(&cluster, op).await;
            record_registration(hub, &cluster, &cert).await;
            json_resp(
                StatusCode::OK,
                &json!({"clusterName": cluster, "certificatePem": cert, "caPem": hub.ca.ca_pem(), "notAfter": not_after}),
            )
        }
        Err(e) => {
            hub.metrics.refuse("bad_csr");
            status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("the CSR was refused: {e}"),
            )
        }
    }
}

/// A registration issued `cert`: from now on it (and its rotations) alone speaks for the
/// cluster; every certificate issued before is retired, and a session holding one is closed.
async fn record_registration(hub: &Hub, cluster: &str, cert: &str) {
    let Some(serial) = crate::serials::of_pem(cert) else {
        tracing::error!(
            cluster,
            "the certificate just issued has no readable serial"
        );
        return;
    };
    let list = crate::serials::after_registration(&serial);
    let info = hub.clusters.get(cluster);
    hub.serials
        .set(cluster, info.as_ref().and_then(|c| c.created), list.clone());
    hub.sessions.close_unless_serial(cluster, &list);
    let generation = info.map_or(0, |c| c.registration_generation) + 1;
    tracing::info!(
        cluster,
        serial,
        generation,
        "registration recorded; earlier certificates retired"
    );
    hub.clusters
        .patch_status(
            cluster,
            json!({"certificateSerials": list, "registrationGeneration": generation}),
        )
        .await;
}

/// Headers the proxy never forwards: credentials, impersonation (set from the caller's verified
/// identity instead) and hop-by-hop headers.
pub(crate) fn forwardable(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !(n == "authorization"
        || n.starts_with("impersonate-")
        || matches!(
            n.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "te"
                | "trailer"
                | "host"
                | "content-length"
        ))
}

async fn proxy(
    hub: Arc<Hub>,
    mut req: Request<Incoming>,
    cert_user: Option<CertUser>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let rest = path.trim_start_matches("/clusters/");
    let (cluster, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(member_path) = tail.strip_prefix("proxy") else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "use /clusters/<name>/proxy/<kubernetes API path>",
        );
    };
    let member_path = if member_path.is_empty() {
        "/".to_string()
    } else {
        member_path.to_string()
    };
    let member_path = match req.uri().query() {
        Some(q) => format!("{member_path}?{q}"),
        None => member_path,
    };
    let bearer = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|s| s.trim().to_string());
    // Another hub of the federation forwarding a request it authenticated (see
    // crate::forward): the caller is who it vouches for, and it is not forwarded again.
    let forwarded = req.headers().contains_key(crate::forward::FORWARDED_BY);
    let from_hub = cert_user
        .as_ref()
        .is_some_and(|u| u.groups.iter().any(|g| g == cceone_platform::ca::HUBS_ORG));
    let vouched = cert_user
        .as_ref()
        .and_then(|u| crate::forward::vouched_identity(&u.groups, req.headers()));
    let (user, groups) = match (bearer.as_deref(), cert_user) {
        _ if from_hub => match vouched {
            Some(v) => v,
            None => {
                hub.metrics.refuse("no_credentials");
                return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
            }
        },
        (Some(t), _) => match hub.proxy_tokens.verify(t, cluster) {
            Some(x) => x,
            None => {
                hub.metrics.refuse("bad_proxy_token");
                tracing::warn!(
                    cluster,
                    "proxy request with an unknown, expired, revoked or foreign token"
                );
                return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
            }
        },
        (None, Some(u)) => (u.name, u.groups),
        (None, None) => {
            hub.metrics.refuse("no_credentials");
            return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
        }
    };
    crate::audit::identify(&req, &user, &groups);
    let Some(session) = hub.sessions.get(cluster) else {
        if !forwarded && let Some((holder, endpoint)) = crate::owner::forward_to(&hub, cluster) {
            return Box::pin(crate::forward::forward(
                Arc::clone(&hub),
                cluster,
                &holder,
                &endpoint,
                req,
                &user,
                &groups,
                bearer,
            ))
            .await;
        }
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &format!("cluster {cluster} is not connected to the hub"),
        );
    };
    hub.metrics.proxy_requests.fetch_add(1, Ordering::Relaxed);
    let headers: Vec<v1::Header> = req
        .headers()
        .iter()
        .filter(|(n, _)| forwardable(n.as_str()))
        .filter_map(|(n, v)| {
            v.to_str().ok().map(|v| v1::Header {
                name: n.as_str().to_string(),
                value: v.to_string(),
            })
        })
        .collect();
    let mut headers = headers;
    // exec, attach and port-forward (WebSocket or SPDY): the upgrade goes to the member, and
    // once it switches protocols the bytes flow both ways on the same tunnel stream.
    let upgrade = upgrade_of(req.headers());
    if let Some(u) = &upgrade {
        headers.push(v1::Header {
            name: "upgrade".into(),
            value: u.clone(),
        });
    }
    // With the audit log's completion, which waits for the upgraded stream's end.
    let on_upgrade = upgrade
        .is_some()
        .then(|| (hyper::upgrade::on(&mut req), crate::audit::completion(&req)));
    let method = req.method().to_string();
    let has_body = upgrade.is_none()
        && !matches!(
            req.method(),
            &http::Method::GET | &http::Method::HEAD | &http::Method::OPTIONS
        );
    let mut stream = match session.conn.open().await {
        Ok(s) => s,
        Err(e) => {
            return status(
                StatusCode::BAD_GATEWAY,
                "ServiceUnavailable",
                &format!("opening a tunnel stream to {cluster}: {e}"),
            );
        }
    };
    let open = v1::StreamOpen {
        kind: Some(stream_open::Kind::Proxy(v1::ProxyRequest {
            method,
            path: member_path,
            headers,
            user,
            groups,
            has_body,
        })),
    };
    if let Err(e) = stream.send(&open).await {
        return status(
            StatusCode::BAD_GATEWAY,
            "ServiceUnavailable",
            &format!("tunnel to {cluster}: {e}"),
        );
    }
    let (mut tx, mut rx) = stream.split();
    if has_body {
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data()
                && tx.send(&v1::ProxyChunk { data, end: false }).await.is_err()
            {
                break;
            }
        }
        let _ = tx
            .send(&v1::ProxyChunk {
                data: Bytes::new(),
                end: true,
            })
            .await;
    }
    let head = match rx.recv::<v1::ProxyResponse>().await {
        Ok(Some(h)) => h,
        Ok(None) => {
            return status(
                StatusCode::BAD_GATEWAY,
                "ServiceUnavailable",
                &format!("{cluster} closed the proxy stream"),
            );
        }
        Err(e) => {
            return status(
                StatusCode::BAD_GATEWAY,
                "ServiceUnavailable",
                &format!("tunnel to {cluster}: {e}"),
            );
        }
    };
    if let (Some(on_upgrade), StatusCode::SWITCHING_PROTOCOLS) = (
        on_upgrade,
        StatusCode::from_u16(head.status as u16).unwrap_or(StatusCode::BAD_GATEWAY),
    ) {
        return switched(hub, cluster, bearer, head, on_upgrade, tx, rx);
    }
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    let metrics = Arc::clone(&hub);
    // A stream opened with a proxy kubeconfig ends when that kubeconfig is revoked or expires.
    let revoked = {
        let hub = Arc::clone(&hub);
        let cluster = cluster.to_string();
        async move {
            match bearer {
                Some(t) => hub.proxy_tokens.still_valid(&t, &cluster).await,
                None => std::future::pending().await,
            }
        }
    };
    tokio::spawn(async move {
        let mut tx = tx;
        tokio::pin!(revoked);
        loop {
            let chunk = tokio::select! {
                c = rx.recv::<v1::ProxyChunk>() => c,
                // The caller went away (a quiet watch or `logs -f` included): the agent is told
                // at once, so the member's request ends too.
                () = body_tx.closed() => {
                    cceone_tunnel::cancel(&mut tx, &mut rx);
                    return;
                }
                () = &mut revoked => {
                    tracing::info!("ending a proxied stream: its kubeconfig was revoked or expired");
                    cceone_tunnel::cancel(&mut tx, &mut rx);
                    let _ = body_tx
                        .send(Err(std::io::Error::other("the proxy kubeconfig was revoked or expired")))
                        .await;
                    return;
                }
            };
            match chunk {
                Ok(Some(c)) => {
                    if !c.data.is_empty() {
                        metrics
                            .metrics
                            .proxy_bytes
                            .fetch_add(c.data.len() as u64, Ordering::Relaxed);
                        if body_tx.send(Ok(Frame::data(c.data))).await.is_err() {
                            cceone_tunnel::cancel(&mut tx, &mut rx); // the caller went away
                            return;
                        }
                    }
                    if c.end {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = body_tx
                        .send(Err(std::io::Error::other(e.to_string())))
                        .await;
                    return;
                }
            }
        }
    });
    let mut resp = Response::new(
        StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(body_rx)).boxed_unsync(),
    );
    *resp.status_mut() =
        StatusCode::from_u16(head.status as u16).unwrap_or(StatusCode::BAD_GATEWAY);
    for h in head.headers {
        if !forwardable(&h.name) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            http::HeaderValue::from_str(&h.value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

/// The protocol a request asks to switch to (`Connection: Upgrade` plus `Upgrade: ...`).
pub(crate) fn upgrade_of(headers: &http::HeaderMap) -> Option<String> {
    let connection_upgrade = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let upgrade = headers.get(http::header::UPGRADE)?.to_str().ok()?.trim();
    (connection_upgrade && !upgrade.is_empty()).then(|| upgrade.to_string())
}

/// The member switched protocols: answer 101 with its headers and splice the caller's upgraded
/// connection to the tunnel stream until either side closes (or the kubeconfig is revoked).
fn switched(
    hub: Arc<Hub>,
    cluster: &str,
    bearer: Option<String>,
    head: v1::ProxyResponse,
    (on_upgrade, held): (
        hyper::upgrade::OnUpgrade,
        Option<cceone_kube_apiserver::audit::Completion>,
    ),
    tx: cceone_tunnel::Sender,
    rx: cceone_tunnel::Receiver,
) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for h in head.headers {
        let n = h.name.to_ascii_lowercase();
        if !(forwardable(&n) || n == "upgrade" || n == "connection") {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_str(&h.value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    let cluster = cluster.to_string();
    tokio::spawn(async move {
        let _held = held;
        let io = match on_upgrade.await {
            Ok(up) => hyper_util::rt::TokioIo::new(up),
            Err(e) => {
                tracing::debug!(cluster, error = %e, "the caller did not complete the upgrade");
                return;
            }
        };
        let revoked = async {
            match &bearer {
                Some(t) => hub.proxy_tokens.still_valid(t, &cluster).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            moved = cceone_tunnel::splice(io, tx, rx) => {
                hub.metrics
                    .proxy_bytes
                    .fetch_add(moved.received, Ordering::Relaxed);
                tracing::debug!(cluster, sent = moved.sent, received = moved.received, "upgraded proxy stream ended");
            }
            () = revoked => {
                tracing::info!(cluster, "ending an upgraded proxy stream: its kubeconfig was revoked or expired");
            }
        }
    });
    resp
}
