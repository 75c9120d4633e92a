//! Unit tests for strategic merge patch: the kubectl shapes, every directive, and ordering
//! cases taken from apimachinery's behaviour.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn smp(doc: Value, patch: Value) -> Value {
    strategic_merge_patch(&doc, &patch).unwrap()
}

fn invalid(doc: Value, patch: Value) -> String {
    match strategic_merge_patch(&doc, &patch) {
        Err(PatchError::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.25",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "busybox", "args": ["sleep", "1"]}
                ],
                "tolerations": [{"key": "k1"}, {"key": "k2"}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }}
        }
    })
}

fn containers(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]["containers"]
}

#[test]
fn container_image_patch_keeps_everything_else() {
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}),
    );
    let mut want = deployment();
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    assert_eq!(got, want);
}

#[test]
fn env_merges_by_name_and_ports_by_container_port() {
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{
            "name": "nginx",
            "env": [{"name": "B", "value": "20"}],
            "ports": [{"containerPort": 443, "name": "https"}]
        }]}}}}),
    );
    let nginx = &containers(&got)[0];
    assert_eq!(
        nginx["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}])
    );
    assert_eq!(
        nginx["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "name": "https"}])
    );
}

#[test]
fn service_ports_merge_by_port() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let got = smp(
        svc,
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
    );
    assert_eq!(
        got["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
}

#[test]
fn null_deletes_a_key() {
    let got = smp(
        deployment(),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
    );
    assert_eq!(got["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    // A null for a missing key is ignored, not kept.
    let got = smp(json!({"a": 1}), json!({"b": null}));
    assert_eq!(got, json!({"a": 1}));
}

#[test]
fn patch_delete_removes_a_list_item() {
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
    );
    assert_eq!(containers(&got).as_array().unwrap().len(), 1);
    assert_eq!(containers(&got)[0]["name"], json!("nginx"));
    // Deleting an absent item is a no-op; a delete item needs the merge key.
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "zzz", "$patch": "delete"}]}}}}),
    );
    assert_eq!(got, deployment());
    invalid(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
    );
}

#[test]
fn patch_replace_in_a_list_replaces_it() {
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "replace"},
            {"name": "only", "image": "x", "junk": null}
        ]}}}}),
    );
    assert_eq!(containers(&got), &json!([{"name": "only", "image": "x"}]));
}

#[test]
fn patch_replace_and_delete_in_a_map() {
    let got = smp(
        deployment(),
        json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}),
    );
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
    let got = smp(
        deployment(),
        json!({"spec": {"strategy": {"$patch": "delete"}}}),
    );
    assert_eq!(got["spec"]["strategy"], json!({}));
    // Deleting a map that is not there adds nothing.
    let got = smp(json!({}), json!({"spec": {"$patch": "delete"}}));
    assert_eq!(got, json!({}));
    let got = smp(json!({"a": 1}), json!({"$patch": "replace", "b": 2}));
    assert_eq!(got, json!({"b": 2}));
}

#[test]
fn patch_merge_is_the_default() {
    let got = smp(
        deployment(),
        json!({"metadata": {"$patch": "merge", "labels": {"c": "3"}}}),
    );
    assert_eq!(
        got["metadata"]["labels"],
        json!({"a": "1", "b": "2", "c": "3"})
    );
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "merge"}, {"name": "sidecar", "$patch": "merge", "image": "alpine"}
        ]}}}}),
    );
    assert_eq!(containers(&got)[1]["image"], json!("alpine"));
    assert_eq!(containers(&got)[1]["args"], json!(["sleep", "1"]));
}

#[test]
fn unknown_directives_are_invalid() {
    let message = invalid(json!({}), json!({"metadata": {"$bogus": 1}}));
    assert!(
        message.contains("$bogus") && message.contains("metadata"),
        "{message}"
    );
    invalid(json!({}), json!({"metadata": {"$patch": "frobnicate"}}));
    invalid(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "x"}]}}}}),
    );
    invalid(json!({}), json!({"$setElementOrder/": []}));
    invalid(json!({}), json!({"$setElementOrder/x": {}}));
    invalid(json!({}), json!({"$retainKeys": "a"}));
    invalid(json!({}), json!([]));
    invalid(json!([]), json!({}));
}

