//! The tunnel protocol between `cceone-cluster-agent` and `cceone-hub`, generated from
//! `cceone/tunnel/v1/tunnel.proto` at build time (protox, no system `protoc`).

/// Version 1 of the tunnel messages.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/cceone.tunnel.v1.rs"));
}

/// The protocol versions this build speaks: version 1 (control, heartbeats, status, proxy) and
/// version 2 (adds Work relay and the Work inventory on reconnect).
pub const MIN_VERSION: u32 = 1;
/// See [`MIN_VERSION`].
pub const MAX_VERSION: u32 = 2;

/// The capability an agent announces in its Hello when it answers each WorkDeletion with a
/// WorkRemoved once the member no longer holds what the Work put there. The hub then lets a
/// deleted Work go only on that answer; with an agent that does not announce it, as soon as the
/// deletion is sent.
pub const CAP_WORK_REMOVED: &str = "work-removed";

/// Pick the version both sides use: the highest both speak, or None when the ranges do not meet.
pub fn negotiate(peer_min: u32, peer_max: u32, our_min: u32, our_max: u32) -> Option<u32> {
    let peer_min = peer_min.max(1);
    let v = peer_max.min(our_max);
    (v >= peer_min.max(our_min)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(1, 1, 1, 2), Some(1));
        assert_eq!(negotiate(1, 3, 1, 2), Some(2));
        assert_eq!(negotiate(3, 4, 1, 2), None);
        assert_eq!(negotiate(0, 0, 1, 2), None);
    }
}
