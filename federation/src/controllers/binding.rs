//! The binding controller: a binding's template, revised to each target cluster's replicas and
//! overridden by the OverridePolicies and ClusterOverridePolicies that apply there, becomes one
//! Work per target cluster in its execution space. Works of clusters no longer targeted go
//! (those of a graceful eviction stay until it ends); a binding being deleted loses its Works,
//! then its finalizer. An override change re-renders the Works it touches.
//!
//! After dispatching it settles graceful evictions ([`super::eviction`]).
//!
//! Works carry Karmada's `karmada.io/execution-controller` finalizer from their creation: a
//! deleted Work stays, terminating, until the hub has heard from the agent that the member let
//! go of its objects (or, for a cluster that left, until the cluster controller releases it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::interpret::get_replicas;
use cceone_federation_core::work::{build_work, execution_space, work_name};
use cceone_federation_core::{crds, names};
use cceone_karmada_api::{OverridePolicy, ResourceBinding, Work};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Ctx;
use super::eviction::settle_tasks;
use crate::error::Error;
use crate::json::{deleting, merge_diff, obj, revision, s, set};
use crate::resources::{self, TemplateKey};
use crate::runtime::{ObjKey, Requeue};
use crate::templates::Lookup;

/// How soon to try again when a template kind is not watched yet or an override failed.
pub(crate) const RETRY: Duration = Duration::from_secs(1);

/// Annotations the binding controller owns on a Work (removed when no longer computed).
const OWNED_ANNOTATIONS: &[&str] = &[
    names::APPLIED_OVERRIDES_ANNOTATION,
    names::APPLIED_CLUSTER_OVERRIDES_ANNOTATION,
];

/// A Work as the binding controller writes it: with the schema defaults the API server would
/// add, so that comparing with the stored Work is exact.
fn finish(mut work: Value) -> Value {
    crds::default_object(&mut work);
    work
}

/// What of a Work the binding controller compares and writes.
fn projection(work: &Value) -> Value {
    json!({
        "metadata": {
            "labels": work.pointer("/metadata/labels"),
            "annotations": work.pointer("/metadata/annotations"),
        },
        "spec": work.get("spec"),
    })
}

/// The live Work with the controller's labels, annotations and spec from `desired`.
fn merged(live: &Value, desired: &Value) -> Value {
    let mut labels = obj(live, "/metadata/labels").cloned().unwrap_or_default();
    labels.extend(
        obj(desired, "/metadata/labels")
            .cloned()
            .unwrap_or_default(),
    );
    let mut annotations = obj(live, "/metadata/annotations")
        .cloned()
        .unwrap_or_default();
    for k in OWNED_ANNOTATIONS {
        annotations.remove(*k);
    }
    annotations.extend(
        obj(desired, "/metadata/annotations")
            .cloned()
            .unwrap_or_default(),
    );
    json!({
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": desired.get("spec"),
    })
}

/// What [`ensure_work`] did to one Work.
enum Ensured {
    /// It was as computed already.
    Unchanged,
    /// It was written; the API answered this resourceVersion.
    Written(u64),
    /// It is still to be written (it is being deleted, or an earlier write is not seen yet).
    Pending,
}

/// Create or update one Work.
async fn ensure_work(ctx: &Ctx, key: &ObjKey, desired: Value) -> Result<Ensured, Error> {
    let war = resources::work();
    let written = |w: Arc<Value>| Ensured::Written(revision(&w));
    match ctx.works.get(key) {
        None => {
            tracing::debug!(work = %key, "creating work");
            match ctx.writer.create(&war, desired).await {
                // Created by an earlier pass whose write the cache has yet to see: its watch
                // event brings the binding back here to compare.
                Err(e) if e.is_already_exists() => Ok(Ensured::Pending),
                other => other.map(written),
            }
        }
        Some(live) if deleting(&live) => Ok(Ensured::Pending),
        Some(live) => {
            // The cache holds Works projected (`resources::project_work`): compare like with
            // like, then send the manifests themselves if they differ.
            let mut want = merged(&live, &desired);
            resources::project_work(&mut want);
            let Some(mut patch) = merge_diff(&projection(&live), &want) else {
                return Ok(Ensured::Unchanged);
            };
            if let Some(workload) = patch
                .pointer_mut("/spec/workload")
                .and_then(Value::as_object_mut)
                && workload.remove(resources::MANIFESTS_DIGEST).is_some()
            {
                let manifests = desired
                    .pointer("/spec/workload/manifests")
                    .cloned()
                    .unwrap_or_else(|| json!([]));
                workload.insert("manifests".into(), manifests);
            }
            {
                let rv = json!(s(&live, "/metadata/resourceVersion"));
                set(&mut patch, &["metadata", "resourceVersion"], rv);
                tracing::debug!(work = %key, "updating work");
                let w = ctx.writer.merge_patch(&war, key, &patch, false).await?;
                Ok(written(w))
            }
        }
    }
}

