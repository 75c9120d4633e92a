//! The override engine (Karmada `pkg/util/overridemanager`): per-cluster differences applied
//! to a manifest before it goes into the cluster's Work.
//!
//! Order, as Karmada's `ApplyOverridePolicies`: ClusterOverridePolicies first, then (for
//! namespaced manifests) the OverridePolicies of the manifest's namespace. Within each kind the
//! policies whose resource selectors match (no selectors match everything) run from the lowest
//! implicit priority to the highest (match-all, labelSelector, name), ties by name, so the most
//! specific policy has the last word. Each policy's rules (`overrideRules`, or the legacy
//! `targetCluster` + `overriders`) apply when their target cluster matches, and within a rule
//! the overriders run as `applyPolicyOverriders` runs them: imageOverrider, commandOverrider,
//! argsOverrider, labelsOverrider, annotationsOverrider, fieldOverrider, plaintext.

use cceone_karmada_api::policy::{
    CommandArgsOverrider, FieldOverrider, ImageOverrider, MapOverrider, Overriders,
};
use cceone_karmada_api::{Cluster, OverridePolicy};
use serde_json::{Value, json};

use crate::json::{arr, obj, s};
use crate::selector::{ImplicitPriority, cluster_matches, resource_selectors_priority};

mod image;
mod patch;

pub use image::{ImageError, ImageRef};
use patch::Op;

