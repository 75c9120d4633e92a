//! The HTTPS front: TLS accept loop (HTTP/2 and HTTP/1.1), authentication, fault injection,
//! health and metrics, and routing to discovery, OpenAPI and the resource handlers.

mod audited;
mod body;
mod compress;
mod discovery;
mod gate;
mod probes;
mod resources;
mod subresources;
mod table;
mod util;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
pub use http::Method;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use crate::metrics::Metrics;
pub(crate) use util::json_response;
pub use util::{Body, error_response};

use crate::core::Core;
use crate::error::ApiError;
use crate::metrics::Origin;
use crate::openapi::FieldValidation;

/// An authenticated caller (kube's `user.Info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Groups.
    pub groups: Vec<String>,
    /// A unique id, when the authenticator or impersonation (`Impersonate-Uid`) gives one.
    pub uid: String,
    /// Extra attributes (`Impersonate-Extra-<key>`), key to values.
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// Extra `/admin/...` handling a program built on the server adds (the simulator's faults).
pub type AdminHook = Arc<
    dyn Fn(Method, String, Option<Value>) -> BoxFuture<'static, Option<(u16, Value)>> + Send + Sync,
>;

/// What a [`Mount`] does with a request: answer it, or hand it on (perhaps changed, e.g. with
/// credentials added from a session) to authentication and the API like any other.
pub enum Front {
    /// The mount's own answer.
    Answer(Response<ResponseBody>),
    /// Go on with this request.
    Pass(Request<Incoming>),
}

/// The body type a [`Mount`] answers with (a whole buffer or a stream).
pub type ResponseBody = Body;

/// Pages a program built on the server serves on its port under `prefix` (the web console),
/// called before authentication for those paths only.
pub struct Mount {
    /// Paths starting with this are the mount's.
    pub prefix: String,
    /// The handler.
    pub handler: Arc<dyn Fn(Request<Incoming>) -> BoxFuture<'static, Front> + Send + Sync>,
}

/// A pod's streaming subresource (`log`, `exec`, `attach`, `portforward`) once authorized,
/// handed to whatever runs the pods (the simulator answers as a kubelet would).
pub struct PodStream {
    /// The request, upgrade included (`hyper::upgrade::on`).
    pub request: Request<Incoming>,
    /// Who it runs as.
    pub user: User,
    /// The pod as stored.
    pub pod: Value,
    /// `log`, `exec`, `attach` or `portforward`.
    pub subresource: String,
}

/// Serves [`PodStream`]s.
pub type PodStreamHook = Arc<dyn Fn(PodStream) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// Faults an operator can inject through `/admin/faults`.
#[derive(Debug, Default)]
pub struct Faults {
    /// Every API request answers 503 while set.
    pub paused: AtomicBool,
    /// Added latency per API request, in milliseconds.
    pub latency_ms: AtomicU64,
}

/// Everything a request handler needs.
pub struct State {
    /// The API logic.
    pub core: Arc<Core>,
    /// Bearer tokens and whom they authenticate.
    pub tokens: HashMap<String, User>,
    /// `gitVersion` reported by `/version`.
    pub version: String,
    /// Injected faults.
    pub faults: Faults,
    /// Extra admin routes.
    pub admin: Option<AdminHook>,
    /// Whether `/admin/...` (fault injection, forced compaction, the extra routes) is served
    /// at all; off in production servers.
    pub fault_injection: bool,
    /// Requests without credentials run as `system:anonymous` (else `401`).
    pub anonymous: bool,
    /// Who may do what.
    pub rbac: crate::authz::Rbac,
    /// Where requests are recorded, if anywhere.
    pub audit: Option<Arc<crate::audit::AuditLog>>,
    /// Extra pages served on the same port, set once after start.
    pub mount: std::sync::OnceLock<Mount>,
    /// Who serves pods' logs, exec, attach and port-forward (None: not found).
    pub pod_streams: Option<PodStreamHook>,
    /// Signs and checks service account tokens (TokenRequest).
    pub service_accounts: crate::serviceaccount::TokenSigner,
    /// The cluster CA, which signs approved CertificateSigningRequests for the built-in
    /// signers.
    pub ca: crate::tls::Pki,
}

