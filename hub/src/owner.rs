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
//!   its status reports, and only while it holds its own Lease ([`may_write`]): a hub cut off
//!   (a partition) writes nothing of the clusters the others took meanwhile, when it comes back;
//! - a proxied request arriving at another hub is forwarded to the holder
//!   ([`crate::forward`]).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Hub;
use crate::peers::Peers;
use crate::takeover::{Arrival, Decision, Recorded, decide_across};

/// Why a hub closes a session whose cluster another hub took (see `Clusters::run`).
pub(crate) const MOVED: &str = "moved to another hub";

/// Whether this hub may record a session event of a cluster whose status names `holder`.
/// A hub that does not hold its own Lease is in no position to judge another dead.
pub(crate) fn may_record(peers: &Peers, holder: &str) -> bool {
    holder.is_empty() || holder == peers.me() || (peers.holds_lease() && !peers.is_live(holder))
}

/// Whether a session of `cluster` begun in lease term `term` may write the cluster's status
/// and its Works' statuses now. Not while this hub does not hold its Lease (the others may be
/// taking its clusters), nor when the cluster is held by another live hub as far as this hub
/// knows. After a lapse (a later term), once: the cluster's status read afresh must still name
/// this hub, and the session then writes in the new term; otherwise it is fenced for good.
///
/// This fences every write decided after the lapse or the move; one already on its way when a
/// partition began may still land when it heals. A Lease alone cannot stop that (client-go's
/// `tools/leaderelection/leaderelection.go`: "does not guarantee that only one client is acting
/// as a leader (a.k.a. fencing)"); the Work status it carries was this hub's to write when sent.
pub(crate) async fn may_write(hub: &Hub, cluster: &str, term: &AtomicU64) -> bool {
    let peers = &hub.peers;
    if !peers.holds_lease() {
        return false;
    }
    let me = peers.me();
    if let Some(info) = hub.clusters.get(cluster)
        && !info.hub.is_empty()
        && info.hub != me
        && peers.is_live(&info.hub)
    {
        return false;
    }
    let now = peers.term();
    let began = term.load(Ordering::Relaxed);
    if began == now {
        return true;
    }
    if began == FENCED {
        return false;
    }
    match hub.clusters.holder(cluster).await {
        Some(h) if h == me || h.is_empty() => {
            term.store(now, Ordering::Relaxed);
            true
        }
        Some(h) => {
            tracing::info!(
                cluster,
                holder = h,
                "this hub's lease lapsed and the cluster is held elsewhere now: its session writes nothing more"
            );
            term.store(FENCED, Ordering::Relaxed);
            false
        }
        // Unknown (the API did not answer): not now, asked again at the next write.
        None => false,
    }
}

/// The term of a session fenced for good.
const FENCED: u64 = u64::MAX;

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
