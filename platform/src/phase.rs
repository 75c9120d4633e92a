//! The cluster session state machine, pure: the hub feeds it [`SessionEvent`]s (time passed in)
//! and writes the resulting phase and operation-log entry to the cluster's status.
//!
//! Pending (no agent yet) → Running → Disconnected → Running …; Pending → AccessTimeout when no
//! agent came in time (a late agent still turns it Running); any → Unsubscribing → Unsubscribed
//! (terminal).

use jiff::Timestamp;
use serde_json::{Value, json};

/// The operation log keeps at most this many entries (the oldest are dropped).
pub const MAX_OPERATIONS: usize = 50;

/// A registered cluster's phase (`status.phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Being created by the platform.
    Creating,
    /// Registered; waiting for its agent.
    Pending,
    /// An agent holds a live tunnel.
    Running,
    /// The tunnel was lost.
    Disconnected,
    /// No agent connected before the access deadline.
    AccessTimeout,
    /// The agent is being upgraded (connected).
    Updating,
    /// Unsubscribe requested; being torn down.
    Unsubscribing,
    /// Gone for good.
    Unsubscribed,
}

impl Phase {
    /// Every phase, in the order the CRD's schema lists them.
    pub const ALL: [Phase; 8] = [
        Phase::Creating,
        Phase::Pending,
        Phase::Running,
        Phase::Disconnected,
        Phase::AccessTimeout,
        Phase::Updating,
        Phase::Unsubscribing,
        Phase::Unsubscribed,
    ];

    /// The `status.phase` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Creating => "Creating",
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Disconnected => "Disconnected",
            Phase::AccessTimeout => "AccessTimeout",
            Phase::Updating => "Updating",
            Phase::Unsubscribing => "Unsubscribing",
            Phase::Unsubscribed => "Unsubscribed",
        }
    }

    /// Parse a `status.phase` string.
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether an agent holds a tunnel in this phase.
    pub fn is_connected(self) -> bool {
        matches!(self, Phase::Running | Phase::Updating)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tunnel transport (`status.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// gRPC over HTTP/2 over TLS/TCP.
    Grpc,
    /// QUIC over UDP.
    Quic,
}

impl Transport {
    /// The `status.transport` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Quic => "quic",
        }
    }
}

/// One entry of a cluster's operation log (`status.operations[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// When it happened.
    pub time: Timestamp,
    /// What kind of operation (`type`): `Register`, `Connect`, `Disconnect`, `AccessTimeout`,
    /// `Revoke`, `Unsubscribe`.
    pub kind: String,
    /// A CamelCase machine-readable reason.
    pub reason: String,
    /// A sentence for people.
    pub message: String,
    /// Who did it (`user`), when a person or client did: the user the API authenticated.
    pub user: Option<String>,
}

impl Operation {
    /// An operation-log entry.
    pub fn new(time: Timestamp, kind: &str, reason: &str, message: impl Into<String>) -> Self {
        Operation {
            time,
            kind: kind.into(),
            reason: reason.into(),
            message: message.into(),
            user: None,
        }
    }

    /// The same entry, recording who did it.
    pub fn by(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The JSON stored in `status.operations[]` (time to whole seconds, RFC 3339 UTC).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "time": rfc3339(self.time),
            "type": self.kind,
            "reason": self.reason,
            "message": self.message,
        });
        if let Some(u) = &self.user {
            v["user"] = json!(u);
        }
        v
    }
}

/// Something that happened to a cluster's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// An agent completed the handshake and now holds the cluster's tunnel.
    Connected {
        /// Over which transport.
        transport: Transport,
        /// The agent replica (its pod name).
        agent_id: String,
        /// When.
        at: Timestamp,
    },
    /// No heartbeat within the grace period.
    HeartbeatMissed {
        /// When the hub noticed.
        at: Timestamp,
    },
    /// The tunnel closed.
    Disconnected {
        /// Why, for people (transport error, agent shutdown, ...).
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// The access deadline passed while the cluster was still waiting for its first agent.
    AccessDeadlinePassed {
        /// When.
        at: Timestamp,
    },
    /// The admin revoked the cluster (`spec.revoked`); its tunnel is closed.
    Revoked {
        /// When the hub acted on it.
        at: Timestamp,
    },
    /// The admin unsubscribed the cluster (`spec.unsubscribed`); teardown starts.
    UnsubscribeRequested {
        /// When.
        at: Timestamp,
    },
    /// Teardown finished.
    Unsubscribed {
        /// When.
        at: Timestamp,
    },
}

