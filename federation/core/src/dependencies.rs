//! Dependencies that follow a workload (`propagateDeps`), as Karmada's dependencies distributor
//! does (`pkg/dependenciesdistributor/dependencies_distributor.go`, with the default
//! interpreter's `GetDependencies`, `pkg/resourceinterpreter/default/native/dependencies.go`
//! and `pkg/util/helper/pod.go`):
//!
//! - the ConfigMaps, Secrets, ServiceAccounts and PersistentVolumeClaims a Deployment, Job,
//!   CronJob, Pod, DaemonSet or StatefulSet references from its pod template, and the TLS
//!   Secrets of an Ingress, are its dependencies;
//! - each dependency gets an *attached* binding (`<name>-<kind>`, in its namespace) that lists
//!   the independent binding and its clusters in `spec.requiredBy`, carries the label
//!   `resourcebinding.karmada.io/depended-by-<hash>: <namespace>_<name>`, and is owned by the
//!   dependency object; the binding controller then dispatches it to the union of its own
//!   clusters and those of every binding that requires it;
//! - the independent binding records its dependencies in the annotation
//!   `resourcebinding.karmada.io/dependencies`, so that a dependency created later finds the
//!   bindings waiting for it;
//! - when a workload stops referencing a dependency (or is deleted, or `propagateDeps` is
//!   turned off) its snapshot and label come off the attached binding, and the dependency
//!   leaves the clusters only it required.

use std::collections::BTreeSet;

use cceone_karmada_api::binding::BindingSnapshot;
use cceone_karmada_api::{ResourceBinding, TargetCluster};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::json::{arr, s};
use crate::{fnv32a, names};

/// Prefix of the label an attached binding carries for each binding that requires it.
pub const DEPENDED_BY_LABEL_PREFIX: &str = "resourcebinding.karmada.io/depended-by-";
/// Annotation of an independent binding listing its dependencies (JSON).
pub const DEPENDENCIES_ANNOTATION: &str = "resourcebinding.karmada.io/dependencies";

/// Karmada's `DependentObjectReference`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependentRef {
    /// `apiVersion` (always `v1` for the kinds found here).
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `namespace`.
    pub namespace: String,
    /// `name`.
    pub name: String,
}

impl DependentRef {
    fn v1(kind: &str, namespace: &str, name: &str) -> DependentRef {
        DependentRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// The pod spec inside a workload of a kind the default interpreter knows, or None.
fn pod_spec<'a>(api_version: &str, kind: &str, template: &'a Value) -> Option<&'a Value> {
    let path = match (api_version, kind) {
        ("apps/v1", "Deployment" | "DaemonSet" | "StatefulSet") | ("batch/v1", "Job") => {
            "/spec/template/spec"
        }
        ("batch/v1", "CronJob") => "/spec/jobTemplate/spec/template/spec",
        ("v1", "Pod") => "/spec",
        _ => return None,
    };
    template.pointer(path)
}

/// The dependencies of a template, sorted and without repeats (empty for kinds without any).
pub fn dependencies(template: &Value) -> Vec<DependentRef> {
    let (api_version, kind) = (s(template, "/apiVersion"), s(template, "/kind"));
    let namespace = s(template, "/metadata/namespace");
    let mut out = BTreeSet::new();
    if (api_version, kind) == ("networking.k8s.io/v1", "Ingress") {
        for tls in arr(template, "/spec/tls") {
            let name = s(tls, "/secretName");
            if !name.is_empty() {
                out.insert(DependentRef::v1("Secret", namespace, name));
            }
        }
        return out.into_iter().collect();
    }
    let Some(pod) = pod_spec(api_version, kind, template) else {
        return Vec::new();
    };
    let mut add = |kind: &str, name: &str| {
        if !name.is_empty() {
            out.insert(DependentRef::v1(kind, namespace, name));
        }
    };
    // `VisitPodConfigmapNames` / `VisitPodSecretNames` (kubernetes pkg/api/v1/pod/util.go).
    for p in arr(pod, "/imagePullSecrets") {
        add("Secret", s(p, "/name"));
    }
    for list in ["/initContainers", "/containers", "/ephemeralContainers"] {
        for c in arr(pod, list) {
            for e in arr(c, "/envFrom") {
                add("ConfigMap", s(e, "/configMapRef/name"));
                add("Secret", s(e, "/secretRef/name"));
            }
            for e in arr(c, "/env") {
                add("ConfigMap", s(e, "/valueFrom/configMapKeyRef/name"));
                add("Secret", s(e, "/valueFrom/secretKeyRef/name"));
            }
        }
    }
    for v in arr(pod, "/volumes") {
        add("ConfigMap", s(v, "/configMap/name"));
        add("Secret", s(v, "/secret/secretName"));
        for source in arr(v, "/projected/sources") {
            add("ConfigMap", s(source, "/configMap/name"));
            add("Secret", s(source, "/secret/name"));
        }
        add("Secret", s(v, "/azureFile/secretName"));
        for secret_ref in [
            "/cephfs/secretRef/name",
            "/cinder/secretRef/name",
            "/flexVolume/secretRef/name",
            "/rbd/secretRef/name",
            "/scaleIO/secretRef/name",
            "/iscsi/secretRef/name",
            "/storageos/secretRef/name",
            "/csi/nodePublishSecretRef/name",
        ] {
            add("Secret", s(v, secret_ref));
        }
        add(
            "PersistentVolumeClaim",
            s(v, "/persistentVolumeClaim/claimName"),
        );
    }
    // `getServiceAccountNames`: the default ServiceAccount exists everywhere.
    let sa = s(pod, "/serviceAccountName");
    if sa != "default" {
        add("ServiceAccount", sa);
    }
    out.into_iter().collect()
}

