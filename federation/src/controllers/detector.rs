//! The detector: each resource template claimed by a PropagationPolicy (or
//! ClusterPropagationPolicy) gets a ResourceBinding (ClusterResourceBinding for cluster-scoped
//! templates) named `<name>-<kind>`, kept equal to what the policy says; the template carries
//! the claim's labels and annotations. Creation order does not matter: a template is looked at
//! again whenever a policy selecting its kind changes.
//!
//! A claim sticks, as in Karmada: a template stays with the policy that claimed it while that
//! policy still selects it, unless a policy with `preemption: Always` outranks it (a
//! PropagationPolicy over a ClusterPropagationPolicy, else a higher explicit priority). When
//! no policy selects a template any more (the policy was deleted or no longer matches), the
//! claim comes off the template and its binding, but the binding and the Works stay until the
//! template goes, as in Karmada.

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::detector::{
    StringMap, build_binding, claim_metadata, explicit_priority, is_cluster_policy,
    is_skipped_namespace, select_policy, selectors,
};
use cceone_federation_core::selector::{ImplicitPriority, resource_selectors_priority};
use cceone_federation_core::{crds, names};
use cceone_karmada_api::{OverridePolicy, PropagationPolicy};
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::error::Error;
use crate::json::{annotation, arr, deleting, label, merge_diff, obj, s, set};
use crate::resources::{self, TemplateKey};
use crate::runtime::{ObjKey, Requeue};
use crate::templates::Lookup;

/// Namespaces of the platform itself, never propagated (they hold bootstrap and user tokens).
const PLATFORM_NAMESPACES: &[&str] = &[
    cceone_platform::SYSTEM_NAMESPACE,
    cceone_platform::usertoken::NAMESPACE,
];
/// How soon to look again at a template whose old binding is still being deleted.
const BINDING_TERMINATING_RECHECK: Duration = Duration::from_millis(200);

/// How soon to look again at a template whose policy waits for dependent overrides.
const DEPENDENT_OVERRIDES_RECHECK: Duration = Duration::from_secs(1);

/// The policy's `dependentOverrides` that do not exist yet: OverridePolicies of the template's
/// namespace (ClusterOverridePolicies for a cluster-scoped template).
pub(crate) fn missing_overrides<'a>(
    policy: &'a PropagationPolicy,
    namespace: &str,
    ops: &[OverridePolicy],
    cops: &[OverridePolicy],
) -> Vec<&'a str> {
    let spec = policy.spec.as_ref();
    let wanted = spec
        .and_then(|s| s.dependent_overrides.as_deref())
        .unwrap_or(&[]);
    let exists = |name: &str| {
        if namespace.is_empty() {
            cops.iter().any(|p| p.name() == name && !p.deleting())
        } else {
            ops.iter()
                .any(|p| p.name() == name && p.namespace() == namespace && !p.deleting())
        }
    };
    wanted
        .iter()
        .map(String::as_str)
        .filter(|n| !exists(n))
        .collect()
}

/// The spec fields of a binding the detector owns (the scheduler owns `clusters`, the taint
/// manager `gracefulEvictionTasks`).
const OWNED_SPEC_FIELDS: &[&str] = &[
    "resource",
    "conflictResolution",
    "schedulerName",
    "placement",
    "propagateDeps",
    "failover",
    "preserveResourcesOnDeletion",
    "suspension",
    "replicas",
    "replicaRequirements",
];

/// The claim labels and annotations of both policy kinds.
const CLAIM_LABELS: &[&str] = &[names::PP_PERMANENT_ID_LABEL, names::CPP_PERMANENT_ID_LABEL];
const CLAIM_ANNOTATIONS: &[&str] = &[
    names::PP_NAME_ANNOTATION,
    names::PP_NAMESPACE_ANNOTATION,
    names::CPP_NAME_ANNOTATION,
];

