//! Recording a request in the audit log at its stages: `RequestReceived` once it is
//! authenticated (before the handler runs), then once its answer is ready: `ResponseComplete`
//! with the failure `Status` (and at `RequestResponse` the whole body) read back from the
//! response, which is then rebuilt unchanged, or for a long-running request `ResponseStarted`
//! at once and `ResponseComplete` when its stream ends; a request that failed authentication
//! gets one `ResponseStarted` event, and one whose handler panicked a `Panic` event, as
//! kube-apiserver's audit filters (staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go,
//! authn_audit.go). The request body is kept (from `Request` up) by `read_body` in a slot.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use http::{Request, Response};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use super::gate::Admission;
use super::util::{self, Body};
use crate::audit::{AuditLog, Completion, Decision, Entry, Level, Stage};
use crate::authz::{self, Attributes};

/// Bodies larger than this are recorded without their object.
const MAX_RECORDED_BODY: usize = 1024 * 1024;

/// Where `read_body` leaves a copy of the request body (and its Content-Type) for the audit
/// log, when the request's level records bodies.
#[derive(Debug, Clone, Default)]
pub(crate) struct BodySlot(Arc<parking_lot::Mutex<Option<Kept>>>);

/// A kept body and its Content-Type.
type Kept = (Option<String>, Bytes);

impl BodySlot {
    pub(crate) fn put(&self, content_type: Option<String>, body: Bytes) {
        *self.0.lock() = Some((content_type, body));
    }

    fn take(&self) -> Option<Kept> {
        self.0.lock().take()
    }
}

/// What is known of a request before it is handled.
#[derive(Debug)]
pub(crate) struct Received {
    method: String,
    path: String,
    query: String,
    user_agent: String,
    peer: SocketAddr,
    at: jiff::Timestamp,
    audit_id: String,
    /// Whether it carried a bearer token (what a failed authentication names).
    bearer: bool,
    /// The request body, when kept.
    body: Option<BodySlot>,
    /// The policy's word on the request, once it is authenticated.
    decision: Option<Decision>,
    /// A long-running request's `ResponseComplete`, shared with its handler.
    completion: Option<Completion>,
}

impl Received {
    pub(crate) fn new<B>(req: &Request<B>, peer: SocketAddr) -> Received {
        let header = |name: &str| req.headers().get(name);
        Received {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or_default().to_string(),
            user_agent: header(http::header::USER_AGENT.as_str())
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            peer,
            at: jiff::Timestamp::now(),
            audit_id: crate::audit::audit_id(header(AUDIT_ID)),
            bearer: header(http::header::AUTHORIZATION.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().split_once(' '))
                .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")),
            body: None,
            decision: None,
            completion: None,
        }
    }

    fn entry(&self, admission: Option<&Admission>, attributes: Attributes) -> Entry {
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        Entry {
            audit_id: self.audit_id.clone(),
            requestor: admission.map(|a| a.requestor.clone()),
            impersonated: admission.and_then(|a| a.impersonated.clone()),
            attributes,
            request_uri: uri,
            user_agent: self.user_agent.clone(),
            source_ip: Some(self.peer.ip()),
            decision: admission.and_then(|a| a.decision.clone()),
            received: self.at,
            ..Entry::default()
        }
    }
}

/// The header a caller may name its `auditID` in, and the answer echoes it in.
const AUDIT_ID: &str = "audit-id";

/// The request's attributes: authorization's, or (when impersonation was refused first, or
/// nothing was authorized) worked out from the request.
fn attributes(received: &Received, admission: Option<&Admission>) -> Attributes {
    admission
        .and_then(|a| a.attributes.clone())
        .unwrap_or_else(|| {
            let user = admission.map(|a| a.user().clone()).unwrap_or_default();
            let query = util::query_pairs(Some(&received.query));
            authz::request::attributes(&user, &received.method, &received.path, &query)
        })
}

