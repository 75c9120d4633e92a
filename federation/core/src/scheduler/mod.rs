//! The scheduler (Karmada `pkg/scheduler`): from a binding's placement and the Cluster objects
//! to the binding's `spec.clusters`. Filter (API enablement, taints vs tolerations, cluster
//! affinity, spread-constraint properties, clusters being evicted), score (locality), estimate
//! each cluster's available replicas from its `status.resourceSummary`, select clusters under
//! the spread constraints, then divide replicas: Duplicated, Divided by static weight with the
//! Webster method, by dynamic weight (available replicas) or Aggregated. Ordered cluster
//! affinity groups are tried in turn, starting from the one the binding last landed in.
//!
//! Deterministic: the same inputs always give the same output, in Karmada's output order
//! (candidate order for Duplicated, cluster name for static weights, previous-then-new for
//! dynamic division).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::json::{arr, int, present, s};
use crate::selector::{cluster_matches, find_untolerated_taint, taint_string};

mod division;
mod estimate;
mod spread;

pub use division::allocate_webster;

/// One cluster of a scheduling result (`spec.clusters[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCluster {
    /// The cluster's name.
    pub name: String,
    /// Replicas for this cluster; `None` for resources without replicas (ConfigMaps,
    /// Services, ...), which are propagated whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Why a binding could not be scheduled. The variants map onto the reasons of the binding's
/// `Scheduled` condition ([`scheduled_condition`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No cluster passed the filters (`NoClusterFit`); Karmada then clears `spec.clusters`.
    #[error("{0}")]
    NoClusterFit(String),
    /// Clusters fit but lack capacity for the replicas (`Unschedulable`).
    #[error("{0}")]
    Unschedulable(String),
    /// The placement cannot be satisfied as declared (spread constraints, unsupported
    /// strategy, nothing selected) (`SchedulerError`).
    #[error("{0}")]
    Scheduler(String),
}

/// The outcome of [`schedule_binding`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleOutcome {
    /// The new `spec.clusters`.
    pub clusters: Vec<TargetCluster>,
    /// For ordered `clusterAffinities`: the name of the group used, for
    /// `status.schedulerObservingAffinityName`.
    pub affinity_name: Option<String>,
}

/// Schedules a binding spec (`work.karmada.io/v1alpha2` ResourceBinding `spec`) over the
/// Cluster objects, as for a binding without status (ordered cluster affinity groups are tried
/// from the first). See [`schedule_binding`] to honour the status.
pub fn schedule(
    binding_spec: &Value,
    clusters: &[Value],
) -> Result<Vec<TargetCluster>, ScheduleError> {
    schedule_binding(&json!({ "spec": binding_spec }), clusters).map(|o| o.clusters)
}

