//! The audit log: one `audit.k8s.io/v1` `Event` JSON line per request (who, as whom, what,
//! where from, the answer, when), at the level the [`policy`] gives it, written by a thread of
//! its own so a slow disk never holds a request's worker, and rotated by size and age.

pub mod policy;
mod writer;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub use policy::{Level, Policy};

use crate::authz::Attributes;
use crate::http::User;

/// Where and how to write the audit log.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The log file (its directory is made if missing); rotated files sit beside it.
    pub path: PathBuf,
    /// Which requests are recorded, and how much of them.
    pub policy: Policy,
    /// Rotate when the file would grow past this many bytes.
    pub max_size: u64,
    /// Rotated files kept (the oldest go first).
    pub max_backups: usize,
    /// Rotated files older than this are removed.
    pub max_age: Option<Duration>,
}

impl AuditConfig {
    /// The default policy, 100 MiB files, 10 of them kept for at most 30 days.
    pub fn new(path: PathBuf) -> AuditConfig {
        AuditConfig {
            path,
            policy: Policy::default_policy(),
            max_size: 100 * 1024 * 1024,
            max_backups: 10,
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// A running audit log.
pub struct AuditLog {
    policy: Policy,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// What is known of one request when its answer is ready.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The authenticated caller (None: authentication failed).
    pub requestor: Option<User>,
    /// The user the caller impersonated.
    pub impersonated: Option<User>,
    /// The request in authorization's terms.
    pub attributes: Attributes,
    /// Path and query as sent.
    pub request_uri: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// The peer's address.
    pub source_ip: Option<IpAddr>,
    /// The authorization decision and its reason, when one was made.
    pub decision: Option<(bool, String)>,
    /// The response code.
    pub code: u16,
    /// The response's `Status`, for failures.
    pub status: Option<Value>,
    /// The response body as sent (JSON), spliced in unparsed at `RequestResponse` level.
    pub response_object: Option<bytes::Bytes>,
    /// The request body as JSON, spliced in unparsed from `Request` level up.
    pub request_object: Option<bytes::Bytes>,
    /// When the request arrived.
    pub received: jiff::Timestamp,
}

impl AuditLog {
    /// Open (or create) the log and start its writer.
    pub fn open(cfg: AuditConfig) -> std::io::Result<Arc<AuditLog>> {
        let tx = writer::start(writer::Rotation {
            path: cfg.path,
            max_size: cfg.max_size,
            max_backups: cfg.max_backups,
            max_age: cfg.max_age,
        })?;
        Ok(Arc::new(AuditLog {
            policy: cfg.policy,
            tx,
        }))
    }

    /// The level a request is recorded at.
    pub fn level(&self, a: &Attributes) -> Level {
        self.policy.level(a)
    }

    /// Record a request (nothing at level `None`). Waits while the writer is behind, rather
    /// than dropping events.
    pub async fn record(&self, level: Level, entry: &Entry) {
        if level == Level::None {
            return;
        }
        let line = line(level, entry);
        if self.tx.send(line).await.is_err() {
            tracing::error!("the audit log writer has stopped; event lost");
        }
    }
}

impl AuditLog {
    /// Write an event built elsewhere (the hub's record of a proxied request, from
    /// [`event`]), whatever its level.
    pub async fn write(&self, event: &Value) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        if self.tx.send(line).await.is_err() {
            tracing::error!("the audit log writer has stopped; event lost");
        }
    }
}

/// A `UserInfo` as the audit event and the reviews show it (`uid` and `extra` only when set).
pub(crate) fn user_json(u: &User) -> Value {
    let mut v = json!({"username": u.name, "groups": u.groups});
    if !u.uid.is_empty() {
        v["uid"] = json!(u.uid);
    }
    if !u.extra.is_empty() {
        v["extra"] = json!(u.extra);
    }
    v
}

fn micros(t: jiff::Timestamp) -> String {
    format!("{t:.6}")
}

/// The `audit.k8s.io/v1` `Event` for a request.
pub fn event(level: Level, e: &Entry) -> Value {
    let a = &e.attributes;
    let mut ev = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level.as_str(),
        "auditID": uuid::Uuid::new_v4().to_string(),
        "stage": "ResponseComplete",
        "requestURI": e.request_uri,
        "verb": a.verb,
        "user": e.requestor.as_ref().map_or_else(|| json!({}), user_json),
        "sourceIPs": e.source_ip.map(|ip| vec![ip.to_string()]).unwrap_or_default(),
        "userAgent": e.user_agent,
        "responseStatus": {"metadata": {}, "code": e.code},
        "requestReceivedTimestamp": micros(e.received),
        "stageTimestamp": micros(jiff::Timestamp::now()),
    });
    if let Some(u) = &e.impersonated {
        ev["impersonatedUser"] = user_json(u);
    }
    if a.resource_request {
        let mut r = serde_json::Map::new();
        for (k, v) in [
            ("resource", &a.resource),
            ("namespace", &a.namespace),
            ("name", &a.name),
            ("apiGroup", &a.api_group),
            ("subresource", &a.subresource),
        ] {
            if !v.is_empty() {
                r.insert(k.into(), json!(v));
            }
        }
        if let Some(version) = api_version(&e.request_uri) {
            r.insert("apiVersion".into(), json!(version));
        }
        ev["objectRef"] = Value::Object(r);
    }
    if let Some(s) = &e.status {
        for k in ["status", "message", "reason"] {
            if let Some(v) = s.get(k) {
                ev["responseStatus"][k] = v.clone();
            }
        }
    }
    if let Some((allowed, reason)) = &e.decision {
        let mut ann =
            json!({"authorization.k8s.io/decision": if *allowed { "allow" } else { "forbid" }});
        if !reason.is_empty() {
            ann["authorization.k8s.io/reason"] = json!(reason);
        }
        ev["annotations"] = ann;
    }
    ev
}

/// The event as one JSON line. From `Request` the request body, at `RequestResponse` the
/// response body too, is spliced in as sent
/// (our own JSON; parsing and re-encoding every written object would cost more than the write),
/// except for requests that may carry credentials.
pub fn line(level: Level, e: &Entry) -> Vec<u8> {
    let mut out = serde_json::to_vec(&event(level, e)).unwrap_or_default();
    let secret = policy::carries_credentials(&e.attributes);
    for (key, body, from) in [
        ("requestObject", &e.request_object, Level::Request),
        ("responseObject", &e.response_object, Level::RequestResponse),
    ] {
        let body = body.as_ref().filter(|b| {
            level >= from && !secret && b.first() == Some(&b'{') && b.last() == Some(&b'}')
        });
        if let Some(body) = body
            && out.pop() == Some(b'}')
        {
            out.extend_from_slice(format!(",\"{key}\":").as_bytes());
            out.extend_from_slice(body);
            out.push(b'}');
        }
    }
    out.push(b'\n');
    out
}

/// The version segment of a resource path.
fn api_version(uri: &str) -> Option<&str> {
    let path = uri.split('?').next().unwrap_or_default();
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    match parts.next()? {
        "api" => parts.next(),
        "apis" => parts.nth(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
