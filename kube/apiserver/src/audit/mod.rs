//! The audit log: `audit.k8s.io/v1` `Event` JSON lines (who, as whom, what, where from, the
//! answer, when), at the level and stages the [`policy`] gives each request, written by a thread
//! of its own so a slow disk never holds a request's worker, and rotated by size and age.
//!
//! As kube-apiserver (staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go), a request
//! may be recorded at several [`Stage`]s, every event of it with the same `auditID`:
//! `RequestReceived` once authenticated, `ResponseStarted` when a long-running request's answer
//! starts (and, alone, for a request that failed authentication), `ResponseComplete` when the
//! answer is done (a watch's or stream's when it ends: see [`Completion`]), `Panic` when
//! handling it panicked.

pub mod policy;
mod stage;
mod writer;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub use policy::{Decision, Level, Policy};
pub use stage::{Stage, Stages};

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
    /// The request's `auditID`, shared by all its events (empty: a fresh one per event).
    pub audit_id: String,
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

    /// What the policy says of a request made by `user` (the authenticated caller).
    pub fn decide(&self, a: &Attributes, user: &User) -> Decision {
        self.policy.decide(a, user)
    }

    /// Record a request at `stage` (nothing when the decision leaves that stage out). Waits
    /// while the writer is behind, rather than dropping events.
    pub async fn record(&self, d: &Decision, stage: Stage, entry: &Entry) {
        if !d.records(stage) {
            return;
        }
        let line = line(d, stage, entry);
        if self.tx.send(line).await.is_err() {
            tracing::error!("the audit log writer has stopped; event lost");
        }
    }

    /// Write an event built elsewhere (the hub's record of a proxied request, from
    /// [`event`]), whatever its level.
    pub async fn write(&self, event: &Value) {
        if self.tx.send(to_line(event)).await.is_err() {
            tracing::error!("the audit log writer has stopped; event lost");
        }
    }

    /// [`AuditLog::write`] from code that cannot wait (a `Drop`): queued at once if there is
    /// room, else by a task of its own.
    pub fn write_now(&self, event: &Value) {
        use tokio::sync::mpsc::error::TrySendError;
        match self.tx.try_send(to_line(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(line)) => {
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move {
                            let _ = tx.send(line).await;
                        });
                    }
                    // No runtime to wait in: this thread may block.
                    Err(_) => {
                        let _ = tx.blocking_send(line);
                    }
                }
            }
            Err(TrySendError::Closed(_)) => {
                tracing::error!("the audit log writer has stopped; event lost");
            }
        }
    }
}

/// The `ResponseComplete` event of a long-running request (a watch, a pod's log, exec, attach,
/// port-forward, a proxied stream), written when the last clone is dropped: the response
/// body's when it ends, and an upgraded stream's task's, which may hold one (found in the
/// request's extensions) so that the event comes when the stream closes, as kube-apiserver's
/// comes when its handler returns.
#[derive(Debug, Clone)]
pub struct Completion(Arc<Pending>);

struct Pending {
    log: Arc<AuditLog>,
    event: parking_lot::Mutex<Option<Value>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl Completion {
    /// A completion that writes nothing until [`Completion::arm`]ed.
    pub fn new(log: Arc<AuditLog>) -> Completion {
        Completion(Arc::new(Pending {
            log,
            event: parking_lot::Mutex::new(None),
        }))
    }

    /// The event to write (its stage and stage time are set when written).
    pub fn arm(&self, event: Value) {
        *self.0.event.lock() = Some(event);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut ev) = self.event.get_mut().take() {
            ev["stage"] = json!(Stage::ResponseComplete.as_str());
            ev["stageTimestamp"] = json!(micros(jiff::Timestamp::now()));
            self.log.write_now(&ev);
        }
    }
}

