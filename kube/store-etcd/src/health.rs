//! Whether etcd can take writes now, and counters of the writes made, for the API server's
//! `/readyz` and `/metrics` ([`Store::writable`](cceone_kube_store::Store::writable) and
//! [`Store::stats`](cceone_kube_store::Store::stats) are synchronous, so they read what the
//! requests and a background probe last found).
//!
//! kube-apiserver's `/readyz` checks etcd by a read with a deadline (`etcd` and
//! `etcd-readiness` checks, staging/src/k8s.io/apiserver/pkg/storage/storagebackend/factory/
//! etcd3.go, `newETCD3Check`), and refuses writes when etcd raised a NOSPACE alarm. Here a
//! request that fails because etcd is unreachable, or a write refused for space, marks the
//! store unwritable at once; the next request that succeeds clears it; and a probe lists etcd's
//! alarms every [`PROBE_EVERY`] when no request has answered in that time, so an idle server
//! turns ready or unready too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use cceone_kube_store::{StoreError, StoreStats};

use crate::error;

/// How often the probe looks at etcd when no request has answered.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(2);

/// etcd's message for a write refused under the NOSPACE alarm (`ErrNoSpace`).
const NO_SPACE: &str = "database space exceeded";

/// What the last requests found, and the write counters.
#[derive(Default)]
pub(crate) struct Health {
    /// Why writes would fail now (None: they would not, as far as is known).
    failure: Mutex<Option<String>>,
    /// When a request last answered.
    last_ok: Mutex<Option<Instant>>,
    commits: AtomicU64,
    bytes: AtomicU64,
    /// Nanoseconds spent in write transactions, in total and the longest.
    nanos: AtomicU64,
    max_nanos: AtomicU64,
}

impl Health {
    /// A request answered (`write`: it was a write, which also clears a space alarm).
    pub(crate) fn ok(&self, write: bool) {
        *self.last_ok.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if write || failure.as_deref().is_none_or(|f| !f.contains(NO_SPACE)) {
            *failure = None;
        }
    }

    /// A request failed: etcd unreachable, timing out or out of space makes writes fail.
    pub(crate) fn failed(&self, e: &StoreError) {
        let text = e.to_string();
        if error::transient(e) || text.contains(NO_SPACE) {
            *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
        }
    }

    /// What the probe found: an unreachable etcd, or the alarms it has raised.
    pub(crate) fn probed(&self, result: Result<Vec<String>, StoreError>) {
        match result {
            Ok(alarms) if alarms.is_empty() => self.ok(true),
            Ok(alarms) => {
                *self.last_ok.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(format!("etcd alarm raised: {}", alarms.join(", ")));
            }
            Err(e) => {
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string())
            }
        }
    }

    /// Whether the probe should look (nothing answered for [`PROBE_EVERY`]).
    pub(crate) fn quiet(&self) -> bool {
        self.last_ok
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|t| t.elapsed() >= PROBE_EVERY)
            || self
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some()
    }

    /// A write transaction of `bytes` that took `took`.
    pub(crate) fn wrote(&self, bytes: usize, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// [`Store::writable`](cceone_kube_store::Store::writable).
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        match self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            None => Ok(()),
            Some(why) => Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                why.clone(),
            ))),
        }
    }

    /// [`Store::stats`](cceone_kube_store::Store::stats): every write is one etcd transaction
    /// (one commit of one record); etcd's own snapshots are not counted here.
    pub(crate) fn stats(&self) -> StoreStats {
        let commits = self.commits.load(Ordering::Relaxed);
        StoreStats {
            commits,
            records: commits,
            bytes: self.bytes.load(Ordering::Relaxed),
            commit_seconds: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)).as_secs_f64(),
            max_commit_seconds: Duration::from_nanos(self.max_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
            snapshots: 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind, text: &str) -> StoreError {
        StoreError::Io(std::io::Error::new(kind, text.to_string()))
    }

    #[test]
    fn failures_mark_unwritable_until_an_answer() {
        let h = Health::default();
        assert!(h.writable().is_ok());
        h.failed(&StoreError::NotFound { key: "k".into() });
        assert!(h.writable().is_ok(), "an answer about a key is no outage");
        h.failed(&io(std::io::ErrorKind::ConnectionRefused, "etcd down"));
        assert!(h.writable().unwrap_err().to_string().contains("etcd down"));
        h.ok(false);
        assert!(h.writable().is_ok());
    }

    #[test]
    fn a_space_alarm_is_cleared_by_a_write_only() {
        let h = Health::default();
        h.failed(&io(
            std::io::ErrorKind::Other,
            "etcdserver: mvcc: database space exceeded",
        ));
        h.ok(false);
        assert!(h.writable().is_err(), "reads still work under NOSPACE");
        h.ok(true);
        assert!(h.writable().is_ok());
        h.probed(Ok(vec!["NOSPACE".into()]));
        assert!(h.writable().unwrap_err().to_string().contains("NOSPACE"));
        h.probed(Ok(Vec::new()));
        assert!(h.writable().is_ok());
    }

    #[test]
    fn stats_count_writes() {
        let h = Health::default();
        h.wrote(100, Duration::from_millis(2));
        h.wrote(50, Duration::from_millis(5));
        let s = h.stats();
        assert_eq!((s.commits, s.records, s.bytes), (2, 2, 150));
        assert!((s.max_commit_seconds - 0.005).abs() < 1e-9);
        assert!((s.commit_seconds - 0.007).abs() < 1e-9);
    }
}
