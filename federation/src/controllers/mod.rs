//! The federation's controllers, each a kube-rs client of the federation API with its own work
//! queue, sharing one set of watch-backed caches:
//!
//! - [`cluster`]: RegisteredCluster → Cluster (status, Ready, taints) and execution space;
//! - [`detector`]: resource template × PropagationPolicy → ResourceBinding;
//! - [`scheduler`]: binding → `spec.clusters` (and the taint manager's evictions);
//! - [`binding`]: binding × OverridePolicies → one Work per target cluster;
//! - [`dependencies`]: a binding with `propagateDeps` → attached bindings of the ConfigMaps,
//!   Secrets, ServiceAccounts and claims its workload references;
//! - [`status`]: Works → the binding's `aggregatedStatus` and the template's status;
//! - [`rebalancer`]: a WorkloadRebalancer → a fresh schedule of the bindings it names;
//! - [`namespaces`]: every federation namespace → a Work in each member (namespace sync);
//! - [`policies`]: a policy being deleted keeps its finalizer until no template is claimed by it.
//!
//! Every reconcile is level-triggered (it reads the caches, never the event) and writes only
//! the difference between what it computes and what it found, so converged objects stay still.

pub(crate) mod binding;
pub(crate) mod cluster;
pub(crate) mod dependencies;
pub(crate) mod detector;
pub(crate) mod eviction;
pub(crate) mod namespaces;
pub(crate) mod policies;
pub(crate) mod rebalancer;
pub(crate) mod scheduler;
pub(crate) mod status;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use cceone_federation_core::names;
use cceone_karmada_api::{Cluster, ResourceBinding};
use cceone_kube_apiserver::LocalClient;
use serde_json::{Value, json};

use crate::json::{arr, condition, s};
use crate::resources::{self, TemplateKey};
use crate::runtime::queue::QueueInfo;
use crate::runtime::{Cache, ObjKey, Queue, Writer, queue};
use crate::templates::Templates;

/// Where a binding records the spec generation the scheduler has seen.
const OBSERVED: &str = "/status/schedulerObservedGeneration";

/// Timings and sizes of the controllers.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How long a disconnected cluster stays Ready before it turns Unknown (and unreachable).
    pub(crate) cluster_grace: Duration,
    /// How long Ready stays False / Unknown before the NoExecute taint evicts workloads.
    pub(crate) eviction_timeout: Duration,
    /// How long a graceful eviction keeps the old cluster's Work at most.
    pub(crate) graceful_eviction_timeout: Duration,
    /// Workers per controller.
    pub(crate) workers: usize,
}

/// What every reconcile reads and writes through.
pub(crate) struct Ctx {
    pub(crate) writer: Writer,
    pub(crate) settings: Settings,
    pub(crate) registered: Arc<Cache>,
    pub(crate) clusters: Arc<Cache>,
    pub(crate) namespaces: Arc<Cache>,
    pub(crate) pps: Arc<Cache>,
    pub(crate) cpps: Arc<Cache>,
    pub(crate) ops: Arc<Cache>,
    pub(crate) cops: Arc<Cache>,
    pub(crate) rbs: Arc<Cache>,
    pub(crate) crbs: Arc<Cache>,
    pub(crate) works: Arc<Cache>,
    pub(crate) rebalancers: Arc<Cache>,
    pub(crate) templates: Arc<Templates>,
    /// [`Ctx::cluster_values`]' copy; dropped whenever a Cluster changes.
    cluster_snapshot: parking_lot::RwLock<Option<Arc<Vec<Cluster>>>>,
    /// Counts Cluster changes, so that a copy made across one is not kept.
    cluster_generation: std::sync::atomic::AtomicU64,
    /// Since when each binding's workload has been unhealthy in each cluster (application
    /// failover; in memory, as Karmada keeps it).
    pub(crate) unhealthy_apps: parking_lot::Mutex<
        std::collections::HashMap<ObjKey, cceone_federation_core::appfailover::UnhealthySince>,
    >,
    /// The clusters whose share of a binding's replicas grew and is not ready yet, with that
    /// share: the binding controller holds the shrinking clusters' old shares until then.
    pub(crate) moving: parking_lot::Mutex<std::collections::HashMap<ObjKey, Vec<(String, i32)>>>,
    /// Each binding's fingerprint after its last complete dispatch (see the binding
    /// controller): a binding that still has it needs no dispatch.
    pub(crate) dispatched: parking_lot::Mutex<std::collections::HashMap<ObjKey, u64>>,
}

