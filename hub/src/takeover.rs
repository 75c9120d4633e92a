//! Whether a new tunnel may take a cluster's session over from the live one: a stolen copy of
//! an agent's identity must not silently replace the real agent. Pure: the driver passes in how
//! long the live session has been quiet.

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
}
