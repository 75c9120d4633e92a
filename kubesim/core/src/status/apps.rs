//! Status of `apps/v1` workloads: Deployment (with the `Available` and
//! `Progressing` conditions and the progress deadline), ReplicaSet,
//! StatefulSet and DaemonSet.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::count;
use crate::json::{
    Cond, CondStyle, at, bool_at, format_time, generation, i64_at, label, merge_condition, name,
    parse_time, put_nonzero, str_at,
};
use crate::pods::{is_active, is_available, is_ready, is_running_and_ready, is_terminal};
use crate::reconcile::{
    current_hash, fenceposts, find_new, is_recreate, ordinal, replicas, target_node,
    update_revision,
};
use crate::reconcile::{daemon_pod_template, node_should_run};

/// `spec.minReadySeconds`.
fn min_ready_seconds(workload: &Value) -> i64 {
    i64_at(workload, &["spec", "minReadySeconds"]).unwrap_or(0)
}

/// When the status of an `apps/v1` workload may next change with only time passing: a pod
/// of a ReplicaSet, StatefulSet or DaemonSet with `minReadySeconds` turning available (the
/// ReplicaSet controller re-queues its set then, `replica_set.go` `updatePod`:
/// `enqueueRSAfter(rs, minReadySeconds + 1s)`), or a Deployment's rollout reaching its
/// progress deadline (`deployment_controller.go` `requeueStuckDeployment`). `None` when only
/// a change of an input can change it.
pub(super) fn changes_at(workload: &Value, owned: &[Value], now: Timestamp) -> Option<Timestamp> {
    if str_at(workload, &["kind"]) == Some("Deployment") {
        let progressing = workload
            .pointer("/status/conditions")
            .and_then(Value::as_array)?
            .iter()
            .find(|c| str_at(c, &["type"]) == Some("Progressing"))?;
        if str_at(progressing, &["reason"]) != Some("ReplicaSetUpdated") {
            return None;
        }
        let deadline = i64_at(workload, &["spec", "progressDeadlineSeconds"]).unwrap_or(600);
        let due = parse_time(progressing.get("lastUpdateTime"))?
            .checked_add(SignedDuration::from_secs(deadline))
            .ok()?;
        return (due > now).then_some(due);
    }
    let min_ready = min_ready_seconds(workload);
    if min_ready <= 0 {
        return None;
    }
    owned
        .iter()
        .filter(|p| is_ready(p))
        .filter_map(|p| {
            let since = crate::json::condition(p, "Ready")
                .and_then(|c| parse_time(c.get("lastTransitionTime")))?;
            since.checked_add(SignedDuration::from_secs(min_ready)).ok()
        })
        .filter(|due| *due > now)
        .min()
}

/// A status map starting with `observedGeneration` (omitted when zero).
fn status_with_generation(workload: &Value) -> Map<String, Value> {
    let mut status = Map::new();
    put_nonzero(
        &mut status,
        "observedGeneration",
        generation(workload).unwrap_or(0),
    );
    status
}

