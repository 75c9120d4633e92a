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

use std::sync::LazyLock;

use cceone_karmada_api::meta::parse_time;
use cceone_karmada_api::policy::Placement;
use cceone_karmada_api::{BindingSpec, Cluster, ClusterAffinity, Condition, ResourceBinding};
use jiff::Timestamp;
use serde_json::Value;

use crate::selector::{cluster_matches, find_untolerated_taint, taint_string};

mod division;
pub use division::fnv32a;
mod estimate;
mod spread;

pub use division::allocate_webster;

/// One cluster of a scheduling result (`spec.clusters[]`).
pub use cceone_karmada_api::TargetCluster;

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
    binding_spec: &BindingSpec,
    clusters: &[Cluster],
) -> Result<Vec<TargetCluster>, ScheduleError> {
    let binding = ResourceBinding {
        spec: Some(binding_spec.clone()),
        ..ResourceBinding::default()
    };
    schedule_binding(&binding, clusters).map(|o| o.clusters)
}

/// The placement of a binding spec (the empty one when it has none).
pub(crate) fn placement_of(spec: &BindingSpec) -> &Placement {
    static EMPTY: LazyLock<Placement> = LazyLock::new(Placement::default);
    spec.placement.as_ref().unwrap_or(&EMPTY)
}

/// The spec of a binding (the empty one when it has none).
fn spec_of(binding: &ResourceBinding) -> &BindingSpec {
    static EMPTY: LazyLock<BindingSpec> = LazyLock::new(BindingSpec::default);
    binding.spec.as_ref().unwrap_or(&EMPTY)
}

/// `status.schedulerObservingAffinityName` (empty when absent).
fn observed_affinity(binding: &ResourceBinding) -> &str {
    binding
        .status
        .as_ref()
        .and_then(|s| s.scheduler_observing_affinity_name.as_deref())
        .unwrap_or("")
}

/// Schedules a whole binding: like [`schedule`], but ordered `clusterAffinities` start from the
/// group named in `status.schedulerObservingAffinityName` (back to the first when
/// `spec.rescheduleTriggeredAt` is after `status.lastScheduledTime`), and dynamic division
/// recalculates from scratch in that case too (Karmada's Fresh mode).
pub fn schedule_binding(
    binding: &ResourceBinding,
    clusters: &[Cluster],
) -> Result<ScheduleOutcome, ScheduleError> {
    schedule_binding_with(binding, clusters, reschedule_required(binding))
}

/// Failback (`failover.cluster.failback: Always`, beyond Karmada): the fresh schedule of a
/// binding whose replicas are divided, when it would put replicas on a cluster that has none
/// of them now — a cluster that recovered since failover moved them away, or one that joined.
/// None when failback is off, nothing would return, or the binding cannot be scheduled.
pub fn failback(binding: &ResourceBinding, clusters: &[Cluster]) -> Option<ScheduleOutcome> {
    let spec = spec_of(binding);
    if !spec.failover.as_ref().is_some_and(|f| f.fails_back())
        || scheduling_type(placement_of(spec)) != "Divided"
    {
        return None;
    }
    let outcome = schedule_binding_with(binding, clusters, true).ok()?;
    let current = spec.clusters();
    let returns = outcome.clusters.iter().any(|t| {
        t.replicas.unwrap_or(0) > 0
            && !current
                .iter()
                .any(|c| c.name == t.name && c.replicas.unwrap_or(0) > 0)
    });
    returns.then_some(outcome)
}

