//! The dependencies distributor (Karmada's `pkg/dependenciesdistributor`): for a
//! ResourceBinding with `propagateDeps`, the ConfigMaps, Secrets, ServiceAccounts and
//! PersistentVolumeClaims its workload references follow it to its clusters through attached
//! bindings ([`cceone_federation_core::dependencies`] holds the rules).
//!
//! Keyed by the independent binding. A reconcile records the workload's dependencies on the
//! binding, creates or updates the attached binding of each dependency that exists (its
//! snapshot of this binding's clusters in `requiredBy`, its depended-by label), and takes the
//! snapshot and label off attached bindings this binding no longer needs — all of them when the
//! binding is gone, terminating, or no longer asks for its dependencies.

use std::sync::Arc;

use cceone_federation_core::dependencies::{
    self as deps, DEPENDENCIES_ANNOTATION, DependentRef, depended_by_label,
    dependencies_annotation, has_dependency_hook, recorded_dependencies,
};
use cceone_karmada_api::ResourceBinding;
use cceone_karmada_api::binding::BindingSnapshot;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::Error;
use crate::json::s;
use crate::resources::TemplateKey;
use crate::runtime::{ObjKey, Requeue};
use crate::templates::Lookup;

/// Index value of the bindings whose `requiredBy` names `namespace/name`.
pub(crate) fn required_by_index(namespace: &str, name: &str) -> String {
    format!("requiredBy:{namespace}/{name}")
}

/// Index value of the bindings that recorded a dependency on `kind namespace/name`.
pub(crate) fn dependency_index(kind: &str, namespace: &str, name: &str) -> String {
    format!("dependency:{kind}:{namespace}/{name}")
}

/// The index values of a ResourceBinding: the bindings in its `requiredBy` and the
/// dependencies it recorded (none for almost every binding, so the index stays small).
pub(crate) fn index(binding: &Value) -> Vec<String> {
    let mut out: Vec<String> = crate::json::arr(binding, "/spec/requiredBy")
        .iter()
        .map(|r| required_by_index(s(r, "/namespace"), s(r, "/name")))
        .collect();
    out.extend(
        recorded_dependencies(binding)
            .iter()
            .map(|d| dependency_index(&d.kind, &d.namespace, &d.name)),
    );
    out
}

/// Distribute (or withdraw) one binding's dependencies.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: ObjKey) -> Result<Requeue, Error> {
    let Some(ns) = key.namespace.clone() else {
        // Karmada's distributor handles ResourceBindings only.
        return Ok(None);
    };
    let binding = ctx
        .rbs
        .get_as::<ResourceBinding>(&key)
        .filter(|b| !b.deleting() && b.spec().propagate_deps == Some(true));
    let Some(binding) = binding else {
        return withdraw(&ctx, &ns, &key.name, &[]).await.map(|()| None);
    };
    let Some(tkey) = TemplateKey::of_typed_binding(&binding) else {
        return Ok(None);
    };
    if !has_dependency_hook(&tkey.api_version, &tkey.kind) {
        return Ok(None);
    }
    if binding.spec().clusters.is_none() {
        // Not scheduled yet (Karmada waits for the first schedule too).
        return Ok(None);
    }
    let template = match ctx.templates.get(&tkey) {
        Lookup::Found(t) => t,
        Lookup::Missing => return Ok(None),
        Lookup::UnknownKind => return Ok(Some(super::binding::RETRY)),
    };
    let wanted = deps::dependencies(&template);
    record(&ctx, &key, &binding, &wanted).await?;
    withdraw(&ctx, &ns, &key.name, &wanted).await?;
    let mut requeue = None;
    for dep in &wanted {
        if !attach(&ctx, &binding, dep).await? {
            requeue = Some(super::binding::RETRY);
        }
    }
    Ok(requeue)
}

/// Record the dependencies on the independent binding (so a dependency created later finds
/// it), when they changed.
async fn record(
    ctx: &Ctx,
    key: &ObjKey,
    binding: &ResourceBinding,
    wanted: &[DependentRef],
) -> Result<(), Error> {
    let value = dependencies_annotation(wanted);
    if binding.metadata.annotation(DEPENDENCIES_ANNOTATION) == Some(value.as_str()) {
        return Ok(());
    }
    let patch = json!({"metadata": {
        "resourceVersion": binding.metadata.resource_version(),
        "annotations": {DEPENDENCIES_ANNOTATION: value},
    }});
    ctx.writer
        .merge_patch(ctx.rbs.resource(), key, &patch, false)
        .await?;
    Ok(())
}