/// Why overrides could not be applied; the manifest should then not be dispatched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// A JSON patch built from an overrider does not apply to the manifest.
    #[error("override policy {policy}: {op} {path}: {reason}")]
    Patch {
        /// The policy.
        policy: String,
        /// The patch operation.
        op: String,
        /// The patch path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An image in the manifest is not a valid reference.
    #[error("override policy {policy}: failed to parse image value({image}), error: {source}")]
    Image {
        /// The policy.
        policy: String,
        /// The image string.
        image: String,
        /// The parse failure.
        #[source]
        source: ImageError,
    },
    /// An imageOverrider predicate path does not lead to a string.
    #[error(
        "override policy {policy}: failed to obtain imageValue with predicate path({path}): {reason}"
    )]
    Predicate {
        /// The policy.
        policy: String,
        /// The predicate path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A fieldOverrider's field path does not lead to a string holding JSON, or it uses YAML
    /// (not supported here).
    #[error("override policy {policy}: field overrider at {path}: {reason}")]
    Field {
        /// The policy.
        policy: String,
        /// The field path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A manifest with overrides applied, and what was applied (for the Work's
/// `policy.karmada.io/applied-cluster-overrides` / `applied-overrides` annotations).
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideOutcome {
    /// The overridden manifest.
    pub manifest: Value,
    /// `[{policyName, overriders}]` of the ClusterOverridePolicy rules applied, by name.
    pub applied_cluster_overrides: Vec<Value>,
    /// `[{policyName, overriders}]` of the OverridePolicy rules applied, by name.
    pub applied_overrides: Vec<Value>,
}

impl OverrideOutcome {
    /// The annotations Karmada's binding controller records on the Work (none when nothing
    /// was applied).
    pub fn annotations(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, items) in [
            (
                crate::names::APPLIED_CLUSTER_OVERRIDES_ANNOTATION,
                &self.applied_cluster_overrides,
            ),
            (
                crate::names::APPLIED_OVERRIDES_ANNOTATION,
                &self.applied_overrides,
            ),
        ] {
            if !items.is_empty() {
                out.push((key, Value::Array(items.clone()).to_string()));
            }
        }
        out
    }
}

/// Applies the OverridePolicies and ClusterOverridePolicies among `ops` to a manifest bound for
/// `cluster` (a Cluster object), in Karmada's order (see the module docs).
pub fn apply_overrides(
    manifest: &Value,
    cluster: &Cluster,
    ops: &[OverridePolicy],
) -> Result<Value, OverrideError> {
    apply_overrides_detailed(manifest, cluster, ops).map(|o| o.manifest)
}

/// [`apply_overrides`], also reporting what was applied.
pub fn apply_overrides_detailed(
    manifest: &Value,
    cluster: &Cluster,
    ops: &[OverridePolicy],
) -> Result<OverrideOutcome, OverrideError> {
    apply_overrides_owned(manifest.clone(), cluster, ops)
}

/// [`apply_overrides_detailed`] on a manifest the caller hands over (no copy of it is made).
pub fn apply_overrides_owned(
    mut out: Value,
    cluster: &Cluster,
    ops: &[OverridePolicy],
) -> Result<OverrideOutcome, OverrideError> {
    let namespace = s(&out, "/metadata/namespace").to_owned();
    let namespace = namespace.as_str();
    let cluster_scoped: Vec<&OverridePolicy> =
        ops.iter().filter(|p| is_cluster_policy(p)).collect();
    let applied_cluster_overrides = apply_group(&mut out, cluster, &cluster_scoped)?;
    let mut applied_overrides = Vec::new();
    if !namespace.is_empty() {
        let namespaced: Vec<&OverridePolicy> = ops
            .iter()
            .filter(|p| !is_cluster_policy(p) && p.namespace() == namespace)
            .collect();
        applied_overrides = apply_group(&mut out, cluster, &namespaced)?;
    }
    Ok(OverrideOutcome {
        manifest: out,
        applied_cluster_overrides,
        applied_overrides,
    })
}

fn is_cluster_policy(p: &OverridePolicy) -> bool {
    match p.kind.as_str() {
        "ClusterOverridePolicy" => true,
        "OverridePolicy" => false,
        _ => p.namespace().is_empty(),
    }
}

/// `getOverridersFromOverridePolicies` then `applyPolicyOverriders` for one policy kind.
fn apply_group(
    manifest: &mut Value,
    cluster: &Cluster,
    policies: &[&OverridePolicy],
) -> Result<Vec<Value>, OverrideError> {
    let priority = |p: &OverridePolicy| {
        let selectors = p.spec.as_ref().map_or(&[][..], |s| s.resource_selectors());
        if selectors.is_empty() {
            ImplicitPriority::MatchAll
        } else {
            resource_selectors_priority(manifest, selectors)
        }
    };
    let mut matching: Vec<(ImplicitPriority, &OverridePolicy)> = policies
        .iter()
        .filter(|p| !p.deleting())
        .map(|p| (priority(p), *p))
        .filter(|(prio, _)| *prio != ImplicitPriority::MisMatch)
        .collect();
    matching.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name().cmp(b.1.name())));
    let mut applied = Vec::new();
    for (_, policy) in matching {
        let name = policy.name();
        let rules = policy.spec.as_ref().map(|s| s.rules()).unwrap_or_default();
        for rule in &rules {
            if rule
                .target_cluster
                .as_ref()
                .is_some_and(|t| !cluster_matches(cluster, t))
            {
                continue;
            }
            apply_overriders(manifest, &rule.overriders, name)?;
            let overriders = serde_json::to_value(&rule.overriders).unwrap_or(Value::Null);
            applied.push(json!({"policyName": name, "overriders": overriders}));
        }
    }
    applied.sort_by(|a, b| s(a, "/policyName").cmp(s(b, "/policyName")));
    Ok(applied)
}

