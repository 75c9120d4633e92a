//! The hub's view of RegisteredClusters in the federation API: a live cache (for revocation and
//! admission), status writes (phase transitions with the operation log, cluster status reports),
//! and the sweeper that marks clusters Disconnected or AccessTimeout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cceone_platform::phase::{self, SessionEvent};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use parking_lot::RwLock;
use serde_json::{Value, json};

/// What the hub needs to know of one registered cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    /// `spec.revoked`.
    pub revoked: bool,
    /// `spec.unsubscribed`.
    pub unsubscribed: bool,
    /// `status.phase`.
    pub phase: String,
    /// `metadata.creationTimestamp`.
    pub created: Option<jiff::Timestamp>,
    /// `status.certificateSerials`: the certificates that may speak for it (see
    /// [`crate::serials`]).
    pub serials: Vec<String>,
    /// `status.registrationGeneration`: how many times a bootstrap token was redeemed for it.
    pub registration_generation: i64,
    /// `status.hub`: the hub that last took its tunnel (several hubs; see [`crate::owner`]).
    pub hub: String,
    /// `status.agentId`: the agent replica holding the tunnel.
    pub agent_id: String,
    /// `status.agentAddress`: where that agent's tunnel came from.
    pub agent_address: Option<std::net::IpAddr>,
}

impl ClusterInfo {
    fn of(obj: &DynamicObject) -> ClusterInfo {
        let b = |p: &str| {
            obj.data
                .pointer(p)
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        ClusterInfo {
            revoked: b("/spec/revoked"),
            unsubscribed: b("/spec/unsubscribed"),
            phase: obj
                .data
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending")
                .to_string(),
            created: obj
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| t.0.to_string().parse().ok()),
            serials: obj
                .data
                .pointer("/status/certificateSerials")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            registration_generation: obj
                .data
                .pointer("/status/registrationGeneration")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            hub: str_at(obj, "/status/hub"),
            agent_id: str_at(obj, "/status/agentId"),
            agent_address: str_at(obj, "/status/agentAddress").parse().ok(),
        }
    }

    /// Whether an agent of this cluster may register (redeem a bootstrap token).
    pub fn admits_tunnel(&self) -> bool {
        !self.revoked && !self.unsubscribed && self.phase != "Unsubscribed"
    }

    /// Whether an agent of this cluster may hold a tunnel: not once revoked; while being
    /// unsubscribed it may, so the deletions of its Works (what the platform put in the member)
    /// reach it, until the federation records it Unsubscribed.
    pub fn keeps_tunnel(&self) -> bool {
        !self.revoked && self.phase != "Unsubscribed"
    }
}

