//! Ingress and NetworkPolicy (`pkg/apis/networking/validation/validation.go`),
//! HorizontalPodAutoscaler (`pkg/apis/autoscaling/validation/validation.go`) and
//! PodDisruptionBudget (`pkg/apis/policy/validation/validation.go`).

use serde_json::{Value, json};

use super::{one_of, port_num, port_num_or_name};
use crate::error::Cause;

pub(super) fn ingress(obj: &Value, causes: &mut Vec<Cause>) {
    if let Some(b) = obj.pointer("/spec/defaultBackend") {
        backend(b, "spec.defaultBackend", causes);
    }
    let rules = obj.pointer("/spec/rules").and_then(Value::as_array);
    for (i, r) in rules.into_iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        if let Some(host) = r
            .get("host")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
        {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if let Some(c) = crate::meta::validate_name(&format!("{at}.host"), bare, false) {
                let mut c = c;
                c.message = c
                    .message
                    .replace(&format!("\"{bare}\""), &format!("\"{host}\""));
                causes.push(c);
            }
        }
        let paths = r.pointer("/http/paths").and_then(Value::as_array);
        for (j, p) in paths.into_iter().flatten().enumerate() {
            let pat = format!("{at}.http.paths[{j}]");
            let ty = p.get("pathType").and_then(Value::as_str);
            match ty {
                None => causes.push(Cause::required(format!("{pat}.pathType"))),
                Some(_) => one_of(
                    p,
                    "/pathType",
                    &format!("{pat}.pathType"),
                    &["Exact", "ImplementationSpecific", "Prefix"],
                    causes,
                ),
            }
            let path = p.get("path").and_then(Value::as_str).unwrap_or_default();
            if matches!(ty, Some("Exact" | "Prefix")) && !path.starts_with('/') {
                causes.push(Cause::invalid(
                    format!("{pat}.path"),
                    &json!(path),
                    "must be an absolute path",
                ));
            }
            match p.get("backend") {
                Some(b) => backend(b, &format!("{pat}.backend"), causes),
                None => causes.push(Cause::required(format!("{pat}.backend"))),
            }
        }
    }
}

/// `validateIngressBackend`: a service (name and one of port name or number) or a resource.
fn backend(b: &Value, at: &str, causes: &mut Vec<Cause>) {
    let Some(svc) = b.get("service") else {
        if b.get("resource").is_none() {
            causes.push(Cause::invalid(
                at,
                &json!(""),
                "resource or service backend is required",
            ));
        }
        return;
    };
    if svc
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.push(Cause::required(format!("{at}.service.name")));
    }
    let port = svc.get("port");
    let name = port
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let number = port
        .and_then(|p| p.get("number"))
        .filter(|n| !n.is_null() && n.as_i64() != Some(0));
    match (name, number) {
        (Some(n), Some(_)) => causes.push(Cause::invalid(
            format!("{at}.service.port"),
            &json!(n),
            "cannot set both port name & port number",
        )),
        (Some(n), None) => port_num_or_name(&format!("{at}.service.port.name"), &json!(n), causes),
        (None, Some(n)) => port_num(format!("{at}.service.port.number"), n, causes),
        (None, None) => causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: port name or number is required".into(),
            field: format!("{at}.service.port"),
        }),
    }
}

pub(super) fn network_policy(obj: &Value, causes: &mut Vec<Cause>) {
    if let Some(types) = obj.pointer("/spec/policyTypes").and_then(Value::as_array) {
        for (i, t) in types.iter().enumerate() {
            if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
                causes.push(Cause::not_supported(
                    format!("spec.policyTypes[{i}]"),
                    t,
                    &["Egress", "Ingress"],
                ));
            }
        }
    }
    for dir in ["ingress", "egress"] {
        let rules = obj
            .pointer(&format!("/spec/{dir}"))
            .and_then(Value::as_array);
        for (i, r) in rules.into_iter().flatten().enumerate() {
            let ports = r.get("ports").and_then(Value::as_array);
            for (j, p) in ports.into_iter().flatten().enumerate() {
                let at = format!("spec.{dir}[{i}].ports[{j}]");
                one_of(
                    p,
                    "/protocol",
                    &format!("{at}.protocol"),
                    &["SCTP", "TCP", "UDP"],
                    causes,
                );
                if let Some(port) = p.get("port").filter(|v| !v.is_null()) {
                    port_num_or_name(&format!("{at}.port"), port, causes);
                }
                if let Some(end) = p.get("endPort").filter(|v| !v.is_null()) {
                    port_num(format!("{at}.endPort"), end, causes);
                }
            }
        }
    }
}

pub(super) fn hpa(obj: &Value, causes: &mut Vec<Cause>) {
    for k in ["kind", "name"] {
        if obj
            .pointer(&format!("/spec/scaleTargetRef/{k}"))
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required(format!("spec.scaleTargetRef.{k}")));
        }
    }
    let min = obj.pointer("/spec/minReplicas").and_then(Value::as_i64);
    let max = obj
        .pointer("/spec/maxReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(m) = min
        && m < 1
    {
        causes.push(Cause::invalid(
            "spec.minReplicas",
            &json!(m),
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        causes.push(Cause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to 1",
        ));
    } else if min.is_some_and(|m| max < m) {
        causes.push(Cause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let metrics = obj.pointer("/spec/metrics").and_then(Value::as_array);
    for (i, m) in metrics.into_iter().flatten().enumerate() {
        let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
        let src = match ty {
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            "Pods" => "pods",
            "Object" => "object",
            "External" => "external",
            _ => {
                causes.push(Cause::not_supported(
                    format!("spec.metrics[{i}].type"),
                    &json!(ty),
                    &[
                        "ContainerResource",
                        "External",
                        "Object",
                        "Pods",
                        "Resource",
                    ],
                ));
                continue;
            }
        };
        if let Some(u) = m
            .pointer(&format!("/{src}/target/averageUtilization"))
            .filter(|v| !v.is_null())
            && u.as_i64().is_none_or(|n| n <= 0)
        {
            causes.push(Cause::invalid(
                format!("spec.metrics[{i}].{src}.target.averageUtilization"),
                u,
                "must be greater than 0",
            ));
        }
    }
}

pub(super) fn pdb(obj: &Value, causes: &mut Vec<Cause>) {
    let min = obj.pointer("/spec/minAvailable").filter(|v| !v.is_null());
    let max = obj.pointer("/spec/maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        causes.push(super::invalid_shown(
            "spec",
            "policy.PodDisruptionBudgetSpec{...}",
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    if let Some(v) = min {
        super::workloads::int_or_percent("spec.minAvailable", v, causes);
    }
    if let Some(v) = max {
        super::workloads::int_or_percent("spec.maxUnavailable", v, causes);
    }
    one_of(
        obj,
        "/spec/unhealthyPodEvictionPolicy",
        "spec.unhealthyPodEvictionPolicy",
        &["AlwaysAllow", "IfHealthyBudget"],
        causes,
    );
}
