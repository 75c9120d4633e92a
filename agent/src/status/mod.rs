//! The status collector: watches Nodes and Pods cluster-wide, keeps only a compact summary per
//! object, and publishes a [`ClusterStatusSnapshot`] (version, API enablements, node counts,
//! capacity / allocatable / allocated, and the metering rule's vCPU count) whenever it changes,
//! debounced, plus a slow resync of version and discovery. The arithmetic lives in [`compute`].

pub mod compute;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub use cceone_kube_quantity::Quantity;
use futures::{Stream, StreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;

pub use compute::{NodeSummary, PodUsage, Resources, SlimNode, SlimPod, Totals};

/// One group-version and its resources as `(resource name, kind)`.
pub type ApiEnablement = (String, Vec<(String, String)>);

/// What the agent reports about its member cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterStatusSnapshot {
    /// `gitVersion` from `/version`, e.g. `v1.32.0`.
    pub kubernetes_version: String,
    /// Served group-versions and their resources (subresources left out), sorted.
    pub api_enablements: Vec<ApiEnablement>,
    /// All nodes.
    pub nodes_total: u32,
    /// Nodes whose `Ready` condition is `True`.
    pub nodes_ready: u32,
    /// Sum of node capacity: `cpu`, `memory`, `pods`.
    pub capacity: BTreeMap<String, Quantity>,
    /// Sum of node allocatable: `cpu`, `memory`, `pods`.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Requests of bound, non-terminal pods: `cpu`, `memory`, and `pods` (their count).
    pub allocated: BTreeMap<String, Quantity>,
    /// Sum of `status.capacity.cpu` over Ready, non-virtual-kubelet nodes.
    pub vcpus: Quantity,
}

impl ClusterStatusSnapshot {
    /// Assemble from the version/discovery part and the sums.
    pub fn new(info: &ClusterInfo, totals: &Totals) -> Self {
        ClusterStatusSnapshot {
            kubernetes_version: info.kubernetes_version.clone(),
            api_enablements: info.api_enablements.clone(),
            nodes_total: totals.nodes_total,
            nodes_ready: totals.nodes_ready,
            capacity: totals.capacity.to_map(),
            allocatable: totals.allocatable.to_map(),
            allocated: totals.allocated.to_map(),
            vcpus: totals.vcpus,
        }
    }
}

/// The slowly changing part of the status: version and discovery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// `gitVersion`.
    pub kubernetes_version: String,
    /// See [`ClusterStatusSnapshot::api_enablements`].
    pub api_enablements: Vec<ApiEnablement>,
}

/// Timing of the collector.
#[derive(Debug, Clone, Copy)]
pub struct StatusOptions {
    /// How long to gather changes before publishing (bounds publish rate under churn).
    pub debounce: Duration,
    /// How often version and discovery are refreshed.
    pub resync: Duration,
    /// Retry delay when fetching version/discovery failed.
    pub info_retry: Duration,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            debounce: Duration::from_millis(200),
            resync: Duration::from_secs(300),
            info_retry: Duration::from_secs(5),
        }
    }
}

/// Start the collector with default timing. The receiver holds `ClusterStatusSnapshot::default()`
/// until the first complete snapshot (both initial lists done, version fetched) is published;
/// await `changed()` before using it. The collector stops when every receiver is dropped.
/// Must be called inside a Tokio runtime.
pub fn watch_status(client: Client) -> watch::Receiver<ClusterStatusSnapshot> {
    watch_status_with(client, StatusOptions::default())
}

/// [`watch_status`] with explicit timing.
pub fn watch_status_with(
    client: Client,
    opts: StatusOptions,
) -> watch::Receiver<ClusterStatusSnapshot> {
    let (tx, rx) = watch::channel(ClusterStatusSnapshot::default());
    tokio::spawn(collect(client, opts, tx));
    rx
}

/// A watch event from either stream.
enum Input {
    Node(Result<watcher::Event<SlimNode>, watcher::Error>),
    Pod(Result<watcher::Event<SlimPod>, watcher::Error>),
}

/// The compact reflected state.
#[derive(Default)]
struct State {
    nodes: HashMap<String, NodeSummary>,
    pods: HashMap<String, PodUsage>,
    node_init: Option<HashMap<String, NodeSummary>>,
    pod_init: Option<HashMap<String, PodUsage>>,
    nodes_synced: bool,
    pods_synced: bool,
}

impl State {
    /// Fold one event in; true when the published state may have changed.
    fn apply(&mut self, input: Input) -> bool {
        use watcher::Event as E;
        match input {
            Input::Node(Err(e)) | Input::Pod(Err(e)) => {
                tracing::warn!(error = %e, "status watch failed; retrying with backoff");
                false
            }
            Input::Node(Ok(ev)) => match ev {
                E::Init => {
                    self.node_init = Some(HashMap::new());
                    false
                }
                E::InitApply(n) => {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    self.node_init
                        .get_or_insert_with(HashMap::new)
                        .insert(name, n.summary());
                    false
                }
                E::InitDone => {
                    self.nodes = self.node_init.take().unwrap_or_default();
                    self.nodes.shrink_to_fit();
                    self.nodes_synced = true;
                    true
                }
                E::Apply(n) => {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    self.nodes.insert(name, n.summary()) != Some(n.summary())
                }
                E::Delete(n) => self
                    .nodes
                    .remove(n.metadata.name.as_deref().unwrap_or_default())
                    .is_some(),
            },
            Input::Pod(Ok(ev)) => match ev {
                E::Init => {
                    self.pod_init = Some(HashMap::new());
                    false
                }
                E::InitApply(p) => {
                    if let Some(u) = p.usage() {
                        self.pod_init
                            .get_or_insert_with(HashMap::new)
                            .insert(p.key(), u);
                    }
                    false
                }
                E::InitDone => {
                    self.pods = self.pod_init.take().unwrap_or_default();
                    self.pods.shrink_to_fit();
                    self.pods_synced = true;
                    true
                }
                E::Apply(p) => match p.usage() {
                    Some(u) => self.pods.insert(p.key(), u) != Some(u),
                    None => self.pods.remove(&p.key()).is_some(),
                },
                E::Delete(p) => self.pods.remove(&p.key()).is_some(),
            },
        }
    }

