//! Application failover (`spec.failover.application`), as Karmada's
//! `pkg/controllers/applicationfailover` decides it (`rb_application_failover_controller.go`,
//! `common.go`): a workload that a target cluster reports `Unhealthy` for longer than
//! `decisionConditions.tolerationSeconds` is evicted from that cluster with a graceful
//! eviction task (reason `ApplicationFailure`, the policy's `purgeMode` and
//! `gracePeriodSeconds`), so the scheduler places its replicas elsewhere while the old copy
//! stays as long as the purge mode says.
//!
//! As in Karmada, only bindings with `propagateDeps: true` take part (its `bindingFilter`: the
//! dependencies must be able to follow the workload), a cluster already being evicted is not
//! looked at, and when each cluster turned unhealthy is remembered in memory by the caller
//! (Karmada's `workloadUnhealthyMap`): a restart starts the toleration again.

use std::collections::HashMap;

use cceone_karmada_api::policy::ApplicationFailover;
use cceone_karmada_api::{GracefulEvictionTask, ResourceBinding};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The producer recorded on the eviction tasks (Karmada's controller name).
pub const PRODUCER: &str = "resource-binding-application-failover-controller";
/// The reason recorded on the eviction tasks (Karmada's `EvictionReasonApplicationFailure`).
pub const REASON: &str = "ApplicationFailure";
/// `decisionConditions.tolerationSeconds` when not set (the API's default).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// When the workload turned unhealthy in each cluster, for one binding.
pub type UnhealthySince = HashMap<String, Timestamp>;

/// What to do now for one binding.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// Clusters to evict the workload from now.
    pub evict: Vec<String>,
    /// When to look again (a toleration still running), if at all.
    pub recheck: Option<SignedDuration>,
}

/// The binding's application failover settings, if it takes part (see the module docs).
pub fn settings(binding: &ResourceBinding) -> Option<&ApplicationFailover> {
    let spec = binding.spec.as_ref()?;
    if spec.propagate_deps != Some(true) {
        return None;
    }
    spec.failover.as_ref()?.application.as_ref()
}

/// `decisionConditions.tolerationSeconds`, at least 0.
pub fn toleration(app: &ApplicationFailover) -> SignedDuration {
    let secs = app
        .decision_conditions
        .as_ref()
        .and_then(|d| d.get("tolerationSeconds"))
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_TOLERATION_SECONDS)
        .max(0);
    SignedDuration::from_secs(secs)
}

/// `syncBinding`'s decision: updates `since` (clusters newly unhealthy start their toleration;
/// clusters healthy again, unknown, evicted or no longer targeted are forgotten) and returns
/// the clusters whose toleration has run out.
pub fn decide(binding: &ResourceBinding, since: &mut UnhealthySince, now: Timestamp) -> Decision {
    let Some(app) = settings(binding) else {
        since.clear();
        return Decision::default();
    };
    let toleration = toleration(app);
    let spec = binding.spec();
    let evicting = |c: &str| {
        spec.graceful_eviction_tasks()
            .iter()
            .any(|t| t.from_cluster == c)
    };
    let targeted = |c: &str| spec.clusters().iter().any(|t| t.name == c);
    let items = binding
        .status
        .as_ref()
        .map_or(&[][..], |s| s.aggregated_status());
    let unhealthy: Vec<&str> = items
        .iter()
        .filter(|i| i.health.as_deref() == Some("Unhealthy"))
        .map(|i| i.cluster_name.as_str())
        .filter(|c| targeted(c) && !evicting(c))
        .collect();
    since.retain(|c, _| unhealthy.contains(&c.as_str()));

    let mut decision = Decision::default();
    for cluster in unhealthy {
        let start = *since.entry(cluster.to_string()).or_insert(now);
        let left = toleration - now.duration_since(start);
        if left.is_negative() || left.is_zero() {
            decision.evict.push(cluster.to_string());
        } else {
            decision.recheck = Some(decision.recheck.map_or(left, |r| r.min(left)));
        }
    }
    decision
}

