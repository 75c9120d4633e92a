//! Workload status written back for what changed: of the workloads owning pods from their
//! pods, then of Deployments and CronJobs from their ReplicaSets and Jobs. A status is written
//! only when it differs in more than its timestamps.

use std::sync::Arc;

use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Core, meta};
use cceone_kubesim_core::events::{self, Event};
use serde_json::{Value, json};

use super::informer::{Informer, Role};
use super::timers::Mark;
use super::{State, opts, take_sorted};

fn without_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "lastUpdateTime" | "lastHeartbeatTime"))
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Whether `status` differs from the one `w` holds in more than its timestamps.
fn differs(w: &Value, status: &Value) -> bool {
    without_times(status) != without_times(w.get("status").unwrap_or(&Value::Null))
}

/// One status update.
struct Update {
    key: String,
    res: Arc<ResourceInfo>,
    object: Value,
}

/// Write status updates at once; one that failed otherwise than by a conflict (the newer
/// object is on its way and is looked at then) is looked at again later.
async fn write(
    core: &Arc<Core>,
    state: &mut State,
    updates: Vec<Update>,
    mark: Mark,
    now: jiff::Timestamp,
) {
    let failed = futures::future::join_all(updates.into_iter().map(|u| async move {
        let (Some(name), ns) = (
            meta::name(&u.object).map(String::from),
            meta::namespace(&u.object).map(String::from),
        ) else {
            return None;
        };
        let opts = opts("kube-controller-manager");
        match core
            .update(
                &u.res,
                ns.as_deref(),
                &name,
                Some("status"),
                u.object,
                &opts,
            )
            .await
        {
            Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => None,
            Err(e) => {
                tracing::warn!(error = %e, "workload status update failed");
                Some(u.key)
            }
        }
    }))
    .await;
    for key in failed.into_iter().flatten() {
        state.timers.retry(mark, &key, now);
    }
}

/// The status of the workloads owning pods that changed (or whose pods did).
pub(super) async fn workloads(
    core: &Arc<Core>,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) {
    let nodes = informer.nodes();
    let mut updates = Vec::new();
    for key in take_sorted(&mut informer.pending.workload_status) {
        let (Some(w), Some(res)) = (informer.parse(&key), informer.resource(&key).cloned()) else {
            continue;
        };
        let Some(uid) = meta::uid(&w) else { continue };
        let owned = informer.parse_children(uid, Role::Pod);
        let mut status = cceone_kubesim_core::workload_status(&w, &owned, &nodes, now);
        if res.kind == "ReplicaSet"
            && let Some(r) = state.refused.get(uid)
            && let Some(map) = status.as_object_mut()
        {
            map.insert("conditions".into(), json!([r.condition()]));
        }
        let due = cceone_kubesim_core::status_changes_at(&w, &owned, now);
        state.timers.set(Mark::WorkloadStatus, &key, due);
        if !differs(&w, &status) || meta::name(&w).is_none() {
            continue;
        }
        if res.kind == "Job" {
            events.extend(events::job_finished(&w, &status));
        }
        let mut object = w;
        object["status"] = status;
        updates.push(Update { key, res, object });
    }
    write(core, state, updates, Mark::WorkloadStatus, now).await;
}

/// The status of the Deployments and CronJobs that changed (or whose ReplicaSets and Jobs
/// did).
pub(super) async fn owners(
    core: &Arc<Core>,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
) {
    let nodes = informer.nodes();
    let mut updates = Vec::new();
    for key in take_sorted(&mut informer.pending.owner_status) {
        let (Some(w), Some(res)) = (informer.parse(&key), informer.resource(&key).cloned()) else {
            continue;
        };
        let Some(uid) = meta::uid(&w) else { continue };
        let children = informer.parse_children(uid, Role::Workload);
        let status = cceone_kubesim_core::workload_status(&w, &children, &nodes, now);
        let due = cceone_kubesim_core::status_changes_at(&w, &children, now);
        state.timers.set(Mark::OwnerStatus, &key, due);
        if !differs(&w, &status) || meta::name(&w).is_none() {
            continue;
        }
        let mut object = w;
        object["status"] = status;
        updates.push(Update { key, res, object });
    }
    write(core, state, updates, Mark::OwnerStatus, now).await;
}
