//! The API resources the controllers read and write, and the index keys that tie Works and
//! bindings together.

use std::hash::{Hash, Hasher};

use cceone_federation_core::names;
use cceone_karmada_api::ResourceBinding;
use kube::api::{ApiResource, GroupVersionKind};
use serde_json::{Map, Value};

use crate::json::{annotation, s};
use crate::runtime::ObjKey;

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// `cluster.karmada.io/v1alpha1` Cluster.
pub(crate) fn cluster() -> ApiResource {
    ar("cluster.karmada.io", "v1alpha1", "Cluster", "clusters")
}

/// `policy.karmada.io/v1alpha1` PropagationPolicy.
pub(crate) fn propagation_policy() -> ApiResource {
    ar(
        "policy.karmada.io",
        "v1alpha1",
        "PropagationPolicy",
        "propagationpolicies",
    )
}

/// `policy.karmada.io/v1alpha1` ClusterPropagationPolicy.
pub(crate) fn cluster_propagation_policy() -> ApiResource {
    ar(
        "policy.karmada.io",
        "v1alpha1",
        "ClusterPropagationPolicy",
        "clusterpropagationpolicies",
    )
}

/// `policy.karmada.io/v1alpha1` OverridePolicy.
pub(crate) fn override_policy() -> ApiResource {
    ar(
        "policy.karmada.io",
        "v1alpha1",
        "OverridePolicy",
        "overridepolicies",
    )
}

/// `policy.karmada.io/v1alpha1` ClusterOverridePolicy.
pub(crate) fn cluster_override_policy() -> ApiResource {
    ar(
        "policy.karmada.io",
        "v1alpha1",
        "ClusterOverridePolicy",
        "clusteroverridepolicies",
    )
}

/// `work.karmada.io/v1alpha2` ResourceBinding.
pub(crate) fn resource_binding() -> ApiResource {
    ar(
        "work.karmada.io",
        "v1alpha2",
        "ResourceBinding",
        "resourcebindings",
    )
}

/// `apps.karmada.io/v1alpha1` WorkloadRebalancer.
pub(crate) fn workload_rebalancer() -> ApiResource {
    ar(
        "apps.karmada.io",
        "v1alpha1",
        "WorkloadRebalancer",
        "workloadrebalancers",
    )
}

/// `work.karmada.io/v1alpha2` ClusterResourceBinding.
pub(crate) fn cluster_resource_binding() -> ApiResource {
    ar(
        "work.karmada.io",
        "v1alpha2",
        "ClusterResourceBinding",
        "clusterresourcebindings",
    )
}

/// `work.karmada.io/v1alpha1` Work.
pub(crate) fn work() -> ApiResource {
    ar("work.karmada.io", "v1alpha1", "Work", "works")
}

/// `v1` Namespace.
pub(crate) fn namespace() -> ApiResource {
    ar("", "v1", "Namespace", "namespaces")
}

/// The binding resource for a binding key: ResourceBinding when namespaced, else
/// ClusterResourceBinding.
pub(crate) fn binding_for(key: &ObjKey) -> ApiResource {
    if key.namespace.is_some() {
        resource_binding()
    } else {
        cluster_resource_binding()
    }
}

/// The index value under which a binding's Works are found (`<namespace>/<name>`, or
/// `/<name>` for a ClusterResourceBinding).
pub(crate) fn binding_index(key: &ObjKey) -> String {
    format!("{}/{}", key.ns(), key.name)
}

/// The binding a Work belongs to, from its annotations.
pub(crate) fn work_owner(work: &Value) -> Option<ObjKey> {
    if let Some(name) = annotation(work, names::RB_NAME_ANNOTATION) {
        let ns = annotation(work, names::RB_NAMESPACE_ANNOTATION).unwrap_or("");
        return (!ns.is_empty()).then(|| ObjKey::new(ns, name));
    }
    annotation(work, names::CRB_NAME_ANNOTATION).map(ObjKey::cluster)
}

/// The key of the binding of a template.
pub(crate) fn binding_of_template(template: &Value) -> Option<ObjKey> {
    let name = s(template, "/metadata/name");
    let kind = s(template, "/kind");
    (!name.is_empty() && !kind.is_empty()).then(|| {
        ObjKey::new(
            s(template, "/metadata/namespace"),
            cceone_federation_core::binding_name(kind, name),
        )
    })
}