/// Whether a template's kind can have dependencies (the default interpreter's
/// `InterpretDependency` hook).
pub fn has_dependency_hook(api_version: &str, kind: &str) -> bool {
    matches!(
        (api_version, kind),
        ("apps/v1", "Deployment" | "DaemonSet" | "StatefulSet")
            | ("batch/v1", "Job" | "CronJob")
            | ("v1", "Pod")
            | ("networking.k8s.io/v1", "Ingress")
    )
}

/// Whether a kind can be a dependency (the distributor's `supportedTypes`).
pub fn is_dependency_kind(api_version: &str, kind: &str) -> bool {
    api_version == "v1"
        && matches!(
            kind,
            "ConfigMap" | "Secret" | "ServiceAccount" | "PersistentVolumeClaim"
        )
}

/// `rand.SafeEncodeString` (k8s.io/apimachinery/pkg/util/rand): each character mapped onto an
/// alphabet without vowels or look-alikes.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// `names.GenerateBindingReferenceKey`: a short key naming a binding in a label key.
pub fn binding_reference_key(namespace: &str, name: &str) -> String {
    let full = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    };
    safe_encode(&fnv32a(full.as_bytes()).to_string())
}

/// The label (key, value) an attached binding carries for the binding `namespace/name`.
pub fn depended_by_label(namespace: &str, name: &str) -> (String, String) {
    (
        format!(
            "{DEPENDED_BY_LABEL_PREFIX}{}",
            binding_reference_key(namespace, name)
        ),
        format!("{namespace}_{name}"),
    )
}

/// The dependencies an independent binding recorded (its annotation), empty when none.
pub fn recorded_dependencies(binding: &Value) -> Vec<DependentRef> {
    binding
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DEPENDENCIES_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default()
}

/// The annotation value recording `deps`.
pub fn dependencies_annotation(deps: &[DependentRef]) -> String {
    serde_json::to_string(deps).unwrap_or_else(|_| "[]".into())
}

/// The snapshot of an independent binding an attached binding keeps in `requiredBy`.
pub fn snapshot(binding: &ResourceBinding) -> BindingSnapshot {
    BindingSnapshot {
        namespace: Some(binding.namespace().to_string()).filter(|n| !n.is_empty()),
        name: binding.name().to_string(),
        clusters: Some(binding.clusters().to_vec()),
        ..BindingSnapshot::default()
    }
}

/// A new attached binding for `dependency` (the object as the federation holds it), required
/// by `binding` (`buildAttachedBinding`).
pub fn attached_binding(binding: &ResourceBinding, dependency: &Value) -> Value {
    let (kind, name) = (s(dependency, "/kind"), s(dependency, "/metadata/name"));
    let (label, value) = depended_by_label(binding.namespace(), binding.name());
    let mut labels = Map::new();
    labels.insert(label, json!(value));
    json!({
        "apiVersion": "work.karmada.io/v1alpha2",
        "kind": "ResourceBinding",
        "metadata": {
            "name": crate::binding_name(kind, name),
            "namespace": binding.namespace(),
            "labels": labels,
            "finalizers": [names::BINDING_FINALIZER],
            "ownerReferences": [{
                "apiVersion": s(dependency, "/apiVersion"),
                "kind": kind,
                "name": name,
                "uid": s(dependency, "/metadata/uid"),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "resource": {
                "apiVersion": s(dependency, "/apiVersion"),
                "kind": kind,
                "namespace": s(dependency, "/metadata/namespace"),
                "name": name,
                "resourceVersion": s(dependency, "/metadata/resourceVersion"),
            },
            "requiredBy": [snapshot(binding)],
        },
    })
}

/// `requiredBy` with `snapshot` put in (replacing the same binding's earlier snapshot), as
/// `mergeBindingSnapshot` does.
pub fn with_snapshot(
    existing: &[BindingSnapshot],
    snapshot: BindingSnapshot,
) -> Vec<BindingSnapshot> {
    let mut out = existing.to_vec();
    match out
        .iter_mut()
        .find(|s| s.namespace == snapshot.namespace && s.name == snapshot.name)
    {
        Some(s) => s.clusters = snapshot.clusters,
        None => out.push(snapshot),
    }
    out
}

/// `requiredBy` without the snapshots of `namespace/name` (`deleteBindingFromSnapshot`).
pub fn without_snapshot(
    existing: &[BindingSnapshot],
    namespace: &str,
    name: &str,
) -> Vec<BindingSnapshot> {
    existing
        .iter()
        .filter(|s| !(s.namespace.as_deref().unwrap_or("") == namespace && s.name == name))
        .cloned()
        .collect()
}

/// The clusters a binding's Works go to: its own, then those of the bindings that require it
/// not already among them (`mergeTargetClusters`, pkg/controllers/binding/common.go).
pub fn target_clusters(binding: &ResourceBinding) -> Vec<TargetCluster> {
    let spec = binding.spec();
    let mut out = spec.clusters().to_vec();
    for r in spec.required_by.iter().flatten() {
        for c in r.clusters.iter().flatten() {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(c.clone());
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
