//! Works (Karmada `pkg/controllers/binding/common.go` `ensureWork` and
//! `pkg/controllers/ctrlutil/work.go`): one `work.karmada.io/v1alpha1` Work per target
//! cluster, in the cluster's execution space `karmada-es-<cluster>`, holding the template
//! revised to the cluster's replicas, overridden for the cluster, labelled and annotated for
//! the way back, and pruned of fields the member must not receive.

use std::collections::BTreeMap;

use cceone_karmada_api::work::{WORK_API_VERSION, WorkloadTemplate};
use cceone_karmada_api::{ObjectMeta, OverridePolicy, ResourceBinding, Work, WorkSpec};
use serde_json::{Value, json};

use crate::json::{int, obj, s};
use crate::names;
use crate::overrides::{OverrideError, apply_overrides_owned};
use crate::scheduler::TargetCluster;
use cceone_karmada_api::Cluster;

pub use cceone_karmada_api::work::{cluster_of, execution_space, work_name};

/// Builds the Work of a binding for one target cluster: the template with its replicas set to
/// the cluster's share (workloads only), the cluster's overrides applied (`override_policies`:
/// OverridePolicies and ClusterOverridePolicies), the binding's permanent id, names and the
/// template generation recorded on the manifest, `karmada.io/managed: "true"`, the conflict
/// resolution (`work.karmada.io/conflict-resolution`, the template's own annotation first),
/// the status and server-set metadata pruned; the Work carries the applied-overrides
/// annotations, `suspendDispatching` when the binding's suspension covers the cluster, and
/// `preserveResourcesOnDeletion`.
pub fn build_work(
    binding: &ResourceBinding,
    template: &Value,
    target: &TargetCluster,
    cluster: &Cluster,
    override_policies: &[OverridePolicy],
    work_id: &str,
) -> Result<Work, OverrideError> {
    let spec = binding.spec();
    let mut manifest = template.clone();
    if spec.is_workload() {
        crate::interpret::revise_replicas(&mut manifest, target.replicas.unwrap_or(0));
    }
    let outcome = apply_overrides_owned(manifest, cluster, override_policies)?;
    let override_annotations = outcome.annotations();
    let mut manifest = outcome.manifest;

    let namespaced = !binding.is_cluster_scoped();
    let id_label = if namespaced {
        names::RB_PERMANENT_ID_LABEL
    } else {
        names::CRB_PERMANENT_ID_LABEL
    };
    let binding_name = binding.name();
    let id = binding.metadata.label(id_label).unwrap_or("");
    let mut work_labels = BTreeMap::new();
    work_labels.insert(id_label.to_string(), id.to_string());
    work_labels.insert(
        names::WORK_PERMANENT_ID_LABEL.to_string(),
        work_id.to_string(),
    );
    let mut work_annotations = BTreeMap::new();
    if namespaced {
        work_annotations.insert(
            names::RB_NAMESPACE_ANNOTATION.to_string(),
            binding.namespace().to_string(),
        );
        work_annotations.insert(
            names::RB_NAME_ANNOTATION.to_string(),
            binding_name.to_string(),
        );
    } else {
        work_annotations.insert(
            names::CRB_NAME_ANNOTATION.to_string(),
            binding_name.to_string(),
        );
    }
    let in_template = obj(template, "/metadata/annotations")
        .and_then(|a| a.get(names::CONFLICT_RESOLUTION_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|v| matches!(*v, "overwrite" | "abort"));
    let conflict = in_template.unwrap_or(
        if spec.conflict_resolution.as_deref() == Some("Overwrite") {
            "overwrite"
        } else {
            "abort"
        },
    );
    work_annotations.insert(
        names::CONFLICT_RESOLUTION_ANNOTATION.to_string(),
        conflict.to_string(),
    );
    for (k, v) in override_annotations {
        work_annotations.insert(k.to_string(), v);
    }

    let kind = s(&manifest, "/kind").to_string();
    let name = s(&manifest, "/metadata/name").to_string();
    let ns = s(&manifest, "/metadata/namespace").to_string();
    let work_name = work_name(&kind, &name, &ns);
    let work_ns = execution_space(&target.name);
    let uid = s(template, "/metadata/uid").to_string();
    let generation = int(template, "/metadata/generation").unwrap_or(0);

    if let Some(meta) = manifest
        .as_object_mut()
        .and_then(|m| crate::json::child_obj(m, "metadata"))
    {
        if let Some(labels) = crate::json::child_obj(meta, "labels") {
            labels.insert(id_label.into(), json!(id));
            labels.insert(names::MANAGED_BY_KARMADA_LABEL.into(), json!("true"));
            labels.insert(names::WORK_PERMANENT_ID_LABEL.into(), json!(work_id));
        }
        if let Some(ann) = crate::json::child_obj(meta, "annotations") {
            if generation > 0 {
                ann.insert(
                    names::RESOURCE_TEMPLATE_GENERATION_ANNOTATION.into(),
                    json!(generation.to_string()),
                );
            }
            for (k, v) in &work_annotations {
                if k.starts_with("resourcebinding.karmada.io/")
                    || k.starts_with("clusterresourcebinding.karmada.io/")
                    || k == names::CONFLICT_RESOLUTION_ANNOTATION
                {
                    ann.insert(k.clone(), json!(v));
                }
            }
            ann.insert(names::RESOURCE_TEMPLATE_UID_ANNOTATION.into(), json!(uid));
            ann.insert(names::WORK_NAME_ANNOTATION.into(), json!(work_name));
            ann.insert(names::WORK_NAMESPACE_ANNOTATION.into(), json!(work_ns));
            // Deployment revision annotations belong to the member's own controller.
            ann.remove("deployment.kubernetes.io/revision");
            ann.remove("deployment.kubernetes.io/revision-history");
        }
        for field in [
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "resourceVersion",
            "selfLink",
            "uid",
            "ownerReferences",
            "finalizers",
        ] {
            meta.remove(field);
        }
        record_managed_keys(meta);
    }
    prune(&mut manifest);

    Ok(Work {
        api_version: WORK_API_VERSION.to_string(),
        kind: "Work".to_string(),
        metadata: ObjectMeta {
            name: Some(work_name),
            namespace: Some(work_ns),
            finalizers: Some(vec![names::EXECUTION_FINALIZER.to_string()]),
            labels: Some(work_labels),
            annotations: Some(work_annotations),
            ..ObjectMeta::default()
        },
        spec: Some(WorkSpec {
            workload: Some(WorkloadTemplate {
                manifests: Some(vec![manifest]),
                ..WorkloadTemplate::default()
            }),
            suspend_dispatching: spec.suspends(&target.name).then_some(true),
            preserve_resources_on_deletion: (spec.preserve_resources_on_deletion == Some(true))
                .then_some(true),
            ..WorkSpec::default()
        }),
        status: None,
        extra: Default::default(),
    })
}

/// Karmada's `RecordManagedAnnotations` / `RecordManagedLabels` (pkg/util/annotation.go,
/// label.go): the manifest names, in `resourcetemplate.karmada.io/managed-annotations` and
/// `managed-labels`, the annotation and label keys the federation sets (sorted,
/// comma-separated, the first including itself), so that the member's own additions can be told
/// from them.
fn record_managed_keys(meta: &mut serde_json::Map<String, Value>) {
    let keys = |field: &str| -> Vec<String> {
        meta.get(field)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut annotations = keys("annotations");
    annotations.retain(|k| {
        k != names::MANAGED_ANNOTATIONS_ANNOTATION && k != names::MANAGED_LABELS_ANNOTATION
    });
    annotations.push(names::MANAGED_ANNOTATIONS_ANNOTATION.to_string());
    annotations.push(names::MANAGED_LABELS_ANNOTATION.to_string());
    annotations.sort();
    let mut labels = keys("labels");
    labels.sort();
    if let Some(ann) = crate::json::child_obj(meta, "annotations") {
        ann.insert(
            names::MANAGED_ANNOTATIONS_ANNOTATION.into(),
            json!(annotations.join(",")),
        );
        ann.insert(
            names::MANAGED_LABELS_ANNOTATION.into(),
            json!(labels.join(",")),
        );
    }
}

/// `RemoveIrrelevantFields`' kind-specific part plus the status: a Service's allocated
/// cluster IPs, a Job's generated selector labels and TTL.
fn prune(manifest: &mut Value) {
    let kind = s(manifest, "/kind").to_string();
    let Some(m) = manifest.as_object_mut() else {
        return;
    };
    m.remove("status");
    match kind.as_str() {
        "Service" => {
            if let Some(spec) = m.get_mut("spec").and_then(Value::as_object_mut)
                && spec
                    .get("clusterIP")
                    .and_then(Value::as_str)
                    .is_some_and(|ip| ip != "None")
            {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        }
        "Job" => {
            let Some(spec) = m.get_mut("spec") else {
                return;
            };
            if let Some(o) = spec.as_object_mut() {
                o.remove("ttlSecondsAfterFinished");
            }
            if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
                return;
            }
            for ptr in ["/selector/matchLabels", "/template/metadata/labels"] {
                if let Some(labels) = spec.pointer_mut(ptr).and_then(Value::as_object_mut) {
                    for k in [
                        "controller-uid",
                        "job-name",
                        "batch.kubernetes.io/controller-uid",
                        "batch.kubernetes.io/job-name",
                    ] {
                        labels.remove(k);
                    }
                }
            }
        }
        _ => {}
    }
}
