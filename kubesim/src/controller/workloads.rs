//! The workload controllers' passes over what changed: Deployments and CronJobs make their
//! ReplicaSets and Jobs; ReplicaSets, StatefulSets, DaemonSets and Jobs create and delete their
//! pods, a refused pod creation holding its workload back with the work queue's backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::DeleteOptions;
use cceone_kube_apiserver::{ApiError, Core, meta};
use cceone_kubesim_core::Action;
use cceone_kubesim_core::events::{self, Event};
use serde_json::{Value, json};

use super::informer::{Informer, Role};
use super::timers::Mark;
use super::{State, opts, run_action, take_sorted};

/// A workload whose pod creation the API server refused (quota, LimitRange, admission).
pub(super) struct Refused {
    /// Refusals in a row.
    times: u32,
    /// No new attempt before this.
    until: jiff::Timestamp,
    /// The last refusal's message (the ReplicaSet's `ReplicaFailure` condition).
    message: String,
    /// When the refusals began (the condition's `lastTransitionTime`).
    since: String,
    /// The workload's generation then: a spec change (a scale) is acted on at once, as an
    /// update event skips the work queue's rate limit.
    generation: i64,
    /// Its pods then (a digest of their uids and resourceVersions): any change to them (one
    /// deleted, one started) is acted on at once too, as the ReplicaSet controller's pod
    /// handlers enqueue the owner without the rate limit (`addPod`/`updatePod`/`deletePod`).
    pods: u64,
}

impl Refused {
    /// The `ReplicaFailure` condition a refused ReplicaSet shows (`replica_set_utils.go`
    /// `calculateStatus`: reason `FailedCreate`, the error as message).
    pub(super) fn condition(&self) -> Value {
        json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": self.message, "lastTransitionTime": self.since})
    }
}

fn generation_of(w: &Value) -> i64 {
    w.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A digest of the pods of the workload with `uid`: their uids and resourceVersions.
fn pods_digest(informer: &Informer, uid: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut seen: Vec<(&str, u64)> = informer
        .children(uid)
        .filter(|(_, e)| e.role == Role::Pod)
        .map(|(_, e)| (e.uid.as_str(), e.rev))
        .collect();
    seen.sort_unstable();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seen.hash(&mut h);
    h.finish()
}

/// The retry delay after `times` refusals in a row: client-go's per-item exponential backoff
/// of the controllers' work queues (`DefaultControllerRateLimiter`: 5 ms doubling, at most
/// 1000 s), so a workload the quota refuses is retried ever less often instead of every pass.
fn refusal_backoff(times: u32) -> Duration {
    let max = Duration::from_secs(1000);
    Duration::from_millis(5)
        .checked_mul(1u32 << times.min(31))
        .map_or(max, |d| d.min(max))
}

/// The uid of an object's controlling owner.
fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller") == Some(&json!(true)))
        })
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// Deployments and CronJobs that changed (or whose ReplicaSets and Jobs did): the
/// ReplicaSets and Jobs they need.
pub(super) async fn owners(
    core: &Arc<Core>,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) {
    let mut actions = Vec::new();
    for key in take_sorted(&mut informer.pending.owners) {
        let Some(w) = informer.parse(&key) else {
            continue;
        };
        let Some(uid) = meta::uid(&w) else { continue };
        let children = informer.parse_children(uid, Role::Workload);
        match w.get("kind").and_then(Value::as_str) {
            Some("Deployment") => actions.extend(
                cceone_kubesim_core::reconcile_deployment(&w, &children)
                    .into_iter()
                    .map(|a| (key.clone(), a)),
            ),
            Some("CronJob") => {
                let (a, next) = cceone_kubesim_core::reconcile_cronjob(&w, &children, now);
                actions.extend(a.into_iter().map(|a| (key.clone(), a)));
                state.timers.set(Mark::Owner, &key, next);
            }
            _ => {}
        }
    }
    let done = futures::future::join_all(
        actions
            .into_iter()
            .map(|(key, a)| async move { (key, run_action(core, a).await) }),
    )
    .await;
    for (key, out) in done {
        match out {
            Ok(event) => events.extend(event),
            Err(()) => state.timers.retry(Mark::Owner, &key, now),
        }
    }
}

