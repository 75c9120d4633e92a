//! Small accessors over `serde_json::Value` objects and the `metav1.Condition` helpers every
//! module shares, so that a missing or mistyped field reads as "absent" instead of panicking.

use jiff::Timestamp;
use serde_json::{Map, Value};

/// The string at a JSON pointer, or `""` when absent or not a string.
pub(crate) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The array at a JSON pointer, or an empty slice.
pub(crate) fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at a JSON pointer, if it is one.
pub(crate) fn obj<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// The integer at a JSON pointer, if it is one.
pub(crate) fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

/// The boolean at a JSON pointer, `false` when absent.
pub(crate) fn flag(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether a value is present and not JSON `null`.
pub(crate) fn present(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).is_some_and(|x| !x.is_null())
}

/// `metadata.labels` of an object (empty when absent).
pub(crate) fn labels(v: &Value) -> Map<String, Value> {
    obj(v, "/metadata/labels").cloned().unwrap_or_default()
}

/// Kubernetes' `metav1.Time` form: RFC 3339 in UTC with whole seconds.
pub(crate) fn format_time(ts: Timestamp) -> String {
    Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

/// A mutable object at `key` inside `parent`, created empty when absent or not an object
/// (always `Some`; the option only spares callers a panic path).
pub(crate) fn child_obj<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if !parent.get(key).is_some_and(Value::is_object) {
        parent.insert(key.to_string(), Value::Object(Map::new()));
    }
    parent.get_mut(key).and_then(Value::as_object_mut)
}

/// The condition of a type in a conditions array.
pub(crate) fn find_condition<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions.iter().find(|c| s(c, "/type") == kind)
}