/// Whether kube-apiserver counts a request as long-running, its audit events then including
/// `ResponseStarted` (`BasicLongRunningRequestCheck` with the verbs `watch` and `proxy` and
/// the subresources `attach`, `exec`, `proxy`, `log` and `portforward`, as
/// pkg/controlplane/apiserver/config.go sets it up).
pub fn long_running(a: &Attributes) -> bool {
    a.resource_request
        && (matches!(a.verb.as_str(), "watch" | "proxy")
            || matches!(
                a.subresource.as_str(),
                "attach" | "exec" | "proxy" | "log" | "portforward"
            ))
}

/// A fresh `auditID`, or the caller's `Audit-ID` header when it sent a sensible one (as
/// kube's `WithAuditInit`, which keeps the caller's to tie its requests together).
pub fn audit_id(header: Option<&http::HeaderValue>) -> String {
    header
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

fn to_line(event: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    line
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

/// The `audit.k8s.io/v1` `Event` for a request at `stage`. As kube-apiserver's, a
/// `RequestReceived` event (written before impersonation and authorization) has neither the
/// impersonated user, the answer nor the decision, and its stage time is the request's.
pub fn event(level: Level, stage: Stage, e: &Entry) -> Value {
    let a = &e.attributes;
    let received = stage == Stage::RequestReceived;
    let audit_id = if e.audit_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        e.audit_id.clone()
    };
    let mut ev = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level.as_str(),
        "auditID": audit_id,
        "stage": stage.as_str(),
        "requestURI": e.request_uri,
        "verb": a.verb,
        "user": e.requestor.as_ref().map_or_else(|| json!({}), user_json),
        "sourceIPs": e.source_ip.map(|ip| vec![ip.to_string()]).unwrap_or_default(),
        "userAgent": e.user_agent,
        "requestReceivedTimestamp": micros(e.received),
        "stageTimestamp": micros(if received { e.received } else { jiff::Timestamp::now() }),
    });
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
    if received {
        return ev;
    }
    ev["responseStatus"] = json!({"metadata": {}, "code": e.code});
    if let Some(u) = &e.impersonated {
        ev["impersonatedUser"] = user_json(u);
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

/// The event as one JSON line. In a `ResponseComplete` (or `Panic`) event, from `Request` the
/// request body, at `RequestResponse` the response body too, is spliced in as sent (our own
/// JSON; parsing and re-encoding every written object would cost more than the write, so only
/// a policy's `omitManagedFields` re-encodes), except for requests that may carry credentials.
pub fn line(d: &Decision, stage: Stage, e: &Entry) -> Vec<u8> {
    let mut out = serde_json::to_vec(&event(d.level, stage, e)).unwrap_or_default();
    let secret = policy::carries_credentials(&e.attributes);
    let with_bodies = matches!(stage, Stage::ResponseComplete | Stage::Panic);
    for (key, body, from) in [
        ("requestObject", &e.request_object, Level::Request),
        ("responseObject", &e.response_object, Level::RequestResponse),
    ] {
        let body = body.as_ref().filter(|b| {
            with_bodies
                && d.level >= from
                && !secret
                && b.first() == Some(&b'{')
                && b.last() == Some(&b'}')
        });
        let body = match body {
            Some(b) if d.omit_managed_fields => without_managed_fields(b),
            Some(b) => Some(b.clone()),
            None => None,
        };
        if let Some(body) = body
            && out.pop() == Some(b'}')
        {
            out.extend_from_slice(format!(",\"{key}\":").as_bytes());
            out.extend_from_slice(&body);
            out.push(b'}');
        }
    }
    out.push(b'\n');
    out
}

/// An object (or each item of a list) without `metadata.managedFields`, as kube-apiserver's
/// `omitManagedFields` records it (None if the body is not JSON).
fn without_managed_fields(body: &[u8]) -> Option<bytes::Bytes> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let strip = |o: &mut Value| {
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
    };
    strip(&mut v);
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip);
    }
    serde_json::to_vec(&v).ok().map(bytes::Bytes::from)
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
