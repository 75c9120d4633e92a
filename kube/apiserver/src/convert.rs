//! Conversion between a served version and the storage version where their fields differ:
//! `autoscaling/v1` HorizontalPodAutoscalers are stored as `v2`, their
//! `targetCPUUtilizationPercentage` and `currentCPUUtilizationPercentage` becoming a CPU
//! utilization metric (`pkg/apis/autoscaling/v1/conversion.go`); events.k8s.io/v1 Events are
//! stored as core/v1 Events, their `regarding`, `note`, `reportingController` and `deprecated*`
//! fields becoming `involvedObject`, `message`, `reportingComponent` and the unprefixed ones
//! (`pkg/apis/events/v1/conversion.go`). Other kinds served in several versions share one schema
//! and are only relabelled.

use serde_json::{Value, json};

use crate::resource::ResourceInfo;

fn is_hpa_v1(res: &ResourceInfo) -> bool {
    res.version == "v1" && res.group == "autoscaling" && res.kind == "HorizontalPodAutoscaler"
}

fn is_events_v1(res: &ResourceInfo) -> bool {
    res.group == "events.k8s.io" && res.kind == "Event"
}

/// events.k8s.io/v1 field names beside the core/v1 names they are stored under.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Move the fields named in the first column of `EVENT_FIELDS` (or the second, `back`) to the
/// other name; what is already under a target name stays unless the source has a value.
fn rename_event_fields(obj: &mut Value, back: bool) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    for (v1, core) in EVENT_FIELDS {
        let (from, to) = if back { (core, v1) } else { (v1, core) };
        if let Some(value) = map.remove(*from) {
            map.insert((*to).to_string(), value);
        }
    }
}

/// Bring an object written in `res`'s served version to the storage version (idempotent).
pub(crate) fn to_storage(res: &ResourceInfo, obj: &mut Value) {
    if is_events_v1(res) {
        rename_event_fields(obj, false);
        return;
    }
    if res.version == res.storage_version || !is_hpa_v1(res) {
        return;
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(target) = spec.remove("targetCPUUtilizationPercentage")
        && !target.is_null()
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target}}}]),
        );
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut)
        && let Some(current) = status.remove("currentCPUUtilizationPercentage")
        && !current.is_null()
    {
        status.insert(
            "currentMetrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": current}}}]),
        );
    }
}

/// Show a stored object in `res`'s served version.
pub(crate) fn to_served(res: &ResourceInfo, obj: &mut Value) {
    if is_events_v1(res) {
        rename_event_fields(obj, true);
        return;
    }
    if !is_hpa_v1(res) {
        return;
    }
    let cpu = |list: Option<Value>, part: &str| -> Option<Value> {
        list?.as_array()?.iter().find_map(|m| {
            let r = m.get("resource")?;
            (r.get("name")?.as_str()? == "cpu")
                .then(|| r.get(part)?.get("averageUtilization").cloned())
                .flatten()
        })
    };
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec.remove("metrics");
        spec.remove("behavior");
        if let Some(t) = cpu(metrics, "target") {
            spec.insert("targetCPUUtilizationPercentage".into(), t);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let metrics = status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(c) = cpu(metrics, "current") {
            status.insert("currentCPUUtilizationPercentage".into(), c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_v1_target_cpu_round_trips_through_v2_metrics() {
        let registry = crate::resource::Registry::default();
        crate::builtin::register_builtins(&registry);
        let Some(v1) = registry.get("autoscaling", "v1", "horizontalpodautoscalers") else {
            panic!("autoscaling/v1 HPA is served");
        };
        let mut obj = json!({"spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50},
                             "status": {"currentCPUUtilizationPercentage": 20}});
        let written = obj.clone();
        to_storage(&v1, &mut obj);
        assert_eq!(
            obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        assert!(obj["spec"].get("targetCPUUtilizationPercentage").is_none());
        let stored = obj.clone();
        to_storage(&v1, &mut obj);
        assert_eq!(obj, stored, "idempotent");
        to_served(&v1, &mut obj);
        assert_eq!(obj, written);
    }

    #[test]
    fn events_v1_fields_are_the_core_event_fields() {
        let registry = crate::resource::Registry::default();
        crate::builtin::register_builtins(&registry);
        let Some(ev) = registry.get("events.k8s.io", "v1", "events") else {
            panic!("events.k8s.io/v1 is served");
        };
        assert_eq!(ev.prefix(Some("a")), "/core/events/a/", "one storage");
        let mut obj = json!({"regarding": {"kind": "Pod", "name": "p"}, "note": "hi",
            "reason": "Started", "reportingController": "x.io/c", "deprecatedCount": 2});
        let written = obj.clone();
        to_storage(&ev, &mut obj);
        assert_eq!(
            obj,
            json!({"involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi",
                "reason": "Started", "reportingComponent": "x.io/c", "count": 2})
        );
        to_served(&ev, &mut obj);
        assert_eq!(obj, written);
    }
}
