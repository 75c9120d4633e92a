//! The scheduler: a binding's placement over the Cluster objects becomes its `spec.clusters`
//! (Karmada's `doScheduleBinding`: only when the placement, the replicas or the clusters it
//! targets changed), with the `Scheduled` condition, `schedulerObservedGeneration` and
//! `lastScheduledTime` in its status.
//!
//! Before scheduling it plays Karmada's taint manager ([`super::eviction`]), moving the binding
//! off clusters whose NoExecute taints it does not tolerate, and its application failover
//! controller ([`cceone_federation_core::appfailover`]), moving it off clusters that have
//! reported the workload unhealthy for longer than the policy tolerates.

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::health::evict_cluster_with;
use cceone_federation_core::scheduler::{
    ScheduleError, applied_placement, failback, needs_schedule, schedule_binding,
    scheduled_condition,
};
use cceone_federation_core::{appfailover, names};
use cceone_karmada_api::meta::format_time;
use cceone_karmada_api::{BindingStatus, ResourceBinding, set_condition};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::eviction::{earliest, evict_tainted};
use crate::error::Error;
use crate::json::{merge_diff, s, set};
use crate::resources;
use crate::runtime::{ObjKey, Requeue};

/// How often a binding that could not be scheduled is looked at again.
const RETRY: Duration = Duration::from_secs(5);

/// What of a binding the scheduler writes in its main resource.
fn projection(binding: &Value) -> Value {
    json!({
        "metadata": {"annotations": binding.pointer("/metadata/annotations")},
        "spec": {
            "clusters": binding.pointer("/spec/clusters"),
            "gracefulEvictionTasks": binding.pointer("/spec/gracefulEvictionTasks"),
        },
    })
}

/// Schedule one binding.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: ObjKey) -> Result<Requeue, Error> {
    let Some(live) = ctx.binding(&key) else {
        ctx.unhealthy_apps.lock().remove(&key);
        return Ok(None);
    };
    let binding = ResourceBinding::from_value(&live)?;
    if binding.deleting() {
        return Ok(None);
    }
    if binding.spec().placement.is_none() {
        // No policy places it (an attached binding of dependencies, which follows the
        // bindings that require it): Karmada's scheduler leaves such bindings alone too.
        return Ok(None);
    }
    if binding
        .spec()
        .suspension
        .as_ref()
        .is_some_and(|s| s.scheduling == Some(true))
    {
        // `suspension.scheduling` (Karmada's scheduler skips a suspended binding until it is
        // resumed; the binding's Suspended condition says so).
        return Ok(None);
    }
    let scheduler = binding.spec().scheduler_name().to_string();
    if !scheduler.is_empty() && scheduler != names::DEFAULT_SCHEDULER {
        return Ok(None);
    }
    let bar = resources::binding_for(&key);
    let clusters = ctx.cluster_values();
    let now = Timestamp::now();

    let (spec, mut requeue) = evict_tainted(&binding, &clusters, now);
    let mut want = binding.clone();
    want.spec = Some(spec);
    // Only bindings that take part in application failover keep unhealthy-since times.
    let decision = match appfailover::settings(&want).cloned() {
        None => {
            ctx.unhealthy_apps.lock().remove(&key);
            appfailover::Decision::default()
        }
        Some(app) => {
            let decision = {
                let mut unhealthy = ctx.unhealthy_apps.lock();
                let since = unhealthy.entry(key.clone()).or_default();
                let decision = appfailover::decide(&want, since, now);
                if since.is_empty() {
                    unhealthy.remove(&key);
                }
                decision
            };
            for cluster in &decision.evict {
                tracing::info!(binding = %key, cluster = %cluster, "application unhealthy past its toleration; evicting");
                let task = appfailover::task(&app, cluster);
                evict_cluster_with(want.spec_mut(), cluster, task, now);
            }
            decision
        }
    };
    if let Some(left) = decision.recheck {
        let left = Duration::try_from(left).unwrap_or(RETRY);
        requeue = earliest(requeue, left + Duration::from_millis(10));
    }

    let condition;
    let mut affinity = None;
    let mut scheduled_now = false;
    if needs_schedule(&want, &clusters) {
        let result = schedule_binding(&want, &clusters);
        condition = scheduled_condition(&result, now);
        let applied = applied_placement(want.spec().placement.as_ref());
        match result {
            Ok(outcome) => {
                scheduled_now = true;
                want.spec_mut().clusters = Some(outcome.clusters);
                want.metadata
                    .annotations_mut()
                    .insert(names::APPLIED_PLACEMENT_ANNOTATION.into(), applied);
                affinity = outcome.affinity_name;
            }
            Err(ScheduleError::NoClusterFit(msg)) => {
                tracing::info!(binding = %key, reason = %msg, "no cluster fits");
                want.spec_mut().clusters = Some(Vec::new());
                want.metadata
                    .annotations_mut()
                    .insert(names::APPLIED_PLACEMENT_ANNOTATION.into(), applied);
            }
            Err(e) => {
                tracing::info!(binding = %key, reason = %e, "binding could not be scheduled");
                requeue = earliest(requeue, RETRY);
            }
        }
    } else if let Some(outcome) = failback(&want, &clusters) {
        tracing::info!(binding = %key, clusters = ?outcome.clusters, "failback: replicas return to a recovered cluster");
        condition = scheduled_condition(&Ok::<(), ScheduleError>(()), now);
        scheduled_now = true;
        want.spec_mut().clusters = Some(outcome.clusters);
        affinity = outcome.affinity_name;
    } else {
        // Nothing to schedule means the spec already holds a schedule of the current
        // placement: Scheduled is True (this also completes a write cut short by a conflict).
        condition = scheduled_condition(&Ok::<(), ScheduleError>(()), now);
    }

    let clusters_changed = binding.clusters() != want.clusters();
    let mut current = live;
    if let Some(mut patch) = merge_diff(&projection(&current), &projection(&want.to_value())) {
        let rv = json!(s(&current, "/metadata/resourceVersion"));
        set(&mut patch, &["metadata", "resourceVersion"], rv);
        tracing::debug!(binding = %key, clusters = ?want.clusters(), "writing schedule");
        current = ctx.writer.merge_patch(&bar, &key, &patch, false).await?;
    }

    let old_status = current.get("status").cloned().unwrap_or(json!({}));
    let mut status = BindingStatus::deserialize(&old_status)?;
    set_condition(status.conditions.get_or_insert_with(Vec::new), condition);
    if let Some(name) = affinity {
        status.scheduler_observing_affinity_name = Some(name);
    }
    if scheduled_now && (clusters_changed || status.last_scheduled_time.is_none()) {
        status.last_scheduled_time = Some(format_time(now));
    }
    if let Some(generation) = current
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
    {
        status.scheduler_observed_generation = Some(generation);
    }
    if let Some(diff) = merge_diff(&old_status, &serde_json::to_value(&status)?) {
        tracing::debug!(binding = %key, "writing schedule status");
        let patch = json!({
            "metadata": {"resourceVersion": s(&current, "/metadata/resourceVersion")},
            "status": diff,
        });
        ctx.writer.merge_patch(&bar, &key, &patch, true).await?;
    }
    Ok(requeue)
}
