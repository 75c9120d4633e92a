//! Fixtures shared by the unit tests: Cluster objects and the seed's objects.

use serde_json::{Value, json};

/// A Ready Pull-mode cluster with labels, provider, region and zones.
pub(crate) fn cluster(
    name: &str,
    labels: Value,
    provider: &str,
    region: &str,
    zones: &[&str],
) -> Value {
    json!({
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "labels": labels, "creationTimestamp": "2025-05-01T00:00:00Z"},
        "spec": {"syncMode": "Pull", "provider": provider, "region": region, "zones": zones},
        "status": {
            "kubernetesVersion": "v1.27.8",
            "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterReady",
                "message": "cluster is healthy and ready to accept workloads",
                "lastTransitionTime": "2025-05-01T00:00:00Z"}],
        },
    })
}

/// A bare cluster.
pub(crate) fn plain(name: &str) -> Value {
    cluster(name, json!({}), "", "", &[])
}

/// A cluster with a resource summary: `pods` free pod slots and `cpu` free cores.
pub(crate) fn with_capacity(name: &str, pods: i64, cpu: &str) -> Value {
    let mut c = plain(name);
    c["status"]["resourceSummary"] = json!({
        "allocatable": {"pods": pods.to_string(), "cpu": cpu, "memory": "64Gi"},
        "allocated": {"pods": "0", "cpu": "0"},
    });
    c
}

/// The seed's template: `kubectl create deployment nginx --image nginx --replicas=3`.
pub(crate) fn nginx() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "nginx", "namespace": "default", "generation": 2,
            "uid": "86da5387-b36b-40c4-99a2-462cbc832c99", "resourceVersion": "44338446",
            "labels": {"app": "nginx"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
            },
        },
    })
}

/// The seed's PropagationPolicy (weights demo1:1, demo2:2; tolerations of 300 s).
pub(crate) fn seed_pp() -> Value {
    json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "example-policy", "namespace": "default",
            "labels": {"propagationpolicy.karmada.io/permanent-id": "bb4b469a-6c93-4ed7-8465-e91564eb33eb"}},
        "spec": {
            "propagateDeps": true,
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
            "placement": {
                "clusterAffinity": {"clusterNames": ["cce-cceone-demo1", "cce-cceone-demo2"]},
                "clusterTolerations": [
                    {"key": "cluster.karmada.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "cluster.karmada.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                ],
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": [
                        {"targetCluster": {"clusterNames": ["cce-cceone-demo1"]}, "weight": 1},
                        {"targetCluster": {"clusterNames": ["cce-cceone-demo2"]}, "weight": 2},
                    ]},
                },
            },
        },
    })
}

/// The seed's OverridePolicy: label `cceone.propagationto: <cluster>` per cluster.
pub(crate) fn seed_op() -> Value {
    let rule = |c: &str| {
        json!({
            "targetCluster": {"clusterNames": [c]},
            "overriders": {"labelsOverrider": [{"operator": "add", "value": {"cceone.propagationto": c}}]},
        })
    };
    json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "example", "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
            "overrideRules": [rule("cce-cceone-demo1"), rule("cce-cceone-demo2")],
        },
    })
}

/// The seed's member clusters (as `kubectl get cluster` lists them).
pub(crate) fn seed_clusters() -> Vec<Value> {
    [
        "cce-cceone-demo1",
        "cce-cceone-demo2",
        "cceone-c2",
        "cceone-cluster1",
    ]
    .iter()
    .map(|n| plain(n))
    .collect()
}

/// The detector's binding of the seed's template under the seed's policy, as JSON.
pub(crate) fn seed_binding() -> Value {
    let pp = serde_json::from_value(seed_pp()).unwrap_or_default();
    crate::detector::build_binding(&nginx(), &pp).to_value()
}