/// `applyPolicyOverriders`: one rule's overriders in Karmada's fixed order.
fn apply_overriders(
    manifest: &mut Value,
    o: &Overriders,
    policy: &str,
) -> Result<(), OverrideError> {
    let patch = |m: &mut Value, ops: &[Op]| {
        patch::apply(m, ops).map_err(|(op, path, reason)| OverrideError::Patch {
            policy: policy.to_string(),
            op,
            path,
            reason,
        })
    };
    for im in o.image_overrider.iter().flatten() {
        let ops = image_patches(manifest, im, policy)?;
        patch(manifest, &ops)?;
    }
    for (list, field) in [
        (&o.command_overrider, "command"),
        (&o.args_overrider, "args"),
    ] {
        for co in list.iter().flatten() {
            let ops = command_args_patches(manifest, co, field);
            patch(manifest, &ops)?;
        }
    }
    for (list, field) in [
        (&o.labels_overrider, "labels"),
        (&o.annotations_overrider, "annotations"),
    ] {
        for lo in list.iter().flatten() {
            let ops = label_annotation_patches(manifest, lo, field);
            if !ops.is_empty() {
                patch(manifest, &ops)?;
            }
        }
    }
    for fo in o.field_overrider.iter().flatten() {
        field_override(manifest, fo, policy)?;
    }
    let plaintext: Vec<Op> = o
        .plaintext
        .iter()
        .flatten()
        .map(|p| Op::new(&p.operator, &p.path, p.value.clone()))
        .collect();
    patch(manifest, &plaintext)
}

/// The pod spec path of the workload kinds the image and command overriders know.
fn pod_spec_prefix(manifest: &Value) -> Option<&'static str> {
    match s(manifest, "/kind") {
        "Pod" => Some("/spec"),
        "ReplicaSet" | "Deployment" | "DaemonSet" | "StatefulSet" | "Job" => {
            Some("/spec/template/spec")
        }
        _ => None,
    }
}

/// `buildPatches`: a replace of every container image (or of the predicate path's value).
fn image_patches(
    manifest: &Value,
    im: &ImageOverrider,
    policy: &str,
) -> Result<Vec<Op>, OverrideError> {
    let mut targets: Vec<(String, String)> = Vec::new();
    if let Some(pred) = &im.predicate {
        let path = pred.path.as_str();
        let value = manifest
            .pointer(path)
            .filter(|_| path.starts_with('/'))
            .and_then(Value::as_str)
            .ok_or_else(|| OverrideError::Predicate {
                policy: policy.to_string(),
                path: path.to_string(),
                reason: "the path does not lead to a string".into(),
            })?;
        targets.push((path.to_string(), value.to_string()));
    } else if let Some(prefix) = pod_spec_prefix(manifest) {
        for (i, c) in arr(manifest, &format!("{prefix}/containers"))
            .iter()
            .enumerate()
        {
            targets.push((
                format!("{prefix}/containers/{i}/image"),
                s(c, "/image").to_string(),
            ));
        }
    }
    targets
        .into_iter()
        .map(|(path, current)| {
            let new = override_image(&current, im).map_err(|source| OverrideError::Image {
                policy: policy.to_string(),
                image: current.clone(),
                source,
            })?;
            Ok(Op::new("replace", path, Some(json!(new))))
        })
        .collect()
}

/// `overrideImage`: edit one component of an image reference.
pub fn override_image(current: &str, im: &ImageOverrider) -> Result<String, ImageError> {
    let mut r = ImageRef::parse(current)?;
    let value = im.value.as_deref().unwrap_or("");
    let op = im.operator.as_str();
    match im.component.as_str() {
        "Registry" => match op {
            "add" => r.hostname.push_str(value),
            "replace" => r.hostname = value.to_string(),
            "remove" => r.hostname.clear(),
            _ => {}
        },
        "Repository" => match op {
            "add" => r.repository.push_str(value),
            "replace" => r.repository = value.to_string(),
            "remove" => r.repository.clear(),
            _ => {}
        },
        "Tag" => match op {
            "add" => {
                let joined = format!("{}{value}", r.tag_or_digest());
                r.set_tag_or_digest(&joined);
            }
            "replace" => r.set_tag_or_digest(value),
            "remove" => r.remove_tag_or_digest(),
            _ => {}
        },
        _ => {}
    }
    Ok(r.to_string())
}

