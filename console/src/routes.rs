//! The console's routes under [`crate::PREFIX`]: the embedded pages, sign-in and sign-out, the
//! API pass-through (`/console/k8s/...` becomes `/...` with the session's bearer token) and the
//! server-side actions.
//!
//! Cross-site request forgery: the session cookie is `SameSite=Strict`, and every request that
//! uses it must also carry the [`CSRF_HEADER`], which a page on another origin cannot add
//! without a CORS preflight this server never approves.

use std::time::Instant;

use bytes::Bytes;
use cceone_kube_apiserver::http::{Front, ResponseBody};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::session::{Identity, cookie};
use crate::{Inner, PREFIX, actions, assets};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "cceone-console";
/// The header every session request carries (its value is ignored).
pub(crate) const CSRF_HEADER: &str = "x-cceone-console";
/// The largest request body the console itself reads (YAML to apply, forms).
const MAX_BODY: usize = 1024 * 1024;

/// The Content-Security-Policy of every console page: nothing but the console's own files, no
/// inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub(crate) async fn handle(inner: &Inner, req: Request<Incoming>) -> Front {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Front::Pass(req);
    };
    if rest.is_empty() {
        return Front::Answer(redirect(&format!("{PREFIX}/"), None));
    }
    if !rest.starts_with('/') {
        // `/consolefoo` is not ours: the API answers it (404).
        return Front::Pass(req);
    }
    if let Some(api_path) = rest.strip_prefix("/k8s/") {
        let api_path = format!("/{api_path}");
        return pass_through(inner, req, &api_path);
    }
    let method = req.method().clone();
    Front::Answer(match (method, rest) {
        (Method::GET, "/signin") => sign_in_with_link(inner, &req),
        (Method::GET, "/audit") => audit_route(inner, &req)
            .await
            .unwrap_or_else(Refusal::response),
        (_, "/session") => session_route(inner, req)
            .await
            .unwrap_or_else(Refusal::response),
        (Method::POST, action) if action.starts_with("/actions/") => {
            let name = action.trim_start_matches("/actions/").to_string();
            match session_of(inner, req.headers()) {
                Ok(who) => match read_json(req).await {
                    Ok(body) => {
                        let api = actions::Api {
                            url: &inner.api_url,
                            ca_pem: &inner.ca_pem,
                            token: &who.token,
                            user: &who.user,
                        };
                        let (code, v) = actions::run(&api, &name, body).await;
                        json_response(code, &v)
                    }
                    Err(r) => r.response(),
                },
                Err(r) => r.response(),
            }
        }
        (Method::GET | Method::HEAD, file) => match assets::get(file) {
            Some(a) => page(a.content_type, a.body),
            None => status(StatusCode::NOT_FOUND, "no such console page"),
        },
        _ => status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    })
}

/// `GET /console/audit?user=&verb=&resource=&code=&limit=`: the newest matching events of
/// the API's audit log, for a user the API allows to list `events.audit.k8s.io`.
async fn audit_route(
    inner: &Inner,
    req: &Request<Incoming>,
) -> Result<Response<ResponseBody>, Refusal> {
    let who = session_of(inner, req.headers())?;
    let api = actions::Api {
        url: &inner.api_url,
        ca_pem: &inner.ca_pem,
        token: &who.token,
        user: &who.user,
    };
    let allowed = actions::may(&api, "audit.k8s.io", "events", "list")
        .await
        .map_err(|(code, v)| {
            Refusal::new(code, v.get("message").and_then(Value::as_str).unwrap_or(""))
        })?;
    if !allowed {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "events.audit.k8s.io is forbidden: User {:?} cannot list resource \"events\" in API group \"audit.k8s.io\" at the cluster scope",
                who.user
            ),
        ));
    }
    let Some(path) = inner.audit_log.clone() else {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"enabled": false, "events": []}),
        ));
    };
    let filter = crate::audit::Filter::parse(req.uri().query().unwrap_or_default());
    let events = tokio::task::spawn_blocking(move || {
        crate::audit::read_tail(&path).map(|text| crate::audit::select(&text, &filter))
    })
    .await
    .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e))?
    .map_err(|e| {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the audit log: {e}"),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"enabled": true, "events": events}),
    ))
}

