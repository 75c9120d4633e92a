//! Transition table, operation-log bounds and status patches of the session state machine.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn connected(at: i64) -> SessionEvent {
    SessionEvent::Connected {
        transport: Transport::Quic,
        agent_id: "agent-a".into(),
        at: t(at),
    }
}

#[test]
fn transition_table() {
    use Phase::*;
    let closed = SessionEvent::Disconnected {
        reason: "connection reset".into(),
        at: t(2),
    };
    let missed = SessionEvent::HeartbeatMissed { at: t(2) };
    let deadline = SessionEvent::AccessDeadlinePassed { at: t(3) };
    let revoked = SessionEvent::Revoked { at: t(4) };
    let unsub = SessionEvent::UnsubscribeRequested { at: t(5) };
    let gone = SessionEvent::Unsubscribed { at: t(6) };
    let conn = connected(1);
    // (from, event, to, logged reason)
    let cases: Vec<(Phase, &SessionEvent, Phase, Option<&str>)> = vec![
        (Pending, &conn, Running, Some("AgentConnected")),
        (Creating, &conn, Running, Some("AgentConnected")),
        (AccessTimeout, &conn, Running, Some("AgentConnected")),
        (Disconnected, &conn, Running, Some("AgentReconnected")),
        (Running, &conn, Running, Some("TunnelReplaced")),
        (Updating, &conn, Updating, Some("TunnelReplaced")),
        (Running, &closed, Disconnected, Some("TunnelClosed")),
        (Updating, &closed, Disconnected, Some("TunnelClosed")),
        (Running, &missed, Disconnected, Some("HeartbeatMissed")),
        (Pending, &closed, Pending, None),
        (Disconnected, &missed, Disconnected, None),
        (
            Pending,
            &deadline,
            AccessTimeout,
            Some("AgentNeverConnected"),
        ),
        (Running, &deadline, Running, None),
        (Disconnected, &deadline, Disconnected, None),
        (Running, &revoked, Disconnected, Some("Revoked")),
        (Pending, &revoked, Pending, Some("Revoked")),
        (Running, &unsub, Unsubscribing, Some("UnsubscribeRequested")),
        (Pending, &unsub, Unsubscribing, Some("UnsubscribeRequested")),
        (Unsubscribing, &conn, Unsubscribing, None),
        (Unsubscribing, &unsub, Unsubscribing, None),
        (Unsubscribing, &gone, Unsubscribed, Some("Unsubscribed")),
        (Running, &gone, Unsubscribed, Some("Unsubscribed")),
        (Unsubscribed, &conn, Unsubscribed, None),
        (Unsubscribed, &unsub, Unsubscribed, None),
        (Unsubscribed, &gone, Unsubscribed, None),
    ];
    for (from, ev, to, reason) in cases {
        let (got, op) = next(from, ev);
        assert_eq!(got, to, "{from} on {ev:?}");
        assert_eq!(
            op.as_ref().map(|o| o.reason.as_str()),
            reason,
            "{from} on {ev:?}"
        );
    }
}

#[test]
fn operations_carry_the_event_time_and_details() {
    let (_, op) = next(Phase::Pending, &connected(7));
    let op = op.unwrap();
    assert_eq!(op.time, t(7));
    assert_eq!(op.kind, "Connect");
    assert_eq!(op.message, "agent agent-a connected over quic");
    let v = op.to_json();
    assert_eq!(v["time"], "2023-11-14T22:13:27Z");
    assert_eq!(v["type"], "Connect");
    let ev = SessionEvent::Disconnected {
        reason: "agent shut down".into(),
        at: t(9),
    };
    let (_, op) = next(Phase::Running, &ev);
    assert_eq!(op.unwrap().message, "agent shut down");
}

#[test]
fn phase_strings_round_trip() {
    for p in Phase::ALL {
        assert_eq!(Phase::parse(p.as_str()), Some(p));
        assert_eq!(p.to_string(), p.as_str());
    }
    assert_eq!(Phase::parse("running"), None);
}

#[test]
fn operation_log_is_bounded_newest_last() {
    let mut ops = Vec::new();
    for i in 0..120 {
        append_operation(
            &mut ops,
            &Operation::new(t(i), "Connect", "R", format!("m{i}")),
            50,
        );
        assert!(ops.len() <= 50);
    }
    assert_eq!(ops.len(), 50);
    assert_eq!(ops[0]["message"], "m70");
    assert_eq!(ops[49]["message"], "m119");
    let mut small = Vec::new();
    append_operation(&mut small, &Operation::new(t(0), "A", "B", "c"), 0);
    assert!(small.is_empty());
}

#[test]
fn rfc3339_truncates_to_seconds() {
    let ts: Timestamp = "2024-05-01T10:00:00.987654Z".parse().unwrap();
    assert_eq!(rfc3339(ts), "2024-05-01T10:00:00Z");
}

#[test]
fn status_patch_connect_then_disconnect() {
    let status = json!({
        "phase": "Pending",
        "operations": [{"type": "Register", "reason": "Registered"}],
        "conditions": [{"type": "Other", "status": "True"}],
    });
    let patch = status_patch(&status, &connected(1)).unwrap();
    let s = &patch["status"];
    assert_eq!(s["phase"], "Running");
    assert_eq!(s["transport"], "quic");
    assert_eq!(s["agentId"], "agent-a");
    assert_eq!(s["operations"].as_array().unwrap().len(), 2);
    let ready = |s: &Value| {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .cloned()
            .unwrap()
    };
    assert_eq!(ready(s)["status"], "True");
    assert!(
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Other")
    );

    let ev = SessionEvent::HeartbeatMissed { at: t(30) };
    let patch2 = status_patch(s, &ev).unwrap();
    assert_eq!(patch2["status"]["phase"], "Disconnected");
    assert_eq!(ready(&patch2["status"])["status"], "False");
    assert_eq!(ready(&patch2["status"])["reason"], "HeartbeatMissed");
    assert_eq!(patch2["status"]["operations"].as_array().unwrap().len(), 3);
    // Nothing to record: no patch.
    assert!(status_patch(&patch2["status"], &ev).is_none());
}

#[test]
fn status_patch_treats_missing_phase_as_pending() {
    let patch = status_patch(&json!({}), &SessionEvent::AccessDeadlinePassed { at: t(0) });
    assert_eq!(patch.unwrap()["status"]["phase"], "AccessTimeout");
    let patch = status_patch(&json!({"phase": "Bogus"}), &connected(0));
    assert_eq!(patch.unwrap()["status"]["phase"], "Running");
}

#[test]
fn an_operation_names_who_did_it_when_known() {
    let at: Timestamp = "2026-12-07T01:00:00Z".parse().unwrap();
    let op = Operation::new(at, "Register", "Registered", "registered");
    assert!(op.to_json().get("user").is_none());
    assert_eq!(op.by("alice").to_json()["user"], "alice");
}
