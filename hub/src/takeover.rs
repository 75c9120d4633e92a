//! Whether a new tunnel may take a cluster's session over from the live one: a stolen copy of
//! an agent's identity must not silently replace the real agent. Pure: the driver passes in how
//! long the live session has been quiet. [`decide`] judges a session held by this hub;
//! [`decide_across`] one that another hub of the federation records in the cluster's status.

use std::net::IpAddr;
use std::time::Duration;

/// The live session, as far as the decision needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live<'a> {
    /// The agent id its Hello gave.
    pub(crate) agent_id: &'a str,
    /// Its peer's address.
    pub(crate) peer: IpAddr,
    /// How long since it last sent anything.
    pub(crate) quiet_for: Duration,
}

/// The tunnel that wants the session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'a> {
    /// The agent id its Hello gave.
    pub(crate) agent_id: &'a str,
    /// Its peer's address.
    pub(crate) peer: IpAddr,
}

/// What to do with the arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No healthy session stands in the way: the arrival becomes the session.
    Take,
    /// The same agent, from the same address, reconnecting over a tunnel the hub has not seen
    /// fail yet: it replaces its own old session.
    Reconnect,
    /// Another agent holds a healthy session with this identity: refuse the arrival.
    Refuse,
}

/// Decides for `arrival` given the cluster's live session, if any. A session is healthy while
/// it has been quiet for less than `healthy_within` (a couple of heartbeat intervals).
pub(crate) fn decide(
    live: Option<Live<'_>>,
    arrival: Arrival<'_>,
    healthy_within: Duration,
) -> Decision {
    match live {
        None => Decision::Take,
        Some(l) if l.quiet_for >= healthy_within => Decision::Take,
        Some(l) if l.agent_id == arrival.agent_id && l.peer == arrival.peer => Decision::Reconnect,
        Some(_) => Decision::Refuse,
    }
}

/// A cluster's tunnel as its status records it (which hub holds it, for which agent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded<'a> {
    /// `status.hub`: the hub that last took the tunnel ("" before any).
    pub(crate) hub: &'a str,
    /// Whether the status says the tunnel is up (phase Running).
    pub(crate) running: bool,
    /// `status.agentId`.
    pub(crate) agent_id: &'a str,
    /// `status.agentAddress`, when recorded.
    pub(crate) peer: Option<IpAddr>,
}

/// Decides for `arrival` at hub `me` given what the cluster's status records. A tunnel recorded
/// at another hub that is alive stands unless it is down, or the arrival is the same agent from
/// the same address (it gave that hub up: its tunnel there is dead, whether or not that hub has
/// noticed yet). A hub that restarted therefore never takes a healthy tunnel from another, and
/// when the holder dies (its Lease stops changing) any arrival takes over.
pub(crate) fn decide_across(
    recorded: Recorded<'_>,
    me: &str,
    holder_alive: bool,
    arrival: Arrival<'_>,
) -> Decision {
    if recorded.hub.is_empty() || recorded.hub == me || !holder_alive || !recorded.running {
        return Decision::Take;
    }
    if recorded.agent_id == arrival.agent_id && recorded.peer == Some(arrival.peer) {
        Decision::Reconnect
    } else {
        Decision::Refuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table() {
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let within = Duration::from_secs(10);
        let live = |agent_id, peer, secs| Live {
            agent_id,
            peer,
            quiet_for: Duration::from_secs(secs),
        };
        let arrival = |agent_id, peer| Arrival { agent_id, peer };
        let cases = [
            (None, arrival("x", a), Decision::Take),
            (Some(live("x", a, 1)), arrival("x", a), Decision::Reconnect),
            (Some(live("x", a, 1)), arrival("y", a), Decision::Refuse),
            (Some(live("x", a, 1)), arrival("x", b), Decision::Refuse),
            (Some(live("x", a, 10)), arrival("y", b), Decision::Take),
            (Some(live("x", a, 60)), arrival("x", a), Decision::Take),
        ];
        for (l, arr, want) in cases {
            assert_eq!(decide(l, arr, within), want, "{l:?} {arr:?}");
        }
    }

    #[test]
    fn across_hubs() {
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let rec = |hub, running, agent_id, peer| Recorded {
            hub,
            running,
            agent_id,
            peer,
        };
        let arrival = |agent_id, peer| Arrival { agent_id, peer };
        let cases = [
            // Nobody, or this hub: the local rules decide.
            (
                rec("", true, "x", Some(a)),
                true,
                arrival("y", b),
                Decision::Take,
            ),
            (
                rec("me", true, "x", Some(a)),
                true,
                arrival("y", b),
                Decision::Take,
            ),
            // Another live hub with a healthy tunnel.
            (
                rec("h2", true, "x", Some(a)),
                true,
                arrival("x", a),
                Decision::Reconnect,
            ),
            (
                rec("h2", true, "x", Some(a)),
                true,
                arrival("y", a),
                Decision::Refuse,
            ),
            (
                rec("h2", true, "x", Some(a)),
                true,
                arrival("x", b),
                Decision::Refuse,
            ),
            (
                rec("h2", true, "x", None),
                true,
                arrival("x", a),
                Decision::Refuse,
            ),
            // Its tunnel is down, or the hub is dead.
            (
                rec("h2", false, "x", Some(a)),
                true,
                arrival("y", b),
                Decision::Take,
            ),
            (
                rec("h2", true, "x", Some(a)),
                false,
                arrival("y", b),
                Decision::Take,
            ),
        ];
        for (r, alive, arr, want) in cases {
            assert_eq!(
                decide_across(r, "me", alive, arr),
                want,
                "{r:?} {alive} {arr:?}"
            );
        }
    }
}