/// `buildCommandArgsPatches`: for each container of that name, add the field when absent or
/// replace it with the values appended (`add`) or filtered out (`remove`).
fn command_args_patches(manifest: &Value, co: &CommandArgsOverrider, field: &str) -> Vec<Op> {
    let Some(prefix) = pod_spec_prefix(manifest) else {
        return Vec::new();
    };
    let values: Vec<Value> = co.value.iter().flatten().map(|v| json!(v)).collect();
    let name = co.container_name.as_str();
    let op = co.operator.as_str();
    let mut ops = Vec::new();
    for (i, c) in arr(manifest, &format!("{prefix}/containers"))
        .iter()
        .enumerate()
    {
        if s(c, "/name") != name {
            continue;
        }
        let path = format!("{prefix}/containers/{i}/{field}");
        let current: Option<Vec<Value>> = c.get(field).filter(|v| !v.is_null()).map(|v| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| json!(x.as_str().map_or_else(|| x.to_string(), String::from)))
                        .collect()
                })
                .unwrap_or_default()
        });
        let base = current.clone().unwrap_or_default();
        let new: Vec<Value> = match op {
            "add" => base.into_iter().chain(values.iter().cloned()).collect(),
            "remove" => base.into_iter().filter(|v| !values.contains(v)).collect(),
            _ => base,
        };
        let kind = if current.is_none() { "add" } else { "replace" };
        ops.push(Op::new(kind, path, Some(Value::Array(new))));
    }
    ops
}

/// `buildLabelAnnotationOverriderPatches`: `remove` / `replace` only keys present, `add`
/// creates the map first when missing.
fn label_annotation_patches(manifest: &mut Value, lo: &MapOverrider, field: &str) -> Vec<Op> {
    let op = lo.operator.as_str();
    let Some(values) = &lo.value else {
        return Vec::new();
    };
    let mut ops = Vec::new();
    for (key, value) in values {
        let existing = obj(manifest, &format!("/metadata/{field}"));
        match op {
            "remove" | "replace" if !existing.is_some_and(|m| m.contains_key(key)) => continue,
            "add" => {
                if existing.is_none()
                    && let Some(meta) = manifest
                        .as_object_mut()
                        .and_then(|m| crate::json::child_obj(m, "metadata"))
                {
                    meta.insert(field.into(), json!({}));
                }
            }
            _ => {}
        }
        let path = format!("/metadata/{field}/{}", key.replace('/', "~1"));
        ops.push(Op::new(op, path, Some(json!(value))));
    }
    ops
}

/// `applyFieldOverriders`: patch the JSON document held in a string field.
fn field_override(
    manifest: &mut Value,
    fo: &FieldOverrider,
    policy: &str,
) -> Result<(), OverrideError> {
    let path = fo.field_path.clone();
    let err = |reason: &str| OverrideError::Field {
        policy: policy.to_string(),
        path: path.clone(),
        reason: reason.to_string(),
    };
    let ops: Vec<Op> = if fo.json.as_ref().is_some_and(|j| !j.is_empty()) {
        fo.json
            .iter()
            .flatten()
            .map(|p| Op::new(&p.operator, &p.sub_path, p.value.clone()))
            .collect()
    } else if fo.yaml.as_ref().is_some_and(|y| !y.is_empty()) {
        return Err(err("YAML field overriders are not supported"));
    } else {
        return Ok(());
    };
    let slot = manifest
        .pointer_mut(&path)
        .filter(|_| path.starts_with('/'))
        .ok_or_else(|| err("the path does not exist"))?;
    let text = slot
        .as_str()
        .ok_or_else(|| err("the value at the path is not a string"))?;
    let mut doc: Value = serde_json::from_str(text).map_err(|e| err(&format!("not JSON: {e}")))?;
    patch::apply(&mut doc, &ops).map_err(|(op, p, reason)| err(&format!("{op} {p}: {reason}")))?;
    *slot = Value::String(doc.to_string());
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
