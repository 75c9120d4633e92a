//! The platform's controllers and admission in the federation (issue 15): fleets (status sums,
//! which clusters are federation members), the registered-cluster lifecycle past what the hub
//! records (unsubscribe through to Unsubscribed, delete-protection changes in the operation
//! log) and the vCPU-hour meter. They run beside the federation's controllers on caches of
//! their own, so neither set waits on the other; the only thing the cluster controller reads of
//! this module is [`withdrawn`], a registered cluster's `status.federationMember`.

mod access;
mod admission;
mod lifecycle;
mod meter;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cceone_kube_apiserver::{Core, LocalClient};
use cceone_platform::clock::Clock;
use serde_json::Value;

use crate::json::s;
use crate::runtime::{Cache, Queue, Writer, queue};

/// Index of registered clusters by `spec.fleet`.
const BY_FLEET: fn(&Value) -> Vec<String> = |v| {
    cceone_platform::fleet::fleet_of(v)
        .map(|f| vec![f.to_string()])
        .unwrap_or_default()
};

/// Where user tokens are kept: their own namespace, and where an earlier version kept them.
const TOKEN_NAMESPACES: [&str; 2] = [
    cceone_platform::usertoken::NAMESPACE,
    cceone_platform::usertoken::LEGACY_NAMESPACE,
];

/// A Secret as the token cache keeps it: its name and revision and, for a platform user's
/// token in the platform's namespace, `user` (`cceone_platform::grant::token_user`); nothing
/// else (no Secret data stays in memory).
fn project_token(v: &mut Value) {
    let who = TOKEN_NAMESPACES
        .contains(&s(v, "/metadata/namespace"))
        .then(|| cceone_platform::grant::token_user(v))
        .flatten();
    let meta = serde_json::json!({
        "name": s(v, "/metadata/name"),
        "namespace": s(v, "/metadata/namespace"),
        "resourceVersion": s(v, "/metadata/resourceVersion"),
    });
    *v = serde_json::json!({"metadata": meta});
    if let Some(user) = who {
        v["user"] = Value::String(user);
    }
}

/// Whether the platform took a registered cluster out of the federation (its fleet is not
/// bound, or it is unsubscribed): the cluster controller then removes its Cluster.
pub(crate) fn withdrawn(regc: &Value) -> bool {
    regc.pointer("/status/federationMember") == Some(&Value::Bool(false))
}

/// How the platform controllers run.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The meter's clock.
    pub(crate) clock: Clock,
    /// How often the meter looks at every cluster (it also wakes on each change).
    pub(crate) meter_interval: Duration,
    /// How long usage records are kept.
    pub(crate) usage_retention: Duration,
}

/// The caches the platform's admission and controllers share.
pub(crate) struct Shared {
    registered: Arc<Cache>,
    fleets: Arc<Cache>,
    usage: Arc<Cache>,
    grants: Arc<Cache>,
    /// Secrets, kept as the platform users their tokens speak for ([`project_token`]): the
    /// users who may read in the clusters where they have no grant.
    tokens: Arc<Cache>,
    /// Set once the fleets have loaded: before that, admission refuses joining any fleet, as
    /// it cannot tell a known one from an unknown one.
    synced: AtomicBool,
}

impl Shared {
    /// Empty caches; [`start`] fills them.
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            registered: Cache::new(
                cceone_platform::registered_cluster_resource(),
                Some(Box::new(BY_FLEET)),
            ),
            fleets: Cache::new(cceone_platform::fleet::fleet_resource(), None),
            usage: Cache::new(
                cceone_platform::usage::usage_record_resource(),
                Some(Box::new(|v: &Value| {
                    vec![s(v, "/spec/cluster").to_string()]
                })),
            ),
            grants: Cache::new(cceone_platform::grant::grant_resource(), None),
            tokens: Cache::build(
                kube::api::ApiResource::from_gvk_with_plural(
                    &kube::api::GroupVersionKind::gvk("", "v1", "Secret"),
                    "secrets",
                ),
                None,
                Some(project_token),
                false,
            ),
            synced: AtomicBool::new(false),
        })
    }

    /// Register the admission hooks with the API server.
    pub(crate) fn install_admission(self: &Arc<Self>, core: &Arc<Core>) {
        core.add_admission(admission::hook(Arc::clone(self)));
        core.add_delete_admission(admission::delete_hook(Arc::clone(self)));
    }

    /// The members of a fleet, by name.
    fn members(&self, fleet: &str) -> Vec<Arc<Value>> {
        self.registered
            .by_index_as::<Value>(fleet)
            .into_iter()
            .map(Arc::new)
            .collect()
    }

    /// The platform's users (those with a user token).
    fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = TOKEN_NAMESPACES
            .iter()
            .flat_map(|ns| self.tokens.list_ns_as::<Value>(ns))
            .filter_map(|t| t.get("user").and_then(Value::as_str).map(String::from))
            .collect();
        users.sort();
        users.dedup();
        users
    }

    async fn wait_synced(&self) {
        for c in [
            &self.registered,
            &self.fleets,
            &self.usage,
            &self.grants,
            &self.tokens,
        ] {
            c.wait_synced().await;
        }
    }
}

