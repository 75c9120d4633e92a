//! The seed walk-through (`000_*`, "multi-cluster application distribution with the cluster
//! federation") through the pure pipeline: template + OverridePolicy + PropagationPolicy ->
//! ResourceBinding -> schedule -> Works -> member status -> aggregated status -> `3/3`.

#![allow(clippy::unwrap_used)]

use cceone_federation_core::{
    aggregate, build_binding, detector, interpret, scheduler, select_policy, status, validate, work,
};
use jiff::Timestamp;
use serde_json::{Value, json};

fn cluster(name: &str) -> Value {
    json!({
        "apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"syncMode": "Pull"},
        "status": {"kubernetesVersion": "v1.27.8",
            "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterReady", "message": "",
                "lastTransitionTime": "2025-05-14T00:00:00Z"}]},
    })
}

fn template() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "generation": 2, "labels": {"app": "nginx"},
            "uid": "86da5387-b36b-40c4-99a2-462cbc832c99", "resourceVersion": "44338446"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
        "status": {},
    })
}

fn override_policy() -> Value {
    let rule = |c: &str| {
        json!({"targetCluster": {"clusterNames": [c]},
        "overriders": {"labelsOverrider": [{"operator": "add", "value": {"cceone.propagationto": c}}]}})
    };
    json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "OverridePolicy",
        "metadata": {"name": "example", "namespace": "default"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
            "overrideRules": [rule("cce-cceone-demo1"), rule("cce-cceone-demo2")]}})
}

fn propagation_policy() -> Value {
    json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "example-policy", "namespace": "default"},
        "spec": {"propagateDeps": true,
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
            "placement": {
                "clusterAffinity": {"clusterNames": ["cce-cceone-demo1", "cce-cceone-demo2"]},
                "clusterTolerations": [
                    {"key": "cluster.karmada.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "cluster.karmada.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
                "replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": [
                        {"targetCluster": {"clusterNames": ["cce-cceone-demo1"]}, "weight": 1},
                        {"targetCluster": {"clusterNames": ["cce-cceone-demo2"]}, "weight": 2}]}}}}})
}