/// Take the binding `namespace/name` off every attached binding that lists it but whose
/// resource is not in `keep`.
async fn withdraw(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    keep: &[DependentRef],
) -> Result<(), Error> {
    let attached: Vec<ResourceBinding> = ctx.rbs.by_index_as(&required_by_index(namespace, name));
    let (label, _) = depended_by_label(namespace, name);
    for a in attached {
        let r = &a.spec().resource;
        let kept = keep.iter().any(|d| {
            d.api_version == r.api_version
                && d.kind == r.kind
                && d.namespace == r.namespace()
                && d.name == r.name
        });
        if kept {
            continue;
        }
        let left = deps::without_snapshot(
            a.spec().required_by.as_deref().unwrap_or(&[]),
            namespace,
            name,
        );
        tracing::info!(binding = %format!("{namespace}/{name}"), dependency = %a.name(), "dependency no longer required by the binding");
        let patch = json!({
            "metadata": {
                "resourceVersion": a.metadata.resource_version(),
                "labels": {label.as_str(): Value::Null},
            },
            "spec": {"requiredBy": snapshots(left)},
        });
        let akey = ObjKey::new(a.namespace(), a.name());
        match ctx
            .writer
            .merge_patch(ctx.rbs.resource(), &akey, &patch, false)
            .await
        {
            Err(e) if e.is_not_found() => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// `requiredBy` as a merge patch sets it (null removes an empty list).
fn snapshots(list: Vec<BindingSnapshot>) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(list).unwrap_or(Value::Null)
    }
}

/// Create or update the attached binding of one dependency; false when it must be tried
/// again (the dependency's kind is not known yet).
async fn attach(ctx: &Ctx, binding: &ResourceBinding, dep: &DependentRef) -> Result<bool, Error> {
    let dkey = TemplateKey {
        api_version: dep.api_version.clone(),
        kind: dep.kind.clone(),
        key: ObjKey::new(&dep.namespace, dep.name.clone()),
    };
    let dependency = match ctx.templates.get(&dkey) {
        Lookup::Found(t) => t,
        // Not there (yet): when it is created, the recorded dependency brings us back.
        Lookup::Missing => return Ok(true),
        Lookup::UnknownKind => return Ok(false),
    };
    let akey = ObjKey::new(
        &dep.namespace,
        cceone_federation_core::binding_name(&dep.kind, &dep.name),
    );
    let snapshot = deps::snapshot(binding);
    let Some(existing) = ctx.rbs.get_as::<ResourceBinding>(&akey) else {
        tracing::info!(binding = %format!("{}/{}", binding.namespace(), binding.name()), dependency = %akey, "propagating a dependency with its workload");
        let attached = deps::attached_binding(binding, &dependency);
        match ctx.writer.create(ctx.rbs.resource(), attached).await {
            // Made meanwhile (by the detector or another binding): the next round updates it.
            Err(e) if e.is_already_exists() => return Ok(false),
            other => {
                other?;
            }
        }
        return Ok(true);
    };
    let r = &existing.spec().resource;
    if r.kind != dep.kind || r.name != dep.name || r.namespace() != dep.namespace {
        tracing::warn!(binding = %akey, "binding name taken by another object; dependency not attached");
        return Ok(true);
    }
    if existing.deleting() {
        return Ok(false);
    }
    let current = existing.spec().required_by.clone().unwrap_or_default();
    let merged = deps::with_snapshot(&current, snapshot);
    let (label, value) = depended_by_label(binding.namespace(), binding.name());
    if merged == current && existing.metadata.label(&label) == Some(value.as_str()) {
        return Ok(true);
    }
    let patch = json!({
        "metadata": {
            "resourceVersion": existing.metadata.resource_version(),
            "labels": {label: value},
        },
        "spec": {"requiredBy": snapshots(merged)},
    });
    ctx.writer
        .merge_patch(ctx.rbs.resource(), &akey, &patch, false)
        .await?;
    Ok(true)
}

/// The bindings to look at again when a dependency object comes or goes: those that recorded
/// it.
pub(crate) fn bindings_waiting_for(ctx: &Ctx, dependency: &Value) -> Vec<ObjKey> {
    let (kind, ns, name) = (
        s(dependency, "/kind"),
        s(dependency, "/metadata/namespace"),
        s(dependency, "/metadata/name"),
    );
    if !deps::is_dependency_kind(s(dependency, "/apiVersion"), kind) {
        return Vec::new();
    }
    ctx.rbs
        .by_index_as::<Value>(&dependency_index(kind, ns, name))
        .iter()
        .filter_map(ObjKey::of)
        .collect()
}