fn schedule_binding_with(
    binding: &ResourceBinding,
    clusters: &[Cluster],
    fresh: bool,
) -> Result<ScheduleOutcome, ScheduleError> {
    let spec = spec_of(binding);
    let placement = placement_of(spec);
    let terms = placement.cluster_affinities();
    if placement.cluster_affinity.is_some() || terms.is_empty() {
        let clusters = run(spec, clusters, placement.cluster_affinity.as_ref(), fresh)?;
        return Ok(ScheduleOutcome {
            clusters,
            affinity_name: None,
        });
    }
    let observed = observed_affinity(binding);
    let start = if fresh {
        0
    } else {
        terms
            .iter()
            .position(|t| t.affinity_name == observed)
            .unwrap_or(0)
    };
    let mut first_err = None;
    for term in &terms[start..] {
        match run(spec, clusters, Some(&term.affinity), fresh) {
            Ok(clusters) => {
                return Ok(ScheduleOutcome {
                    clusters,
                    affinity_name: Some(term.affinity_name.clone()),
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
fn reschedule_required(binding: &ResourceBinding) -> bool {
    let at = spec_of(binding)
        .reschedule_triggered_at
        .as_deref()
        .and_then(parse_time);
    let last = binding
        .status
        .as_ref()
        .and_then(|s| s.last_scheduled_time.as_deref())
        .and_then(parse_time);
    matches!((at, last), (Some(a), Some(l)) if a > l)
}

/// A cluster that passed the filters, with what selection and division need to know.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    pub(crate) name: &'a str,
    pub(crate) cluster: &'a Cluster,
    /// Sum of score plugins (ClusterLocality: 100 when already a target).
    pub(crate) score: i64,
    /// Estimated replicas that still fit plus those already assigned here.
    pub(crate) available: i64,
    /// Estimated replicas that still fit.
    pub(crate) allocatable: i32,
}

/// One scheduling attempt with one cluster affinity (or none).
fn run(
    spec: &BindingSpec,
    clusters: &[Cluster],
    affinity: Option<&ClusterAffinity>,
    fresh: bool,
) -> Result<Vec<TargetCluster>, ScheduleError> {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible = Vec::new();
    for cluster in clusters {
        if cluster.deleting() {
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
            let name = cluster.name();
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
fn filter(
    spec: &BindingSpec,
    cluster: &Cluster,
    affinity: Option<&ClusterAffinity>,
) -> Result<(), String> {
    let name = cluster.name();
    let targeted = targets_contain(spec, name);
    // APIEnablement: only when the cluster reports its APIs at all (see crate docs).
    let apis = cluster
        .status
        .as_ref()
        .map_or(&[][..], |s| s.api_enablements());
    if !targeted && !apis.is_empty() {
        let (gv, kind) = (&spec.resource.api_version, &spec.resource.kind);
        let enabled = apis
            .iter()
            .any(|a| a.group_version == *gv && a.resources().iter().any(|r| r.kind == *kind));
        if !enabled {
            return Err("cluster(s) did not have the API resource".into());
        }
    }
    let placement = placement_of(spec);
    if !targeted {
        let tolerations = placement.cluster_tolerations();
        if let Some(taint) = find_untolerated_taint(cluster.taints(), tolerations, |t| {
            matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
        }) {
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
    let cspec = cluster.spec.as_ref();
    for sc in placement.spread_constraints() {
        let missing = match sc.spread_by_field.as_deref().unwrap_or("") {
            "provider" if cspec.is_none_or(|c| c.provider().is_empty()) => "provider",
            "region" if cspec.is_none_or(|c| c.region().is_empty()) => "region",
            "zone" if cspec.is_none_or(|c| c.zones.as_ref().is_none_or(Vec::is_empty)) => "zones",
            _ => continue,
        };
        return Err(format!("cluster(s) did not have {missing} property"));
    }
    if spec
        .graceful_eviction_tasks()
        .iter()
        .any(|t| t.from_cluster == name)
    {
        return Err("cluster(s) is in the process of eviction".into());
    }
    Ok(())
}

/// Whether the binding already targets a cluster (`spec.clusters` or `spec.requiredBy`).
fn targets_contain(spec: &BindingSpec, name: &str) -> bool {
    spec.clusters().iter().any(|c| c.name == name)
        || spec
            .required_by
            .iter()
            .flatten()
            .any(|r| r.clusters.iter().flatten().any(|c| c.name == name))
}

/// The previous result `(name, replicas)`.
fn previous_targets(spec: &BindingSpec) -> Vec<(String, i32)> {
    spec.clusters()
        .iter()
        .map(|c| (c.name.clone(), c.replicas.unwrap_or(0)))
        .collect()
}

/// `spec.replicas` (0 when absent).
fn replicas(spec: &BindingSpec) -> i32 {
    spec.replicas.unwrap_or(0).max(0)
}

/// `placement.ReplicaSchedulingType()`: Duplicated when no replicaScheduling is given.
pub(crate) fn scheduling_type(placement: &Placement) -> &str {
    match &placement.replica_scheduling {
        None => "Duplicated",
        Some(rs) => match rs.replica_scheduling_type.as_deref().unwrap_or("") {
            "" => "Divided",
            t => t,
        },
    }
}

/// The binding's `Scheduled` condition for a scheduling result, as Karmada's
/// `getConditionByError` writes it.
pub fn scheduled_condition<T>(result: &Result<T, ScheduleError>, now: Timestamp) -> Condition {
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
    Condition::new("Scheduled", reason, &message, ok, now)
}

/// The value of the `policy.karmada.io/applied-placement` annotation for a placement: its JSON
/// with keys in order (as written before the API was typed, so existing annotations stay).
pub fn applied_placement(placement: Option<&Placement>) -> String {
    match placement {
        Some(p) => serde_json::to_value(p).unwrap_or(Value::Null).to_string(),
        None => Value::Null.to_string(),
    }
}

/// Whether a binding needs (re)scheduling now (`doScheduleBinding`): never scheduled or its
/// placement changed since (the applied-placement annotation), replicas no longer add up,
/// a reschedule was triggered, it is Duplicated or not a workload, or a target cluster is gone
/// or being deleted.
pub fn needs_schedule(binding: &ResourceBinding, clusters: &[Cluster]) -> bool {
    let spec = spec_of(binding);
    let placement = placement_of(spec);
    let applied = binding
        .metadata
        .annotation(crate::names::APPLIED_PLACEMENT_ANNOTATION)
        .and_then(|a| serde_json::from_str::<Option<Placement>>(a).ok());
    let Some(applied) = applied else { return true };
    let applied = applied.unwrap_or_default();
    if applied != *placement {
        let others_changed = applied.cluster_affinity != placement.cluster_affinity
            || applied.cluster_tolerations != placement.cluster_tolerations
            || applied.spread_constraints != placement.spread_constraints
            || applied.replica_scheduling != placement.replica_scheduling;
        let observed = observed_affinity(binding);
        let term = |p: &Placement| {
            p.cluster_affinities()
                .iter()
                .find(|t| t.affinity_name == observed)
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
    let has_strategy = placement.replica_scheduling.is_some();
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
    if !spec.is_workload() || scheduling_type(placement) == "Duplicated" {
        return true;
    }
    previous
        .iter()
        .any(|(name, _)| !clusters.iter().any(|c| c.name() == name && !c.deleting()))
}

/// The names of the clusters a result targets.
pub fn target_names(result: &[TargetCluster]) -> Vec<&str> {
    result.iter().map(|t| t.name.as_str()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
