//! A per-source limit on refused bootstrap tokens, so token ids and secrets cannot be guessed at
//! the speed of the network: after [`MAX_FAILURES`] refusals within [`WINDOW`], a source gets
//! 429 without its token being looked at. Pure: time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::admission::SourceCounts;

/// Refused tokens a source may present within [`WINDOW`].
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window the failures are counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Sources remembered at most; past it, windows that have ended are forgotten.
const MAX_SOURCES: usize = 10_000;

/// Refusals per source address (an IPv6 /64) in its current window.
#[derive(Default)]
pub(crate) struct Guesses {
    sources: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Guesses {
    /// Whether `ip` may present a token now.
    pub(crate) fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        match self.sources.lock().get(&SourceCounts::key(ip)) {
            Some((start, n)) => now.duration_since(*start) >= WINDOW || *n < MAX_FAILURES,
            None => true,
        }
    }

    /// Counts a refused token from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) {
        let mut sources = self.sources.lock();
        if sources.len() >= MAX_SOURCES {
            sources.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = sources.entry(SourceCounts::key(ip)).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_held_back_for_the_rest_of_its_window() {
        let g = Guesses::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(g.allowed(a, t0));
            g.failed(a, t0);
        }
        assert!(!g.allowed(a, t0 + Duration::from_secs(59)));
        assert!(g.allowed(b, t0));
        assert!(g.allowed(a, t0 + WINDOW));
        g.failed(a, t0 + WINDOW);
        assert!(g.allowed(a, t0 + WINDOW));
    }
}