/// Deployment status from its ReplicaSets' statuses (`sync.go`,
/// `calculateStatus`; `progress.go`, `syncRolloutStatus`): replica counts and
/// the `Available` / `Progressing` conditions.
pub(super) fn deployment_status(deploy: &Value, sets: &[Value], now: Timestamp) -> Value {
    let desired = replicas(deploy);
    let refs: Vec<&Value> = sets.iter().collect();
    let new_rs = find_new(deploy, &refs);
    let paused = bool_at(deploy, &["spec", "paused"]);
    let sum = |k: &str| -> i64 {
        sets.iter()
            .map(|rs| i64_at(rs, &["status", k]).unwrap_or(0))
            .sum()
    };
    let total = sum("replicas");
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let updated = new_rs.map_or(0, |rs| i64_at(rs, &["status", "replicas"]).unwrap_or(0));
    let spec_total: i64 = sets.iter().map(replicas).sum();
    let unavailable = (spec_total - available).max(0);
    let max_unavailable = if desired == 0 {
        0
    } else {
        fenceposts(deploy, desired).1.min(desired)
    };

    let previous = deploy.get("status");
    // A new template whose ReplicaSet is not there yet is not observed: `kubectl
    // rollout status` would otherwise call the old pods the finished rollout.
    let waiting_for_rs = new_rs.is_none() && !paused && !is_recreate(deploy);
    let mut status = if waiting_for_rs {
        let mut m = Map::new();
        let observed = previous
            .and_then(|s| s.get("observedGeneration"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        put_nonzero(&mut m, "observedGeneration", observed);
        m
    } else {
        status_with_generation(deploy)
    };
    put_nonzero(&mut status, "replicas", total);
    put_nonzero(&mut status, "updatedReplicas", updated);
    put_nonzero(&mut status, "readyReplicas", ready);
    put_nonzero(&mut status, "availableReplicas", available);
    put_nonzero(&mut status, "unavailableReplicas", unavailable);

    let available_cond = if available >= desired - max_unavailable {
        Cond {
            kind: "Available",
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.",
        }
    } else {
        Cond {
            kind: "Available",
            status: "False",
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.",
        }
    };
    let available_cond = merge_condition(previous, &available_cond, CondStyle::Update, now);

    let rs = new_rs.map_or_else(
        || format!("{}-{}", name(deploy), current_hash(deploy)),
        |rs| name(rs).to_owned(),
    );
    let old_reason =
        crate::json::condition(deploy, "Progressing").and_then(|c| str_at(c, &["reason"]));
    let complete =
        new_rs.is_some() && updated == desired && total == desired && available == desired;
    let fixed = |status: &'static str, reason: &'static str, message: &str| {
        let cond = Cond {
            kind: "Progressing",
            status,
            reason,
            message,
        };
        merge_condition(previous, &cond, CondStyle::Update, now)
    };
    let progressing = if paused {
        fixed("Unknown", "DeploymentPaused", "Deployment is paused")
    } else if old_reason == Some("DeploymentPaused") {
        fixed("Unknown", "DeploymentResumed", "Deployment is resumed")
    } else if complete {
        let message = format!("ReplicaSet \"{rs}\" has successfully progressed.");
        fixed("True", "NewReplicaSetAvailable", &message)
    } else if new_rs.is_some_and(|n| at(n, &["status", "observedGeneration"]).is_none()) {
        let message = format!("Created new replica set \"{rs}\"");
        fixed("True", "NewReplicaSetCreated", &message)
    } else {
        rollout_condition(
            deploy,
            &rs,
            [updated, ready, available, total - updated],
            now,
        )
    };
    let mut conditions = vec![available_cond, progressing];
    conditions.extend(replica_failure(sets));
    status.insert("conditions".into(), Value::Array(conditions));
    Value::Object(status)
}

/// A ReplicaSet's `ReplicaFailure` condition carried to its Deployment, as `getReplicaFailures`
/// (`pkg/controller/deployment/progress.go`) does; dated as on the ReplicaSet so a status
/// already saying it is not written again.
fn replica_failure(sets: &[Value]) -> Option<Value> {
    let cond = sets
        .iter()
        .find_map(|rs| crate::json::condition(rs, "ReplicaFailure"))
        .filter(|c| str_at(c, &["status"]) == Some("True"))?;
    let since = at(cond, &["lastTransitionTime"]).cloned();
    Some(json!({
        "type": "ReplicaFailure", "status": "True",
        "reason": at(cond, &["reason"]), "message": at(cond, &["message"]),
        "lastUpdateTime": since, "lastTransitionTime": since,
    }))
}

/// ReplicaSet status from its pods (`replica_set_utils.go`,
/// `calculateStatus`): active, fully labelled, ready and available pods.
pub(super) fn replicaset_status(rs: &Value, owned: &[Value], now: Timestamp) -> Value {
    let min_ready = min_ready_seconds(rs);
    let active: Vec<&Value> = owned.iter().filter(|p| is_active(p)).collect();
    let labels = at(rs, &["spec", "template", "metadata", "labels"]).and_then(Value::as_object);
    let fully_labeled = active
        .iter()
        .filter(|p| {
            labels.is_none_or(|want| {
                want.iter()
                    .all(|(k, v)| at(p, &["metadata", "labels", k]) == Some(v))
            })
        })
        .count();
    let mut status = Map::new();
    status.insert("replicas".into(), json!(count(active.len())));
    put_nonzero(&mut status, "fullyLabeledReplicas", count(fully_labeled));
    put_nonzero(
        &mut status,
        "readyReplicas",
        count(active.iter().filter(|p| is_ready(p)).count()),
    );
    put_nonzero(
        &mut status,
        "availableReplicas",
        count(
            active
                .iter()
                .filter(|p| is_available(p, min_ready, now))
                .count(),
        ),
    );
    put_nonzero(
        &mut status,
        "observedGeneration",
        generation(rs).unwrap_or(0),
    );
    Value::Object(status)
}

/// The `Progressing` condition of a rollout in flight: refreshed whenever
/// progress is made (more updated/ready/available pods, fewer old ones, a new
/// generation), `ProgressDeadlineExceeded` once none is made for
/// `spec.progressDeadlineSeconds` (default 600).
fn rollout_condition(deploy: &Value, rs: &str, counts: [i64; 4], now: Timestamp) -> Value {
    let previous = deploy.get("status");
    let old = previous
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| str_at(c, &["type"]) == Some("Progressing"))
        });
    let prev_count = |k: &str| {
        previous
            .and_then(|s| s.get(k))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let [updated, ready, available, old_pods] = counts;
    let new_generation = generation(deploy)
        != previous
            .and_then(|s| s.get("observedGeneration"))
            .and_then(Value::as_i64);
    let progress = updated > prev_count("updatedReplicas")
        || ready > prev_count("readyReplicas")
        || available > prev_count("availableReplicas")
        || old_pods < prev_count("replicas") - prev_count("updatedReplicas")
        || new_generation;
    let old_reason = old.and_then(|c| str_at(c, &["reason"]));
    let now_s = format_time(now);
    if let Some(old) = old.filter(|_| !progress && old_reason == Some("ReplicaSetUpdated")) {
        let deadline = i64_at(deploy, &["spec", "progressDeadlineSeconds"]).unwrap_or(600);
        let last = parse_time(old.get("lastUpdateTime"));
        let expired = last
            .and_then(|t| t.checked_add(SignedDuration::from_secs(deadline)).ok())
            .is_some_and(|due| now >= due);
        if !expired {
            return old.clone();
        }
        return json!({
            "type": "Progressing",
            "status": "False",
            "lastUpdateTime": now_s,
            "lastTransitionTime": now_s,
            "reason": "ProgressDeadlineExceeded",
            "message": format!("ReplicaSet \"{rs}\" has timed out progressing."),
        });
    }
    if let Some(old) = old.filter(|_| !progress && old_reason == Some("ProgressDeadlineExceeded")) {
        return old.clone();
    }
    let transition = old
        .filter(|c| str_at(c, &["status"]) == Some("True"))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now_s));
    json!({
        "type": "Progressing",
        "status": "True",
        "lastUpdateTime": now_s,
        "lastTransitionTime": transition,
        "reason": "ReplicaSetUpdated",
        "message": format!("ReplicaSet \"{rs}\" is progressing."),
    })
}

