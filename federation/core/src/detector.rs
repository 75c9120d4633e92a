//! The resource detector's pure half (Karmada `pkg/detector`): which policy claims a resource
//! template, and the ResourceBinding / ClusterResourceBinding it produces.

use std::collections::BTreeMap;

use cceone_karmada_api::binding::{BINDING_API_VERSION, ObjectReference, ReplicaRequirements};
use cceone_karmada_api::{
    BindingSpec, ObjectMeta, PropagationPolicy, ResourceBinding, ResourceSelector,
};
use serde_json::{Value, json};

use crate::json::s;
use crate::names;
use crate::selector::{ImplicitPriority, resource_selectors_priority};

/// Picks the policy that claims a template, with Karmada's precedence
/// (`pkg/detector/compare.go`): a PropagationPolicy in the template's namespace beats any
/// ClusterPropagationPolicy; among policies of one kind the higher explicit `spec.priority`
/// wins, then the higher implicit priority of the best-matching selector (name > labelSelector >
/// apiVersion+kind only), then the alphabetically first name. Policies being deleted and
/// PropagationPolicies of other namespaces are skipped; cluster-scoped templates are only
/// claimed by ClusterPropagationPolicies.
pub fn select_policy<'a>(
    template: &Value,
    policies: &'a [PropagationPolicy],
    cluster_scoped_policies: &'a [PropagationPolicy],
) -> Option<&'a PropagationPolicy> {
    let namespace = s(template, "/metadata/namespace");
    if !namespace.is_empty() {
        let same_ns = policies.iter().filter(|p| p.namespace() == namespace);
        if let Some(p) = highest_priority(template, same_ns) {
            return Some(p);
        }
    }
    highest_priority(template, cluster_scoped_policies.iter())
}

/// The resource selectors of a policy (none when it has no spec).
pub fn selectors(policy: &PropagationPolicy) -> &[ResourceSelector] {
    policy.spec.as_ref().map_or(&[], |s| s.resource_selectors())
}

/// `getHighestPriorityPropagationPolicy`.
fn highest_priority<'a>(
    template: &Value,
    candidates: impl Iterator<Item = &'a PropagationPolicy>,
) -> Option<&'a PropagationPolicy> {
    let mut best: Option<(i64, ImplicitPriority, &'a PropagationPolicy)> = None;
    for policy in candidates {
        if policy.deleting() {
            continue;
        }
        let implicit = resource_selectors_priority(template, selectors(policy));
        if implicit == ImplicitPriority::MisMatch {
            continue;
        }
        let explicit = explicit_priority(policy);
        let better = match best {
            None => true,
            Some((e, i, current)) => {
                explicit > e
                    || (explicit == e
                        && (implicit > i || (implicit == i && policy.name() < current.name())))
            }
        };
        if better {
            best = Some((explicit, implicit, policy));
        }
    }
    best.map(|b| b.2)
}

/// A policy's `spec.priority` (0 when unset).
pub fn explicit_priority(policy: &PropagationPolicy) -> i64 {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.priority)
        .map_or(0, i64::from)
}

/// Karmada's binding name (`names.GenerateBindingName`): `<name>-<kind>` in lower case, with
/// `:` in the name replaced by `.` (e.g. `nginx-deployment`).
pub fn binding_name(kind: &str, name: &str) -> String {
    format!("{}-{}", name.replace(':', "."), kind).to_lowercase()
}

/// Whether a policy is a ClusterPropagationPolicy (rather than a PropagationPolicy).
pub fn is_cluster_policy(policy: &PropagationPolicy) -> bool {
    policy.kind == "ClusterPropagationPolicy"
        || (policy.kind.is_empty() && policy.namespace().is_empty())
}

/// Labels or annotations.
pub type StringMap = BTreeMap<String, String>;

/// The labels and annotations with which a policy claims a template and its binding
/// (`AddPPClaimMetadata` / `AddCPPClaimMetadata`): the policy's permanent id as a label (when
/// the policy carries one) and its name (and namespace) as annotations.
pub fn claim_metadata(policy: &PropagationPolicy) -> (StringMap, StringMap) {
    let (mut labels, mut annotations) = (StringMap::new(), StringMap::new());
    let name = policy.name().to_string();
    let id_label = if is_cluster_policy(policy) {
        annotations.insert(names::CPP_NAME_ANNOTATION.into(), name);
        names::CPP_PERMANENT_ID_LABEL
    } else {
        annotations.insert(
            names::PP_NAMESPACE_ANNOTATION.into(),
            policy.namespace().to_string(),
        );
        annotations.insert(names::PP_NAME_ANNOTATION.into(), name);
        names::PP_PERMANENT_ID_LABEL
    };
    if let Some(id) = policy.metadata.label(id_label) {
        labels.insert(id_label.into(), id.to_string());
    }
    (labels, annotations)
}

