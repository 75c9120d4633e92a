//! Admission for Karmada's policy kinds: the defaulting Karmada's mutating webhooks apply and
//! the semantic checks its validating webhooks make (`pkg/util/validation/validation.go`,
//! `pkg/webhook/{propagationpolicy,overridepolicy}`) beyond what the CRD schema can say, each
//! failure a [`Cause`] naming the field (`spec.placement.spreadConstraints[0]`) the way
//! Kubernetes' `field.Error` does, so the caller can answer `422 Invalid` with them.
//!
//! The checks expect an object the schema already accepted and Karmada's defaults applied
//! ([`default_policy`]); [`validate`] defaults a copy first so it can be called on raw input.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::json::{arr, int, obj, present, s};

mod checks;

/// One reason an object is invalid, shaped like a Kubernetes `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The field path, e.g. `spec.resourceSelectors[0].kind`.
    pub field: String,
    /// The machine-readable reason: `FieldValueRequired`, `FieldValueInvalid`,
    /// `FieldValueNotSupported` or `FieldValueDuplicate`.
    pub reason: String,
    /// The human-readable message, as `field.Error.ErrorBody` writes it.
    pub message: String,
}

impl Cause {
    /// A required field is missing.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Cause {
            field: field.into(),
            reason: "FieldValueRequired".into(),
            message,
        }
    }

    /// A field has an invalid value.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Cause {
            field: field.into(),
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {detail}", show(value)),
        }
    }

    /// A field has a value outside a fixed set.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            field: field.into(),
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                list.join(", ")
            ),
        }
    }

    /// A value appears twice where it must be unique.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Cause {
            field: field.into(),
            reason: "FieldValueDuplicate".into(),
            message: format!("Duplicate value: {}", show(value)),
        }
    }
}

/// A value as an error message shows it: strings quoted, the rest as compact JSON (cut short).
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Applies Karmada's admission defaults to a PropagationPolicy, ClusterPropagationPolicy,
/// OverridePolicy or ClusterOverridePolicy in place: the CRD schema defaults
/// (`conflictResolution: Abort`, `priority: 0`, `schedulerName: default-scheduler`,
/// `replicaSchedulingType: Divided`, failover `purgeMode: Gracefully`, `tolerationSeconds: 300`,
/// ...) and the mutating webhooks' (a PropagationPolicy's / OverridePolicy's resource selectors
/// inherit its namespace; spread constraints default to `spreadByField: cluster` and
/// `minGroups: 1`; `Divided` defaults to `Weighted`; `Gracefully` gets `gracePeriodSeconds: 600`;
/// a ServiceImport selector turns `propagateDeps` on). The permanent-id label is
/// [`set_permanent_id`]'s job, since it needs a fresh UUID.
pub fn default_policy(policy: &mut Value) {
    crate::crds::default_object(policy);
    let kind = s(policy, "/kind").to_string();
    let namespace = s(policy, "/metadata/namespace").to_string();
    let Some(spec) = policy.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if matches!(kind.as_str(), "PropagationPolicy" | "OverridePolicy")
        && !namespace.is_empty()
        && let Some(selectors) = spec
            .get_mut("resourceSelectors")
            .and_then(Value::as_array_mut)
    {
        for rs in selectors.iter_mut().filter_map(Value::as_object_mut) {
            let unset = rs
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty();
            if unset {
                rs.insert("namespace".into(), json!(namespace));
            }
        }
    }
    if !matches!(
        kind.as_str(),
        "PropagationPolicy" | "ClusterPropagationPolicy"
    ) {
        return;
    }
    let service_import = spec
        .get("resourceSelectors")
        .and_then(Value::as_array)
        .is_some_and(|rs| {
            rs.iter().any(|r| {
                s(r, "/kind") == "ServiceImport"
                    && s(r, "/apiVersion") == "multicluster.x-k8s.io/v1alpha1"
            })
        });
    if service_import {
        spec.insert("propagateDeps".into(), json!(true));
    }
    if let Some(placement) = spec.get_mut("placement").and_then(Value::as_object_mut) {
        if let Some(constraints) = placement
            .get_mut("spreadConstraints")
            .and_then(Value::as_array_mut)
        {
            for c in constraints.iter_mut().filter_map(Value::as_object_mut) {
                let by_label = c.get("spreadByLabel").and_then(Value::as_str).unwrap_or("");
                let by_field = c.get("spreadByField").and_then(Value::as_str).unwrap_or("");
                if by_label.is_empty() && by_field.is_empty() {
                    c.insert("spreadByField".into(), json!("cluster"));
                }
                if c.get("minGroups").and_then(Value::as_i64).unwrap_or(0) == 0 {
                    c.insert("minGroups".into(), json!(1));
                }
            }
        }
        if let Some(rs) = placement
            .get_mut("replicaScheduling")
            .and_then(Value::as_object_mut)
            && rs.get("replicaSchedulingType").and_then(Value::as_str) == Some("Divided")
            && rs
                .get("replicaDivisionPreference")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        {
            rs.insert("replicaDivisionPreference".into(), json!("Weighted"));
        }
    }
    if let Some(app) = spec
        .get_mut("failover")
        .and_then(|f| f.get_mut("application"))
        .and_then(Value::as_object_mut)
        && app.get("purgeMode").and_then(Value::as_str) == Some("Gracefully")
        && app.get("gracePeriodSeconds").is_none_or(Value::is_null)
    {
        app.insert("gracePeriodSeconds".into(), json!(600));
    }
}

