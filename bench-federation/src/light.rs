//! Light member clusters: no API server of their own, but the real tunnel protocol to the real
//! hub, as the agent speaks it on the wire. Each member is registered in the federation API
//! (a RegisteredCluster, then a one-time bootstrap token, as `cceone up` does), redeems the
//! token with the agent's own registration code, dials the hub over TLS/TCP with
//! `cceone_tunnel`, sends Hello, its Work inventory and a cluster Status report (nodes,
//! capacity, API enablements, so its Cluster becomes Ready and schedulable), heartbeats at the
//! interval the hub asks for, and answers every Work delivered at once with a WorkStatus:
//! applied, each manifest Healthy with the status a fully rolled-out workload would report
//! (built with the federation's own `reflect_status` / `interpret_health`, so it aggregates as
//! ready). A Work deletion is acknowledged by forgetting the Work. One tokio task per member.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cceone_cluster_agent::backoff::Backoff;
use cceone_cluster_agent::config::Config;
use cceone_cluster_agent::https::HttpsClient;
use cceone_cluster_agent::identity;
use cceone_karmada_api::interpret;
use cceone_proto::v1::{self, agent_message, hub_message, stream_open};
use cceone_tunnel::{AgentConn, DialConfig, TransportChoice};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

/// Told `(cluster, name of the Work's first manifest, when)` for every Work delivered.
pub(crate) type OnDelivery = Arc<dyn Fn(&str, &str, Instant) + Send + Sync>;

/// Counters shared by every light member.
#[derive(Default)]
pub(crate) struct Stats {
    /// Members with an established session right now.
    pub(crate) connected: AtomicUsize,
    /// Sessions established since the start.
    pub(crate) sessions: AtomicU64,
    /// Work deliveries received (each one an "apply").
    pub(crate) deliveries: AtomicU64,
    /// Deliveries of a Work generation the member already held.
    pub(crate) redeliveries: AtomicU64,
    /// Work deletions received.
    pub(crate) deletions: AtomicU64,
    /// WorkStatus reports sent.
    pub(crate) statuses: AtomicU64,
    /// Failed registrations, dials or sessions.
    pub(crate) failures: AtomicU64,
    /// The last failure, for the report.
    pub(crate) last_failure: Mutex<String>,
}

impl Stats {
    fn fail(&self, cluster: &str, why: impl std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let why = format!("{cluster}: {why}");
        tracing::warn!("light member {why}");
        if let Ok(mut l) = self.last_failure.lock() {
            *l = why;
        }
    }
}