/// Accept TLS connections on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        // A cap on open connections, so that idle or slow clients end at a limit of their own
        // instead of at the process's file descriptors.
        let Ok(connection) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: at the connection cap");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = Arc::clone(&state);
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _connection = connection;
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(crate::tls::identity_of)
                .map(|(name, groups)| User {
                    name,
                    groups,
                    ..User::default()
                });
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let state = Arc::clone(&state);
                let cert_user = cert_user.clone();
                async move { Ok::<_, Infallible>(handle(state, req, cert_user, peer).await) }
            });
            let builder = http_builder();
            // Upgrades: exec, attach and port-forward switch to WebSocket or SPDY.
            let conn =
                builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with error");
                    }
                }
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// Open connections at most; more are closed at accept.
const MAX_CONNECTIONS: usize = 8192;
/// How long a client has to send a request's headers once the connection is ready for one (a
/// slow drip or an idle keep-alive connection is closed after it).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/1 with a header-read timeout; HTTP/2 whose peers must answer pings.
fn http_builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

fn authenticate(
    state: &State,
    req: &Request<Incoming>,
    cert_user: Option<User>,
) -> Result<User, ApiError> {
    let bearer = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = match (bearer, cert_user) {
        (Some(t), _) => match state.tokens.get(t.trim()) {
            Some(u) => u.clone(),
            None => {
                tracing::warn!(reason = "unknown bearer token", "request refused");
                return Err(ApiError::Unauthorized);
            }
        },
        (None, Some(u)) => u,
        // kube-apiserver's anonymous authenticator runs only when no other found credentials
        // (union.NewFailOnError in pkg/kubeapiserver/authenticator/config.go): a bad token is
        // still 401.
        (None, None) if state.anonymous => return Ok(anonymous()),
        (None, None) => return Err(ApiError::Unauthorized),
    };
    // Impersonation is decided at the gate, where it is authorized like any other request.
    Ok(with_authenticated(user))
}

/// The user of a request without credentials (kube's `anonymous.NewAuthenticator`).
fn anonymous() -> User {
    User {
        name: crate::authz::rules::ANONYMOUS.to_string(),
        groups: vec![crate::authz::rules::UNAUTHENTICATED.to_string()],
        ..User::default()
    }
}