fn selects(policy: &PropagationPolicy, template: &Value) -> bool {
    !policy.deleting()
        && resource_selectors_priority(template, selectors(policy)) != ImplicitPriority::MisMatch
}

/// The policy a binding records as its claimer, if it still exists.
fn claimer<'a>(
    binding: &Value,
    pps: &'a [PropagationPolicy],
    cpps: &'a [PropagationPolicy],
) -> Option<&'a PropagationPolicy> {
    if let Some(name) = annotation(binding, names::PP_NAME_ANNOTATION) {
        let ns = annotation(binding, names::PP_NAMESPACE_ANNOTATION).unwrap_or("");
        return pps.iter().find(|p| p.name() == name && p.namespace() == ns);
    }
    let name = annotation(binding, names::CPP_NAME_ANNOTATION)?;
    cpps.iter().find(|p| p.name() == name)
}

/// Whether `challenger` may take a template from `holder` (Karmada's preemption).
fn preempts(challenger: &PropagationPolicy, holder: &PropagationPolicy) -> bool {
    if challenger.spec().preemption.as_deref() != Some("Always") {
        return false;
    }
    match (is_cluster_policy(challenger), is_cluster_policy(holder)) {
        (false, true) => true,
        (true, false) => false,
        _ => explicit_priority(challenger) > explicit_priority(holder),
    }
}

/// The policy that claims a template: the current claimer while it still selects the
/// template and is not preempted, else the best match.
pub(crate) fn choose<'a>(
    template: &Value,
    pps: &'a [PropagationPolicy],
    cpps: &'a [PropagationPolicy],
    binding: Option<&Value>,
) -> Option<&'a PropagationPolicy> {
    let best = select_policy(template, pps, cpps);
    let current = binding
        .and_then(|b| claimer(b, pps, cpps))
        .filter(|p| selects(p, template))
        .filter(|p| is_cluster_policy(p) || !template_is_cluster_scoped(template));
    match (current, best) {
        (Some(c), Some(b)) if !std::ptr::eq(c, b) && preempts(b, c) => Some(b),
        (Some(c), _) => Some(c),
        (None, b) => b,
    }
}

fn template_is_cluster_scoped(template: &Value) -> bool {
    s(template, "/metadata/namespace").is_empty()
}

/// Whether a binding was made for this template (its `spec.resource`).
fn binds(binding: &Value, key: &TemplateKey) -> bool {
    TemplateKey::of_binding(binding)
        .is_some_and(|t| t.api_version == key.api_version && t.kind == key.kind && t.key == key.key)
}

/// `labels`/`annotations` with the claim keys set to `claim` (the other kind's removed).
fn with_claim(
    current: Option<&Map<String, Value>>,
    owned: &[&str],
    claim: &StringMap,
) -> Map<String, Value> {
    let mut out = current.cloned().unwrap_or_default();
    for k in owned {
        out.remove(*k);
    }
    out.extend(claim.iter().map(|(k, v)| (k.clone(), json!(v))));
    out
}

