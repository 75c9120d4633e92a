//! Unit tests for JSON patch, including the RFC 6902 appendix A examples.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn ok(doc: Value, patch: Value) -> Value {
    json_patch(&doc, &patch).unwrap()
}

fn failed(doc: Value, patch: Value) -> bool {
    matches!(json_patch(&doc, &patch), Err(PatchError::Failed(_)))
}

fn invalid(doc: Value, patch: Value) -> bool {
    matches!(json_patch(&doc, &patch), Err(PatchError::Invalid(_)))
}

#[test]
fn rfc_a1_add_object_member() {
    let got = ok(
        json!({"foo": "bar"}),
        json!([{"op": "add", "path": "/baz", "value": "qux"}]),
    );
    assert_eq!(got, json!({"baz": "qux", "foo": "bar"}));
}

#[test]
fn rfc_a2_add_array_element() {
    let got = ok(
        json!({"foo": ["bar", "baz"]}),
        json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
    );
    assert_eq!(got, json!({"foo": ["bar", "qux", "baz"]}));
}

#[test]
fn rfc_a3_remove_object_member() {
    let got = ok(
        json!({"baz": "qux", "foo": "bar"}),
        json!([{"op": "remove", "path": "/baz"}]),
    );
    assert_eq!(got, json!({"foo": "bar"}));
}

#[test]
fn rfc_a4_remove_array_element() {
    let got = ok(
        json!({"foo": ["bar", "qux", "baz"]}),
        json!([{"op": "remove", "path": "/foo/1"}]),
    );
    assert_eq!(got, json!({"foo": ["bar", "baz"]}));
}

#[test]
fn rfc_a5_replace_value() {
    let got = ok(
        json!({"baz": "qux", "foo": "bar"}),
        json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
    );
    assert_eq!(got, json!({"baz": "boo", "foo": "bar"}));
}

#[test]
fn rfc_a6_move_value() {
    let got = ok(
        json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
        json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
    );
    assert_eq!(
        got,
        json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
    );
}

#[test]
fn rfc_a7_move_array_element() {
    let got = ok(
        json!({"foo": ["all", "grass", "cows", "eat"]}),
        json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
    );
    assert_eq!(got, json!({"foo": ["all", "cows", "eat", "grass"]}));
}

#[test]
fn rfc_a8_test_success() {
    let doc = json!({"baz": "qux", "foo": ["a", 2, "c"]});
    let got = ok(
        doc.clone(),
        json!([
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2}
        ]),
    );
    assert_eq!(got, doc);
}

#[test]
fn rfc_a9_test_error() {
    assert!(failed(
        json!({"baz": "qux"}),
        json!([{"op": "test", "path": "/baz", "value": "bar"}])
    ));
}

#[test]
fn rfc_a10_add_nested_member_object() {
    let got = ok(
        json!({"foo": "bar"}),
        json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
    );
    assert_eq!(got, json!({"foo": "bar", "child": {"grandchild": {}}}));
}

#[test]
fn rfc_a11_ignore_unrecognized_elements() {
    let got = ok(
        json!({"foo": "bar"}),
        json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
    );
    assert_eq!(got, json!({"foo": "bar", "baz": "qux"}));
}

#[test]
fn rfc_a12_add_to_nonexistent_target() {
    assert!(failed(
        json!({"foo": "bar"}),
        json!([{"op": "add", "path": "/baz/bat", "value": "qux"}])
    ));
}

#[test]
fn rfc_a14_escape_ordering() {
    let doc = json!({"/": 9, "~1": 10});
    let got = ok(
        doc.clone(),
        json!([{"op": "test", "path": "/~01", "value": 10}]),
    );
    assert_eq!(got, doc);
}

#[test]
fn rfc_a15_comparing_strings_and_numbers() {
    assert!(failed(
        json!({"/": 9, "~1": 10}),
        json!([{"op": "test", "path": "/~01", "value": "10"}])
    ));
}

#[test]
fn rfc_a16_add_array_value() {
    let got = ok(
        json!({"foo": ["bar"]}),
        json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
    );
    assert_eq!(got, json!({"foo": ["bar", ["abc", "def"]]}));
}

#[test]
fn add_replaces_existing_member_and_root() {
    let got = ok(
        json!({"a": 1}),
        json!([{"op": "add", "path": "/a", "value": 2}]),
    );
    assert_eq!(got, json!({"a": 2}));
    let got = ok(
        json!({"a": 1}),
        json!([{"op": "add", "path": "", "value": [1]}]),
    );
    assert_eq!(got, json!([1]));
}

