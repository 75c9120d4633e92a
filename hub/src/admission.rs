//! Admission of unauthenticated peers, so that none can exhaust what agents and probes need.
//!
//! A TCP peer costs a connection slot (a global cap) and a per-source slot from accept until
//! its handshake ends; it only takes one of the scarce TLS handshake slots once its whole
//! ClientHello has arrived, which must happen within a short timeout. QUIC has its own pool of
//! handshake slots (a flood of Initials can no longer starve TCP) and is only admitted from
//! addresses validated by a Retry. Idle or slow sockets therefore hold nothing agents queue
//! behind, and one source address (an IPv6 /64) can hold only a bounded share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which handshake pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TLS over TCP (tunnels and HTTPS).
    Tcp,
    /// QUIC (tunnels).
    Quic,
}

/// The admission limits (from [`crate::HubConfig`]).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Concurrent TLS handshakes per transport.
    pub(crate) handshakes: usize,
    /// Open TCP connections in all (sessions and HTTPS included).
    pub(crate) connections: usize,
    /// Connections from one source still unauthenticated (before and during the handshake).
    pub(crate) per_source: u32,
    /// How long a handshake waits for a slot before it is refused.
    pub(crate) slot_wait: Duration,
}

/// Per-source counts of unauthenticated connections; plain data, no I/O.
#[derive(Debug, Default)]
pub(crate) struct SourceCounts {
    counts: HashMap<IpAddr, u32>,
}

impl SourceCounts {
    /// The key a source is counted under: the address, or its /64 for IPv6 (one host usually
    /// has a whole /64).
    pub(crate) fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut seg = v6.segments();
                    seg[4..].fill(0);
                    IpAddr::V6(seg.into())
                }
            },
        }
    }

    /// Counts one more connection from `ip`, unless it already has `max`.
    pub(crate) fn try_enter(&mut self, ip: IpAddr, max: u32) -> bool {
        let n = self.counts.entry(Self::key(ip)).or_default();
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    /// Counts one connection from `ip` less.
    pub(crate) fn leave(&mut self, ip: IpAddr) {
        let key = Self::key(ip);
        if let Some(n) = self.counts.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&key);
            }
        }
    }

    /// Sources with at least one connection.
    pub(crate) fn sources(&self) -> usize {
        self.counts.len()
    }
}

/// One unauthenticated connection counted against its source; uncounted when dropped.
pub(crate) struct SourceGuard {
    sources: Arc<Mutex<SourceCounts>>,
    ip: IpAddr,
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        self.sources.lock().leave(self.ip);
    }
}

/// The hub's admission state.
pub(crate) struct Admission {
    limits: Limits,
    tcp: Arc<Semaphore>,
    quic: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    sources: Arc<Mutex<SourceCounts>>,
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Admission {
        Admission {
            tcp: Arc::new(Semaphore::new(limits.handshakes.max(1))),
            quic: Arc::new(Semaphore::new(limits.handshakes.max(1))),
            connections: Arc::new(Semaphore::new(limits.connections.max(1))),
            sources: Arc::default(),
            limits,
        }
    }

    /// A slot for one more open TCP connection, None at the cap.
    pub(crate) fn connection(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.connections).try_acquire_owned().ok()
    }

    /// Counts an unauthenticated connection from `ip`, None when its source is at its cap.
    pub(crate) fn source(&self, ip: IpAddr) -> Option<SourceGuard> {
        self.sources
            .lock()
            .try_enter(ip, self.limits.per_source)
            .then(|| SourceGuard {
                sources: Arc::clone(&self.sources),
                ip,
            })
    }

    /// A handshake slot of `transport`, waiting at most the configured time.
    pub(crate) async fn handshake(&self, transport: Transport) -> Option<OwnedSemaphorePermit> {
        let pool = match transport {
            Transport::Tcp => &self.tcp,
            Transport::Quic => &self.quic,
        };
        tokio::time::timeout(self.limits.slot_wait, Arc::clone(pool).acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Open TCP connections now.
    pub(crate) fn open_connections(&self) -> usize {
        self.limits.connections.max(1) - self.connections.available_permits()
    }

    /// Source addresses with unauthenticated connections now.
    pub(crate) fn pending_sources(&self) -> usize {
        self.sources.lock().sources()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_capped_and_released() {
        let mut s = SourceCounts::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(s.try_enter(a, 2));
        assert!(s.try_enter(a, 2));
        assert!(!s.try_enter(a, 2));
        assert!(s.try_enter(b, 2));
        s.leave(a);
        assert!(s.try_enter(a, 2));
        s.leave(a);
        s.leave(a);
        s.leave(b);
        assert_eq!(s.sources(), 0);
        s.leave(b);
        assert_eq!(s.sources(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let mut s = SourceCounts::default();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0; 16]));
        let other: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 16]));
        assert!(s.try_enter(one, 1));
        assert!(!s.try_enter(other, 1));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 16]));
        assert_eq!(SourceCounts::key(mapped), IpAddr::from([10, 0, 0, 1]));
    }
}
