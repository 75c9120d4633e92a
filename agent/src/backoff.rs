//! Capped exponential backoff with full jitter ("Exponential Backoff and Jitter", AWS
//! Architecture Blog): attempt `n` waits a uniformly random time in `[0, min(cap, base * 2^n)]`,
//! so a hub restart does not bring every agent back in the same instant.

use std::time::Duration;

/// Default first ceiling.
pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
/// Default largest ceiling.
pub const DEFAULT_CAP: Duration = Duration::from_secs(30);
/// Default time a connection must stay up before the attempt count starts over.
pub const DEFAULT_RESET_AFTER: Duration = Duration::from_secs(60);

/// The ceiling for attempt `attempt` (0-based): `min(cap, base * 2^attempt)`.
pub fn ceiling(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// Full jitter: `unit` (in `[0, 1]`) scales the ceiling for `attempt`.
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32, unit: f64) -> Duration {
    ceiling(base, cap, attempt).mul_f64(unit.clamp(0.0, 1.0))
}

/// Reconnect delays for one tunnel.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    reset_after: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff with the defaults (500 ms base, 30 s cap, reset after 60 s up).
    pub fn new() -> Self {
        Backoff::with(DEFAULT_BASE, DEFAULT_CAP, DEFAULT_RESET_AFTER)
    }

    /// A backoff with explicit parameters.
    pub fn with(base: Duration, cap: Duration, reset_after: Duration) -> Self {
        Backoff {
            base,
            cap,
            reset_after,
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// Use a seeded generator (deterministic tests).
    pub fn seeded(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The delay before the next attempt; each call raises the ceiling until the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = full_jitter(self.base, self.cap, self.attempt, self.rng.f64());
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// The ceiling the next [`Backoff::next_delay`] draws under.
    pub fn current_ceiling(&self) -> Duration {
        ceiling(self.base, self.cap, self.attempt)
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Start over from the base.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Report how long the last connection stayed up; a long enough one resets the backoff, a
    /// connection that flaps keeps backing off.
    pub fn connection_lasted(&mut self, up: Duration) {
        if up >= self.reset_after {
            self.reset();
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ceilings_double_until_the_cap() {
        let ms = |n| ceiling(DEFAULT_BASE, DEFAULT_CAP, n).as_millis();
        assert_eq!(
            (0..8).map(ms).collect::<Vec<_>>(),
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        assert_eq!(ms(u32::MAX), 30000);
    }

    #[test]
    fn long_connection_resets_short_one_does_not() {
        let mut b = Backoff::new().seeded(7);
        for _ in 0..5 {
            b.next_delay();
        }
        b.connection_lasted(Duration::from_secs(1));
        assert_eq!(b.attempts(), 5);
        b.connection_lasted(DEFAULT_RESET_AFTER);
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.current_ceiling(), DEFAULT_BASE);
    }

    proptest! {
        #[test]
        fn delays_within_full_jitter_bounds(
            seed in any::<u64>(),
            base_ms in 1u64..5_000,
            cap_ms in 1u64..120_000,
            n in 0usize..80,
        ) {
            let (base, cap) = (Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
            let mut b = Backoff::with(base, cap, DEFAULT_RESET_AFTER).seeded(seed);
            for attempt in 0..n {
                let limit = cap.min(base.saturating_mul(2u32.saturating_pow(attempt as u32)));
                let d = b.next_delay();
                prop_assert!(d <= limit, "attempt {attempt}: {d:?} > {limit:?}");
            }
        }

        #[test]
        fn jitter_spans_the_interval(attempt in 0u32..64, unit in 0.0f64..=1.0) {
            let d = full_jitter(DEFAULT_BASE, DEFAULT_CAP, attempt, unit);
            prop_assert!(d <= ceiling(DEFAULT_BASE, DEFAULT_CAP, attempt));
            prop_assert!(d <= DEFAULT_CAP);
        }
    }
}
