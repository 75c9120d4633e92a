//! Defaulting and validation of the built-in kinds that matter to users of a member cluster and
//! of the federation (what kube-apiserver's registry strategies do on create and update),
//! kept to the fields clients read back.

use serde_json::{Value, json};

use crate::error::Cause;

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

fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "/restartPolicy", json!("Always"));
    set_default(spec, "/dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "/schedulerName", json!("default-scheduler"));
    set_default(spec, "/terminationGracePeriodSeconds", json!(30));
    set_default(spec, "/securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                let tag_latest = !image.contains(':') || image.ends_with(":latest");
                let policy = if tag_latest && !image.contains('@') {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(c, "/imagePullPolicy", json!(policy));
                set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "/terminationMessagePolicy", json!("File"));
                set_default(c, "/resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        set_default(p, "/protocol", json!("TCP"));
                    }
                }
            }
        }
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
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
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
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
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
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
        }
        ("batch", "Job") => {
            set_default(obj, "/spec/completions", json!(1));
            set_default(obj, "/spec/parallelism", json!(1));
            set_default(obj, "/spec/backoffLimit", json!(6));
            set_default(obj, "/spec/completionMode", json!("NonIndexed"));
            set_default(obj, "/spec/suspend", json!(false));
            generate_job_selector(obj);
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                set_default(spec, "/restartPolicy", json!("Never"));
                default_pod_spec(spec);
            }
        }
        ("batch", "CronJob") => {
            set_default(obj, "/spec/concurrencyPolicy", json!("Allow"));
            set_default(obj, "/spec/suspend", json!(false));
            set_default(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            set_default(obj, "/spec/failedJobsHistoryLimit", json!(1));
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

/// Validate `obj` of `group`/`kind`, appending field causes.
pub fn validate(group: &str, kind: &str, obj: &Value, causes: &mut Vec<Cause>) {
    let pod_spec_at = match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            validate_selector(obj, causes);
            Some("spec.template.spec")
        }
        ("", "Pod") => Some("spec"),
        _ => None,
    };
    if let Some(path) = pod_spec_at {
        let pointer = format!("/{}", path.replace('.', "/"));
        validate_pod_spec(obj.pointer(&pointer), path, causes);
    }
    if let Some(r) = obj.pointer("/spec/replicas")
        && r.as_i64().is_none_or(|n| n < 0)
        && !r.is_null()
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            r,
            "must be greater than or equal to 0",
        ));
    }
    if (group, kind) == ("", "Service")
        && let Some(t) = obj.pointer("/spec/type").and_then(Value::as_str)
    {
        let ok = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
        if !ok.contains(&t) {
            causes.push(Cause::not_supported("spec.type", &json!(t), &ok));
        }
    }
}

fn validate_selector(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(sel) = obj.pointer("/spec/selector") else {
        causes.push(Cause::required("spec.selector"));
        return;
    };
    let Ok(selector) = crate::selector::LabelSelector::from_object(sel) else {
        causes.push(Cause::invalid(
            "spec.selector",
            sel,
            "invalid label selector",
        ));
        return;
    };
    if selector.is_empty() {
        causes.push(Cause::invalid(
            "spec.selector",
            sel,
            "empty selector is invalid for deployment",
        ));
        return;
    }
    let labels = obj.pointer("/spec/template/metadata/labels");
    if !selector.matches_labels(labels) {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                go_string_map(labels)
            ),
            field: "spec.template.metadata.labels".into(),
        });
    }
}

/// A label map as Go's `%#v` prints a `map[string]string` (sorted keys), which is how
/// kube-apiserver shows the bad value: `map[string]string{"app":"a", "tier":"b"}`.
fn go_string_map(labels: Option<&Value>) -> String {
    let Some(map) = labels.and_then(Value::as_object) else {
        return "map[string]string(nil)".into();
    };
    let mut pairs: Vec<(&String, String)> = map
        .iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    pairs.sort();
    let cells: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), Value::from(v.as_str())))
        .collect();
    format!("map[string]string{{{}}}", cells.join(", "))
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

fn validate_pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(Cause::required(format!("{path}.containers")));
        return;
    };
    let mut seen = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        match c.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(Cause::required(format!("{at}.name"))),
            Some(n) => {
                if let Some(cause) = crate::meta::validate_name(&format!("{at}.name"), n, true) {
                    causes.push(cause);
                }
                if seen.contains(&n) {
                    causes.push(Cause {
                        reason: "FieldValueDuplicate".into(),
                        message: format!("Duplicate value: \"{n}\""),
                        field: format!("{at}.name"),
                    });
                }
                seen.push(n);
            }
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required(format!("{at}.image")));
        }
        if let Some(ports) = c.get("ports").and_then(Value::as_array) {
            for (j, p) in ports.iter().enumerate() {
                let cp = p.get("containerPort");
                if !cp
                    .and_then(Value::as_i64)
                    .is_some_and(|n| (1..=65535).contains(&n))
                {
                    causes.push(Cause::invalid(
                        format!("{at}.ports[{j}].containerPort"),
                        cp.unwrap_or(&Value::Null),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
    }
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
        validate("apps", "Deployment", &d, &mut causes);
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
        validate("batch", "Job", &j, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn missing_image_is_named() {
        let p = json!({"spec": {"containers": [{"name": "c"}]}});
        let mut causes = vec![];
        validate("", "Pod", &p, &mut causes);
        assert_eq!(causes[0].field, "spec.containers[0].image");
    }
}
