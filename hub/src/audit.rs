//! The hub's audit log of proxied requests (issue 10): `audit.k8s.io/v1` `Event` JSON lines
//! for each request to `/clusters/<name>/proxy/...` — who (the proxy kubeconfig's or
//! certificate's user and groups), which cluster, the verb and object in the member's terms, the
//! path, the answer's code and how long it took — in the same format, under the same kind of
//! policy (`--audit-policy-file`), written by the same rotating writer (0600 file in a 0700
//! directory) as the federation's API server, so `cceonectl audit --file` reads and filters it
//! as it reads the federation's.
//!
//! Stages as kube-apiserver writes them (staging/src/k8s.io/apiserver/pkg/endpoints/filters/
//! audit.go): `RequestReceived` once the caller is authenticated, `ResponseStarted` when the
//! answer of a long-running request (a watch, a pod's log, exec, attach, port-forward: any
//! upgrade) starts, `ResponseComplete` when the answer is done (a stream's when it ends), and a
//! lone `ResponseStarted` for a request that failed authentication. The events of one request
//! share its `auditID`, which the hub also sends on to the member (the `Audit-ID` header, as
//! kube-apiserver's proxy to aggregated servers does), so the member's record of the same request
//! carries the same ID.
//!
//! The member records the request again with the agent as `user` and the caller as
//! `impersonatedUser`; this record is the hub's own, which holds even when the member is
//! unreachable or the request never left the hub (401, 503).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cceone_kube_apiserver::User;
use cceone_kube_apiserver::audit::{
    AuditConfig, AuditLog, Completion, Decision, Entry, Level, Policy, Stage,
};
use http::{Request, Response};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use crate::https::Body;

/// The hub's audit log.
#[derive(Debug, Clone)]
pub(crate) struct ProxyAudit(Arc<AuditLog>);

/// A proxied request's record in the making, shared with `proxy` (an extension of the request)
/// so that it can say whom it authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Caller(Arc<parking_lot::Mutex<Tracked>>);

#[derive(Debug)]
struct Tracked {
    log: Arc<AuditLog>,
    /// The event's parts (the member's path in `request_uri`, for the objectRef).
    entry: Entry,
    /// The hub's own path and query.
    uri: String,
    cluster: String,
    /// Set once the caller is authenticated.
    decision: Option<Decision>,
    started: std::time::Instant,
}

impl Tracked {
    /// The event at `stage`, with the hub's URI and the cluster.
    fn event(&self, level: Level, stage: Stage) -> Value {
        let mut ev = cceone_kube_apiserver::audit::event(level, stage, &self.entry);
        ev["requestURI"] = json!(self.uri);
        let mut ann = json!({"cceone.io/cluster": self.cluster});
        if stage != Stage::RequestReceived {
            let latency = self.started.elapsed();
            ann["cceone.io/latency"] = json!(format!("{:.3}ms", latency.as_secs_f64() * 1000.0));
        }
        ev["annotations"] = ann;
        ev
    }
}

/// Note who a proxied request is from, and write its `RequestReceived` (a no-op when the hub
/// keeps no audit log).
pub(crate) fn identify<B>(req: &Request<B>, user: &str, groups: &[String]) {
    let Some(c) = req.extensions().get::<Caller>() else {
        return;
    };
    let mut t = c.0.lock();
    let user = User {
        name: user.to_string(),
        groups: groups.to_vec(),
        ..User::default()
    };
    let d = t.log.decide(&t.entry.attributes, &user);
    t.entry.attributes.user = user.clone();
    t.entry.requestor = Some(user);
    t.decision = Some(d);
    if d.records(Stage::RequestReceived) {
        let ev = t.event(d.level, Stage::RequestReceived);
        t.log.write_now(&ev);
    }
}

/// The long-running request's [`Completion`], for a task serving its upgraded stream to hold
/// until the stream ends.
pub(crate) fn completion<B>(req: &Request<B>) -> Option<Completion> {
    req.extensions().get::<Completion>().cloned()
}

