//! The simulator's controllers, driving the pure core in `cceone-kubesim-core` through the API
//! (never around it): Deployments roll out through ReplicaSets and CronJobs start Jobs, the
//! workload controllers create and delete pods, the scheduler binds them within node capacity,
//! the kubelet moves them through their phases after a delay and stops them when deleted, and
//! workload status is written back. Each records the Events its upstream counterpart does.
//!
//! Driven by changes, as kube-controller-manager's controllers are: the [`informer`] keeps
//! every pod, node and workload from one watch of the store and marks what changed and what
//! depends on it; a pass looks only at those (and at what a timer made due, [`timers`]), so a
//! member holding thousands of settled objects costs nothing between changes. Every object
//! is looked at again once per [`ControllerConfig::resync`], as a safety net.

mod informer;
mod pods;
mod record;
mod status;
mod timers;
mod workloads;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cceone_kube_apiserver::core::{DeleteOptions, PatchKind, WriteOptions};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Core};
use cceone_kubesim_core::Action;
use cceone_kubesim_core::events::{Event, Recorder};
use serde_json::Value;

use informer::Informer;
use timers::Timers;

/// Timing of the simulation.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How long a bound pod takes to become Running and Ready.
    pub start_delay: Duration,
    /// How long a Job's pod runs before it succeeds.
    pub job_run: Duration,
    /// How often every object is looked at again, changed or not (the informers' resync:
    /// changes and timers drive the controllers; this only catches what they would miss).
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
            resync: Duration::from_secs(60),
            stop_delay: Duration::from_millis(500),
        }
    }
}

fn opts(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// The least time between two passes: the changes of 100 ms are looked at together, and the
/// store commits a pass's writes together (one log sync for the lot).
const PASS_GAP: Duration = Duration::from_millis(100);

/// The most time between two passes under load (see [`pass_gap`]).
const MAX_PASS_GAP: Duration = Duration::from_secs(1);

/// The time to leave after a pass that took `took`: [`PASS_GAP`], or three times the pass
/// when that is longer (up to [`MAX_PASS_GAP`]), so a simulated member spends at most about a
/// quarter of its time in passes: twenty members in one benchmark process share its cores with
/// the control plane they are there to feed. (Measured at 200 x 20: once as long as the pass
/// made no difference.)
fn pass_gap(took: Duration) -> Duration {
    took.saturating_mul(3).clamp(PASS_GAP, MAX_PASS_GAP)
}

/// Run the controllers until the task is dropped.
pub async fn run(core: Arc<Core>, cfg: ControllerConfig) {
    let mut informer = match Informer::new(Arc::clone(&core)) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "simulator controllers cannot start");
            return;
        }
    };
    let mut state = State {
        recorder: Recorder::new(),
        stopping: HashSet::new(),
        last_sweep: Instant::now(),
        refused: HashMap::new(),
        timers: Timers::default(),
        last_resync: Instant::now(),
    };
    loop {
        let started = Instant::now();
        if state.last_resync.elapsed() >= cfg.resync {
            state.last_resync = Instant::now();
            informer.mark_all();
        }
        if let Err(e) = pass(&core, &cfg, &mut state, &mut informer).await {
            tracing::warn!(error = %e, "simulator pass failed");
        }
        let gap = pass_gap(started.elapsed());
        if state.last_sweep.elapsed() >= record::SWEEP_EVERY {
            state.last_sweep = Instant::now();
            record::sweep(&core, &mut state.recorder, jiff::Timestamp::now()).await;
        }
        // Wait for a change, the next timer or the resync; then gather the changes of a gap.
        let until_resync = cfg.resync.saturating_sub(state.last_resync.elapsed());
        let wait = state
            .timers
            .next_in(jiff::Timestamp::now())
            .map_or(until_resync, |t| t.min(until_resync));
        let deadline = tokio::time::Instant::now() + wait;
        while !informer.has_pending() {
            tokio::select! {
                _ = informer.next_change() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        if informer.has_pending() {
            let gathered = tokio::time::Instant::now() + gap;
            loop {
                tokio::select! {
                    _ = informer.next_change() => {}
                    _ = tokio::time::sleep_until(gathered) => break,
                }
            }
        }
    }
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
    refused: HashMap<String, workloads::Refused>,
    /// What to look at again when.
    timers: Timers,
    /// When every object was last looked at.
    last_resync: Instant,
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

/// Carry out an action on objects other than pods: the event it carries once it succeeded,
/// or Err when it failed in a way worth retrying.
async fn run_action(core: &Arc<Core>, action: Action) -> Result<Option<Event>, ()> {
    let manager = opts("kube-controller-manager");
    let (result, event) = match action {
        Action::Create { object, event } => {
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
            let ns = cceone_kube_apiserver::meta::namespace(&object).map(String::from);
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
        Action::Record(e) => return Ok(Some(e)),
        Action::CreatePod(_) | Action::DeletePod { .. } => return Ok(None),
    };
    match result {
        Ok(()) => Ok(event),
        Err(ApiError::AlreadyExists { .. } | ApiError::NotFound { .. }) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "a controller write failed");
            Err(())
        }
    }
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

/// Take a set of changed keys, in key order (the order a list gives).
fn take_sorted(set: &mut HashSet<String>) -> Vec<String> {
    let mut keys: Vec<String> = std::mem::take(set).into_iter().collect();
    keys.sort_unstable();
    keys
}

/// One reconciliation pass over what changed.
async fn pass(
    core: &Arc<Core>,
    cfg: &ControllerConfig,
    state: &mut State,
    informer: &mut Informer,
) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now();
    let mut events = Vec::new();
    let out = pass_recording(core, cfg, state, informer, now, &mut events).await;
    record::write(core, &mut state.recorder, events, now).await;
    out
}

async fn pass_recording(
    core: &Arc<Core>,
    cfg: &ControllerConfig,
    state: &mut State,
    informer: &mut Informer,
    now: jiff::Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), ApiError> {
    informer.catch_up().await?;
    state.timers.fire(now, &mut informer.pending);
    // Each phase decides first and then writes everything it decided at once (the store
    // commits concurrent writes together), and the next reads what it wrote.

    // Deployments and CronJobs: ReplicaSets and Jobs.
    workloads::owners(core, state, informer, now, events).await;
    informer.catch_up().await?;
    // Workload controllers: create and delete pods.
    workloads::pods(core, state, informer, now, events).await?;
    informer.catch_up().await?;
    // Scheduler: bind pending pods within capacity.
    pods::schedule(core, state, informer, now, events).await;
    informer.catch_up().await?;
    // Kubelet: move bound pods through their phases; stop the deleted ones.
    pods::kubelet(core, cfg, state, informer, now, events).await;
    informer.catch_up().await?;
    // Workload status: of the pod owners first, then of Deployments and CronJobs from the
    // ReplicaSets and Jobs as just updated.
    status::workloads(core, state, informer, now, events).await;
    informer.catch_up().await?;
    status::owners(core, state, informer, now).await;
    Ok(())
}
