//! Workload controllers' specs: `pkg/apis/apps/validation/validation.go` (Deployment,
//! ReplicaSet, StatefulSet, DaemonSet), `pkg/apis/batch/validation/validation.go` (Job,
//! CronJob) and ReplicationController from `pkg/apis/core/validation/validation.go`.

use serde_json::{Value, json};

use super::{forbidden, immutable, invalid_shown, nonnegative, one_of, pod};
use crate::error::Cause;

const ALWAYS: &[&str] = &["Always"];
const JOB_RESTART: &[&str] = &["OnFailure", "Never"];

pub(super) fn deployment(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    replicas_and_selector(obj, "deployment", causes);
    pod::spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        ALWAYS,
        causes,
    );
    nonnegative(
        obj,
        "/spec/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        causes,
    );
    nonnegative(obj, "/spec/minReadySeconds", "spec.minReadySeconds", causes);
    strategy(obj, causes);
    if let Some(pds) = obj
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
    {
        let min_ready = obj
            .pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if pds <= min_ready {
            causes.push(Cause::invalid(
                "spec.progressDeadlineSeconds",
                &json!(pds),
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(old) = old {
        immutable_selector(old, obj, causes);
    }
}

/// `ValidateDeploymentStrategy` and `ValidateRollingUpdateDeployment`.
fn strategy(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(s) = obj.pointer("/spec/strategy") else {
        return;
    };
    one_of(
        s,
        "/type",
        "spec.strategy.type",
        &["Recreate", "RollingUpdate"],
        causes,
    );
    let ru = s.get("rollingUpdate").filter(|r| !r.is_null());
    match (s.get("type").and_then(Value::as_str), ru) {
        (Some("Recreate"), Some(_)) => causes.push(forbidden(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        (Some("RollingUpdate"), Some(ru)) => {
            let surge = ru.get("maxSurge");
            let unavailable = ru.get("maxUnavailable");
            for (name, v) in [("maxSurge", surge), ("maxUnavailable", unavailable)] {
                if let Some(v) = v {
                    int_or_percent(&format!("spec.strategy.rollingUpdate.{name}"), v, causes);
                }
            }
            if surge.is_some_and(is_zero) && unavailable.is_some_and(is_zero) {
                causes.push(Cause::invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    unavailable.unwrap_or(&Value::Null),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        _ => {}
    }
}

fn is_zero(v: &Value) -> bool {
    v.as_i64() == Some(0) || v.as_str() == Some("0%")
}

/// `ValidatePositiveIntOrPercent` plus `IsNotMoreThan100Percent`.
pub(super) fn int_or_percent(field: &str, v: &Value, causes: &mut Vec<Cause>) {
    match v {
        Value::String(s) => match s.strip_suffix('%').and_then(|n| n.parse::<i64>().ok()) {
            None => causes.push(Cause::invalid(
                field,
                v,
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            )),
            Some(n) if n < 0 => causes.push(Cause::invalid(
                field,
                v,
                "must be greater than or equal to 0",
            )),
            Some(n) if n > 100 => causes.push(Cause::invalid(
                field,
                v,
                "must not be greater than 100%",
            )),
            Some(_) => {}
        },
        _ if v.as_i64().is_some_and(|n| n < 0) => causes.push(Cause::invalid(
            field,
            v,
            "must be greater than or equal to 0",
        )),
        _ => {}
    }
}

pub(super) fn replica_set(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    replicas_and_selector(obj, "replicaset", causes);
    pod::spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        ALWAYS,
        causes,
    );
    nonnegative(obj, "/spec/minReadySeconds", "spec.minReadySeconds", causes);
    if let Some(old) = old {
        immutable_selector(old, obj, causes);
    }
}

pub(super) fn replication_controller(obj: &Value, causes: &mut Vec<Cause>) {
    nonnegative(obj, "/spec/replicas", "spec.replicas", causes);
    if let Some(t) = obj.pointer("/spec/template").filter(|t| !t.is_null()) {
        pod::spec(t.get("spec"), "spec.template.spec", ALWAYS, causes);
    }
}

pub(super) fn stateful_set(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    replicas_and_selector(obj, "statefulset", causes);
    pod::spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        ALWAYS,
        causes,
    );
    one_of(
        obj,
        "/spec/podManagementPolicy",
        "spec.podManagementPolicy",
        &["OrderedReady", "Parallel"],
        causes,
    );
    one_of(
        obj,
        "/spec/updateStrategy/type",
        "spec.updateStrategy.type",
        &["OnDelete", "RollingUpdate"],
        causes,
    );
    // `ValidateStatefulSetUpdate`: only these spec fields may change.
    if let Some(old) = old {
        const MUTABLE: &[&str] = &[
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        let rest = |o: &Value| {
            let mut s = o.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = s.as_object_mut() {
                m.retain(|k, _| !MUTABLE.contains(&k.as_str()));
            }
            s
        };
        if rest(old) != rest(obj) {
            causes.push(forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

pub(super) fn daemon_set(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    selector(obj, "daemonset", causes);
    pod::spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        ALWAYS,
        causes,
    );
    one_of(
        obj,
        "/spec/updateStrategy/type",
        "spec.updateStrategy.type",
        &["OnDelete", "RollingUpdate"],
        causes,
    );
    nonnegative(
        obj,
        "/spec/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        causes,
    );
    if let Some(old) = old {
        immutable_selector(old, obj, causes);
    }
}

pub(super) fn job(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    job_spec(obj.get("spec"), "spec", causes);
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        selector(obj, "job", causes);
    }
    if let Some(old) = old {
        // `ValidateJobSpecUpdate`: the selector, completion mode and (outside the few
        // scheduling directives a suspended job may change) the pod template are fixed.
        immutable(
            "spec.selector",
            old.pointer("/spec/selector"),
            obj.pointer("/spec/selector"),
            causes,
        );
        immutable(
            "spec.completionMode",
            old.pointer("/spec/completionMode"),
            obj.pointer("/spec/completionMode"),
            causes,
        );
        if old.pointer("/spec/template") != obj.pointer("/spec/template") {
            causes.push(invalid_shown(
                "spec.template",
                "core.PodTemplateSpec{...}",
                "field is immutable",
            ));
        }
    }
}

/// A Job's spec at `path` (also a CronJob's `spec.jobTemplate.spec`).
fn job_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        causes.push(Cause::required(format!("{path}.template")));
        return;
    };
    for k in ["parallelism", "completions", "backoffLimit"] {
        nonnegative(spec, &format!("/{k}"), &format!("{path}.{k}"), causes);
    }
    if let Some(v) = spec.get("activeDeadlineSeconds").filter(|v| !v.is_null())
        && v.as_i64().is_none_or(|n| n <= 0)
    {
        causes.push(Cause::invalid(
            format!("{path}.activeDeadlineSeconds"),
            v,
            "must be greater than or equal to 1",
        ));
    }
    one_of(
        spec,
        "/completionMode",
        &format!("{path}.completionMode"),
        &["NonIndexed", "Indexed"],
        causes,
    );
    if spec.get("completionMode").and_then(Value::as_str) == Some("Indexed")
        && spec.get("completions").is_none_or(Value::is_null)
    {
        causes.push(Cause::required(format!("{path}.completions")));
    }
    pod::spec(
        spec.pointer("/template/spec"),
        &format!("{path}.template.spec"),
        JOB_RESTART,
        causes,
    );
}

pub(super) fn cron_job(obj: &Value, causes: &mut Vec<Cause>) {
    // The Job names it makes append an 11-character suffix (`ValidateCronJobCreate`).
    if let Some(name) = crate::meta::name(obj)
        && name.len() > 52
    {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be no more than 52 characters",
        ));
    }
    match obj.pointer("/spec/schedule").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required("spec.schedule")),
        Some(s) => {
            if let Err(e) = super::cron::parse_standard(s) {
                causes.push(Cause::invalid("spec.schedule", &json!(s), &e));
            }
            if s.contains("TZ") {
                causes.push(Cause::invalid(
                    "spec.schedule",
                    &json!(s),
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            }
        }
    }
    if let Some(tz) = obj.pointer("/spec/timeZone").and_then(Value::as_str)
        && (tz.is_empty() || tz.eq_ignore_ascii_case("local"))
    {
        causes.push(Cause::invalid(
            "spec.timeZone",
            &json!(tz),
            "unknown time zone",
        ));
    }
    one_of(
        obj,
        "/spec/concurrencyPolicy",
        "spec.concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
        causes,
    );
    for k in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        nonnegative(obj, &format!("/spec/{k}"), &format!("spec.{k}"), causes);
    }
    job_spec(
        obj.pointer("/spec/jobTemplate/spec"),
        "spec.jobTemplate.spec",
        causes,
    );
}

fn replicas_and_selector(obj: &Value, what: &str, causes: &mut Vec<Cause>) {
    nonnegative(obj, "/spec/replicas", "spec.replicas", causes);
    selector(obj, what, causes);
}

/// `ValidatePodTemplateSpecForReplicaSet` and friends: a non-empty selector that selects the
/// template's labels.
fn selector(obj: &Value, what: &str, causes: &mut Vec<Cause>) {
    let Some(sel) = obj.pointer("/spec/selector").filter(|s| !s.is_null()) else {
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
        causes.push(invalid_shown(
            "spec.selector",
            &go_label_selector(sel),
            &format!("empty selector is invalid for {what}"),
        ));
        return;
    }
    let labels = obj.pointer("/spec/template/metadata/labels");
    if !selector.matches_labels(labels) {
        causes.push(invalid_shown(
            "spec.template.metadata.labels",
            &go_string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
}

/// apps/v1 selectors are immutable, shown as Go prints a `metav1.LabelSelector`.
fn immutable_selector(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let (a, b) = (old.pointer("/spec/selector"), new.pointer("/spec/selector"));
    if a != b {
        let shown = b.map(go_label_selector).unwrap_or_else(|| "null".into());
        causes.push(invalid_shown("spec.selector", &shown, "field is immutable"));
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

/// `%#v` of a `metav1.LabelSelector`:
/// `v1.LabelSelector{MatchLabels:map[string]string{"app":"a"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
fn go_label_selector(sel: &Value) -> String {
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let s = |k: &str| Value::from(e.get(k).and_then(Value::as_str).unwrap_or(""));
                    let values = match e.get("values").and_then(Value::as_array) {
                        None => "[]string(nil)".to_string(),
                        Some(vs) => format!(
                            "[]string{{{}}}",
                            vs.iter()
                                .map(Value::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                        s("key"),
                        s("operator")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{exprs}}}",
        go_string_map(sel.get("matchLabels"))
    )
}