impl ProxyAudit {
    /// Open (or create) the log at `path` with `policy` (None: the API server's default) and
    /// the API server's rotation.
    pub(crate) fn open(path: PathBuf, policy: Option<Policy>) -> std::io::Result<ProxyAudit> {
        let mut cfg = AuditConfig::new(path);
        if let Some(p) = policy {
            cfg.policy = p;
        }
        Ok(ProxyAudit(AuditLog::open(cfg)?))
    }

    /// Handle a proxied request with `proxy` and record it.
    pub(crate) async fn around<B, F>(
        &self,
        mut req: Request<B>,
        peer: SocketAddr,
        proxy: impl FnOnce(Request<B>) -> F,
    ) -> Response<Body>
    where
        F: Future<Output = Response<Body>>,
    {
        // Path and query only: an HTTP/2 request's URI carries scheme and authority too.
        let uri = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
        let Some((cluster, member_uri)) = split(&uri) else {
            return proxy(req).await;
        };
        let (path, query) = member_uri.split_once('?').unwrap_or((member_uri, ""));
        let query: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let attributes = cceone_kube_apiserver::authz::request::attributes(
            &User::default(),
            req.method().as_str(),
            path,
            &query,
        );
        // exec, attach and port-forward ask to switch protocols.
        let long_running = req.headers().contains_key(http::header::UPGRADE)
            || cceone_kube_apiserver::audit::long_running(&attributes);
        let audit_id = cceone_kube_apiserver::audit::audit_id(req.headers().get("audit-id"));
        if let Ok(v) = http::HeaderValue::from_str(&audit_id) {
            req.headers_mut().insert("audit-id", v);
        }
        let entry = Entry {
            audit_id,
            attributes,
            // The member's path, so the objectRef's apiVersion is read from it; the event
            // names the hub's URI.
            request_uri: member_uri.to_string(),
            user_agent: req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            source_ip: Some(peer.ip()),
            received: jiff::Timestamp::now(),
            ..Entry::default()
        };
        let caller = Caller(Arc::new(parking_lot::Mutex::new(Tracked {
            log: Arc::clone(&self.0),
            entry,
            cluster: cluster.to_string(),
            uri: uri.clone(),
            decision: None,
            started: std::time::Instant::now(),
        })));
        req.extensions_mut().insert(caller.clone());
        let done = long_running.then(|| Completion::new(Arc::clone(&self.0)));
        if let Some(c) = &done {
            req.extensions_mut().insert(c.clone());
        }
        let mut resp = proxy(req).await;
        let events = {
            let mut t = caller.0.lock();
            t.entry.code = resp.status().as_u16();
            if let Ok(v) = http::HeaderValue::from_str(&t.entry.audit_id) {
                resp.headers_mut().insert("audit-id", v);
            }
            stages(&mut t, long_running)
        };
        for ev in &events.now {
            self.0.write(ev).await;
        }
        match (done, events.at_end) {
            (Some(done), Some(ev)) => {
                done.arm(ev);
                // Written when the body ends (and an upgraded stream's task lets go).
                let (parts, body) = resp.into_parts();
                let body = body
                    .map_frame(move |frame: hyper::body::Frame<Bytes>| {
                        let _ = &done;
                        frame
                    })
                    .boxed_unsync();
                Response::from_parts(parts, body)
            }
            _ => resp,
        }
    }
}

/// The events to write now, and the one to write when the stream ends.
struct Events {
    now: Vec<Value>,
    at_end: Option<Value>,
}