/// Labels or annotations of an object as strings (non-strings skipped).
fn strings(map: Option<&Map<String, Value>>) -> StringMap {
    map.into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Put (or, with `None`, take off) a policy's claim on the template; returns the template as
/// written.
async fn claim_template(
    ctx: &Ctx,
    key: &TemplateKey,
    template: Arc<Value>,
    policy: Option<&PropagationPolicy>,
) -> Result<Arc<Value>, Error> {
    let (labels, annotations) = policy.map(claim_metadata).unwrap_or_default();
    let project = |l: Map<String, Value>, a: Map<String, Value>| json!({"metadata": {"labels": l, "annotations": a}});
    let current = project(
        obj(&template, "/metadata/labels")
            .cloned()
            .unwrap_or_default(),
        obj(&template, "/metadata/annotations")
            .cloned()
            .unwrap_or_default(),
    );
    let desired = project(
        with_claim(obj(&template, "/metadata/labels"), CLAIM_LABELS, &labels),
        with_claim(
            obj(&template, "/metadata/annotations"),
            CLAIM_ANNOTATIONS,
            &annotations,
        ),
    );
    let Some(patch) = merge_diff(&current, &desired) else {
        return Ok(template);
    };
    let Some(cache) = ctx.templates.cache(&key.api_version, &key.kind) else {
        return Ok(template);
    };
    let written = ctx
        .writer
        .merge_patch(cache.resource(), &key.key, &patch, false)
        .await?;
    Ok(written)
}

/// Take a policy's claim (labels and annotations) off a binding no policy claims any more.
async fn release_binding(
    ctx: &Ctx,
    bar: &kube::api::ApiResource,
    bkey: &ObjKey,
    live: &Value,
) -> Result<(), Error> {
    let none = StringMap::new();
    let current = json!({"metadata": {
        "labels": obj(live, "/metadata/labels"),
        "annotations": obj(live, "/metadata/annotations"),
    }});
    let released = json!({"metadata": {
        "labels": with_claim(obj(live, "/metadata/labels"), CLAIM_LABELS, &none),
        "annotations": with_claim(obj(live, "/metadata/annotations"), CLAIM_ANNOTATIONS, &none),
    }});
    if let Some(mut patch) = merge_diff(&current, &released) {
        tracing::info!(binding = %bkey, "no policy claims the template any more; the binding stays, unclaimed");
        set(
            &mut patch,
            &["metadata", "resourceVersion"],
            json!(s(live, "/metadata/resourceVersion")),
        );
        ctx.writer.merge_patch(bar, bkey, &patch, false).await?;
    }
    Ok(())
}

/// What of a binding the detector compares and writes.
fn projection(binding: &Value) -> Value {
    json!({
        "metadata": {
            "labels": binding.pointer("/metadata/labels"),
            "annotations": binding.pointer("/metadata/annotations"),
            "ownerReferences": binding.pointer("/metadata/ownerReferences"),
            "finalizers": binding.pointer("/metadata/finalizers"),
        },
        "spec": binding.get("spec"),
    })
}

/// The live binding with the detector's part replaced by `desired`'s.
fn merged(live: &Value, desired: &Value) -> Value {
    let mut out = live.clone();
    let labels = with_claim(
        obj(live, "/metadata/labels"),
        CLAIM_LABELS,
        &strings(obj(desired, "/metadata/labels")),
    );
    let annotations = with_claim(
        obj(live, "/metadata/annotations"),
        CLAIM_ANNOTATIONS,
        &strings(obj(desired, "/metadata/annotations")),
    );
    set(&mut out, &["metadata", "labels"], Value::Object(labels));
    set(
        &mut out,
        &["metadata", "annotations"],
        Value::Object(annotations),
    );
    if let Some(owners) = desired.pointer("/metadata/ownerReferences") {
        set(&mut out, &["metadata", "ownerReferences"], owners.clone());
    }
    let mut finalizers: Vec<Value> = arr(live, "/metadata/finalizers").to_vec();
    for f in arr(desired, "/metadata/finalizers") {
        if !finalizers.contains(f) {
            finalizers.push(f.clone());
        }
    }
    set(
        &mut out,
        &["metadata", "finalizers"],
        Value::Array(finalizers),
    );
    for field in OWNED_SPEC_FIELDS {
        match desired.pointer(&format!("/spec/{field}")) {
            Some(v) if !v.is_null() => set(&mut out, &["spec", field], v.clone()),
            _ => {
                if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove(*field);
                }
            }
        }
    }
    out
}

