use super::*;
use serde_json::json;

fn deployment(pod: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": pod}},
    })
}

fn names(deps: &[DependentRef]) -> Vec<String> {
    deps.iter()
        .map(|d| format!("{}/{}", d.kind, d.name))
        .collect()
}

#[test]
fn pod_template_references_become_dependencies_once_each() {
    let d = deployment(json!({
        "serviceAccountName": "web-sa",
        "imagePullSecrets": [{"name": "registry"}],
        "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init-cm"}}]}],
        "containers": [{
            "name": "c",
            "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "b"}}},
                {"name": "C", "value": "plain"},
            ],
            "envFrom": [{"secretRef": {"name": "sec"}}],
        }],
        "volumes": [
            {"name": "v1", "configMap": {"name": "cm"}},
            {"name": "v2", "secret": {"secretName": "vol-secret"}},
            {"name": "v3", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-sec"}}]}},
            {"name": "v4", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "v5", "csi": {"driver": "x", "nodePublishSecretRef": {"name": "csi-sec"}}},
            {"name": "v6", "emptyDir": {}},
        ],
    }));
    let deps = dependencies(&d);
    assert_eq!(
        names(&deps),
        [
            "ConfigMap/cm",
            "ConfigMap/init-cm",
            "ConfigMap/proj-cm",
            "PersistentVolumeClaim/data",
            "Secret/csi-sec",
            "Secret/proj-sec",
            "Secret/registry",
            "Secret/sec",
            "Secret/vol-secret",
            "ServiceAccount/web-sa",
        ]
    );
    assert!(
        deps.iter()
            .all(|d| d.namespace == "shop" && d.api_version == "v1")
    );
}

#[test]
fn the_default_service_account_and_other_kinds_are_not_dependencies() {
    let d = deployment(json!({"serviceAccountName": "default", "containers": [{"name": "c"}]}));
    assert!(dependencies(&d).is_empty());
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}});
    assert!(dependencies(&cm).is_empty());
    // Same shape, unknown group: no interpreter hook.
    let mut other = d.clone();
    other["apiVersion"] = json!("example.com/v1");
    assert!(dependencies(&other).is_empty());
}

#[test]
fn cronjob_and_ingress_dependencies() {
    let cj = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ops"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "job-cm"}}]}],
        }}}}},
    });
    assert_eq!(names(&dependencies(&cj)), ["ConfigMap/job-cm"]);
    let ing = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"tls": [{"secretName": "tls-a"}, {"hosts": ["x"]}]},
    });
    assert_eq!(names(&dependencies(&ing)), ["Secret/tls-a"]);
}

#[test]
fn reference_keys_are_go_compatible_and_label_safe() {
    // fnv32a("default/nginx-deployment") printed in decimal, then SafeEncodeString'd.
    let h = fnv32a(b"default/nginx-deployment").to_string();
    let key = binding_reference_key("default", "nginx-deployment");
    assert_eq!(key.len(), h.len());
    assert!(
        key.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
    );
    assert_ne!(key, binding_reference_key("default", "other-deployment"));
    let (k, v) = depended_by_label("default", "nginx-deployment");
    assert_eq!(k, format!("{DEPENDED_BY_LABEL_PREFIX}{key}"));
    assert_eq!(v, "default_nginx-deployment");
    // '0'..'9' are bytes 48..57: 48 % 27 = 21 -> '4'.
    assert_eq!(safe_encode("0"), "4");
}

fn binding(name: &str, clusters: &[&str]) -> ResourceBinding {
    ResourceBinding::from_value(&json!({
        "apiVersion": "work.karmada.io/v1alpha2", "kind": "ResourceBinding",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": name},
            "clusters": clusters.iter().map(|c| json!({"name": c})).collect::<Vec<_>>(),
        },
    }))
    .unwrap()
}

#[test]
fn attached_binding_names_owner_snapshot_and_label() {
    let b = binding("web-deployment", &["m1", "m2"]);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "shop", "uid": "u-1", "resourceVersion": "7"}});
    let a = attached_binding(&b, &cm);
    assert_eq!(a["metadata"]["name"], "cm-configmap");
    assert_eq!(a["metadata"]["ownerReferences"][0]["uid"], "u-1");
    assert_eq!(a["spec"]["resource"]["resourceVersion"], "7");
    assert_eq!(a["spec"]["requiredBy"][0]["name"], "web-deployment");
    assert_eq!(a["spec"]["requiredBy"][0]["clusters"][1]["name"], "m2");
    let (k, v) = depended_by_label("shop", "web-deployment");
    assert_eq!(a["metadata"]["labels"][&k], json!(v));
    assert!(a["spec"].get("placement").is_none());
}

#[test]
fn snapshots_merge_remove_and_targets_union() {
    let one = snapshot(&binding("a", &["m1"]));
    let two = snapshot(&binding("b", &["m2", "m3"]));
    let list = with_snapshot(&with_snapshot(&[], one), two.clone());
    assert_eq!(list.len(), 2);
    // The same binding again replaces its clusters.
    let moved = snapshot(&binding("a", &["m3"]));
    let list = with_snapshot(&list, moved);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].clusters.as_ref().unwrap()[0].name, "m3");

    let mut attached = binding("cm-configmap", &["m1"]);
    attached.spec_mut().required_by = Some(list.clone());
    let targets: Vec<String> = target_clusters(&attached)
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(targets, ["m1", "m3", "m2"]);

    let left = without_snapshot(&list, "shop", "a");
    assert_eq!(left, vec![two]);
    assert!(without_snapshot(&left, "shop", "b").is_empty());
}

#[test]
fn recorded_dependencies_round_trip() {
    let deps = vec![DependentRef::v1("ConfigMap", "shop", "cm")];
    let b = json!({"metadata": {"annotations": {DEPENDENCIES_ANNOTATION: dependencies_annotation(&deps)}}});
    assert_eq!(recorded_dependencies(&b), deps);
    assert!(recorded_dependencies(&json!({})).is_empty());
}
