//! The hub's Prometheus metrics: tunnels by transport, heartbeats, registrations, refusals by
//! reason, proxied requests and bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Counters and gauges, shared by every task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open tunnels over TLS/TCP.
    pub tunnels_grpc: AtomicI64,
    /// Open tunnels over QUIC.
    pub tunnels_quic: AtomicI64,
    /// Heartbeats received.
    pub heartbeats: AtomicU64,
    /// Status reports received.
    pub status_reports: AtomicU64,
    /// Successful registrations.
    pub registrations: AtomicU64,
    /// Proxied requests.
    pub proxy_requests: AtomicU64,
    /// Bytes proxied from members to callers.
    pub proxy_bytes: AtomicU64,
    /// Proxied requests forwarded to the hub holding the cluster's tunnel.
    pub proxy_forwarded: AtomicU64,
    /// Status writes (a cluster's or its Works') a session left unwritten because this hub no
    /// longer held its Lease or the cluster (see `owner::may_write`).
    pub fenced_writes: AtomicU64,
    /// TLS handshakes waiting for an admission slot.
    pub admission_waiting: AtomicI64,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Count one refusal (bad token, bad certificate, revoked, ...).
    pub fn refuse(&self, reason: &'static str) {
        *self.refusals.lock().entry(reason).or_default() += 1;
    }

    /// Refusals so far for `reason`.
    pub fn refusals(&self, reason: &str) -> u64 {
        self.refusals.lock().get(reason).copied().unwrap_or(0)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed);
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cceone_hub_tunnels Open agent tunnels by transport.\n# TYPE cceone_hub_tunnels gauge"
        );
        let _ = writeln!(
            out,
            "cceone_hub_tunnels{{transport=\"grpc\"}} {}",
            g(&self.tunnels_grpc)
        );
        let _ = writeln!(
            out,
            "cceone_hub_tunnels{{transport=\"quic\"}} {}",
            g(&self.tunnels_quic)
        );
        for (name, help, v) in [
            (
                "cceone_hub_heartbeats_total",
                "Heartbeats received.",
                c(&self.heartbeats),
            ),
            (
                "cceone_hub_status_reports_total",
                "Cluster status reports received.",
                c(&self.status_reports),
            ),
            (
                "cceone_hub_registrations_total",
                "Agents registered.",
                c(&self.registrations),
            ),
            (
                "cceone_hub_proxy_requests_total",
                "Requests proxied into member clusters.",
                c(&self.proxy_requests),
            ),
            (
                "cceone_hub_proxy_forwarded_total",
                "Proxied requests forwarded to the hub holding the cluster's tunnel.",
                c(&self.proxy_forwarded),
            ),
            (
                "cceone_hub_fenced_writes_total",
                "Status writes left unwritten: this hub no longer held its lease or the cluster.",
                c(&self.fenced_writes),
            ),
            (
                "cceone_hub_proxy_bytes_total",
                "Bytes proxied from member clusters.",
                c(&self.proxy_bytes),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP cceone_hub_admission_waiting Handshakes waiting for admission.\n# TYPE cceone_hub_admission_waiting gauge\ncceone_hub_admission_waiting {}",
            g(&self.admission_waiting)
        );
        let _ = writeln!(
            out,
            "# HELP cceone_hub_refusals_total Refused registrations and tunnels by reason.\n# TYPE cceone_hub_refusals_total counter"
        );
        for (reason, n) in self.refusals.lock().iter() {
            let _ = writeln!(out, "cceone_hub_refusals_total{{reason=\"{reason}\"}} {n}");
        }
        out
    }
}