/// What a dispatch reads, folded into one number: the binding's identity, spec generation,
/// schedule and labels, the template's resourceVersion, the override policies' and the
/// Clusters' revisions, and the binding's Works by key and resourceVersion. A binding whose
/// fingerprint is the one its last complete dispatch left needs no dispatch: its Works are
/// as computed (every Work of ours that goes in re-queues the binding, and without this
/// each of those passes rebuilt and compared every Work of the binding again).
///
/// `works` feeds the Works part (the cache's, or what a dispatch just wrote).
fn fingerprint(
    ctx: &Ctx,
    key: &ObjKey,
    binding: &ResourceBinding,
    template: &Value,
    cluster_generation: u64,
    works: impl FnOnce(&mut std::hash::DefaultHasher),
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    binding.metadata.uid.hash(&mut h);
    binding.metadata.generation.hash(&mut h);
    binding.metadata.labels.hash(&mut h);
    binding.scheduler_observed_generation().hash(&mut h);
    revision(template).hash(&mut h);
    cluster_generation.hash(&mut h);
    ctx.ops.hash_revisions(key.namespace.as_deref(), &mut h);
    ctx.cops.hash_revisions(None, &mut h);
    works(&mut h);
    h.finish()
}

/// The key of a Work.
fn work_key(w: &Work) -> ObjKey {
    ObjKey::new(w.namespace(), w.name())
}

/// Delete every Work of a binding not in `keep`; whether any was not kept.
async fn prune(ctx: &Ctx, works: &[Work], keep: &HashSet<ObjKey>) -> Result<bool, Error> {
    let mut any = false;
    for w in works {
        let k = work_key(w);
        if !keep.contains(&k) {
            any = true;
            if !w.deleting() {
                tracing::debug!(work = %k, "deleting work");
                ctx.writer.delete(&resources::work(), &k).await?;
            }
        }
    }
    Ok(any)
}

/// The Work keys of the clusters a graceful eviction still holds on to.
fn evicting(binding: &ResourceBinding, works: &[Work]) -> HashSet<ObjKey> {
    let mut keep = HashSet::new();
    for task in binding.spec().graceful_eviction_tasks() {
        if matches!(task.purge_mode(), "Immediately" | "Directly") {
            continue;
        }
        let space = execution_space(&task.from_cluster);
        keep.extend(works.iter().map(work_key).filter(|k| k.ns() == space));
    }
    keep
}

/// Whether the binding is up to date with its template and scheduled for its current spec,
/// so that a template change is dispatched once, with its new schedule, rather than first with
/// the old one. A template going or replaced waits for the detector too.
fn current(binding: &ResourceBinding, template: &Value) -> bool {
    let spec = binding.spec();
    let uid = spec.resource.uid();
    let (replicas, _) = get_replicas(template);
    // A binding no policy places (an attached binding of dependencies) is never scheduled:
    // its clusters are those of the bindings that require it.
    let scheduled = spec.placement.is_none()
        || binding.scheduler_observed_generation() >= binding.metadata.generation;
    !deleting(template)
        && (uid.is_empty() || uid == s(template, "/metadata/uid"))
        && spec.replicas.unwrap_or(0) == replicas
        && scheduled
}

