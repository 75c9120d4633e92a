//! RFC 7386 JSON merge patch: objects merge recursively, `null` deletes a member, anything else
//! (including arrays) replaces the target whole.

use serde_json::{Map, Value};

use crate::error::PatchError;

/// Applies an RFC 7386 JSON merge patch: `null` members delete, objects merge recursively and a
/// non-object patch replaces the target.
///
/// # Errors
/// None today: every JSON value is a valid merge patch. The `Result` keeps the signature in line
/// with the other patch types.
pub fn merge_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    Ok(merge(Some(doc), patch))
}

/// The RFC's `MergePatch(Target, Patch)`; `None` is an absent target.
fn merge(target: Option<&Value>, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            out.remove(key);
        } else {
            let merged = merge(out.get(key), value);
            out.insert(key.clone(), merged);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386 appendix A: (original, patch, result).
    #[test]
    fn rfc_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (doc, patch, want) in cases {
            assert_eq!(merge_patch(&doc, &patch).unwrap(), want, "{doc} + {patch}");
        }
    }

    #[test]
    fn kubectl_label_and_scale_shapes() {
        let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let got = merge_patch(
            &doc,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        )
        .unwrap();
        assert_eq!(got["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        let got = merge_patch(&doc, &json!({"spec": {"replicas": 5}})).unwrap();
        assert_eq!(got["spec"]["replicas"], json!(5));
        // Lists are replaced whole.
        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let got = merge_patch(
            &doc,
            &json!({"spec": {"containers": [{"name": "a", "image": "x"}]}}),
        )
        .unwrap();
        assert_eq!(
            got["spec"]["containers"],
            json!([{"name": "a", "image": "x"}])
        );
    }
}
