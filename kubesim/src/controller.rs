//! The simulator's controllers, driving the pure core in `cceone-kubesim-core` through the API
//! (never around it): Deployments roll out through ReplicaSets and CronJobs start Jobs, the
//! workload controllers create and delete pods, the scheduler binds them within node capacity,
//! the kubelet moves them through their phases after a delay and stops them when deleted, and
//! workload status is written back. Each records the Events its upstream counterpart does.

mod record;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cceone_kube_apiserver::core::{
    DeleteOptions, ListOptions, PatchKind, WatchOptions, WriteOptions,
};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Core, meta};
use cceone_kubesim_core::Action;
use cceone_kubesim_core::events::{self, Event, Recorder};
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
    /// How long a deleted pod's containers take to stop (at most its grace period): the
    /// simulated kubelet removes the pod then.
    pub stop_delay: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            start_delay: Duration::from_millis(200),
            job_run: Duration::from_secs(1),
            resync: Duration::from_secs(5),
            stop_delay: Duration::from_millis(500),
        }
    }
}

/// Workloads that own pods.
const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
];

/// Workloads that own workloads: Deployments own ReplicaSets, CronJobs own Jobs.
const OWNERS: &[(&str, &str)] = &[("apps", "deployments"), ("batch", "cronjobs")];

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

/// The most time between two passes under load (see [`pass_gap`]).
const MAX_PASS_GAP: Duration = Duration::from_secs(1);

/// The time to leave after a pass that took `took`: [`PASS_GAP`], or three times the pass
/// when that is longer (up to [`MAX_PASS_GAP`]), so a simulated member spends at most about a
/// quarter of its time in passes however many objects it holds. Each pass lists every pod and
/// workload: under a burst of Works twenty members passing every 100 ms were 63% of the
/// federation benchmark's CPU (200 x 20), starving the control plane they were there to feed.
fn pass_gap(took: Duration) -> Duration {
    took.saturating_mul(3).clamp(PASS_GAP, MAX_PASS_GAP)
}

