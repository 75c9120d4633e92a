//! The API resources the controllers read and write, and the index keys that tie Works and
//! bindings together.

use cceone_federation_core::names;
use kube::api::{ApiResource, GroupVersionKind};
use serde_json::Value;

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

    /// The key of a template object.
    pub(crate) fn of(template: &Value) -> Option<TemplateKey> {
        Some(TemplateKey {
            api_version: s(template, "/apiVersion").to_string(),
            kind: s(template, "/kind").to_string(),
            key: ObjKey::of(template)?,
        })
    }
}
