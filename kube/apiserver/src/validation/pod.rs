//! Pod specs, on their own and as templates (`ValidatePodSpec`, `validateContainers`,
//! `validateContainerPorts` in `pkg/apis/core/validation/validation.go`).

use serde_json::{Value, json};

use super::{duplicate, not_found, one_of, port_name_errors, port_num, port_num_or_name};
use crate::error::Cause;

/// A Pod: its spec with every restart policy allowed; on update the containers' names and
/// images are the only part of the spec that may change (`ValidatePodUpdate`).
pub(super) fn pod(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    spec(
        obj.get("spec"),
        "spec",
        &["Always", "OnFailure", "Never"],
        causes,
    );
    if let Some(old) = old
        && let (Some(a), Some(b)) = (old.get("spec"), obj.get("spec"))
        && strip_mutable(a) != strip_mutable(b)
    {
        causes.push(super::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

/// The spec without what an update may change (images, deadline, tolerations, grace period,
/// and what the scheduler and admission set: nodeName, scheduling gates).
fn strip_mutable(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(m) = s.as_object_mut() {
        for k in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
            "nodeName",
            "schedulingGates",
        ] {
            m.remove(k);
        }
        for list in ["containers", "initContainers"] {
            if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("image");
                    }
                }
            }
        }
    }
    s
}

/// Validate a pod spec at `path`, allowing the restart policies `restart`.
pub(super) fn spec(spec: Option<&Value>, path: &str, restart: &[&str], causes: &mut Vec<Cause>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        causes.push(Cause::required(format!("{path}.containers")));
        return;
    };
    let volumes = volumes(spec, path, causes);
    let mut names: Vec<&str> = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        Some(cs) if !cs.is_empty() => {}
        _ => causes.push(Cause::required(format!("{path}.containers"))),
    }
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            container(
                c,
                &format!("{path}.{list}[{i}]"),
                &volumes,
                &mut names,
                causes,
            );
        }
    }
    one_of(
        spec,
        "/restartPolicy",
        &format!("{path}.restartPolicy"),
        restart,
        causes,
    );
    one_of(
        spec,
        "/dnsPolicy",
        &format!("{path}.dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        causes,
    );
    super::nonnegative(
        spec,
        "/terminationGracePeriodSeconds",
        &format!("{path}.terminationGracePeriodSeconds"),
        causes,
    );
    if let Some(v) = spec.get("activeDeadlineSeconds").filter(|v| !v.is_null())
        && v.as_i64().is_none_or(|n| n <= 0)
    {
        causes.push(Cause::invalid(
            format!("{path}.activeDeadlineSeconds"),
            v,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
}

/// Volume names (required, DNS labels, unique); returns them for the mounts to refer to.
fn volumes<'a>(spec: &'a Value, path: &str, causes: &mut Vec<Cause>) -> Vec<&'a str> {
    let mut out = Vec::new();
    let Some(vs) = spec.get("volumes").and_then(Value::as_array) else {
        return out;
    };
    for (i, v) in vs.iter().enumerate() {
        let field = format!("{path}.volumes[{i}].name");
        match v.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(Cause::required(field)),
            Some(n) => {
                if let Some(c) = crate::meta::validate_name(&field, n, true) {
                    causes.push(c);
                }
                if out.contains(&n) {
                    causes.push(duplicate(field, &json!(n)));
                }
                out.push(n);
            }
        }
    }
    out
}

fn container<'a>(
    c: &'a Value,
    at: &str,
    volumes: &[&str],
    names: &mut Vec<&'a str>,
    causes: &mut Vec<Cause>,
) {
    match c.get("name").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required(format!("{at}.name"))),
        Some(n) => {
            if let Some(cause) = crate::meta::validate_name(&format!("{at}.name"), n, true) {
                causes.push(cause);
            }
            if names.contains(&n) {
                causes.push(duplicate(format!("{at}.name"), &json!(n)));
            }
            names.push(n);
        }
    }
    if c.get("image")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.push(Cause::required(format!("{at}.image")));
    }
    one_of(
        c,
        "/imagePullPolicy",
        &format!("{at}.imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
        causes,
    );
    one_of(
        c,
        "/terminationMessagePolicy",
        &format!("{at}.terminationMessagePolicy"),
        &["File", "FallbackToLogsOnError"],
        causes,
    );
    let mut port_names: Vec<&str> = Vec::new();
    if let Some(ports) = c.get("ports").and_then(Value::as_array) {
        for (j, p) in ports.iter().enumerate() {
            let pat = format!("{at}.ports[{j}]");
            if let Some(name) = p
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                for msg in port_name_errors(name) {
                    causes.push(Cause::invalid(format!("{pat}.name"), &json!(name), msg));
                }
                if port_names.contains(&name) {
                    causes.push(duplicate(format!("{pat}.name"), &json!(name)));
                }
                port_names.push(name);
            }
            match p.get("containerPort") {
                None | Some(Value::Null) => {
                    causes.push(Cause::required(format!("{pat}.containerPort")))
                }
                Some(v) => port_num(format!("{pat}.containerPort"), v, causes),
            }
            if let Some(hp) = p
                .get("hostPort")
                .filter(|v| v.as_i64() != Some(0) && !v.is_null())
            {
                port_num(format!("{pat}.hostPort"), hp, causes);
            }
            one_of(
                p,
                "/protocol",
                &format!("{pat}.protocol"),
                &["SCTP", "TCP", "UDP"],
                causes,
            );
        }
    }
    if let Some(mounts) = c.get("volumeMounts").and_then(Value::as_array) {
        for (j, m) in mounts.iter().enumerate() {
            let mat = format!("{at}.volumeMounts[{j}]");
            match m.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(Cause::required(format!("{mat}.name"))),
                Some(n) if !volumes.contains(&n) => {
                    causes.push(not_found(format!("{mat}.name"), &json!(n)))
                }
                Some(_) => {}
            }
            if m.get("mountPath")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::required(format!("{mat}.mountPath")));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        for handler in ["httpGet", "tcpSocket"] {
            if let Some(port) = c
                .get(probe)
                .and_then(|p| p.get(handler))
                .and_then(|h| h.get("port"))
            {
                port_num_or_name(&format!("{at}.{probe}.{handler}.port"), port, causes);
            }
        }
    }
}
