//! The policy controller: a PropagationPolicy (ClusterPropagationPolicy) being deleted keeps
//! Karmada's finalizer until no resource template is claimed by it any more — the detector
//! takes the claim off each template it selected (and off its binding), leaving what the
//! members run in place — and then loses it, so `kubectl delete` returns once the policy has
//! really let go (Karmada's `HandlePropagationPolicyDeletion`, pkg/detector/policy.go, and its
//! PropagationPolicyControllerFinalizer).

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::names;
use serde_json::{Value, json};

use super::{Ctx, templates_selected_by};
use crate::error::Error;
use crate::json::{arr, deleting, label, s};
use crate::resources;
use crate::runtime::{ObjKey, Requeue};
use crate::templates::Lookup;

/// How soon to look again while templates still carry the policy's claim (the detector's
/// releases are under way).
const RECHECK: Duration = Duration::from_millis(200);

/// The finalizer and permanent-id label of a policy kind (a key without a namespace is a
/// ClusterPropagationPolicy).
fn kind_names(key: &ObjKey) -> (&'static str, &'static str) {
    if key.namespace.is_some() {
        (names::PP_FINALIZER, names::PP_PERMANENT_ID_LABEL)
    } else {
        (names::CPP_FINALIZER, names::CPP_PERMANENT_ID_LABEL)
    }
}

/// Whether a policy (with permanent id `id`) still claims any template.
fn claims_any(ctx: &Ctx, policy: &Value, id_label: &str, id: &str) -> bool {
    templates_selected_by(&ctx.templates, policy)
        .iter()
        .any(|key| match ctx.templates.get(key) {
            Lookup::Found(t) => label(&t, id_label) == Some(id),
            _ => false,
        })
}

/// Release one policy being deleted.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: ObjKey) -> Result<Requeue, Error> {
    let policy = if key.namespace.is_some() {
        ctx.pps.get(&key)
    } else {
        ctx.cpps.get(&key)
    };
    let Some(policy) = policy else {
        return Ok(None);
    };
    let (finalizer, id_label) = kind_names(&key);
    let all = arr(&policy, "/metadata/finalizers");
    if !deleting(&policy) || !all.iter().any(|f| f == finalizer) {
        return Ok(None);
    }
    if let Some(id) = label(&policy, id_label)
        && claims_any(&ctx, &policy, id_label, id)
    {
        return Ok(Some(RECHECK));
    }
    let rest: Vec<&Value> = all.iter().filter(|f| *f != finalizer).collect();
    let patch = json!({"metadata": {
        "resourceVersion": s(&policy, "/metadata/resourceVersion"),
        "finalizers": rest,
    }});
    let ar = if key.namespace.is_some() {
        resources::propagation_policy()
    } else {
        resources::cluster_propagation_policy()
    };
    tracing::info!(policy = %key, "no template claimed any more; policy released");
    match ctx.writer.merge_patch(&ar, &key, &patch, false).await {
        Err(e) if e.is_not_found() => Ok(None),
        other => other.map(|_| None),
    }
}
