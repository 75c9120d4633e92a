//! What simulated containers write to their logs: one deterministic line per second of a
//! container's life, the same for every reader, so `kubectl logs` (with `--tail`, `--since`,
//! `--timestamps`, `-f`, `--previous`) can be checked exactly.

use jiff::{SignedDuration, Timestamp};

/// Lines a container keeps (older lines are rotated away, as kubelet rotates log files).
pub const RETAINED: u64 = 10_000;

/// Line `n` (from 1) of `container` in `namespace/pod`; `previous` for the instance before the
/// last restart.
pub fn line(namespace: &str, pod: &str, container: &str, n: u64, previous: bool) -> String {
    let which = if previous { " (previous instance)" } else { "" };
    format!("{namespace}/{pod} {container}{which}: line {n}")
}

/// When line `n` is written: `n` seconds after the container started.
pub fn written_at(started: Timestamp, n: u64) -> Timestamp {
    started
        .checked_add(SignedDuration::from_secs(n.min(i64::MAX as u64) as i64))
        .unwrap_or(started)
}

/// The numbers of the lines written by `now`, oldest first, after `--tail` and `--since`.
pub fn window(
    started: Timestamp,
    now: Timestamp,
    tail: Option<u64>,
    since: Option<Timestamp>,
) -> std::ops::RangeInclusive<u64> {
    let secs = now.duration_since(started).as_secs().max(0) as u64;
    let mut first = secs.saturating_sub(RETAINED - 1).max(1);
    if let Some(s) = since {
        let from = s.duration_since(started).as_secs().max(0) as u64;
        first = first.max(from.max(1));
    }
    if let Some(t) = tail {
        first = first.max(secs.saturating_sub(t).saturating_add(1));
    }
    first..=secs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_tail_since_and_retention() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let now = written_at(t0, 10);
        assert_eq!(window(t0, now, None, None), 1..=10);
        assert_eq!(window(t0, now, Some(3), None), 8..=10);
        assert_eq!(window(t0, now, Some(0), None).count(), 0);
        assert_eq!(window(t0, now, None, Some(written_at(t0, 6))), 6..=10);
        assert_eq!(window(t0, t0, None, None).count(), 0);
        let late = written_at(t0, 50_000);
        assert_eq!(window(t0, late, None, None).count() as u64, RETAINED);
        assert_eq!(line("ns", "p", "c", 4, false), "ns/p c: line 4");
    }
}