/// The light members of one run.
pub(crate) struct Fleet {
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Fleet {
    /// Register `member1`..`memberN` in the federation API, issue each a bootstrap token and
    /// start its member task against the hub at `hub_endpoint` (`host:port`, CA `hub_ca`).
    /// Each reports `nodes` nodes of 64 CPUs, 256 GiB and 110 pods.
    pub(crate) async fn start(
        fed: &kube::Client,
        hub_endpoint: &str,
        hub_ca: &str,
        n: usize,
        nodes: usize,
        on_delivery: OnDelivery,
    ) -> anyhow::Result<Fleet> {
        let tokens: Vec<anyhow::Result<(String, String)>> = futures::stream::iter(1..=n)
            .map(|i| async move {
                let name = format!("member{i}");
                cceone::register_simulated(fed, &name, i - 1, "light", "bench-federation").await?;
                let token =
                    cceone_platform::token::issue(fed, &name, Duration::from_secs(3600)).await?;
                Ok((name, token))
            })
            .buffered(8)
            .collect()
            .await;
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let status = cluster_status(nodes);
        for t in tokens {
            let (name, token) = t?;
            let env: BTreeMap<String, String> = [
                ("CCEONE_HUB_ENDPOINT", hub_endpoint.to_string()),
                ("CCEONE_CLUSTER_NAME", name.clone()),
                ("CCEONE_HUB_CA", hub_ca.to_string()),
                ("CCEONE_BOOTSTRAP_TOKEN", token),
                ("CCEONE_TRANSPORT", "grpc".into()),
                ("CCEONE_AGENT_ID", format!("{name}-light")),
                ("CCEONE_HEALTH_ADDR", "127.0.0.1:0".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let cfg = Config::from_env(&env)
                .map_err(|e| anyhow::anyhow!("light member settings for {name}: {e}"))?;
            let member = Member {
                cluster: name,
                agent_id: cfg.agent_id.clone(),
                status: status.clone(),
                held: HashMap::new(),
                stats: Arc::clone(&stats),
                on_delivery: Arc::clone(&on_delivery),
            };
            tasks.spawn(run(cfg, member, stop_rx.clone()));
        }
        Ok(Fleet { stats, stop, tasks })
    }

    /// The members' counters.
    pub(crate) fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Stop every member (each closes its tunnel).
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}

/// What the member holds of one Work (for its inventory after a reconnect).
struct Held {
    uid: String,
    resource_version: String,
    generation: i64,
}

/// One light member's state, kept across tunnel sessions.
struct Member {
    cluster: String,
    agent_id: String,
    status: v1::ClusterStatus,
    /// Work name → what was delivered last.
    held: HashMap<String, Held>,
    stats: Arc<Stats>,
    on_delivery: OnDelivery,
}

/// Wait for `d`, or return early once `stop` is set; true when stopped.
async fn stopped_during(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

/// One member's task: register with the token (retrying what can be retried), then keep one
/// tunnel up with the agent's backoff until stopped.
async fn run(cfg: Config, mut m: Member, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::with(
        Duration::from_millis(200),
        Duration::from_secs(5),
        Duration::from_secs(30),
    );
    let http = match HttpsClient::new(&cfg.hub_ca_pem) {
        Ok(h) => h,
        Err(e) => return m.stats.fail(&m.cluster, format!("hub CA: {e}")),
    };
    let id = loop {
        let r = tokio::select! {
            r = identity::register(&cfg, &http) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match r {
            Ok(id) => break id,
            Err(e) if e.is_retryable() => {
                m.stats.fail(&m.cluster, format!("registration: {e}"));
                if stopped_during(&mut stop, backoff.next_delay()).await {
                    return;
                }
            }
            Err(e) => {
                return m
                    .stats
                    .fail(&m.cluster, format!("registration refused for good: {e}"));
            }
        }
    };
    backoff.reset();
    let tls = match cceone_cluster_agent::session::tls_config(&id) {
        Ok(t) => t,
        Err(e) => return m.stats.fail(&m.cluster, format!("client TLS: {e}")),
    };
    let dial = DialConfig {
        endpoint: cfg.hub_endpoint.authority(),
        tls,
        server_name: cfg.hub_endpoint.host.clone(),
        transport: TransportChoice::Grpc,
        quic_timeout: Duration::from_secs(3),
        quic_endpoint: None,
    };
    loop {
        let started = Instant::now();
        let dialed = tokio::select! {
            r = cceone_tunnel::dial(&dial) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match dialed {
            Ok(conn) => {
                let end = tokio::select! {
                    r = m.session(&conn) => r,
                    _ = stop.wait_for(|s| *s) => {
                        conn.close();
                        return;
                    }
                };
                conn.close();
                if let Err(e) = end {
                    m.stats.fail(&m.cluster, format!("session: {e}"));
                }
                backoff.connection_lasted(started.elapsed());
            }
            Err(e) => m.stats.fail(&m.cluster, format!("dial: {e}")),
        }
        if stopped_during(&mut stop, backoff.next_delay()).await {
            return;
        }
    }
}

fn msg(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

/// Counts a member as connected while alive.
struct Connected(Arc<Stats>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Member {
    fn status_now(&self) -> v1::AgentMessage {
        let mut s = self.status.clone();
        s.observed_unix_ms = jiff::Timestamp::now().as_millisecond();
        msg(agent_message::Msg::Status(s))
    }

    fn inventory(&self) -> v1::WorkInventory {
        let namespace = format!("karmada-es-{}", self.cluster);
        v1::WorkInventory {
            works: self
                .held
                .iter()
                .map(|(name, h)| v1::WorkRef {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    uid: h.uid.clone(),
                    resource_version: h.resource_version.clone(),
                    generation: h.generation,
                })
                .collect(),
        }
    }

    /// One session on an established tunnel; returns why it ended.
    async fn session(&mut self, conn: &AgentConn) -> Result<(), String> {
        let mut control = tokio::time::timeout(Duration::from_secs(15), conn.accept())
            .await
            .ok()
            .flatten()
            .ok_or("the hub opened no control stream")?;
        match control.recv::<v1::StreamOpen>().await {
            Ok(Some(v1::StreamOpen {
                kind: Some(stream_open::Kind::Control(_)),
            })) => {}
            Ok(_) => return Err("the first stream was not the control stream".into()),
            Err(e) => return Err(e.to_string()),
        }
        let hello = v1::Hello {
            max_version: cceone_proto::MAX_VERSION,
            min_version: cceone_proto::MIN_VERSION,
            agent_version: concat!("bench-light/", env!("CARGO_PKG_VERSION")).into(),
            agent_id: self.agent_id.clone(),
            capabilities: Vec::new(),
        };
        control
            .send(&msg(agent_message::Msg::Hello(hello)))
            .await
            .map_err(|e| e.to_string())?;
        let ack = match control.recv::<v1::HubMessage>().await {
            Ok(Some(v1::HubMessage {
                msg: Some(hub_message::Msg::HelloAck(a)),
            })) => a,
            Ok(Some(v1::HubMessage {
                msg: Some(hub_message::Msg::Goodbye(g)),
            })) => return Err(format!("the hub said goodbye: {}", g.reason)),
            Ok(_) => return Err("expected HelloAck".into()),
            Err(e) => return Err(e.to_string()),
        };
        if ack.version < 2 {
            return Err(format!(
                "the hub speaks protocol version {} (no Work relay)",
                ack.version
            ));
        }
        self.stats.connected.fetch_add(1, Ordering::Relaxed);
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let _connected = Connected(Arc::clone(&self.stats));
        // As the agent: the inventory first (the hub starts relaying on it), then status.
        for m in [
            msg(agent_message::Msg::Inventory(self.inventory())),
            self.status_now(),
        ] {
            control.send(&m).await.map_err(|e| e.to_string())?;
        }
        let hb_every = Duration::from_millis(u64::from(ack.heartbeat_interval_ms.max(200)));
        let resync_every = Duration::from_millis(u64::from(ack.status_resync_ms.max(1000)));
        let silence = (hb_every * 4).max(Duration::from_secs(3));
        let mut heartbeat = tokio::time::interval(hb_every);
        let mut resync =
            tokio::time::interval_at(tokio::time::Instant::now() + resync_every, resync_every);
        let mut last_heard = tokio::time::Instant::now();
        let mut seq = 0u64;
        loop {
            let out = tokio::select! {
                _ = heartbeat.tick() => {
                    seq += 1;
                    let hb = v1::Heartbeat { seq, sent_unix_ms: jiff::Timestamp::now().as_millisecond() };
                    Some(msg(agent_message::Msg::Heartbeat(hb)))
                }
                _ = resync.tick() => Some(self.status_now()),
                _ = tokio::time::sleep_until(last_heard + silence) => {
                    return Err(format!("nothing from the hub for {silence:?}"));
                }
                // Proxied requests are not served: dropping the stream resets it.
                s = conn.accept() => match s {
                    Some(_) => None,
                    None => return Err("the tunnel closed".into()),
                },
                incoming = control.recv::<v1::HubMessage>() => match incoming {
                    Ok(Some(m)) => {
                        last_heard = tokio::time::Instant::now();
                        self.handle(m)?
                    }
                    Ok(None) => return Err("the hub closed the control stream".into()),
                    Err(e) => return Err(e.to_string()),
                },
            };
            if let Some(m) = out {
                control.send(&m).await.map_err(|e| e.to_string())?;
            }
        }
    }

    /// A message from the hub; what to answer, if anything.
    fn handle(&mut self, m: v1::HubMessage) -> Result<Option<v1::AgentMessage>, String> {
        Ok(match m.msg {
            Some(hub_message::Msg::Work(d)) => {
                let now = Instant::now();
                self.stats.deliveries.fetch_add(1, Ordering::Relaxed);
                let (ws, first_name) = work_status(&d);
                if let Some(name) = &first_name {
                    (self.on_delivery)(&self.cluster, name, now);
                }
                let held = Held {
                    uid: d.uid,
                    resource_version: d.resource_version,
                    generation: d.generation,
                };
                if let Some(old) = self.held.insert(d.name, held)
                    && old.uid == ws.uid
                    && old.generation == ws.generation
                {
                    self.stats.redeliveries.fetch_add(1, Ordering::Relaxed);
                }
                self.stats.statuses.fetch_add(1, Ordering::Relaxed);
                Some(msg(agent_message::Msg::WorkStatus(ws)))
            }
            Some(hub_message::Msg::WorkDeleted(d)) => {
                self.stats.deletions.fetch_add(1, Ordering::Relaxed);
                if self
                    .held
                    .get(&d.name)
                    .is_some_and(|h| d.uid.is_empty() || h.uid == d.uid)
                {
                    self.held.remove(&d.name);
                }
                None
            }
            Some(hub_message::Msg::StatusRequest(_)) => Some(self.status_now()),
            Some(hub_message::Msg::Goodbye(g)) => {
                return Err(format!("the hub said goodbye: {}", g.reason));
            }
            // No CSR is ever sent, so no certificate is expected; echoes need no answer.
            Some(hub_message::Msg::Certificate(_))
            | Some(hub_message::Msg::Heartbeat(_))
            | Some(hub_message::Msg::HelloAck(_))
            | None => None,
        })
    }
}

/// The member's status report: `nodes` Ready nodes of 64 CPUs, 256 GiB and 110 pods each,
/// nothing allocated, and the built-in APIs the benchmark's workloads need.
fn cluster_status(nodes: usize) -> v1::ClusterStatus {
    let nodes = nodes.max(1);
    let map = |cpu: String, mem: String, pods: String| {
        [("cpu", cpu), ("memory", mem), ("pods", pods)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    };
    let total = || {
        map(
            (64 * nodes).to_string(),
            format!("{}Gi", 256 * nodes),
            (110 * nodes).to_string(),
        )
    };
    let apis = |gv: &str, rs: &[(&str, &str)]| v1::ApiEnablement {
        group_version: gv.into(),
        resources: rs
            .iter()
            .map(|(n, k)| v1::ApiResource {
                name: n.to_string(),
                kind: k.to_string(),
            })
            .collect(),
    };
    let count = u32::try_from(nodes).unwrap_or(u32::MAX);
    v1::ClusterStatus {
        kubernetes_version: "v1.32.0".into(),
        api_enablements: vec![
            apis(
                "v1",
                &[
                    ("pods", "Pod"),
                    ("services", "Service"),
                    ("configmaps", "ConfigMap"),
                    ("secrets", "Secret"),
                    ("namespaces", "Namespace"),
                    ("nodes", "Node"),
                ],
            ),
            apis(
                "apps/v1",
                &[
                    ("deployments", "Deployment"),
                    ("replicasets", "ReplicaSet"),
                    ("statefulsets", "StatefulSet"),
                    ("daemonsets", "DaemonSet"),
                ],
            ),
            apis("batch/v1", &[("jobs", "Job")]),
        ],
        nodes: Some(v1::NodeSummary {
            total: count,
            ready: count,
        }),
        resources: Some(v1::ResourceSummary {
            capacity: total(),
            allocatable: total(),
            allocated: map("0".into(), "0".into(), "0".into()),
        }),
        vcpus: (64 * nodes).to_string(),
        observed_unix_ms: jiff::Timestamp::now().as_millisecond(),
    }
}

/// The WorkStatus answering a delivery at once (applied, every manifest rolled out), and the
/// name of its first manifest.
fn work_status(d: &v1::WorkDelivery) -> (v1::WorkStatus, Option<String>) {
    let mut first_name = None;
    let manifests = d
        .manifests
        .iter()
        .enumerate()
        .map(|(ordinal, raw)| {
            let m: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
            if ordinal == 0 {
                first_name = m
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            manifest_status(ordinal, &m)
        })
        .collect();
    let ws = v1::WorkStatus {
        namespace: d.namespace.clone(),
        name: d.name.clone(),
        uid: d.uid.clone(),
        resource_version: d.resource_version.clone(),
        applied: true,
        message: "Manifest has been successfully applied".into(),
        manifests,
        generation: d.generation,
    };
    (ws, first_name)
}

/// Kubernetes' plural of a kind, for the common cases.
fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with('s') || k.ends_with("sh") || k.ends_with("ch") || k.ends_with('x') {
        format!("{k}es")
    } else if let Some(stem) = k.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

/// One manifest's status as the agent reports it for a member object that is fully rolled out:
/// the manifest as the member would hold it (`metadata.generation` kept, or 1), with a status
/// whose replica counters all equal `spec.replicas` and whose `observedGeneration` is that
/// generation, passed through the federation's own interpreter.
fn manifest_status(ordinal: usize, m: &Value) -> v1::ManifestStatus {
    let text = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("/apiVersion"), text("/kind"));
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let generation = m
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status = match (api_version, kind) {
        ("apps/v1", "Deployment" | "StatefulSet" | "ReplicaSet") => {
            let r = m
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            json!({
                "replicas": r, "readyReplicas": r, "availableReplicas": r,
                "updatedReplicas": r, "currentReplicas": r, "observedGeneration": generation,
            })
        }
        _ => json!({"observedGeneration": generation}),
    };
    let mut live = m.clone();
    if let Some(o) = live.as_object_mut() {
        if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            md.insert("generation".into(), json!(generation));
        }
        o.insert("status".into(), status);
    }
    let reflected = interpret::reflect_status(&live).unwrap_or(Value::Null);
    let health = interpret::interpret_health(&live);
    let identifier = json!({
        "ordinal": ordinal, "group": group, "version": version, "kind": kind,
        "resource": plural(kind), "namespace": text("/metadata/namespace"),
        "name": text("/metadata/name"),
    });
    v1::ManifestStatus {
        identifier: serde_json::to_vec(&identifier).unwrap_or_default(),
        status: serde_json::to_vec(&reflected).unwrap_or_default(),
        health: health.as_str().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_deployment_reports_ready_and_healthy() {
        let manifest = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app-1", "namespace": "bench",
                "annotations": {"resourcetemplate.karmada.io/generation": "1"}},
            "spec": {"replicas": 3},
        });
        let d = v1::WorkDelivery {
            namespace: "karmada-es-member1".into(),
            name: "app-1-abc".into(),
            uid: "u".into(),
            resource_version: "7".into(),
            generation: 1,
            manifests: vec![serde_json::to_vec(&manifest).unwrap()],
            preserve_resources_on_deletion: false,
        };
        let (ws, name) = work_status(&d);
        assert_eq!(name.as_deref(), Some("app-1"));
        assert!(ws.applied);
        let ms = &ws.manifests[0];
        assert_eq!(ms.health, "Healthy");
        let st: Value = serde_json::from_slice(&ms.status).unwrap();
        for f in [
            "replicas",
            "readyReplicas",
            "availableReplicas",
            "updatedReplicas",
        ] {
            assert_eq!(st[f], 3, "{f}");
        }
        assert_eq!(st["observedGeneration"], 1);
        assert_eq!(st["resourceTemplateGeneration"], 1);
        let id: Value = serde_json::from_slice(&ms.identifier).unwrap();
        assert_eq!(id["resource"], "deployments");
        assert_eq!(id["group"], "apps");
    }

    #[test]
    fn garbage_manifests_do_not_panic() {
        let d = v1::WorkDelivery {
            manifests: vec![b"\xff{".to_vec(), b"[1,2]".to_vec(), b"null".to_vec()],
            ..Default::default()
        };
        let (ws, name) = work_status(&d);
        assert_eq!(name, None);
        assert_eq!(ws.manifests.len(), 3);
    }

    #[test]
    fn plurals() {
        assert_eq!(plural("Deployment"), "deployments");
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Gateway"), "gateways");
    }
}
