//! The garbage collector: what kube-controller-manager's garbage collector and namespace
//! controller do, in-process. Deleting an owner deletes its dependents (`ownerReferences`);
//! `foregroundDeletion` waits for them; `orphan` releases them; a terminating namespace is
//! emptied, then removed.
//!
//! It follows every write of the store, so what it does per write must not grow with the
//! store: an object is parsed only when its bytes mention `deletionTimestamp` or
//! `ownerReferences` (and then only its owner uids, for an index of who owns what), and the
//! dependents of a deleted owner come from that index, not from a scan of every object.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cceone_kube_store::EventType;
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};

use crate::core::{Core, DeleteOptions, ListOptions, PatchKind, WriteOptions};
use crate::meta;
use crate::resource::ResourceInfo;

const MANAGER: &str = "garbage-collector";

/// Run the collector until the store closes; a watch that falls behind is restarted.
pub async fn run(core: Arc<Core>) {
    while let Restart::Yes = run_once(&core).await {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

enum Restart {
    Yes,
    No,
}

/// Which stored objects name which owner (by uid) in their `ownerReferences`.
#[derive(Default)]
struct Owners {
    by_owner: HashMap<String, BTreeSet<String>>,
    by_key: HashMap<String, Vec<String>>,
}

impl Owners {
    /// Record the owners of the object stored under `key` (none removes it).
    fn set(&mut self, key: &str, owners: Vec<String>) {
        self.remove(key);
        if owners.is_empty() {
            return;
        }
        for uid in &owners {
            self.by_owner
                .entry(uid.clone())
                .or_default()
                .insert(key.to_string());
        }
        self.by_key.insert(key.to_string(), owners);
    }

    fn remove(&mut self, key: &str) {
        for uid in self.by_key.remove(key).unwrap_or_default() {
            if let Some(keys) = self.by_owner.get_mut(&uid) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_owner.remove(&uid);
                }
            }
        }
    }

    /// Keys of the objects that name `uid` as an owner.
    fn dependents(&self, uid: &str) -> Vec<String> {
        self.by_owner
            .get(uid)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(serde::Deserialize, Default)]
struct OwnedObject {
    #[serde(default)]
    metadata: OwnedMeta,
}

#[derive(serde::Deserialize, Default)]
struct OwnedMeta {
    #[serde(default, rename = "ownerReferences")]
    owner_references: Vec<OwnerRef>,
}

#[derive(serde::Deserialize)]
struct OwnerRef {
    #[serde(default)]
    uid: String,
}

fn mentions(bytes: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(bytes, needle).is_some()
}

/// The owner uids of a stored object, reading nothing else of it.
fn owner_uids(bytes: &[u8]) -> Vec<String> {
    if !mentions(bytes, b"\"ownerReferences\"") {
        return Vec::new();
    }
    serde_json::from_slice::<OwnedObject>(bytes)
        .map(|o| {
            o.metadata
                .owner_references
                .into_iter()
                .map(|r| r.uid)
                .filter(|u| !u.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

async fn run_once(core: &Arc<Core>) -> Restart {
    let core = Arc::clone(core);
    let start = core.store.current_revision();
    let mut stream = match core.store.watch("/", start) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "garbage collector cannot watch the store");
            return Restart::No;
        }
    };
    let mut index = Owners::default();
    for res in storage_resources(&core) {
        let Ok(page) = core.list(&res, None, &ListOptions::default()).await else {
            continue;
        };
        for item in page.items {
            let owners = owner_uids(&item);
            if !owners.is_empty()
                && let Ok(obj) = serde_json::from_slice::<Value>(&item)
                && let Some(name) = meta::name(&obj)
            {
                index.set(&res.key(meta::namespace(&obj), name), owners);
            }
        }
        tokio::task::yield_now().await;
    }
    // Namespaces terminating when we start still need emptying.
    if let Ok(nss) = core.resource("", "v1", "namespaces")
        && let Ok(page) = core.list(&nss, None, &ListOptions::default()).await
    {
        for item in page.items {
            if let Ok(ns) = serde_json::from_slice::<Value>(&item)
                && meta::is_deleting(&ns)
                && let Some(name) = meta::name(&ns)
            {
                empty_namespace(&core, name).await;
            }
        }
    }
    while let Some(first) = stream.next().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match stream.next().now_or_never() {
                Some(Some(ev)) => batch.push(ev),
                _ => break,
            }
        }
        let mut deleted_uids = Vec::new();
        let mut namespaces = BTreeSet::new();
        let mut owners = Vec::new();
        for ev in batch {
            let ev = match ev {
                Ok(ev) => ev,
                Err(cceone_kube_store::StoreError::Closed) => return Restart::No,
                Err(e) => {
                    tracing::warn!(error = %e, "garbage collector fell behind; restarting its watch");
                    return Restart::Yes;
                }
            };
            if ev.event_type == EventType::Deleted {
                index.remove(&ev.kv.key);
            } else {
                index.set(&ev.kv.key, owner_uids(&ev.kv.value));
                if !mentions(&ev.kv.value, b"\"deletionTimestamp\"") {
                    // Neither terminating nor an owner going: nothing to do, nothing to parse.
                    continue;
                }
            }
            let Ok(obj) = serde_json::from_slice::<Value>(&ev.kv.value) else {
                continue;
            };
            let is_ns = ev.kv.key.starts_with("/core/namespaces/");
            match ev.event_type {
                EventType::Deleted => {
                    if let Some(uid) = meta::uid(&obj) {
                        deleted_uids
                            .push((uid.to_string(), meta::namespace(&obj).map(String::from)));
                    }
                    if let Some(ns) = meta::namespace(&obj) {
                        namespaces.insert(ns.to_string());
                    }
                    if let Some(refs) = obj
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                    {
                        for r in refs {
                            owners.push((r.clone(), meta::namespace(&obj).map(String::from)));
                        }
                    }
                }
                EventType::Added | EventType::Modified if meta::is_deleting(&obj) => {
                    if is_ns {
                        if let Some(name) = meta::name(&obj) {
                            namespaces.insert(name.to_string());
                        }
                    } else {
                        finish_owner(&core, &index, &ev.kv.key, &obj).await;
                    }
                }
                _ => {}
            }
        }
        for (uid, ns) in deleted_uids {
            for (res, dep) in dependents(&core, &index, &uid, ns.as_deref()).await {
                delete_quietly(&core, &res, &dep, None).await;
            }
        }
        for (owner_ref, ns) in owners {
            recheck_owner(&core, &index, &owner_ref, ns.as_deref()).await;
        }
        for ns in namespaces {
            if namespace_terminating(&core, &ns).await {
                empty_namespace(&core, &ns).await;
            }
        }
        tokio::task::yield_now().await;
    }
    Restart::No
}