impl Ctx {
    /// The binding with a key (ResourceBinding when namespaced, else ClusterResourceBinding).
    pub(crate) fn binding(&self, key: &ObjKey) -> Option<Arc<Value>> {
        if key.namespace.is_some() {
            self.rbs.get(key)
        } else {
            self.crbs.get(key)
        }
    }

    /// The binding with a key, typed.
    pub(crate) fn binding_as(&self, key: &ObjKey) -> Option<ResourceBinding> {
        if key.namespace.is_some() {
            self.rbs.get_as(key)
        } else {
            self.crbs.get_as(key)
        }
    }

    /// The keys of every binding.
    pub(crate) fn binding_keys(&self) -> Vec<ObjKey> {
        let mut keys = self.rbs.keys();
        keys.extend(self.crbs.keys());
        keys
    }

    /// Every Cluster, typed, for the scheduling and override functions: one shared copy, made
    /// again only after a Cluster changed (at 100 clusters, copying them for every binding
    /// scheduled was most of the scheduler's work). A Cluster that does not read is left out
    /// (admission checks their shape, so none is).
    pub(crate) fn cluster_values(&self) -> Arc<Vec<Cluster>> {
        if let Some(snapshot) = self.cluster_snapshot.read().as_ref() {
            return Arc::clone(snapshot);
        }
        let generation = self.cluster_generation.load(Ordering::Acquire);
        let snapshot: Arc<Vec<Cluster>> = Arc::new(self.clusters.list_as());
        let mut slot = self.cluster_snapshot.write();
        // Keep it only if no Cluster changed while it was being made.
        if self.cluster_generation.load(Ordering::Acquire) == generation {
            *slot = Some(Arc::clone(&snapshot));
        }
        snapshot
    }

    /// How many times a Cluster has changed.
    pub(crate) fn cluster_generation(&self) -> u64 {
        self.cluster_generation.load(Ordering::Acquire)
    }

    /// A Cluster changed: the next [`Ctx::cluster_values`] copies them again.
    fn clusters_changed(&self) {
        let mut slot = self.cluster_snapshot.write();
        self.cluster_generation.fetch_add(1, Ordering::AcqRel);
        *slot = None;
    }

    /// Whether every cache the controllers read has loaded.
    async fn wait_synced(&self) {
        for c in [
            &self.registered,
            &self.clusters,
            &self.namespaces,
            &self.pps,
            &self.cpps,
            &self.ops,
            &self.cops,
            &self.rbs,
            &self.crbs,
            &self.works,
            &self.rebalancers,
        ] {
            c.wait_synced().await;
        }
        self.templates.wait_synced().await;
    }
}

/// The queues of the controllers.
struct Queues {
    cluster: Arc<Queue<String>>,
    detector: Arc<Queue<TemplateKey>>,
    scheduler: Arc<Queue<ObjKey>>,
    binding: Arc<Queue<ObjKey>>,
    dependencies: Arc<Queue<ObjKey>>,
    status: Arc<Queue<ObjKey>>,
    rebalancer: Arc<Queue<ObjKey>>,
    namespaces: Arc<Queue<String>>,
    policies: Arc<Queue<ObjKey>>,
}

/// The running controllers; dropping this stops them.
pub(crate) struct Controllers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    templates: Arc<Templates>,
}