/// Identifies a resource template: its `apiVersion`, `kind` and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TemplateKey {
    /// `apiVersion`, e.g. `apps/v1`.
    pub(crate) api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub(crate) kind: String,
    /// Namespace and name.
    pub(crate) key: ObjKey,
}

impl TemplateKey {
    /// The template a binding points at (`spec.resource`).
    pub(crate) fn of_binding(binding: &Value) -> Option<TemplateKey> {
        let r = binding.pointer("/spec/resource")?;
        let name = s(r, "/name");
        (!name.is_empty()).then(|| TemplateKey {
            api_version: s(r, "/apiVersion").to_string(),
            kind: s(r, "/kind").to_string(),
            key: ObjKey::new(s(r, "/namespace"), name),
        })
    }

    /// The template a typed binding stands for.
    pub(crate) fn of_typed_binding(binding: &ResourceBinding) -> Option<TemplateKey> {
        let r = &binding.spec.as_ref()?.resource;
        (!r.name.is_empty()).then(|| TemplateKey {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            key: ObjKey::new(r.namespace(), r.name.clone()),
        })
    }

    /// The key of a template object.
    pub(crate) fn of(template: &Value) -> Option<TemplateKey> {
        Some(TemplateKey {
            api_version: s(template, "/apiVersion").to_string(),
            kind: s(template, "/kind").to_string(),
            key: ObjKey::of(template)?,
        })
    }
}

/// The key under `spec.workload` of a cached Work that stands for its manifests.
pub(crate) const MANIFESTS_DIGEST: &str = "manifestsDigest";

/// A Work as the controllers' cache keeps it. The manifests are most of a Work and the
/// controllers never read them back whole: status aggregation finds a resource's ordinal by
/// its apiVersion, kind, namespace and name, and the binding controller only asks whether
/// what it would write differs from what is stored. So each manifest is cut down to what
/// names it, and `spec.workload.manifestsDigest` (the cache's own field, never written to
/// the API) stands for all of them. Applying it twice changes nothing.
pub(crate) fn project_work(work: &mut Value) {
    let Some(workload) = work
        .pointer_mut("/spec/workload")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if workload.contains_key(MANIFESTS_DIGEST) {
        return;
    }
    let Some(Value::Array(manifests)) = workload.remove("manifests") else {
        return;
    };
    let mut hasher = std::hash::DefaultHasher::new();
    manifests.hash(&mut hasher);
    let stubs = manifests.iter().map(manifest_stub).collect();
    workload.insert("manifests".into(), Value::Array(stubs));
    workload.insert(
        MANIFESTS_DIGEST.into(),
        Value::String(format!("{:016x}", hasher.finish())),
    );
}

/// What names a manifest: apiVersion, kind, metadata.namespace and metadata.name, and its
/// `spec.replicas` (what the binding controller holds a moving workload's old share at).
fn manifest_stub(manifest: &Value) -> Value {
    let mut stub = Map::new();
    for field in ["apiVersion", "kind"] {
        if let Some(v) = manifest.get(field) {
            stub.insert(field.into(), v.clone());
        }
    }
    let mut meta = Map::new();
    for field in ["namespace", "name"] {
        if let Some(v) = manifest.get("metadata").and_then(|m| m.get(field)) {
            meta.insert(field.into(), v.clone());
        }
    }
    stub.insert("metadata".into(), Value::Object(meta));
    if let Some(r) = manifest.pointer("/spec/replicas") {
        stub.insert("spec".into(), serde_json::json!({"replicas": r}));
    }
    Value::Object(stub)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn work(replicas: i64) -> Value {
        json!({"metadata": {"name": "w", "namespace": "karmada-es-a"},
            "spec": {"workload": {"manifests": [{"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "ns", "labels": {"x": "y"}},
                "spec": {"replicas": replicas}}]}}})
    }

    #[test]
    fn a_projected_work_names_its_manifests_and_tells_changes_apart() {
        let mut a = work(1);
        project_work(&mut a);
        assert_eq!(
            a.pointer("/spec/workload/manifests").unwrap(),
            &json!([{"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "ns"}, "spec": {"replicas": 1}}])
        );
        let again = {
            let mut b = a.clone();
            project_work(&mut b);
            b
        };
        assert_eq!(again, a, "projecting twice changes nothing");
        let mut same = work(1);
        project_work(&mut same);
        assert_eq!(same, a);
        let mut other = work(2);
        project_work(&mut other);
        assert_ne!(
            other.pointer("/spec/workload/manifestsDigest"),
            a.pointer("/spec/workload/manifestsDigest")
        );
    }
}
