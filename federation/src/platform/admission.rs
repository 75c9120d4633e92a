//! Admission for fleets and for the fleet a registered cluster names, as validating webhooks
//! would do it: every refusal names its field (`422 Invalid` with causes) or, for deletes, says
//! why and what to do (`403 Forbidden`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use cceone_kube_apiserver::core::{Admission, DeleteAdmission};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, Cause};
use cceone_platform::fleet::{FEDERATION, FleetSpec, fleet_of};
use serde_json::Value;

use super::Shared;
use crate::json::s;
use crate::runtime::ObjKey;

fn is_platform(res: &ResourceInfo, plural: &str) -> bool {
    res.group == cceone_platform::GROUP && res.plural == plural
}

fn cause(reason: &str, field: &str, message: String) -> Cause {
    Cause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

/// A fleet's name is a DNS-1123 label (it is a label value on usage records) and its
/// federation, when set, is this platform's.
fn admit_fleet(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = s(obj, "/metadata/name");
    if let Err(e) = cceone_platform::validate_cluster_name(name) {
        causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!(
                "Invalid value: {name:?}: {}",
                e.to_string().replace("cluster name", "fleet name")
            ),
        ));
    }
    match FleetSpec::of(obj) {
        None => causes.push(cause(
            "FieldValueInvalid",
            "spec",
            "Invalid value: the spec is not a fleet's".into(),
        )),
        Some(spec) => {
            if let Some(f) = spec.federation.as_deref()
                && !f.is_empty()
                && f != FEDERATION
            {
                causes.push(cause(
                    "FieldValueNotSupported",
                    "spec.federation",
                    format!("Unsupported value: {f:?}: supported values: {FEDERATION:?}"),
                ));
            }
        }
    }
    causes
}

/// A cluster joins at most one fleet, one that exists, and not once unsubscribed.
fn admit_cluster_fleet(shared: &Shared, old: Option<&Value>, obj: &Value) -> Vec<Cause> {
    let Some(fleet) = fleet_of(obj) else {
        return Vec::new();
    };
    let before = old.and_then(fleet_of);
    if before == Some(fleet) {
        return Vec::new();
    }
    if let Some(before) = before {
        return vec![cause(
            "FieldValueForbidden",
            "spec.fleet",
            format!(
                "Forbidden: the cluster is already in fleet {before:?}; a cluster belongs to at \
                 most one fleet: remove it first (cceonectl fleet remove {before} {})",
                s(obj, "/metadata/name")
            ),
        )];
    }
    if obj.pointer("/spec/unsubscribed") == Some(&Value::Bool(true)) {
        return vec![cause(
            "FieldValueForbidden",
            "spec.fleet",
            "Forbidden: the cluster is unsubscribed".into(),
        )];
    }
    if !shared.synced.load(Ordering::Acquire) {
        // Until the fleets are loaded an unknown fleet cannot be told from a known one: refuse
        // rather than admit a name that may not exist (a moment after start-up only).
        return vec![cause(
            "FieldValueForbidden",
            "spec.fleet",
            format!(
                "Forbidden: {fleet:?}: the platform is still loading its fleets; retry in a moment"
            ),
        )];
    }
    if shared.fleets.get(&ObjKey::cluster(fleet)).is_none() {
        return vec![cause(
            "FieldValueNotFound",
            "spec.fleet",
            format!("Not found: {fleet:?}: no fleet of that name (cceonectl fleet create {fleet})"),
        )];
    }
    Vec::new()
}