/// StatefulSet status: replica counts by readiness and revision.
pub(super) fn statefulset_status(sts: &Value, owned: &[Value], now: Timestamp) -> Value {
    let sts_name = name(sts);
    let members: Vec<&Value> = owned
        .iter()
        .filter(|p| ordinal(sts_name, p).is_some() && !is_terminal(p))
        .collect();
    let live: Vec<&Value> = members.iter().copied().filter(|p| is_active(p)).collect();
    let update_rev = update_revision(sts);
    let with_rev = |rev: &str| {
        count(
            live.iter()
                .filter(|p| label(p, "controller-revision-hash") == Some(rev))
                .count(),
        )
    };
    let updated = with_rev(&update_rev);
    let desired = replicas(sts);
    let previous_current = at(sts, &["status", "currentRevision"]).and_then(Value::as_str);
    let current_rev = match previous_current {
        Some(rev) if !(updated == desired && count(live.len()) == desired) => rev.to_owned(),
        _ => update_rev.clone(),
    };
    let min_ready = min_ready_seconds(sts);
    let ready = count(members.iter().filter(|p| is_running_and_ready(p)).count());
    let available = count(
        members
            .iter()
            .filter(|p| is_running_and_ready(p) && is_available(p, min_ready, now))
            .count(),
    );
    let mut status = status_with_generation(sts);
    status.insert("replicas".into(), json!(count(members.len())));
    put_nonzero(&mut status, "readyReplicas", ready);
    put_nonzero(&mut status, "currentReplicas", with_rev(&current_rev));
    put_nonzero(&mut status, "updatedReplicas", updated);
    status.insert("currentRevision".into(), json!(current_rev));
    status.insert("updateRevision".into(), json!(update_rev));
    status.insert("collisionCount".into(), json!(0));
    status.insert("availableReplicas".into(), json!(available));
    Value::Object(status)
}

/// DaemonSet status: per-node scheduling, readiness and update counts.
pub(super) fn daemonset_status(
    ds: &Value,
    owned: &[Value],
    nodes: &[Value],
    now: Timestamp,
) -> Value {
    let template = daemon_pod_template(ds);
    let hash = crate::json::template_hash(at(ds, &["spec", "template"]));
    let min_ready = min_ready_seconds(ds);
    let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for pod in owned.iter().filter(|p| is_active(p)) {
        if let Some(node) = target_node(pod) {
            by_node.entry(node).or_default().push(pod);
        }
    }
    let (mut desired, mut current, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let pods = by_node.get(name(node)).map(Vec::as_slice).unwrap_or(&[]);
        let should_run = node_should_run(&template, node);
        if !should_run {
            if !pods.is_empty() {
                misscheduled += 1;
            }
            continue;
        }
        desired += 1;
        if pods.is_empty() {
            continue;
        }
        current += 1;
        if pods.iter().any(|p| is_ready(p)) {
            ready += 1;
        }
        if pods.iter().any(|p| is_available(p, min_ready, now)) {
            available += 1;
        }
        if pods
            .iter()
            .any(|p| label(p, "controller-revision-hash") == Some(hash.as_str()))
        {
            updated += 1;
        }
    }
    let mut status = status_with_generation(ds);
    status.insert("currentNumberScheduled".into(), json!(current));
    status.insert("numberMisscheduled".into(), json!(misscheduled));
    status.insert("desiredNumberScheduled".into(), json!(desired));
    status.insert("numberReady".into(), json!(ready));
    put_nonzero(&mut status, "updatedNumberScheduled", updated);
    put_nonzero(&mut status, "numberAvailable", available);
    put_nonzero(&mut status, "numberUnavailable", desired - available);
    Value::Object(status)
}
