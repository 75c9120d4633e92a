//! Capped exponential backoff with full jitter (AWS architecture blog's "full jitter"): the
//! n-th delay is uniform in [0, min(cap, base * 2^n)], so a reconnect storm spreads out.

use std::time::Duration;

/// Backoff state for one reconnecting client.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    /// A backoff starting at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Backoff {
            base,
            cap,
            attempt: 0,
            seed: seed ^ u64::from(std::process::id()).rotate_left(32),
        }
    }

    /// The ceiling of the next delay.
    pub fn ceiling(&self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX));
        exp.min(self.cap)
    }

    /// The next delay (uniform in [0, ceiling]) and advance.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64*: enough randomness for jitter, no dependency.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        let r = self.seed.wrapping_mul(0x2545F4914F6CDD1D);
        let nanos = ceiling.as_nanos() as u64;
        Duration::from_nanos(if nanos == 0 { 0 } else { r % (nanos + 1) })
    }

    /// Start over (after a connection that stayed up).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn delays_stay_within_bounds(base_ms in 1u64..2000, cap_ms in 1u64..60_000, n in 0u32..80) {
            let mut b = Backoff::new(Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
            for i in 0..n {
                let ceiling = Duration::from_millis(base_ms).saturating_mul(1u32.checked_shl(i.min(30)).unwrap_or(u32::MAX)).min(Duration::from_millis(cap_ms));
                let d = b.next_delay();
                prop_assert!(d <= ceiling);
            }
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..10 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(10));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }
}
