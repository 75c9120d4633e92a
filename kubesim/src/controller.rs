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
            Ok(Pass { changed: true, .. }) => Duration::from_millis(50),
            Err(e) => {
                tracing::warn!(error = %e, "simulator pass failed");
                Duration::from_millis(50)
            }
            // Only timers are pending (pods starting, jobs running); their timestamps have a
            // resolution of one second, so checking four times a second loses little and
            // saves most of the passes (each lists and parses every pod).
            Ok(Pass { timers: true, .. }) => TIMER_CHECK.min(cfg.resync),
            Ok(_) => cfg.resync,
        };
        tokio::select! {
            _ = wake.notified() => tokio::time::sleep(Duration::from_millis(10)).await,
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

/// Pods by the uid of their controlling owner (one pass over the pods, so a reconcile pass
/// costs O(pods + workloads), not O(pods × workloads)).
fn by_controller(pods: &[Value]) -> HashMap<&str, Vec<Value>> {
    let mut out: HashMap<&str, Vec<Value>> = HashMap::new();
    for p in pods {
        let owner = p
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller") == Some(&json!(true)))
            })
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str);
        if let Some(uid) = owner {
            out.entry(uid).or_default().push(p.clone());
        }
    }
    out
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

    // Workload controllers: create and delete pods.
    let mut workloads = Vec::new();
    for (group, plural) in WORKLOADS {
        let res = core.resource(group, "v1", plural)?;
        for w in list(core, &res).await? {
            workloads.push((Arc::clone(&res), w));
        }
    }
    let owners = by_controller(&pods);
    for (_, w) in &workloads {
        if meta::is_deleting(w) {
            continue;
        }
        let Some(uid) = meta::uid(w) else { continue };
        let owned = owners.get(uid).map_or(&[][..], Vec::as_slice);
        for action in cceone_kubesim_core::reconcile(w, owned, &nodes) {
            changed = true;
            match action {
                Action::CreatePod(pod) => {
                    let ns = meta::namespace(&pod).map(String::from);
                    match core
                        .create(
                            &pods_res,
                            ns.as_deref(),
                            pod,
                            &opts("kube-controller-manager"),
                        )
                        .await
                    {
                        Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                        Err(e) => tracing::warn!(error = %e, "creating a pod failed"),
                    }
                }
                Action::DeletePod { namespace, name } => {
                    let d = DeleteOptions::default();
                    if let Err(e) = core.delete(&pods_res, Some(&namespace), &name, &d).await
                        && e.code() != 404
                    {
                        tracing::warn!(error = %e, "deleting a pod failed");
                    }
                }
            }
        }
    }
    drop(owners);
    if changed {
        pods = list(core, &pods_res).await?;
    }

    // Scheduler: bind pending pods within capacity.
    let now = jiff::Timestamp::now();
    let mut bound: Vec<Value> = pods
        .iter()
        .filter(|p| p.pointer("/spec/nodeName").is_some() && !terminal(p))
        .cloned()
        .collect();
    for pod in pods
        .iter_mut()
        .filter(|p| p.pointer("/spec/nodeName").is_none() && !terminal(p) && !meta::is_deleting(p))
    {
        let (Some(name), ns) = (
            meta::name(pod).map(String::from),
            meta::namespace(pod).map(String::from),
        ) else {
            continue;
        };
        match cceone_kubesim_core::schedule(pod, &nodes, &bound) {
            Ok(node) => {
                let patch = json!({"spec": {"nodeName": node}});
                if let Ok(p) = core
                    .patch(
                        &pods_res,
                        ns.as_deref(),
                        &name,
                        None,
                        PatchKind::Merge,
                        &patch,
                        &opts("kube-scheduler"),
                    )
                    .await
                {
                    bound.push(p.clone());
                    *pod = p;
                    changed = true;
                }
            }
            Err(u) => {
                if let Some(status) =
                    cceone_kubesim_core::pod_unschedulable_status(pod, &u.message, now)
                {
                    let patch = json!({"status": status});
                    if let Ok(p) = core
                        .patch(
                            &pods_res,
                            ns.as_deref(),
                            &name,
                            Some("status"),
                            PatchKind::Merge,
                            &patch,
                            &opts("kube-scheduler"),
                        )
                        .await
                    {
                        *pod = p;
                    }
                }
            }
        }
    }

    // Kubelet: move bound pods through their phases.
    let mut pending_timers = false;
    let start = jiff::SignedDuration::try_from(cfg.start_delay).unwrap_or_default();
    let job_run = jiff::SignedDuration::try_from(cfg.job_run).unwrap_or_default();
    for pod in pods.iter_mut() {
        let Some(node_name) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .map(String::from)
        else {
            continue;
        };
        let node = nodes
            .iter()
            .find(|n| meta::name(n) == Some(node_name.as_str()));
        if let Some(status) = cceone_kubesim_core::advance_pod(pod, node, now, start, job_run) {
            let (Some(name), ns) = (
                meta::name(pod).map(String::from),
                meta::namespace(pod).map(String::from),
            ) else {
                continue;
            };
            let patch = json!({"status": status});
            match core
                .patch(
                    &pods_res,
                    ns.as_deref(),
                    &name,
                    Some("status"),
                    PatchKind::Merge,
                    &patch,
                    &opts("kubelet"),
                )
                .await
            {
                Ok(p) => *pod = p,
                Err(e) if e.code() != 404 => {
                    tracing::debug!(error = %e, "pod status update failed")
                }
                Err(_) => {}
            }
            changed = true;
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
    let owners = by_controller(&pods);
    for (res, w) in &workloads {
        let Some(uid) = meta::uid(w) else { continue };
        let owned = owners.get(uid).map_or(&[][..], Vec::as_slice);
        let status = cceone_kubesim_core::workload_status(w, owned, &nodes, now);
        if without_times(&status) != without_times(w.get("status").unwrap_or(&Value::Null)) {
            let (Some(name), ns) = (meta::name(w), meta::namespace(w)) else {
                continue;
            };
            let mut new = w.clone();
            new["status"] = status;
            match core
                .update(
                    res,
                    ns,
                    name,
                    Some("status"),
                    new,
                    &opts("kube-controller-manager"),
                )
                .await
            {
                Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "workload status update failed"),
            }
        }
    }
    Ok(Pass {
        changed,
        timers: pending_timers,
    })
}