fn str_at(obj: &DynamicObject, pointer: &str) -> String {
    obj.data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The registered clusters, kept current by a watch.
#[derive(Clone)]
pub struct Clusters {
    api: Api<DynamicObject>,
    /// This hub and the others: a session event is written only by the hub that holds the
    /// cluster's tunnel, or by any when the holder is gone.
    peers: Arc<crate::peers::Peers>,
    cache: Arc<RwLock<HashMap<String, ClusterInfo>>>,
    synced: Arc<tokio::sync::Notify>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    /// Bounds the status writes in flight. kube-rs speaks HTTP/1.1 and opens a connection (a
    /// TLS handshake, a file descriptor) per concurrent request, so a reconnect storm of
    /// 10,000 agents would otherwise open thousands of connections to the federation API.
    writes: Arc<tokio::sync::Semaphore>,
}

const MANAGER: &str = "cceone-hub";

/// Status writes (each one GET and/or PATCH) in flight at once.
const MAX_WRITES: usize = 64;

impl Clusters {
    /// A cache over the federation API, for the hub `peers.me()`.
    pub fn new(client: &kube::Client, peers: Arc<crate::peers::Peers>) -> Clusters {
        Clusters {
            api: cceone_platform::registered_clusters(client),
            peers,
            cache: Arc::default(),
            synced: Arc::default(),
            ready: Arc::default(),
            writes: Arc::new(tokio::sync::Semaphore::new(MAX_WRITES)),
        }
    }

    /// Look a cluster up.
    pub fn get(&self, name: &str) -> Option<ClusterInfo> {
        self.cache.read().get(name).cloned()
    }

    /// Whether the first list has been loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait for the first list (bounded).
    pub async fn wait_ready(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            while !self.is_ready() {
                self.synced.notified().await;
            }
        })
        .await;
    }

    /// Watch RegisteredClusters forever; `on_change` is told about revoked/unsubscribed clusters.
    pub async fn run(self, on_revoked: impl Fn(&str, &'static str) + Send + Sync + 'static) {
        let mut stream = watcher(self.api.clone(), watcher::Config::default()).boxed();
        let mut init: HashMap<String, ClusterInfo> = HashMap::new();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => init.clear(),
                Ok(watcher::Event::InitApply(o)) => {
                    if let Some(n) = o.metadata.name.clone() {
                        init.insert(n, ClusterInfo::of(&o));
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    *self.cache.write() = std::mem::take(&mut init);
                    self.ready.store(true, std::sync::atomic::Ordering::Relaxed);
                    self.synced.notify_waiters();
                    let closing: Vec<(String, &'static str)> = self
                        .cache
                        .read()
                        .iter()
                        .filter(|(_, i)| !i.keeps_tunnel())
                        .map(|(n, i)| {
                            (
                                n.clone(),
                                if i.revoked { "revoked" } else { "unsubscribed" },
                            )
                        })
                        .collect();
                    for (n, why) in closing {
                        on_revoked(&n, why);
                    }
                }
                Ok(watcher::Event::Apply(o)) => {
                    let Some(n) = o.metadata.name.clone() else {
                        continue;
                    };
                    let info = ClusterInfo::of(&o);
                    let was = self.cache.write().insert(n.clone(), info.clone());
                    let me = self.peers.me();
                    if info.hub != me && was.as_ref().is_some_and(|w| w.hub == me) {
                        // Another hub took the tunnel: the agent gave this one up, whether or
                        // not this hub noticed yet.
                        on_revoked(&n, crate::owner::MOVED);
                    }
                    if !info.keeps_tunnel() && was.is_none_or(|w| w.keeps_tunnel()) {
                        on_revoked(
                            &n,
                            if info.revoked {
                                "revoked"
                            } else {
                                "unsubscribed"
                            },
                        );
                    }
                }
                Ok(watcher::Event::Delete(o)) => {
                    if let Some(n) = o.metadata.name.clone() {
                        self.cache.write().remove(&n);
                        on_revoked(&n, "deleted");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching registered clusters failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Record a session event: phase transition plus operation log. Written only while this hub
    /// holds the cluster's tunnel by its status, or the hub that does is gone (compare-and-swap
    /// on the resourceVersion, so a hub that just took the tunnel is never overwritten by one
    /// that lost it).
    pub async fn record(&self, name: &str, ev: SessionEvent) {
        self.record_with(name, ev, None).await;
    }

    /// Record that this hub took the cluster's tunnel from an agent at `peer`.
    pub(crate) async fn record_connected(&self, name: &str, ev: SessionEvent, peer: IpAddr) {
        self.record_with(name, ev, Some(peer)).await;
    }

    async fn record_with(&self, name: &str, ev: SessionEvent, connected_from: Option<IpAddr>) {
        let Ok(_permit) = self.writes.acquire().await else {
            return;
        };
        for _ in 0..3 {
            let Some((status, rv)) = self.read_status(name).await else {
                return;
            };
            let holder = status.get("hub").and_then(Value::as_str).unwrap_or("");
            if connected_from.is_none() && !crate::owner::may_record(&self.peers, holder) {
                tracing::debug!(
                    cluster = name,
                    holder,
                    ?ev,
                    "not recording: another hub holds the tunnel"
                );
                return;
            }
            // status_patch answers the whole merge patch ({"status": {...}}).
            let patch = phase::status_patch(&status, &ev);
            let mut patch = match (patch, connected_from) {
                (Some(p), _) => p,
                (None, Some(_)) => json!({"status": {}}),
                (None, None) => return,
            };
            if let Some(peer) = connected_from {
                patch["status"]["hub"] = json!(self.peers.me());
                patch["status"]["agentAddress"] = json!(peer.to_string());
            }
            patch["metadata"] = json!({"resourceVersion": rv});
            let pp = PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            };
            match self
                .api
                .patch_status(name, &pp, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => {
                    tracing::warn!(cluster = name, error = %e, "writing cluster phase failed");
                    return;
                }
            }
        }
    }

    /// Merge `status` fields into the cluster's status.
    pub async fn patch_status(&self, name: &str, status: Value) {
        let Ok(_permit) = self.writes.acquire().await else {
            return;
        };
        self.patch_status_now(name, status).await;
    }

    async fn patch_status_now(&self, name: &str, status: Value) {
        let body = json!({"status": status});
        let pp = PatchParams {
            field_manager: Some(MANAGER.into()),
            ..Default::default()
        };
        if let Err(e) = self.api.patch_status(name, &pp, &Patch::Merge(&body)).await {
            tracing::warn!(cluster = name, error = %e, "writing cluster status failed");
        }
    }

    /// Every cluster name with its info.
    pub fn snapshot(&self) -> Vec<(String, ClusterInfo)> {
        self.cache
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Status fields from an agent's ClusterStatus report.
pub(crate) fn status_fields(s: &cceone_proto::v1::ClusterStatus) -> Value {
    let map = |m: &std::collections::HashMap<String, String>| -> Value {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    };
    let res = s.resources.clone().unwrap_or_default();
    let nodes = s.nodes.unwrap_or_default();
    json!({
        "kubernetesVersion": s.kubernetes_version,
        "vcpus": s.vcpus,
        "nodeSummary": {"total": nodes.total, "ready": nodes.ready},
        "resourceSummary": {"capacity": map(&res.capacity), "allocatable": map(&res.allocatable), "allocated": map(&res.allocated)},
        "apiEnablements": s.api_enablements.iter().map(|a| json!({
            "groupVersion": a.group_version,
            "resources": a.resources.iter().map(|r| json!({"name": r.name, "kind": r.kind})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

impl Clusters {
    /// A cluster's status and the resourceVersion it was read at (for a compare-and-swap
    /// write); None, logged, when it cannot be read.
    async fn read_status(&self, name: &str) -> Option<(Value, Option<String>)> {
        match self.api.get_status(name).await {
            Ok(o) => Some((
                o.data.get("status").cloned().unwrap_or_else(|| json!({})),
                o.metadata.resource_version,
            )),
            Err(e) => {
                tracing::warn!(cluster = name, error = %e, "reading cluster status failed");
                None
            }
        }
    }

    /// The hub the cluster's status names now (read afresh, not from the cache); None when it
    /// cannot be read.
    pub(crate) async fn holder(&self, name: &str) -> Option<String> {
        let (status, _) = self.read_status(name).await?;
        Some(
            status
                .get("hub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// Append one entry to a cluster's operation log.
    pub async fn append_operation(&self, name: &str, op: phase::Operation) {
        let Ok(_permit) = self.writes.acquire().await else {
            return;
        };
        // Compare-and-swap: another hub may append to the same log at the same time.
        for _ in 0..3 {
            let Some((status, rv)) = self.read_status(name).await else {
                return;
            };
            let mut ops: Vec<Value> = status
                .get("operations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            phase::append_operation(&mut ops, &op, phase::MAX_OPERATIONS);
            let body = json!({"metadata": {"resourceVersion": rv}, "status": {"operations": ops}});
            let pp = PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            };
            match self.api.patch_status(name, &pp, &Patch::Merge(&body)).await {
                Ok(_) => return,
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => {
                    tracing::warn!(cluster = name, error = %e, "writing cluster status failed");
                    return;
                }
            }
        }
    }
}