/// Every object (with its resource) whose ownerReferences name `uid` (in namespace `ns` when
/// the owner is namespaced).
async fn dependents(
    core: &Arc<Core>,
    index: &Owners,
    uid: &str,
    ns: Option<&str>,
) -> Vec<(Arc<ResourceInfo>, Value)> {
    let mut out = Vec::new();
    for key in index.dependents(uid) {
        let Some(res) = resource_of_key(core, &key) else {
            continue;
        };
        if ns.is_some() && !res.namespaced {
            continue;
        }
        let Ok(Some(kv)) = core.store.get(&key).await else {
            continue;
        };
        let Ok(obj) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        if ns.is_some() && meta::namespace(&obj) != ns {
            continue;
        }
        let owned = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| {
                refs.iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
            });
        if owned {
            out.push((res, obj));
        }
    }
    out
}

fn storage_resources(core: &Core) -> Vec<Arc<ResourceInfo>> {
    core.registry
        .all()
        .into_iter()
        .filter(|r| !r.converts())
        .collect()
}

async fn delete_quietly(
    core: &Arc<Core>,
    res: &Arc<ResourceInfo>,
    obj: &Value,
    propagation: Option<&str>,
) {
    let Some(name) = meta::name(obj) else { return };
    let opts = DeleteOptions {
        propagation: propagation.map(String::from),
        ..Default::default()
    };
    if let Err(e) = core.delete(res, meta::namespace(obj), name, &opts).await
        && e.code() != 404
    {
        tracing::warn!(resource = %res.qualified(), name, error = %e, "garbage collector could not delete");
    }
}

