//! Property tests across the three patch types.

#![allow(clippy::unwrap_used)]

use cceone_kube_patch::{PatchError, json_patch, merge_patch, strategic_merge_patch};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Field names that hit keyed lists (`containers`, `env`, `ports`), merged primitive lists
/// (`metadata.finalizers`) and merge keys (`name`, `port`) often.
const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "metadata",
    "finalizers",
    "containers",
    "env",
    "spec",
    "ports",
    "port",
];

fn scalar(with_null: bool) -> BoxedStrategy<Value> {
    let mut options = vec![
        any::<bool>().prop_map(Value::from).boxed(),
        (0i64..4).prop_map(Value::from).boxed(),
        prop::sample::select(vec!["x", "y", "z"])
            .prop_map(Value::from)
            .boxed(),
    ];
    if with_null {
        options.push(Just(Value::Null).boxed());
    }
    prop::strategy::Union::new(options).boxed()
}

fn object_of(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    object_over(KEYS, inner)
}

fn object_over(
    keys: &'static [&'static str],
    inner: BoxedStrategy<Value>,
) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(keys), inner), 0..5).prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Map<String, Value>>(),
        )
    })
}

/// Arbitrary JSON with objects over [`KEYS`]; `null` only when `with_null`.
fn json_value(with_null: bool) -> impl Strategy<Value = Value> {
    scalar(with_null).prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            object_of(inner.boxed()),
        ]
    })
}

fn json_object(with_null: bool) -> impl Strategy<Value = Value> {
    object_of(json_value(with_null).boxed())
}

/// Objects (maps, atomic lists and scalars) whose keys name no keyed or merged list.
fn plain_object(with_null: bool) -> impl Strategy<Value = Value> {
    const PLAIN: &[&str] = &["a", "b", "c", "args"];
    let value = scalar(with_null).prop_recursive(3, 20, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            object_over(PLAIN, inner.boxed()),
        ]
    });
    object_over(PLAIN, value.boxed())
}

/// A list item keyed by `name` (or `containerPort` under `ports`), with random other fields.
fn keyed_item(key: &'static str, with_null: bool) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["x", "y", "z", "w"]),
        plain_object(with_null),
    )
        .prop_map(move |(name, mut rest)| {
            if let Value::Object(map) = &mut rest {
                map.insert(key.to_owned(), Value::from(name));
            }
            rest
        })
}

/// A pod-spec-like object whose `containers`, `env` and `ports` lists are well-keyed and whose
/// `metadata.finalizers` is a merged set.
fn pod_like(with_null: bool) -> impl Strategy<Value = Value> {
    let container = (
        keyed_item("name", with_null),
        prop::collection::vec(keyed_item("name", with_null), 0..3),
        prop::collection::vec(keyed_item("containerPort", with_null), 0..3),
    )
        .prop_map(|(mut c, env, ports)| {
            c["env"] = Value::Array(unique_by(env, "name"));
            c["ports"] = Value::Array(unique_by(ports, "containerPort"));
            c
        });
    (
        prop::collection::vec(container, 0..4),
        prop::collection::vec(prop::sample::select(vec!["f1", "f2", "f3"]), 0..3),
        plain_object(with_null),
    )
        .prop_map(|(containers, finalizers, extra)| {
            json!({
                "metadata": {"finalizers": finalizers},
                "spec": {"containers": unique_by(containers, "name"), "extra": extra}
            })
        })
}

/// Keeps the first item for each value of `key`.
fn unique_by(items: Vec<Value>, key: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.iter().any(|seen| seen.get(key) == item.get(key)) {
            out.push(item);
        }
    }
    out
}

/// Whether some list holds two objects with the same merge-key value. Such patches are
/// degenerate (kubectl never sends them) and are not idempotent in Kubernetes either: the two
/// items' nested orders fight each other.
fn has_duplicate_keyed_items(value: &Value) -> bool {
    match value {
        Value::Array(items) => {
            let duplicate = ["name", "containerPort", "port"].iter().any(|key| {
                let ids: Vec<&Value> = items.iter().filter_map(|item| item.get(*key)).collect();
                ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id))
            });
            duplicate || items.iter().any(has_duplicate_keyed_items)
        }
        Value::Object(map) => map.values().any(has_duplicate_keyed_items),
        _ => false,
    }
}

proptest! {
    #[test]
    fn strategic_keyed_patch_is_idempotent(doc in pod_like(false), patch in pod_like(true)) {
        let once = strategic_merge_patch(&doc, &patch).unwrap();
        let twice = strategic_merge_patch(&once, &patch).unwrap();
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn merge_patch_with_itself_is_identity(doc in json_value(false)) {
        prop_assert_eq!(merge_patch(&doc, &doc).unwrap(), doc);
    }

    #[test]
    fn failing_json_patch_changes_nothing(
        doc in json_object(true),
        adds in prop::collection::vec((prop::sample::select(KEYS), json_value(true)), 0..4),
    ) {
        let before = doc.clone();
        let mut ops: Vec<Value> = adds
            .iter()
            .map(|(k, v)| json!({"op": "add", "path": format!("/{k}"), "value": v}))
            .collect();
        ops.push(json!({"op": "remove", "path": "/not-a-key/at-all"}));
        let result = json_patch(&doc, &Value::Array(ops.clone()));
        prop_assert!(matches!(result, Err(PatchError::Failed(_))));
        prop_assert_eq!(&doc, &before);
        // Every op but the last applies on its own, so the error really did discard work.
        ops.pop();
        prop_assert!(json_patch(&doc, &Value::Array(ops)).is_ok());
    }

    #[test]
    fn strategic_empty_patch_is_identity(doc in json_object(true)) {
        prop_assert_eq!(strategic_merge_patch(&doc, &json!({})).unwrap(), doc);
    }

    #[test]
    fn strategic_patch_is_idempotent(doc in json_object(false), patch in json_object(true)) {
        prop_assume!(!has_duplicate_keyed_items(&patch));
        if let Ok(once) = strategic_merge_patch(&doc, &patch) {
            let twice = strategic_merge_patch(&once, &patch);
            prop_assert_eq!(twice, Ok(once));
        }
    }
}
