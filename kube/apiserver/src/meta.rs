//! Object metadata the way kube-apiserver keeps it: names, uid, timestamps, generation, and the
//! small accessors every handler needs on `serde_json::Value` objects.

use serde_json::{Map, Value};

use crate::error::Cause;

/// The current time as an RFC 3339 timestamp with second precision, as Kubernetes writes it.
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}

/// `metadata.name` of an object.
pub fn name(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/name").and_then(Value::as_str)
}

/// `metadata.namespace` of an object.
pub fn namespace(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// `metadata.uid` of an object.
pub fn uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/uid").and_then(Value::as_str)
}

/// `metadata.resourceVersion` of an object, if set and non-empty.
pub fn resource_version(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The `metadata` map of an object, created if missing (and replacing a non-map).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(map) = obj else {
        unreachable!("made an object above")
    };
    let md = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    match md {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// Finalizers of an object.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a deletion has been requested.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Check a DNS-1123 subdomain name (most object names).
pub fn validate_name(field: &str, name: &str, dns_label: bool) -> Option<Cause> {
    let max = if dns_label { 63 } else { 253 };
    let ok_chars = name.chars().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (c == '.' && !dns_label)
    });
    let ends_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() {
        return Some(Cause::required(field));
    }
    if name.len() > max || !ok_chars || !ends_ok {
        let what = if dns_label {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        };
        return Some(Cause::invalid(field, &Value::String(name.into()), what));
    }
    None
}

/// Check a name that need only be a URL path segment (RBAC objects): not `.` or `..`, and
/// without `/` or `%`.
pub fn validate_path_segment_name(field: &str, name: &str) -> Option<Cause> {
    let bad = |detail: String| Some(Cause::invalid(field, &Value::String(name.into()), &detail));
    if name.is_empty() {
        return Some(Cause::required(field));
    }
    if name == "." || name == ".." {
        return bad(format!("may not be '{name}'"));
    }
    for c in ["/", "%"] {
        if name.contains(c) {
            return bad(format!("may not contain '{c}'"));
        }
    }
    None
}

/// Check labels (keys with optional DNS prefix, values of at most 63 safe characters).
pub fn validate_labels(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(labels) = obj.pointer("/metadata/labels") else {
        return;
    };
    if labels.is_null() {
        return;
    }
    let Some(map) = labels.as_object() else {
        causes.push(Cause::invalid(
            "metadata.labels",
            labels,
            "must be a map of strings",
        ));
        return;
    };
    for (k, v) in map {
        let field = format!("metadata.labels.{k}");
        let Some(s) = v.as_str() else {
            causes.push(Cause::invalid(&field, v, "label values must be strings"));
            continue;
        };
        let value_ok = s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && (s.is_empty()
                || (s.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && s.ends_with(|c: char| c.is_ascii_alphanumeric())));
        if !value_ok {
            causes.push(Cause::invalid(
                &field,
                v,
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            ));
        }
        let key_name = k.rsplit('/').next().unwrap_or(k);
        let key_ok = !key_name.is_empty()
            && key_name.len() <= 63
            && key_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !key_ok {
            causes.push(Cause::invalid(
                "metadata.labels",
                &Value::String(k.clone()),
                "name part must consist of alphanumeric characters, '-', '_' or '.'",
            ));
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .filter(|a| !a.is_null())
    {
        match ann.as_object() {
            Some(m) if m.values().all(Value::is_string) => {}
            _ => causes.push(Cause::invalid(
                "metadata.annotations",
                ann,
                "must be a map of strings",
            )),
        }
    }
}

/// A random suffix for `generateName`, from the same alphabet Kubernetes uses.
pub fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    (0..len)
        .map(|i| ALPHABET[bytes[i % 16] as usize % ALPHABET.len()] as char)
        .collect()
}

/// Everything of an object except `metadata` and `status`: a change here bumps `generation`.
pub fn spec_part(obj: &Value) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !not_spec(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn not_spec(key: &str) -> bool {
    matches!(key, "metadata" | "status" | "apiVersion" | "kind")
}

/// Whether two objects differ in [`spec_part`], compared in place (no copies).
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => o
            .iter()
            .filter(|(k, _)| !not_spec(k))
            .ne(n.iter().filter(|(k, _)| !not_spec(k))),
        (o, n) => o.is_object() != n.is_object(),
    }
}

/// What identifies a stored or answered object: `metadata.name`, `.namespace` and
/// `.resourceVersion`, read from its JSON without building the rest (empty when absent).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity<'a> {
    /// `metadata.name`.
    #[serde(borrow, default)]
    pub name: std::borrow::Cow<'a, str>,
    /// `metadata.namespace`.
    #[serde(borrow, default)]
    pub namespace: std::borrow::Cow<'a, str>,
    /// `metadata.resourceVersion`.
    #[serde(borrow, default)]
    pub resource_version: std::borrow::Cow<'a, str>,
}

/// The [`Identity`] of a JSON object; `None` if the bytes are not one.
pub fn identity(json: &[u8]) -> Option<Identity<'_>> {
    #[derive(serde::Deserialize)]
    struct Object<'a> {
        #[serde(borrow, default)]
        metadata: Identity<'a>,
    }
    serde_json::from_slice::<Object<'_>>(json)
        .ok()
        .map(|o| o.metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_changes_ignore_metadata_and_status() {
        let a = serde_json::json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"r": 1}, "status": {"s": 1}});
        let mut b = a.clone();
        b["metadata"]["labels"] = serde_json::json!({"l": "1"});
        b["status"]["s"] = serde_json::json!(2);
        assert!(!spec_changed(&a, &b));
        b["spec"]["r"] = serde_json::json!(2);
        assert!(spec_changed(&a, &b));
        let mut c = a.clone();
        c["data"] = serde_json::json!({"k": "v"});
        assert!(spec_changed(&a, &c));
        assert_eq!(spec_changed(&a, &c), spec_part(&a) != spec_part(&c));
    }

    #[test]
    fn names() {
        assert!(validate_name("metadata.name", "nginx-1.a", false).is_none());
        assert!(validate_name("metadata.name", "Nginx", false).is_some());
        assert!(validate_name("metadata.name", "a.b", true).is_some());
        assert!(validate_name("metadata.name", "", false).is_some());
    }
}