/// Schedules a whole binding: like [`schedule`], but ordered `clusterAffinities` start from the
/// group named in `status.schedulerObservingAffinityName` (back to the first when
/// `spec.rescheduleTriggeredAt` is after `status.lastScheduledTime`), and dynamic division
/// recalculates from scratch in that case too (Karmada's Fresh mode).
pub fn schedule_binding(
    binding: &Value,
    clusters: &[Value],
) -> Result<ScheduleOutcome, ScheduleError> {
    let spec = binding.get("spec").unwrap_or(&Value::Null);
    let placement = spec.get("placement").unwrap_or(&Value::Null);
    let fresh = reschedule_required(binding);
    let terms = arr(placement, "/clusterAffinities");
    if present(placement, "/clusterAffinity") || terms.is_empty() {
        let affinity = placement.get("clusterAffinity").filter(|v| !v.is_null());
        let clusters = run(spec, clusters, affinity, fresh)?;
        return Ok(ScheduleOutcome {
            clusters,
            affinity_name: None,
        });
    }
    let observed = s(binding, "/status/schedulerObservingAffinityName");
    let start = if fresh {
        0
    } else {
        terms
            .iter()
            .position(|t| s(t, "/affinityName") == observed)
            .unwrap_or(0)
    };
    let mut first_err = None;
    for term in &terms[start..] {
        match run(spec, clusters, Some(term), fresh) {
            Ok(clusters) => {
                return Ok(ScheduleOutcome {
                    clusters,
                    affinity_name: Some(s(term, "/affinityName").to_string()),
                });
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err
        .unwrap_or_else(|| ScheduleError::Scheduler("no cluster affinity group to try".into())))
}

/// `util.RescheduleRequired`: `spec.rescheduleTriggeredAt` after `status.lastScheduledTime`.
fn reschedule_required(binding: &Value) -> bool {
    let at = crate::json::parse_time(s(binding, "/spec/rescheduleTriggeredAt"));
    let last = crate::json::parse_time(s(binding, "/status/lastScheduledTime"));
    matches!((at, last), (Some(a), Some(l)) if a > l)
}

/// A cluster that passed the filters, with what selection and division need to know.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    pub(crate) name: &'a str,
    pub(crate) cluster: &'a Value,
    /// Sum of score plugins (ClusterLocality: 100 when already a target).
    pub(crate) score: i64,
    /// Estimated replicas that still fit plus those already assigned here.
    pub(crate) available: i64,
    /// Estimated replicas that still fit.
    pub(crate) allocatable: i32,
}

/// One scheduling attempt with one cluster affinity (or none).
fn run(
    spec: &Value,
    clusters: &[Value],
    affinity: Option<&Value>,
    fresh: bool,
) -> Result<Vec<TargetCluster>, ScheduleError> {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible = Vec::new();
    for cluster in clusters {
        if present(cluster, "/metadata/deletionTimestamp") {
            continue;
        }
        match filter(spec, cluster, affinity) {
            Ok(()) => feasible.push(cluster),
            Err(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    if feasible.is_empty() {
        let detail = if clusters.is_empty() || reasons.is_empty() {
            "no cluster exists".to_string()
        } else {
            reasons
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ScheduleError::NoClusterFit(format!(
            "0/{} clusters are available: {detail}.",
            clusters.len()
        )));
    }
    let previous = previous_targets(spec);
    let replicas = replicas(spec);
    let mut candidates: Vec<Candidate> = feasible
        .into_iter()
        .map(|cluster| {
            let name = s(cluster, "/metadata/name");
            let score = if !previous.is_empty() && previous.iter().any(|(n, _)| n == name) {
                100
            } else {
                0
            };
            let allocatable = estimate::available_replicas(cluster, spec, replicas);
            let assigned = previous
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, r)| *r);
            Candidate {
                name,
                cluster,
                score,
                available: i64::from(allocatable) + i64::from(assigned),
                allocatable,
            }
        })
        .collect();
    spread::sort_candidates(&mut candidates);
    let selected = spread::select_best(spec, candidates, replicas)?;
    division::assign(spec, &selected, &previous, fresh)
}

/// The filter plugins in order; the first failure's reason is the cluster's.
fn filter(spec: &Value, cluster: &Value, affinity: Option<&Value>) -> Result<(), String> {
    let name = s(cluster, "/metadata/name");
    let targeted = targets_contain(spec, name);
    // APIEnablement: only when the cluster reports its APIs at all (see crate docs).
    let apis = arr(cluster, "/status/apiEnablements");
    if !targeted && !apis.is_empty() {
        let gv = s(spec, "/resource/apiVersion");
        let kind = s(spec, "/resource/kind");
        let enabled = apis.iter().any(|a| {
            s(a, "/groupVersion") == gv
                && arr(a, "/resources").iter().any(|r| s(r, "/kind") == kind)
        });
        if !enabled {
            return Err("cluster(s) did not have the API resource".into());
        }
    }
    if !targeted {
        let tolerations = arr(spec, "/placement/clusterTolerations");
        if let Some(taint) =
            find_untolerated_taint(arr(cluster, "/spec/taints"), tolerations, |t| {
                matches!(s(t, "/effect"), "NoSchedule" | "NoExecute")
            })
        {
            return Err(format!(
                "cluster(s) had untolerated taint {{{}}}",
                taint_string(taint)
            ));
        }
    }
    if let Some(a) = affinity
        && !cluster_matches(cluster, a)
    {
        return Err("cluster(s) did not match the placement cluster affinity constraint".into());
    }
    for sc in arr(spec, "/placement/spreadConstraints") {
        let missing = match s(sc, "/spreadByField") {
            "provider" if s(cluster, "/spec/provider").is_empty() => "provider",
            "region" if s(cluster, "/spec/region").is_empty() => "region",
            "zone" if arr(cluster, "/spec/zones").is_empty() => "zones",
            _ => continue,
        };
        return Err(format!("cluster(s) did not have {missing} property"));
    }
    if arr(spec, "/gracefulEvictionTasks")
        .iter()
        .any(|t| s(t, "/fromCluster") == name)
    {
        return Err("cluster(s) is in the process of eviction".into());
    }
    Ok(())
}

/// Whether the binding already targets a cluster (`spec.clusters` or `spec.requiredBy`).
fn targets_contain(spec: &Value, name: &str) -> bool {
    arr(spec, "/clusters").iter().any(|c| s(c, "/name") == name)
        || arr(spec, "/requiredBy")
            .iter()
            .any(|r| arr(r, "/clusters").iter().any(|c| s(c, "/name") == name))
}

/// The previous result `(name, replicas)`.
fn previous_targets(spec: &Value) -> Vec<(String, i32)> {
    arr(spec, "/clusters")
        .iter()
        .map(|c| {
            let r = int(c, "/replicas").unwrap_or(0);
            (s(c, "/name").to_string(), i32::try_from(r).unwrap_or(0))
        })
        .collect()
}

/// `spec.replicas` (0 when absent).
fn replicas(spec: &Value) -> i32 {
    int(spec, "/replicas")
        .and_then(|r| i32::try_from(r).ok())
        .unwrap_or(0)
        .max(0)
}

/// `placement.ReplicaSchedulingType()`: Duplicated when no replicaScheduling is given.
pub(crate) fn scheduling_type(placement: &Value) -> &str {
    match placement.get("replicaScheduling").filter(|v| !v.is_null()) {
        None => "Duplicated",
        Some(rs) => match s(rs, "/replicaSchedulingType") {
            "" => "Divided",
            t => t,
        },
    }
}

/// The binding's `Scheduled` condition for a scheduling result, as Karmada's
/// `getConditionByError` writes it.
pub fn scheduled_condition<T>(result: &Result<T, ScheduleError>, now: Timestamp) -> Value {
    let (reason, message, ok) = match result {
        Ok(_) => (
            "Success",
            "Binding has been scheduled successfully.".to_string(),
            true,
        ),
        Err(e @ ScheduleError::NoClusterFit(_)) => ("NoClusterFit", e.to_string(), false),
        Err(e @ ScheduleError::Unschedulable(_)) => ("Unschedulable", e.to_string(), false),
        Err(e @ ScheduleError::Scheduler(_)) => ("SchedulerError", e.to_string(), false),
    };
    crate::json::new_condition("Scheduled", reason, &message, ok, now)
}

/// The value of the `policy.karmada.io/applied-placement` annotation for a placement.
pub fn applied_placement(placement: &Value) -> String {
    placement.to_string()
}

/// Whether a binding needs (re)scheduling now (`doScheduleBinding`): never scheduled or its
/// placement changed since (the applied-placement annotation), replicas no longer add up,
/// a reschedule was triggered, it is Duplicated or not a workload, or a target cluster is gone
/// or being deleted.
pub fn needs_schedule(binding: &Value, clusters: &[Value]) -> bool {
    let spec = binding.get("spec").unwrap_or(&Value::Null);
    let placement = spec.get("placement").unwrap_or(&Value::Null);
    let applied = binding
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(crate::names::APPLIED_PLACEMENT_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|a| serde_json::from_str::<Value>(a).ok());
    let Some(applied) = applied else { return true };
    if &applied != placement {
        let part = |p: &Value, k: &str| p.get(k).cloned().filter(|v| !v.is_null());
        let others_changed = [
            "clusterAffinity",
            "clusterTolerations",
            "spreadConstraints",
            "replicaScheduling",
        ]
        .iter()
        .any(|k| part(placement, k) != part(&applied, k));
        let observed = s(binding, "/status/schedulerObservingAffinityName");
        let term = |p: &Value| {
            arr(p, "/clusterAffinities")
                .iter()
                .find(|t| s(t, "/affinityName") == observed)
                .cloned()
        };
        if others_changed
            || observed.is_empty()
            || term(placement).is_none()
            || term(placement) != term(&applied)
        {
            return true;
        }
    }
    let replicas = replicas(spec);
    let previous = previous_targets(spec);
    let has_strategy = placement
        .get("replicaScheduling")
        .is_some_and(|v| !v.is_null());
    match scheduling_type(placement) {
        "Duplicated" if has_strategy && previous.iter().any(|(_, r)| *r != replicas) => {
            return true;
        }
        "Divided"
            if has_strategy
                && previous.iter().map(|(_, r)| i64::from(*r)).sum::<i64>()
                    != i64::from(replicas) =>
        {
            return true;
        }
        _ => {}
    }
    if reschedule_required(binding) {
        return true;
    }
    let workload = replicas > 0 || present(spec, "/replicaRequirements");
    if !workload || scheduling_type(placement) == "Duplicated" {
        return true;
    }
    previous.iter().any(|(name, _)| {
        !clusters
            .iter()
            .any(|c| s(c, "/metadata/name") == name && !present(c, "/metadata/deletionTimestamp"))
    })
}

/// The names of the clusters a result targets.
pub fn target_names(result: &[TargetCluster]) -> Vec<&str> {
    result.iter().map(|t| t.name.as_str()).collect()
}

/// The clusters of `spec.clusters` as [`TargetCluster`]s.
pub fn spec_clusters(binding_spec: &Value) -> Vec<TargetCluster> {
    arr(binding_spec, "/clusters")
        .iter()
        .map(|c| TargetCluster {
            name: s(c, "/name").to_string(),
            replicas: int(c, "/replicas")
                .and_then(|r| i32::try_from(r).ok())
                .filter(|r| *r > 0),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
