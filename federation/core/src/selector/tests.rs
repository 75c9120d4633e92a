use super::*;
use serde_json::json;

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn label_selectors() {
    let l = labels(json!({"app": "nginx", "tier": "web"}));
    let yes = [
        json!({}),
        json!({"matchLabels": {"app": "nginx"}}),
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "db"]}]}),
        json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}),
        json!({"matchExpressions": [{"key": "app", "operator": "Exists"}, {"key": "env", "operator": "DoesNotExist"}]}),
    ];
    let no = [
        json!({"matchLabels": {"app": "redis"}}),
        json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["web"]}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["web"]}]}),
        json!(null),
    ];
    for sel in yes {
        assert!(label_selector_value_matches(&sel, &l), "{sel}");
    }
    for sel in no {
        assert!(!label_selector_value_matches(&sel, &l), "{sel}");
    }
}

#[test]
fn resource_selector_priorities() {
    let r = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}}});
    let rs = |extra: Value| {
        let mut v = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        resource_selector_priority(&r, &typed(v))
    };
    assert_eq!(rs(json!({})), ImplicitPriority::MatchAll);
    assert_eq!(
        rs(json!({"labelSelector": {"matchLabels": {"app": "nginx"}}})),
        ImplicitPriority::MatchLabelSelector
    );
    assert_eq!(
        rs(json!({"name": "nginx", "labelSelector": {"matchLabels": {"app": "x"}}})),
        ImplicitPriority::MatchName
    );
    assert_eq!(rs(json!({"name": "other"})), ImplicitPriority::MisMatch);
    assert_eq!(
        rs(json!({"namespace": "other"})),
        ImplicitPriority::MisMatch
    );
    assert_eq!(
        rs(json!({"namespace": "default"})),
        ImplicitPriority::MatchAll
    );
    assert_eq!(
        resource_selectors_priority(&r, &[]),
        ImplicitPriority::MisMatch
    );
}

#[test]
fn cluster_field_selectors_and_tolerations() {
    let c: Cluster = typed(
        json!({"metadata": {"name": "m", "labels": {}}, "spec": {"provider": "aws", "region": "us-1", "zones": []}}),
    );
    let fs = |exprs: Value| {
        cluster_matches(
            &c,
            &typed(json!({"fieldSelector": {"matchExpressions": exprs}})),
        )
    };
    assert!(fs(
        json!([{"key": "provider", "operator": "In", "values": ["aws"]}])
    ));
    assert!(fs(json!([{"key": "zone", "operator": "DoesNotExist"}])));
    assert!(!fs(
        json!([{"key": "zone", "operator": "In", "values": ["a"]}])
    ));
    assert!(fs(
        json!([{"key": "zone", "operator": "NotIn", "values": ["a"]}])
    ));
    assert!(fs(json!([{"key": "region", "operator": "Exists"}])));
    assert!(!fs(
        json!([{"key": "region", "operator": "Gt", "values": ["1"]}])
    ));

    let taint: Taint = typed(json!({"key": "k", "value": "v", "effect": "NoSchedule"}));
    let tol = |v: Value| tolerates(&typed(v), &taint);
    assert!(tol(json!({"key": "k", "operator": "Equal", "value": "v"})));
    assert!(tol(json!({"operator": "Exists"})));
    assert!(!tol(json!({"key": "k", "value": "w"})));
    assert!(!tol(
        json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})
    ));
    assert_eq!(taint_string(&taint), "k=v:NoSchedule");
}