/// The replicas a Work holds now (its manifest's `spec.replicas`), if any.
fn held_replicas(work: &Work) -> Option<i32> {
    let replicas = work
        .manifests()
        .first()?
        .pointer("/spec/replicas")?
        .as_i64()?;
    i32::try_from(replicas).ok()
}

/// The ready replicas a cluster reports of its Work's current generation (0 until it has).
fn reported_ready(work: &Work) -> i64 {
    let current = work.applied().is_some_and(|c| {
        c.status == "True"
            && c.observed_generation.is_some()
            && c.observed_generation == work.metadata.generation
    });
    if !current {
        return 0;
    }
    work.status
        .as_ref()
        .and_then(|s| s.manifest_statuses.as_ref())
        .and_then(|m| m.first())
        .and_then(|m| m.status.as_ref())
        .and_then(|s| s.get("readyReplicas"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A move of replicas between clusters never drops the workload below its total: while a
/// Ready cluster whose share grew does not yet report that many ready replicas (of the Work it
/// was sent), the clusters whose share shrinks keep their old share (`targets` is changed so).
/// The growing shares are remembered in `moving` until ready (in memory: after a restart a
/// move in progress finishes without the hold). True while holding. Unless some share shrinks
/// this is one map lookup per target.
fn hold_shrinking(
    ctx: &Ctx,
    key: &ObjKey,
    binding: &ResourceBinding,
    works: &[Work],
    targets: &mut [cceone_karmada_api::TargetCluster],
) -> bool {
    if !binding.spec().is_workload() {
        return false;
    }
    let by_cluster: std::collections::HashMap<&str, &Work> = works
        .iter()
        .filter(|w| !w.deleting())
        .filter_map(|w| Some((w.cluster()?, w)))
        .collect();
    let held = |cluster: &str| by_cluster.get(cluster).and_then(|w| held_replicas(w));
    // Nothing shrinks (a first dispatch, a scale-up, a steady state): nothing to hold.
    let shrinks = targets
        .iter()
        .any(|t| held(&t.name).is_some_and(|h| t.replicas.unwrap_or(0) < h));
    let mut moving = ctx.moving.lock();
    if !shrinks {
        moving.remove(key);
        return false;
    }
    let grows_now = targets
        .iter()
        .any(|t| t.replicas.unwrap_or(0) > held(&t.name).unwrap_or(0));
    if !grows_now && !moving.contains_key(key) {
        return false;
    }
    let earlier = moving.remove(key).unwrap_or_default();
    let clusters = ctx.cluster_values();
    let pending: Vec<(String, i32)> = targets
        .iter()
        .filter_map(|t| {
            let want = t.replicas.unwrap_or(0);
            let grows = want > held(&t.name).unwrap_or(0)
                || earlier.iter().any(|(c, w)| *c == t.name && *w == want);
            let ready = || {
                by_cluster
                    .get(t.name.as_str())
                    .map_or(0, |w| reported_ready(w))
            };
            let ready_cluster = || {
                clusters
                    .iter()
                    .any(|c| c.name() == t.name && c.ready_status() == "True")
            };
            (grows && ready_cluster() && ready() < i64::from(want)).then(|| (t.name.clone(), want))
        })
        .collect();
    if pending.is_empty() {
        return false;
    }
    let mut holding = false;
    for t in targets.iter_mut() {
        if let Some(h) = held(&t.name)
            && t.replicas.unwrap_or(0) < h
        {
            t.replicas = Some(h);
            holding = true;
        }
    }
    if holding {
        moving.insert(key.clone(), pending);
    }
    holding
}

/// Dispatch one binding's Works.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: ObjKey) -> Result<Requeue, Error> {
    let index = resources::binding_index(&key);
    let works = || -> Vec<Work> { ctx.works.by_index_as(&index) };
    let Some(binding) = ctx.binding_as(&key) else {
        ctx.moving.lock().remove(&key);
        ctx.dispatched.lock().remove(&key);
        prune(&ctx, &works(), &HashSet::new()).await?;
        return Ok(None);
    };
    let bar = resources::binding_for(&key);
    if binding.deleting() {
        ctx.dispatched.lock().remove(&key);
        prune(&ctx, &works(), &HashSet::new()).await?;
        let finalizer = if key.namespace.is_some() {
            names::BINDING_FINALIZER
        } else {
            names::CLUSTER_BINDING_FINALIZER
        };
        let all = binding.metadata.finalizers();
        let finalizers: Vec<&String> = all.iter().filter(|f| *f != finalizer).collect();
        if finalizers.len() != all.len() {
            let patch = json!({"metadata": {
                "resourceVersion": binding.metadata.resource_version(),
                "finalizers": finalizers,
            }});
            match ctx.writer.merge_patch(&bar, &key, &patch, false).await {
                Err(e) if e.is_not_found() => {}
                other => {
                    other?;
                }
            }
        }
        return Ok(None);
    }
    let Some(tkey) = TemplateKey::of_typed_binding(&binding) else {
        return Ok(None);
    };
    let template = match ctx.templates.get(&tkey) {
        Lookup::Found(t) => t,
        Lookup::Missing => return Ok(None),
        Lookup::UnknownKind => return Ok(Some(RETRY)),
    };
    if !current(&binding, &template) {
        // The detector or the scheduler has yet to catch up; their writes bring us back.
        return Ok(None);
    }
    // Read before anything a dispatch depends on, so a change made while it runs is seen next.
    let cluster_generation = ctx.cluster_generation();
    let before = fingerprint(&ctx, &key, &binding, &template, cluster_generation, |h| {
        ctx.works.hash_index_revisions(&index, h)
    });
    if ctx.dispatched.lock().get(&key) == Some(&before) {
        return Ok(None);
    }
    ctx.dispatched.lock().remove(&key);
    let works = works();
    let mut overrides: Vec<OverridePolicy> = match &key.namespace {
        Some(ns) => ctx.ops.list_ns_as(ns),
        None => Vec::new(),
    };
    overrides.extend(ctx.cops.list_as::<OverridePolicy>());

    let mut keep = HashSet::new();
    let mut requeue = None;
    let mut settled = true;
    let (kind, name, ns) = (
        s(&template, "/kind"),
        s(&template, "/metadata/name"),
        s(&template, "/metadata/namespace"),
    );
    let mut desired = Vec::new();
    let clusters = ctx.cluster_values();
    // Its own clusters and those of the bindings that require it (`mergeTargetClusters`).
    let mut targets = cceone_federation_core::dependencies::target_clusters(&binding);
    if hold_shrinking(&ctx, &key, &binding, &works, &mut targets) {
        settled = false;
        requeue = Some(RETRY);
    }
    for target in &targets {
        let wkey = ObjKey::new(&execution_space(&target.name), work_name(kind, name, ns));
        let Some(cluster) = clusters.iter().find(|c| c.name() == target.name) else {
            // The scheduler will move the binding off a cluster that is gone.
            keep.insert(wkey);
            settled = false;
            continue;
        };
        // The Work keeps the permanent id it was created with (Karmada's Work webhook sets
        // one when absent); a new Work gets a fresh one.
        let work_id = works
            .iter()
            .find(|w| work_key(w) == wkey)
            .and_then(|w| w.metadata.label(names::WORK_PERMANENT_ID_LABEL))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        match build_work(&binding, &template, target, cluster, &overrides, &work_id) {
            Ok(work) => {
                let work = finish(work.to_value());
                let wkey = ObjKey::of(&work).unwrap_or(wkey);
                keep.insert(wkey.clone());
                desired.push((wkey, work));
            }
            Err(e) => {
                // Keep what the cluster has rather than dispatch a manifest without its overrides.
                tracing::warn!(binding = %key, cluster = %target.name, error = %e, "overrides failed; work not updated");
                keep.insert(wkey);
                settled = false;
                requeue = Some(RETRY * 5);
            }
        }
    }

    // Write every cluster's Work at once: the writes are independent, and the store commits
    // concurrent writes together, so a binding across 100 clusters costs about one round trip
    // rather than 100.
    let ctx_ref: &Ctx = &ctx;
    let written = futures::future::join_all(desired.into_iter().map(|(wkey, work)| async move {
        let ensured = ensure_work(ctx_ref, &wkey, work).await;
        (wkey, ensured)
    }))
    .await;
    // Each Work's revision once this dispatch is done; `None` if one is still to be written.
    let mut after: Option<std::collections::BTreeMap<ObjKey, u64>> = Some(
        works
            .iter()
            .map(|w| {
                (
                    work_key(w),
                    w.metadata.resource_version().parse().unwrap_or(0),
                )
            })
            .collect(),
    );
    for (wkey, w) in written {
        match w? {
            Ensured::Unchanged => {}
            Ensured::Written(rv) => {
                settled = false;
                if let Some(after) = after.as_mut() {
                    after.insert(wkey, rv);
                }
            }
            Ensured::Pending => {
                settled = false;
                after = None;
            }
        }
    }

    let mut binding = binding;
    let (tasks, recheck) = settle_tasks(
        &binding,
        &works,
        settled,
        Timestamp::now(),
        ctx.settings.graceful_eviction_timeout,
    );
    if let Some(tasks) = tasks {
        tracing::info!(binding = %key, remaining = tasks.len(), "graceful eviction settled");
        let tasks = (!tasks.is_empty()).then_some(tasks);
        let patch = json!({
            "metadata": {"resourceVersion": binding.metadata.resource_version()},
            "spec": {"gracefulEvictionTasks": tasks},
        });
        let written = ctx.writer.merge_patch(&bar, &key, &patch, false).await?;
        binding = ResourceBinding::from_value(&written)?;
    }
    let evictions = !binding.spec().graceful_eviction_tasks().is_empty();
    keep.extend(evicting(&binding, &works));
    let pruned = prune(&ctx, &works, &keep).await?;
    // A complete dispatch (nothing held, retried, evicting, pruned or pending) leaves its
    // fingerprint, the Works as it wrote them, so that the passes its own writes trigger
    // stop here.
    if let Some(after) = after
        && requeue.is_none()
        && recheck.is_none()
        && !evictions
        && !pruned
        && after.keys().all(|k| keep.contains(k))
        && keep.iter().all(|k| after.contains_key(k))
    {
        use std::hash::Hash;
        let done = fingerprint(&ctx, &key, &binding, &template, cluster_generation, |h| {
            for (k, rv) in &after {
                k.hash(h);
                rv.hash(h);
            }
        });
        ctx.dispatched.lock().insert(key, done);
    }
    Ok(requeue.or(recheck))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merged_keeps_foreign_metadata_and_drops_stale_override_annotations() {
        let live = json!({"metadata": {
            "labels": {"a": "1"},
            "annotations": {"x": "keep", names::APPLIED_OVERRIDES_ANNOTATION: "[old]"}},
            "spec": {"workload": {"manifests": [{"kind": "Deployment"}]}}});
        let desired = json!({"metadata": {"labels": {"b": "2"}, "annotations": {"y": "new"}},
            "spec": {"workload": {"manifests": [{"kind": "Deployment", "spec": {"replicas": 2}}]}}});
        let m = merged(&live, &desired);
        assert_eq!(m["metadata"]["labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(
            m["metadata"]["annotations"],
            json!({"x": "keep", "y": "new"})
        );
        let patch = merge_diff(&projection(&live), &m).unwrap();
        assert_eq!(
            patch["metadata"]["annotations"],
            json!({names::APPLIED_OVERRIDES_ANNOTATION: null, "y": "new"})
        );
        assert_eq!(merge_diff(&projection(&m), &merged(&m, &desired)), None);
    }

    #[test]
    fn finished_works_keep_the_execution_finalizer() {
        let w = finish(
            json!({"apiVersion": "work.karmada.io/v1alpha1", "kind": "Work",
            "metadata": {"name": "w", "finalizers": [names::EXECUTION_FINALIZER]}, "spec": {}}),
        );
        assert_eq!(
            w["metadata"]["finalizers"],
            json!([names::EXECUTION_FINALIZER])
        );
    }
}
