use serde_json::json;

use super::*;

fn deploy(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels}})
}

fn pp(name: &str, selector: Value, priority: i64, preemption: &str) -> PropagationPolicy {
    serde_json::from_value(
        json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"resourceSelectors": [selector], "priority": priority, "preemption": preemption}}),
    )
    .unwrap()
}

fn cpp(name: &str, selector: Value) -> PropagationPolicy {
    serde_json::from_value(
        json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterPropagationPolicy",
        "metadata": {"name": name}, "spec": {"resourceSelectors": [selector]}}),
    )
    .unwrap()
}

fn claimed_by(p: &PropagationPolicy) -> Value {
    let (_, annotations) = claim_metadata(p);
    json!({"metadata": {"annotations": annotations}})
}

#[test]
fn the_best_policy_claims_an_unclaimed_template() {
    let t = deploy("nginx", json!({}));
    let all = pp(
        "all",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        0,
        "Never",
    );
    let named = pp(
        "named",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}),
        0,
        "Never",
    );
    let pps = [all, named];
    let got = choose(&t, &pps, &[], None).unwrap();
    assert_eq!(got.name(), "named");
}

#[test]
fn a_claim_sticks_unless_preempted() {
    let t = deploy("nginx", json!({}));
    let all = pp(
        "all",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        0,
        "Never",
    );
    let named = pp(
        "named",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}),
        0,
        "Never",
    );
    let pps = [all.clone(), named];
    let binding = claimed_by(&all);
    assert_eq!(choose(&t, &pps, &[], Some(&binding)).unwrap().name(), "all");

    let urgent = pp(
        "urgent",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        5,
        "Always",
    );
    let pps = [all.clone(), urgent];
    assert_eq!(
        choose(&t, &pps, &[], Some(&binding)).unwrap().name(),
        "urgent"
    );
}

#[test]
fn a_propagation_policy_with_preemption_takes_over_from_a_cluster_policy() {
    let t = deploy("nginx", json!({}));
    let c = cpp("c", json!({"apiVersion": "apps/v1", "kind": "Deployment"}));
    let cpps = [c.clone()];
    let binding = claimed_by(&c);
    let quiet = [pp(
        "p",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        0,
        "Never",
    )];
    assert_eq!(
        choose(&t, &quiet, &cpps, Some(&binding)).unwrap().name(),
        "c"
    );
    let loud = [pp(
        "p",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        0,
        "Always",
    )];
    assert_eq!(
        choose(&t, &loud, &cpps, Some(&binding)).unwrap().name(),
        "p"
    );
}

#[test]
fn a_claimer_that_stops_selecting_the_template_lets_go() {
    let t = deploy("nginx", json!({"app": "web"}));
    let by_label = pp(
        "l",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "labelSelector": {"matchLabels": {"app": "db"}}}),
        0,
        "Never",
    );
    let binding = claimed_by(&by_label);
    assert!(choose(&t, &[by_label], &[], Some(&binding)).is_none());
}

#[test]
fn merged_owns_only_the_detectors_part() {
    let live = json!({"metadata": {
            "labels": {"x": "1", names::PP_PERMANENT_ID_LABEL: "old"},
            "annotations": {names::CPP_NAME_ANNOTATION: "c", "keep": "me"},
            "finalizers": ["other"]},
        "spec": {"clusters": [{"name": "m1"}], "replicas": 3, "failover": {"x": 1}}});
    let desired = json!({"metadata": {
            "labels": {names::PP_PERMANENT_ID_LABEL: "new"},
            "annotations": {names::PP_NAME_ANNOTATION: "p"},
            "finalizers": [names::BINDING_FINALIZER]},
        "spec": {"replicas": 6}});
    let m = merged(&live, &desired);
    assert_eq!(
        m["metadata"]["labels"],
        json!({"x": "1", names::PP_PERMANENT_ID_LABEL: "new"})
    );
    assert_eq!(
        m["metadata"]["annotations"],
        json!({"keep": "me", names::PP_NAME_ANNOTATION: "p"})
    );
    assert_eq!(
        m["metadata"]["finalizers"],
        json!(["other", names::BINDING_FINALIZER])
    );
    assert_eq!(
        m["spec"],
        json!({"clusters": [{"name": "m1"}], "replicas": 6})
    );
    assert_eq!(
        merge_diff(&projection(&m), &projection(&merged(&m, &desired))),
        None
    );
}

#[test]
fn dependent_overrides_must_exist_in_the_templates_namespace() {
    let mut p = pp(
        "all",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        0,
        "Never",
    );
    p.spec_mut().dependent_overrides = Some(vec!["op-a".into(), "op-b".into()]);
    let op = |name: &str, ns: &str| -> OverridePolicy {
        serde_json::from_value(json!({"apiVersion": "policy.karmada.io/v1alpha1",
            "kind": "OverridePolicy", "metadata": {"name": name, "namespace": ns}, "spec": {}}))
        .unwrap()
    };
    assert_eq!(missing_overrides(&p, "default", &[], &[]), ["op-a", "op-b"]);
    let ops = [op("op-a", "default"), op("op-b", "other")];
    assert_eq!(missing_overrides(&p, "default", &ops, &[]), ["op-b"]);
    let ops = [op("op-a", "default"), op("op-b", "default")];
    assert!(missing_overrides(&p, "default", &ops, &[]).is_empty());
    // A policy without dependent overrides waits for nothing.
    let plain = pp(
        "x",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        0,
        "Never",
    );
    assert!(missing_overrides(&plain, "default", &[], &[]).is_empty());
}