/// Every authenticated user is in `system:authenticated`, as in kube-apiserver.
pub(crate) fn with_authenticated(mut user: User) -> User {
    if !user
        .groups
        .iter()
        .any(|g| g == crate::authz::rules::AUTHENTICATED)
    {
        user.groups
            .push(crate::authz::rules::AUTHENTICATED.to_string());
    }
    user
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    cert_user: Option<User>,
    peer: SocketAddr,
) -> Response<Body> {
    let req = match state.mount.get() {
        Some(m) if req.uri().path().starts_with(m.prefix.as_str()) => {
            match (m.handler)(req).await {
                Front::Answer(resp) => return resp,
                Front::Pass(req) => req,
            }
        }
        _ => req,
    };
    let started = std::time::Instant::now();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let method = req.method().clone();
    let gzip = compress::accepts_gzip(
        req.headers()
            .get(http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let mut received = state
        .audit
        .is_some()
        .then(|| audited::Received::new(&req, peer));
    let mut admission = None;
    let resp = match path.as_str() {
        "/healthz" | "/livez" => util::text(StatusCode::OK, "ok"),
        "/readyz" => probes::readyz(&*state.core.store),
        "/version" => json_response(StatusCode::OK, &discovery::version(&state.version)),
        _ => match gate::authenticate(&state, &req, cert_user).await {
            Err(e) => util::error_response(&e),
            Ok(user) => {
                let (adm, refusal) = gate::admit(&state, &req, user).await;
                let mut req = req;
                if let (Some(log), Some(r)) = (&state.audit, received.as_mut()) {
                    let handled = refusal.is_none().then_some(&mut req);
                    audited::admitted(log, r, &adm, handled).await;
                }
                let resp = match refusal {
                    Some(refusal) => refusal,
                    None => {
                        // RBAC writes are checked against escalation once their body is read.
                        if let Some(g) = adm
                            .attributes
                            .as_ref()
                            .and_then(|a| crate::authz::escalation::guard(&state.rbac, a))
                        {
                            req.extensions_mut().insert(g);
                        }
                        let user = adm.user().clone();
                        let handler =
                            crate::request::with_user(user.name.clone(), route(&state, req, user));
                        match (&state.audit, received.as_ref()) {
                            (Some(log), Some(r)) => {
                                audited::catching_panics(log, r, &adm, handler).await
                            }
                            _ => handler.await,
                        }
                    }
                };
                admission = Some(adm);
                resp
            }
        },
    };
    let resp = match (&state.audit, received) {
        (Some(log), Some(received)) => audited::record(log, received, admission, resp).await,
        _ => resp,
    };
    let (verb, resource) = util::request_labels(&method, &path, &query);
    state.core.metrics.observe(
        Origin::Http,
        verb,
        &resource,
        resp.status().as_u16(),
        started.elapsed(),
    );
    // After the audit log has read the answer.
    compress::maybe_gzip(gzip, resp).await
}

async fn route(state: &Arc<State>, req: Request<Incoming>, user: User) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    if let Some(rest) = path.strip_prefix("/admin") {
        return admin(state, req, rest.to_string()).await;
    }
    if state.faults.paused.load(Ordering::Relaxed) {
        return util::error_response(&ApiError::Unavailable(
            "the server is paused (fault injection)".into(),
        ));
    }
    let latency = state.faults.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match segs.as_slice() {
        // As kube-apiserver: authenticated, and authorized as the non-resource URL `/metrics`
        // (cluster-admin, or a role such as `system:monitoring`), never anonymous.
        ["metrics"] => util::text(StatusCode::OK, &state.core.metrics.render(&state.core)),
        ["api" | "apis"] if let Some(v) = discovery::wants_aggregated(&accept) => {
            discovery::aggregated(&state.core, segs[0] == "api", v)
        }
        ["api"] => json_response(StatusCode::OK, &discovery::api_versions()),
        ["apis"] => json_response(StatusCode::OK, &discovery::group_list(&state.core)),
        ["api", "v1"] => discovery::resource_list(&state.core, "", "v1"),
        ["apis", group] => discovery::group(&state.core, group),
        ["apis", group, version] => discovery::resource_list(&state.core, group, version),
        ["openapi", "v2"] => {
            let etag = req.headers().get(http::header::IF_NONE_MATCH);
            discovery::openapi_v2(&state.core, &accept, etag.and_then(|v| v.to_str().ok()))
        }
        ["openapi", "v3"] => json_response(StatusCode::OK, &discovery::openapi_root(&state.core)),
        ["openapi", "v3", "api", "v1"] => discovery::openapi_gv(&state.core, "", "v1"),
        ["openapi", "v3", "apis", group, version] => {
            discovery::openapi_gv(&state.core, group, version)
        }
        ["apis", group, "v1", rest @ ..] if crate::authz::reviews::groups().contains(group) => {
            let group = group.to_string();
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            gate::review(state, req, &user, &group, &rest).await
        }
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "pods",
            name,
            sub @ ("log" | "exec" | "attach" | "portforward"),
        ] => {
            let (ns, name, sub) = (ns.to_string(), name.to_string(), sub.to_string());
            pod_stream(state, req, user, &ns, &name, &sub).await
        }
        ["api", "v1", rest @ ..] => {
            let fv = FieldValidation::from_query(req.uri().query());
            let serve = resources::handle(state, req, user, "", "v1", rest, &accept);
            crate::openapi::with_warnings(fv, serve).await
        }
        ["apis", group, version, rest @ ..] => {
            let (group, version) = (group.to_string(), version.to_string());
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            let fv = FieldValidation::from_query(req.uri().query());
            let serve = resources::handle(state, req, user, &group, &version, &rest, &accept);
            crate::openapi::with_warnings(fv, serve).await
        }
        _ => util::error_response(&ApiError::NotFound {
            resource: String::new(),
            name: String::new(),
            message: "the server could not find the requested resource".into(),
        }),
    }
}

