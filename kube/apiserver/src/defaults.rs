//! Defaulting and validation of the built-in kinds that matter to users of a member cluster and
//! of the federation (what kube-apiserver's registry strategies do on create and update),
//! kept to the fields clients read back.

use serde_json::{Value, json};

fn set_default(obj: &mut Value, pointer: &str, value: Value) {
    if obj.pointer(pointer).is_some() {
        return;
    }
    let mut parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = obj;
    for p in parts {
        if !cur.is_object() {
            return;
        }
        cur = match cur
            .as_object_mut()
            .map(|m| m.entry(p).or_insert_with(|| json!({})))
        {
            Some(v) => v,
            None => return,
        };
    }
    if let Some(m) = cur.as_object_mut() {
        m.insert(last, value);
    }
}

/// `SetDefaults_PodSpec`, `SetDefaults_Container`, probes, ports and volumes
/// (`pkg/apis/core/v1/defaults.go`).
fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "/restartPolicy", json!("Always"));
    set_default(spec, "/dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "/schedulerName", json!("default-scheduler"));
    set_default(spec, "/terminationGracePeriodSeconds", json!(30));
    set_default(spec, "/securityContext", json!({}));
    set_default(spec, "/enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                default_container(c);
            }
        }
    }
    if let Some(vs) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vs {
            for source in ["secret", "configMap", "projected", "downwardAPI"] {
                if v.get(source).is_some_and(Value::is_object) {
                    set_default(v, &format!("/{source}/defaultMode"), json!(420));
                }
            }
        }
    }
}

fn default_container(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    set_default(c, "/imagePullPolicy", json!(image_pull_policy(image)));
    set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "/terminationMessagePolicy", json!("File"));
    set_default(c, "/resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "/protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) else {
            continue;
        };
        set_default(p, "/timeoutSeconds", json!(1));
        set_default(p, "/periodSeconds", json!(10));
        set_default(p, "/successThreshold", json!(1));
        set_default(p, "/failureThreshold", json!(3));
        if p.get("httpGet").is_some_and(Value::is_object) {
            set_default(p, "/httpGet/path", json!("/"));
            set_default(p, "/httpGet/scheme", json!("HTTP"));
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env {
            if e.pointer("/valueFrom/fieldRef")
                .is_some_and(Value::is_object)
            {
                set_default(e, "/valueFrom/fieldRef/apiVersion", json!("v1"));
            }
        }
    }
}

/// `Always` for an image without a tag or tagged `latest`, else `IfNotPresent`; a digest pins
/// the image (`SetDefaults_Container` with `parsers.ParseImageName`).
fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // The tag follows the last ':' after the last '/' (a registry's port is not a tag).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// The template's pod spec, if any.
fn template_spec(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
}

