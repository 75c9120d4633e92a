//! The Work applier: applies the manifests of each Work the hub delivers to the member cluster
//! with server-side apply, removes what a deleted Work held (unless
//! `preserveResourcesOnDeletion`), and reports each Work's manifest status and health. It keeps
//! what it holds across tunnel sessions, so after a reconnect the hub resends only what changed
//! and nothing is applied twice for one Work generation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use cceone_proto::v1;
use futures::StreamExt;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Scope;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Field manager of everything the agent applies.
pub const MANAGER: &str = "cceone-cluster-agent";
/// Label on every object the agent applied.
pub const MANAGED_LABEL: &str = "cceone.io/managed-by";
/// Annotation naming the Work an object came from.
pub const WORK_ANNOTATION: &str = "cceone.io/work";

#[derive(Debug, Clone)]
struct ObjRef {
    resource: ApiResource,
    namespaced: bool,
    namespace: Option<String>,
    name: String,
    ordinal: usize,
}

/// Objects of a deleted Work the member still holds (their removal failed).
#[derive(Debug, Default)]
pub struct Removal(Vec<ObjRef>);

impl Removal {
    /// Nothing is left.
    pub fn is_done(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Held {
    uid: String,
    generation: i64,
    resource_version: String,
    preserve: bool,
    objects: Vec<ObjRef>,
    applied: bool,
    message: String,
    last_sent: Option<Vec<u8>>,
}

/// An applied object's status and health as Karmada's default interpreter reflects them.
type Observed = (Value, &'static str);

/// The status and health of a live object.
fn observe(obj: &DynamicObject) -> Observed {
    let v = serde_json::to_value(obj).unwrap_or(Value::Null);
    let status = cceone_karmada_api::interpret::reflect_status(&v).unwrap_or(Value::Null);
    (
        status,
        cceone_karmada_api::interpret::interpret_health(&v).as_str(),
    )
}

/// A kind's group/version/plural.
fn kind_key(resource: &ApiResource) -> String {
    format!(
        "{}/{}/{}",
        resource.group, resource.version, resource.plural
    )
}

/// Where an object is: its kind's group/version/plural, namespace and name.
fn object_key(resource: &ApiResource, namespace: Option<&str>, name: &str) -> String {
    format!(
        "{}/{}/{}/{}/{name}",
        resource.group,
        resource.version,
        resource.plural,
        namespace.unwrap_or("")
    )
}

/// The Works this agent holds, shared by every session.
pub struct Works {
    client: kube::Client,
    held: Mutex<HashMap<(String, String), Held>>,
    resources: Mutex<HashMap<GroupVersionKind, (ApiResource, bool)>>,
    /// Namespaces known to exist (so each apply does not look again).
    namespaces: Mutex<HashSet<String>>,
    /// Works whose objects changed since their status was last looked at (from the watches of
    /// the kinds the agent applied, and from applies), so a status pass reads only those.
    dirty: std::sync::Mutex<HashSet<(String, String)>>,
    /// This applier, for its watch tasks (which must not keep it alive).
    me: Weak<Works>,
    /// Kinds (group/version/plural) watched for changes to the objects the agent applied.
    watching: std::sync::Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// What those watches last saw of each applied object ([`object_key`]): its reflected
    /// status and health, so a status pass reads the member only for what it has not seen.
    observed: std::sync::Mutex<HashMap<String, Observed>>,
    /// Objects of the watched kinds that exist and are not the federation's ([`object_key`]),
    /// and the kinds whose watch has listed them all: `conflictResolution: Abort` is decided
    /// from these, as Karmada's execution controller decides from its informer cache, and the
    /// member is asked only while a kind's first list is still coming.
    foreign: std::sync::Mutex<HashSet<String>>,
    listed: std::sync::Mutex<HashSet<String>>,
    applies: AtomicU64,
    metrics: Arc<crate::health::AgentMetrics>,
}

impl Works {
    /// An empty applier for the member cluster behind `client`.
    pub fn new(client: kube::Client, metrics: Arc<crate::health::AgentMetrics>) -> Arc<Works> {
        Arc::new_cyclic(|me| Works {
            client,
            held: Mutex::default(),
            resources: Mutex::default(),
            namespaces: Mutex::default(),
            dirty: std::sync::Mutex::default(),
            me: me.clone(),
            watching: std::sync::Mutex::default(),
            observed: std::sync::Mutex::default(),
            foreign: std::sync::Mutex::default(),
            listed: std::sync::Mutex::default(),
            applies: AtomicU64::new(0),
            metrics,
        })
    }

    /// How many manifests have been applied since start.
    pub fn applies(&self) -> u64 {
        self.applies.load(Ordering::Relaxed)
    }

    /// What the agent holds, for the hub after a (re)connect.
    pub async fn inventory(&self) -> v1::WorkInventory {
        let held = self.held.lock().await;
        v1::WorkInventory {
            works: held
                .iter()
                .map(|((ns, name), h)| v1::WorkRef {
                    namespace: ns.clone(),
                    name: name.clone(),
                    uid: h.uid.clone(),
                    resource_version: h.resource_version.clone(),
                    generation: h.generation,
                })
                .collect(),
        }
    }

    async fn resource_for(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(r) = self.resources.lock().await.get(&gvk) {
            return Ok(r.clone());
        }
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| format!("{api_version} {kind} is not served by the member: {e}"))?;
        let r = (ar, caps.scope == Scope::Namespaced);
        self.resources.lock().await.insert(gvk, r.clone());
        Ok(r)
    }

    async fn ensure_namespace(&self, ns: &str) {
        if self.namespaces.lock().await.contains(ns) {
            return;
        }
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        if api.get_opt(ns).await.ok().flatten().is_some() {
            self.namespaces.lock().await.insert(ns.to_string());
            return;
        }
        let obj: k8s_openapi::api::core::v1::Namespace =
            match serde_json::from_value(json!({"metadata": {"name": ns}})) {
                Ok(o) => o,
                Err(_) => return,
            };
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {
                self.namespaces.lock().await.insert(ns.to_string());
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                self.namespaces.lock().await.insert(ns.to_string());
            }
            Err(_) => {}
        }
    }

    /// Apply a delivered Work (once per generation).
    pub async fn apply(&self, d: v1::WorkDelivery) {
        let key = (d.namespace.clone(), d.name.clone());
        if self
            .held
            .lock()
            .await
            .get(&key)
            .is_some_and(|h| h.uid == d.uid && h.generation == d.generation && h.applied)
        {
            return;
        }
        let work_ref = format!("{}/{}", d.namespace, d.name);
        let mut objects = Vec::new();
        let mut errors = Vec::new();
        for (ordinal, raw) in d.manifests.iter().enumerate() {
            let mut m: Value = match serde_json::from_slice(raw) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(format!("manifest {ordinal} is not JSON: {e}"));
                    continue;
                }
            };
            let (Some(api_version), Some(kind), Some(name)) = (
                m.get("apiVersion")
                    .and_then(Value::as_str)
                    .map(String::from),
                m.get("kind").and_then(Value::as_str).map(String::from),
                m.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(String::from),
            ) else {
                errors.push(format!(
                    "manifest {ordinal} lacks apiVersion, kind or metadata.name"
                ));
                continue;
            };
            let (resource, namespaced) = match self.resource_for(&api_version, &kind).await {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            self.watch_kind(&resource);
            let namespace = namespaced.then(|| {
                m.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string()
            });
            let overwrite = overwrites(&m);
            clean(&mut m, &work_ref);
            let api: Api<DynamicObject> = match &namespace {
                Some(ns) => {
                    self.ensure_namespace(ns).await;
                    Api::namespaced_with(self.client.clone(), ns, &resource)
                }
                None => Api::all_with(self.client.clone(), &resource),
            };
            if !overwrite {
                // Karmada's `conflictResolution: Abort` (the default): an object that exists in
                // the member and is not one the federation manages is left as it is, and the
                // Work says why (pkg/util/objectwatcher `allowUpdate`). The watch of applied
                // objects answers for objects already ours; anything else is looked up.
                let key = object_key(&resource, namespace.as_deref(), &name);
                let conflict = match self.known_foreign(&resource, &key) {
                    Some(foreign) => foreign,
                    None => match api.get_opt(&name).await {
                        Ok(existing) => existing.is_some_and(|o| !managed(&o)),
                        Err(e) => {
                            errors.push(format!("reading {kind} {name} before applying: {e}"));
                            continue;
                        }
                    },
                };
                if conflict {
                    let cluster =
                        cceone_karmada_api::cluster_of(&d.namespace).unwrap_or(&d.namespace);
                    errors.push(format!(
                        "resource(kind={kind}, {}/{name}) already exists in the cluster {cluster} and is not managed by the federation; conflictResolution is Abort, so it is left as it is (set conflictResolution: Overwrite on the policy to take it over)",
                        namespace.as_deref().unwrap_or("")
                    ));
                    continue;
                }
            }
            match api
                .patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&m),
                )
                .await
            {
                Ok(_) => {
                    self.applies.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .works_applied_total
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    // The namespace may have been deleted behind our back: look again next time.
                    if let Some(ns) = &namespace {
                        self.namespaces.lock().await.remove(ns);
                    }
                    errors.push(format!("applying {kind} {name}: {e}"));
                }
            }
            objects.push(ObjRef {
                resource,
                namespaced,
                namespace,
                name,
                ordinal,
            });
        }
        let mut held = self.held.lock().await;
        let previous = held.remove(&key);
        // Objects the previous generation held that this one does not: remove them.
        if let Some(prev) = previous.filter(|p| p.uid == d.uid) {
            for old in prev.objects.iter().filter(|o| {
                !objects.iter().any(|n| {
                    n.name == o.name
                        && n.namespace == o.namespace
                        && n.resource.kind == o.resource.kind
                })
            }) {
                self.delete_object(old).await;
            }
        }
        tracing::info!(work = %work_ref, generation = d.generation, manifests = objects.len(), errors = errors.len(), "work applied");
        let key_for_dirty = key.clone();
        held.insert(
            key,
            Held {
                uid: d.uid,
                generation: d.generation,
                resource_version: d.resource_version,
                preserve: d.preserve_resources_on_deletion,
                objects,
                applied: errors.is_empty(),
                message: if errors.is_empty() {
                    "Manifest has been successfully applied".into()
                } else {
                    errors.join("; ")
                },
                last_sent: None,
            },
        );
        self.mark_dirty(key_for_dirty);
    }

    /// Whether an object exists in the member and is not the federation's, from the watch of
    /// its kind; `None` while that watch has not listed the kind yet (ask the member).
    fn known_foreign(&self, resource: &ApiResource, key: &str) -> Option<bool> {
        if self.observed.lock().ok()?.contains_key(key) {
            return Some(false);
        }
        let listed = self.listed.lock().ok()?.contains(&kind_key(resource));
        listed.then(|| self.foreign.lock().is_ok_and(|f| f.contains(key)))
    }

    fn mark_dirty(&self, key: (String, String)) {
        if let Ok(mut d) = self.dirty.lock() {
            d.insert(key);
        }
    }

    /// Watch `resource`: mark the Work of each changed object the agent applied dirty, and keep
    /// the keys of the objects that are not the federation's (for conflict resolution). One
    /// watch per kind, for the agent's lifetime.
    fn watch_kind(&self, resource: &ApiResource) {
        let kind_key = kind_key(resource);
        let Ok(mut watching) = self.watching.lock() else {
            return;
        };
        if watching.contains_key(&kind_key) {
            return;
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let cfg = kube::runtime::watcher::Config::default();
        let listed_key = kind_key.clone();
        let me: Weak<Works> = self.me.clone();
        let resource = resource.clone();
        let task = tokio::spawn(async move {
            let mut events = kube::runtime::watcher(api, cfg).boxed();
            while let Some(ev) = events.next().await {
                let Some(works) = me.upgrade() else { return };
                match ev {
                    Ok(
                        ref event @ (kube::runtime::watcher::Event::Apply(ref o)
                        | kube::runtime::watcher::Event::Delete(ref o)
                        | kube::runtime::watcher::Event::InitApply(ref o)),
                    ) => {
                        let deleted = matches!(event, kube::runtime::watcher::Event::Delete(_));
                        let Some(name) = o.metadata.name.as_deref() else {
                            continue;
                        };
                        let key = object_key(&resource, o.metadata.namespace.as_deref(), name);
                        if !managed(o) {
                            // Someone else's (or no longer ours): remembered for conflicts only.
                            if let Ok(mut foreign) = works.foreign.lock() {
                                if deleted {
                                    foreign.remove(&key);
                                } else {
                                    foreign.insert(key.clone());
                                }
                            }
                            if let Ok(mut observed) = works.observed.lock() {
                                observed.remove(&key);
                            }
                            continue;
                        }
                        if let Ok(mut foreign) = works.foreign.lock() {
                            foreign.remove(&key);
                        }
                        if let Ok(mut observed) = works.observed.lock() {
                            if deleted {
                                observed.remove(&key);
                            } else {
                                observed.insert(key, observe(o));
                            }
                        }
                        let work = o
                            .metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(WORK_ANNOTATION))
                            .and_then(|w| w.split_once('/'));
                        if let Some((ns, name)) = work {
                            works.mark_dirty((ns.to_string(), name.to_string()));
                        }
                    }
                    Ok(kube::runtime::watcher::Event::Init) => {
                        // A fresh list follows: what it does not bring back is gone.
                        let prefix = format!("{listed_key}/");
                        if let Ok(mut listed) = works.listed.lock() {
                            listed.remove(&listed_key);
                        }
                        if let Ok(mut observed) = works.observed.lock() {
                            observed.retain(|k, _| !k.starts_with(&prefix));
                        }
                        if let Ok(mut foreign) = works.foreign.lock() {
                            foreign.retain(|k| !k.starts_with(&prefix));
                        }
                    }
                    Ok(kube::runtime::watcher::Event::InitDone) => {
                        if let Ok(mut listed) = works.listed.lock() {
                            listed.insert(listed_key.clone());
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "watching applied objects failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        watching.insert(kind_key, task);
    }

    /// Remove one object; true when it is gone (or was already).
    async fn delete_object(&self, o: &ObjRef) -> bool {
        let api: Api<DynamicObject> = match (&o.namespace, o.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &o.resource),
            _ => Api::all_with(self.client.clone(), &o.resource),
        };
        match api.delete(&o.name, &DeleteParams::background()).await {
            Ok(_) => {
                tracing::info!(kind = %o.resource.kind, name = %o.name, "removed an object its work no longer holds");
                true
            }
            Err(kube::Error::Api(s)) if s.code == 404 => true,
            Err(e) => {
                tracing::warn!(kind = %o.resource.kind, name = %o.name, error = %e, "removing an object failed");
                false
            }
        }
    }

    /// A Work went away: remove what it held unless it preserves its resources. Returns what
    /// could not be removed yet (to try again with [`Works::remove_objects`]); empty once the
    /// member holds nothing of the Work.
    pub async fn delete(&self, d: &v1::WorkDeletion) -> Removal {
        let removed = self
            .held
            .lock()
            .await
            .remove(&(d.namespace.clone(), d.name.clone()));
        let Some(h) = removed else {
            return Removal::default();
        };
        if h.preserve || d.preserve_resources_on_deletion {
            tracing::info!(work = %d.name, "work deleted; its resources are preserved");
            return Removal::default();
        }
        self.remove_objects(Removal(h.objects)).await
    }

    /// Try again to remove what a deletion left; returns what is still there.
    pub async fn remove_objects(&self, left: Removal) -> Removal {
        let mut still = Vec::new();
        for o in left.0 {
            if !self.delete_object(&o).await {
                still.push(o);
            }
        }
        Removal(still)
    }

    /// The status of every held Work that changed since it was last reported. Only Works
    /// marked dirty are read from the member, unless `sweep` (read them all: a safety net for a
    /// missed watch event) or `resend_all` (send them all, changed or not).
    pub async fn changed_statuses(&self, resend_all: bool, sweep: bool) -> Vec<v1::WorkStatus> {
        let dirty = self
            .dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        let snapshot: Vec<((String, String), Held)> = self
            .held
            .lock()
            .await
            .iter()
            .filter(|(k, _)| resend_all || sweep || dirty.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for ((ns, name), h) in snapshot {
            let mut manifests = Vec::new();
            for o in &h.objects {
                let api: Api<DynamicObject> = match (&o.namespace, o.namespaced) {
                    (Some(n), true) => Api::namespaced_with(self.client.clone(), n, &o.resource),
                    _ => Api::all_with(self.client.clone(), &o.resource),
                };
                // Status and health as Karmada's default interpreter reflects them (with the
                // generations the federation needs to call a rollout observed): as the watch
                // last saw the object, or read from the member when it has not seen it (or on a
                // sweep, the safety net for a missed event).
                let key = object_key(&o.resource, o.namespace.as_deref(), &o.name);
                let seen = if sweep {
                    None
                } else {
                    self.observed.lock().ok().and_then(|m| m.get(&key).cloned())
                };
                let (status, health) = match seen {
                    Some(seen) => seen,
                    None => match api.get_opt(&o.name).await.ok().flatten() {
                        Some(obj) => observe(&obj),
                        None => (Value::Null, "Unknown"),
                    },
                };
                let identifier = json!({
                    "ordinal": o.ordinal, "group": o.resource.group, "version": o.resource.version,
                    "kind": o.resource.kind, "resource": o.resource.plural,
                    "namespace": o.namespace.clone().unwrap_or_default(), "name": o.name,
                });
                manifests.push(v1::ManifestStatus {
                    identifier: serde_json::to_vec(&identifier).unwrap_or_default(),
                    status: serde_json::to_vec(&status).unwrap_or_default(),
                    health: health.into(),
                });
            }
            let ws = v1::WorkStatus {
                namespace: ns.clone(),
                name: name.clone(),
                uid: h.uid.clone(),
                resource_version: h.resource_version.clone(),
                applied: h.applied,
                message: h.message.clone(),
                manifests,
                generation: h.generation,
            };
            let fingerprint = prost::Message::encode_to_vec(&ws);
            if !resend_all && h.last_sent.as_deref() == Some(fingerprint.as_slice()) {
                continue;
            }
            if let Some(entry) = self.held.lock().await.get_mut(&(ns, name))
                && entry.uid == h.uid
                && entry.generation == h.generation
            {
                entry.last_sent = Some(fingerprint);
            }
            out.push(ws);
        }
        out
    }
}

impl Drop for Works {
    fn drop(&mut self) {
        if let Ok(w) = self.watching.get_mut() {
            for (_, t) in w.drain() {
                t.abort();
            }
        }
    }
}

/// Whether a manifest's Work may take over an object that exists and is not ours
/// (`work.karmada.io/conflict-resolution: overwrite`, from the policy's `conflictResolution`).
fn overwrites(m: &Value) -> bool {
    m.get("metadata")
        .and_then(|md| md.get("annotations"))
        .and_then(|a| a.get(cceone_karmada_api::names::CONFLICT_RESOLUTION_ANNOTATION))
        .and_then(Value::as_str)
        == Some("overwrite")
}

/// Whether a member object is one the federation manages: applied by this agent, or marked
/// managed by Karmada (`karmada.io/managed: "true"`).
fn managed(obj: &DynamicObject) -> bool {
    let labels = obj.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    label(MANAGED_LABEL) == Some(MANAGER)
        || label(cceone_karmada_api::names::MANAGED_BY_KARMADA_LABEL) == Some("true")
}

/// Strip what the member must not receive and mark the object as ours.
fn clean(m: &mut Value, work_ref: &str) {
    if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "ownerReferences",
            "finalizers",
        ] {
            md.remove(k);
        }
        let labels = md.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert(MANAGED_LABEL.into(), json!(MANAGER));
        }
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(WORK_ANNOTATION.into(), json!(work_ref));
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if let Some(o) = m.as_object_mut() {
        o.remove("status");
    }
}