/// Run the controllers until the task is dropped.
pub async fn run(core: Arc<Core>, cfg: ControllerConfig) {
    let wake = Arc::new(Notify::new());
    for (group, plural) in WORKLOADS
        .iter()
        .chain(OWNERS)
        .chain(&[("", "pods"), ("", "nodes")])
    {
        if let Ok(res) = core.resource(group, "v1", plural) {
            tokio::spawn(watch_for_changes(Arc::clone(&core), res, Arc::clone(&wake)));
        }
    }
    let mut state = State {
        recorder: Recorder::new(),
        stopping: HashSet::new(),
        last_sweep: Instant::now(),
        refused: HashMap::new(),
    };
    loop {
        let started = Instant::now();
        let result = pass(&core, &cfg, &mut state).await;
        let gap = pass_gap(started.elapsed());
        if state.last_sweep.elapsed() >= record::SWEEP_EVERY {
            state.last_sweep = Instant::now();
            record::sweep(&core, &mut state.recorder, jiff::Timestamp::now()).await;
        }
        // A CronJob's next schedule time wakes the loop, however long until then.
        let cron_wait = result.as_ref().ok().and_then(|p| p.wake_at).map(|t| {
            let left = t.duration_since(jiff::Timestamp::now());
            Duration::try_from(left).unwrap_or_default()
        });
        let wait = match result {
            // What was just written may need a follow-up soon.
            Ok(Pass { changed: true, .. }) => gap,
            Err(e) => {
                tracing::warn!(error = %e, "simulator pass failed");
                gap
            }
            // Only timers are pending (pods starting, jobs running); their timestamps have a
            // resolution of one second, so checking four times a second loses little and
            // saves most of the passes (each lists and parses every pod).
            Ok(Pass { timers: true, .. }) => TIMER_CHECK.min(cfg.resync),
            Ok(_) => cfg.resync,
        };
        let wait = cron_wait.map_or(wait, |c| wait.min(c));
        tokio::select! {
            _ = wake.notified() => tokio::time::sleep(gap).await,
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
    /// The next CronJob schedule time.
    wake_at: Option<jiff::Timestamp>,
}

/// What the controllers remember between passes.
struct State {
    /// Events recorded, for aggregation.
    recorder: Recorder,
    /// Uids of the pods whose containers the kubelet has begun to stop.
    stopping: HashSet<String>,
    /// When expired events were last swept.
    last_sweep: Instant,
    /// Workloads (by uid) whose last pod creation was refused, held back until their backoff.
    refused: HashMap<String, Refused>,
}

/// A workload whose pod creation the API server refused (quota, LimitRange, admission).
struct Refused {
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

fn generation_of(w: &Value) -> i64 {
    w.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A digest of a workload's pods: their uids and resourceVersions, in order.
fn pods_digest<'a>(owned: impl IntoIterator<Item = &'a Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut seen: Vec<(&str, &str)> = owned
        .into_iter()
        .map(|p| {
            (
                meta::uid(p).unwrap_or_default(),
                meta::resource_version(p).unwrap_or_default(),
            )
        })
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

impl Refused {
    /// The `ReplicaFailure` condition a refused ReplicaSet shows (`replica_set_utils.go`
    /// `calculateStatus`: reason `FailedCreate`, the error as message).
    fn condition(&self) -> Value {
        json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": self.message, "lastTransitionTime": self.since})
    }
}

/// The resource of an object kind the controllers write.
fn resource_of(core: &Core, kind: &str) -> Result<Arc<ResourceInfo>, ApiError> {
    let (group, plural) = match kind {
        "Deployment" => ("apps", "deployments"),
        "ReplicaSet" => ("apps", "replicasets"),
        "Job" => ("batch", "jobs"),
        "CronJob" => ("batch", "cronjobs"),
        _ => ("", "pods"),
    };
    core.resource(group, "v1", plural)
}

/// Every object of the given kinds, with its resource.
async fn list_kinds(
    core: &Core,
    kinds: &[(&str, &str)],
) -> Result<Vec<(Arc<ResourceInfo>, Value)>, ApiError> {
    let mut out = Vec::new();
    for (group, plural) in kinds {
        let res = core.resource(group, "v1", plural)?;
        for w in list(core, &res).await? {
            out.push((Arc::clone(&res), w));
        }
    }
    Ok(out)
}

/// Carry out an action on objects other than pods; the event it carries is returned once
/// it succeeded.
async fn run_action(core: &Arc<Core>, action: Action) -> Option<Event> {
    let manager = opts("kube-controller-manager");
    let (result, event) = match action {
        Action::Create { object, event } => {
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
            let ns = meta::namespace(&object).map(String::from);
            let r = match resource_of(core, kind) {
                Ok(res) => core.create(&res, ns.as_deref(), object, &manager).await,
                Err(e) => Err(e),
            };
            (r.map(|_| ()), event)
        }
        Action::Patch {
            target,
            patch,
            event,
        } => {
            let r = match resource_of(core, target.kind) {
                Ok(res) => {
                    core.patch(
                        &res,
                        Some(&target.namespace),
                        &target.name,
                        None,
                        PatchKind::Merge,
                        &patch,
                        &manager,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            (r.map(|_| ()), event)
        }
        Action::Delete { target, event } => {
            let d = DeleteOptions {
                propagation: Some("Background".into()),
                ..Default::default()
            };
            let r = match resource_of(core, target.kind) {
                Ok(res) => {
                    core.delete(&res, Some(&target.namespace), &target.name, &d)
                        .await
                }
                Err(e) => Err(e),
            };
            (r.map(|_| ()), event)
        }
        Action::Record(e) => return Some(e),
        Action::CreatePod(_) | Action::DeletePod { .. } => return None,
    };
    match result {
        Ok(()) => event,
        Err(ApiError::AlreadyExists { .. } | ApiError::NotFound { .. }) => None,
        Err(e) => {
            tracing::warn!(error = %e, "a controller write failed");
            None
        }
    }
}

/// Deployments and CronJobs: the ReplicaSets and Jobs they need. Returns whether anything
/// was written and when a CronJob is due next.
async fn owners_pass(
    core: &Arc<Core>,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) -> Result<(bool, Option<jiff::Timestamp>), ApiError> {
    let owners = list_kinds(core, OWNERS).await?;
    if owners.is_empty() {
        return Ok((false, None));
    }
    let owned = list_kinds(core, &[("apps", "replicasets"), ("batch", "jobs")]).await?;
    let (groups, _) = group_by_controller(owned.into_iter().map(|(_, v)| v).collect());
    let mut actions = Vec::new();
    let mut wake_at: Option<jiff::Timestamp> = None;
    for (_, w) in &owners {
        let Some(uid) = meta::uid(w) else { continue };
        let children = groups.get(uid).map_or(&[][..], Vec::as_slice);
        match w.get("kind").and_then(Value::as_str) {
            Some("Deployment") => {
                actions.extend(cceone_kubesim_core::reconcile_deployment(w, children))
            }
            Some("CronJob") => {
                let (a, next) = cceone_kubesim_core::reconcile_cronjob(w, children, now);
                actions.extend(a);
                wake_at = match (wake_at, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            _ => {}
        }
    }
    let changed = actions.iter().any(|a| !matches!(a, Action::Record(_)));
    let done = futures::future::join_all(actions.into_iter().map(|a| run_action(core, a))).await;
    events.extend(done.into_iter().flatten());
    Ok((changed, wake_at))
}

/// Go's `time.Duration` text for short durations (`200ms`, `1.5s`), as kubelet messages print it.
fn go_duration(d: Duration) -> String {
    if d.is_zero() {
        "0s".into()
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// One reconciliation pass over everything.
async fn pass(
    core: &Arc<Core>,
    cfg: &ControllerConfig,
    state: &mut State,
) -> Result<Pass, ApiError> {
    let now = jiff::Timestamp::now();
    let mut events = Vec::new();
    let out = pass_recording(core, cfg, state, now, &mut events).await;
    record::write(core, &mut state.recorder, events, now).await;
    out
}

async fn pass_recording(
    core: &Arc<Core>,
    cfg: &ControllerConfig,
    state: &mut State,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) -> Result<Pass, ApiError> {
    let pods_res = core.resource("", "v1", "pods")?;
    let nodes_res = core.resource("", "v1", "nodes")?;

    // Each phase decides first and then writes everything it decided at once: the store
    // commits concurrent writes together (one log sync for the lot, not one per pod).

    // Deployments and CronJobs: ReplicaSets and Jobs.
    let (mut changed, mut wake_at) = owners_pass(core, now, events).await?;

    let nodes = list(core, &nodes_res).await?;
    let mut pods = list(core, &pods_res).await?;

    // Workload controllers: create and delete pods.
    let workloads = list_kinds(core, WORKLOADS).await?;
    let (owners, unowned) = group_by_controller(std::mem::take(&mut pods));
    let mut actions = Vec::new();
    // Refused workloads reconciled again: their refusal ends unless they are refused anew.
    let mut retried: Vec<&str> = Vec::new();
    for (_, w) in &workloads {
        if meta::is_deleting(w) {
            continue;
        }
        let Some(uid) = meta::uid(w) else { continue };
        let owned = owners.get(uid).map_or(&[][..], Vec::as_slice);
        if let Some(r) = state.refused.get(uid) {
            if r.until > now && r.generation == generation_of(w) && r.pods == pods_digest(owned) {
                wake_at = Some(wake_at.map_or(r.until, |t| t.min(r.until)));
                continue;
            }
            retried.push(uid);
        }
        actions.extend(cceone_kubesim_core::reconcile(w, owned, &nodes));
    }
    pods = ungroup(owners, unowned);
    let refusals = parking_lot::Mutex::new(Vec::new());
    if !actions.is_empty() {
        changed = true;
        let deleting: HashSet<(&str, &str)> = actions
            .iter()
            .filter_map(|a| match a {
                Action::DeletePod { namespace, name } => Some((namespace.as_str(), name.as_str())),
                _ => None,
            })
            .collect();
        let deleted_events: HashMap<(String, String), Event> = pods
            .iter()
            .filter(|p| {
                deleting.contains(&(
                    meta::namespace(p).unwrap_or("default"),
                    meta::name(p).unwrap_or(""),
                ))
            })
            .filter_map(|p| {
                let key = (
                    meta::namespace(p).unwrap_or("default").to_string(),
                    meta::name(p).unwrap_or("").to_string(),
                );
                Some((key, events::pod_deleted(p)?))
            })
            .collect();
        let done = futures::future::join_all(actions.into_iter().map(|action| {
            let pods_res = &pods_res;
            let deleted_events = &deleted_events;
            let refusals = &refusals;
            async move {
                match action {
                    Action::CreatePod(pod) => {
                        let ns = meta::namespace(&pod).map(String::from);
                        let opts = opts("kube-controller-manager");
                        let event = events::pod_created(&pod);
                        // What the refusal event needs, kept before the pod is handed over.
                        let who = json!({"metadata": pod.get("metadata")});
                        match core.create(pods_res, ns.as_deref(), pod, &opts).await {
                            Ok(_) => event,
                            Err(ApiError::AlreadyExists { .. }) => None,
                            Err(e) => {
                                tracing::debug!(error = %e, "creating a pod failed");
                                if let Some(uid) = controller_uid(&who) {
                                    refusals.lock().push((uid.to_string(), e.to_string()));
                                }
                                events::pod_create_failed(&who, &e.to_string())
                            }
                        }
                    }
                    Action::DeletePod { namespace, name } => {
                        let d = DeleteOptions::default();
                        match core.delete(pods_res, Some(&namespace), &name, &d).await {
                            Ok(_) => deleted_events.get(&(namespace, name)).cloned(),
                            Err(e) => {
                                if e.code() != 404 {
                                    tracing::warn!(error = %e, "deleting a pod failed");
                                }
                                None
                            }
                        }
                    }
                    other => run_action(core, other).await,
                }
            }
        }))
        .await;
        events.extend(done.into_iter().flatten());
        pods = list(core, &pods_res).await?;
    }
    let refusals = refusals.into_inner();
    for uid in retried {
        if !refusals.iter().any(|(u, _)| u == uid) {
            state.refused.remove(uid);
        }
    }
    for (uid, message) in refusals {
        let generation = workloads
            .iter()
            .find(|(_, w)| meta::uid(w) == Some(uid.as_str()))
            .map_or(0, |(_, w)| generation_of(w));
        let digest = pods_digest(
            pods.iter()
                .filter(|p| controller_uid(p) == Some(uid.as_str())),
        );
        let r = state.refused.entry(uid).or_insert_with(|| Refused {
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
    }
    state.refused.retain(|uid, _| {
        workloads
            .iter()
            .any(|(_, w)| meta::uid(w) == Some(uid.as_str()))
    });

    // Scheduler: bind pending pods within capacity (each placement counts against its node
    // for the next).
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
                events.push(events::scheduled(pod, &node));
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
                    events.push(events::failed_scheduling(pod, &u.message));
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

    // Kubelet: move bound pods through their phases; stop the deleted ones.
    let mut pending_timers = false;
    let start = jiff::SignedDuration::try_from(cfg.start_delay).unwrap_or_default();
    let job_run = jiff::SignedDuration::try_from(cfg.job_run).unwrap_or_default();
    let stop = jiff::SignedDuration::try_from(cfg.stop_delay).unwrap_or_default();
    let pull_took = go_duration(cfg.start_delay);
    let mut writes = Vec::new();
    let mut stopped = Vec::new();
    let mut stopping = HashSet::new();
    for (i, pod) in pods.iter().enumerate() {
        let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else {
            continue;
        };
        if let Some(done) = cceone_kubesim_core::termination_done(pod, now, stop) {
            let uid = meta::uid(pod).unwrap_or_default().to_string();
            if !state.stopping.contains(&uid) && !terminal(pod) {
                events.extend(events::containers_killed(pod, node_name));
            }
            let finalizers = pod
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if done && !finalizers {
                stopped.push((pod, uid));
            } else {
                // Still stopping, or stopped and waiting for its finalizers.
                pending_timers |= !done;
                stopping.insert(uid);
            }
            continue;
        }
        let node = nodes.iter().find(|n| meta::name(n) == Some(node_name));
        if let Some(status) = cceone_kubesim_core::advance_pod(pod, node, now, start, job_run) {
            if meta::name(pod).is_some() {
                if status.get("phase").and_then(Value::as_str) == Some("Running")
                    && pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running")
                {
                    events.extend(events::containers_started(pod, node_name, &pull_took));
                }
                writes.push((i, Some("status"), json!({"status": status}), "kubelet"));
            }
            changed = true;
        }
    }
    // The containers of deleted pods have stopped: remove the pods (grace period 0, this uid).
    changed |= !stopped.is_empty();
    futures::future::join_all(stopped.into_iter().map(|(pod, uid)| {
        let pods_res = &pods_res;
        async move {
            let (Some(name), ns) = (meta::name(pod), meta::namespace(pod)) else {
                return;
            };
            let d = DeleteOptions {
                uid: Some(uid),
                grace_period_seconds: Some(0),
                ..Default::default()
            };
            if let Err(e) = core.delete(pods_res, ns, name, &d).await
                && !matches!(e.code(), 404 | 409)
            {
                tracing::debug!(error = %e, "removing a stopped pod failed");
            }
        }
    }))
    .await;
    state.stopping = stopping;
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

    // Workload status: of the pod owners first, then of Deployments and CronJobs from the
    // ReplicaSets and Jobs as just updated.
    let (owners, _) = group_by_controller(pods);
    let mut updates = Vec::new();
    let mut children = Vec::new();
    for (res, w) in &workloads {
        let Some(uid) = meta::uid(w) else { continue };
        let owned = owners.get(uid).map_or(&[][..], Vec::as_slice);
        let mut status = cceone_kubesim_core::workload_status(w, owned, &nodes, now);
        if res.kind == "ReplicaSet"
            && let Some(r) = state.refused.get(uid)
            && let Some(map) = status.as_object_mut()
        {
            map.insert("conditions".into(), json!([r.condition()]));
        }
        let differs =
            without_times(&status) != without_times(w.get("status").unwrap_or(&Value::Null));
        if differs && res.kind == "Job" {
            events.extend(events::job_finished(w, &status));
        }
        let mut new = w.clone();
        new["status"] = status;
        if differs && meta::name(w).is_some() {
            updates.push((Arc::clone(res), new.clone()));
        }
        if matches!(res.kind.as_str(), "ReplicaSet" | "Job") {
            children.push(new);
        }
    }
    drop(owners);
    let (children, _) = group_by_controller(children);
    for (res, w) in list_kinds(core, OWNERS).await? {
        let Some(uid) = meta::uid(&w) else { continue };
        let owned = children.get(uid).map_or(&[][..], Vec::as_slice);
        let status = cceone_kubesim_core::workload_status(&w, owned, &nodes, now);
        if without_times(&status) != without_times(w.get("status").unwrap_or(&Value::Null))
            && meta::name(&w).is_some()
        {
            let mut new = w;
            new["status"] = status;
            updates.push((res, new));
        }
    }
    futures::future::join_all(updates.into_iter().map(|(res, new)| async move {
        let (Some(name), ns) = (
            meta::name(&new).map(String::from),
            meta::namespace(&new).map(String::from),
        ) else {
            return;
        };
        let opts = opts("kube-controller-manager");
        match core
            .update(&res, ns.as_deref(), &name, Some("status"), new, &opts)
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
        wake_at,
    })
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