#[test]
fn keyed_list_items_need_the_merge_key() {
    let message = invalid(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
    );
    assert!(message.contains("name"), "{message}");
    invalid(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": ["x"]}}}}),
    );
}

#[test]
fn new_items_go_before_server_items_like_apimachinery() {
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "redis"}]}}}}),
    );
    let names: Vec<_> = containers(&got)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("new"), json!("nginx"), json!("sidecar")]);
}

#[test]
fn set_element_order_orders_keyed_list() {
    // apimachinery "merge lists of maps".
    let doc = json!({"spec": {"containers": [{"name": "1", "other": "a"}, {"name": "2", "value": 2, "other": "b"}]}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}],
        "containers": [{"name": "4", "value": 4}, {"name": "3", "value": 3}]
    }});
    let got = smp(doc, patch);
    assert_eq!(
        got,
        json!({"spec": {"containers": [
            {"name": "4", "value": 4},
            {"name": "1", "other": "a"},
            {"name": "2", "value": 2, "other": "b"},
            {"name": "3", "value": 3}
        ]}})
    );
}

#[test]
fn set_element_order_interleaves_server_only_items() {
    // apimachinery "set elements order in a list with server-only items 2" and "... 3".
    let names = |list: &[&str]| json!(list.iter().map(|n| json!({"name": n})).collect::<Vec<_>>());
    let patch = json!({"spec": {"$setElementOrder/containers": names(&["2", "1", "4", "3"])}});
    let got = smp(
        json!({"spec": {"containers": names(&["1", "2", "9", "3", "4"])}}),
        patch.clone(),
    );
    assert_eq!(got["spec"]["containers"], names(&["2", "1", "9", "4", "3"]));
    let got = smp(
        json!({"spec": {"containers": names(&["1", "2", "7", "9", "8", "3", "4"])}}),
        patch,
    );
    assert_eq!(
        got["spec"]["containers"],
        names(&["2", "1", "7", "9", "8", "4", "3"])
    );
}

#[test]
fn set_element_order_on_primitive_list() {
    // apimachinery "merge lists of scalars".
    let got = smp(
        json!({"metadata": {"finalizers": ["1", "2", "4"]}}),
        json!({"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3"]}}),
    );
    assert_eq!(
        got,
        json!({"metadata": {"finalizers": ["1", "2", "3", "4"]}})
    );
}

#[test]
fn set_element_order_must_agree_with_the_patch_list() {
    invalid(
        deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"name": "sidecar", "image": "a"}, {"name": "nginx", "image": "b"}]
        }}}}),
    );
    invalid(
        deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"name": "other", "image": "a"}]
        }}}}),
    );
}

#[test]
fn set_element_order_infers_unknown_keyed_lists() {
    let doc = json!({"spec": {"widgets": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]}});
    let got = smp(
        doc,
        json!({"spec": {"$setElementOrder/widgets": [{"id": "b"}, {"id": "a"}], "widgets": [{"id": "a", "v": 9}]}}),
    );
    assert_eq!(
        got["spec"]["widgets"],
        json!([{"id": "b", "v": 2}, {"id": "a", "v": 9}])
    );
}

#[test]
fn finalizers_union_and_delete_from_primitive_list() {
    let got = smp(
        deployment(),
        json!({"metadata": {"finalizers": ["z", "x"]}}),
    );
    assert_eq!(got["metadata"]["finalizers"], json!(["z", "x", "y"]));
    let got = smp(
        deployment(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x", "nope"]}}),
    );
    assert_eq!(got["metadata"]["finalizers"], json!(["y"]));
    // On a missing list it adds nothing.
    let got = smp(
        json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}),
    );
    assert_eq!(got, json!({"metadata": {}}));
    invalid(
        deployment(),
        json!({"metadata": {"finalizers": [{"$patch": "delete"}]}}),
    );
}