    fn totals(&self) -> Totals {
        compute::totals(self.nodes.values(), self.pods.values())
    }
}

fn events(client: &Client) -> impl Stream<Item = Input> + Send + use<> {
    let cfg = watcher::Config::default().any_semantic();
    let nodes = watcher(Api::<SlimNode>::all(client.clone()), cfg.clone())
        .default_backoff()
        .map(Input::Node);
    let pods = watcher(Api::<SlimPod>::all(client.clone()), cfg)
        .default_backoff()
        .map(Input::Pod);
    futures::stream::select(nodes, pods)
}

async fn collect(client: Client, opts: StatusOptions, tx: watch::Sender<ClusterStatusSnapshot>) {
    let (info_tx, mut info_rx) = watch::channel(None::<ClusterInfo>);
    let info_task = tokio::spawn(refresh_info(client.clone(), opts, info_tx));
    let mut input = Box::pin(events(&client));
    let mut state = State::default();
    let mut publish_at: Option<Instant> = None;
    loop {
        let mut changed = false;
        tokio::select! {
            _ = tx.closed() => break,
            ev = input.next() => match ev {
                Some(ev) => changed = state.apply(ev),
                None => break,
            },
            r = info_rx.changed() => {
                if r.is_err() {
                    break;
                }
                changed = true;
            }
            _ = sleep_until(publish_at), if publish_at.is_some() => {
                publish_at = None;
                let info = info_rx.borrow().clone();
                if let (Some(info), true, true) = (info, state.nodes_synced, state.pods_synced) {
                    let snap = ClusterStatusSnapshot::new(&info, &state.totals());
                    tx.send_if_modified(|cur| {
                        let differs = *cur != snap;
                        if differs {
                            tracing::debug!(vcpus = %snap.vcpus, nodes = snap.nodes_total, "cluster status changed");
                            *cur = snap;
                        }
                        differs
                    });
                }
            }
        }
        if changed && publish_at.is_none() {
            publish_at = Some(Instant::now() + opts.debounce);
        }
    }
    info_task.abort();
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Fetch version and discovery now and every `resync`, retrying failures sooner; publish only
/// when they differ.
async fn refresh_info(client: Client, opts: StatusOptions, tx: watch::Sender<Option<ClusterInfo>>) {
    // A CRD created (or removed) in the member is served, and so schedulable, at once: its
    // group goes into `apiEnablements` now rather than at the next resync.
    let crds_changed = std::sync::Arc::new(tokio::sync::Notify::new());
    let crd_watch = tokio::spawn(watch_crds(
        client.clone(),
        std::sync::Arc::clone(&crds_changed),
    ));
    let _stop = AbortOnDrop(crd_watch);
    loop {
        let wait = match fetch_info(&client).await {
            Ok(info) => {
                tx.send_if_modified(|cur| {
                    let differs = cur.as_ref() != Some(&info);
                    if differs {
                        *cur = Some(info);
                    }
                    differs
                });
                opts.resync
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching version and discovery failed");
                opts.info_retry
            }
        };
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = crds_changed.notified() => {
                // A new CRD is served once established, moments after it is created.
                tokio::time::sleep(CRD_SETTLE).await;
            }
        }
    }
}

/// How long after a CRD changed discovery is read again.
const CRD_SETTLE: Duration = Duration::from_millis(500);

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wake `changed` whenever a CustomResourceDefinition of the member is created, changed or
/// deleted (and after each re-list but the first). Without permission to watch CRDs this
/// keeps retrying with backoff, and discovery is refreshed at the resync only.
async fn watch_crds(client: Client, changed: std::sync::Arc<tokio::sync::Notify>) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<kube::core::PartialObjectMeta<CustomResourceDefinition>> = Api::all(client);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                if listed {
                    changed.notify_one();
                }
                listed = true;
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => changed.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "watching CustomResourceDefinitions"),
        }
    }
}

/// Version plus every served group-version's resources (subresources left out). A group-version
/// that fails on its own (e.g. an unavailable aggregated API) is skipped, not fatal.
pub async fn fetch_info(client: &Client) -> Result<ClusterInfo, kube::Error> {
    let kubernetes_version = client.apiserver_version().await?.git_version;
    let mut api_enablements = Vec::new();
    let resources = |list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
        let mut r: Vec<(String, String)> = list
            .resources
            .into_iter()
            .filter(|r| !r.name.contains('/'))
            .map(|r| (r.name, r.kind))
            .collect();
        r.sort();
        r
    };
    for v in client.list_core_api_versions().await?.versions {
        let list = client.list_core_api_resources(&v).await?;
        api_enablements.push((v, resources(list)));
    }
    for g in client.list_api_groups().await?.groups {
        for v in g.versions {
            match client.list_api_group_resources(&v.group_version).await {
                Ok(list) => api_enablements.push((v.group_version, resources(list))),
                Err(e) => {
                    tracing::debug!(group_version = v.group_version, error = %e, "discovery skipped a group-version");
                }
            }
        }
    }
    api_enablements.sort();
    Ok(ClusterInfo {
        kubernetes_version,
        api_enablements,
    })
}

#[cfg(test)]
mod tests;
