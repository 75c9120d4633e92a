//! Failover: Karmada's taint manager and graceful eviction, over the pure decisions of
//! `federation-core`'s `health` module.
//!
//! The scheduler calls [`evict_tainted`] before scheduling: a target cluster with a NoExecute
//! taint the binding does not tolerate (or no longer tolerates, past `tolerationSeconds`)
//! leaves `spec.clusters` for a graceful eviction task, so the replicas add up short and are
//! rescheduled onto the healthy clusters. The binding controller keeps the evicted cluster's
//! Work and calls [`settle_tasks`] after dispatching: a task ends once the new placement has
//! been dispatched and reports healthy at its current generation, or when its grace period is
//! over; then the old Work goes.

use std::time::Duration;

use cceone_federation_core::health::{Eviction, assess_eviction_tasks, evict_cluster, eviction};
use cceone_federation_core::work::execution_space;
use cceone_karmada_api::{BindingSpec, Cluster, GracefulEvictionTask, ResourceBinding, Work};
use jiff::{SignedDuration, Timestamp};

use crate::runtime::Requeue;

/// How often a binding with graceful evictions in flight is looked at again (their grace
/// period is measured from their creation).
pub(crate) const TASK_RECHECK: Duration = Duration::from_secs(5);

/// The earlier of two requeue requests.
pub(crate) fn earliest(a: Requeue, b: Duration) -> Requeue {
    Some(a.map_or(b, |a| a.min(b)))
}

/// The binding's spec after evicting it from clusters whose NoExecute taints it does not
/// tolerate, and when to look again (when a toleration runs out).
pub(crate) fn evict_tainted(
    binding: &ResourceBinding,
    clusters: &[Cluster],
    now: Timestamp,
) -> (BindingSpec, Requeue) {
    let mut spec = binding.spec().into_owned();
    let mut requeue = None;
    let tolerations = spec
        .placement
        .as_ref()
        .map(|p| p.cluster_tolerations().to_vec())
        .unwrap_or_default();
    for target in binding.clusters() {
        let Some(cluster) = clusters.iter().find(|c| c.name() == target.name) else {
            continue;
        };
        match eviction(&tolerations, cluster.taints(), now) {
            Eviction::Never => {}
            Eviction::Now => {
                tracing::info!(binding = %binding.name(), cluster = %target.name, "evicting from a tainted cluster");
                evict_cluster(&mut spec, &target.name, now);
            }
            Eviction::At(at) => {
                let wait = Duration::try_from(at.duration_since(now)).unwrap_or(TASK_RECHECK);
                requeue = earliest(requeue, wait + Duration::from_millis(10));
            }
        }
    }
    (spec, requeue)
}

/// The binding as the assessment should see it: a cluster is healthy only if `settled` and
/// its Work has been applied at its current generation, whatever it reported before.
fn with_fresh_health(binding: &ResourceBinding, works: &[Work], settled: bool) -> ResourceBinding {
    let mut b = binding.clone();
    let Some(items) = b.status.as_mut().and_then(|s| s.aggregated_status.as_mut()) else {
        return b;
    };
    for item in items {
        let space = execution_space(&item.cluster_name);
        let stale = works.iter().filter(|w| w.namespace() == space).any(|w| {
            let applied = w.applied().and_then(|c| c.observed_generation);
            applied < w.metadata.generation
        });
        if stale || !settled {
            item.health = Some("Unknown".into());
        }
    }
    b
}

