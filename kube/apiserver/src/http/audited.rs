//! Recording a request in the audit log once its answer is ready: the level from the policy,
//! the request body (from `Request` up, left by `read_body` in a slot), the failure `Status`
//! (and at `RequestResponse` the whole body) read back from the response, which is then rebuilt
//! unchanged. A watch is recorded when its stream starts.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use http::Response;
use http_body_util::BodyExt as _;
use serde_json::Value;

use super::gate::Admission;
use super::util::{self, Body};
use crate::audit::{AuditLog, Entry, Level};
use crate::authz;

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

/// A slot for the request body, put in the request, if its level records bodies.
pub(crate) fn keep_body(
    log: &AuditLog,
    admission: &Admission,
    req: &mut http::Request<hyper::body::Incoming>,
) -> Option<BodySlot> {
    let a = admission.attributes.as_ref()?;
    let writes = matches!(a.verb.as_str(), "create" | "update" | "patch");
    if !writes || log.level(a) < Level::Request || crate::audit::policy::carries_credentials(a) {
        return None;
    }
    let slot = BodySlot::default();
    req.extensions_mut().insert(slot.clone());
    Some(slot)
}

/// What is known of a request before it is handled.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) user_agent: String,
    pub(crate) peer: SocketAddr,
    pub(crate) at: jiff::Timestamp,
    /// The request body, when kept.
    pub(crate) body: Option<BodySlot>,
}

/// Record the request and hand its response back.
pub(crate) async fn record(
    log: &AuditLog,
    received: Received,
    admission: Option<Admission>,
    resp: Response<Body>,
) -> Response<Body> {
    let attributes = admission
        .as_ref()
        .and_then(|a| a.attributes.clone())
        .unwrap_or_else(|| {
            let user = admission
                .as_ref()
                .map(|a| a.user().clone())
                .unwrap_or_default();
            let query = util::query_pairs(Some(&received.query));
            authz::request::attributes(&user, &received.method, &received.path, &query)
        });
    let level = log.level(&attributes);
    if level == Level::None {
        return resp;
    }
    let code = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json = content_type.starts_with("application/json");
    // A typed client may be answered in protobuf: the log records it as JSON.
    let protobuf = content_type.starts_with("application/vnd.kubernetes.protobuf");
    // A create's objectRef names the object created, which only its answer tells when the
    // name was generated (as kube-apiserver fills it in from the response object).
    let unnamed_create = attributes.verb == "create"
        && attributes.resource_request
        && attributes.name.is_empty()
        && (200..300).contains(&code);
    let want_body = (json || protobuf)
        && attributes.verb != "watch"
        && (code >= 400 || level >= Level::RequestResponse || unnamed_create);
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
    let uri = if received.query.is_empty() {
        received.path.clone()
    } else {
        format!("{}?{}", received.path, received.query)
    };
    let entry = Entry {
        requestor: admission.as_ref().map(|a| a.requestor.clone()),
        impersonated: admission.as_ref().and_then(|a| a.impersonated.clone()),
        attributes,
        request_uri: uri,
        user_agent: received.user_agent,
        source_ip: Some(received.peer.ip()),
        decision: admission.as_ref().and_then(|a| a.decision.clone()),
        code,
        status: body
            .as_ref()
            .filter(|_| code >= 400)
            .and_then(|b| serde_json::from_slice::<Value>(b).ok()),
        response_object: body.filter(|_| level >= Level::RequestResponse),
        request_object,
        received: received.at,
    };
    log.record(level, &entry).await;
    resp
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
    use super::created_name;

    #[test]
    fn the_created_name_comes_from_the_answer() {
        let answer = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg-x7k2p","generateName":"cfg-","uid":"u"},"data":{"a":"b"}}"#;
        assert_eq!(created_name(answer).as_deref(), Some("cfg-x7k2p"));
        assert_eq!(created_name(b"{}"), None);
        assert_eq!(created_name(b"not json"), None);
    }
}
