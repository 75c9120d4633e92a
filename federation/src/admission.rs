//! Admission for the federation's kinds, as Karmada's webhooks do it: policies are defaulted
//! (and PropagationPolicies get their permanent id) and then validated, each failure a field
//! cause the API server answers with `422 Invalid`; Clusters, bindings and Works get their
//! schema defaults.

use std::sync::Arc;

use cceone_federation_core::{crds, names, validate};
use cceone_kube_apiserver::core::{Admission, DeleteAdmission};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Cause};
use serde_json::{Value, json};

use crate::json::label;

/// federation-core's cause as the API server's.
fn cause(c: validate::Cause) -> Cause {
    Cause {
        reason: c.reason,
        message: c.message,
        field: c.field,
    }
}

/// A PropagationPolicy's permanent id is set once; an update that drops the label keeps the
/// old one (as `kubectl replace` of a policy written without it would).
fn keep_permanent_id(old: Option<&Value>, obj: &mut Value) {
    let Some(old) = old else { return };
    for key in [names::PP_PERMANENT_ID_LABEL, names::CPP_PERMANENT_ID_LABEL] {
        if let Some(id) = label(old, key)
            && label(obj, key).is_none()
        {
            crate::json::set(obj, &["metadata", "labels", key], json!(id));
        }
    }
}

/// A new PropagationPolicy (ClusterPropagationPolicy) gets Karmada's finalizer, which the
/// policy controller takes off once no template is claimed by it any more (Karmada's policy
/// webhooks, pkg/webhook/propagationpolicy/mutating.go, add it on create).
fn add_finalizer(kind: &str, obj: &mut Value) {
    let finalizer = match kind {
        "PropagationPolicy" => names::PP_FINALIZER,
        "ClusterPropagationPolicy" => names::CPP_FINALIZER,
        _ => return,
    };
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let list = md
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = list.as_array_mut()
            && !list.iter().any(|f| f == finalizer)
        {
            list.push(json!(finalizer));
        }
    }
}

/// Admit (default and validate) one write of a policy.
fn admit_policy(kind: &str, old: Option<&Value>, obj: &mut Value) -> Vec<Cause> {
    if old.is_none() {
        add_finalizer(kind, obj);
    }
    validate::default_policy(obj);
    keep_permanent_id(old, obj);
    validate::set_permanent_id(obj, &uuid::Uuid::new_v4().to_string());
    let mut causes = validate::validate(obj);
    if let Some(old) = old {
        causes.extend(validate::validate_update(old, obj));
    }
    causes.into_iter().map(cause).collect()
}

/// Whether a RegisteredCluster has delete protection on.
fn protected(cluster: &Value) -> bool {
    cluster.pointer("/spec/deleteProtection") == Some(&Value::Bool(true))
}

fn unsubscribed(cluster: &Value) -> bool {
    cluster.pointer("/spec/unsubscribed") == Some(&Value::Bool(true))
}

/// A delete-protected RegisteredCluster cannot be unsubscribed (whoever writes it: `kubectl`
/// as much as `cceonectl`) unless the same write turns protection off.
fn admit_registered_cluster(old: Option<&Value>, obj: &Value) -> Vec<Cause> {
    match old {
        Some(old)
            if protected(old) && protected(obj) && !unsubscribed(old) && unsubscribed(obj) =>
        {
            vec![Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: the cluster has delete protection (spec.deleteProtection); \
                          turn it off before unsubscribing"
                    .into(),
                field: "spec.unsubscribed".into(),
            }]
        }
        _ => Vec::new(),
    }
}

/// Deleting a RegisteredCluster with delete protection on is refused, as a validating webhook
/// on DELETE would refuse it (403 with the reason).
pub(crate) fn delete_hook() -> DeleteAdmission {
    Arc::new(|res: &ResourceInfo, obj: &Value| {
        if res.group == cceone_platform::GROUP
            && res.plural == "registeredclusters"
            && protected(obj)
        {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(ApiError::Forbidden(format!(
                "registeredclusters.{} \"{name}\" is forbidden: the cluster has delete protection \
                 (spec.deleteProtection); turn it off first: cceonectl cluster protect {name} --off",
                cceone_platform::GROUP
            )));
        }
        Ok(())
    })
}

/// The admission hook to register with the API server.
pub(crate) fn hook() -> Admission {
    Arc::new(
        |res: &ResourceInfo, old: Option<&Value>, obj: &mut Value| -> Vec<Cause> {
            match res.group.as_str() {
                "policy.karmada.io" => admit_policy(&res.kind, old, obj),
                "cluster.karmada.io" | "work.karmada.io" => {
                    crds::default_object(obj);
                    Vec::new()
                }
                g if g == cceone_platform::GROUP && res.plural == "registeredclusters" => {
                    admit_registered_cluster(old, obj)
                }
                _ => Vec::new(),
            }
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pp(weight: i64) -> Value {
        json!({
            "apiVersion": "policy.karmada.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
                "placement": {"replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": [
                        {"targetCluster": {"clusterNames": ["m1"]}, "weight": weight}]}}},
            },
        })
    }

    #[test]
    fn a_valid_policy_is_defaulted_and_given_a_permanent_id() {
        let mut obj = pp(1);
        assert!(admit_policy("PropagationPolicy", None, &mut obj).is_empty());
        assert_eq!(obj["spec"]["conflictResolution"], "Abort");
        assert_eq!(obj["metadata"]["finalizers"], json!([names::PP_FINALIZER]));
        assert_eq!(obj["spec"]["resourceSelectors"][0]["namespace"], "default");
        let id = label(&obj, names::PP_PERMANENT_ID_LABEL)
            .unwrap()
            .to_string();
        // An update without the label keeps the id.
        let mut update = pp(2);
        assert!(admit_policy("PropagationPolicy", Some(&obj), &mut update).is_empty());
        assert_eq!(
            label(&update, names::PP_PERMANENT_ID_LABEL),
            Some(id.as_str())
        );
    }

    #[test]
    fn a_zero_weight_names_its_field() {
        let mut obj = pp(0);
        let causes = admit_policy("PropagationPolicy", None, &mut obj);
        assert!(
            causes.iter().any(|c| c.field
                == "spec.placement.replicaScheduling.weightPreference.staticWeightList[0].weight"),
            "{causes:?}"
        );
    }
}