/// The eviction task for a cluster (`buildTaskOptions`): the policy's purge mode (default
/// `Gracefully`) and, when graceful, its grace period.
pub fn task(app: &ApplicationFailover, cluster: &str) -> GracefulEvictionTask {
    let purge = app
        .purge_mode
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Gracefully".to_string());
    let graceful = matches!(purge.as_str(), "Gracefully" | "Graciously");
    GracefulEvictionTask {
        purge_mode: Some(purge),
        grace_period_seconds: app.grace_period_seconds.filter(|_| graceful),
        reason: Some(REASON.into()),
        message: Some(format!(
            "the workload has been unhealthy in cluster {cluster} for longer than the policy tolerates"
        )),
        producer: Some(PRODUCER.into()),
        ..GracefulEvictionTask::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding(health: &[(&str, &str)], deps: bool, tasks: &[&str]) -> ResourceBinding {
        let items: Vec<Value> = health
            .iter()
            .map(|(c, h)| json!({"clusterName": c, "applied": true, "health": h}))
            .collect();
        let clusters: Vec<Value> = health
            .iter()
            .map(|(c, _)| json!({"name": c, "replicas": 1}))
            .collect();
        let tasks: Vec<Value> = tasks.iter().map(|c| json!({"fromCluster": c})).collect();
        ResourceBinding::from_value(&json!({
            "apiVersion": "work.karmada.io/v1alpha2", "kind": "ResourceBinding",
            "metadata": {"name": "b", "namespace": "default"},
            "spec": {
                "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                "propagateDeps": deps,
                "clusters": clusters,
                "gracefulEvictionTasks": tasks,
                "failover": {"application": {
                    "decisionConditions": {"tolerationSeconds": 30},
                    "purgeMode": "Gracefully", "gracePeriodSeconds": 60}},
            },
            "status": {"aggregatedStatus": items},
        }))
        .unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn evicts_after_the_toleration_and_not_before() {
        let b = binding(&[("m1", "Unhealthy"), ("m2", "Healthy")], true, &[]);
        let mut since = UnhealthySince::new();
        let d = decide(&b, &mut since, at(0));
        assert!(d.evict.is_empty());
        assert_eq!(d.recheck, Some(SignedDuration::from_secs(30)));
        let d = decide(&b, &mut since, at(20));
        assert_eq!(d.recheck, Some(SignedDuration::from_secs(10)));
        let d = decide(&b, &mut since, at(30));
        assert_eq!(d.evict, vec!["m1".to_string()]);
    }

    #[test]
    fn recovery_restarts_the_toleration() {
        let mut since = UnhealthySince::new();
        decide(
            &binding(&[("m1", "Unhealthy")], true, &[]),
            &mut since,
            at(0),
        );
        decide(
            &binding(&[("m1", "Healthy")], true, &[]),
            &mut since,
            at(20),
        );
        assert!(since.is_empty());
        let d = decide(
            &binding(&[("m1", "Unhealthy")], true, &[]),
            &mut since,
            at(40),
        );
        assert!(d.evict.is_empty(), "the toleration starts again at 40");
    }

    #[test]
    fn needs_propagate_deps_and_skips_clusters_being_evicted() {
        let mut since = UnhealthySince::new();
        let d = decide(
            &binding(&[("m1", "Unhealthy")], false, &[]),
            &mut since,
            at(0),
        );
        assert_eq!(d, Decision::default());
        assert!(since.is_empty());
        let b = binding(&[("m1", "Unhealthy")], true, &["m1"]);
        assert_eq!(decide(&b, &mut since, at(0)), Decision::default());
    }

    #[test]
    fn the_task_carries_the_policy_purge_mode() {
        let b = binding(&[("m1", "Unhealthy")], true, &[]);
        let t = task(settings(&b).unwrap(), "m1");
        assert_eq!(t.purge_mode.as_deref(), Some("Gracefully"));
        assert_eq!(t.grace_period_seconds, Some(60));
        assert_eq!(t.reason.as_deref(), Some(REASON));
        assert_eq!(t.producer.as_deref(), Some(PRODUCER));
        let never = ApplicationFailover {
            purge_mode: Some("Never".into()),
            grace_period_seconds: Some(60),
            ..ApplicationFailover::default()
        };
        assert_eq!(task(&never, "m1").grace_period_seconds, None);
    }
}