#[test]
fn seed_walk_through() {
    let now: Timestamp = "2025-05-30T09:52:51Z".parse().unwrap();
    let clusters: Vec<Value> = [
        "cce-cceone-demo1",
        "cce-cceone-demo2",
        "cceone-c2",
        "cceone-cluster1",
    ]
    .iter()
    .map(|n| cluster(n))
    .collect();

    // Admission: defaults, a permanent id, no causes; `kubectl get pp` shows Abort / 0.
    let mut pp = propagation_policy();
    validate::default_policy(&mut pp);
    validate::set_permanent_id(&mut pp, "bb4b469a-6c93-4ed7-8465-e91564eb33eb");
    assert!(validate::validate(&pp).is_empty());
    assert_eq!(
        (
            pp["spec"]["conflictResolution"].clone(),
            pp["spec"]["priority"].clone()
        ),
        (json!("Abort"), json!(0))
    );
    let mut op = override_policy();
    validate::default_policy(&mut op);
    assert!(validate::validate(&op).is_empty());

    // Detection.
    let pps: [cceone_karmada_api::PropagationPolicy; 1] = [serde_json::from_value(pp).unwrap()];
    let policy = select_policy(&template(), &pps, &[]).unwrap();
    let mut rb = build_binding(&template(), policy).to_value();
    assert_eq!(
        rb["metadata"]["name"],
        detector::binding_name("Deployment", "nginx")
    );
    rb["metadata"]["labels"]["resourcebinding.karmada.io/permanent-id"] =
        json!("89904db8-95a4-4820-b3b7-cea95b1c3e51");

    // Scheduling: demo1 gets 1, demo2 gets 2.
    let typed_clusters: Vec<cceone_karmada_api::Cluster> = clusters
        .iter()
        .map(|c| serde_json::from_value(c.clone()).unwrap())
        .collect();
    let result = scheduler::schedule_binding(
        &serde_json::from_value(rb.clone()).unwrap(),
        &typed_clusters,
    );
    rb["status"]["conditions"] =
        json!([serde_json::to_value(scheduler::scheduled_condition(&result, now)).unwrap()]);
    let targets = result.unwrap().clusters;
    rb["spec"]["clusters"] = serde_json::to_value(&targets).unwrap();
    assert_eq!(
        rb["spec"]["clusters"],
        json!([{"name": "cce-cceone-demo1", "replicas": 1}, {"name": "cce-cceone-demo2", "replicas": 2}])
    );

    // Works: one per cluster with the cluster's replicas and label.
    let ops = [op];
    let mut works = Vec::new();
    for t in &targets {
        let c = typed_clusters.iter().find(|c| c.name() == t.name).unwrap();
        let typed_ops: Vec<cceone_karmada_api::OverridePolicy> = ops
            .iter()
            .map(|o| serde_json::from_value(o.clone()).unwrap())
            .collect();
        let w = work::build_work(
            &serde_json::from_value(rb.clone()).unwrap(),
            &template(),
            t,
            c,
            &typed_ops,
            "0d6f3a52-8d1e-4f59-9c1e-2b7f0a9e4c11",
        )
        .unwrap()
        .to_value();
        // The Work's permanent id is on the Work and on what it puts in the member.
        for labels in [
            &w["metadata"]["labels"],
            &w["spec"]["workload"]["manifests"][0]["metadata"]["labels"],
        ] {
            assert_eq!(
                labels["work.karmada.io/permanent-id"],
                "0d6f3a52-8d1e-4f59-9c1e-2b7f0a9e4c11"
            );
        }
        assert_eq!(w["metadata"]["namespace"], format!("karmada-es-{}", t.name));
        assert_eq!(w["metadata"]["name"], "nginx-687f7fb96f");
        let m = &w["spec"]["workload"]["manifests"][0];
        assert_eq!(m["spec"]["replicas"], json!(t.replicas));
        assert_eq!(
            m["metadata"]["labels"]["cceone.propagationto"],
            t.name.as_str()
        );
        assert_eq!(
            m["metadata"]["annotations"]["resourcetemplate.karmada.io/generation"],
            "2"
        );
        assert!(m.get("status").is_none() && m["metadata"].get("uid").is_none());
        // Karmada's records of the keys it manages on the member object.
        let managed_labels =
            m["metadata"]["annotations"]["resourcetemplate.karmada.io/managed-labels"]
                .as_str()
                .unwrap();
        assert!(
            managed_labels.contains("cceone.propagationto")
                && managed_labels.contains("karmada.io/managed"),
            "{managed_labels}"
        );
        let managed_annotations =
            m["metadata"]["annotations"]["resourcetemplate.karmada.io/managed-annotations"]
                .as_str()
                .unwrap();
        let keys: Vec<&str> = managed_annotations.split(',').collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{managed_annotations}"
        );
        assert!(keys.contains(&"resourcetemplate.karmada.io/managed-annotations"));
        assert!(
            keys.contains(&"work.karmada.io/name"),
            "{managed_annotations}"
        );

        // The member runs it: its controller fills the status, the agent reflects it.
        let mut member = m.clone();
        member["metadata"]["generation"] = json!(1);
        let r = t.replicas.unwrap();
        member["status"] = json!({"replicas": r, "readyReplicas": r, "updatedReplicas": r,
            "availableReplicas": r, "observedGeneration": 1});
        assert_eq!(
            interpret::interpret_health(&member),
            interpret::Health::Healthy
        );
        let reflected = interpret::reflect_status(&member).unwrap();
        let mut w = w;
        w["status"] = json!({
            "conditions": [{"type": "Applied", "status": "True", "reason": "AppliedSuccessful",
                "message": "Manifest has been successfully applied", "lastTransitionTime": "2025-05-30T09:52:51Z"}],
            "manifestStatuses": [{"identifier": {"ordinal": 0, "group": "apps", "version": "v1",
                "kind": "Deployment", "resource": "deployments", "namespace": "default", "name": "nginx"},
                "status": reflected, "health": "Healthy"}],
        });
        works.push(w);
    }

    // Aggregation: the seed's aggregatedStatus and conditions, and the template reads 3/3.
    let typed_works: Vec<cceone_karmada_api::Work> = works
        .iter()
        .map(|w| serde_json::from_value(w.clone()).unwrap())
        .collect();
    let status = aggregate(
        &serde_json::from_value(rb.clone()).unwrap(),
        &typed_works,
        now,
    );
    rb["status"] = serde_json::to_value(&status).unwrap();
    assert_eq!(
        rb["status"]["aggregatedStatus"][0],
        json!({"applied": true, "clusterName": "cce-cceone-demo1",
        "health": "Healthy", "status": {"availableReplicas": 1, "generation": 1, "observedGeneration": 1,
        "readyReplicas": 1, "replicas": 1, "resourceTemplateGeneration": 2, "updatedReplicas": 1}})
    );
    let types: Vec<(&str, &str)> = rb["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(types, [("Scheduled", "True"), ("FullyApplied", "True")]);
    let st = status::template_status(
        &template(),
        status.aggregated_status.as_deref().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(
        (
            st["readyReplicas"].clone(),
            st["updatedReplicas"].clone(),
            st["availableReplicas"].clone()
        ),
        (json!(3), json!(3), json!(3))
    );
    assert_eq!(st["observedGeneration"], 2);
}