#[test]
fn retain_keys_drops_unlisted_keys() {
    let got = smp(
        deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
    );
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
    // Volume source switch, as kubectl apply sends it inside a keyed list item.
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {"volumes": [
            {"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "name": "data"}
        ]}}}}),
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cm"}}])
    );
    let message = invalid(
        deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}),
    );
    assert!(message.contains("rollingUpdate"), "{message}");
}

#[test]
fn other_lists_are_replaced() {
    let got = smp(
        deployment(),
        json!({"spec": {"template": {"spec": {
            "tolerations": [{"key": "k3", "value": null}],
            "containers": [{"name": "sidecar", "args": ["sleep", "2"]}]
        }}}}),
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "k3"}])
    );
    assert_eq!(containers(&got)[1]["args"], json!(["sleep", "2"]));
}

#[test]
fn new_subtrees_lose_nulls_and_directives() {
    let got = smp(
        json!({}),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "x": null, "ports": [{"containerPort": 1}]}],
            "securityContext": {"runAsUser": null},
            "affinity": {"$patch": "delete"}
        }}}}),
    );
    assert_eq!(
        got,
        json!({"spec": {"template": {"spec": {
            "containers": [{"name": "a", "ports": [{"containerPort": 1}]}],
            "securityContext": {}
        }}}})
    );
}

#[test]
fn type_changes_take_the_patch_value() {
    let got = smp(
        json!({"a": {"b": 1}, "c": [1]}),
        json!({"a": "s", "c": {"d": 1}}),
    );
    assert_eq!(got, json!({"a": "s", "c": {"d": 1}}));
}

#[test]
fn empty_and_null_patches_are_identity() {
    assert_eq!(smp(deployment(), json!({})), deployment());
    assert_eq!(smp(deployment(), json!(null)), deployment());
    assert_eq!(smp(json!(null), json!({"a": 1})), json!({"a": 1}));
}

#[test]
fn kubectl_apply_three_way_patch() {
    let last_applied = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}"#;
    let patch = json!({
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied},
            "labels": {"b": null}
        },
        "spec": {
            "replicas": 3,
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [{
                    "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 8443}],
                    "$setElementOrder/env": [{"name": "A"}],
                    "env": [{"$patch": "delete", "name": "B"}],
                    "image": "nginx:1.27",
                    "name": "nginx",
                    "ports": [{"containerPort": 8443}, {"$patch": "delete", "containerPort": 443}]
                }]
            }}
        }
    });
    let got = smp(deployment(), patch);
    assert_eq!(
        got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        json!(last_applied)
    );
    assert_eq!(got["metadata"]["labels"], json!({"a": "1"}));
    assert_eq!(got["spec"]["replicas"], json!(3));
    let nginx = &containers(&got)[0];
    assert_eq!(nginx["image"], json!("nginx:1.27"));
    assert_eq!(nginx["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(
        nginx["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 8443}])
    );
    assert_eq!(containers(&got)[1]["name"], json!("sidecar"));
    assert!(!got.to_string().contains('$'), "{got}");
}

#[test]
fn kubectl_scale_label_annotate_shapes() {
    let got = smp(deployment(), json!({"spec": {"replicas": 0}}));
    assert_eq!(got["spec"]["replicas"], json!(0));
    let got = smp(
        deployment(),
        json!({"metadata": {"annotations": {"note": "x"}, "labels": {"a": "9"}}}),
    );
    assert_eq!(got["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(got["metadata"]["labels"], json!({"a": "9", "b": "2"}));
}

#[test]
fn owner_references_merge_by_uid() {
    let doc = json!({"metadata": {"ownerReferences": [{"uid": "1", "kind": "A"}, {"uid": "2", "kind": "B"}]}});
    let got = smp(
        doc,
        json!({"metadata": {"ownerReferences": [{"uid": "2", "controller": true}]}}),
    );
    assert_eq!(
        got["metadata"]["ownerReferences"],
        json!([{"uid": "1", "kind": "A"}, {"uid": "2", "kind": "B", "controller": true}])
    );
}
