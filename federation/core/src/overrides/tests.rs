use super::*;
use crate::testutil::{cluster, nginx, plain, seed_op};

fn op(name: &str, ns: &str, selectors: Value, rules: Value) -> Value {
    let kind = if ns.is_empty() {
        "ClusterOverridePolicy"
    } else {
        "OverridePolicy"
    };
    let mut meta = json!({"name": name});
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": kind, "metadata": meta,
        "spec": {"resourceSelectors": selectors, "overrideRules": rules}})
}

// The fixtures are JSON; the cluster is read into the typed API for the engine.
fn typed_ops(ops: &[Value]) -> Vec<OverridePolicy> {
    ops.iter()
        .map(|p| serde_json::from_value(p.clone()).unwrap())
        .collect()
}

fn apply_overrides(
    manifest: &Value,
    cluster: &Value,
    ops: &[Value],
) -> Result<Value, OverrideError> {
    super::apply_overrides(
        manifest,
        &serde_json::from_value(cluster.clone()).unwrap(),
        &typed_ops(ops),
    )
}

fn apply_overrides_detailed(
    manifest: &Value,
    cluster: &Value,
    ops: &[Value],
) -> Result<OverrideOutcome, OverrideError> {
    super::apply_overrides_detailed(
        manifest,
        &serde_json::from_value(cluster.clone()).unwrap(),
        &typed_ops(ops),
    )
}

fn everywhere(overriders: Value) -> Value {
    json!([{"overriders": overriders}])
}

#[test]
fn seed_labels_per_cluster() {
    for c in ["cce-cceone-demo1", "cce-cceone-demo2"] {
        let out = apply_overrides(&nginx(), &plain(c), &[seed_op()]).unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "nginx", "cceone.propagationto": c})
        );
        assert_eq!(out["spec"], nginx()["spec"]);
    }
    // Another cluster: no rule targets it.
    assert_eq!(
        apply_overrides(&nginx(), &plain("cceone-c2"), &[seed_op()]).unwrap(),
        nginx()
    );
    // A manifest in another namespace is not touched by the namespaced policy.
    let mut other = nginx();
    other["metadata"]["namespace"] = json!("other");
    assert_eq!(
        apply_overrides(&other, &plain("cce-cceone-demo1"), &[seed_op()]).unwrap(),
        other
    );
}

#[test]
fn detailed_outcome_records_applied_policies() {
    let out = apply_overrides_detailed(&nginx(), &plain("cce-cceone-demo1"), &[seed_op()]).unwrap();
    assert!(out.applied_cluster_overrides.is_empty());
    assert_eq!(
        out.applied_overrides,
        vec![json!({"policyName": "example", "overriders":
        {"labelsOverrider": [{"operator": "add", "value": {"cceone.propagationto": "cce-cceone-demo1"}}]}})]
    );
    let ann = out.annotations();
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0].0, "policy.karmada.io/applied-overrides");
}

#[test]
fn cluster_policies_first_then_namespaced_least_specific_first() {
    let set = |v: &str| {
        everywhere(
            json!({"plaintext": [{"operator": "replace", "path": "/spec/replicas", "value": v}]}),
        )
    };
    let sel_all = json!([{"apiVersion": "apps/v1", "kind": "Deployment"}]);
    let sel_label = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "nginx"}}}]);
    let sel_name = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}]);
    // The most specific namespaced policy runs last and wins, whatever the input order.
    let ops = [
        op("a-by-name", "default", sel_name.clone(), set("name")),
        op("z-match-all", "default", sel_all.clone(), set("all")),
        op("b-by-label", "default", sel_label, set("label")),
        op("cluster-wide", "", sel_name.clone(), set("cluster")),
    ];
    let out = apply_overrides(&nginx(), &plain("m"), &ops).unwrap();
    assert_eq!(out["spec"]["replicas"], "name");
    // Only the cluster policy: it applies.
    let out = apply_overrides(&nginx(), &plain("m"), &ops[3..]).unwrap();
    assert_eq!(out["spec"]["replicas"], "cluster");
    // Same priority: by name, so "b" runs after "a".
    let ops = [
        op("b", "default", sel_all.clone(), set("b")),
        op("a", "default", sel_all, set("a")),
    ];
    assert_eq!(
        apply_overrides(&nginx(), &plain("m"), &ops).unwrap()["spec"]["replicas"],
        "b"
    );
}