/// An owner being deleted with `foregroundDeletion` or `orphan`: act on its dependents, then
/// drop the finalizer once done.
async fn finish_owner(core: &Arc<Core>, index: &Owners, key: &str, obj: &Value) {
    let fins = meta::finalizers(obj);
    let foreground = fins.iter().any(|f| f == "foregroundDeletion");
    let orphan = fins.iter().any(|f| f == "orphan");
    if !foreground && !orphan {
        return;
    }
    let Some(res) = resource_of_key(core, key) else {
        return;
    };
    let Some(uid) = meta::uid(obj) else { return };
    let deps = dependents(core, index, uid, meta::namespace(obj)).await;
    if orphan {
        for (dep_res, dep) in &deps {
            let refs: Vec<Value> = dep
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let patch = json!({"metadata": {"ownerReferences": if refs.is_empty() { Value::Null } else { json!(refs) }}});
            if let Some(n) = meta::name(dep) {
                let _ = core
                    .patch(
                        dep_res,
                        meta::namespace(dep),
                        n,
                        None,
                        PatchKind::Merge,
                        &patch,
                        &gc_opts(),
                    )
                    .await;
            }
        }
        remove_finalizer(core, &res, obj, "orphan").await;
        return;
    }
    if deps.is_empty() {
        remove_finalizer(core, &res, obj, "foregroundDeletion").await;
    } else {
        for (dep_res, dep) in &deps {
            if !meta::is_deleting(dep) {
                delete_quietly(core, dep_res, dep, Some("Foreground")).await;
            }
        }
    }
}

fn gc_opts() -> WriteOptions {
    WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

async fn remove_finalizer(core: &Arc<Core>, res: &Arc<ResourceInfo>, obj: &Value, finalizer: &str) {
    let rest: Vec<String> = meta::finalizers(obj)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": if rest.is_empty() { Value::Null } else { json!(rest) }}});
    if let Some(name) = meta::name(obj)
        && let Err(e) = core
            .patch(
                res,
                meta::namespace(obj),
                name,
                None,
                PatchKind::Merge,
                &patch,
                &gc_opts(),
            )
            .await
        && e.code() != 404
    {
        tracing::warn!(name, error = %e, "garbage collector could not remove finalizer");
    }
}

/// A dependent went away: its owner may be waiting in foreground deletion.
async fn recheck_owner(core: &Arc<Core>, index: &Owners, owner_ref: &Value, ns: Option<&str>) {
    let (Some(av), Some(kind), Some(name)) = (
        owner_ref.get("apiVersion").and_then(Value::as_str),
        owner_ref.get("kind").and_then(Value::as_str),
        owner_ref.get("name").and_then(Value::as_str),
    ) else {
        return;
    };
    let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
    let Some(res) = core.registry.by_kind(group, version, kind) else {
        return;
    };
    let ns = if res.namespaced { ns } else { None };
    let Ok(owner) = core.get(&res, ns, name).await else {
        return;
    };
    if meta::is_deleting(&owner) {
        finish_owner(core, index, &res.key(ns, name), &owner).await;
    }
}

fn resource_of_key(core: &Core, key: &str) -> Option<Arc<ResourceInfo>> {
    let mut parts = key.trim_start_matches('/').split('/');
    let group = parts.next()?;
    let plural = parts.next()?;
    let group = if group == "core" { "" } else { group };
    storage_resources(core)
        .into_iter()
        .find(|r| r.group == group && r.plural == plural)
}

async fn namespace_terminating(core: &Arc<Core>, ns: &str) -> bool {
    let Ok(nss) = core.resource("", "v1", "namespaces") else {
        return false;
    };
    core.get(&nss, None, ns)
        .await
        .is_ok_and(|o| meta::is_deleting(&o))
}

/// Delete everything in a terminating namespace; once it is empty, remove the namespace.
async fn empty_namespace(core: &Arc<Core>, ns: &str) {
    let mut remaining = 0usize;
    for res in storage_resources(core).into_iter().filter(|r| r.namespaced) {
        let Ok(page) = core.list(&res, Some(ns), &ListOptions::default()).await else {
            continue;
        };
        for item in page.items {
            remaining += 1;
            let Ok(obj) = serde_json::from_slice::<Value>(&item) else {
                continue;
            };
            if !meta::is_deleting(&obj) {
                delete_quietly(core, &res, &obj, None).await;
            }
        }
    }
    if remaining > 0 {
        return;
    }
    let Ok(nss) = core.resource("", "v1", "namespaces") else {
        return;
    };
    if let Ok(kv) = core.get_kv(&nss, None, ns).await {
        if let Err(e) = core.store.delete(&kv.key, Some(kv.mod_revision)).await {
            tracing::debug!(namespace = ns, error = %e, "namespace removal raced; will retry on the next event");
        } else {
            tracing::info!(namespace = ns, "namespace deleted");
        }
    }
}