/// The platform's running tasks; dropping this stops them.
pub(crate) struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Tasks {
    /// Stop every task.
    pub(crate) fn stop(&mut self) {
        for t in self.0.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run only what the platform's admission reads (the fleets), for a replica that serves the
/// API while another leads: its controllers run on the leader, on caches of their own.
pub(crate) fn start_admission(shared: Arc<Shared>, local: LocalClient) -> Tasks {
    let fleets = Arc::clone(&shared.fleets);
    let tasks = vec![
        tokio::spawn(Arc::clone(&fleets).run(local)),
        tokio::spawn(async move {
            fleets.wait_synced().await;
            shared.synced.store(true, Ordering::Release);
        }),
    ];
    Tasks(tasks)
}

/// Run the caches, the fleet and lifecycle controllers and the meter.
pub(crate) fn start(shared: Arc<Shared>, local: LocalClient, settings: Settings) -> Tasks {
    let writer = Writer::new(local.clone());
    let mut tasks = Vec::new();
    let fleet_q: Arc<Queue<String>> = Queue::new();
    let cluster_q: Arc<Queue<String>> = Queue::new();
    let access_q: Arc<Queue<String>> = Queue::new();
    let grant_q: Arc<Queue<String>> = Queue::new();
    let wake = Arc::new(tokio::sync::Notify::new());
    let stopped = Arc::new(parking_lot::Mutex::new(Vec::new()));

    {
        let (fq, cq, wake, stopped) = (
            Arc::clone(&fleet_q),
            Arc::clone(&cluster_q),
            Arc::clone(&wake),
            Arc::clone(&stopped),
        );
        let (aq, weak) = (Arc::clone(&access_q), Arc::downgrade(&shared));
        let gq = Arc::clone(&grant_q);
        shared.registered.on_change(Arc::new(move |old, new| {
            for o in [old, new].into_iter().flatten() {
                if let Some(f) = cceone_platform::fleet::fleet_of(o) {
                    fq.add(f.to_string());
                }
            }
            if let Some(o) = new.or(old) {
                cq.add(s(o, "/metadata/name").to_string());
                aq.add(s(o, "/metadata/name").to_string());
            }
            if old.map(cceone_platform::fleet::fleet_of)
                != new.map(cceone_platform::fleet::fleet_of)
                && let Some(shared) = weak.upgrade()
            {
                for g in shared.grants.keys() {
                    gq.add(g.name);
                }
            }
            if meter::stopped_running(old, new)
                && let Some(o) = old
            {
                stopped.lock().push(meter::Stopped::of(o));
            }
            wake.notify_one();
        }));
    }
    {
        let (fq, cq) = (Arc::clone(&fleet_q), Arc::clone(&cluster_q));
        let weak = Arc::downgrade(&shared);
        shared.fleets.on_change(Arc::new(move |old, new| {
            let Some(f) = new.or(old) else { return };
            let name = s(f, "/metadata/name").to_string();
            if let Some(shared) = weak.upgrade() {
                for m in shared.members(&name) {
                    cq.add(s(&m, "/metadata/name").to_string());
                }
            }
            fq.add(name);
        }));
    }

    {
        let (aq, gq) = (Arc::clone(&access_q), Arc::clone(&grant_q));
        let weak = Arc::downgrade(&shared);
        shared.grants.on_change(Arc::new(move |old, new| {
            if let Some(g) = new.or(old) {
                gq.add(s(g, "/metadata/name").to_string());
            }
            if let Some(shared) = weak.upgrade() {
                for c in shared.registered.keys() {
                    aq.add(c.name);
                }
            }
        }));
    }

    {
        // A platform user came or went: every cluster recounts its readers.
        let aq = Arc::clone(&access_q);
        let weak = Arc::downgrade(&shared);
        shared.tokens.on_change(Arc::new(move |old, new| {
            let Some(shared) = weak.upgrade() else { return };
            if [old, new]
                .into_iter()
                .flatten()
                .any(|t| t.get("user").is_some())
            {
                for c in shared.registered.keys() {
                    aq.add(c.name);
                }
            }
        }));
    }

    for cache in [
        &shared.registered,
        &shared.fleets,
        &shared.usage,
        &shared.grants,
        &shared.tokens,
    ] {
        writer.write_through(cache);
        tasks.push(tokio::spawn(Arc::clone(cache).run(local.clone())));
    }
    {
        let shared = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            shared.fleets.wait_synced().await;
            shared.synced.store(true, Ordering::Release);
        }));
    }

    let ctx = Arc::new(lifecycle::Ctx {
        shared: Arc::clone(&shared),
        writer: writer.clone(),
        local: local.clone(),
    });
    macro_rules! controller {
        ($name:literal, $queue:expr, $reconcile:path) => {{
            let (c, ready) = (Arc::clone(&ctx), Arc::clone(&shared));
            tasks.push(tokio::spawn(queue::run(
                $name,
                Arc::clone(&$queue),
                2,
                async move { ready.wait_synced().await },
                move |key| $reconcile(Arc::clone(&c), key),
            )));
        }};
    }
    controller!("fleet", fleet_q, lifecycle::reconcile_fleet);
    controller!("platform-cluster", cluster_q, lifecycle::reconcile_cluster);
    controller!("access", access_q, access::reconcile);
    controller!("grant", grant_q, access::reconcile_grant);
    tasks.push(tokio::spawn(meter::run(meter::Meter {
        shared,
        writer,
        clock: settings.clock,
        interval: settings.meter_interval,
        retention: settings.usage_retention,
        wake,
        stopped,
    })));
    Tasks(tasks)
}