impl Controllers {
    /// Stop every controller and watch.
    pub(crate) fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.templates.stop();
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn name_of(v: &Value) -> String {
    s(v, "/metadata/name").to_string()
}

fn either<'a>(old: Option<&'a Value>, new: Option<&'a Value>) -> Option<&'a Value> {
    new.or(old)
}

/// Whether an object was created, deleted, had its spec changed (generation) or started
/// terminating — the changes that matter to controllers that do not own its status.
fn spec_changed(old: Option<&Value>, new: Option<&Value>) -> bool {
    match (old, new) {
        (Some(o), Some(n)) => {
            o.pointer("/metadata/generation") != n.pointer("/metadata/generation")
                || o.pointer("/metadata/deletionTimestamp")
                    != n.pointer("/metadata/deletionTimestamp")
                || o.pointer("/metadata/finalizers") != n.pointer("/metadata/finalizers")
        }
        _ => true,
    }
}

/// Whether a template changed other than in its status, `managedFields` or `resourceVersion`
/// (Karmada's `eventfilter.SpecificationChanged`, pkg/util/helper/eventfilter: the detector
/// ignores the rest, so the status this federation writes back into a template does not
/// re-run the detector and rewrite the binding).
fn template_spec_changed(old: Option<&Value>, new: Option<&Value>) -> bool {
    let (Some(o), Some(n)) = (old, new) else {
        return true;
    };
    let (Some(o), Some(n)) = (o.as_object(), n.as_object()) else {
        return o != n;
    };
    let meta_changed = match (o.get("metadata"), n.get("metadata")) {
        (Some(Value::Object(om)), Some(Value::Object(nm))) => {
            let ignored = |k: &String| k == "managedFields" || k == "resourceVersion";
            om.iter()
                .filter(|(k, _)| !ignored(k))
                .ne(nm.iter().filter(|(k, _)| !ignored(k)))
        }
        (om, nm) => om != nm,
    };
    meta_changed
        || o.iter()
            .filter(|(k, _)| *k != "status" && *k != "metadata")
            .ne(n.iter().filter(|(k, _)| *k != "status" && *k != "metadata"))
}

/// How long the status controller waits after anything it reads changed, so that the changes
/// of a binding's Works arriving together (created at once, reported by their clusters within
/// moments) make one binding status write, not one each.
const STATUS_COALESCE: Duration = Duration::from_millis(100);
/// The longest the status controller waits to coalesce, reached under a burst (about 600
/// bindings waiting): a binding's clusters then report over seconds, and each status write
/// (of the binding, then of its template) costs the API a parse, a patch and an fsync.
const STATUS_COALESCE_MAX: Duration = Duration::from_secs(3);

/// How long to let a binding's status changes gather: 100 ms when little is waiting, growing
/// by 5 ms per binding already waiting, up to 3 s — under a burst, each status write then
/// carries more of the clusters' reports (fewer writes) at a cost in latency only when busy.
fn status_delay(q: &Queue<ObjKey>) -> Duration {
    let waiting = u32::try_from(q.delayed_len()).unwrap_or(u32::MAX);
    (STATUS_COALESCE + Duration::from_millis(5).saturating_mul(waiting)).min(STATUS_COALESCE_MAX)
}

/// Each cluster's reported health of a binding's workload (`status.aggregatedStatus`).
fn cluster_health(binding: Option<&Value>) -> Vec<(Option<&Value>, Option<&Value>)> {
    binding
        .and_then(|b| b.pointer("/status/aggregatedStatus"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| (i.get("clusterName"), i.get("health")))
                .collect()
        })
        .unwrap_or_default()
}

/// What of a Cluster scheduling and overrides look at (not its resource summary, which
/// changes all the time).
fn cluster_projection(c: Option<&Value>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "labels": c.pointer("/metadata/labels"),
            "deleting": c.pointer("/metadata/deletionTimestamp"),
            "spec": c.get("spec"),
            "ready": condition(c, "Ready").map(|r| s(r, "/status")),
            "apis": c.pointer("/status/apiEnablements"),
        }),
    }
}