/// Builds the binding Karmada's detector would for a template claimed by a policy
/// (`BuildResourceBinding` / `BuildClusterResourceBinding`): a `work.karmada.io/v1alpha2`
/// ResourceBinding for a namespaced template (whichever policy kind claims it) or a
/// ClusterResourceBinding for a cluster-scoped one, named [`binding_name`], owned by the
/// template (controller reference), with Karmada's finalizer and claim metadata, and a spec
/// holding the resource reference, replicas and replica requirements
/// ([`crate::interpret::get_replicas`]), and the policy's placement, conflict resolution
/// (default `Abort`), scheduler name (default `default-scheduler`), propagateDeps, failover,
/// preserveResourcesOnDeletion and suspension. The binding's own permanent-id label
/// (`resourcebinding.karmada.io/permanent-id`) is left to the caller, which owns UUIDs.
pub fn build_binding(template: &Value, policy: &PropagationPolicy) -> ResourceBinding {
    let kind = s(template, "/kind");
    let name = s(template, "/metadata/name");
    let namespace = s(template, "/metadata/namespace");
    let policy_spec = policy.spec().into_owned();
    let (labels, annotations) = claim_metadata(policy);
    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let or = |v: &Option<String>, default: &str| {
        Some(
            v.clone()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string()),
        )
    };
    let (replicas, requirements) = crate::interpret::get_replicas(template);
    let spec = BindingSpec {
        resource: ObjectReference {
            api_version: s(template, "/apiVersion").to_string(),
            kind: kind.to_string(),
            namespace: nonempty(namespace),
            name: name.to_string(),
            uid: nonempty(s(template, "/metadata/uid")),
            resource_version: nonempty(s(template, "/metadata/resourceVersion")),
            ..ObjectReference::default()
        },
        conflict_resolution: or(&policy_spec.conflict_resolution, "Abort"),
        scheduler_name: or(&policy_spec.scheduler_name, names::DEFAULT_SCHEDULER),
        placement: Some(policy_spec.placement.clone().unwrap_or_default()),
        propagate_deps: policy_spec.propagate_deps,
        failover: policy_spec.failover.clone(),
        preserve_resources_on_deletion: policy_spec.preserve_resources_on_deletion,
        suspension: policy_spec.suspension.clone(),
        replicas: (replicas > 0).then_some(replicas),
        replica_requirements: requirements
            .and_then(|r| serde_json::from_value::<ReplicaRequirements>(r).ok()),
        ..BindingSpec::default()
    };

    let (binding_kind, finalizer) = if namespace.is_empty() {
        ("ClusterResourceBinding", names::CLUSTER_BINDING_FINALIZER)
    } else {
        ("ResourceBinding", names::BINDING_FINALIZER)
    };
    let mut metadata = ObjectMeta {
        name: Some(binding_name(kind, name)),
        namespace: nonempty(namespace),
        labels: (!labels.is_empty()).then_some(labels),
        annotations: Some(annotations),
        finalizers: Some(vec![finalizer.to_string()]),
        ..ObjectMeta::default()
    };
    metadata.extra.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": s(template, "/apiVersion"),
            "kind": kind,
            "name": name,
            "uid": s(template, "/metadata/uid"),
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    ResourceBinding {
        api_version: BINDING_API_VERSION.to_string(),
        kind: binding_kind.to_string(),
        metadata,
        spec: Some(spec),
        status: None,
        extra: Default::default(),
    }
}

/// Namespaces whose objects the detector never propagates by default (Karmada's
/// `--skipped-propagating-namespaces` default and its reserved namespaces): `kube-*`,
/// `karmada-system`, `karmada-cluster` and the execution spaces `karmada-es-*`.
pub fn is_skipped_namespace(namespace: &str) -> bool {
    namespace.starts_with("kube-")
        || namespace == "karmada-system"
        || namespace == "karmada-cluster"
        || namespace.starts_with(names::EXECUTION_SPACE_PREFIX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
