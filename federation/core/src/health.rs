//! Cluster health and failover (Karmada `pkg/controllers/cluster`): the `Ready` condition from
//! heartbeats with a grace period, the scheduling taints that follow it, the NoExecute taints
//! that trigger failover, the taint manager's eviction decision for a binding, and graceful
//! eviction tasks.

use jiff::{SignedDuration, Timestamp};

use cceone_karmada_api::Cluster;
use cceone_karmada_api::meta::{Condition, format_time, parse_time};

use crate::names::{TAINT_NOT_READY, TAINT_UNREACHABLE};
use crate::selector::tolerates;
use cceone_karmada_api::cluster::Taint;
use cceone_karmada_api::{BindingSpec, GracefulEvictionTask, ResourceBinding, Toleration};

/// The cluster's `Ready` condition and its full new `spec.taints`.
///
/// While the cluster reports (the last report, or the controller's start when it has seen none
/// yet — the caller's `last_report`, falling back to the cluster's creation — is within
/// `grace` of `now`), `Ready` is True (reason `ClusterReady`), unless the reporter itself set it
/// False, which stands. Past the grace period it turns Unknown (`ClusterStatusUnknown`, or
/// `ClusterStatusNeverUpdated` for a cluster that never reported). The taints follow
/// `taintClusterByCondition`: False adds `cluster.karmada.io/not-ready:NoSchedule`, Unknown
/// `cluster.karmada.io/unreachable:NoSchedule` (each removing the other), True removes both;
/// a cluster that has not reported yet carries `not-ready`. Other taints are kept; added ones
/// get `timeAdded: now`. The condition's `lastTransitionTime` only moves when its status does.
pub fn cluster_conditions(
    cluster: &Cluster,
    last_report: Option<Timestamp>,
    now: Timestamp,
    grace: SignedDuration,
) -> (Condition, Vec<Taint>) {
    let current = cluster.ready_condition();
    let reference = last_report
        .or_else(|| {
            cluster
                .metadata
                .creation_timestamp
                .as_deref()
                .and_then(parse_time)
        })
        .unwrap_or(now);
    let stale = reference
        .checked_add(grace)
        .is_ok_and(|deadline| now > deadline);
    let keep_time = |status: &str| {
        current
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| format_time(now))
    };
    let condition = |status: &str, reason: &str, message: &str| Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(keep_time(status)),
        ..Condition::default()
    };
    let never = last_report.is_none() && current.is_none();
    let ready = if stale {
        match current {
            None => condition(
                "Unknown",
                "ClusterStatusNeverUpdated",
                "Cluster status controller never posted cluster status.",
            ),
            Some(c) if c.status == "Unknown" => c.clone(),
            Some(_) => condition(
                "Unknown",
                "ClusterStatusUnknown",
                "Cluster status controller stopped posting cluster status.",
            ),
        }
    } else if never {
        condition(
            "Unknown",
            "ClusterStatusNeverUpdated",
            "Cluster status controller never posted cluster status.",
        )
    } else {
        match current {
            Some(c) if c.status == "False" => c.clone(),
            _ => condition(
                "True",
                "ClusterReady",
                "cluster is healthy and ready to accept workloads",
            ),
        }
    };
    let not_ready = taint(TAINT_NOT_READY, "NoSchedule");
    let unreachable = taint(TAINT_UNREACHABLE, "NoSchedule");
    let taints = cluster.taints();
    let new = match ready.status.as_str() {
        _ if never && !stale => update_taints(taints, &[not_ready], &[], now),
        "False" => update_taints(taints, &[not_ready], &[unreachable], now),
        "Unknown" => update_taints(taints, &[unreachable], &[not_ready], now),
        _ => update_taints(taints, &[], &[not_ready, unreachable], now),
    };
    (ready, new)
}

/// NoExecute taints for failover, as Karmada's cluster controller added them before
/// ClusterTaintPolicy (`--failover-eviction-timeout`): once `Ready` has been False (Unknown)
/// for `eviction_timeout` since its last transition, `not-ready:NoExecute`
/// (`unreachable:NoExecute`) is added and the other removed; a Ready cluster loses both.
/// Returns the full new `spec.taints`.
pub fn failover_taints(
    cluster: &Cluster,
    now: Timestamp,
    eviction_timeout: SignedDuration,
) -> Vec<Taint> {
    let taints = cluster.taints();
    let not_ready = taint(TAINT_NOT_READY, "NoExecute");
    let unreachable = taint(TAINT_UNREACHABLE, "NoExecute");
    let Some(ready) = cluster.ready_condition() else {
        return taints.to_vec();
    };
    let since = ready
        .last_transition_time
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(now);
    let due = since.checked_add(eviction_timeout).is_ok_and(|t| now >= t);
    match ready.status.as_str() {
        "True" => update_taints(taints, &[], &[not_ready, unreachable], now),
        "False" if due => update_taints(taints, &[not_ready], &[unreachable], now),
        "Unknown" if due => update_taints(taints, &[unreachable], &[not_ready], now),
        _ => taints.to_vec(),
    }
}

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        ..Taint::default()
    }
}

/// `Taint.MatchTaint`: same key and effect.
fn same_taint(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// `SetCurrentClusterTaints`.
fn update_taints(taints: &[Taint], add: &[Taint], remove: &[Taint], now: Timestamp) -> Vec<Taint> {
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| !remove.iter().any(|r| same_taint(t, r)))
        .cloned()
        .collect();
    for a in add {
        if !taints.iter().any(|t| same_taint(t, a)) {
            let mut t = a.clone();
            t.time_added = Some(format_time(now));
            out.push(t);
        }
    }
    out
}

