//! The simulator's controllers, driving the pure core in `cceone-kubesim-core` through the API
//! (never around it): the workload controllers create and delete pods, the scheduler binds
//! them within node capacity, the kubelet moves them through their phases after a delay, and
//! workload status is written back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::{
    DeleteOptions, ListOptions, PatchKind, WatchOptions, WriteOptions,
};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Core, meta};
use cceone_kubesim_core::Action;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Timing of the simulation.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How long a bound pod takes to become Running and Ready.
    pub start_delay: Duration,
    /// How long a Job's pod runs before it succeeds.
    pub job_run: Duration,
    /// Re-check interval when nothing changes.
    pub resync: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            start_delay: Duration::from_millis(200),
            job_run: Duration::from_secs(1),
            resync: Duration::from_secs(5),
        }
    }
}

const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
];

fn opts(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// The least time between two passes. Each pass lists and parses every pod and workload, and
/// every write (its own included) wakes the next one: under a burst of Works, back-to-back
/// passes of twenty simulated members were a third of the machine. Gathering the changes of
/// 100 ms into one pass keeps a pod's start within a few passes of its `start_delay`.
const PASS_GAP: Duration = Duration::from_millis(100);

/// Run the controllers until the task is dropped.
pub async fn run(core: Arc<Core>, cfg: ControllerConfig) {
    let wake = Arc::new(Notify::new());
    for (group, plural) in WORKLOADS.iter().chain(&[("", "pods"), ("", "nodes")]) {
        if let Ok(res) = core.resource(group, "v1", plural) {
            tokio::spawn(watch_for_changes(Arc::clone(&core), res, Arc::clone(&wake)));
        }
    }
    loop {
        let wait = match pass(&core, &cfg).await {
            // What was just written may need a follow-up soon.
            Ok(Pass { changed: true, .. }) => PASS_GAP,
            Err(e) => {
                tracing::warn!(error = %e, "simulator pass failed");
                PASS_GAP
            }
            // Only timers are pending (pods starting, jobs running); their timestamps have a
            // resolution of one second, so checking four times a second loses little and
            // saves most of the passes (each lists and parses every pod).
            Ok(Pass { timers: true, .. }) => TIMER_CHECK.min(cfg.resync),
            Ok(_) => cfg.resync,
        };
        tokio::select! {
            _ = wake.notified() => tokio::time::sleep(PASS_GAP).await,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn watch_for_changes(core: Arc<Core>, res: Arc<ResourceInfo>, wake: Arc<Notify>) {
    loop {
        let rv = core.store.current_revision().to_string();
        let opts = WatchOptions {
            resource_version: Some(rv),
            ..Default::default()
        };
        match core.watch(&res, None, opts).await {
            Ok(mut rx) => {
                while rx.recv().await.is_some() {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::debug!(resource = %res.qualified(), error = %e, "simulator watch failed")
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn list(core: &Core, res: &ResourceInfo) -> Result<Vec<Value>, ApiError> {
    let page = core.list(res, None, &ListOptions::default()).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect())
}

/// The uid of a pod's controlling owner.
fn controller_uid(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller") == Some(&json!(true)))
        })
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// Pods moved (not copied: a pass over thousands of pods copied each one) into groups by the
/// uid of their controlling owner, and the pods without one; [`ungroup`] puts them back. One
/// pass over the pods, so a reconcile pass costs O(pods + workloads), not O(pods × workloads).
fn group_by_controller(pods: Vec<Value>) -> (HashMap<String, Vec<Value>>, Vec<Value>) {
    let mut groups: HashMap<String, Vec<Value>> = HashMap::new();
    let mut rest = Vec::new();
    for p in pods {
        match controller_uid(&p).map(String::from) {
            Some(uid) => groups.entry(uid).or_default().push(p),
            None => rest.push(p),
        }
    }
    (groups, rest)
}

/// The pods of [`group_by_controller`] as one list again.
fn ungroup(groups: HashMap<String, Vec<Value>>, mut rest: Vec<Value>) -> Vec<Value> {
    rest.extend(groups.into_values().flatten());
    rest
}

fn terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

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

/// Merge-patch pods at once (`(index in pods, subresource, patch, manager)`), each answer
/// replacing the pod in `pods`; a pod gone meanwhile is skipped.
async fn patch_pods(
    core: &Arc<Core>,
    pods_res: &Arc<ResourceInfo>,
    pods: &mut [Value],
    writes: Vec<(usize, Option<&'static str>, Value, &'static str)>,
) {
    let answers = futures::future::join_all(writes.into_iter().map(|(i, sub, patch, manager)| {
        let (name, ns) = (
            meta::name(&pods[i]).unwrap_or_default().to_string(),
            meta::namespace(&pods[i]).map(String::from),
        );
        async move {
            let out = core
                .patch(
                    pods_res,
                    ns.as_deref(),
                    &name,
                    sub,
                    PatchKind::Merge,
                    &patch,
                    &opts(manager),
                )
                .await;
            (i, out)
        }
    }))
    .await;
    for (i, out) in answers {
        match out {
            Ok(p) => pods[i] = p,
            Err(e) if e.code() != 404 => tracing::debug!(error = %e, "pod update failed"),
            Err(_) => {}
        }
    }
}

/// How often pending timers are checked when nothing else happens.
const TIMER_CHECK: Duration = Duration::from_millis(250);

/// What a pass did.
struct Pass {
    /// It wrote something.
    changed: bool,
    /// Timed transitions are still pending.
    timers: bool,
}

/// One reconciliation pass over everything.
async fn pass(core: &Arc<Core>, cfg: &ControllerConfig) -> Result<Pass, ApiError> {
    let pods_res = core.resource("", "v1", "pods")?;
    let nodes_res = core.resource("", "v1", "nodes")?;
    let nodes = list(core, &nodes_res).await?;
    let mut pods = list(core, &pods_res).await?;
    let mut changed = false;

    // Each phase decides first and then writes everything it decided at once: the store
    // commits concurrent writes together (one log sync for the lot, not one per pod).

    // Workload controllers: create and delete pods.
    let mut workloads = Vec::new();
    for (group, plural) in WORKLOADS {
        let res = core.resource(group, "v1", plural)?;
        for w in list(core, &res).await? {
            workloads.push((Arc::clone(&res), w));
        }
    }
    let (owners, unowned) = group_by_controller(std::mem::take(&mut pods));
    let mut actions = Vec::new();
    for (_, w) in &workloads {
        if meta::is_deleting(w) {
            continue;
        }
        let Some(uid) = meta::uid(w) else { continue };
        let owned = owners.get(uid).map_or(&[][..], Vec::as_slice);
        actions.extend(cceone_kubesim_core::reconcile(w, owned, &nodes));
    }
    pods = ungroup(owners, unowned);
    if !actions.is_empty() {
        changed = true;
        futures::future::join_all(actions.into_iter().map(|action| {
            let pods_res = &pods_res;
            async move {
                match action {
                    Action::CreatePod(pod) => {
                        let ns = meta::namespace(&pod).map(String::from);
                        let opts = opts("kube-controller-manager");
                        match core.create(pods_res, ns.as_deref(), pod, &opts).await {
                            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                            Err(e) => tracing::warn!(error = %e, "creating a pod failed"),
                        }
                    }
                    Action::DeletePod { namespace, name } => {
                        let d = DeleteOptions::default();
                        if let Err(e) = core.delete(pods_res, Some(&namespace), &name, &d).await
                            && e.code() != 404
                        {
                            tracing::warn!(error = %e, "deleting a pod failed");
                        }
                    }
                }
            }
        }))
        .await;
        pods = list(core, &pods_res).await?;
    }

    // Scheduler: bind pending pods within capacity (each placement counts against its node
    // for the next).
    let now = jiff::Timestamp::now();
    let mut usage = cceone_kubesim_core::NodeUsage::of(&pods);
    let mut writes = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        if pod.pointer("/spec/nodeName").is_some() || terminal(pod) || meta::is_deleting(pod) {
            continue;
        }
        if meta::name(pod).is_none() {
            continue;
        }
        match cceone_kubesim_core::schedule_with(pod, &nodes, &usage) {
            Ok(node) => {
                let mut placed = pod.clone();
                placed["spec"]["nodeName"] = json!(node);
                usage.add(&placed);
                writes.push((
                    i,
                    None,
                    json!({"spec": {"nodeName": node}}),
                    "kube-scheduler",
                ));
            }
            Err(u) => {
                if let Some(status) =
                    cceone_kubesim_core::pod_unschedulable_status(pod, &u.message, now)
                {
                    writes.push((
                        i,
                        Some("status"),
                        json!({"status": status}),
                        "kube-scheduler",
                    ));
                }
            }
        }
    }
    changed |= writes.iter().any(|(_, sub, _, _)| sub.is_none());
    patch_pods(core, &pods_res, &mut pods, writes).await;

    // Kubelet: move bound pods through their phases.
    let mut pending_timers = false;
    let start = jiff::SignedDuration::try_from(cfg.start_delay).unwrap_or_default();
    let job_run = jiff::SignedDuration::try_from(cfg.job_run).unwrap_or_default();
    let mut writes = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else {
            continue;
        };
        let node = nodes.iter().find(|n| meta::name(n) == Some(node_name));
        if let Some(status) = cceone_kubesim_core::advance_pod(pod, node, now, start, job_run) {
            if meta::name(pod).is_some() {
                writes.push((i, Some("status"), json!({"status": status}), "kubelet"));
            }
            changed = true;
        }
    }
    patch_pods(core, &pods_res, &mut pods, writes).await;
    for pod in &pods {
        if pod.pointer("/spec/nodeName").is_none() {
            continue;
        }
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        let job_pod = pod.pointer("/metadata/labels/job-name").is_some()
            || pod
                .pointer("/metadata/labels/batch.kubernetes.io~1job-name")
                .is_some();
        if phase == Some("Pending") || (phase == Some("Running") && job_pod) {
            pending_timers = true;
        }
    }

    // Workload status.
    let (owners, _) = group_by_controller(pods);
    let mut updates = Vec::new();
    for (res, w) in &workloads {
        let Some(uid) = meta::uid(w) else { continue };
        let owned = owners.get(uid).map_or(&[][..], Vec::as_slice);
        let status = cceone_kubesim_core::workload_status(w, owned, &nodes, now);
        if without_times(&status) != without_times(w.get("status").unwrap_or(&Value::Null)) {
            if meta::name(w).is_none() {
                continue;
            }
            let mut new = w.clone();
            new["status"] = status;
            updates.push((res, new));
        }
    }
    drop(owners);
    futures::future::join_all(updates.into_iter().map(|(res, new)| async move {
        let (Some(name), ns) = (
            meta::name(&new).map(String::from),
            meta::namespace(&new).map(String::from),
        ) else {
            return;
        };
        let opts = opts("kube-controller-manager");
        match core
            .update(res, ns.as_deref(), &name, Some("status"), new, &opts)
            .await
        {
            Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "workload status update failed"),
        }
    }))
    .await;
    Ok(Pass {
        changed,
        timers: pending_timers,
    })
}
