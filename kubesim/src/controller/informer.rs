//! The controllers' view of the cluster, kept from one watch of the store: every pod, node and
//! workload as stored (the store's own buffers, shared, not copies), a few fields of each read
//! once per change (uid, controlling owner, node, phase), and which objects changed since the
//! controllers last looked. A pass then parses only what changed and what depends on it — a
//! changed pod's owner, a changed ReplicaSet's Deployment, the pods of a changed node — the way
//! kube-controller-manager's informers feed its work queues (the ReplicaSet controller's pod
//! handlers enqueue the pod's controller, `replica_set.go` `addPod`/`updatePod`/`deletePod`; the
//! Deployment controller's ReplicaSet handlers enqueue the Deployment,
//! `deployment_controller.go` `addReplicaSet`/`updateReplicaSet`/`deleteReplicaSet`), instead of
//! listing and parsing every object on every pass.
//!
//! [`Informer::catch_up`] reads the watch up to the store's current revision, so a pass sees
//! every write made before it — its own included — as a fresh list would.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Core};
use cceone_kube_store::{EventType, Revision, WatchStream};
use cceone_kubesim_core::PodUsage;
use futures::StreamExt;
use serde_json::Value;

/// What an object is to the controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A pod.
    Pod,
    /// A node.
    Node,
    /// A workload that owns pods: ReplicaSet, StatefulSet, DaemonSet, Job.
    Workload,
    /// A workload that owns workloads: Deployment, CronJob.
    Owner,
}

/// The kinds watched: `(group, plural, role)`.
const KINDS: &[(&str, &str, Role)] = &[
    ("", "pods", Role::Pod),
    ("", "nodes", Role::Node),
    ("apps", "replicasets", Role::Workload),
    ("apps", "statefulsets", Role::Workload),
    ("apps", "daemonsets", Role::Workload),
    ("batch", "jobs", Role::Workload),
    ("apps", "deployments", Role::Owner),
    ("batch", "cronjobs", Role::Owner),
];

/// One watched kind.
struct Kind {
    prefix: String,
    res: Arc<ResourceInfo>,
    role: Role,
}

/// One object as last seen.
pub(super) struct Entry {
    /// Index into the watched kinds.
    kind: usize,
    /// What the object is.
    pub(super) role: Role,
    /// The object as stored.
    bytes: Bytes,
    /// Its revision (`metadata.resourceVersion`).
    pub(super) rev: Revision,
    /// `metadata.uid`.
    pub(super) uid: String,
    /// The uid of its controlling owner.
    owner: Option<String>,
    /// Pods: `spec.nodeName`.
    pub(super) node: Option<String>,
    /// Pods: Succeeded or Failed.
    pub(super) terminal: bool,
    /// `metadata.deletionTimestamp` is set.
    pub(super) deleting: bool,
    /// Pods: what the pod uses on its node, once computed ([`Informer::usage`]).
    usage: Option<Option<PodUsage>>,
}

impl Entry {
    /// A pod the scheduler has to place.
    pub(super) fn unbound(&self) -> bool {
        self.node.is_none() && !self.terminal && !self.deleting
    }
}

/// The few fields read from every object when it changes.
#[derive(serde::Deserialize, Default)]
struct Summary<'a> {
    #[serde(borrow, default)]
    metadata: SummaryMeta<'a>,
    #[serde(borrow, default)]
    spec: Option<SummarySpec<'a>>,
    #[serde(borrow, default)]
    status: Option<SummaryStatus<'a>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SummaryMeta<'a> {
    #[serde(borrow, default)]
    uid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    owner_references: Option<Vec<SummaryOwner<'a>>>,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct SummaryOwner<'a> {
    #[serde(borrow, default)]
    uid: Option<Cow<'a, str>>,
    #[serde(default)]
    controller: Option<bool>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SummarySpec<'a> {
    #[serde(borrow, default)]
    node_name: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize, Default)]
struct SummaryStatus<'a> {
    #[serde(borrow, default)]
    phase: Option<Cow<'a, str>>,
}

