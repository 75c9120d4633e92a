//! Events (`ValidateEventCreate`, `ValidateEventUpdate` and `legacyValidateEvent` in
//! `pkg/apis/core/validation/events.go`). Objects arrive here in the core/v1 shape they are
//! stored in, whichever group they were written through; the field paths are upstream's, which
//! name the internal (core) fields for both groups. Writes through core/v1 get the legacy checks
//! only; writes through events.k8s.io/v1 get the strict ones too.

use serde_json::Value;

use super::immutable;
use crate::error::Cause;

const REPORTING_INSTANCE_MAX: usize = 128;
const ACTION_MAX: usize = 128;
const REASON_MAX: usize = 128;
const NOTE_MAX: usize = 1024;

fn text<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Set to something other than null, "", 0 or an empty object.
fn set(obj: &Value, key: &str) -> bool {
    match obj.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Object(m)) => m
            .values()
            .any(|v| v.as_str().is_some_and(|s| !s.is_empty())),
        Some(_) => true,
    }
}

fn unset(field: &str) -> Cause {
    Cause::invalid(field, &Value::String(String::new()), "needs to be unset")
}

fn at_most(field: &str, max: usize) -> Cause {
    Cause::invalid(
        field,
        &Value::String(String::new()),
        &format!("can have at most {max} characters"),
    )
}

/// Validate an Event; `strict` for writes through events.k8s.io/v1.
pub(super) fn event(obj: &Value, old: Option<&Value>, strict: bool, causes: &mut Vec<Cause>) {
    legacy(obj, causes);
    if !strict {
        return;
    }
    match old {
        None => {
            series(obj, causes);
            if !set(obj, "eventTime") {
                causes.push(Cause::required("eventTime"));
            }
            let ty = text(obj, "type");
            if ty != "Normal" && ty != "Warning" {
                causes.push(Cause::invalid(
                    "type",
                    &Value::String(String::new()),
                    &format!("has invalid value: {ty}"),
                ));
            }
            for (key, field) in [
                ("firstTimestamp", "firstTimestamp"),
                ("lastTimestamp", "lastTimestamp"),
                ("count", "count"),
                ("source", "source"),
            ] {
                if set(obj, key) {
                    causes.push(unset(field));
                }
            }
        }
        Some(old) => {
            if obj.get("series") != old.get("series") {
                series(obj, causes);
            }
            for (key, field) in [
                ("involvedObject", "involvedObject"),
                ("reason", "reason"),
                ("message", "message"),
                ("source", "source"),
                ("firstTimestamp", "firstTimestamp"),
                ("lastTimestamp", "lastTimestamp"),
                ("count", "count"),
                ("type", "type"),
                ("eventTime", "eventTime"),
                ("action", "action"),
                ("related", "related"),
                ("reportingComponent", "reportingController"),
                ("reportingInstance", "reportingInstance"),
            ] {
                immutable(field, old.get(key), obj.get(key), causes);
            }
        }
    }
}

fn series(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(series) = obj.get("series").filter(|s| !s.is_null()) else {
        return;
    };
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        causes.push(Cause::invalid(
            "series.count",
            &Value::String(String::new()),
            "should be at least 2",
        ));
    }
    if !set(series, "lastObservedTime") {
        causes.push(Cause::required("series.lastObservedTime"));
    }
}

/// `legacyValidateEvent`: the namespace agrees with the regarded object's, and an event with an
/// `eventTime` (a "new" event) names its reporter, action and reason.
fn legacy(obj: &Value, causes: &mut Vec<Cause>) {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let involved_ns = obj
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let shown = Value::String(involved_ns.to_string());
    let mismatch = || {
        Cause::invalid(
            "involvedObject.namespace",
            &shown,
            "does not match event.namespace",
        )
    };
    if !set(obj, "eventTime") {
        let agrees = if involved_ns.is_empty() {
            ns.is_empty() || ns == "default"
        } else {
            ns == involved_ns
        };
        if !agrees {
            causes.push(mismatch());
        }
        return;
    }
    if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
        causes.push(mismatch());
    }
    let required = [
        ("reportingComponent", "reportingController", 0),
        (
            "reportingInstance",
            "reportingInstance",
            REPORTING_INSTANCE_MAX,
        ),
        ("action", "action", ACTION_MAX),
        ("reason", "reason", REASON_MAX),
    ];
    for (key, field, max) in required {
        let value = text(obj, key);
        if value.is_empty() {
            causes.push(Cause::required(field));
        } else if max > 0 && value.len() > max {
            causes.push(at_most(field, max));
        }
    }
    if text(obj, "message").len() > NOTE_MAX {
        causes.push(at_most("message", NOTE_MAX));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(obj: &Value, old: Option<&Value>, strict: bool) -> Vec<String> {
        let mut causes = Vec::new();
        event(obj, old, strict, &mut causes);
        causes.into_iter().map(|c| c.field).collect()
    }

    #[test]
    fn core_events_get_the_legacy_checks_only() {
        let ev = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "a"},
            "count": 3, "source": {"component": "kubelet"}});
        assert!(fields(&ev, None, false).is_empty());
        let other = json!({"metadata": {"namespace": "b"}, "involvedObject": {"namespace": "a"}});
        assert_eq!(fields(&other, None, false), ["involvedObject.namespace"]);
        let node =
            json!({"metadata": {"namespace": "default"}, "involvedObject": {"kind": "Node"}});
        assert!(fields(&node, None, false).is_empty());
    }

    #[test]
    fn events_v1_creates_need_time_reporter_action_and_no_deprecated_fields() {
        let bare = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "a"},
            "count": 1});
        assert_eq!(fields(&bare, None, true), ["eventTime", "type", "count"]);
        let good = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "a"},
            "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Normal", "action": "Pull",
            "reason": "Pulled", "reportingComponent": "x.io/c", "reportingInstance": "i"});
        assert!(fields(&good, None, true).is_empty());
        let mut changed = good.clone();
        changed["reason"] = json!("Other");
        changed["series"] = json!({"count": 1});
        assert_eq!(
            fields(&changed, Some(&good), true),
            ["series.count", "series.lastObservedTime", "reason"]
        );
    }
}
