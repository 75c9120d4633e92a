//! Status aggregation (Karmada `pkg/util/helper/workstatus.go` and the default interpreter's
//! `aggregatestatus.go`): the Works of a binding become its `status.aggregatedStatus` and
//! `FullyApplied` condition, and the aggregated member statuses become the resource
//! template's own status, so `kubectl get deployment nginx` on the federation shows `3/3`.

use cceone_karmada_api::binding::ObjectReference;
use cceone_karmada_api::{
    AggregatedStatusItem, BindingSpec, BindingStatus, Condition, ResourceBinding, Work,
    set_condition,
};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::json::{arr, int, s};

/// The binding's new `status`: `aggregatedStatus` built from its Works (one item per cluster,
/// sorted by cluster name: `{clusterName, applied, appliedMessage?, status?, health}`) and the
/// `FullyApplied` condition set (its `lastTransitionTime` kept unless it flips); every other
/// status field, the `Scheduled` condition included, is carried over. Works being deleted,
/// outside an execution space (`karmada-es-<cluster>`) or not holding the binding's resource
/// are skipped.
pub fn aggregate(binding: &ResourceBinding, works: &[Work], now: Timestamp) -> BindingStatus {
    let spec = binding.spec();
    let mut items: Vec<AggregatedStatusItem> = works
        .iter()
        .filter(|w| !w.deleting())
        .filter_map(|w| aggregated_item(w, &spec.resource))
        .collect();
    items.sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));

    let mut status = binding.status.clone().unwrap_or_default();
    let fully = fully_applied(&spec, &items);
    let cond = if fully {
        Condition::new(
            "FullyApplied",
            "FullyAppliedSuccess",
            "All works have been successfully applied",
            true,
            now,
        )
    } else {
        Condition::new(
            "FullyApplied",
            "FullyAppliedFailed",
            "Failed to apply all works, see status.aggregatedStatus for details",
            false,
            now,
        )
    };
    set_condition(status.conditions.get_or_insert_with(Vec::new), cond);
    if let Some(cond) = suspended_condition(&spec, status.conditions.as_deref(), now) {
        set_condition(status.conditions.get_or_insert_with(Vec::new), cond);
    }
    status.aggregated_status = Some(items);
    status
}

/// The binding's `Suspended` condition: True with what is suspended while its
/// `spec.suspension` holds scheduling or dispatching back (everywhere, or on some clusters:
/// their Works carry `suspendDispatching` and the hub relays nothing new of them), False once
/// lifted; None for a binding that was never suspended, so the rest carry no such condition.
fn suspended_condition(
    spec: &BindingSpec,
    current: Option<&[Condition]>,
    now: Timestamp,
) -> Option<Condition> {
    let suspension = spec.suspension.as_ref();
    let mut what = Vec::new();
    if suspension.is_some_and(|s| s.scheduling == Some(true)) {
        what.push("scheduling".to_string());
    }
    if suspension.is_some_and(|s| s.dispatching == Some(true)) {
        what.push("dispatching to every cluster".to_string());
    } else {
        let on: Vec<&str> = suspension
            .and_then(|s| s.dispatching_on_clusters.as_ref())
            .and_then(|c| c.cluster_names.as_deref())
            .unwrap_or(&[])
            .iter()
            .map(String::as_str)
            .collect();
        if !on.is_empty() {
            what.push(format!("dispatching to {}", on.join(", ")));
        }
    }
    if what.is_empty() {
        let was = current
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Suspended");
        return was.then(|| {
            Condition::new(
                "Suspended",
                "Resumed",
                "Neither scheduling nor dispatching is suspended",
                false,
                now,
            )
        });
    }
    let reason = if what.iter().any(|w| w.starts_with("dispatching")) {
        "SuspendDispatching"
    } else {
        "SuspendScheduling"
    };
    Some(Condition::new(
        "Suspended",
        reason,
        &format!("Suspended: {}", what.join("; ")),
        true,
        now,
    ))
}

/// One Work's item of `aggregatedStatus` (`assembleWorkStatus`).
fn aggregated_item(work: &Work, resource: &ObjectReference) -> Option<AggregatedStatusItem> {
    let cluster = work.cluster()?;
    let (api_version, kind) = (resource.api_version.as_str(), resource.kind.as_str());
    let (namespace, name) = (resource.namespace(), resource.name.as_str());
    let ordinal = work.manifests().iter().position(|m| {
        s(m, "/apiVersion") == api_version
            && s(m, "/kind") == kind
            && s(m, "/metadata/namespace") == namespace
            && s(m, "/metadata/name") == name
    })?;
    let status = work.status.as_ref();
    let applied = work.applied();
    let mut item = AggregatedStatusItem {
        cluster_name: cluster.to_string(),
        health: Some("Unknown".into()),
        ..AggregatedStatusItem::default()
    };
    match applied {
        Some(c) if c.status == "True" => {
            item.applied = Some(true);
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g, v),
                None => ("", api_version),
            };
            let found = status
                .map_or(&[][..], |st| st.manifest_statuses())
                .iter()
                .find(|ms| {
                    let id = &ms.identifier;
                    i64::try_from(ordinal).is_ok_and(|o| id.ordinal == o)
                        && id.group == group
                        && id.version == version
                        && id.kind == kind
                        && id.namespace.as_deref().unwrap_or("") == namespace
                        && id.name == name
                });
            if let Some(ms) = found {
                item.status = ms.status.clone().filter(|v| !v.is_null());
                if let Some(health) = ms.health.as_ref().filter(|h| !h.is_empty()) {
                    item.health = Some(health.clone());
                }
            }
        }
        other => {
            item.applied = Some(false);
            item.applied_message = other
                .map(|c| c.message().to_string())
                .filter(|m| !m.is_empty());
        }
    }
    Some(item)
}

/// `worksFullyApplied` against `ObtainBindingSpecExistingClusters`.
fn fully_applied(spec: &BindingSpec, items: &[AggregatedStatusItem]) -> bool {
    let mut targets: Vec<&str> = spec.clusters().iter().map(|c| c.name.as_str()).collect();
    for r in spec.required_by.iter().flatten() {
        targets.extend(r.clusters.iter().flatten().map(|c| c.name.as_str()));
    }
    for t in spec.graceful_eviction_tasks() {
        if !matches!(t.purge_mode(), "Directly" | "Immediately") {
            targets.push(&t.from_cluster);
        }
    }
    targets.sort_unstable();
    targets.dedup();
    !targets.is_empty()
        && targets.len() == items.len()
        && items
            .iter()
            .all(|i| i.applied == Some(true) && targets.contains(&i.cluster_name.as_str()))
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
pub fn template_status(
    template: &Value,
    aggregated: &[AggregatedStatusItem],
    now: Timestamp,
) -> Option<Value> {
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
        let Some(member) = item.status.as_ref().filter(|v| v.is_object()) else {
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
fn job_status(
    template: &Value,
    aggregated: &[AggregatedStatusItem],
    now: Timestamp,
) -> Option<Value> {
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
        let Some(st) = item.status.as_ref().filter(|v| v.is_object()) else {
            continue;
        };
        let get = |f: &str| int(st, &format!("/{f}")).unwrap_or(0);
        active += get("active");
        succeeded += get("succeeded");
        failed += get("failed");
        match finished(st) {
            Some("Complete") => successful += 1,
            Some(_) => failed_clusters.push(item.cluster_name.clone()),
            None => {}
        }
        if crate::json::find_condition(arr(st, "/conditions"), "SuccessCriteriaMet")
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