/// A stored object parsed for the controllers: without `metadata.managedFields` (see [`Lean`]).
fn decode(core: &Core, res: &ResourceInfo, bytes: &[u8]) -> Option<Value> {
    if res.converts() {
        return core.decode(res, bytes).ok();
    }
    serde_json::from_slice::<Lean>(bytes).ok().map(|l| l.0)
}

/// An object parsed without `metadata.managedFields`: no controller reads it, it is about half
/// of a parsed pod (every field of the object again, as a tree of small maps), and a status
/// written back without it keeps the stored one (the API server carries it over).
struct Lean(Value);

impl<'de> serde::Deserialize<'de> for Lean {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(LeanMap { top: true })
            .map(|m| Lean(Value::Object(m)))
    }
}

/// A JSON object's visitor: at the top, `metadata` is read by a `LeanMap` that drops
/// `managedFields`.
struct LeanMap {
    top: bool,
}

/// The `metadata` of a [`Lean`] object.
struct LeanMeta(serde_json::Map<String, Value>);

impl<'de> serde::Deserialize<'de> for LeanMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(LeanMap { top: false }).map(LeanMeta)
    }
}

impl<'de> serde::de::Visitor<'de> for LeanMap {
    type Value = serde_json::Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut m = serde_json::Map::new();
        while let Some(k) = a.next_key::<String>()? {
            if self.top && k == "metadata" {
                let meta = a.next_value::<LeanMeta>()?;
                m.insert(k, Value::Object(meta.0));
            } else if !self.top && k == "managedFields" {
                a.next_value::<serde::de::IgnoredAny>()?;
            } else {
                let v = a.next_value::<Value>()?;
                m.insert(k, v);
            }
        }
        Ok(m)
    }
}

/// What changed since the controllers last looked, by what has to look at it.
#[derive(Default)]
pub(super) struct Pending {
    /// Deployments and CronJobs to reconcile.
    pub(super) owners: HashSet<String>,
    /// Deployments and CronJobs whose status to recompute.
    pub(super) owner_status: HashSet<String>,
    /// Workloads owning pods to reconcile.
    pub(super) workloads: HashSet<String>,
    /// Workloads owning pods whose status to recompute.
    pub(super) workload_status: HashSet<String>,
    /// Pods to schedule (unbound) or to move on (bound).
    pub(super) pods: HashSet<String>,
    /// Try every unbound pod again: capacity was freed or a node changed.
    pub(super) reschedule: bool,
    /// The uids of pods deleted.
    pub(super) gone_pods: Vec<String>,
}

impl Pending {
    fn any(&self) -> bool {
        self.reschedule
            || !self.owners.is_empty()
            || !self.owner_status.is_empty()
            || !self.workloads.is_empty()
            || !self.workload_status.is_empty()
            || !self.pods.is_empty()
    }
}

/// The watched objects and what changed (see the module header).
pub(super) struct Informer {
    core: Arc<Core>,
    pods: Arc<ResourceInfo>,
    kinds: Vec<Kind>,
    stream: Option<WatchStream>,
    objects: HashMap<String, Entry>,
    /// Workloads and owners by uid: uid → key.
    by_uid: HashMap<String, String>,
    /// Objects by the uid of their controlling owner, in key order.
    children: HashMap<String, BTreeSet<String>>,
    /// The nodes, parsed (there are few, and every pass needs them), by key.
    nodes: BTreeMap<String, Value>,
    /// The same in a list, made again after a node changed.
    node_list: Option<Arc<Vec<Value>>>,
    /// What changed.
    pub(super) pending: Pending,
}

impl Informer {
    /// An informer of the kinds `core` serves (nothing read yet: see [`Informer::catch_up`]).
    pub(super) fn new(core: Arc<Core>) -> Result<Informer, ApiError> {
        let pods = core.resource("", "v1", "pods")?;
        let kinds = KINDS
            .iter()
            .filter_map(|(group, plural, role)| {
                let res = core.resource(group, "v1", plural).ok()?;
                Some(Kind {
                    prefix: res.prefix(None),
                    res,
                    role: *role,
                })
            })
            .collect();
        Ok(Informer {
            core,
            pods,
            kinds,
            stream: None,
            objects: HashMap::new(),
            by_uid: HashMap::new(),
            children: HashMap::new(),
            nodes: BTreeMap::new(),
            node_list: None,
            pending: Pending::default(),
        })
    }