/// The taint manager's decision for one binding on one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// No NoExecute taint, or all tolerated forever.
    Never,
    /// An untolerated NoExecute taint, or the toleration time is up.
    Now,
    /// Tolerated until this moment.
    At(Timestamp),
}

/// `needEviction`: compares the cluster's NoExecute taints with the binding's applied
/// `clusterTolerations`.
pub fn eviction(tolerations: &[Toleration], cluster_taints: &[Taint], now: Timestamp) -> Eviction {
    let no_execute: Vec<&Taint> = cluster_taints
        .iter()
        .filter(|t| t.effect == "NoExecute")
        .collect();
    if no_execute.is_empty() {
        return Eviction::Never;
    }
    let mut used = Vec::new();
    for t in &no_execute {
        match tolerations.iter().find(|tol| tolerates(tol, t)) {
            Some(tol) => used.push(tol),
            None => return Eviction::Now,
        }
    }
    let mut earliest: Option<Timestamp> = None;
    for tol in used {
        let Some(secs) = tol.toleration_seconds else {
            continue;
        };
        for t in &no_execute {
            let Some(added) = t.time_added.as_deref().and_then(parse_time) else {
                continue;
            };
            if tolerates(tol, t)
                && let Ok(at) = added.checked_add(SignedDuration::from_secs(secs))
            {
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
    }
    match earliest {
        None => Eviction::Never,
        Some(at) if at < now => Eviction::Now,
        Some(at) => Eviction::At(at),
    }
}

/// `GracefulEvictCluster` as the taint manager calls it: removes `cluster` from
/// `spec.clusters` and records a graceful eviction task (purge mode from
/// `spec.failover.cluster.purgeMode`, default `Gracefully`; producer `TaintManager`, reason
/// `TaintUntolerated`). Returns whether the binding targeted the cluster.
pub fn evict_cluster(spec: &mut BindingSpec, cluster: &str, now: Timestamp) -> bool {
    let purge = spec
        .failover
        .as_ref()
        .and_then(|f| f.cluster.as_ref())
        .and_then(|c| c.purge_mode.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Gracefully".to_string());
    let task = GracefulEvictionTask {
        purge_mode: Some(purge),
        reason: Some("TaintUntolerated".into()),
        producer: Some("TaintManager".into()),
        ..GracefulEvictionTask::default()
    };
    evict_cluster_with(spec, cluster, task, now)
}

/// `GracefulEvictCluster`: removes `cluster` from `spec.clusters` and records `task` (its
/// cluster, creation time and replicas filled in) unless the cluster has a task already.
/// Returns whether the binding targeted the cluster.
pub fn evict_cluster_with(
    spec: &mut BindingSpec,
    cluster: &str,
    task: GracefulEvictionTask,
    now: Timestamp,
) -> bool {
    let Some(clusters) = spec.clusters.as_mut() else {
        return false;
    };
    let Some(i) = clusters.iter().position(|c| c.name == cluster) else {
        return false;
    };
    let removed = clusters.remove(i);
    let tasks = spec.graceful_eviction_tasks.get_or_insert_with(Vec::new);
    if !tasks.iter().any(|t| t.from_cluster == cluster) {
        tasks.push(GracefulEvictionTask {
            from_cluster: cluster.to_string(),
            creation_timestamp: Some(format_time(now)),
            replicas: removed.replicas.filter(|r| *r > 0),
            ..task
        });
    }
    true
}

/// `assessEvictionTasks`: the graceful eviction tasks to keep and the clusters whose tasks are
/// done (their Works may go). A task ends when suppression says so, when its grace period
/// (`gracePeriodSeconds`, else `default_timeout`) has passed since its creation, or once the
/// binding is scheduled and every target cluster reports a Healthy resource.
pub fn assess_eviction_tasks(
    binding: &ResourceBinding,
    now: Timestamp,
    default_timeout: SignedDuration,
) -> (Vec<GracefulEvictionTask>, Vec<String>) {
    let status = binding.status.as_ref();
    let scheduled = status
        .and_then(|s| cceone_karmada_api::find_condition(s.conditions(), "Scheduled"))
        .is_some_and(Condition::is_true);
    let items = status.map_or(&[][..], |s| s.aggregated_status());
    let all_healthy = binding.clusters().iter().all(|t| {
        items
            .iter()
            .find(|i| i.cluster_name == t.name)
            .is_some_and(|i| i.health.as_deref() == Some("Healthy"))
    });
    let mut kept = Vec::new();
    let mut done = Vec::new();
    let tasks = binding
        .spec
        .as_ref()
        .map_or(&[][..], |s| s.graceful_eviction_tasks());
    for task in tasks {
        let Some(created) = task.creation_timestamp.as_deref().and_then(parse_time) else {
            let mut t = task.clone();
            t.creation_timestamp = Some(format_time(now));
            kept.push(t);
            continue;
        };
        let keep = match task.suppress_deletion {
            Some(suppress) => suppress,
            None => {
                let timeout = task
                    .grace_period_seconds
                    .map_or(default_timeout, SignedDuration::from_secs);
                let expired = created.checked_add(timeout).is_ok_and(|t| now > t);
                !(expired || (scheduled && all_healthy))
            }
        };
        if keep {
            kept.push(task.clone());
        } else {
            done.push(task.from_cluster.clone());
        }
    }
    (kept, done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