/// Apply kube-apiserver's defaults for `group`/`kind` (idempotent).
pub fn apply_defaults(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("apps", "Deployment") => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(obj, "/spec/progressDeadlineSeconds", json!(600));
            set_default(
                obj,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
                set_default(obj, "/spec/strategy/rollingUpdate/maxSurge", json!("25%"));
                set_default(
                    obj,
                    "/spec/strategy/rollingUpdate/maxUnavailable",
                    json!("25%"),
                );
            }
            template_spec(obj);
            set_default(obj, "/status", json!({}));
        }
        ("apps", "StatefulSet") => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(
                obj,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                obj,
                "/spec/persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            template_spec(obj);
            set_default(
                obj,
                "/status",
                json!({"replicas": 0, "availableReplicas": 0}),
            );
        }
        ("apps", "DaemonSet") | ("apps", "ReplicaSet") => {
            if kind == "ReplicaSet" {
                set_default(obj, "/spec/replicas", json!(1));
            } else {
                set_default(obj, "/spec/revisionHistoryLimit", json!(10));
                set_default(
                    obj,
                    "/spec/updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
                );
            }
            template_spec(obj);
            set_default(obj, "/status", json!({}));
        }
        ("", "ReplicationController") => {
            // `SetDefaults_ReplicationController`: selector and labels from the template's.
            set_default(obj, "/spec/replicas", json!(1));
            if let Some(labels) = obj.pointer("/spec/template/metadata/labels").cloned() {
                set_default(obj, "/spec/selector", labels.clone());
                set_default(obj, "/metadata/labels", labels);
            }
            template_spec(obj);
        }
        ("", "PodTemplate") => {
            if let Some(spec) = obj.pointer_mut("/template/spec") {
                default_pod_spec(spec);
            }
        }
        ("batch", "Job") => {
            set_default(obj, "/spec/completions", json!(1));
            set_default(obj, "/spec/parallelism", json!(1));
            set_default(obj, "/spec/backoffLimit", json!(6));
            set_default(obj, "/spec/completionMode", json!("NonIndexed"));
            set_default(obj, "/spec/suspend", json!(false));
            // JobPodReplacementPolicy is on by default in 1.32 (`SetDefaults_Job`).
            let replacement = if obj.pointer("/spec/podFailurePolicy").is_some() {
                "Failed"
            } else {
                "TerminatingOrFailed"
            };
            set_default(obj, "/spec/podReplacementPolicy", json!(replacement));
            generate_job_selector(obj);
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                set_default(spec, "/restartPolicy", json!("Never"));
                default_pod_spec(spec);
            }
            set_default(obj, "/status", json!({}));
        }
        ("batch", "CronJob") => {
            set_default(obj, "/spec/concurrencyPolicy", json!("Allow"));
            set_default(obj, "/spec/suspend", json!(false));
            set_default(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            set_default(obj, "/spec/failedJobsHistoryLimit", json!(1));
            if let Some(spec) = obj.pointer_mut("/spec/jobTemplate/spec/template/spec") {
                default_pod_spec(spec);
            }
            set_default(obj, "/status", json!({}));
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            set_default(obj, "/spec/minReplicas", json!(1));
        }
        ("networking.k8s.io", "Ingress") => {
            set_default(obj, "/status", json!({"loadBalancer": {}}));
        }
        // `SetDefaults_NetworkPolicy`: Ingress always, Egress when egress rules are given.
        ("networking.k8s.io", "NetworkPolicy") if obj.pointer("/spec/policyTypes").is_none() => {
            let mut types = vec![json!("Ingress")];
            if obj.pointer("/spec/egress").is_some() {
                types.push(json!("Egress"));
            }
            set_default(obj, "/spec/policyTypes", Value::Array(types));
        }
        ("policy", "PodDisruptionBudget") => {
            set_default(
                obj,
                "/status",
                json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}),
            );
        }
        ("", "PersistentVolumeClaim") => {
            set_default(obj, "/spec/volumeMode", json!("Filesystem"));
            set_default(obj, "/status/phase", json!("Pending"));
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
            set_default(obj, "/status/phase", json!("Pending"));
        }
        ("", "Service") => {
            set_default(obj, "/spec/type", json!("ClusterIP"));
            set_default(obj, "/spec/sessionAffinity", json!("None"));
            // `SetDefaults_Service`.
            let ty = obj
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP")
                .to_string();
            if ty != "ExternalName" {
                set_default(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                set_default(obj, "/spec/externalTrafficPolicy", json!("Cluster"));
            }
            if ty == "LoadBalancer" {
                set_default(obj, "/spec/allocateLoadBalancerNodePorts", json!(true));
            }
            set_default(obj, "/status", json!({"loadBalancer": {}}));
            if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "/protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "/targetPort", port);
                    }
                }
            }
        }
        ("", "Namespace") => {
            set_default(obj, "/spec/finalizers", json!(["kubernetes"]));
            set_default(obj, "/status/phase", json!("Active"));
            if let Some(name) = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
            {
                set_default(
                    obj,
                    "/metadata/labels/kubernetes.io~1metadata.name",
                    json!(name),
                );
            }
        }
        ("", "Secret") => {
            set_default(obj, "/type", json!("Opaque"));
            // stringData is write-only: merged into data (base64) as kube-apiserver does.
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                use base64::Engine as _;
                let data = obj
                    .as_object_mut()
                    .map(|m| m.entry("data").or_insert_with(|| json!({})));
                if let Some(Value::Object(d)) = data {
                    for (k, v) in sd {
                        let text = v
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string());
                        d.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(text)),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

/// What the Job strategy does on create unless `spec.manualSelector` is true: label the pod
/// template with the job's name and uid and select on `batch.kubernetes.io/controller-uid`.
fn generate_job_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true)
        || obj.pointer("/spec/selector").is_some()
    {
        return;
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(String::from);
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(String::from);
    let (Some(name), Some(uid)) = (name, uid) else {
        return;
    };
    for (key, value) in [
        ("job-name", &name),
        ("batch.kubernetes.io~1job-name", &name),
        ("controller-uid", &uid),
        ("batch.kubernetes.io~1controller-uid", &uid),
    ] {
        set_default(
            obj,
            &format!("/spec/template/metadata/labels/{key}"),
            json!(value),
        );
    }
    set_default(
        obj,
        "/spec/selector",
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_and_selector_mismatch() {
        let mut d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}});
        apply_defaults("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
        let mut causes = vec![];
        crate::validation::validate_kind("apps", "Deployment", None, &d, &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
        assert_eq!(
            causes[0].message,
            "Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn job_selector_is_generated_from_the_uid() {
        let mut j = json!({"metadata": {"name": "x", "uid": "u1"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        apply_defaults("batch", "Job", &mut j);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}})
        );
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"],
            "x"
        );
        let mut causes = vec![];
        crate::validation::validate_kind("batch", "Job", None, &j, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn missing_image_is_named() {
        let p = json!({"spec": {"containers": [{"name": "c"}]}});
        let mut causes = vec![];
        crate::validation::validate_kind("", "Pod", None, &p, &mut causes);
        assert_eq!(causes[0].field, "spec.containers[0].image");
    }

    #[test]
    fn upstream_defaults_for_what_users_write() {
        assert_eq!(image_pull_policy("nginx"), "Always");
        assert_eq!(image_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(
            image_pull_policy("localhost:5000/nginx:1.27"),
            "IfNotPresent"
        );
        assert_eq!(image_pull_policy("nginx:latest"), "Always");
        assert_eq!(image_pull_policy("nginx@sha256:abc"), "IfNotPresent");
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        apply_defaults("", "Service", &mut svc);
        assert_eq!(
            svc["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(svc["spec"]["internalTrafficPolicy"], "Cluster");
        assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
        let mut cj = json!({"spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "busybox:1", "livenessProbe": {"httpGet": {"port": 8080}}}]}}}}}});
        apply_defaults("batch", "CronJob", &mut cj);
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["status"], json!({}));
        let probe = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["livenessProbe"];
        assert_eq!(
            *probe,
            json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        let mut job = json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": {"spec": {"containers": []}}}});
        apply_defaults("batch", "Job", &mut job);
        assert_eq!(job["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
    }
}