/// A grant names a user, and either clusters or a fleet (not both), each a valid name.
fn admit_grant(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if s(obj, "/spec/user").is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.user",
            "Required value: the user granted".into(),
        ));
    }
    let clusters = obj
        .pointer("/spec/clusters")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let fleet = s(obj, "/spec/fleet");
    match (clusters, fleet.is_empty()) {
        (0, true) => causes.push(cause(
            "FieldValueRequired",
            "spec.clusters",
            "Required value: name clusters (spec.clusters) or a fleet (spec.fleet)".into(),
        )),
        (n, false) if n > 0 => causes.push(cause(
            "FieldValueForbidden",
            "spec.fleet",
            "Forbidden: a grant is on clusters or on a fleet, not both".into(),
        )),
        _ => {}
    }
    let rules: Vec<Value> = obj
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let custom = s(obj, "/spec/role") == cceone_platform::grant::Role::Custom.as_str();
    if custom && rules.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.rules",
            "Required value: a custom grant names what the user may do (resources and verbs)"
                .into(),
        ));
    }
    if !custom && !rules.is_empty() {
        causes.push(cause(
            "FieldValueForbidden",
            "spec.rules",
            "Forbidden: only a grant with role \"custom\" carries rules".into(),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        match serde_json::from_value::<cceone_platform::grant::Permission>(rule.clone()) {
            Ok(p) => {
                for (field, why) in p.problems() {
                    causes.push(cause(
                        "FieldValueInvalid",
                        &format!("spec.rules[{i}].{field}"),
                        format!("Invalid value: {why}"),
                    ));
                }
            }
            Err(e) => causes.push(cause(
                "FieldValueInvalid",
                &format!("spec.rules[{i}]"),
                format!("Invalid value: {e}"),
            )),
        }
    }
    for (i, ns) in obj
        .pointer("/spec/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let n = ns.as_str().unwrap_or_default();
        if cceone_platform::validate_cluster_name(n).is_err() {
            causes.push(cause(
                "FieldValueInvalid",
                &format!("spec.namespaces[{i}]"),
                format!("Invalid value: {n:?}: a namespace is a DNS-1123 label"),
            ));
        }
    }
    causes
}

/// Who turned delete protection on or off, and who unsubscribed a cluster: the request's user,
/// recorded on the RegisteredCluster for the operation log (the lifecycle controller names
/// them). Only a write that changes the field sets its annotation, and no write may set it
/// otherwise (it keeps its value).
fn stamp_changed_by(old: Option<&Value>, obj: &mut Value) {
    let user = cceone_kube_apiserver::request::current_user();
    for (field, annotation) in [
        (
            "/spec/deleteProtection",
            cceone_platform::PROTECTION_CHANGED_BY_ANNOTATION,
        ),
        (
            "/spec/unsubscribed",
            cceone_platform::UNSUBSCRIBED_BY_ANNOTATION,
        ),
    ] {
        let on = |v: Option<&Value>| v.and_then(|v| v.pointer(field)) == Some(&Value::Bool(true));
        let changed = on(old) != on(Some(obj));
        let after = match (&user, changed) {
            (Some(u), true) => Some(u.as_str()),
            _ => old.and_then(|o| crate::json::annotation(o, annotation)),
        };
        match after {
            Some(v) => crate::json::set(
                obj,
                &["metadata", "annotations", annotation],
                Value::String(v.to_owned()),
            ),
            None => {
                if let Some(a) = obj
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove(annotation);
                }
            }
        }
    }
}

/// The write admission hook.
pub(super) fn hook(shared: Arc<Shared>) -> Admission {
    Arc::new(
        move |res: &ResourceInfo, old: Option<&Value>, obj: &mut Value| {
            if is_platform(res, cceone_platform::fleet::PLURAL) {
                admit_fleet(obj)
            } else if is_platform(res, cceone_platform::grant::PLURAL) {
                admit_grant(obj)
            } else if is_platform(res, cceone_platform::PLURAL) {
                stamp_changed_by(old, obj);
                admit_cluster_fleet(&shared, old, obj)
            } else {
                Vec::new()
            }
        },
    )
}

/// Why a fleet may not be deleted now, if it may not.
fn fleet_delete_refusal(fleet: &Value, members: &[String]) -> Option<String> {
    let name = s(fleet, "/metadata/name");
    let what = format!("fleets.{} \"{name}\" is forbidden", cceone_platform::GROUP);
    if FleetSpec::of(fleet).is_some_and(|f| f.bound()) {
        return Some(format!(
            "{what}: the fleet is bound to federation {FEDERATION:?} (spec.federation); unbind \
             it first: cceonectl fleet unbind {name}"
        ));
    }
    if !members.is_empty() {
        return Some(format!(
            "{what}: the fleet holds clusters ({}); remove them first: cceonectl fleet remove \
             {name} {}",
            members.join(", "),
            members.join(" ")
        ));
    }
    None
}

