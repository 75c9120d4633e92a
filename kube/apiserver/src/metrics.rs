//! Prometheus metrics of the API server: requests by origin (HTTP or the in-process client),
//! verb, resource and code with latency, watches, and the store's size and revision.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::core::Core;

/// Where a request came from: the HTTP listener or the in-process client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A request over HTTP.
    Http,
    /// A call of the in-process client ([`crate::local::LocalClient`]).
    Local,
}

impl Origin {
    fn label(self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::Local => "local",
        }
    }
}

/// Requests and total seconds, by origin, verb, resource and HTTP code.
type RequestCounts = BTreeMap<(Origin, &'static str, String, u16), (u64, f64)>;

/// Writes more metrics in the text exposition format (a program's own, served beside the API
/// server's).
pub type Renderer = Arc<dyn Fn(&mut String) + Send + Sync>;

/// Request counters and latency sums.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestCounts>,
    /// Open watch streams.
    pub watches: AtomicI64,
    extra: Mutex<Vec<Renderer>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("watches", &self.watches)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Serve `render`'s metrics on `/metrics` too.
    pub fn add_renderer(&self, render: Renderer) {
        self.extra.lock().push(render);
    }

    /// Count one request (`resource` is the qualified plural, or empty when not a resource).
    pub fn observe(
        &self,
        origin: Origin,
        verb: &'static str,
        resource: &str,
        code: u16,
        took: Duration,
    ) {
        let mut m = self.requests.lock();
        let key = (origin, verb, resource.to_string(), code);
        let e = m.entry(key).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += took.as_secs_f64();
    }

    /// The text exposition format.
    pub fn render(&self, core: &Core) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests by verb and HTTP code.\n# TYPE apiserver_request_total counter\n");
        let snapshot: Vec<_> = self
            .requests
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for ((origin, verb, resource, code), (n, _)) in &snapshot {
            let origin = origin.label();
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",origin=\"{origin}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds_sum Total time spent serving requests.\n# TYPE apiserver_request_duration_seconds_sum counter\n");
        for ((origin, verb, resource, code), (_, secs)) in &snapshot {
            let origin = origin.label();
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{verb=\"{verb}\",resource=\"{resource}\",origin=\"{origin}\",code=\"{code}\"}} {secs}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP apiserver_watches Open watch streams.\n# TYPE apiserver_watches gauge\napiserver_watches {}",
            self.watches.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP apiserver_storage_revision Current storage revision.\n# TYPE apiserver_storage_revision gauge\napiserver_storage_revision {}",
            core.store.current_revision()
        );
        let _ = writeln!(
            out,
            "# HELP apiserver_registered_resources Served resources.\n# TYPE apiserver_registered_resources gauge\napiserver_registered_resources {}",
            core.registry.all().len()
        );
        let st = core.store.stats();
        for (name, help, kind, value) in [
            (
                "apiserver_storage_commits_total",
                "Group commits of the store's log.",
                "counter",
                st.commits as f64,
            ),
            (
                "apiserver_storage_commit_records_total",
                "Writes carried by those commits.",
                "counter",
                st.records as f64,
            ),
            (
                "apiserver_storage_commit_bytes_total",
                "Bytes appended to the log.",
                "counter",
                st.bytes as f64,
            ),
            (
                "apiserver_storage_commit_seconds_total",
                "Time spent writing and syncing the log.",
                "counter",
                st.commit_seconds,
            ),
            (
                "apiserver_storage_commit_seconds_max",
                "The longest single commit.",
                "gauge",
                st.max_commit_seconds,
            ),
            (
                "apiserver_storage_snapshots_total",
                "Snapshots written.",
                "counter",
                st.snapshots as f64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let extra: Vec<Renderer> = self.extra.lock().clone();
        for render in extra {
            render(&mut out);
        }
        out
    }
}
