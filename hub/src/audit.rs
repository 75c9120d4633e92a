//! The hub's audit log of proxied requests (issue 10): one `audit.k8s.io/v1` `Event` JSON line
//! per request to `/clusters/<name>/proxy/...` — who (the proxy kubeconfig's or certificate's
//! user and groups), which cluster, the verb and object in the member's terms, the path, the
//! answer's code and how long it took — in the same format, written by the same rotating writer
//! (0600 file in a 0700 directory) as the federation's API server, so `cceonectl audit --file`
//! reads and filters it as it reads the federation's.
//!
//! The member records the same request again with the agent as `user` and the caller as
//! `impersonatedUser`; this record is the hub's own, which holds even when the member is
//! unreachable or the request never left the hub (401, 503). The event is written when the
//! answer's head is ready: `ResponseComplete` for ordinary requests, `ResponseStarted` for
//! watches and upgraded streams (exec, attach, port-forward), whose end the hub does not
//! wait for, as kube-apiserver logs long-running requests at `ResponseStarted`
//! (staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cceone_kube_apiserver::User;
use cceone_kube_apiserver::audit::{AuditConfig, AuditLog, Entry, Level};
use http::{Request, Response};
use serde_json::json;

/// The hub's audit log.
#[derive(Debug, Clone)]
pub(crate) struct ProxyAudit(Arc<AuditLog>);

/// Where `proxy` leaves whom it authenticated, for the record (an extension of the request).
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller(Arc<parking_lot::Mutex<Option<User>>>);

/// Note who a proxied request is from (a no-op when the hub keeps no audit log).
pub(crate) fn identify<B>(req: &Request<B>, user: &str, groups: &[String]) {
    if let Some(c) = req.extensions().get::<Caller>() {
        *c.0.lock() = Some(User {
            name: user.to_string(),
            groups: groups.to_vec(),
            ..User::default()
        });
    }
}

/// What is known of a proxied request before it is handled.
struct Received {
    method: String,
    uri: String,
    user_agent: String,
    peer: SocketAddr,
    at: jiff::Timestamp,
    started: std::time::Instant,
}

impl ProxyAudit {
    /// Open (or create) the log at `path`, with the API server's default policy and rotation.
    pub(crate) fn open(path: PathBuf) -> std::io::Result<ProxyAudit> {
        Ok(ProxyAudit(AuditLog::open(AuditConfig::new(path))?))
    }

    /// Handle a proxied request with `proxy` and record it.
    pub(crate) async fn around<B, R, F>(
        &self,
        mut req: Request<B>,
        peer: SocketAddr,
        proxy: impl FnOnce(Request<B>) -> F,
    ) -> Response<R>
    where
        F: Future<Output = Response<R>>,
    {
        let caller = Caller::default();
        req.extensions_mut().insert(caller.clone());
        let received = Received {
            method: req.method().to_string(),
            // Path and query only: an HTTP/2 request's URI carries scheme and authority too.
            uri: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string()),
            user_agent: req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            peer,
            at: jiff::Timestamp::now(),
            started: std::time::Instant::now(),
        };
        // exec, attach and port-forward ask to switch protocols.
        let streaming = req.headers().contains_key(http::header::UPGRADE);
        let resp = proxy(req).await;
        let user = caller.0.lock().take();
        self.record(received, user, resp.status().as_u16(), streaming)
            .await;
        resp
    }

    async fn record(&self, r: Received, user: Option<User>, code: u16, streaming: bool) {
        let Some((cluster, member_uri)) = split(&r.uri) else {
            return;
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
            &user.clone().unwrap_or_default(),
            &r.method,
            path,
            &query,
        );
        let level = self.0.level(&attributes);
        if level == Level::None {
            return;
        }
        let long_running = streaming || attributes.verb == "watch";
        let entry = Entry {
            requestor: user,
            attributes,
            // The member's path, so the objectRef's apiVersion is read from it; the event
            // names the hub's URI below.
            request_uri: member_uri.to_string(),
            user_agent: r.user_agent,
            source_ip: Some(r.peer.ip()),
            code,
            received: r.at,
            ..Entry::default()
        };
        let mut ev = cceone_kube_apiserver::audit::event(level, &entry);
        ev["requestURI"] = json!(r.uri);
        if long_running && (200..300).contains(&code) || code == 101 {
            ev["stage"] = json!("ResponseStarted");
        }
        let latency = r.started.elapsed();
        ev["annotations"] = json!({
            "cceone.io/cluster": cluster,
            "cceone.io/latency": format!("{:.3}ms", latency.as_secs_f64() * 1000.0),
        });
        self.0.write(&ev).await;
    }
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
            let audit = ProxyAudit::open(path.clone()).unwrap();
            let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
            let req = Request::get(
                "https://hub:9443/clusters/m1/proxy/api/v1/namespaces/team-a/pods/web",
            )
            .body(())
            .unwrap();
            let resp = audit
                .around(req, peer, |req| async move {
                    identify(&req, "dev", &["devs".to_string()]);
                    Response::builder().status(403).body(()).unwrap()
                })
                .await;
            assert_eq!(resp.status(), 403);
            let req = Request::get("/clusters/m1/proxy/api/v1/pods?watch=true")
                .body(())
                .unwrap();
            audit
                .around(req, peer, |_| async { Response::new(()) })
                .await;
        });
        drop(rt);
        let text = eventually_lines(&path, 2);
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
