//! Looking again at an object once time alone has changed what the controllers would do: a
//! pod's start delay, a Job pod's run, a deleted pod's stop, a refused workload's backoff, a
//! pod turning available after `minReadySeconds`, a rollout's progress deadline, a CronJob's
//! next schedule time, and a failed write's retry (the work queues' `AddAfter` and
//! `AddRateLimited` upstream).

use std::collections::HashMap;
use std::time::Duration;

use super::informer::Pending;

/// What to look at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Mark {
    /// A pod (schedule it, move it on).
    Pod,
    /// A workload owning pods, to reconcile.
    Workload,
    /// A workload owning pods, to recompute its status.
    WorkloadStatus,
    /// A Deployment or CronJob, to reconcile.
    Owner,
    /// A Deployment or CronJob, to recompute its status.
    OwnerStatus,
}

/// How long after a failed write the object is looked at again (the work queues' rate
/// limiter starts at 5 ms per item; a simulator need not hurry).
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// When to look at what again.
#[derive(Default)]
pub(super) struct Timers(HashMap<(Mark, String), jiff::Timestamp>);

impl Timers {
    /// Look at `key` for `mark` at `at`, or no more when None (replacing what was set).
    pub(super) fn set(&mut self, mark: Mark, key: &str, at: Option<jiff::Timestamp>) {
        match at {
            Some(t) => {
                self.0.insert((mark, key.to_string()), t);
            }
            None => {
                self.0.remove(&(mark, key.to_string()));
            }
        }
    }

    /// Look at `key` for `mark` again after [`RETRY`] (or sooner if already due sooner).
    pub(super) fn retry(&mut self, mark: Mark, key: &str, now: jiff::Timestamp) {
        let at = jiff::SignedDuration::try_from(RETRY)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
            .unwrap_or(now);
        let slot = self.0.entry((mark, key.to_string())).or_insert(at);
        *slot = (*slot).min(at);
    }

    /// Mark what is due at `now` as changed.
    pub(super) fn fire(&mut self, now: jiff::Timestamp, pending: &mut Pending) {
        self.0.retain(|(mark, key), at| {
            if *at > now {
                return true;
            }
            let set = match mark {
                Mark::Pod => &mut pending.pods,
                Mark::Workload => &mut pending.workloads,
                Mark::WorkloadStatus => &mut pending.workload_status,
                Mark::Owner => &mut pending.owners,
                Mark::OwnerStatus => &mut pending.owner_status,
            };
            set.insert(key.clone());
            false
        });
    }

    /// How long until the next one is due (zero when one is), if any.
    pub(super) fn next_in(&self, now: jiff::Timestamp) -> Option<Duration> {
        self.0
            .values()
            .min()
            .map(|t| Duration::try_from(t.duration_since(now)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_marks_fire_once_and_later_ones_wait() {
        let t0: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap_or_default();
        let later = t0
            .checked_add(jiff::SignedDuration::from_secs(5))
            .unwrap_or(t0);
        let mut timers = Timers::default();
        timers.set(Mark::Pod, "p", Some(t0));
        timers.set(Mark::Owner, "d", Some(later));
        timers.retry(Mark::Workload, "w", t0);
        timers.set(Mark::Workload, "gone", Some(t0));
        timers.set(Mark::Workload, "gone", None);
        assert_eq!(timers.next_in(t0), Some(Duration::ZERO));
        let mut pending = Pending::default();
        timers.fire(t0, &mut pending);
        assert!(pending.pods.contains("p"));
        assert!(pending.owners.is_empty() && pending.workloads.is_empty());
        assert_eq!(timers.next_in(t0), Some(RETRY));
        timers.fire(later, &mut pending);
        assert!(pending.owners.contains("d") && pending.workloads.contains("w"));
        assert!(!pending.workloads.contains("gone"));
        assert_eq!(timers.next_in(later), None);
    }
}
