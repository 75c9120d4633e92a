use super::*;
use crate::testutil::{seed_op, seed_pp};

fn fields(causes: &[Cause]) -> Vec<&str> {
    causes.iter().map(|c| c.field.as_str()).collect()
}

fn with_spec(mut policy: Value, ptr: &str, value: Value) -> Value {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    match policy.pointer_mut(parent).unwrap() {
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        other => {
            other
                .as_object_mut()
                .unwrap()
                .insert(key.to_string(), value);
        }
    }
    policy
}

#[test]
fn the_seed_policies_are_valid() {
    assert_eq!(validate(&seed_pp()), vec![]);
    assert_eq!(validate(&seed_op()), vec![]);
}

#[test]
fn resource_selectors_are_required_and_complete() {
    let p = with_spec(seed_pp(), "/spec/resourceSelectors", json!([]));
    let c = validate(&p);
    assert_eq!(fields(&c), ["spec.resourceSelectors"]);
    assert_eq!(c[0].reason, "FieldValueRequired");
    let p = with_spec(
        seed_pp(),
        "/spec/resourceSelectors",
        json!([{"kind": "Deployment"}, {"apiVersion": "v1"}]),
    );
    assert_eq!(
        fields(&validate(&p)),
        [
            "spec.resourceSelectors[0].apiVersion",
            "spec.resourceSelectors[1].kind"
        ]
    );
    let p = with_spec(
        seed_pp(),
        "/spec/resourceSelectors/0/namespace",
        json!("other"),
    );
    let c = validate(&p);
    assert_eq!(fields(&c), ["spec.resourceSelectors[0].namespace"]);
    assert_eq!(
        c[0].message,
        "Invalid value: \"other\": namespace of resource selector must be the same as the namespace of the policy"
    );
}

#[test]
fn static_weights_need_target_and_positive_weight() {
    let p = with_spec(
        seed_pp(),
        "/spec/placement/replicaScheduling/weightPreference/staticWeightList",
        json!([{"weight": 0}, {"targetCluster": {"clusterNames": ["a"]}}]),
    );
    assert_eq!(
        fields(&validate(&p)),
        [
            "spec.placement.replicaScheduling.weightPreference.staticWeightList[0].targetCluster",
            "spec.placement.replicaScheduling.weightPreference.staticWeightList[0].weight",
            "spec.placement.replicaScheduling.weightPreference.staticWeightList[1].weight",
        ]
    );
}

#[test]
fn placement_rules() {
    let p = with_spec(
        seed_pp(),
        "/spec/placement/clusterAffinities",
        json!([{"affinityName": "a"}]),
    );
    let c = validate(&p);
    assert_eq!(fields(&c), ["spec.placement"]);
    assert!(
        c[0].message
            .ends_with("clusterAffinities cannot co-exist with clusterAffinity")
    );

    let p = with_spec(
        seed_pp(),
        "/spec/placement/clusterAffinity",
        json!({"fieldSelector": {"matchExpressions": [
        {"key": "color", "operator": "In", "values": ["red"]}]}}),
    );
    let c = validate(&p);
    assert_eq!(fields(&c), ["spec.placement.clusterAffinity.fieldSelector"]);
    assert!(
        c[0].message
            .contains("unsupported key \"color\", must be provider, region, or zone")
    );

    let p = with_spec(
        seed_pp(),
        "/spec/placement/spreadConstraints",
        json!([
        {"spreadByField": "region", "minGroups": 3, "maxGroups": 2},
        {"spreadByField": "region", "spreadByLabel": "x"}]),
    );
    let c = validate(&p);
    assert_eq!(
        fields(&c),
        [
            "spec.placement.spreadConstraints[0]",
            "spec.placement.spreadConstraints[1]",
            "spec.placement.spreadConstraints",
            "spec.placement.spreadConstraints",
        ]
    );
    assert!(
        c[0].message
            .ends_with("maxGroups lower than minGroups is not allowed")
    );
    assert!(
        c[2].message
            .ends_with("multiple region spread constraints are not allowed")
    );
    assert!(
        c[3].message
            .contains("the cluster spread constraint must be enabled")
    );

    let p = with_spec(
        seed_pp(),
        "/spec/placement/clusterTolerations/0/operator",
        json!("Gt"),
    );
    let c = validate(&p);
    assert_eq!(
        fields(&c),
        ["spec.placement.clusterTolerations[0].operator"]
    );
    assert_eq!(c[0].reason, "FieldValueNotSupported");

    let mut p = seed_pp();
    p["spec"]["placement"]
        .as_object_mut()
        .unwrap()
        .remove("clusterAffinity");
    p["spec"]["placement"]["clusterAffinities"] =
        json!([{"affinityName": "a"}, {"affinityName": "a"}, {"affinityName": "bad name"}]);
    assert_eq!(
        fields(&validate(&p)),
        [
            "spec.placement.clusterAffinities",
            "spec.placement.clusterAffinities[2]",
        ]
    );
}

