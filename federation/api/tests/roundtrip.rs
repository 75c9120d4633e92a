//! Objects read into the typed API and written back are unchanged: every field the CRD schemas
//! know (generated, one of each, to full depth), fields they do not, and the YAML users write.
#![allow(clippy::unwrap_used)]

use cceone_karmada_api::{Cluster, OverridePolicy, PropagationPolicy, ResourceBinding, Work};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

const CRDS: &[(&str, &str)] = &[
    (
        "Cluster",
        include_str!("../../core/crds/clusters.cluster.karmada.io.json"),
    ),
    (
        "PropagationPolicy",
        include_str!("../../core/crds/propagationpolicies.policy.karmada.io.json"),
    ),
    (
        "ClusterPropagationPolicy",
        include_str!("../../core/crds/clusterpropagationpolicies.policy.karmada.io.json"),
    ),
    (
        "OverridePolicy",
        include_str!("../../core/crds/overridepolicies.policy.karmada.io.json"),
    ),
    (
        "ClusterOverridePolicy",
        include_str!("../../core/crds/clusteroverridepolicies.policy.karmada.io.json"),
    ),
    (
        "ResourceBinding",
        include_str!("../../core/crds/resourcebindings.work.karmada.io.json"),
    ),
    (
        "ClusterResourceBinding",
        include_str!("../../core/crds/clusterresourcebindings.work.karmada.io.json"),
    ),
    (
        "Work",
        include_str!("../../core/crds/works.work.karmada.io.json"),
    ),
];

/// One instance of a schema with every property set.
fn instance(schema: &Value, depth: usize) -> Value {
    if depth > 12 {
        return json!({});
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        return json!("1");
    }
    if let Some(e) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return e.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), instance(v, depth + 1));
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                out.insert("some-key".into(), instance(extra, depth + 1));
            } else {
                out.insert("anything".into(), json!({"nested": [1, "two"]}));
            }
            Value::Object(out)
        }
        Some("array") => json!([instance(
            schema.get("items").unwrap_or(&json!({})),
            depth + 1
        )]),
        Some("string") => json!("text"),
        Some("integer") => json!(3),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        _ => json!({"free": "form"}),
    }
}

fn full_metadata() -> Value {
    json!({
        "name": "n", "generateName": "g", "namespace": "ns", "uid": "u", "resourceVersion": "7",
        "generation": 2, "creationTimestamp": "2026-01-02T03:04:05Z",
        "deletionTimestamp": "2026-01-02T03:04:06Z", "deletionGracePeriodSeconds": 0,
        "labels": {"a": "b"}, "annotations": {"c": "d"}, "finalizers": ["f"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "1"}],
        "managedFields": [{"manager": "m", "operation": "Apply"}],
        "somethingNew": {"x": 1},
    })
}

fn round_trip<T: Serialize + DeserializeOwned>(v: &Value) -> Value {
    let typed: T = serde_json::from_value(v.clone()).expect("parses");
    serde_json::to_value(&typed).expect("serializes")
}

fn check(kind: &str, v: &Value) {
    let back = match kind {
        "Cluster" => round_trip::<Cluster>(v),
        "PropagationPolicy" | "ClusterPropagationPolicy" => round_trip::<PropagationPolicy>(v),
        "OverridePolicy" | "ClusterOverridePolicy" => round_trip::<OverridePolicy>(v),
        "ResourceBinding" | "ClusterResourceBinding" => round_trip::<ResourceBinding>(v),
        "Work" => round_trip::<Work>(v),
        other => panic!("no type for {other}"),
    };
    if let Some(path) = first_difference(v, &back, String::new()) {
        panic!("{kind} did not round-trip: {path}");
    }
}

