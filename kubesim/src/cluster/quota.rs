//! ResourceQuota status, as kube-controller-manager's resource quota controller keeps it
//! (`pkg/controller/resourcequota`): `status.hard` follows the spec, and `status.used` is
//! recounted from the namespace's objects only when usage can have gone down or the quota
//! itself changed, never on a create.
//!
//! Why not on every change: quota admission charges a create to `status.used` before the
//! object is stored, so a recount that lists the objects in between counts one less than is
//! charged, and the next create is let in over the quota (a ReplicaSet of three under
//! `pods: 2` got all three when the machine was busy). Upstream's quota monitor has no add
//! handler for this reason: it replenishes on deletes and on updates that release usage
//! (`resource_quota_monitor.go` with `replenishmentFunc`, the update filter of
//! `resource_quota_controller.go`), recounts a quota whose spec changed, and resyncs every
//! quota every five minutes (`--resource-quota-sync-period`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cceone_kube_apiserver::admission::quota;
use cceone_kube_apiserver::core::{WatchItem, WatchOptions};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Core, meta};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{key, list, opts};

/// Every quota is recounted this often even when nothing was seen to release usage (the
/// default `--resource-quota-sync-period`).
const FULL_RESYNC: Duration = Duration::from_secs(5 * 60);

/// The mark in the dirty set that asks for every quota to be recounted (no namespace is
/// named so).
const ALL: &str = "";

/// What the quota controller keeps between passes.
pub(super) struct QuotaState {
    /// Namespaces whose quotas must be recounted, filled by the watchers.
    dirty: Arc<parking_lot::Mutex<HashSet<String>>>,
    /// The kinds (group, plural) watched for releases.
    watched: HashSet<(String, String)>,
    /// When every quota was last recounted.
    last_full: Instant,
}

impl Default for QuotaState {
    fn default() -> Self {
        QuotaState {
            dirty: Arc::default(),
            watched: HashSet::new(),
            // The first pass recounts everything (a restart may have missed deletes).
            last_full: Instant::now() - FULL_RESYNC,
        }
    }
}

/// The API version the quota controller lists a group's objects in.
fn version_of(group: &str) -> &'static str {
    if group == "autoscaling" { "v2" } else { "v1" }
}

/// One pass: watch what the quotas count, and recount the quotas that need it.
pub(super) async fn sync(
    core: &Arc<Core>,
    quotas: &[Value],
    state: &mut QuotaState,
    wake: &Arc<Notify>,
) {
    for q in quotas {
        for k in quota::from_json(q.pointer("/spec/hard")).keys() {
            let Some(kind) = quota::resource_of(k) else {
                continue;
            };
            if state.watched.contains(&kind) {
                continue;
            }
            if let Ok(res) = core.resource(&kind.0, version_of(&kind.0), &kind.1) {
                tokio::spawn(watch_releases(
                    Arc::clone(core),
                    res,
                    Arc::clone(&state.dirty),
                    Arc::clone(wake),
                ));
            }
            state.watched.insert(kind);
        }
    }
    let dirty = std::mem::take(&mut *state.dirty.lock());
    let full = state.last_full.elapsed() >= FULL_RESYNC || dirty.contains(ALL);
    if full {
        state.last_full = Instant::now();
    }
    for q in quotas {
        let ns = meta::namespace(q).unwrap_or_default();
        if !(full || dirty.contains(ns) || spec_changed(q)) {
            continue;
        }
        if let Err(e) = recount(core, q).await {
            tracing::debug!(error = %e, "quota status");
        }
    }
}

/// A new quota, or one whose hard limits changed (`updateQuota`'s check), or whose usage of
/// a limited resource is unknown.
fn spec_changed(q: &Value) -> bool {
    let hard = quota::from_json(q.pointer("/spec/hard"));
    let used = quota::from_json(q.pointer("/status/used"));
    hard != quota::from_json(q.pointer("/status/hard"))
        || hard.keys().any(|k| !used.contains_key(k))
}