/// Once the request is authenticated: decide its level (on the caller, before impersonation,
/// as kube-apiserver), write `RequestReceived`, and when it goes on to its handler (`req`),
/// keep a slot for its body if the level records it and hand a long-running request its
/// [`Completion`].
pub(crate) async fn admitted(
    log: &Arc<AuditLog>,
    r: &mut Received,
    adm: &Admission,
    req: Option<&mut Request<hyper::body::Incoming>>,
) {
    // Borrowed, not cloned, on the common path: this runs for every request.
    let computed;
    let attrs = match adm.attributes.as_ref() {
        Some(a) => a,
        None => {
            computed = attributes(r, Some(adm));
            &computed
        }
    };
    let d = log.decide(attrs, &adm.requestor);
    r.decision = Some(d);
    if d.level == Level::None {
        return;
    }
    if d.records(Stage::RequestReceived) {
        log.record(
            &d,
            Stage::RequestReceived,
            &r.entry(Some(adm), attrs.clone()),
        )
        .await;
    }
    let Some(req) = req else { return };
    let writes = matches!(attrs.verb.as_str(), "create" | "update" | "patch");
    if writes && d.level >= Level::Request && !crate::audit::policy::carries_credentials(attrs) {
        let slot = BodySlot::default();
        req.extensions_mut().insert(slot.clone());
        r.body = Some(slot);
    }
    if crate::audit::long_running(attrs) && d.records(Stage::ResponseComplete) {
        let c = Completion::new(Arc::clone(log));
        req.extensions_mut().insert(c.clone());
        r.completion = Some(c);
    }
}

/// Run the handler; if it panics, write the `Panic` event before the panic goes on (as
/// kube-apiserver's audit filter re-panics after recording).
pub(crate) async fn catching_panics(
    log: &AuditLog,
    r: &Received,
    adm: &Admission,
    handler: impl Future<Output = Response<Body>>,
) -> Response<Body> {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            if let Some(d) = r.decision.filter(|d| d.records(Stage::Panic)) {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let mut entry = r.entry(Some(adm), attributes(r, Some(adm)));
                entry.code = 500;
                entry.status = Some(json!({"status": "Failure", "reason": "InternalError",
                    "message": format!("APIServer panic'd: {what}")}));
                log.record(&d, Stage::Panic, &entry).await;
            }
            std::panic::resume_unwind(panic)
        }
    }
}

/// Record the request's answer and hand the response back.
pub(crate) async fn record(
    log: &AuditLog,
    received: Received,
    admission: Option<Admission>,
    resp: Response<Body>,
) -> Response<Body> {
    let mut resp = resp;
    if let Ok(v) = http::HeaderValue::from_str(&received.audit_id) {
        resp.headers_mut().insert(AUDIT_ID, v);
    }
    let attributes = attributes(&received, admission.as_ref());
    let d = match received.decision {
        Some(d) => d,
        None => {
            let user = admission
                .as_ref()
                .map(|a| a.requestor.clone())
                .unwrap_or_default();
            log.decide(&attributes, &user)
        }
    };
    if d.level == Level::None {
        return resp;
    }
    let code = resp.status().as_u16();
    if admission.is_none() && code == 401 {
        // authn_audit.go: one event, at ResponseStarted, saying which credentials failed.
        let mut entry = received.entry(None, attributes);
        entry.code = code;
        entry.status = Some(json!({"message": auth_methods(&received)}));
        log.record(&d, Stage::ResponseStarted, &entry).await;
        return resp;
    }
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json = content_type.starts_with("application/json");
    // A typed client may be answered in protobuf: the log records it as JSON.
    let protobuf = content_type.starts_with("application/vnd.kubernetes.protobuf");
    let long_running = crate::audit::long_running(&attributes);
    // A long-running answer is a stream, its end not awaited here, unless it failed.
    let streaming = long_running && code < 400;
    // A create's objectRef names the object created, which only its answer tells when the
    // name was generated (as kube-apiserver fills it in from the response object).
    let unnamed_create = attributes.verb == "create"
        && attributes.resource_request
        && attributes.name.is_empty()
        && (200..300).contains(&code);
    let want_body = (json || protobuf)
        && !streaming
        && (code >= 400 || d.level >= Level::RequestResponse || unnamed_create);
    let (resp, body) = if want_body {
        let (parts, body) = resp.into_parts();
        match body.collect().await {
            Ok(c) => {
                let bytes = c.to_bytes();
                let kept = (bytes.len() <= MAX_RECORDED_BODY)
                    .then(|| bytes.clone())
                    .and_then(|b| if protobuf { as_json(&b) } else { Some(b) });
                (Response::from_parts(parts, util::full(bytes)), kept)
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading a response for the audit log failed");
                (Response::from_parts(parts, util::full(Vec::new())), None)
            }
        }
    } else {
        (resp, None)
    };
    // The request object as JSON: kept as sent when it is JSON, decoded otherwise (protobuf
    // from typed clients, YAML); patches are recorded as the patch.
    let request_object = match received.body.as_ref().and_then(BodySlot::take) {
        Some((_, b)) if b.first() == Some(&b'{') => Some(b),
        Some((ct, b)) => super::body::decode(ct.as_deref(), b)
            .await
            .ok()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .map(Bytes::from),
        None => None,
    };
    let mut attributes = attributes;
    if unnamed_create && let Some(name) = body.as_deref().and_then(created_name) {
        attributes.name = name;
    }
    let mut entry = received.entry(admission.as_ref(), attributes);
    entry.code = code;
    entry.status = body
        .as_ref()
        .filter(|_| code >= 400)
        .and_then(|b| serde_json::from_slice::<Value>(b).ok());
    entry.response_object = body.filter(|_| d.level >= Level::RequestResponse);
    entry.request_object = request_object;
    if long_running {
        log.record(&d, Stage::ResponseStarted, &entry).await;
    }
    match received.completion {
        Some(done) if streaming => {
            done.arm(crate::audit::event(d.level, Stage::ResponseStarted, &entry));
            // The body holds the completion too: the event is written when the stream ends
            // (or, for an upgrade, when the handler's task lets go as well).
            let (parts, body) = resp.into_parts();
            let body = body
                .map_frame(move |frame| {
                    let _ = &done;
                    frame
                })
                .boxed_unsync();
            Response::from_parts(parts, body)
        }
        _ => {
            log.record(&d, Stage::ResponseComplete, &entry).await;
            resp
        }
    }
}

