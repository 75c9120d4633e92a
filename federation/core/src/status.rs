//! Status aggregation (Karmada `pkg/util/helper/workstatus.go` and the default interpreter's
//! `aggregatestatus.go`): the Works of a binding become its `status.aggregatedStatus` and
//! `FullyApplied` condition, and the aggregated member statuses become the resource
//! template's own status, so `kubectl get deployment nginx` on the federation shows `3/3`.

use std::borrow::Borrow;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::json::{arr, find_condition, int, s, set_condition};
use crate::names::EXECUTION_SPACE_PREFIX;

/// The binding's new `status`: `aggregatedStatus` built from its Works (one item per cluster,
/// sorted by cluster name: `{clusterName, applied, appliedMessage?, status?, health}`) and the
/// `FullyApplied` condition set (its `lastTransitionTime` kept unless it flips); every other
/// status field, the `Scheduled` condition included, is carried over. Works being deleted,
/// outside an execution space (`karmada-es-<cluster>`) or not holding the binding's resource
/// are skipped.
pub fn aggregate<W: Borrow<Value>>(binding: &Value, works: &[W], now: Timestamp) -> Value {
    let resource = binding.pointer("/spec/resource").unwrap_or(&Value::Null);
    let mut items: Vec<Value> = works
        .iter()
        .map(Borrow::borrow)
        .filter(|w| !crate::json::present(w, "/metadata/deletionTimestamp"))
        .filter_map(|w| aggregated_item(w, resource))
        .collect();
    items.sort_by(|a, b| s(a, "/clusterName").cmp(s(b, "/clusterName")));

    let mut status = binding
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = arr(binding, "/status/conditions").to_vec();
    let fully = fully_applied(binding.get("spec").unwrap_or(&Value::Null), &items);
    let cond = if fully {
        crate::json::new_condition(
            "FullyApplied",
            "FullyAppliedSuccess",
            "All works have been successfully applied",
            true,
            now,
        )
    } else {
        crate::json::new_condition(
            "FullyApplied",
            "FullyAppliedFailed",
            "Failed to apply all works, see status.aggregatedStatus for details",
            false,
            now,
        )
    };
    set_condition(&mut conditions, cond);
    status.insert("aggregatedStatus".into(), Value::Array(items));
    status.insert("conditions".into(), Value::Array(conditions));
    Value::Object(status)
}

/// One Work's item of `aggregatedStatus` (`assembleWorkStatus`).
fn aggregated_item(work: &Value, resource: &Value) -> Option<Value> {
    let cluster = s(work, "/metadata/namespace").strip_prefix(EXECUTION_SPACE_PREFIX)?;
    let (api_version, kind) = (s(resource, "/apiVersion"), s(resource, "/kind"));
    let (namespace, name) = (s(resource, "/namespace"), s(resource, "/name"));
    let ordinal = arr(work, "/spec/workload/manifests").iter().position(|m| {
        s(m, "/apiVersion") == api_version
            && s(m, "/kind") == kind
            && s(m, "/metadata/namespace") == namespace
            && s(m, "/metadata/name") == name
    })?;
    let applied = find_condition(arr(work, "/status/conditions"), "Applied");
    let mut item = Map::new();
    item.insert("clusterName".into(), json!(cluster));
    match applied.map(|c| (s(c, "/status"), s(c, "/message"))) {
        Some(("True", _)) => {
            item.insert("applied".into(), json!(true));
            item.insert("health".into(), json!("Unknown"));
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g, v),
                None => ("", api_version),
            };
            let found = arr(work, "/status/manifestStatuses").iter().find(|ms| {
                let id = ms.get("identifier").unwrap_or(&Value::Null);
                int(id, "/ordinal") == i64::try_from(ordinal).ok()
                    && s(id, "/group") == group
                    && s(id, "/version") == version
                    && s(id, "/kind") == kind
                    && s(id, "/namespace") == namespace
                    && s(id, "/name") == name
            });
            if let Some(ms) = found {
                if let Some(st) = ms.get("status").filter(|v| !v.is_null()) {
                    item.insert("status".into(), st.clone());
                }
                let health = s(ms, "/health");
                if !health.is_empty() {
                    item.insert("health".into(), json!(health));
                }
            }
        }
        other => {
            item.insert("applied".into(), json!(false));
            if let Some((_, msg)) = other.filter(|(_, m)| !m.is_empty()) {
                item.insert("appliedMessage".into(), json!(msg));
            }
            item.insert("health".into(), json!("Unknown"));
        }
    }
    Some(Value::Object(item))
}

/// `worksFullyApplied` against `ObtainBindingSpecExistingClusters`.
fn fully_applied(spec: &Value, items: &[Value]) -> bool {
    let mut targets: Vec<&str> = arr(spec, "/clusters")
        .iter()
        .map(|c| s(c, "/name"))
        .collect();
    for r in arr(spec, "/requiredBy") {
        targets.extend(arr(r, "/clusters").iter().map(|c| s(c, "/name")));
    }
    for t in arr(spec, "/gracefulEvictionTasks") {
        if !matches!(s(t, "/purgeMode"), "Directly" | "Immediately") {
            targets.push(s(t, "/fromCluster"));
        }
    }
    targets.sort_unstable();
    targets.dedup();
    !targets.is_empty()
        && targets.len() == items.len()
        && items
            .iter()
            .all(|i| i["applied"] == json!(true) && targets.contains(&s(i, "/clusterName")))
}