/// The graceful eviction tasks to keep, if that differs from the binding's, and whether to
/// look again later. `settled` says the binding is scheduled at its current generation and
/// every target's Work is as dispatched now.
pub(crate) fn settle_tasks(
    binding: &ResourceBinding,
    works: &[Work],
    settled: bool,
    now: Timestamp,
    timeout: Duration,
) -> (Option<Vec<GracefulEvictionTask>>, Requeue) {
    let tasks = binding.spec().graceful_eviction_tasks().to_vec();
    if tasks.is_empty() {
        return (None, None);
    }
    let timeout = SignedDuration::try_from(timeout).unwrap_or(SignedDuration::MAX);
    let (kept, _done) =
        assess_eviction_tasks(&with_fresh_health(binding, works, settled), now, timeout);
    let requeue = (!kept.is_empty()).then_some(TASK_RECHECK);
    ((kept != tasks).then_some(kept), requeue)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use cceone_federation_core::names;
    use serde_json::{Value, json};

    use super::*;

    fn cluster(name: &str, taints: Value) -> Cluster {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"syncMode": "Pull", "taints": taints}}),
        )
        .unwrap()
    }

    fn evict_tainted(binding: &Value, clusters: &[Cluster], now: Timestamp) -> (Value, Requeue) {
        let binding: ResourceBinding = serde_json::from_value(binding.clone()).unwrap();
        let (spec, requeue) = super::evict_tainted(&binding, clusters, now);
        (serde_json::to_value(spec).unwrap(), requeue)
    }

    #[test]
    fn an_untolerated_no_execute_taint_evicts_into_a_graceful_task() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let binding = json!({"metadata": {"name": "nginx-deployment"}, "spec": {
            "replicas": 3,
            "placement": {"replicaScheduling": {"replicaSchedulingType": "Divided"}},
            "clusters": [{"name": "m1", "replicas": 1}, {"name": "m2", "replicas": 2}]}});
        let clusters = [
            cluster(
                "m1",
                json!([{"key": names::TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": "2024-12-31T23:59:00Z"}]),
            ),
            cluster("m2", json!([])),
        ];
        let (spec, requeue) = evict_tainted(&binding, &clusters, now);
        assert_eq!(spec["clusters"], json!([{"name": "m2", "replicas": 2}]));
        assert_eq!(spec["gracefulEvictionTasks"][0]["fromCluster"], "m1");
        assert_eq!(requeue, None);
    }

    #[test]
    fn a_tolerated_taint_is_looked_at_again_when_the_toleration_ends() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let binding = json!({"metadata": {"name": "b"}, "spec": {
            "placement": {"clusterTolerations": [{"key": names::TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
            "clusters": [{"name": "m1"}]}});
        let clusters = [cluster(
            "m1",
            json!([{"key": names::TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"}]),
        )];
        let (spec, requeue) = evict_tainted(&binding, &clusters, now);
        assert_eq!(spec["clusters"], json!([{"name": "m1"}]));
        let wait = requeue.unwrap();
        assert!(
            wait >= Duration::from_secs(300) && wait < Duration::from_secs(301),
            "{wait:?}"
        );
    }

    fn work(ns: &str, generation: i64, observed: i64) -> Work {
        serde_json::from_value(
            json!({"metadata": {"namespace": ns, "generation": generation},
            "status": {"conditions": [{"type": "Applied", "status": "True", "observedGeneration": observed}]}}),
        )
        .unwrap()
    }

    #[test]
    fn a_task_ends_only_when_the_new_placement_is_dispatched_and_healthy() {
        let now: Timestamp = "2025-01-01T00:00:10Z".parse().unwrap();
        let binding: ResourceBinding = serde_json::from_value(json!({
            "spec": {"clusters": [{"name": "m2", "replicas": 4}], "gracefulEvictionTasks": [
                {"fromCluster": "m1", "purgeMode": "Gracefully", "creationTimestamp": "2025-01-01T00:00:00Z"}]},
            "status": {
                "conditions": [{"type": "Scheduled", "status": "True"}],
                "aggregatedStatus": [{"clusterName": "m2", "health": "Healthy"}]}}))
        .unwrap();
        let timeout = Duration::from_secs(600);
        // The Work of m2 was updated but not applied yet.
        let (kept, requeue) =
            settle_tasks(&binding, &[work("karmada-es-m2", 2, 1)], true, now, timeout);
        assert_eq!(kept, None);
        assert_eq!(requeue, Some(TASK_RECHECK));
        // Not settled: kept whatever the health says.
        let (kept, _) = settle_tasks(
            &binding,
            &[work("karmada-es-m2", 2, 2)],
            false,
            now,
            timeout,
        );
        assert_eq!(kept, None);
        // Applied at its generation and healthy: the task ends.
        let (kept, requeue) =
            settle_tasks(&binding, &[work("karmada-es-m2", 2, 2)], true, now, timeout);
        assert_eq!(kept, Some(Vec::new()));
        assert_eq!(requeue, None);
        // Past the grace period it ends anyway.
        let late: Timestamp = "2025-01-01T01:00:00Z".parse().unwrap();
        let (kept, _) = settle_tasks(&binding, &[], false, late, timeout);
        assert_eq!(kept, Some(Vec::new()));
    }
}
