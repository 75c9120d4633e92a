//! The resource detector's pure half (Karmada `pkg/detector`): which policy claims a resource
//! template, and the ResourceBinding / ClusterResourceBinding it produces.

use serde_json::{Map, Value, json};

use crate::json::{obj, s};
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
    policies: &'a [Value],
    cluster_scoped_policies: &'a [Value],
) -> Option<&'a Value> {
    let namespace = s(template, "/metadata/namespace");
    if !namespace.is_empty() {
        let same_ns = policies
            .iter()
            .filter(|p| s(p, "/metadata/namespace") == namespace);
        if let Some(p) = highest_priority(template, same_ns) {
            return Some(p);
        }
    }
    highest_priority(template, cluster_scoped_policies.iter())
}

/// `getHighestPriorityPropagationPolicy`.
fn highest_priority<'a>(
    template: &Value,
    candidates: impl Iterator<Item = &'a Value>,
) -> Option<&'a Value> {
    let mut best: Option<(i64, ImplicitPriority, &'a Value)> = None;
    for policy in candidates {
        if crate::json::present(policy, "/metadata/deletionTimestamp") {
            continue;
        }
        let implicit = resource_selectors_priority(
            template,
            crate::json::arr(policy, "/spec/resourceSelectors"),
        );
        if implicit == ImplicitPriority::MisMatch {
            continue;
        }
        let explicit = explicit_priority(policy);
        let better = match best {
            None => true,
            Some((e, i, current)) => {
                explicit > e
                    || (explicit == e
                        && (implicit > i
                            || (implicit == i
                                && s(policy, "/metadata/name") < s(current, "/metadata/name"))))
            }
        };
        if better {
            best = Some((explicit, implicit, policy));
        }
    }
    best.map(|b| b.2)
}

/// A policy's `spec.priority` (0 when unset).
pub fn explicit_priority(policy: &Value) -> i64 {
    crate::json::int(policy, "/spec/priority").unwrap_or(0)
}

/// Karmada's binding name (`names.GenerateBindingName`): `<name>-<kind>` in lower case, with
/// `:` in the name replaced by `.` (e.g. `nginx-deployment`).
pub fn binding_name(kind: &str, name: &str) -> String {
    format!("{}-{}", name.replace(':', "."), kind).to_lowercase()
}

/// Whether a policy is a ClusterPropagationPolicy (rather than a PropagationPolicy).
fn is_cluster_policy(policy: &Value) -> bool {
    s(policy, "/kind") == "ClusterPropagationPolicy"
        || (s(policy, "/kind").is_empty() && s(policy, "/metadata/namespace").is_empty())
}

/// The labels and annotations with which a policy claims a template and its binding
/// (`AddPPClaimMetadata` / `AddCPPClaimMetadata`): the policy's permanent id as a label (when
/// the policy carries one) and its name (and namespace) as annotations.
pub fn claim_metadata(policy: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let (mut labels, mut annotations) = (Map::new(), Map::new());
    let policy_labels = obj(policy, "/metadata/labels");
    let name = s(policy, "/metadata/name");
    let id_label = if is_cluster_policy(policy) {
        annotations.insert(names::CPP_NAME_ANNOTATION.into(), json!(name));
        names::CPP_PERMANENT_ID_LABEL
    } else {
        annotations.insert(
            names::PP_NAMESPACE_ANNOTATION.into(),
            json!(s(policy, "/metadata/namespace")),
        );
        annotations.insert(names::PP_NAME_ANNOTATION.into(), json!(name));
        names::PP_PERMANENT_ID_LABEL
    };
    if let Some(id) = policy_labels.and_then(|l| l.get(id_label)) {
        labels.insert(id_label.into(), id.clone());
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
pub fn build_binding(template: &Value, policy: &Value) -> Value {
    let kind = s(template, "/kind");
    let name = s(template, "/metadata/name");
    let namespace = s(template, "/metadata/namespace");
    let spec = policy.get("spec").cloned().unwrap_or(json!({}));
    let (labels, annotations) = claim_metadata(policy);

    let mut resource = Map::new();
    resource.insert("apiVersion".into(), json!(s(template, "/apiVersion")));
    resource.insert("kind".into(), json!(kind));
    if !namespace.is_empty() {
        resource.insert("namespace".into(), json!(namespace));
    }
    resource.insert("name".into(), json!(name));
    for (field, ptr) in [
        ("uid", "/metadata/uid"),
        ("resourceVersion", "/metadata/resourceVersion"),
    ] {
        let v = s(template, ptr);
        if !v.is_empty() {
            resource.insert(field.into(), json!(v));
        }
    }

    let mut out = Map::new();
    out.insert("resource".into(), Value::Object(resource));
    let or = |field: &str, default: &str| match spec.get(field).and_then(Value::as_str) {
        Some(v) if !v.is_empty() => json!(v),
        _ => json!(default),
    };
    out.insert(
        "conflictResolution".into(),
        or("conflictResolution", "Abort"),
    );
    out.insert(
        "schedulerName".into(),
        or("schedulerName", names::DEFAULT_SCHEDULER),
    );
    out.insert(
        "placement".into(),
        spec.get("placement").cloned().unwrap_or(json!({})),
    );
    for field in [
        "propagateDeps",
        "failover",
        "preserveResourcesOnDeletion",
        "suspension",
    ] {
        if let Some(v) = spec.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    let (replicas, requirements) = crate::interpret::get_replicas(template);
    if replicas > 0 {
        out.insert("replicas".into(), json!(replicas));
    }
    if let Some(req) = requirements {
        out.insert("replicaRequirements".into(), req);
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(binding_name(kind, name)));
    let binding_kind = if namespace.is_empty() {
        "ClusterResourceBinding"
    } else {
        metadata.insert("namespace".into(), json!(namespace));
        "ResourceBinding"
    };
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    metadata.insert("annotations".into(), Value::Object(annotations));
    metadata.insert(
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
    let finalizer = if namespace.is_empty() {
        names::CLUSTER_BINDING_FINALIZER
    } else {
        names::BINDING_FINALIZER
    };
    metadata.insert("finalizers".into(), json!([finalizer]));

    json!({
        "apiVersion": "work.karmada.io/v1alpha2",
        "kind": binding_kind,
        "metadata": metadata,
        "spec": out,
    })
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