/// The fields summed for each kind, and whether it tracks `observedGeneration`.
fn summed_fields(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (api_version, kind) {
        ("apps/v1", "Deployment") => &[
            "replicas",
            "readyReplicas",
            "updatedReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ],
        ("apps/v1", "ReplicaSet") => &["replicas", "readyReplicas", "availableReplicas"],
        ("apps/v1", "StatefulSet") => &[
            "availableReplicas",
            "currentReplicas",
            "readyReplicas",
            "replicas",
            "updatedReplicas",
        ],
        ("apps/v1", "DaemonSet") => &[
            "currentNumberScheduled",
            "desiredNumberScheduled",
            "numberAvailable",
            "numberMisscheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberUnavailable",
        ],
        _ => return None,
    })
}

/// The template's new `status` from a binding's `aggregatedStatus` items, for Deployment,
/// ReplicaSet, StatefulSet and DaemonSet (counters summed; `observedGeneration` becomes the
/// template's generation once every member reports a status whose `observedGeneration` has
/// reached its own `generation` and whose `resourceTemplateGeneration` has reached the
/// template's, else it keeps its old value) and Job (counters summed, `Complete` / `Failed`
/// conditions, start and completion times). Other fields of the old status are kept. `None`
/// for other kinds, and for a Job that already finished.
pub fn template_status(template: &Value, aggregated: &[Value], now: Timestamp) -> Option<Value> {
    let (api_version, kind) = (s(template, "/apiVersion"), s(template, "/kind"));
    if (api_version, kind) == ("batch/v1", "Job") {
        return job_status(template, aggregated, now);
    }
    let fields = summed_fields(api_version, kind)?;
    let generation = int(template, "/metadata/generation").unwrap_or(0);
    let mut status = template
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut sums = vec![0_i64; fields.len()];
    let mut observed_latest = 0;
    for item in aggregated {
        let Some(member) = item.get("status").filter(|v| v.is_object()) else {
            continue;
        };
        let get = |f: &str| int(member, &format!("/{f}")).unwrap_or(0);
        if get("observedGeneration") >= get("generation")
            && get("resourceTemplateGeneration") >= generation
        {
            observed_latest += 1;
        }
        for (sum, f) in sums.iter_mut().zip(fields) {
            *sum += get(f);
        }
    }
    for (sum, f) in sums.into_iter().zip(fields) {
        status.insert((*f).into(), json!(sum));
    }
    if observed_latest == aggregated.len() {
        status.insert("observedGeneration".into(), json!(generation));
    }
    Some(Value::Object(status))
}

/// `ParsingJobStatus`.
fn job_status(template: &Value, aggregated: &[Value], now: Timestamp) -> Option<Value> {
    fn finished(st: &Value) -> Option<&str> {
        arr(st, "/conditions").iter().find_map(|c| {
            let t = s(c, "/type");
            (matches!(t, "Complete" | "Failed") && s(c, "/status") == "True").then_some(t)
        })
    }
    if finished(template.get("status").unwrap_or(&Value::Null)).is_some() {
        return None;
    }
    let (mut active, mut succeeded, mut failed) = (0, 0, 0);
    let (mut successful, mut started, mut completed, mut criteria_met) = (0, 0, 0, 0);
    let mut failed_clusters = Vec::new();
    let mut start: Option<&str> = None;
    let mut completion: Option<&str> = None;
    for item in aggregated {
        let Some(st) = item.get("status").filter(|v| v.is_object()) else {
            continue;
        };
        let get = |f: &str| int(st, &format!("/{f}")).unwrap_or(0);
        active += get("active");
        succeeded += get("succeeded");
        failed += get("failed");
        match finished(st) {
            Some("Complete") => successful += 1,
            Some(_) => failed_clusters.push(s(item, "/clusterName").to_string()),
            None => {}
        }
        if find_condition(arr(st, "/conditions"), "SuccessCriteriaMet")
            .is_some_and(|c| s(c, "/status") == "True")
        {
            criteria_met += 1;
        }
        // RFC 3339 in UTC compares as text.
        let st_start = s(st, "/startTime");
        if !st_start.is_empty() {
            started += 1;
            if start.is_none_or(|t| st_start < t) {
                start = Some(st_start);
            }
        }
        let st_done = s(st, "/completionTime");
        if !st_done.is_empty() {
            completed += 1;
            if completion.is_none_or(|t| st_done > t) {
                completion = Some(st_done);
            }
        }
    }
    let total = aggregated.len();
    let t = crate::json::format_time(now);
    let cond = |kind: &str, reason: &str, message: String| json!({"type": kind, "status": "True", "lastProbeTime": t, "lastTransitionTime": t, "reason": reason, "message": message});
    let mut conditions = Vec::new();
    if !failed_clusters.is_empty() {
        conditions.push(cond(
            "Failed",
            "JobFailed",
            format!(
                "Job executed failed in member clusters {}",
                failed_clusters.join(",")
            ),
        ));
    }
    if successful == total && successful > 0 {
        conditions.push(cond("Complete", "Completed", "Job completed".into()));
        if criteria_met == total {
            conditions.push(cond(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "All member clusters have met success criteria".into(),
            ));
        }
    }
    let mut status = Map::new();
    for (k, v) in [
        ("active", active),
        ("succeeded", succeeded),
        ("failed", failed),
    ] {
        if v != 0 {
            status.insert(k.into(), json!(v));
        }
    }
    if !conditions.is_empty() {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    match template
        .pointer("/status/startTime")
        .filter(|v| !v.is_null())
    {
        Some(old) => {
            status.insert("startTime".into(), old.clone());
        }
        None if started == total && started > 0 => {
            status.insert("startTime".into(), json!(start));
        }
        None => {}
    }
    if let Some(done) = completion.filter(|_| completed == total) {
        status.insert("completionTime".into(), json!(done));
    }
    Some(Value::Object(status))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