/// What credentials a request that failed authentication carried, in `getAuthMethods`' words.
/// (Client certificates are checked in the TLS handshake and a bad one never gets here.)
fn auth_methods(r: &Received) -> &'static str {
    if r.bearer {
        "Authentication failed, attempted: bearer"
    } else {
        "Authentication failed, no credentials provided"
    }
}

/// A protobuf answer as JSON (None if it does not decode).
fn as_json(body: &[u8]) -> Option<Bytes> {
    let value = cceone_kube_protobuf::decode(body).ok()?;
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

/// `metadata.name` of an object answered as JSON.
fn created_name(body: &[u8]) -> Option<String> {
    let name = crate::meta::identity(body)?.name;
    (!name.is_empty()).then(|| name.into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::audit::AuditConfig;
    use crate::http::User;

    #[tokio::test]
    async fn a_panicking_handler_is_recorded_at_panic_and_the_panic_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(AuditConfig::new(path.clone())).unwrap();
        let req = Request::get("/api/v1/namespaces/a/configmaps")
            .header("audit-id", "p-1")
            .body(())
            .unwrap();
        let mut r = Received::new(&req, "127.0.0.1:1".parse().unwrap());
        let alice = User {
            name: "alice".into(),
            ..User::default()
        };
        let adm = Admission {
            requestor: alice.clone(),
            impersonated: None,
            attributes: Some(Attributes {
                user: alice,
                verb: "list".into(),
                resource_request: true,
                namespace: "a".into(),
                resource: "configmaps".into(),
                ..Attributes::default()
            }),
            decision: Some((true, String::new())),
        };
        admitted(&log, &mut r, &adm, None).await;
        fn boom() -> Response<Body> {
            panic!("boom")
        }
        let handler = async { boom() };
        use futures::FutureExt as _;
        let outcome = std::panic::AssertUnwindSafe(catching_panics(&log, &r, &adm, handler))
            .catch_unwind()
            .await;
        assert!(outcome.is_err(), "the panic goes on");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.is_empty() || std::time::Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        let ev: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(ev["stage"], "Panic");
        assert_eq!(ev["auditID"], "p-1", "the caller's Audit-ID");
        assert_eq!(ev["responseStatus"]["code"], 500);
        assert_eq!(ev["responseStatus"]["message"], "APIServer panic'd: boom");
        assert_eq!(ev["responseStatus"]["reason"], "InternalError");
    }

    #[test]
    fn the_created_name_comes_from_the_answer() {
        let answer = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg-x7k2p","generateName":"cfg-","uid":"u"},"data":{"a":"b"}}"#;
        assert_eq!(created_name(answer).as_deref(), Some("cfg-x7k2p"));
        assert_eq!(created_name(b"{}"), None);
        assert_eq!(created_name(b"not json"), None);
    }
}