/// The next phase after `ev`, and the operation-log entry to record (None: nothing happened
/// worth recording, and the phase is unchanged).
pub fn next(current: Phase, ev: &SessionEvent) -> (Phase, Option<Operation>) {
    use SessionEvent as E;
    match (current, ev) {
        (Phase::Unsubscribed, _) => (current, None),
        (_, E::Unsubscribed { at }) => (
            Phase::Unsubscribed,
            Some(Operation::new(
                *at,
                "Unsubscribe",
                "Unsubscribed",
                "the cluster was unsubscribed",
            )),
        ),
        (Phase::Unsubscribing, _) => (current, None),
        (_, E::UnsubscribeRequested { at }) => (
            Phase::Unsubscribing,
            Some(Operation::new(
                *at,
                "Unsubscribe",
                "UnsubscribeRequested",
                "unsubscribe requested",
            )),
        ),
        (
            _,
            E::Connected {
                transport,
                agent_id,
                at,
            },
        ) => {
            let reason = match current {
                Phase::Disconnected => "AgentReconnected",
                Phase::Running | Phase::Updating => "TunnelReplaced",
                _ => "AgentConnected",
            };
            let message = format!("agent {agent_id} connected over {}", transport.as_str());
            let phase = if current == Phase::Updating {
                Phase::Updating
            } else {
                Phase::Running
            };
            (phase, Some(Operation::new(*at, "Connect", reason, message)))
        }
        (p, E::HeartbeatMissed { at }) if p.is_connected() => (
            Phase::Disconnected,
            Some(Operation::new(
                *at,
                "Disconnect",
                "HeartbeatMissed",
                "no heartbeat within the grace period",
            )),
        ),
        (p, E::Disconnected { reason, at }) if p.is_connected() => (
            Phase::Disconnected,
            Some(Operation::new(
                *at,
                "Disconnect",
                "TunnelClosed",
                reason.clone(),
            )),
        ),
        (Phase::Creating | Phase::Pending, E::AccessDeadlinePassed { at }) => (
            Phase::AccessTimeout,
            Some(Operation::new(
                *at,
                "AccessTimeout",
                "AgentNeverConnected",
                "no agent connected before the access deadline",
            )),
        ),
        (p, E::Revoked { at }) => {
            let message = "the cluster's certificate was revoked";
            if p.is_connected() {
                let message = format!("{message}; its tunnel was closed");
                (
                    Phase::Disconnected,
                    Some(Operation::new(*at, "Revoke", "Revoked", message)),
                )
            } else {
                (p, Some(Operation::new(*at, "Revoke", "Revoked", message)))
            }
        }
        (p, _) => (p, None),
    }
}

/// Append `op` to an operation log, dropping the oldest entries beyond `max`.
pub fn append_operation(ops: &mut Vec<Value>, op: &Operation, max: usize) {
    ops.push(op.to_json());
    if ops.len() > max {
        let excess = ops.len() - max;
        ops.drain(..excess);
    }
}

/// `ts` truncated to whole seconds, RFC 3339 UTC (`2024-05-01T10:00:00Z`), as Kubernetes
/// writes `metav1.Time`.
pub fn rfc3339(ts: Timestamp) -> String {
    Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

/// Apply `ev` to a cluster's current `status` and return the merge patch for its `/status`
/// subresource, or None when nothing changed. The patch sets `phase`, the bounded
/// `operations` log, a `Ready` condition (replacing the list, keeping other conditions) and, on
/// connect, `transport`, `agentId` and `connectedSince`. A missing or unknown phase counts as
/// Pending.
pub fn status_patch(status: &Value, ev: &SessionEvent) -> Option<Value> {
    let current = status
        .get("phase")
        .and_then(Value::as_str)
        .and_then(Phase::parse)
        .unwrap_or(Phase::Pending);
    let (phase, op) = next(current, ev);
    let op = op?;
    let mut ops: Vec<Value> = status
        .get("operations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    append_operation(&mut ops, &op, MAX_OPERATIONS);
    let mut patch = json!({"phase": phase.as_str(), "operations": ops});
    if phase != current || status.get("phase").is_none() {
        patch["conditions"] = ready_conditions(status, phase, &op);
    }
    if let SessionEvent::Connected {
        transport,
        agent_id,
        at,
    } = ev
    {
        patch["transport"] = json!(transport.as_str());
        patch["agentId"] = json!(agent_id);
        patch["connectedSince"] = json!(rfc3339(*at));
    }
    Some(json!({"status": patch}))
}

fn ready_conditions(status: &Value, phase: Phase, op: &Operation) -> Value {
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter(|c| c.get("type") != Some(&json!("Ready")))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.push(json!({
        "type": "Ready",
        "status": if phase.is_connected() { "True" } else { "False" },
        "reason": op.reason,
        "message": op.message,
        "lastTransitionTime": rfc3339(op.time),
    }));
    Value::Array(conditions)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