#[test]
fn order_within_a_rule() {
    // Labels are applied before plaintext, so plaintext sees (and can replace) the label.
    let rules = everywhere(json!({
        "plaintext": [{"operator": "replace", "path": "/metadata/labels/tier", "value": "plain"}],
        "labelsOverrider": [{"operator": "add", "value": {"tier": "label"}}],
        "annotationsOverrider": [{"operator": "add", "value": {"example.com/note": "x"}}],
    }));
    let out = apply_overrides(
        &nginx(),
        &plain("m"),
        &[op("p", "default", json!([]), rules)],
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"]["tier"], "plain");
    assert_eq!(out["metadata"]["annotations"]["example.com/note"], "x");
}

#[test]
fn image_overrider_components() {
    let cases = [
        (
            "nginx",
            "Registry",
            "add",
            "registry.example.com",
            "registry.example.com/nginx",
        ),
        (
            "docker.io/library/nginx:1.0",
            "Registry",
            "replace",
            "mirror.local:5000",
            "mirror.local:5000/library/nginx:1.0",
        ),
        (
            "docker.io/library/nginx:1.0",
            "Registry",
            "remove",
            "",
            "library/nginx:1.0",
        ),
        (
            "docker.io/library/nginx:1.0",
            "Repository",
            "replace",
            "team/web",
            "docker.io/team/web:1.0",
        ),
        (
            "nginx:1.0",
            "Repository",
            "add",
            "-alpine",
            "nginx-alpine:1.0",
        ),
        ("nginx:1.0", "Tag", "replace", "1.25", "nginx:1.25"),
        ("nginx:1.0", "Tag", "add", "-alpine", "nginx:1.0-alpine"),
        ("nginx:1.0", "Tag", "remove", "", "nginx"),
        (
            "nginx:1.0",
            "Tag",
            "replace",
            "sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
            "nginx@sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
        ),
    ];
    for (image, component, operator, value, want) in cases {
        let mut t = nginx();
        t["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
        t["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "side", "image": image}));
        let rules = everywhere(
            json!({"imageOverrider": [{"component": component, "operator": operator, "value": value}]}),
        );
        let out =
            apply_overrides(&t, &plain("m"), &[op("p", "default", json!([]), rules)]).unwrap();
        for i in 0..2 {
            assert_eq!(
                out["spec"]["template"]["spec"]["containers"][i]["image"], want,
                "{image} {component} {operator}"
            );
        }
    }
}

#[test]
fn image_overrider_with_predicate_and_bad_images() {
    let mut t = nginx();
    t["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "side", "image": "busybox"}));
    let rules = everywhere(
        json!({"imageOverrider": [{"component": "Registry", "operator": "replace",
        "value": "r.io", "predicate": {"path": "/spec/template/spec/containers/1/image"}}]}),
    );
    let out = apply_overrides(&t, &plain("m"), &[op("p", "default", json!([]), rules)]).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][1]["image"],
        "r.io/busybox"
    );

    let bad_pred = everywhere(
        json!({"imageOverrider": [{"component": "Tag", "operator": "remove",
        "predicate": {"path": "/spec/template/spec/containers/9/image"}}]}),
    );
    let err =
        apply_overrides(&t, &plain("m"), &[op("p", "default", json!([]), bad_pred)]).unwrap_err();
    assert!(matches!(err, OverrideError::Predicate { .. }));
    t["spec"]["template"]["spec"]["containers"][0]["image"] = json!("NGINX");
    let rules = everywhere(json!({"imageOverrider": [{"component": "Tag", "operator": "remove"}]}));
    let err =
        apply_overrides(&t, &plain("m"), &[op("p", "default", json!([]), rules)]).unwrap_err();
    assert!(matches!(err, OverrideError::Image { .. }), "{err}");
}

#[test]
fn command_and_args() {
    let mut t = nginx();
    t["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--a", "--b"]);
    let rules = everywhere(json!({
        "commandOverrider": [{"containerName": "nginx", "operator": "add", "value": ["nginx", "-g"]}],
        "argsOverrider": [{"containerName": "nginx", "operator": "remove", "value": ["--a"]},
                          {"containerName": "other", "operator": "add", "value": ["--x"]}],
    }));
    let out = apply_overrides(&t, &plain("m"), &[op("p", "default", json!([]), rules)]).unwrap();
    let c = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"], json!(["nginx", "-g"]));
    assert_eq!(c["args"], json!(["--b"]));
}

#[test]
fn labels_and_annotations_remove_and_replace_only_existing_keys() {
    let mut t = nginx();
    t["metadata"]["annotations"] = json!({"a/b": "1"});
    let rules = everywhere(json!({
        "labelsOverrider": [{"operator": "replace", "value": {"app": "web", "missing": "x"}},
                            {"operator": "remove", "value": {"gone": ""}}],
        "annotationsOverrider": [{"operator": "remove", "value": {"a/b": ""}}],
    }));
    let out = apply_overrides(&t, &plain("m"), &[op("p", "default", json!([]), rules)]).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(out["metadata"]["annotations"], json!({}));
}

#[test]
fn target_cluster_by_labels_and_fields_and_legacy_form() {
    let gold = cluster("g", json!({"tier": "gold"}), "aws", "us-east-1", &["a"]);
    let rules = json!([
        {"targetCluster": {"labelSelector": {"matchLabels": {"tier": "gold"}}},
         "overriders": {"labelsOverrider": [{"operator": "add", "value": {"gold": "yes"}}]}},
        {"targetCluster": {"fieldSelector": {"matchExpressions": [{"key": "region", "operator": "In", "values": ["eu-west-1"]}]}},
         "overriders": {"labelsOverrider": [{"operator": "add", "value": {"eu": "yes"}}]}},
    ]);
    let out = apply_overrides(&nginx(), &gold, &[op("p", "default", json!([]), rules)]).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "nginx", "gold": "yes"})
    );
    let legacy = json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterOverridePolicy",
        "metadata": {"name": "old"},
        "spec": {"targetCluster": {"clusterNames": ["g"]},
                 "overriders": {"plaintext": [{"operator": "add", "path": "/spec/paused", "value": true}]}}});
    let out = apply_overrides(&nginx(), &gold, std::slice::from_ref(&legacy)).unwrap();
    assert_eq!(out["spec"]["paused"], true);
    assert_eq!(
        apply_overrides(&nginx(), &plain("x"), &[legacy]).unwrap(),
        nginx()
    );
}

#[test]
fn plaintext_failures_are_errors() {
    let rules = everywhere(
        json!({"plaintext": [{"operator": "replace", "path": "/spec/nope", "value": 1}]}),
    );
    let err = apply_overrides(
        &nginx(),
        &plain("m"),
        &[op("p", "default", json!([]), rules)],
    )
    .unwrap_err();
    assert!(
        matches!(err, OverrideError::Patch { ref path, .. } if path == "/spec/nope"),
        "{err}"
    );
}

#[test]
fn field_overrider_patches_embedded_json() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
        "data": {"config.json": "{\"db\":{\"host\":\"a\"}}"}});
    let rules = everywhere(json!({"fieldOverrider": [{"fieldPath": "/data/config.json",
        "json": [{"operator": "replace", "subPath": "/db/host", "value": "b"}]}]}));
    let out = apply_overrides(&cm, &plain("m"), &[op("p", "default", json!([]), rules)]).unwrap();
    assert_eq!(out["data"]["config.json"], "{\"db\":{\"host\":\"b\"}}");
}
