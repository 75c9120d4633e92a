use serde_json::{Value, json};

use super::validate_kind;
use crate::error::Cause;

fn check(group: &str, kind: &str, old: Option<&Value>, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    validate_kind(group, kind, old, obj, &mut causes);
    causes
}

fn lines(causes: &[Cause]) -> Vec<String> {
    causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn deployment(labels: Value) -> Value {
    json!({"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

#[test]
fn other_kinds_are_not_looked_at() {
    let nonsense = json!({"spec": {"ports": [{"port": 99999}]}});
    assert!(check("policy.karmada.io", "PropagationPolicy", None, &nonsense).is_empty());
    assert!(check("example.com", "Service", None, &nonsense).is_empty());
}

#[test]
fn service_ports_are_numbers_in_range_and_named_when_several() {
    let svc = json!({"spec": {"ports": [{"port": 99999}, {"port": 80, "targetPort": "Bad_Name"}]}});
    assert_eq!(
        lines(&check("", "Service", None, &svc)),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive",
            "spec.ports[1].name: Required value",
            "spec.ports[1].targetPort: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        ]
    );
    let svc = json!({"spec": {"type": "Weird", "ports": [{"port": 80}]}});
    assert_eq!(
        lines(&check("", "Service", None, &svc)),
        [
            "spec.type: Unsupported value: \"Weird\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        ]
    );
}

#[test]
fn service_cluster_ip_may_not_change() {
    let old = json!({"spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}});
    let new = json!({"spec": {"clusterIP": "10.96.0.11", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80}]}});
    assert_eq!(
        lines(&check("", "Service", Some(&old), &new)),
        ["spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"]
    );
    assert!(check("", "Service", Some(&old), &old).is_empty());
}

#[test]
fn cron_schedules_fail_with_robfig_cron_messages() {
    let cj = |s: &str| {
        json!({"metadata": {"name": "c"}, "spec": {"schedule": s, "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    };
    for (schedule, message) in [
        ("bad", "expected exactly 5 fields, found 1: [bad]"),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        (
            "* * * * mon-x",
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        (
            "*/0 * * * *",
            "step of range should be a positive number: */0",
        ),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        (
            "5-1 * * * *",
            "beginning of range (5) beyond end of range (1): 5-1",
        ),
    ] {
        assert_eq!(
            lines(&check("batch", "CronJob", None, &cj(schedule))),
            [format!(
                "spec.schedule: Invalid value: \"{schedule}\": {message}"
            )],
            "{schedule}"
        );
    }
    for ok in [
        "*/5 * * * *",
        "0 3 * * MON-FRI",
        "@hourly",
        "@every 1h30m",
        "0 0 1,15 jan,jul ?",
    ] {
        assert!(check("batch", "CronJob", None, &cj(ok)).is_empty(), "{ok}");
    }
    assert_eq!(
        lines(&check(
            "batch",
            "CronJob",
            None,
            &cj("CRON_TZ=UTC 0 * * * *")
        )),
        [
            "spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        ]
    );
    let mut always = cj("@daily");
    always["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    assert_eq!(
        lines(&check("batch", "CronJob", None, &always)),
        [
            "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ]
    );
}

#[test]
fn config_maps_and_secrets_are_limited_to_one_mebibyte_with_valid_keys() {
    let big = "x".repeat(1024 * 1024 + 1);
    let cm = json!({"data": {"a": big, "bad key": "v"}});
    assert_eq!(
        lines(&check("", "ConfigMap", None, &cm)),
        [
            "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            "[]: Too long: must have at most 1048576 bytes",
        ]
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 1024 * 1024 + 1]);
    let s = json!({"type": "Opaque", "data": {"k": b64}});
    assert_eq!(
        lines(&check("", "Secret", None, &s)),
        ["data: Too long: must have at most 1048576 bytes"]
    );
    let tls = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}});
    assert_eq!(
        lines(&check("", "Secret", None, &tls)),
        ["data[tls.key]: Required value"]
    );
}

#[test]
fn immutable_config_maps_keep_their_data() {
    let old = json!({"immutable": true, "data": {"a": "1"}});
    let new = json!({"immutable": true, "data": {"a": "2"}});
    assert_eq!(
        lines(&check("", "ConfigMap", Some(&old), &new)),
        ["data: Forbidden: field is immutable when `immutable` is set"]
    );
    let mut labelled = old.clone();
    labelled["metadata"] = json!({"labels": {"x": "y"}});
    assert!(check("", "ConfigMap", Some(&old), &labelled).is_empty());
}

#[test]
fn deployment_selector_must_match_and_stays() {
    let d = deployment(json!({"app": "b"}));
    assert_eq!(
        lines(&check("apps", "Deployment", None, &d)),
        [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"
        ]
    );
    let old = deployment(json!({"app": "a"}));
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "a", "tier": "x"}});
    new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
    assert_eq!(
        lines(&check("apps", "Deployment", Some(&old), &new)),
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"a\", \"tier\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ]
    );
    let mut neg = old.clone();
    neg["spec"]["replicas"] = json!(-1);
    assert_eq!(
        lines(&check("apps", "Deployment", None, &neg)),
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    );
}

#[test]
fn pod_containers_are_unique_with_images_and_ports_in_range() {
    let p = json!({"spec": {"containers": [
        {"name": "c", "image": "x", "ports": [{"containerPort": 70000}], "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
        {"name": "c"}]}});
    assert_eq!(
        lines(&check("", "Pod", None, &p)),
        [
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
            "spec.containers[1].name: Duplicate value: \"c\"",
            "spec.containers[1].image: Required value",
        ]
    );
}

#[test]
fn hpa_pdb_and_ingress_ranges() {
    let hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "minReplicas": 3, "maxReplicas": 2}});
    assert_eq!(
        lines(&check("autoscaling", "HorizontalPodAutoscaler", None, &hpa)),
        ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
    );
    let pdb = json!({"spec": {"minAvailable": "120%"}});
    assert_eq!(
        lines(&check("policy", "PodDisruptionBudget", None, &pdb)),
        ["spec.minAvailable: Invalid value: \"120%\": must not be greater than 100%"]
    );
    let ing = json!({"spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
        {"path": "x", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 0}}}}]}}]}});
    assert_eq!(
        lines(&check("networking.k8s.io", "Ingress", None, &ing)),
        [
            "spec.rules[0].http.paths[0].path: Invalid value: \"x\": must be an absolute path",
            "spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required",
        ]
    );
}