/// Where two values first differ, as a path.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (xa, yb) = (x.get(k), y.get(k));
                match (xa, yb) {
                    (Some(xa), Some(yb)) => {
                        if let Some(p) = first_difference(xa, yb, format!("{path}/{k}")) {
                            return Some(p);
                        }
                    }
                    _ => return Some(format!("{path}/{k}: {xa:?} vs {yb:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (xa, yb))| first_difference(xa, yb, format!("{path}/{i}"))),
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

#[test]
fn every_schema_field_round_trips() {
    for (kind, src) in CRDS {
        let crd: Value = serde_json::from_str(src).unwrap();
        let version = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["storage"] == json!(true))
            .unwrap();
        let mut obj = instance(&version["schema"]["openAPIV3Schema"], 0);
        obj["metadata"] = full_metadata();
        obj["apiVersion"] = json!(format!(
            "{}/{}",
            crd["spec"]["group"].as_str().unwrap(),
            version["name"].as_str().unwrap()
        ));
        obj["kind"] = json!(kind);
        obj["unknownTopLevel"] = json!([{"k": "v"}]);
        obj["spec"]["unknownInSpec"] = json!(true);
        check(kind, &obj);
    }
}

#[test]
fn absent_and_empty_stay_apart() {
    let b = json!({"apiVersion": "work.karmada.io/v1alpha2", "kind": "ResourceBinding",
        "metadata": {"name": "x", "labels": {}},
        "spec": {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}, "clusters": []},
        "status": {"conditions": [], "aggregatedStatus": [{"clusterName": "m1", "applied": false, "appliedMessage": ""}]}});
    check("ResourceBinding", &b);
    let w = json!({"apiVersion": "work.karmada.io/v1alpha1", "kind": "Work", "metadata": {"name": "w"},
        "spec": {"workload": {"manifests": []}, "suspendDispatching": false}});
    check("Work", &w);
}

#[test]
fn yaml_users_write_reads_typed() {
    let pp: PropagationPolicy = serde_yaml::from_str(
        r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: nginx-propagation
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: nginx
  placement:
    clusterAffinity:
      clusterNames: [member1, member2]
    clusterTolerations:
      - key: cluster.karmada.io/not-ready
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 30
    replicaScheduling:
      replicaDivisionPreference: Weighted
      replicaSchedulingType: Divided
      weightPreference:
        staticWeightList:
          - targetCluster:
              clusterNames: [member1]
            weight: 1
          - targetCluster:
              clusterNames: [member2]
            weight: 2
  suspension:
    dispatchingOnClusters:
      clusterNames: [member2]
"#,
    )
    .unwrap();
    let spec = pp.spec.as_ref().unwrap();
    assert_eq!(spec.resource_selectors()[0].name(), "nginx");
    let placement = spec.placement.as_ref().unwrap();
    assert_eq!(
        placement.cluster_affinity.as_ref().unwrap().cluster_names(),
        ["member1", "member2"]
    );
    assert_eq!(
        placement.cluster_tolerations()[0].toleration_seconds,
        Some(30)
    );
    let weights = placement
        .replica_scheduling
        .as_ref()
        .unwrap()
        .weight_preference
        .as_ref()
        .unwrap()
        .static_weight_list
        .as_ref()
        .unwrap();
    assert_eq!(weights[1].weight, 2);
    assert_eq!(weights[1].target_cluster.cluster_names(), ["member2"]);
    let suspension = spec.suspension.as_ref().unwrap();
    assert!(suspension.suspends("member2") && !suspension.suspends("member1"));
    assert!(spec.extra.is_empty() && placement.extra.is_empty());

    let op: OverridePolicy = serde_yaml::from_str(
        r#"
apiVersion: policy.karmada.io/v1alpha1
kind: OverridePolicy
metadata: {name: o, namespace: default}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment}]
  targetCluster: {clusterNames: [member1]}
  overriders:
    imageOverrider: [{component: Registry, operator: replace, value: registry.example}]
"#,
    )
    .unwrap();
    let rules = op.spec.as_ref().unwrap().rules();
    assert_eq!(rules.len(), 1, "the deprecated pair reads as one rule");
    assert_eq!(
        rules[0].overriders.image_overrider.as_ref().unwrap()[0]
            .value
            .as_deref(),
        Some("registry.example")
    );
}