/// `/console/k8s/<path>`: the same request to the API at `<path>`, as the session's user.
fn pass_through(inner: &Inner, mut req: Request<Incoming>, api_path: &str) -> Front {
    let who = match session_of(inner, req.headers()) {
        Ok(w) => w,
        Err(r) => return Front::Answer(r.response()),
    };
    let Some(uri) = api_uri(api_path, req.uri().query()) else {
        return Front::Answer(status(StatusCode::BAD_REQUEST, "malformed path"));
    };
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.remove(header::COOKIE);
    match HeaderValue::from_str(&format!("Bearer {}", who.token)) {
        Ok(v) => {
            headers.insert(header::AUTHORIZATION, v);
        }
        Err(_) => return Front::Answer(status(StatusCode::UNAUTHORIZED, "unusable session")),
    }
    Front::Pass(req)
}

/// `/console/k8s/<rest>?<query>` as the API's own `/<rest>?<query>` (only ever a path: no
/// scheme or authority can come in).
fn api_uri(api_path: &str, query: Option<&str>) -> Option<http::Uri> {
    if !api_path.starts_with('/') || api_path.starts_with("//") {
        return None;
    }
    let pq = match query {
        Some(q) => format!("{api_path}?{q}"),
        None => api_path.to_string(),
    };
    let uri = pq.parse::<http::Uri>().ok()?;
    (uri.scheme().is_none() && uri.authority().is_none()).then_some(uri)
}

/// The session a request belongs to, or the refusal to answer with.
fn session_of(inner: &Inner, headers: &HeaderMap) -> Result<Identity, Refusal> {
    csrf_checked(headers)?;
    session_id(headers)
        .and_then(|sid| inner.sessions.lock().get(&sid, Instant::now()).cloned())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                "not signed in (or the session ended)",
            )
        })
}

/// The session cookie's value, from any `Cookie` header.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, COOKIE).map(str::to_string))
}

/// Refuse requests that lack the console's header or come from another site.
fn csrf_checked(headers: &HeaderMap) -> Result<(), Refusal> {
    let cross = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site");
    if cross || !headers.contains_key(CSRF_HEADER) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "console requests must come from the console's own pages",
        ));
    }
    Ok(())
}

/// `GET /console/signin?link=ID`: a one-time link becomes a session; the browser is sent on to
/// the console without the link in its address.
fn sign_in_with_link(inner: &Inner, req: &Request<Incoming>) -> Response<ResponseBody> {
    let id = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("link="))
        .unwrap_or_default();
    let now = Instant::now();
    let who = inner.sessions.lock().redeem_link(id, now);
    match who.map(|w| start_session(inner, w, now)) {
        Some(Ok(set_cookie)) => redirect(&format!("{PREFIX}/"), Some(set_cookie)),
        Some(Err(r)) => r.response(),
        None => redirect(&format!("{PREFIX}/#/signin?expired=1"), None),
    }
}

/// A new session for `who`: the `Set-Cookie` value.
fn start_session(inner: &Inner, who: Identity, now: Instant) -> Result<String, Refusal> {
    let sid = crate::random_id().map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    inner.sessions.lock().create(sid.clone(), who, now);
    // No Max-Age: the browser forgets it when it closes; the server forgets it at expiry.
    Ok(format!(
        "{COOKIE}={sid}; Path={PREFIX}; HttpOnly; Secure; SameSite=Strict"
    ))
}

/// `/console/session`: GET who is signed in, POST `{"token": ...}` to sign in (the API must
/// accept the token), DELETE to sign out.
async fn session_route(
    inner: &Inner,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Refusal> {
    match *req.method() {
        Method::GET => {
            let who = session_of(inner, req.headers())?;
            Ok(json_response(StatusCode::OK, &json!({"user": who.user})))
        }
        Method::DELETE => {
            csrf_checked(req.headers())?;
            if let Some(sid) = session_id(req.headers()) {
                inner.sessions.lock().remove(&sid);
            }
            let mut r = status(StatusCode::OK, "signed out");
            set_cookie(
                &mut r,
                &format!("{COOKIE}=; Path={PREFIX}; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
            );
            Ok(r)
        }
        Method::POST => {
            csrf_checked(req.headers())?;
            let body = read_json(req).await?;
            let token = body
                .get("token")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default()
                .to_string();
            if token.is_empty() || token.len() > 4096 {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "paste a bearer token",
                ));
            }
            let api = actions::Api {
                url: &inner.api_url,
                ca_pem: &inner.ca_pem,
                token: &token,
                user: "",
            };
            let user = actions::who_am_i(&api).await.map_err(|(code, v)| {
                let m = v.get("message").and_then(Value::as_str).unwrap_or_default();
                Refusal::new(code, m)
            })?;
            let cookie = start_session(
                inner,
                Identity {
                    token,
                    user: user.clone(),
                },
                Instant::now(),
            )?;
            let mut r = json_response(StatusCode::OK, &json!({"user": user}));
            set_cookie(&mut r, &cookie);
            Ok(r)
        }
        _ => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        )),
    }
}

