use super::*;
use serde_json::json;

fn by_kind(kind: &str) -> Value {
    crds()
        .into_iter()
        .find(|c| c["spec"]["names"]["kind"] == kind)
        .unwrap()
}

fn columns(crd: &Value) -> Vec<(String, String)> {
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("priority").is_none())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["jsonPath"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_source_parses_and_names_match() {
    assert_eq!(crds().len(), SOURCES.len());
    for crd in crds() {
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
        let group = crd["spec"]["group"].as_str().unwrap();
        assert_eq!(crd["metadata"]["name"], format!("{plural}.{group}"));
        let versions = crd["spec"]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["storage"], true);
        assert!(versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"].is_object());
        assert!(!crd.to_string().contains("\"description\":\""));
    }
}

#[test]
fn names_scopes_and_short_names_are_karmadas() {
    let want = [
        (
            "Cluster",
            "cluster.karmada.io",
            "v1alpha1",
            "clusters",
            "Cluster",
            None,
        ),
        (
            "PropagationPolicy",
            "policy.karmada.io",
            "v1alpha1",
            "propagationpolicies",
            "Namespaced",
            Some("pp"),
        ),
        (
            "ClusterPropagationPolicy",
            "policy.karmada.io",
            "v1alpha1",
            "clusterpropagationpolicies",
            "Cluster",
            Some("cpp"),
        ),
        (
            "OverridePolicy",
            "policy.karmada.io",
            "v1alpha1",
            "overridepolicies",
            "Namespaced",
            Some("op"),
        ),
        (
            "ClusterOverridePolicy",
            "policy.karmada.io",
            "v1alpha1",
            "clusteroverridepolicies",
            "Cluster",
            Some("cop"),
        ),
        (
            "ResourceBinding",
            "work.karmada.io",
            "v1alpha2",
            "resourcebindings",
            "Namespaced",
            Some("rb"),
        ),
        (
            "ClusterResourceBinding",
            "work.karmada.io",
            "v1alpha2",
            "clusterresourcebindings",
            "Cluster",
            Some("crb"),
        ),
        (
            "Work",
            "work.karmada.io",
            "v1alpha1",
            "works",
            "Namespaced",
            Some("wk"),
        ),
    ];
    for (kind, group, version, plural, scope, short) in want {
        let crd = by_kind(kind);
        assert_eq!(crd["spec"]["group"], group, "{kind}");
        assert_eq!(crd["spec"]["versions"][0]["name"], version, "{kind}");
        assert_eq!(crd["spec"]["names"]["plural"], plural, "{kind}");
        assert_eq!(crd["spec"]["scope"], scope, "{kind}");
        match short {
            Some(s) => {
                assert_eq!(crd["spec"]["names"]["shortNames"], json!([s]), "{kind}");
                assert_eq!(crd["spec"]["names"]["categories"], json!(["karmada-io"]));
            }
            None => assert!(crd["spec"]["names"].get("shortNames").is_none()),
        }
        assert!(crd_for(&format!("{group}/{version}"), kind).is_some());
    }
}

#[test]
fn printer_columns() {
    let names =
        |kind| -> Vec<String> { columns(&by_kind(kind)).into_iter().map(|c| c.0).collect() };
    assert_eq!(names("Cluster"), ["VERSION", "MODE", "READY", "AGE"]);
    assert_eq!(
        columns(&by_kind("Cluster"))[2].1,
        r#".status.conditions[?(@.type=="Ready")].status"#
    );
    for k in ["PropagationPolicy", "ClusterPropagationPolicy"] {
        assert_eq!(names(k), ["CONFLICT-RESOLUTION", "PRIORITY", "AGE"]);
    }
    for k in ["ResourceBinding", "ClusterResourceBinding"] {
        assert_eq!(names(k), ["SCHEDULED", "FULLYAPPLIED", "AGE"]);
    }
    assert_eq!(names("Work"), ["WORKLOAD-KIND", "APPLIED", "AGE"]);
    for k in [
        "ResourceBinding",
        "ClusterResourceBinding",
        "Work",
        "Cluster",
    ] {
        assert!(by_kind(k)["spec"]["versions"][0]["subresources"]["status"].is_object());
    }
}

#[test]
fn preserve_unknown_fields_where_karmada_has_them() {
    let work = schema_for("work.karmada.io/v1alpha1", "Work").unwrap();
    let m =
        &work["properties"]["spec"]["properties"]["workload"]["properties"]["manifests"]["items"];
    assert_eq!(m["x-kubernetes-preserve-unknown-fields"], true);
    let rb = schema_for("work.karmada.io/v1alpha2", "ResourceBinding").unwrap();
    let st = &rb["properties"]["status"]["properties"]["aggregatedStatus"]["items"]["properties"]["status"];
    assert_eq!(st["x-kubernetes-preserve-unknown-fields"], true);
}

#[test]
fn defaults_fill_like_the_apiserver() {
    let mut pp = json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": {"replicaScheduling": {}},
            "failover": {"application": {"decisionConditions": {}}}
        }
    });
    assert!(default_object(&mut pp));
    assert_eq!(pp["spec"]["conflictResolution"], "Abort");
    assert_eq!(pp["spec"]["priority"], 0);
    assert_eq!(pp["spec"]["schedulerName"], "default-scheduler");
    assert_eq!(pp["spec"]["preemption"], "Never");
    assert_eq!(
        pp["spec"]["placement"]["replicaScheduling"]["replicaSchedulingType"],
        "Divided"
    );
    assert_eq!(
        pp["spec"]["failover"]["application"]["purgeMode"],
        "Gracefully"
    );
    assert_eq!(
        pp["spec"]["failover"]["application"]["decisionConditions"]["tolerationSeconds"],
        300
    );
    // Objects that are absent are not created.
    assert!(pp["spec"]["placement"].get("clusterAffinity").is_none());
    let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
    assert!(!default_object(&mut other));
}
