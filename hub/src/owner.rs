//! Which hub holds a cluster's tunnel, when several hubs serve one federation. The hub that
//! takes a tunnel writes its id into the cluster's status (`status.hub`, with the agent's id and
//! address) in the same write that records the connection; whether a hub is alive comes from
//! its Lease ([`crate::peers`]). From these:
//! - a tunnel arriving for a cluster another live hub holds is refused unless that tunnel is
//!   down or the arrival is the same agent from the same address ([`crate::takeover::decide_across`]),
//!   so a restarted hub never takes a healthy tunnel from another, and no two agents flap;
//! - only the holder records session events (a disconnect, a missed heartbeat), or any hub once
//!   the holder is gone ([`may_record`]), each write a compare-and-swap;
//! - only the holder relays the cluster's Works (the relay runs inside its session) and writes
//!   its status reports;
//! - a proxied request arriving at another hub is forwarded to the holder
//!   ([`crate::forward`]).

use std::net::IpAddr;

use crate::Hub;
use crate::peers::Peers;
use crate::takeover::{Arrival, Decision, Recorded, decide_across};

/// Why a hub closes a session whose cluster another hub took (see `Clusters::run`).
pub(crate) const MOVED: &str = "moved to another hub";

/// Whether this hub may record a session event of a cluster whose status names `holder`.
pub(crate) fn may_record(peers: &Peers, holder: &str) -> bool {
    holder.is_empty() || holder == peers.me() || !peers.is_live(holder)
}

/// A tunnel for `cluster` from agent `agent_id` at `peer` arrived here: Err(holder) when another
/// live hub holds a healthy tunnel of the cluster for someone else.
pub(crate) fn admit(hub: &Hub, cluster: &str, agent_id: &str, peer: IpAddr) -> Result<(), String> {
    let Some(info) = hub.clusters.get(cluster) else {
        return Ok(());
    };
    let recorded = Recorded {
        hub: &info.hub,
        running: info.phase == "Running",
        agent_id: &info.agent_id,
        peer: info.agent_address,
    };
    let alive = hub.peers.is_live(&info.hub);
    match decide_across(recorded, hub.peers.me(), alive, Arrival { agent_id, peer }) {
        Decision::Refuse => Err(info.hub),
        Decision::Take | Decision::Reconnect => {
            if !info.hub.is_empty() && info.hub != hub.peers.me() {
                tracing::info!(
                    cluster,
                    from = info.hub,
                    holder_alive = alive,
                    agent = agent_id,
                    "taking the tunnel over from another hub"
                );
            }
            Ok(())
        }
    }
}

/// Where to forward a proxied request for `cluster`, which has no tunnel here: the holder's
/// peer endpoint, when another live hub holds it.
pub(crate) fn forward_to(hub: &Hub, cluster: &str) -> Option<(String, String)> {
    let info = hub.clusters.get(cluster)?;
    if info.hub.is_empty() || info.hub == hub.peers.me() {
        return None;
    }
    let endpoint = hub.peers.endpoint_of(&info.hub)?;
    Some((info.hub, endpoint))
}