    /// Read every change committed so far (listing everything first when the watch is new or
    /// was lost), so the objects are what a list would return now.
    pub(super) async fn catch_up(&mut self) -> Result<(), ApiError> {
        let target = self.core.store.current_revision();
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return self.relist().await;
            };
            if stream.progress() >= target {
                return Ok(());
            }
            match stream.next().await {
                Some(Ok(ev)) => self.apply(&ev),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "simulator watch lost; listing again");
                    self.stream = None;
                }
                None => self.stream = None,
            }
        }
    }

    /// Wait for the next change (of anything stored) and take it in.
    pub(super) async fn next_change(&mut self) {
        match self.stream.as_mut() {
            Some(stream) => match stream.next().await {
                Some(Ok(ev)) => self.apply(&ev),
                _ => self.stream = None,
            },
            None => std::future::pending().await,
        }
    }

    /// Whether a pass has something to look at: a change, or the watch to start again.
    pub(super) fn has_pending(&self) -> bool {
        self.stream.is_none() || self.pending.any()
    }

    /// Watch from the current revision and list every kind, marking everything changed.
    async fn relist(&mut self) -> Result<(), ApiError> {
        let from = self.core.store.current_revision();
        let stream = self.core.store.watch("/", from)?;
        let mut listed = Vec::new();
        for (i, kind) in self.kinds.iter().enumerate() {
            let page = self.core.store.list(&kind.prefix, None, None, None).await?;
            listed.extend(page.items.into_iter().map(|kv| (i, kv)));
        }
        self.objects.clear();
        self.by_uid.clear();
        self.children.clear();
        self.nodes.clear();
        self.node_list = None;
        for (kind, kv) in listed {
            self.insert(kind, kv.key, kv.value, kv.mod_revision);
        }
        self.stream = Some(stream);
        self.mark_all();
        Ok(())
    }

    /// Mark every object changed: the resync.
    pub(super) fn mark_all(&mut self) {
        let p = &mut self.pending;
        for (key, e) in &self.objects {
            let set = match self.kinds[e.kind].role {
                Role::Pod => &mut p.pods,
                Role::Node => continue,
                Role::Workload => {
                    p.workload_status.insert(key.clone());
                    &mut p.workloads
                }
                Role::Owner => {
                    p.owner_status.insert(key.clone());
                    &mut p.owners
                }
            };
            set.insert(key.clone());
        }
        p.reschedule = true;
    }

    /// Take in one store event.
    fn apply(&mut self, ev: &cceone_kube_store::Event) {
        let key = &ev.kv.key;
        let Some(kind) = self.kinds.iter().position(|k| key.starts_with(&k.prefix)) else {
            return;
        };
        let rev = ev.kv.mod_revision;
        if self.objects.get(key).is_some_and(|e| e.rev >= rev) {
            // Already listed at this revision or later.
            return;
        }
        match ev.event_type {
            EventType::Deleted => {
                if let Some(old) = self.remove(key) {
                    self.mark(key, Some(&old), None);
                }
            }
            EventType::Added | EventType::Modified => {
                let old = self.remove(key);
                self.insert(kind, key.clone(), ev.kv.value.clone(), rev);
                let new = self.objects.get(key).map(|e| (e.owner.clone(), e.kind));
                self.mark(key, old.as_ref(), new);
            }
        }
    }

    /// Record an object (read its summary; one that does not decode is left out, as a list
    /// of parsed objects leaves it out).
    fn insert(&mut self, kind: usize, key: String, bytes: Bytes, rev: Revision) {
        let Ok(s) = serde_json::from_slice::<Summary<'_>>(&bytes) else {
            return;
        };
        let role = self.kinds[kind].role;
        if role == Role::Node
            && let Ok(node) = self.core.decode(&self.kinds[kind].res, &bytes)
        {
            self.nodes.insert(key.clone(), node);
            self.node_list = None;
        }
        let owner = s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
            .and_then(|r| r.uid.as_deref())
            .map(String::from);
        let uid = s.metadata.uid.as_deref().unwrap_or_default().to_string();
        let node = s.spec.and_then(|s| s.node_name).map(String::from);
        let terminal = role == Role::Pod
            && matches!(
                s.status.and_then(|s| s.phase).as_deref(),
                Some("Succeeded" | "Failed")
            );
        let deleting = s.metadata.deletion_timestamp.is_some();
        let entry = Entry {
            kind,
            role,
            bytes,
            rev,
            uid,
            owner,
            node,
            terminal,
            deleting,
            usage: None,
        };
        if let Some(owner) = &entry.owner {
            self.children
                .entry(owner.clone())
                .or_default()
                .insert(key.clone());
        }
        if matches!(role, Role::Workload | Role::Owner) && !entry.uid.is_empty() {
            self.by_uid.insert(entry.uid.clone(), key.clone());
        }
        self.objects.insert(key, entry);
    }

    /// Forget an object, returning what it was.
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let old = self.objects.remove(key)?;
        if let Some(owner) = &old.owner
            && let Some(set) = self.children.get_mut(owner)
        {
            set.remove(key);
            if set.is_empty() {
                self.children.remove(owner);
            }
        }
        if self.by_uid.get(&old.uid).is_some_and(|k| k == key) {
            self.by_uid.remove(&old.uid);
        }
        if self.kinds[old.kind].role == Role::Node {
            self.nodes.remove(key);
            self.node_list = None;
        }
        Some(old)
    }

    /// Mark what has to look at a change of `key` (`old` before, `new`: its owner and kind
    /// after; None when deleted).
    fn mark(&mut self, key: &str, old: Option<&Entry>, new: Option<(Option<String>, usize)>) {
        let kind = new
            .as_ref()
            .map(|(_, k)| *k)
            .or(old.map(|o| o.kind))
            .unwrap_or(0);
        let owners = old
            .and_then(|o| o.owner.clone())
            .into_iter()
            .chain(new.as_ref().and_then(|(o, _)| o.clone()));
        match self.kinds[kind].role {
            Role::Pod => {
                let now = self.objects.get(key);
                match (old, now) {
                    (_, Some(_)) => {
                        self.pending.pods.insert(key.to_string());
                    }
                    (Some(o), None) => self.pending.gone_pods.push(o.uid.clone()),
                    (None, None) => {}
                }
                // Capacity freed: the pod gone, finished, or moved.
                let freed = match (old, now) {
                    (Some(o), None) => o.node.is_some(),
                    (Some(o), Some(n)) => {
                        o.node != n.node || (n.terminal && !o.terminal && o.node.is_some())
                    }
                    _ => false,
                };
                self.pending.reschedule |= freed;
                for uid in owners.collect::<Vec<_>>() {
                    self.mark_owner(&uid);
                }
            }
            Role::Workload => {
                if new.is_some() {
                    self.pending.workloads.insert(key.to_string());
                    self.pending.workload_status.insert(key.to_string());
                }
                for uid in owners.collect::<Vec<_>>() {
                    self.mark_owner(&uid);
                }
            }
            Role::Owner => {
                if new.is_some() {
                    self.pending.owners.insert(key.to_string());
                    self.pending.owner_status.insert(key.to_string());
                }
            }
            Role::Node => {
                // Readiness, taints and capacity of a node matter to the pods on it, to
                // every pod waiting for a place and to every DaemonSet.
                let name = key.strip_prefix(&self.kinds[kind].prefix).unwrap_or(key);
                for (k, e) in &self.objects {
                    let role = self.kinds[e.kind].role;
                    if role == Role::Pod && e.node.as_deref() == Some(name) {
                        self.pending.pods.insert(k.clone());
                    }
                    if role == Role::Workload && self.kinds[e.kind].res.plural == "daemonsets" {
                        self.pending.workloads.insert(k.clone());
                        self.pending.workload_status.insert(k.clone());
                    }
                }
                self.pending.reschedule = true;
            }
        }
    }

    /// Mark the workload (or owner) with `uid` changed.
    fn mark_owner(&mut self, uid: &str) {
        let Some(key) = self.by_uid.get(uid) else {
            return;
        };
        let Some(e) = self.objects.get(key) else {
            return;
        };
        let p = &mut self.pending;
        match self.kinds[e.kind].role {
            Role::Workload => {
                p.workloads.insert(key.clone());
                p.workload_status.insert(key.clone());
            }
            Role::Owner => {
                p.owners.insert(key.clone());
                p.owner_status.insert(key.clone());
            }
            Role::Pod | Role::Node => {}
        }
    }

    /// The object under `key`.
    pub(super) fn entry(&self, key: &str) -> Option<&Entry> {
        self.objects.get(key)
    }

    /// The resource of the object under `key`.
    pub(super) fn resource(&self, key: &str) -> Option<&Arc<ResourceInfo>> {
        self.objects.get(key).map(|e| &self.kinds[e.kind].res)
    }

    /// The object under `key`, parsed (without `metadata.managedFields`, see [`Lean`]).
    pub(super) fn parse(&self, key: &str) -> Option<Value> {
        let e = self.objects.get(key)?;
        decode(&self.core, &self.kinds[e.kind].res, &e.bytes)
    }

    /// The objects of `role` controlled by the object with `uid`, parsed, in key order.
    pub(super) fn parse_children(&self, uid: &str, role: Role) -> Vec<Value> {
        self.children(uid)
            .filter(|(_, e)| e.role == role)
            .filter_map(|(k, _)| self.parse(k))
            .collect()
    }

    /// The pods' resource.
    pub(super) fn pods_resource(&self) -> Arc<ResourceInfo> {
        Arc::clone(&self.pods)
    }

    /// Mark the status of the workload with `uid` to be recomputed.
    pub(super) fn mark_status(&mut self, uid: &str) {
        if let Some(key) = self.by_uid.get(uid) {
            self.pending.workload_status.insert(key.clone());
        }
    }

    /// The keys and entries of the objects controlled by the object with `uid`.
    pub(super) fn children(&self, uid: &str) -> impl Iterator<Item = (&String, &Entry)> {
        self.children
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|k| self.objects.get_key_value(k))
    }

    /// Whether a workload or owner with `uid` exists.
    pub(super) fn has_uid(&self, uid: &str) -> bool {
        self.by_uid.contains_key(uid)
    }

    /// The key of the workload or owner with `uid`.
    pub(super) fn key_of_uid(&self, uid: &str) -> Option<&String> {
        self.by_uid.get(uid)
    }

    /// The nodes, parsed, in key order.
    pub(super) fn nodes(&mut self) -> Arc<Vec<Value>> {
        let nodes = &self.nodes;
        Arc::clone(
            self.node_list
                .get_or_insert_with(|| Arc::new(nodes.values().cloned().collect())),
        )
    }

    /// The keys of the pods the scheduler has to place.
    pub(super) fn unbound_pods(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .iter()
            .filter(|(_, e)| self.kinds[e.kind].role == Role::Pod && e.unbound())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// What the bound pods use on their nodes (each pod parsed once per change).
    pub(super) fn usage(&mut self) -> cceone_kubesim_core::NodeUsage {
        let mut usage = cceone_kubesim_core::NodeUsage::default();
        for e in self.objects.values_mut() {
            if self.kinds[e.kind].role != Role::Pod || e.node.is_none() || e.terminal {
                continue;
            }
            if e.usage.is_none() {
                let pod = decode(&self.core, &self.kinds[e.kind].res, &e.bytes);
                e.usage = Some(pod.as_ref().and_then(PodUsage::of));
            }
            if let Some(Some(u)) = &e.usage {
                usage.add_usage(u);
            }
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_read_without_their_managed_fields_only() {
        let stored = serde_json::json!({
            "kind": "Pod",
            "metadata": {"name": "p", "uid": "u", "managedFields": [{"manager": "m"}]},
            "spec": {"managedFields": "kept", "nodeName": "n1"},
        });
        let bytes = serde_json::to_vec(&stored).unwrap_or_default();
        let lean = serde_json::from_slice::<Lean>(&bytes).map(|l| l.0).ok();
        let mut expected = stored.clone();
        if let Some(m) = expected["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        assert_eq!(lean, Some(expected));
        assert!(serde_json::from_slice::<Lean>(b"[1]").is_err());
    }
}
