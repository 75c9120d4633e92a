//! Validation of the built-in kinds users write most, as kube-apiserver's
//! `pkg/apis/<group>/validation/validation.go` does on create and update: each problem is a
//! [`Cause`] with upstream's field path and message, and the write is refused with 422.
//!
//! [`validate`] matches on group and kind first and returns at once for every other kind, so
//! the federation's own objects (thousands of writes a second) pay one string comparison.

mod core;
mod cron;
mod events;
mod networking;
mod pod;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::error::Cause;
use crate::resource::ResourceInfo;

/// Validate `obj` of `res` (and, on update, against `old`), appending the causes that refuse it.
/// An object written in another version than the one stored is converted first.
pub(crate) fn validate(
    res: &ResourceInfo,
    old: Option<&Value>,
    obj: &mut Value,
    causes: &mut Vec<Cause>,
) {
    if res.converts() {
        crate::convert::to_storage(res, obj);
        // The old object was read in the served shape too.
        let old = old.cloned().map(|mut o| {
            crate::convert::to_storage(res, &mut o);
            o
        });
        return validate_kind(&res.group, &res.kind, old.as_ref(), obj, causes);
    }
    validate_kind(&res.group, &res.kind, old, obj, causes);
}

/// [`validate`] by group and kind.
pub(crate) fn validate_kind(
    group: &str,
    kind: &str,
    old: Option<&Value>,
    obj: &Value,
    causes: &mut Vec<Cause>,
) {
    match (group, kind) {
        ("apps", "Deployment") => workloads::deployment(obj, old, causes),
        ("apps", "ReplicaSet") => workloads::replica_set(obj, old, causes),
        ("apps", "StatefulSet") => workloads::stateful_set(obj, old, causes),
        ("apps", "DaemonSet") => workloads::daemon_set(obj, old, causes),
        ("batch", "Job") => workloads::job(obj, old, causes),
        ("batch", "CronJob") => workloads::cron_job(obj, causes),
        ("", "Pod") => pod::pod(obj, old, causes),
        ("", "ReplicationController") => workloads::replication_controller(obj, causes),
        ("", "Service") => core::service(obj, old, causes),
        ("", "ConfigMap") => core::config_map(obj, old, causes),
        ("", "Secret") => core::secret(obj, old, causes),
        ("", "Event") => events::event(obj, old, false, causes),
        ("events.k8s.io", "Event") => events::event(obj, old, true, causes),
        ("networking.k8s.io", "Ingress") => networking::ingress(obj, causes),
        ("networking.k8s.io", "NetworkPolicy") => networking::network_policy(obj, causes),
        ("autoscaling", "HorizontalPodAutoscaler") => networking::hpa(obj, causes),
        ("policy", "PodDisruptionBudget") => networking::pdb(obj, causes),
        _ => {}
    }
}

/// `field.Invalid` with the value already printed as Go prints it (`%#v` of a struct or map).
fn invalid_shown(field: impl Into<String>, shown: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {shown}: {detail}"),
        field: field.into(),
    }
}

/// `field.Duplicate`.
fn duplicate(field: impl Into<String>, value: &Value) -> Cause {
    Cause {
        reason: "FieldValueDuplicate".into(),
        message: format!("Duplicate value: {}", shown(value)),
        field: field.into(),
    }
}

/// `field.Forbidden`.
fn forbidden(field: impl Into<String>, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {detail}"),
        field: field.into(),
    }
}

/// `field.NotFound`.
fn not_found(field: impl Into<String>, value: &Value) -> Cause {
    Cause {
        reason: "FieldValueNotFound".into(),
        message: format!("Not found: {}", shown(value)),
        field: field.into(),
    }
}

/// `field.TooLong` (apimachinery 1.32: "must have at most N bytes"; the value is not shown).
fn too_long(field: impl Into<String>, max: usize) -> Cause {
    Cause {
        reason: "FieldValueTooLong".into(),
        message: format!("Too long: must have at most {max} bytes"),
        field: field.into(),
    }
}

/// A value as `field.Error` prints it: strings quoted, numbers and booleans bare.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// `ValidateImmutableField`: `Invalid value: <new>: field is immutable`.
fn immutable(field: &str, old: Option<&Value>, new: Option<&Value>, causes: &mut Vec<Cause>) {
    let null = Value::Null;
    let (old, new) = (old.unwrap_or(&null), new.unwrap_or(&null));
    if old != new {
        causes.push(Cause::invalid(field, new, "field is immutable"));
    }
}

/// `validation.IsValidPortNum`.
fn port_num_error(v: &Value) -> Option<&'static str> {
    match v.as_i64() {
        Some(1..=65535) => None,
        _ => Some("must be between 1 and 65535, inclusive"),
    }
}

/// Check a port number at `field` (`Invalid value: 99999: must be between 1 and 65535, inclusive`).
fn port_num(field: impl Into<String>, v: &Value, causes: &mut Vec<Cause>) {
    if let Some(msg) = port_num_error(v) {
        causes.push(Cause::invalid(field, v, msg));
    }
}

/// `validation.IsValidPortName`: an IANA service name.
fn port_name_errors(name: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if name.len() > 15 {
        out.push("must be no more than 15 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if name.contains("--") {
        out.push("must not contain consecutive hyphens");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        out.push("must not begin or end with a hyphen");
    }
    out
}

/// A port given as a number or an IANA name (`targetPort`, probes' ports).
fn port_num_or_name(field: &str, v: &Value, causes: &mut Vec<Cause>) {
    match v {
        Value::String(s) => {
            for msg in port_name_errors(s) {
                causes.push(Cause::invalid(field, v, msg));
            }
        }
        _ => port_num(field, v, causes),
    }
}

/// `ValidateNonnegativeField`.
fn nonnegative(obj: &Value, pointer: &str, field: &str, causes: &mut Vec<Cause>) {
    if let Some(v) = obj.pointer(pointer).filter(|v| !v.is_null())
        && v.as_i64().is_none_or(|n| n < 0)
    {
        causes.push(Cause::invalid(
            field,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

/// A string field limited to `supported` (`field.NotSupported`).
fn one_of(obj: &Value, pointer: &str, field: &str, supported: &[&str], causes: &mut Vec<Cause>) {
    if let Some(v) = obj.pointer(pointer).filter(|v| !v.is_null())
        && !v.as_str().is_some_and(|s| supported.contains(&s))
    {
        causes.push(Cause::not_supported(field, v, supported));
    }
}

/// The keys of `data`, `binaryData` and `stringData` maps (`validation.IsConfigMapKey`).
fn config_key_errors(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if key.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        out.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if key == "." || key == ".." {
        out.push(format!("must not be '{key}'"));
    } else if key.starts_with("..") {
        out.push("must not start with '..'".to_string());
    }
    out
}