/// Watch one kind and mark the namespaces where usage may have been released: any delete, a
/// pod that finished (`QuotaV1Pod` turned false), a Service whose quota type changed
/// (`GetQuotaServiceType`; its watch starts with a list so the types are known).
async fn watch_releases(
    core: Arc<Core>,
    res: Arc<ResourceInfo>,
    dirty: Arc<parking_lot::Mutex<HashSet<String>>>,
    wake: Arc<Notify>,
) {
    let pods = res.group.is_empty() && res.plural == "pods";
    let services = res.group.is_empty() && res.plural == "services";
    loop {
        // Service uid → its type when it takes node ports or a load balancer.
        let mut types: HashMap<String, Option<String>> = HashMap::new();
        let opts = WatchOptions {
            resource_version: (!services).then(|| core.store.current_revision().to_string()),
            ..Default::default()
        };
        match core.watch(&res, None, opts).await {
            Ok(mut rx) => {
                while let Some(item) = rx.recv().await {
                    let released = match &item {
                        WatchItem::Deleted(b) => Some(b),
                        // A finished pod's phase is in its bytes; the rest need no parse.
                        WatchItem::Modified(b) if pods && finished(b) => Some(b),
                        WatchItem::Added(b) | WatchItem::Modified(b) if services => {
                            service_type_changed(&mut types, b).then_some(b)
                        }
                        _ => None,
                    };
                    if let Some(ns) = released.and_then(|b| namespace_of(b)) {
                        dirty.lock().insert(ns);
                        wake.notify_one();
                    }
                }
            }
            Err(e) => {
                tracing::debug!(resource = %res.qualified(), error = %e, "quota watch failed")
            }
        }
        // What happened while the watch was down is found by recounting everything.
        dirty.lock().insert(ALL.to_string());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn finished(bytes: &[u8]) -> bool {
    let has = |s: &[u8]| bytes.windows(s.len()).any(|w| w == s);
    has(br#""phase":"Succeeded""#) || has(br#""phase":"Failed""#)
}

fn namespace_of(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    meta::namespace(&v).map(String::from)
}

/// Record a Service's quota type; whether it differs from the one seen before.
fn service_type_changed(types: &mut HashMap<String, Option<String>>, bytes: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let ty = v
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .filter(|t| matches!(*t, "NodePort" | "LoadBalancer"))
        .map(String::from);
    let uid = meta::uid(&v).unwrap_or_default().to_string();
    types
        .insert(uid, ty.clone())
        .is_some_and(|before| before != ty)
}

/// `status.hard` from the spec and `status.used` recounted from the namespace's objects.
async fn recount(core: &Arc<Core>, q: &Value) -> Result<(), ApiError> {
    let (ns, name) = key(q);
    let hard = quota::from_json(q.pointer("/spec/hard"));
    let scoped = quota::Quota::from_object(q);
    let mut used = quota::ResourceList::new();
    let mut counted: BTreeMap<(String, String), quota::ResourceList> = BTreeMap::new();
    for k in hard.keys() {
        let Some((group, plural)) = quota::resource_of(k) else {
            continue;
        };
        let slot = (group.clone(), plural.clone());
        if let std::collections::btree_map::Entry::Vacant(e) = counted.entry(slot) {
            let mut total = quota::ResourceList::new();
            if let Ok(objs) = list(core, &group, version_of(&group), &plural, Some(&ns)).await {
                for o in objs.iter().filter(|o| scoped.matches(&plural, o)) {
                    for (rk, rv) in quota::usage(&group, &plural, o) {
                        *total.entry(rk).or_default() += rv;
                    }
                }
            }
            e.insert(total);
        }
        let amount = counted[&(group, plural)]
            .get(k)
            .copied()
            .unwrap_or_default();
        used.insert(k.clone(), amount);
    }
    let status = json!({"hard": quota::to_json(&hard), "used": quota::to_json(&used)});
    if q.get("status") == Some(&status) {
        return Ok(());
    }
    let mut new = q.clone();
    new["status"] = status;
    let res = core.resource("", "v1", "resourcequotas")?;
    match core
        .update(&res, Some(&ns), &name, Some("status"), new, &opts())
        .await
    {
        Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_told_from_the_bytes() {
        assert!(finished(br#"{"status":{"phase":"Succeeded"}}"#));
        assert!(!finished(br#"{"status":{"phase":"Running"}}"#));
        let mut types = HashMap::new();
        let svc = |ty: &str| format!(r#"{{"metadata":{{"uid":"u"}},"spec":{{"type":"{ty}"}}}}"#);
        assert!(!service_type_changed(
            &mut types,
            svc("NodePort").as_bytes()
        ));
        assert!(!service_type_changed(
            &mut types,
            svc("NodePort").as_bytes()
        ));
        assert!(service_type_changed(
            &mut types,
            svc("ClusterIP").as_bytes()
        ));
        // ClusterIP and ExternalName take neither: no change for quota.
        assert!(!service_type_changed(
            &mut types,
            svc("ExternalName").as_bytes()
        ));
    }
}
