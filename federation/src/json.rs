//! Small accessors over `serde_json::Value` objects by JSON pointer, so the controllers read
//! Karmada-shaped objects without a typed model.

use serde_json::{Map, Value};

/// The string at `ptr` (empty when absent or not a string).
pub(crate) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The array at `ptr` (empty when absent or not an array).
pub(crate) fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `ptr`, if any.
pub(crate) fn obj<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// Whether `ptr` holds anything but `null`.
pub(crate) fn present(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).is_some_and(|x| !x.is_null())
}

/// Whether the object is being deleted.
pub(crate) fn deleting(v: &Value) -> bool {
    present(v, "/metadata/deletionTimestamp")
}

/// An object's `metadata.resourceVersion` as a revision (0 when absent or not a number).
pub(crate) fn revision(v: &Value) -> u64 {
    s(v, "/metadata/resourceVersion").parse().unwrap_or(0)
}

/// A label's value.
pub(crate) fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    obj(v, "/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// An annotation's value.
pub(crate) fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    obj(v, "/metadata/annotations")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// The condition of a type in `status.conditions`.
pub(crate) fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    arr(v, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == kind)
}

/// Sets the value at a path of object keys, creating (or replacing non-object) parents.
pub(crate) fn set(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for p in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        cur = map.entry(p.to_string()).or_insert(Value::Null);
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(last.to_string(), value);
    }
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`: objects are compared key by
/// key (keys only in `old` become `null`), anything else is replaced whole when it differs.
/// `None` when they are equal, so a controller writes only what changed.
pub(crate) fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None if nv.is_null() => {}
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_diffs_round_trip_and_are_minimal() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "f": "x"});
        let new = json!({"a": 1, "b": {"c": 2, "g": 4}, "e": [1], "h": null});
        let patch = merge_diff(&old, &new).unwrap();
        assert_eq!(
            patch,
            json!({"b": {"d": null, "g": 4}, "e": [1], "f": null})
        );
        assert_eq!(merge_diff(&new, &new), None);
        assert_eq!(merge_diff(&json!(1), &json!(2)), Some(json!(2)));
    }

    #[test]
    fn set_creates_parents() {
        let mut v = json!({"a": "x"});
        set(&mut v, &["a", "b"], json!(1));
        set(&mut v, &["c", "d", "e"], json!(2));
        assert_eq!(v, json!({"a": {"b": 1}, "c": {"d": {"e": 2}}}));
    }
}