/// Which events an answered request gets (pure but for the clock).
fn stages(t: &mut Tracked, long_running: bool) -> Events {
    let code = t.entry.code;
    let d = match t.decision {
        Some(d) => d,
        None => t.log.decide(&t.entry.attributes, &User::default()),
    };
    let mut out = Events {
        now: Vec::new(),
        at_end: None,
    };
    if d.level == Level::None {
        return out;
    }
    if t.entry.requestor.is_none() && code == 401 {
        // authn_audit.go: one event, at ResponseStarted.
        if d.records(Stage::ResponseStarted) {
            out.now.push(t.event(d.level, Stage::ResponseStarted));
        }
        return out;
    }
    if long_running && d.records(Stage::ResponseStarted) {
        out.now.push(t.event(d.level, Stage::ResponseStarted));
    }
    if d.records(Stage::ResponseComplete) {
        let ev = t.event(d.level, Stage::ResponseComplete);
        // A long-running answer that started (101 included) is complete when its stream ends.
        if long_running && code < 400 {
            out.at_end = Some(ev);
        } else {
            out.now.push(ev);
        }
    }
    out
}

/// (cluster, member path and query) of a proxy URI `/clusters/<name>/proxy/<path>`.
fn split(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("/clusters/")?;
    let (cluster, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let member = tail.strip_prefix("proxy")?;
    Some((cluster, if member.is_empty() { "/" } else { member }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn proxied_requests_are_recorded_with_cluster_user_and_code() {
        assert_eq!(
            split("/clusters/m1/proxy/api/v1/pods?watch=1"),
            Some(("m1", "/api/v1/pods?watch=1"))
        );
        assert_eq!(split("/clusters/m1/proxy"), Some(("m1", "/")));
        assert_eq!(split("/clusters/m1/other"), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("hub.log");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let audit = ProxyAudit::open(path.clone(), None).unwrap();
            let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
            let req = Request::get(
                "https://hub:9443/clusters/m1/proxy/api/v1/namespaces/team-a/pods/web",
            )
            .body(())
            .unwrap();
            let resp = audit
                .around(req, peer, |req| async move {
                    identify(&req, "dev", &["devs".to_string()]);
                    Response::builder()
                        .status(403)
                        .body(crate::https::full(Bytes::new()))
                        .unwrap()
                })
                .await;
            assert_eq!(resp.status(), 403);
            let req = Request::get("/clusters/m1/proxy/api/v1/pods?watch=true")
                .body(())
                .unwrap();
            let watch = audit
                .around(req, peer, |_| async {
                    Response::new(crate::https::full(Bytes::from_static(b"{}")))
                })
                .await;
            // The watch is complete when its body ends.
            let _ = watch.into_body().collect().await;
        });
        drop(rt);
        let text = eventually_lines(&path, 3);
        let ev: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(ev[0]["user"]["username"], "dev");
        assert_eq!(ev[0]["user"]["groups"], json!(["devs"]));
        assert_eq!(ev[0]["verb"], "get");
        assert_eq!(ev[0]["stage"], "ResponseComplete");
        assert_eq!(ev[0]["objectRef"]["resource"], "pods");
        assert_eq!(ev[0]["objectRef"]["namespace"], "team-a");
        assert_eq!(ev[0]["objectRef"]["name"], "web");
        assert_eq!(ev[0]["objectRef"]["apiVersion"], "v1");
        assert_eq!(ev[0]["responseStatus"]["code"], 403);
        assert_eq!(
            ev[0]["requestURI"],
            "/clusters/m1/proxy/api/v1/namespaces/team-a/pods/web"
        );
        assert_eq!(ev[0]["annotations"]["cceone.io/cluster"], "m1");
        assert!(
            ev[0]["annotations"]["cceone.io/latency"]
                .as_str()
                .unwrap()
                .ends_with("ms")
        );
        assert_eq!(ev[0]["sourceIPs"], json!(["127.0.0.1"]));
        assert_eq!(ev[1]["verb"], "watch");
        assert_eq!(ev[1]["stage"], "ResponseStarted");
        assert_eq!(ev[1]["user"], json!({}), "no credentials");
        assert_eq!(ev[2]["stage"], "ResponseComplete");
        assert_eq!(ev[2]["auditID"], ev[1]["auditID"]);
        assert_ne!(ev[0]["auditID"], ev[1]["auditID"]);
    }

    /// The log's text once it holds `n` lines (the writer is a thread of its own).
    fn eventually_lines(path: &std::path::Path, n: usize) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