/// `pods/{log,exec,attach,portforward}`: the pod must exist; then whoever runs pods answers.
async fn pod_stream(
    state: &Arc<State>,
    req: Request<Incoming>,
    user: User,
    ns: &str,
    name: &str,
    sub: &str,
) -> Response<Body> {
    let allowed = match sub {
        "log" => req.method() == Method::GET,
        _ => matches!(*req.method(), Method::GET | Method::POST),
    };
    if !allowed {
        return util::error_response(&ApiError::MethodNotAllowed(format!(
            "{} is not supported on pods/{sub}",
            req.method()
        )));
    }
    let pod = match state.core.resource("", "v1", "pods") {
        Ok(pods) => state.core.get(&pods, Some(ns), name).await,
        Err(e) => Err(e),
    };
    let pod = match pod {
        Ok(p) => p,
        Err(e) => return util::error_response(&e),
    };
    let Some(hook) = &state.pod_streams else {
        return util::error_response(&ApiError::NotFound {
            resource: "pods".into(),
            name: name.to_string(),
            message: format!("pods/{sub} is not served by this server"),
        });
    };
    hook(PodStream {
        request: req,
        user,
        pod,
        subresource: sub.to_string(),
    })
    .await
}

async fn admin(state: &Arc<State>, req: Request<Incoming>, rest: String) -> Response<Body> {
    if !state.fault_injection {
        return util::error_response(&ApiError::NotFound {
            resource: String::new(),
            name: String::new(),
            message: "admin endpoints (fault injection) are off on this server".into(),
        });
    }
    let method = req.method().clone();
    let body = match util::read_body(req).await {
        Ok(b) if b.is_empty() => None,
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(v) => Some(v),
            Err(e) => {
                return util::error_response(&ApiError::BadRequest(format!(
                    "admin body is not JSON: {e}"
                )));
            }
        },
        Err(e) => return util::error_response(&e),
    };
    if rest == "/faults" {
        if method != Method::GET {
            if let Some(b) = &body {
                if let Some(p) = b.get("paused").and_then(Value::as_bool) {
                    state.faults.paused.store(p, Ordering::Relaxed);
                }
                if let Some(l) = b.get("latencyMs").and_then(Value::as_u64) {
                    state.faults.latency_ms.store(l, Ordering::Relaxed);
                }
            }
            tracing::info!(
                paused = state.faults.paused.load(Ordering::Relaxed),
                latency_ms = state.faults.latency_ms.load(Ordering::Relaxed),
                "faults changed"
            );
        }
        let out = json!({
            "paused": state.faults.paused.load(Ordering::Relaxed),
            "latencyMs": state.faults.latency_ms.load(Ordering::Relaxed),
        });
        return json_response(StatusCode::OK, &out);
    }
    if rest == "/compact" {
        let rev = state.core.store.current_revision();
        return match state.core.store.compact(rev).await {
            Ok(()) => json_response(StatusCode::OK, &json!({"compactedRevision": rev})),
            Err(e) => util::error_response(&e.into()),
        };
    }
    if let Some(hook) = &state.admin
        && let Some((code, v)) = hook(method, rest, body).await
    {
        return json_response(StatusCode::from_u16(code).unwrap_or(StatusCode::OK), &v);
    }
    util::error_response(&ApiError::NotFound {
        resource: String::new(),
        name: String::new(),
        message: "no such admin endpoint".into(),
    })
}

/// Where the server listens, once bound.
pub fn describe(addr: SocketAddr) -> String {
    format!("https://{addr}")
}
