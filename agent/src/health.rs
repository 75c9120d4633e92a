//! The agent's tiny HTTP server for the kubelet's probes and for Prometheus: `/healthz` (the
//! process is up), `/readyz` (connected to the hub, or a healthy standby) and `/metrics`. State
//! lives in atomics of a shared [`AgentMetrics`] so the hot paths never lock.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Counters and gauges shared by every part of the agent.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    /// A tunnel to the hub is up.
    pub tunnel_connected: AtomicBool,
    /// Tunnel (re)connection attempts after the first.
    pub reconnects_total: AtomicU64,
    /// Cluster status messages sent to the hub.
    pub status_sends_total: AtomicU64,
    /// Manifests applied to the member (once per Work generation).
    pub works_applied_total: AtomicU64,
    /// This replica holds the leader Lease.
    pub leader: AtomicBool,
    /// The last leader-election round reached the member API server.
    pub member_api_ok: AtomicBool,
}

impl AgentMetrics {
    /// Fresh metrics, shareable.
    pub fn new() -> Arc<AgentMetrics> {
        Arc::default()
    }

    /// Ready: the leader with a live tunnel, or a standby that can reach its API server.
    pub fn ready(&self) -> bool {
        let leader = self.leader.load(Ordering::Relaxed);
        if leader {
            self.tunnel_connected.load(Ordering::Relaxed)
        } else {
            self.member_api_ok.load(Ordering::Relaxed)
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let flag = |b: &AtomicBool| u64::from(b.load(Ordering::Relaxed));
        gauge(
            &mut out,
            "cceone_agent_tunnel_connected",
            "Whether a tunnel to the hub is up (1) or not (0).",
            flag(&self.tunnel_connected),
        );
        counter(
            &mut out,
            "cceone_agent_reconnects_total",
            "Tunnel reconnection attempts.",
            self.reconnects_total.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "cceone_agent_status_sends_total",
            "Cluster status messages sent to the hub.",
            self.status_sends_total.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "cceone_agent_works_applied_total",
            "Work manifests applied to the member cluster.",
            self.works_applied_total.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "cceone_agent_leader",
            "Whether this replica is the leader (1) or a standby (0).",
            flag(&self.leader),
        );
        out
    }
}

/// A bound, not yet serving, health server.
#[derive(Debug)]
pub struct HealthServer {
    listener: TcpListener,
}

impl HealthServer {
    /// Bind `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<HealthServer> {
        Ok(HealthServer {
            listener: TcpListener::bind(addr).await?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` completes.
    pub async fn serve(self, metrics: Arc<AgentMetrics>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => return,
                a = self.listener.accept() => a,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "health accept failed");
                    continue;
                }
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let metrics = Arc::clone(&metrics);
                    async move { Ok::<_, Infallible>(respond(&metrics, &req)) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                    tracing::debug!(error = %e, "health connection ended");
                }
            });
        }
    }
}

/// Answer one probe or scrape.
pub fn respond(metrics: &AgentMetrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    route(metrics, req.method(), req.uri().path())
}

fn route(metrics: &AgentMetrics, method: &http::Method, path: &str) -> Response<Full<Bytes>> {
    if method != http::Method::GET && method != http::Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        );
    }
    match path {
        "/healthz" | "/livez" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" if metrics.ready() => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no tunnel to the hub yet, or the member API server is unreachable\n".into(),
        ),
        "/metrics" => {
            let mut r = text(StatusCode::OK, metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn get(m: &AgentMetrics, path: &str) -> (StatusCode, String) {
        let r = route(m, &http::Method::GET, path);
        let status = r.status();
        let body = r.into_body().collect().await.map(|b| b.to_bytes());
        let body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
        (status, body.unwrap_or_default())
    }

    #[tokio::test]
    async fn readiness_follows_role_and_tunnel() {
        let m = AgentMetrics::default();
        assert_eq!(get(&m, "/healthz").await.0, StatusCode::OK);
        assert_eq!(get(&m, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        m.member_api_ok.store(true, Ordering::Relaxed);
        assert_eq!(
            get(&m, "/readyz").await.0,
            StatusCode::OK,
            "healthy standby"
        );
        m.leader.store(true, Ordering::Relaxed);
        assert_eq!(get(&m, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        m.tunnel_connected.store(true, Ordering::Relaxed);
        assert_eq!(
            get(&m, "/readyz").await.0,
            StatusCode::OK,
            "connected leader"
        );
        assert_eq!(get(&m, "/nope").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn metrics_text() {
        let m = AgentMetrics::default();
        m.reconnects_total.fetch_add(3, Ordering::Relaxed);
        m.status_sends_total.fetch_add(2, Ordering::Relaxed);
        m.leader.store(true, Ordering::Relaxed);
        let (status, body) = get(&m, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        for line in [
            "cceone_agent_tunnel_connected 0",
            "cceone_agent_reconnects_total 3",
            "cceone_agent_status_sends_total 2",
            "cceone_agent_leader 1",
            "# TYPE cceone_agent_reconnects_total counter",
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "missing {line:?} in\n{body}"
            );
        }
    }
}