/// Sets a policy's permanent-id label (`propagationpolicy.karmada.io/permanent-id` or the
/// cluster-scoped one) if absent, as Karmada's mutating webhook does on create.
pub fn set_permanent_id(policy: &mut Value, id: &str) {
    let label = match s(policy, "/kind") {
        "PropagationPolicy" => crate::names::PP_PERMANENT_ID_LABEL,
        "ClusterPropagationPolicy" => crate::names::CPP_PERMANENT_ID_LABEL,
        _ => return,
    };
    let Some(meta) = policy.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(labels) = crate::json::child_obj(meta, "labels")
        && !labels.contains_key(label)
    {
        labels.insert(label.into(), json!(id));
    }
}

/// Validates a policy of any of Karmada's four policy kinds (defaulting a copy first); other
/// kinds yield no causes.
pub fn validate(policy: &Value) -> Vec<Cause> {
    let mut defaulted = policy.clone();
    default_policy(&mut defaulted);
    match s(&defaulted, "/kind") {
        "PropagationPolicy" | "ClusterPropagationPolicy" => validate_propagation_policy(&defaulted),
        "OverridePolicy" | "ClusterOverridePolicy" => validate_override_policy(&defaulted),
        _ => Vec::new(),
    }
}

/// The checks on an update beyond [`validate`]'s: `spec.schedulerName` and the permanent-id
/// label are immutable.
pub fn validate_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if !matches!(
        s(new, "/kind"),
        "PropagationPolicy" | "ClusterPropagationPolicy"
    ) {
        return causes;
    }
    let scheduler = |p: &Value| {
        let v = s(p, "/spec/schedulerName");
        if v.is_empty() {
            crate::names::DEFAULT_SCHEDULER.to_string()
        } else {
            v.to_string()
        }
    };
    if scheduler(old) != scheduler(new) {
        causes.push(Cause::invalid(
            "spec.schedulerName",
            &json!(scheduler(new)),
            "the schedulerName should not be updated",
        ));
    }
    for label in [
        crate::names::PP_PERMANENT_ID_LABEL,
        crate::names::CPP_PERMANENT_ID_LABEL,
    ] {
        let get = |p: &Value| {
            obj(p, "/metadata/labels")
                .and_then(|l| l.get(label))
                .cloned()
        };
        if let Some(before) = get(old)
            && get(new).as_ref() != Some(&before)
        {
            causes.push(Cause::invalid(
                format!("metadata.labels[{label}]"),
                &get(new).unwrap_or(Value::Null),
                &format!(
                    "label {label} is immutable, it can only be set by the system during creation"
                ),
            ));
        }
    }
    causes
}