#[test]
fn failover_rules() {
    let p = with_spec(
        seed_pp(),
        "/spec/failover",
        json!({"application": {
        "decisionConditions": {"tolerationSeconds": -1}, "purgeMode": "Never", "gracePeriodSeconds": 10}}),
    );
    let p = with_spec(p, "/spec/propagateDeps", json!(false));
    assert_eq!(
        fields(&validate(&p)),
        [
            "spec.propagateDeps",
            "spec.failover.application.decisionConditions.tolerationSeconds",
            "spec.failover.application.gracePeriodSeconds",
        ]
    );
    // Gracefully gets its grace period defaulted; a non-positive one is refused.
    let ok = with_spec(
        seed_pp(),
        "/spec/failover",
        json!({"application": {"decisionConditions": {}}}),
    );
    assert_eq!(validate(&ok), vec![]);
    let zero = with_spec(
        seed_pp(),
        "/spec/failover",
        json!({"application": {"decisionConditions": {}, "gracePeriodSeconds": 0}}),
    );
    assert_eq!(
        fields(&validate(&zero)),
        ["spec.failover.application.gracePeriodSeconds"]
    );
}

#[test]
fn suspension_and_preemption() {
    let p = with_spec(
        seed_pp(),
        "/spec/suspension",
        json!({"dispatching": true, "dispatchingOnClusters": {"clusterNames": ["a"]}}),
    );
    assert_eq!(fields(&validate(&p)), ["spec.suspension.suspension"]);
    let mut p = seed_pp();
    p["spec"]["preemption"] = json!("Always");
    p["spec"]["resourceSelectors"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    assert_eq!(fields(&validate(&p)), ["spec.resourceSelectors[0].name"]);
}

#[test]
fn overriders() {
    let rules = json!([{"overriders": {
        "plaintext": [{"operator": "move", "path": "/a"}, {"operator": "add"}],
        "imageOverrider": [{"component": "Digest", "operator": "add", "predicate": {"path": "spec/x"}}],
        "labelsOverrider": [{"operator": "upsert", "value": {"bad key!": "v", "ok": "bad value!"}}],
        "annotationsOverrider": [{"operator": "add", "value": {"example.com/a": "anything at all"}}],
        "commandOverrider": [{"operator": "replace"}],
    }}]);
    let op = with_spec(seed_op(), "/spec/overrideRules", rules);
    let c = validate(&op);
    assert_eq!(
        fields(&c),
        [
            "spec.overrideRules[0].overriders.plaintext[0].operator",
            "spec.overrideRules[0].overriders.plaintext[1].path",
            "spec.overrideRules[0].overriders.imageOverrider[0].component",
            "spec.overrideRules[0].overriders.imageOverrider[0].predicate.path",
            "spec.overrideRules[0].overriders.commandOverrider[0].containerName",
            "spec.overrideRules[0].overriders.commandOverrider[0].operator",
            "spec.overrideRules[0].overriders.labelsOverrider[0].operator",
            "spec.overrideRules[0].overriders.labelsOverrider[0].value",
            "spec.overrideRules[0].overriders.labelsOverrider[0].value[ok]",
        ]
    );
    assert_eq!(
        c[0].message,
        "Unsupported value: \"move\": supported values: \"add\", \"remove\", \"replace\""
    );

    let mut legacy = seed_op();
    legacy["spec"]["targetCluster"] = json!({"clusterNames": ["a"]});
    legacy["spec"]["overriders"] =
        json!({"plaintext": [{"operator": "add", "path": "/a", "value": 1}]});
    assert_eq!(
        fields(&validate(&legacy)),
        ["spec.targetCluster", "spec.overriders"]
    );
}

#[test]
fn defaulting_and_updates() {
    let mut p = seed_pp();
    p["spec"]["placement"]["spreadConstraints"] = json!([{"maxGroups": 2}]);
    p["spec"]["placement"]["replicaScheduling"] = json!({"replicaSchedulingType": "Divided"});
    p["spec"]["resourceSelectors"][0]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    default_policy(&mut p);
    assert_eq!(p["spec"]["resourceSelectors"][0]["namespace"], "default");
    assert_eq!(
        p["spec"]["placement"]["spreadConstraints"],
        json!([{"spreadByField": "cluster", "minGroups": 1, "maxGroups": 2}])
    );
    assert_eq!(
        p["spec"]["placement"]["replicaScheduling"]["replicaDivisionPreference"],
        "Weighted"
    );
    assert_eq!(p["spec"]["conflictResolution"], "Abort");
    assert_eq!(p["spec"]["priority"], 0);

    let mut fresh = seed_pp();
    fresh["metadata"].as_object_mut().unwrap().remove("labels");
    set_permanent_id(&mut fresh, "id-1");
    assert_eq!(
        fresh["metadata"]["labels"]["propagationpolicy.karmada.io/permanent-id"],
        "id-1"
    );
    set_permanent_id(&mut fresh, "id-2");
    assert_eq!(
        fresh["metadata"]["labels"]["propagationpolicy.karmada.io/permanent-id"],
        "id-1"
    );

    let mut changed = seed_pp();
    changed["spec"]["schedulerName"] = json!("other");
    changed["metadata"]["labels"]["propagationpolicy.karmada.io/permanent-id"] = json!("x");
    assert_eq!(
        fields(&validate_update(&seed_pp(), &changed)),
        [
            "spec.schedulerName",
            "metadata.labels[propagationpolicy.karmada.io/permanent-id]",
        ]
    );
}