async fn read_json(req: Request<Incoming>) -> Result<Value, Refusal> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or cut off",
            )
        })?
        .to_bytes();
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")))
}

/// A refusal, answered as a Kubernetes `Status`.
#[derive(Debug)]
pub(crate) struct Refusal {
    code: StatusCode,
    message: String,
}

impl Refusal {
    fn new(code: StatusCode, message: impl std::fmt::Display) -> Refusal {
        Refusal {
            code,
            message: message.to_string(),
        }
    }

    fn response(self) -> Response<ResponseBody> {
        status(self.code, &self.message)
    }
}

fn body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Headers every console response carries.
fn secured(mut r: Response<ResponseBody>) -> Response<ResponseBody> {
    let h = r.headers_mut();
    for (k, v) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn set_cookie(r: &mut Response<ResponseBody>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
}

fn page(content_type: &'static str, bytes: &'static [u8]) -> Response<ResponseBody> {
    let mut r = Response::new(body(bytes));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secured(r)
}

fn redirect(to: &str, cookie: Option<String>) -> Response<ResponseBody> {
    let mut r = Response::new(body(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie {
        set_cookie(&mut r, &c);
    }
    secured(r)
}

pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response<ResponseBody> {
    let mut r = Response::new(body(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    secured(r)
}

/// A Kubernetes-style `Status` failure, so the page shows every error the same way.
pub(crate) fn status_value(code: StatusCode, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": if code.is_success() {"Success"} else {"Failure"},
        "message": message, "code": code.as_u16()})
}

fn status(code: StatusCode, message: &str) -> Response<ResponseBody> {
    json_response(code, &status_value(code, message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn inner() -> Inner {
        Inner {
            sessions: parking_lot::Mutex::new(crate::session::Sessions::default()),
            api_url: "https://127.0.0.1:1".into(),
            ca_pem: String::new(),
            audit_log: None,
        }
    }

    #[test]
    fn session_requests_need_the_console_header_and_no_other_site() {
        assert!(csrf_checked(&headers(&[(CSRF_HEADER, "1")])).is_ok());
        assert!(
            csrf_checked(&headers(&[
                (CSRF_HEADER, "1"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        assert!(csrf_checked(&headers(&[])).is_err(), "no header");
        for site in ["cross-site", "same-site"] {
            let r = csrf_checked(&headers(&[(CSRF_HEADER, "1"), ("sec-fetch-site", site)]));
            assert_eq!(r.unwrap_err().code, StatusCode::FORBIDDEN, "{site}");
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_only_with_the_header() {
        let inner = inner();
        let who = Identity {
            token: "t".into(),
            user: "alice".into(),
        };
        inner
            .sessions
            .lock()
            .create("abc".into(), who, std::time::Instant::now());
        let cookie = format!("other=1; {COOKIE}=abc");
        let ok = session_of(&inner, &headers(&[(CSRF_HEADER, "1"), ("cookie", &cookie)]));
        assert_eq!(ok.unwrap().user, "alice");
        let forged = session_of(&inner, &headers(&[("cookie", &cookie)]));
        assert_eq!(forged.unwrap_err().code, StatusCode::FORBIDDEN);
        let unknown = format!("{COOKIE}=abd");
        let r = session_of(
            &inner,
            &headers(&[(CSRF_HEADER, "1"), ("cookie", &unknown)]),
        );
        assert_eq!(r.unwrap_err().code, StatusCode::UNAUTHORIZED);
        let none = session_of(&inner, &headers(&[(CSRF_HEADER, "1")]));
        assert_eq!(none.unwrap_err().code, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_pass_through_rewrites_to_a_path_on_this_server_only() {
        let u = api_uri("/apis/x/v1/things", Some("watch=1&resourceVersion=5")).unwrap();
        assert_eq!(u.path(), "/apis/x/v1/things");
        assert_eq!(u.query(), Some("watch=1&resourceVersion=5"));
        assert_eq!(api_uri("/api/v1", None).unwrap().to_string(), "/api/v1");
        assert!(api_uri("//evil.example/x", None).is_none());
        assert!(api_uri("https://evil.example/x", None).is_none());
    }
}
