//! The scheduler and the kubelet over the pods that changed: pending pods bound within node
//! capacity (each placement counting against its node for the next), bound pods moved through
//! their phases after their delays, deleted pods stopped and removed.

use std::sync::Arc;

use cceone_kube_apiserver::core::{DeleteOptions, PatchKind};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{Core, meta};
use cceone_kubesim_core::events::{self, Event};
use serde_json::{Value, json};

use super::informer::Informer;
use super::timers::Mark;
use super::{ControllerConfig, State, go_duration, opts, take_sorted};

fn terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// One merge patch of a pod.
struct PodWrite {
    key: String,
    namespace: Option<String>,
    name: String,
    subresource: Option<&'static str>,
    patch: Value,
    manager: &'static str,
}

impl PodWrite {
    fn new(
        key: &str,
        pod: &Value,
        subresource: Option<&'static str>,
        patch: Value,
        manager: &'static str,
    ) -> PodWrite {
        PodWrite {
            key: key.to_string(),
            namespace: meta::namespace(pod).map(String::from),
            name: meta::name(pod).unwrap_or_default().to_string(),
            subresource,
            patch,
            manager,
        }
    }
}

/// Merge-patch pods at once; a pod gone meanwhile is skipped, one whose write failed otherwise
/// is looked at again later.
async fn patch_pods(
    core: &Arc<Core>,
    state: &mut State,
    pods_res: Arc<ResourceInfo>,
    writes: Vec<PodWrite>,
    now: jiff::Timestamp,
) {
    let answers = futures::future::join_all(writes.into_iter().map(|w| {
        let pods_res = &pods_res;
        async move {
            let out = core
                .patch(
                    pods_res,
                    w.namespace.as_deref(),
                    &w.name,
                    w.subresource,
                    PatchKind::Merge,
                    &w.patch,
                    &opts(w.manager),
                )
                .await;
            (w.key, out)
        }
    }))
    .await;
    for (key, out) in answers {
        match out {
            Ok(_) => {}
            Err(e) if e.code() == 404 => {}
            Err(e) => {
                tracing::debug!(error = %e, "pod update failed");
                state.timers.retry(Mark::Pod, &key, now);
            }
        }
    }
}

/// Bind the pending pods that changed (every pending pod when capacity was freed or a node
/// changed) within capacity.
pub(super) async fn schedule(
    core: &Arc<Core>,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) {
    let keys = if std::mem::take(&mut informer.pending.reschedule) {
        informer.unbound_pods()
    } else {
        let mut keys: Vec<String> = informer
            .pending
            .pods
            .iter()
            .filter(|k| informer.entry(k).is_some_and(|e| e.unbound()))
            .cloned()
            .collect();
        keys.sort_unstable();
        keys
    };
    if keys.is_empty() {
        return;
    }
    let nodes = informer.nodes();
    let mut usage = informer.usage();
    let mut writes = Vec::new();
    for key in keys {
        let Some(pod) = informer.parse(&key) else {
            continue;
        };
        if pod.pointer("/spec/nodeName").is_some() || terminal(&pod) || meta::is_deleting(&pod) {
            continue;
        }
        if meta::name(&pod).is_none() {
            continue;
        }
        match cceone_kubesim_core::schedule_with(&pod, &nodes, &usage) {
            Ok(node) => {
                let mut placed = pod.clone();
                placed["spec"]["nodeName"] = json!(node);
                usage.add(&placed);
                events.push(events::scheduled(&pod, &node));
                let patch = json!({"spec": {"nodeName": node}});
                writes.push(PodWrite::new(&key, &pod, None, patch, "kube-scheduler"));
            }
            Err(u) => {
                if let Some(status) =
                    cceone_kubesim_core::pod_unschedulable_status(&pod, &u.message, now)
                {
                    events.push(events::failed_scheduling(&pod, &u.message));
                    let patch = json!({ "status": status });
                    writes.push(PodWrite::new(
                        &key,
                        &pod,
                        Some("status"),
                        patch,
                        "kube-scheduler",
                    ));
                }
            }
        }
    }
    patch_pods(core, state, informer.pods_resource(), writes, now).await;
}

/// Move the bound pods that changed (or whose timer came) through their phases; stop and
/// remove the deleted ones.
pub(super) async fn kubelet(
    core: &Arc<Core>,
    cfg: &ControllerConfig,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) {
    for uid in std::mem::take(&mut informer.pending.gone_pods) {
        state.stopping.remove(&uid);
    }
    let start = jiff::SignedDuration::try_from(cfg.start_delay).unwrap_or_default();
    let job_run = jiff::SignedDuration::try_from(cfg.job_run).unwrap_or_default();
    let stop = jiff::SignedDuration::try_from(cfg.stop_delay).unwrap_or_default();
    let pull_took = go_duration(cfg.start_delay);
    let nodes = informer.nodes();
    let mut writes = Vec::new();
    let mut stopped = Vec::new();
    for key in take_sorted(&mut informer.pending.pods) {
        if informer.entry(&key).is_none_or(|e| e.node.is_none()) {
            state.timers.set(Mark::Pod, &key, None);
            continue;
        }
        let Some(pod) = informer.parse(&key) else {
            continue;
        };
        let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else {
            continue;
        };
        let due = cceone_kubesim_core::next_transition(&pod, now, start, job_run, stop);
        state.timers.set(Mark::Pod, &key, due);
        if let Some(done) = cceone_kubesim_core::termination_done(&pod, now, stop) {
            let uid = meta::uid(&pod).unwrap_or_default().to_string();
            if !state.stopping.contains(&uid) && !terminal(&pod) {
                events.extend(events::containers_killed(&pod, node_name));
            }
            let finalizers = pod
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if done && !finalizers {
                state.stopping.remove(&uid);
                stopped.push((key, pod, uid));
            } else {
                // Still stopping, or stopped and waiting for its finalizers.
                state.stopping.insert(uid);
            }
            continue;
        }
        let node = nodes.iter().find(|n| meta::name(n) == Some(node_name));
        if let Some(status) = cceone_kubesim_core::advance_pod(&pod, node, now, start, job_run)
            && meta::name(&pod).is_some()
        {
            if status.get("phase").and_then(Value::as_str) == Some("Running")
                && pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running")
            {
                events.extend(events::containers_started(&pod, node_name, &pull_took));
            }
            let patch = json!({ "status": status });
            writes.push(PodWrite::new(&key, &pod, Some("status"), patch, "kubelet"));
        }
    }
    // The containers of deleted pods have stopped: remove the pods (grace period 0, this uid).
    let pods_res = informer.pods_resource();
    let failed = futures::future::join_all(stopped.into_iter().map(|(key, pod, uid)| {
        let pods_res = &pods_res;
        async move {
            let (Some(name), ns) = (meta::name(&pod), meta::namespace(&pod)) else {
                return None;
            };
            let d = DeleteOptions {
                uid: Some(uid),
                grace_period_seconds: Some(0),
                ..Default::default()
            };
            match core.delete(pods_res, ns, name, &d).await {
                Err(e) if !matches!(e.code(), 404 | 409) => {
                    tracing::debug!(error = %e, "removing a stopped pod failed");
                    Some(key)
                }
                _ => None,
            }
        }
    }))
    .await;
    for key in failed.into_iter().flatten() {
        state.timers.retry(Mark::Pod, &key, now);
    }
    patch_pods(core, state, informer.pods_resource(), writes, now).await;
}
