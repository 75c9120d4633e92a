//! Services, ConfigMaps and Secrets (`ValidateService`, `ValidateServiceUpdate`,
//! `ValidateConfigMap`, `ValidateSecret` and their updates in
//! `pkg/apis/core/validation/validation.go`).

use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    config_key_errors, duplicate, forbidden, one_of, port_num, port_num_or_name, too_long,
};
use crate::error::Cause;

/// `core.MaxSecretSize`, the limit of a ConfigMap's or Secret's data.
const MAX_DATA_BYTES: usize = 1024 * 1024;

pub(super) fn service(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let Some(spec) = obj.get("spec") else {
        return;
    };
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    one_of(
        spec,
        "/type",
        "spec.type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        causes,
    );
    one_of(
        spec,
        "/sessionAffinity",
        "spec.sessionAffinity",
        &["ClientIP", "None"],
        causes,
    );
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports = spec.get("ports").and_then(Value::as_array);
    if ty == "ExternalName" {
        if spec
            .get("externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required("spec.externalName"));
        }
    } else if ports.is_none_or(|p| p.is_empty()) && !headless {
        causes.push(Cause::required("spec.ports"));
    }
    let ports = ports.map(Vec::as_slice).unwrap_or_default();
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        match p
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            None if ports.len() > 1 => causes.push(Cause::required(format!("{at}.name"))),
            None => {}
            Some(n) => {
                if let Some(c) = crate::meta::validate_name(&format!("{at}.name"), n, true) {
                    causes.push(c);
                }
                if names.contains(&n) {
                    causes.push(duplicate(format!("{at}.name"), &json!(n)));
                }
                names.push(n);
            }
        }
        match p.get("port") {
            None | Some(Value::Null) => causes.push(Cause::required(format!("{at}.port"))),
            Some(v) => port_num(format!("{at}.port"), v, causes),
        }
        one_of(
            p,
            "/protocol",
            &format!("{at}.protocol"),
            &["SCTP", "TCP", "UDP"],
            causes,
        );
        if let Some(t) = p
            .get("targetPort")
            .filter(|t| !t.is_null() && t.as_i64() != Some(0))
        {
            port_num_or_name(&format!("{at}.targetPort"), t, causes);
        }
        if let Some(np) = p
            .get("nodePort")
            .filter(|v| !v.is_null() && v.as_i64() != Some(0))
        {
            port_num(format!("{at}.nodePort"), np, causes);
        }
    }
    if let Some(old) = old {
        cluster_ip_update(old, obj, causes);
    }
}

/// `validateUpgradeDowngradeClusterIPs`: a cluster IP once set stays (except to or from
/// ExternalName).
fn cluster_ip_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let ty = |o: &Value| {
        o.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string()
    };
    if ty(old) == "ExternalName" || ty(new) == "ExternalName" {
        return;
    }
    let first = |o: &Value| {
        o.pointer("/spec/clusterIPs/0")
            .or_else(|| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    if let (Some(a), Some(b)) = (first(old), first(new))
        && a != b
    {
        let ips: Vec<String> = new
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .map(|l| l.iter().map(Value::to_string).collect())
            .unwrap_or_else(|| vec![json!(b).to_string()]);
        causes.push(super::invalid_shown(
            "spec.clusterIPs[0]",
            &format!("[]string{{{}}}", ips.join(", ")),
            "may not change once set",
        ));
    }
}

pub(super) fn config_map(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let mut total = 0usize;
    let data = obj.get("data").and_then(Value::as_object);
    let binary = obj.get("binaryData").and_then(Value::as_object);
    for (k, v) in data.into_iter().flatten() {
        keys("data", k, causes);
        total += v.as_str().map_or(0, str::len);
    }
    for (k, v) in binary.into_iter().flatten() {
        keys("binaryData", k, causes);
        if data.is_some_and(|d| d.contains_key(k)) {
            causes.push(Cause::invalid(
                format!("data[{k}]"),
                &json!(k),
                "duplicate of key present in binaryData",
            ));
        }
        total += decoded_len(v);
    }
    if total > MAX_DATA_BYTES {
        causes.push(too_long("[]", MAX_DATA_BYTES));
    }
    if let Some(old) = old {
        immutable_data(old, obj, &["data", "binaryData"], causes);
    }
}

pub(super) fn secret(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let data = obj.get("data").and_then(Value::as_object);
    let mut total = 0usize;
    for (k, v) in data.into_iter().flatten() {
        keys("data", k, causes);
        total += decoded_len(v);
    }
    if total > MAX_DATA_BYTES {
        causes.push(too_long("data", MAX_DATA_BYTES));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    match obj.get("type").and_then(Value::as_str).unwrap_or("Opaque") {
        "kubernetes.io/service-account-token"
            if obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty) =>
        {
            causes.push(Cause::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
            ));
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => {
            causes.push(Cause::required("data[.dockercfg]"));
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            causes.push(Cause::required("data[.dockerconfigjson]"));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.key", "tls.crt"] {
                if !has(k) {
                    causes.push(Cause::required(format!("data[{k}]")));
                }
            }
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
            causes.push(Cause::required("data[ssh-privatekey]"));
        }
        _ => {}
    }
    if let Some(old) = old {
        super::immutable("type", old.get("type"), obj.get("type"), causes);
        immutable_data(old, obj, &["data"], causes);
    }
}

/// Data keys: `data[key]: Invalid value: "key": a valid config key ...`.
fn keys(map: &str, key: &str, causes: &mut Vec<Cause>) {
    for msg in config_key_errors(key) {
        causes.push(Cause::invalid(format!("{map}[{key}]"), &json!(key), &msg));
    }
}

/// Bytes a base64 value decodes to (its length when it does not decode: the schema check
/// reports that).
fn decoded_len(v: &Value) -> usize {
    let s = v.as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_or(s.len(), |b| b.len())
}

/// `immutable: true` freezes the data and the flag itself (`ValidateConfigMapUpdate`,
/// `ValidateSecretUpdate`).
fn immutable_data(old: &Value, new: &Value, fields: &[&str], causes: &mut Vec<Cause>) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for f in fields {
        let empty = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v == &json!({}));
        let (a, b) = (old.get(*f), new.get(*f));
        if a != b && !(empty(a) && empty(b)) {
            causes.push(forbidden(*f, "field is immutable when `immutable` is set"));
        }
    }
}