/// Workloads owning pods that changed (or whose pods did): the pods to create and delete.
pub(super) async fn pods(
    core: &Arc<Core>,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), ApiError> {
    state.refused.retain(|uid, _| informer.has_uid(uid));
    let nodes = informer.nodes();
    let mut actions = Vec::new();
    let mut deleted_events: HashMap<(String, String), Event> = HashMap::new();
    // Refused workloads reconciled again: their refusal ends unless they are refused anew.
    let mut retried: Vec<String> = Vec::new();
    let mut generations: HashMap<String, i64> = HashMap::new();
    for key in take_sorted(&mut informer.pending.workloads) {
        let Some(w) = informer.parse(&key) else {
            continue;
        };
        if meta::is_deleting(&w) {
            continue;
        }
        let Some(uid) = meta::uid(&w) else { continue };
        if let Some(r) = state.refused.get(uid) {
            if r.until > now
                && r.generation == generation_of(&w)
                && r.pods == pods_digest(informer, uid)
            {
                state.timers.set(Mark::Workload, &key, Some(r.until));
                continue;
            }
            retried.push(uid.to_string());
        }
        generations.insert(uid.to_string(), generation_of(&w));
        let owned = informer.parse_children(uid, Role::Pod);
        let planned = cceone_kubesim_core::reconcile(&w, &owned, &nodes);
        for a in &planned {
            if let Action::DeletePod { namespace, name } = a
                && let Some(ev) = owned
                    .iter()
                    .find(|p| {
                        meta::name(p) == Some(name.as_str())
                            && meta::namespace(p).unwrap_or("default") == namespace
                    })
                    .and_then(events::pod_deleted)
            {
                deleted_events.insert((namespace.clone(), name.clone()), ev);
            }
        }
        actions.extend(planned.into_iter().map(|a| (key.clone(), a)));
    }
    let refusals = parking_lot::Mutex::new(Vec::new());
    let pods_res = informer.pods_resource();
    let done = futures::future::join_all(actions.into_iter().map(|(key, action)| {
        let pods_res = &pods_res;
        let deleted_events = &deleted_events;
        let refusals = &refusals;
        async move {
            let out = match action {
                Action::CreatePod(pod) => {
                    let ns = meta::namespace(&pod).map(String::from);
                    let opts = opts("kube-controller-manager");
                    let event = events::pod_created(&pod);
                    // What the refusal event needs, kept before the pod is handed over.
                    let who = json!({"metadata": pod.get("metadata")});
                    match core.create(pods_res, ns.as_deref(), pod, &opts).await {
                        Ok(_) => Ok(event),
                        Err(ApiError::AlreadyExists { .. }) => Ok(None),
                        Err(e) => {
                            tracing::debug!(error = %e, "creating a pod failed");
                            if let Some(uid) = controller_uid(&who) {
                                refusals.lock().push((uid.to_string(), e.to_string()));
                            }
                            Ok(events::pod_create_failed(&who, &e.to_string()))
                        }
                    }
                }
                Action::DeletePod { namespace, name } => {
                    let d = DeleteOptions::default();
                    match core.delete(pods_res, Some(&namespace), &name, &d).await {
                        Ok(_) => Ok(deleted_events.get(&(namespace, name)).cloned()),
                        Err(e) if e.code() == 404 => Ok(None),
                        Err(e) => {
                            tracing::warn!(error = %e, "deleting a pod failed");
                            Err(())
                        }
                    }
                }
                other => run_action(core, other).await,
            };
            (key, out)
        }
    }))
    .await;
    for (key, out) in done {
        match out {
            Ok(event) => events.extend(event),
            Err(()) => state.timers.retry(Mark::Workload, &key, now),
        }
    }
    let refusals = refusals.into_inner();
    if retried.is_empty() && refusals.is_empty() {
        return Ok(());
    }
    // The refusal remembers the pods as they are after this pass's creations.
    informer.catch_up().await?;
    for uid in retried {
        if !refusals.iter().any(|(u, _)| *u == uid) {
            state.refused.remove(&uid);
            informer.mark_status(&uid);
        }
    }
    for (uid, message) in refusals {
        let generation = generations.get(&uid).copied().unwrap_or(0);
        let digest = pods_digest(informer, &uid);
        let r = state.refused.entry(uid.clone()).or_insert_with(|| Refused {
            times: 0,
            until: now,
            message: String::new(),
            since: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            generation,
            pods: digest,
        });
        r.pods = digest;
        r.times += 1;
        let delay = jiff::SignedDuration::try_from(refusal_backoff(r.times)).unwrap_or_default();
        r.until = now.saturating_add(delay).unwrap_or(now);
        r.message = message;
        r.generation = generation;
        if let Some(key) = informer.key_of_uid(&uid).cloned() {
            state.timers.set(Mark::Workload, &key, Some(r.until));
        }
        informer.mark_status(&uid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_back_off_exponentially_up_to_1000_seconds() {
        assert_eq!(refusal_backoff(1), Duration::from_millis(10));
        assert_eq!(refusal_backoff(4), Duration::from_millis(80));
        assert!(refusal_backoff(15) < refusal_backoff(16));
        assert_eq!(refusal_backoff(18), Duration::from_secs(1000));
        assert_eq!(refusal_backoff(200), Duration::from_secs(1000));
    }
}