#[test]
fn add_index_bounds() {
    let got = ok(
        json!([1, 2]),
        json!([{"op": "add", "path": "/2", "value": 3}]),
    );
    assert_eq!(got, json!([1, 2, 3]));
    assert!(failed(
        json!([1, 2]),
        json!([{"op": "add", "path": "/3", "value": 3}])
    ));
    assert!(failed(
        json!([1, 2]),
        json!([{"op": "add", "path": "/x", "value": 3}])
    ));
    assert!(failed(
        json!("s"),
        json!([{"op": "add", "path": "/x", "value": 3}])
    ));
}

#[test]
fn negative_index_counts_from_end() {
    let got = ok(json!([1, 2, 3]), json!([{"op": "remove", "path": "/-1"}]));
    assert_eq!(got, json!([1, 2]));
    assert!(failed(json!([1]), json!([{"op": "remove", "path": "/-2"}])));
}

#[test]
fn remove_and_replace_need_existing_target() {
    assert!(failed(
        json!({"a": 1}),
        json!([{"op": "remove", "path": "/b"}])
    ));
    assert!(failed(
        json!({"a": [1]}),
        json!([{"op": "remove", "path": "/a/1"}])
    ));
    assert!(failed(
        json!({"a": [1]}),
        json!([{"op": "remove", "path": "/a/-"}])
    ));
    assert!(failed(
        json!({"a": 1}),
        json!([{"op": "replace", "path": "/b", "value": 1}])
    ));
    assert!(failed(
        json!({"a": 1}),
        json!([{"op": "remove", "path": ""}])
    ));
    let got = ok(
        json!({"a": 1}),
        json!([{"op": "replace", "path": "", "value": 5}]),
    );
    assert_eq!(got, json!(5));
}

#[test]
fn copy_and_move() {
    let got = ok(
        json!({"a": {"b": [1]}}),
        json!([{"op": "copy", "from": "/a/b", "path": "/c"}]),
    );
    assert_eq!(got, json!({"a": {"b": [1]}, "c": [1]}));
    assert!(failed(
        json!({}),
        json!([{"op": "copy", "from": "/x", "path": "/c"}])
    ));
    assert!(failed(
        json!({}),
        json!([{"op": "move", "from": "/x", "path": "/c"}])
    ));
    assert!(invalid(
        json!({"a": {"b": 1}}),
        json!([{"op": "move", "from": "/a", "path": "/a/b/c"}])
    ));
    let same = ok(
        json!({"a": 1}),
        json!([{"op": "move", "from": "/a", "path": "/a"}]),
    );
    assert_eq!(same, json!({"a": 1}));
}

#[test]
fn test_op_compares_numbers_by_value_and_null() {
    ok(
        json!({"a": 1}),
        json!([{"op": "test", "path": "/a", "value": 1.0}]),
    );
    ok(
        json!({"a": null}),
        json!([{"op": "test", "path": "/a", "value": null}]),
    );
    assert!(failed(
        json!({}),
        json!([{"op": "test", "path": "/a", "value": null}])
    ));
}

#[test]
fn escapes_in_pointers() {
    let got = ok(
        json!({"metadata": {"labels": {}}}),
        json!([{"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "x"}]),
    );
    assert_eq!(
        got,
        json!({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}})
    );
    assert!(invalid(
        json!({}),
        json!([{"op": "add", "path": "/a~2", "value": 1}])
    ));
    assert!(invalid(
        json!({}),
        json!([{"op": "add", "path": "a", "value": 1}])
    ));
}

#[test]
fn malformed_patches_are_invalid() {
    assert!(invalid(json!({}), json!({"op": "add"})));
    assert!(invalid(json!({}), json!([1])));
    assert!(invalid(json!({}), json!([{"path": "/a"}])));
    assert!(invalid(json!({}), json!([{"op": "frob", "path": "/a"}])));
    assert!(invalid(json!({}), json!([{"op": "add", "path": "/a"}])));
    assert!(invalid(json!({}), json!([{"op": "move", "path": "/a"}])));
    assert!(invalid(
        json!({}),
        json!([{"op": "add", "path": 3, "value": 1}])
    ));
}

#[test]
fn failure_leaves_input_untouched_and_names_the_op() {
    let doc = json!({"a": 1});
    let err = json_patch(
        &doc,
        &json!([
            {"op": "add", "path": "/b", "value": 2},
            {"op": "remove", "path": "/zzz"}
        ]),
    )
    .unwrap_err();
    assert_eq!(doc, json!({"a": 1}));
    let PatchError::Failed(message) = err else {
        panic!("expected Failed")
    };
    assert!(message.contains("operation 1"), "{message}");
    assert!(message.contains("/zzz"), "{message}");
}

#[test]
fn kubectl_json_patch_shapes() {
    let doc = json!({"metadata": {"name": "x"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}}});
    let got = ok(
        doc,
        json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "a:2"},
            {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}
        ]),
    );
    assert_eq!(got["spec"]["replicas"], json!(3));
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("a:2")
    );
    assert_eq!(got["metadata"]["labels"], json!({"x": "y"}));
}