/// Bring the binding of one template in line with the policy that claims it.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: TemplateKey) -> Result<Requeue, Error> {
    let bkey = ObjKey {
        namespace: key.key.namespace.clone(),
        name: cceone_federation_core::binding_name(&key.kind, &key.key.name),
    };
    let bar = resources::binding_for(&bkey);
    let existing = ctx.binding(&bkey).filter(|b| binds(b, &key));
    let template = match ctx.templates.get(&key) {
        Lookup::Found(t) => Some(t),
        Lookup::Missing => None,
        Lookup::UnknownKind => return Ok(None),
    };
    let Some(template) = template.filter(|t| !deleting(t)) else {
        if existing.is_some_and(|b| !deleting(&b)) {
            tracing::debug!(binding = %bkey, "template gone; deleting its binding");
            ctx.writer.delete(&bar, &bkey).await?;
        }
        return Ok(None);
    };
    let ns = key.key.ns();
    if is_skipped_namespace(ns) || PLATFORM_NAMESPACES.contains(&ns) {
        return Ok(None);
    }
    let pps: Vec<PropagationPolicy> = if ns.is_empty() {
        Vec::new()
    } else {
        ctx.pps.list_ns_as(ns)
    };
    let cpps: Vec<PropagationPolicy> = ctx.cpps.list_as();
    let Some(policy) = choose(&template, &pps, &cpps, existing.as_deref()) else {
        // As Karmada does (pkg/detector `HandlePropagationPolicyDeletion` and the clean-up of
        // bindings a policy no longer matches): the claim comes off the template and its
        // binding, but the binding — and with it what the members run — stays until the
        // template goes, and another policy may claim it.
        if let Some(live) = existing.as_ref().filter(|b| !deleting(b)) {
            release_binding(&ctx, &bar, &bkey, live).await?;
        }
        claim_template(&ctx, &key, template, None).await?;
        return Ok(None);
    };
    let missing = missing_overrides(policy, ns, &ctx.ops.list_ns_as(ns), &ctx.cops.list_as());
    if !missing.is_empty() {
        // Karmada's `dependentOverrides`: nothing propagates until the named OverridePolicies
        // exist, so the first Works already carry their overrides.
        tracing::info!(template = %key.key, kind = %key.kind, missing = ?missing, "waiting for the policy's dependent overrides");
        return Ok(Some(DEPENDENT_OVERRIDES_RECHECK));
    }
    let template = claim_template(&ctx, &key, template, Some(policy)).await?;
    if existing.as_ref().is_some_and(|b| deleting(b)) {
        return Ok(Some(BINDING_TERMINATING_RECHECK));
    }

    let mut desired = build_binding(&template, policy).to_value();
    let id_label = if bkey.namespace.is_some() {
        names::RB_PERMANENT_ID_LABEL
    } else {
        names::CRB_PERMANENT_ID_LABEL
    };
    let id = existing
        .as_deref()
        .and_then(|b| label(b, id_label))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    set(&mut desired, &["metadata", "labels", id_label], json!(id));
    crds::default_object(&mut desired);

    match existing {
        None => {
            if ctx.binding(&bkey).is_some() {
                // A binding of this name made for another template: leave it alone.
                tracing::warn!(binding = %bkey, "binding name taken by another template");
                return Ok(None);
            }
            tracing::debug!(binding = %bkey, "creating binding");
            ctx.writer.create(&bar, desired).await?;
        }
        Some(live) => {
            let mut want = merged(&live, &desired);
            // The template's resourceVersion alone moves with every status write and with
            // metadata Karmada ignores; carry it over only with a change that matters.
            let live_rv = live.pointer("/spec/resource/resourceVersion").cloned();
            let mut same_rv = want.clone();
            set(
                &mut same_rv,
                &["spec", "resource", "resourceVersion"],
                live_rv.unwrap_or(Value::Null),
            );
            if merge_diff(&projection(&live), &projection(&same_rv)).is_none() {
                want = same_rv;
            }
            if let Some(mut patch) = merge_diff(&projection(&live), &projection(&want)) {
                let rv = json!(s(&live, "/metadata/resourceVersion"));
                set(&mut patch, &["metadata", "resourceVersion"], rv);
                tracing::debug!(binding = %bkey, "updating binding");
                ctx.writer.merge_patch(&bar, &bkey, &patch, false).await?;
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