/// `ValidatePropagationSpec` plus the schema rules the brief also asks for here (selectors,
/// static weights), for a PropagationPolicy or ClusterPropagationPolicy.
pub fn validate_propagation_policy(policy: &Value) -> Vec<Cause> {
    let mut c = Vec::new();
    let spec = policy.get("spec").unwrap_or(&Value::Null);
    let namespace = if s(policy, "/kind") == "PropagationPolicy" {
        s(policy, "/metadata/namespace")
    } else {
        ""
    };
    checks::resource_selectors(spec, namespace, true, &mut c);
    let placement = spec.get("placement").unwrap_or(&Value::Null);
    checks::placement(placement, "spec.placement", &mut c);
    let app = spec.pointer("/failover/application");
    if app.is_some_and(|a| !a.is_null()) && !crate::json::flag(spec, "/propagateDeps") {
        c.push(Cause::invalid(
            "spec.propagateDeps",
            spec.get("propagateDeps").unwrap_or(&json!(false)),
            "application failover is set, propagateDeps must be true",
        ));
    }
    checks::failover(spec, &mut c);
    if s(spec, "/preemption") == "Always" {
        for (i, rs) in arr(spec, "/resourceSelectors").iter().enumerate() {
            if s(rs, "/name").is_empty() {
                c.push(Cause::invalid(
                    format!("spec.resourceSelectors[{i}].name"),
                    &json!(""),
                    "name cannot be empty if preemption is Always, the empty name may cause unexpected resources preemption",
                ));
            }
        }
    }
    if crate::json::flag(spec, "/suspension/dispatching")
        && !arr(spec, "/suspension/dispatchingOnClusters/clusterNames").is_empty()
    {
        c.push(Cause::invalid(
            "spec.suspension.suspension",
            spec.get("suspension").unwrap_or(&Value::Null),
            "suspension dispatching cannot co-exist with dispatchingOnClusters.clusterNames",
        ));
    }
    if int(spec, "/priority").is_some_and(|p| p < i64::from(i32::MIN) || p > i64::from(i32::MAX)) {
        c.push(Cause::invalid(
            "spec.priority",
            &spec["priority"],
            "must fit a 32-bit integer",
        ));
    }
    c
}

/// `ValidateOverrideSpec` plus the overrider operator / component rules, for an
/// OverridePolicy or ClusterOverridePolicy.
pub fn validate_override_policy(policy: &Value) -> Vec<Cause> {
    let mut c = Vec::new();
    let spec = policy.get("spec").unwrap_or(&Value::Null);
    let namespace = if s(policy, "/kind") == "OverridePolicy" {
        s(policy, "/metadata/namespace")
    } else {
        ""
    };
    let has_rules = present(spec, "/overrideRules");
    if let Some(tc) = spec.get("targetCluster").filter(|v| !v.is_null()) {
        checks::cluster_affinity(tc, "spec.targetCluster", &mut c);
        if has_rules {
            c.push(Cause::invalid(
                "spec.targetCluster",
                tc,
                "overrideRules and targetCluster can't co-exist",
            ));
        }
    }
    let legacy = spec.get("overriders").unwrap_or(&Value::Null);
    if has_rules && checks::has_overriders(legacy) {
        c.push(Cause::invalid(
            "spec.overriders",
            legacy,
            "overrideRules and overriders can't co-exist",
        ));
    }
    for (i, rule) in arr(spec, "/overrideRules").iter().enumerate() {
        let path = format!("spec.overrideRules[{i}]");
        checks::overriders(
            rule.get("overriders").unwrap_or(&Value::Null),
            &format!("{path}.overriders"),
            &mut c,
        );
        if let Some(tc) = rule.get("targetCluster").filter(|v| !v.is_null()) {
            checks::cluster_affinity(tc, &format!("{path}.targetCluster"), &mut c);
        }
    }
    if !legacy.is_null() {
        checks::overriders(legacy, "spec.overriders", &mut c);
    }
    checks::resource_selectors(spec, namespace, false, &mut c);
    c
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