/// Deleting a fleet is refused while it is bound or holds clusters (seed §4.3.2).
pub(super) fn delete_hook(shared: Arc<Shared>) -> DeleteAdmission {
    Arc::new(move |res: &ResourceInfo, obj: &Value| {
        if !is_platform(res, cceone_platform::fleet::PLURAL) {
            return Ok(());
        }
        let mut members: Vec<String> = shared
            .members(s(obj, "/metadata/name"))
            .iter()
            .map(|m| s(m, "/metadata/name").to_string())
            .collect();
        members.sort();
        match fleet_delete_refusal(obj, &members) {
            Some(why) => Err(ApiError::Forbidden(why)),
            None => Ok(()),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fleets_name_their_bad_fields() {
        let bad = json!({"metadata": {"name": "Bad_Name"}, "spec": {"federation": "other"}});
        let fields: Vec<String> = admit_fleet(&bad).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["metadata.name", "spec.federation"]);
        let good = json!({"metadata": {"name": "f1"}, "spec": {"federation": FEDERATION}});
        assert!(admit_fleet(&good).is_empty());
    }

    #[test]
    fn grants_name_their_bad_fields() {
        let field = |v: Value| {
            admit_grant(&v)
                .into_iter()
                .map(|c| c.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            field(json!({"spec": {"user": "a", "role": "developer"}})),
            ["spec.clusters"]
        );
        assert_eq!(
            field(
                json!({"spec": {"user": "", "role": "developer", "clusters": ["m1"], "fleet": "f"}})
            ),
            ["spec.user", "spec.fleet"]
        );
        assert_eq!(
            field(json!({"spec": {"user": "a", "fleet": "f", "namespaces": ["ok", "Bad"]}})),
            ["spec.namespaces[1]"]
        );
        assert!(field(json!({"spec": {"user": "a", "fleet": "f"}})).is_empty());
        assert_eq!(
            field(json!({"spec": {"user": "a", "role": "custom", "fleet": "f"}})),
            ["spec.rules"]
        );
        assert_eq!(
            field(
                json!({"spec": {"user": "a", "role": "developer", "fleet": "f",
                "rules": [{"resources": ["pods"], "verbs": ["get"]}]}})
            ),
            ["spec.rules"]
        );
        assert_eq!(
            field(json!({"spec": {"user": "a", "role": "custom", "fleet": "f",
                "rules": [{"resources": ["pods"], "verbs": ["get"]},
                          {"resources": ["pods"], "verbs": ["escalate"]}]}})),
            ["spec.rules[1].verbs"]
        );
    }

    #[test]
    fn a_bound_or_populated_fleet_is_not_deleted() {
        let bound = json!({"metadata": {"name": "f"}, "spec": {"federation": FEDERATION}});
        assert!(
            fleet_delete_refusal(&bound, &[])
                .unwrap()
                .contains("spec.federation")
        );
        let free = json!({"metadata": {"name": "f"}, "spec": {}});
        let why = fleet_delete_refusal(&free, &["a".into(), "b".into()]).unwrap();
        assert!(why.contains("cceonectl fleet remove f a b"), "{why}");
        assert!(fleet_delete_refusal(&free, &[]).is_none());
    }

    #[test]
    fn a_cluster_in_a_fleet_cannot_move_to_another() {
        let shared = Shared::new();
        let old = json!({"metadata": {"name": "c"}, "spec": {"type": "local", "fleet": "a"}});
        let new = json!({"metadata": {"name": "c"}, "spec": {"type": "local", "fleet": "b"}});
        let causes = admit_cluster_fleet(&shared, Some(&old), &new);
        assert_eq!(causes[0].field, "spec.fleet");
        assert!(causes[0].message.contains("already in fleet \"a\""));
        assert!(admit_cluster_fleet(&shared, Some(&old), &old).is_empty());
        // Before the caches load, no fleet can be checked: joining one is refused for now.
        let alone = json!({"metadata": {"name": "c"}, "spec": {"type": "local"}});
        let causes = admit_cluster_fleet(&shared, Some(&alone), &new);
        assert!(causes[0].message.contains("still loading"), "{causes:?}");
        shared.synced.store(true, Ordering::Release);
        let causes = admit_cluster_fleet(&shared, Some(&alone), &new);
        assert_eq!(causes[0].reason, "FieldValueNotFound");
    }
}
