//! Pod: the READY / STATUS / RESTARTS logic of upstream `printPod`.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{
    age, age_column, arr_at, at, col, condition_status, deleting, int_at, name, name_column,
    opt_str, parse_time, since, str_at, str_or, wide,
};

/// Pod: Name, Ready, Status, Restarts, Age; wide IP, Node, Nominated Node,
/// Readiness Gates.
pub(crate) fn pod_columns() -> Vec<Column> {
    vec![
        name_column(),
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_column(),
        wide("IP", "string", d::POD_IP),
        wide("Node", "string", d::POD_NODE_NAME),
        wide("Nominated Node", "string", d::POD_NOMINATED_NODE_NAME),
        wide("Readiness Gates", "string", d::POD_READINESS_GATES),
    ]
}

/// The latest `lastState.terminated.finishedAt` seen so far.
#[derive(Default)]
struct LastRestart(Option<Timestamp>);

impl LastRestart {
    /// Folds in a container status's last termination time.
    fn observe(&mut self, status: &Value) {
        if at(status, &["lastState", "terminated"]).is_some_and(Value::is_object) {
            let t = parse_time(at(status, &["lastState", "terminated", "finishedAt"]));
            if let Some(t) = t.filter(|t| self.0.is_none_or(|cur| cur < *t)) {
                self.0 = Some(t);
            }
        }
    }
}

/// Pod cells, as upstream `printPod` with wide output.
pub(crate) fn pod_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let spec_init = arr_at(obj, &["spec", "initContainers"]);
    let restartable: HashSet<&str> = spec_init
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .map(|c| str_at(c, &["name"]))
        .collect();
    let total = arr_at(obj, &["spec", "containers"]).len() + restartable.len();
    let conditions = arr_at(obj, &["status", "conditions"]);

    let phase = str_at(obj, &["status", "phase"]);
    let mut reason = str_or(obj, &["status", "reason"], phase).to_owned();
    if conditions.iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".to_owned();
    }

    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut ready = 0usize;
    let mut last = LastRestart::default();
    let mut sidecar_last = LastRestart::default();

    let init_statuses = arr_at(obj, &["status", "initContainerStatuses"]);
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += int_at(c, &["restartCount"]);
        last.observe(c);
        let is_sidecar = restartable.contains(str_at(c, &["name"]));
        if is_sidecar {
            sidecar_restarts += int_at(c, &["restartCount"]);
            sidecar_last.observe(c);
        }
        let terminated = at(c, &["state", "terminated"]).filter(|v| v.is_object());
        let waiting_reason = opt_str(c, &["state", "waiting", "reason"]).unwrap_or("");
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if is_sidecar && at(c, &["started"]).and_then(Value::as_bool) == Some(true) {
            if at(c, &["ready"]).and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            let r = str_at(t, &["reason"]);
            if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(t, &["signal"]) != 0 {
                format!("Init:Signal:{}", int_at(t, &["signal"]))
            } else {
                format!("Init:ExitCode:{}", int_at(t, &["exitCode"]))
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", spec_init.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_status(conditions, "Initialized") == Some("True") {
        restarts = sidecar_restarts;
        last = sidecar_last;
        let mut has_running = false;
        for c in arr_at(obj, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(c, &["restartCount"]);
            last.observe(c);
            let waiting = opt_str(c, &["state", "waiting", "reason"]).unwrap_or("");
            let terminated = at(c, &["state", "terminated"]).filter(|v| v.is_object());
            if !waiting.is_empty() {
                reason = waiting.to_owned();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if !r.is_empty() {
                    r.to_owned()
                } else if int_at(t, &["signal"]) != 0 {
                    format!("Signal:{}", int_at(t, &["signal"]))
                } else {
                    format!("ExitCode:{}", int_at(t, &["exitCode"]))
                };
            } else if at(c, &["ready"]).and_then(Value::as_bool) == Some(true)
                && at(c, &["state", "running"]).is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = conditions
                .iter()
                .any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True");
            reason = if pod_ready {
                "Running".to_owned()
            } else {
                "NotReady".to_owned()
            };
        }
    }

    if deleting(obj) && str_at(obj, &["status", "reason"]) == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting(obj) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_owned();
    }

    let restarts_cell = match last.0 {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(t, now)),
        _ => restarts.to_string(),
    };

    let pod_ip = arr_at(obj, &["status", "podIPs"])
        .first()
        .map(|p| str_at(p, &["ip"]))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| str_or(obj, &["status", "podIP"], "<none>"));
    let gates = arr_at(obj, &["spec", "readinessGates"]);
    let gates_cell = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let ok = gates
            .iter()
            .filter(|g| condition_status(conditions, str_at(g, &["conditionType"])) == Some("True"))
            .count();
        format!("{ok}/{}", gates.len())
    };

    vec![
        name(obj),
        Value::from(format!("{ready}/{total}")),
        Value::from(reason),
        Value::from(restarts_cell),
        age(obj, now),
        Value::from(pod_ip),
        Value::from(str_or(obj, &["spec", "nodeName"], "<none>")),
        Value::from(str_or(obj, &["status", "nominatedNodeName"], "<none>")),
        Value::from(gates_cell),
    ]
}
