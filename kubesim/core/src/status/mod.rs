//! Workload status as Kubernetes' controllers write it, computed from the
//! workload, the pods it owns, the nodes and the current time. Zero counts
//! are omitted where the API types say `omitempty`, and condition timestamps
//! are carried over from the previous status while a condition holds, so
//! recomputing with unchanged inputs yields an identical status.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::json::str_at;

mod apps;
mod job;

/// The workload's status from what it owns (a Deployment: its ReplicaSets; a
/// CronJob: its Jobs; the others: their pods): Deployment, ReplicaSet,
/// StatefulSet, DaemonSet, Job and CronJob are computed; other kinds get
/// their current status back (or `{}`).
pub fn workload_status(
    workload: &Value,
    owned_pods: &[Value],
    nodes: &[Value],
    now: Timestamp,
) -> Value {
    match str_at(workload, &["kind"]).unwrap_or("") {
        "Deployment" => apps::deployment_status(workload, owned_pods, now),
        "ReplicaSet" => apps::replicaset_status(workload, owned_pods, now),
        "StatefulSet" => apps::statefulset_status(workload, owned_pods, now),
        "DaemonSet" => apps::daemonset_status(workload, owned_pods, nodes, now),
        "Job" => job::job_status(workload, owned_pods, now),
        "CronJob" => crate::reconcile::cronjob_status(workload, owned_pods),
        _ => workload.get("status").cloned().unwrap_or_else(|| json!({})),
    }
}

/// When [`workload_status`] may next answer otherwise with only time passing (a pod turning
/// available after `minReadySeconds`, a Deployment's progress deadline), so a driver that
/// recomputes status on changes only knows when to look again; `None` when only a change of
/// the workload or what it owns can change its status.
pub fn status_changes_at(workload: &Value, owned: &[Value], now: Timestamp) -> Option<Timestamp> {
    match str_at(workload, &["kind"]).unwrap_or("") {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            apps::changes_at(workload, owned, now)
        }
        _ => None,
    }
}

/// Converts a count to `i64` (saturating).
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