/// Templates of the kinds a policy selects (in its namespace for a PropagationPolicy).
fn templates_selected_by(templates: &Templates, policy: &Value) -> Vec<TemplateKey> {
    let namespace = s(policy, "/metadata/namespace");
    let mut out = Vec::new();
    for cache in templates.caches() {
        let ar = cache.resource();
        let selected = arr(policy, "/spec/resourceSelectors")
            .iter()
            .any(|rs| s(rs, "/apiVersion") == ar.api_version && s(rs, "/kind") == ar.kind);
        if !selected {
            continue;
        }
        let keys = cache.keys();
        out.extend(
            keys.into_iter()
                .filter(|k| namespace.is_empty() || k.ns() == namespace)
                .map(|key| TemplateKey {
                    api_version: ar.api_version.clone(),
                    kind: ar.kind.clone(),
                    key,
                }),
        );
    }
    out
}

/// Start the caches and controllers against the federation API in this process.
pub(crate) fn start(local: LocalClient, settings: Settings) -> Controllers {
    let works_index: crate::runtime::cache::Indexer = Box::new(|w: &Value| {
        resources::work_owner(w)
            .map(|k| vec![resources::binding_index(&k)])
            .unwrap_or_default()
    });
    let writer = Writer::new(local.clone());
    let ctx = Arc::new(Ctx {
        writer: writer.clone(),
        settings: settings.clone(),
        registered: Cache::new(cceone_platform::registered_cluster_resource(), None),
        clusters: Cache::new(resources::cluster(), None),
        namespaces: Cache::new(resources::namespace(), None),
        pps: Cache::new(resources::propagation_policy(), None),
        cpps: Cache::new(resources::cluster_propagation_policy(), None),
        ops: Cache::new(resources::override_policy(), None),
        cops: Cache::new(resources::cluster_override_policy(), None),
        // Bindings and Works are the caches that grow with the workloads: held as compact JSON.
        rbs: Cache::build(
            resources::resource_binding(),
            Some(Box::new(dependencies::index)),
            None,
            true,
        ),
        crbs: Cache::build(resources::cluster_resource_binding(), None, None, true),
        works: Cache::build(
            resources::work(),
            Some(works_index),
            Some(resources::project_work),
            true,
        ),
        rebalancers: Cache::new(resources::workload_rebalancer(), None),
        templates: Templates::new(local.clone(), writer),
        cluster_snapshot: parking_lot::RwLock::new(None),
        cluster_generation: std::sync::atomic::AtomicU64::new(0),
        unhealthy_apps: parking_lot::Mutex::default(),
        moving: parking_lot::Mutex::default(),
        dispatched: parking_lot::Mutex::default(),
    });
    let q = Queues {
        cluster: Queue::new(),
        detector: Queue::new(),
        scheduler: Queue::new(),
        binding: Queue::new(),
        dependencies: Queue::new(),
        status: Queue::new(),
        rebalancer: Queue::new(),
        namespaces: Queue::new(),
        policies: Queue::new(),
    };
    wire(&ctx, &q);
    register_metrics(&local, &q);

    let mut tasks = Vec::new();
    for cache in [
        &ctx.registered,
        &ctx.clusters,
        &ctx.namespaces,
        &ctx.pps,
        &ctx.cpps,
        &ctx.ops,
        &ctx.cops,
        &ctx.rbs,
        &ctx.crbs,
        &ctx.works,
        &ctx.rebalancers,
    ] {
        ctx.writer.write_through(cache);
        tasks.push(tokio::spawn(Arc::clone(cache).run(local.clone())));
    }
    tasks.push(tokio::spawn(Arc::clone(&ctx.templates).run()));

    let workers = settings.workers;
    macro_rules! controller {
        ($name:literal, $queue:expr, $reconcile:path) => {{
            let c = Arc::clone(&ctx);
            let ready = Arc::clone(&ctx);
            tasks.push(tokio::spawn(queue::run(
                $name,
                Arc::clone(&$queue),
                workers,
                async move { ready.wait_synced().await },
                move |key| $reconcile(Arc::clone(&c), key),
            )));
        }};
    }
    controller!("cluster", q.cluster, cluster::reconcile);
    controller!("detector", q.detector, detector::reconcile);
    controller!("scheduler", q.scheduler, scheduler::reconcile);
    controller!("binding", q.binding, binding::reconcile);
    controller!("dependencies", q.dependencies, dependencies::reconcile);
    controller!("status", q.status, status::reconcile);
    controller!("rebalancer", q.rebalancer, rebalancer::reconcile);
    controller!("namespaces", q.namespaces, namespaces::reconcile);
    controller!("policies", q.policies, policies::reconcile);
    Controllers {
        tasks,
        templates: Arc::clone(&ctx.templates),
    }
}

/// Serve each controller's queue depth and reconcile counters on the API's `/metrics`.
fn register_metrics(local: &LocalClient, q: &Queues) {
    let queues: Vec<(&'static str, Weak<dyn QueueInfo>)> = vec![
        ("cluster", weak_info(&q.cluster)),
        ("detector", weak_info(&q.detector)),
        ("scheduler", weak_info(&q.scheduler)),
        ("binding", weak_info(&q.binding)),
        ("dependencies", weak_info(&q.dependencies)),
        ("status", weak_info(&q.status)),
        ("rebalancer", weak_info(&q.rebalancer)),
        ("namespaces", weak_info(&q.namespaces)),
        ("policies", weak_info(&q.policies)),
    ];
    local.core().metrics.add_renderer(Arc::new(move |out: &mut String| {
        out.push_str("# HELP federation_queue_depth Keys waiting for a controller.\n# TYPE federation_queue_depth gauge\n");
        let live: Vec<(&str, Arc<dyn QueueInfo>)> = queues
            .iter()
            .filter_map(|(n, w)| Some((*n, w.upgrade()?)))
            .collect();
        for (name, q) in &live {
            let _ = writeln!(out, "federation_queue_depth{{controller=\"{name}\"}} {}", q.depth());
        }
        out.push_str("# HELP federation_reconciles_total Reconciles by controller and result.\n# TYPE federation_reconciles_total counter\n");
        for (name, q) in &live {
            let st = q.stats();
            for (result, n) in [
                ("ok", &st.ok),
                ("conflict", &st.conflicts),
                ("error", &st.errors),
            ] {
                let _ = writeln!(
                    out,
                    "federation_reconciles_total{{controller=\"{name}\",result=\"{result}\"}} {}",
                    n.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP federation_reconcile_seconds_total Time spent reconciling.\n# TYPE federation_reconcile_seconds_total counter\n");
        for (name, q) in &live {
            let secs = q.stats().busy_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "federation_reconcile_seconds_total{{controller=\"{name}\"}} {secs}");
        }
        out.push_str("# HELP federation_queue_adds_total Keys added to a controller's queue.\n# TYPE federation_queue_adds_total counter\n");
        for (name, q) in &live {
            let _ = writeln!(
                out,
                "federation_queue_adds_total{{controller=\"{name}\"}} {}",
                q.stats().adds.load(Ordering::Relaxed)
            );
        }
    }));
}

fn weak_info<K: Send + 'static>(q: &Arc<Queue<K>>) -> Weak<dyn QueueInfo>
where
    Queue<K>: QueueInfo,
{
    let w: Weak<Queue<K>> = Arc::downgrade(q);
    w
}

/// Map changes of each cache onto the keys of the controllers that care.
fn wire(ctx: &Arc<Ctx>, q: &Queues) {
    let cq = Arc::clone(&q.cluster);
    ctx.registered.on_change(Arc::new(move |old, new| {
        if let Some(o) = either(old, new) {
            cq.add(name_of(o));
        }
    }));

    let (cq, sq, bq) = (
        Arc::clone(&q.cluster),
        Arc::clone(&q.scheduler),
        Arc::clone(&q.binding),
    );
    let weak = Arc::downgrade(ctx);
    ctx.clusters.on_change(Arc::new(move |old, new| {
        if let Some(ctx) = weak.upgrade() {
            ctx.clusters_changed();
        }
        if let Some(o) = either(old, new) {
            cq.add(name_of(o));
        }
        if cluster_projection(old) != cluster_projection(new)
            && let Some(ctx) = weak.upgrade()
        {
            for key in ctx.binding_keys() {
                sq.add(key.clone());
                bq.add(key);
            }
        }
    }));

    let cq = Arc::clone(&q.cluster);
    ctx.namespaces.on_change(Arc::new(move |old, new| {
        if let Some(o) = either(old, new)
            && let Some(cluster) = name_of(o).strip_prefix(names::EXECUTION_SPACE_PREFIX)
        {
            cq.add(cluster.to_string());
        }
    }));

    for policies in [&ctx.pps, &ctx.cpps] {
        let (dq, pq) = (Arc::clone(&q.detector), Arc::clone(&q.policies));
        let weak = Arc::downgrade(ctx);
        policies.on_change(Arc::new(move |old, new| {
            let Some(ctx) = weak.upgrade() else { return };
            for p in [old, new].into_iter().flatten() {
                for key in templates_selected_by(&ctx.templates, p) {
                    dq.add(key);
                }
            }
            if let Some(p) = new.filter(|p| crate::json::deleting(p))
                && let Some(key) = ObjKey::of(p)
            {
                pq.add(key);
            }
        }));
    }

    for overrides in [&ctx.ops, &ctx.cops] {
        let bq = Arc::clone(&q.binding);
        let weak = Arc::downgrade(ctx);
        overrides.on_change(Arc::new(move |old, new| {
            let Some(ctx) = weak.upgrade() else { return };
            let Some(p) = either(old, new) else { return };
            let ns = s(p, "/metadata/namespace");
            for key in ctx.binding_keys() {
                if ns.is_empty() || key.ns() == ns {
                    bq.add(key);
                }
            }
        }));
    }

    // Namespace sync: a namespace changed, a cluster came or went, or a policy claimed one.
    let nq = Arc::clone(&q.namespaces);
    ctx.namespaces.on_change(Arc::new(move |old, new| {
        if let Some(o) = either(old, new)
            && !namespaces::reserved(s(o, "/metadata/name"))
        {
            nq.add(name_of(o));
        }
    }));
    let (nq, weak) = (Arc::clone(&q.namespaces), Arc::downgrade(ctx));
    ctx.clusters.on_change(Arc::new(move |old, new| {
        let deletion = |c: Option<&Value>| {
            c.and_then(|c| c.pointer("/metadata/deletionTimestamp"))
                .is_some()
        };
        if (old.is_none() || new.is_none() || deletion(old) != deletion(new))
            && let Some(ctx) = weak.upgrade()
        {
            for key in ctx.namespaces.keys() {
                if !namespaces::reserved(&key.name) {
                    nq.add(key.name);
                }
            }
        }
    }));
    let nq = Arc::clone(&q.namespaces);
    ctx.crbs.on_change(Arc::new(move |old, new| {
        if let Some(b) = either(old, new)
            && s(b, "/spec/resource/kind") == "Namespace"
            && s(b, "/spec/resource/apiVersion") == "v1"
        {
            nq.add(s(b, "/spec/resource/name").to_string());
        }
    }));

    let rq = Arc::clone(&q.rebalancer);
    ctx.rebalancers.on_change(Arc::new(move |old, new| {
        if spec_changed(old, new)
            && let Some(key) = new.and_then(ObjKey::of)
        {
            rq.add(key);
        }
    }));

    let depq = Arc::clone(&q.dependencies);
    ctx.rbs.on_change(Arc::new(move |old, new| {
        // Karmada's distributor looks at a binding whose spec changed (its schedule among it)
        // while it asks for its dependencies, once it stops asking, and when it goes.
        let asks = |b: Option<&Value>| {
            b.and_then(|b| b.pointer("/spec/propagateDeps"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        if (asks(old) || asks(new))
            && spec_changed(old, new)
            && let Some(key) = either(old, new).and_then(ObjKey::of)
        {
            depq.add(key);
        }
    }));

    for bindings in [&ctx.rbs, &ctx.crbs] {
        let (dq, sq, bq, stq) = (
            Arc::clone(&q.detector),
            Arc::clone(&q.scheduler),
            Arc::clone(&q.binding),
            Arc::clone(&q.status),
        );
        bindings.on_change(Arc::new(move |old, new| {
            let Some(b) = either(old, new) else { return };
            let Some(key) = ObjKey::of(b) else { return };
            if spec_changed(old, new) {
                if let Some(t) = TemplateKey::of_binding(b) {
                    dq.add(t);
                }
                sq.add(key.clone());
                bq.add(key.clone());
                stq.add_after(key, status_delay(&stq));
            } else {
                if old.and_then(|o| o.pointer(OBSERVED)) != new.and_then(|n| n.pointer(OBSERVED)) {
                    // The scheduler caught up with the spec: the Works may be dispatched.
                    bq.add(key.clone());
                }
                if !arr(b, "/spec/gracefulEvictionTasks").is_empty() {
                    // A graceful eviction ends when the new placement reports healthy.
                    bq.add(key.clone());
                }
                if b.pointer("/spec/failover/application").is_some()
                    && cluster_health(old) != cluster_health(new)
                {
                    // Application failover watches the clusters' health reports.
                    sq.add(key);
                }
            }
        }));
    }

    let (bq, stq) = (Arc::clone(&q.binding), Arc::clone(&q.status));
    ctx.works.on_change(Arc::new(move |old, new| {
        let Some(w) = either(old, new) else { return };
        let Some(owner) = resources::work_owner(w) else {
            return;
        };
        if spec_changed(old, new)
            || old.and_then(|o| o.pointer("/metadata/labels"))
                != new.and_then(|n| n.pointer("/metadata/labels"))
            || old.and_then(|o| o.pointer("/metadata/annotations"))
                != new.and_then(|n| n.pointer("/metadata/annotations"))
        {
            bq.add(owner.clone());
        }
        stq.add_after(owner, status_delay(&stq));
    }));

    let (dq, bq, stq, depq) = (
        Arc::clone(&q.detector),
        Arc::clone(&q.binding),
        Arc::clone(&q.status),
        Arc::clone(&q.dependencies),
    );
    let weak = Arc::downgrade(ctx);
    ctx.templates.on_change(Arc::new(move |old, new| {
        let Some(t) = either(old, new) else { return };
        if (old.is_none() || new.is_none())
            && let Some(ctx) = weak.upgrade()
        {
            // A dependency created (or deleted) after the workloads that reference it.
            for key in dependencies::bindings_waiting_for(&ctx, t) {
                depq.add(key);
            }
        }
        let spec = template_spec_changed(old, new);
        if spec && let Some(key) = TemplateKey::of(t) {
            dq.add(key);
        }
        if let Some(b) = resources::binding_of_template(t) {
            if spec {
                bq.add(b.clone());
                // What the workload references may have changed; its binding's spec need not
                // (only the template's resourceVersion moved), so the distributor hears it here.
                if cceone_federation_core::dependencies::has_dependency_hook(
                    s(t, "/apiVersion"),
                    s(t, "/kind"),
                ) {
                    depq.add(b.clone());
                }
            }
            stq.add_after(b, status_delay(&stq));
        }
    }));
}
