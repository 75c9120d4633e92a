//! The scheduler: a binding's placement over the Cluster objects becomes its `spec.clusters`
//! (Karmada's `doScheduleBinding`: only when the placement, the replicas or the clusters it
//! targets changed), with the `Scheduled` condition, `schedulerObservedGeneration` and
//! `lastScheduledTime` in its status.
//!
//! Before scheduling it plays Karmada's taint manager ([`super::eviction`]), moving the binding
//! off clusters whose NoExecute taints it does not tolerate.

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::names;
use cceone_federation_core::scheduler::{
    ScheduleError, applied_placement, needs_schedule, schedule_binding, scheduled_condition,
};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Ctx;
use super::eviction::{earliest, evict_tainted};
use crate::error::Error;
use crate::json::{arr, deleting, merge_diff, s, set, set_condition};
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
        return Ok(None);
    };
    if deleting(&live) {
        return Ok(None);
    }
    let scheduler = s(&live, "/spec/schedulerName");
    if !scheduler.is_empty() && scheduler != names::DEFAULT_SCHEDULER {
        return Ok(None);
    }
    let bar = resources::binding_for(&key);
    let clusters = ctx.cluster_values();
    let now = Timestamp::now();

    let (spec, mut requeue) = evict_tainted(&live, &clusters, now);
    let mut want = (*live).clone();
    set(&mut want, &["spec"], spec);

    let condition;
    let mut affinity = None;
    let mut scheduled_now = false;
    if needs_schedule(&want, &clusters) {
        let result = schedule_binding(&want, &clusters);
        condition = scheduled_condition(&result, now);
        let placement = want
            .pointer("/spec/placement")
            .cloned()
            .unwrap_or(Value::Null);
        let applied = json!(applied_placement(&placement));
        match result {
            Ok(outcome) => {
                scheduled_now = true;
                set(
                    &mut want,
                    &["spec", "clusters"],
                    serde_json::to_value(&outcome.clusters)?,
                );
                set(
                    &mut want,
                    &[
                        "metadata",
                        "annotations",
                        names::APPLIED_PLACEMENT_ANNOTATION,
                    ],
                    applied,
                );
                affinity = outcome.affinity_name;
            }
            Err(ScheduleError::NoClusterFit(msg)) => {
                tracing::info!(binding = %key, reason = %msg, "no cluster fits");
                set(&mut want, &["spec", "clusters"], json!([]));
                set(
                    &mut want,
                    &[
                        "metadata",
                        "annotations",
                        names::APPLIED_PLACEMENT_ANNOTATION,
                    ],
                    applied,
                );
            }
            Err(e) => {
                tracing::info!(binding = %key, reason = %e, "binding could not be scheduled");
                requeue = earliest(requeue, RETRY);
            }
        }
    } else {
        // Nothing to schedule means the spec already holds a schedule of the current
        // placement: Scheduled is True (this also completes a write cut short by a conflict).
        condition = scheduled_condition(&Ok::<(), ScheduleError>(()), now);
    }

    let mut current = live;
    let clusters_changed = current.pointer("/spec/clusters") != want.pointer("/spec/clusters");
    if let Some(mut patch) = merge_diff(&projection(&current), &projection(&want)) {
        let rv = json!(s(&current, "/metadata/resourceVersion"));
        set(&mut patch, &["metadata", "resourceVersion"], rv);
        tracing::debug!(binding = %key, clusters = ?want.pointer("/spec/clusters"), "writing schedule");
        current = ctx.writer.merge_patch(&bar, &key, &patch, false).await?;
    }

    let old_status = current.get("status").cloned().unwrap_or(json!({}));
    let mut status = old_status.clone();
    let mut conditions = arr(&status, "/conditions").to_vec();
    set_condition(&mut conditions, condition);
    set(&mut status, &["conditions"], Value::Array(conditions));
    if let Some(name) = affinity {
        set(
            &mut status,
            &["schedulerObservingAffinityName"],
            json!(name),
        );
    }
    if scheduled_now && (clusters_changed || s(&status, "/lastScheduledTime").is_empty()) {
        let t = Timestamp::from_second(now.as_second()).unwrap_or(now);
        set(&mut status, &["lastScheduledTime"], json!(t.to_string()));
    }
    if let Some(generation) = current.pointer("/metadata/generation") {
        set(
            &mut status,
            &["schedulerObservedGeneration"],
            generation.clone(),
        );
    }
    if let Some(diff) = merge_diff(&old_status, &status) {
        tracing::debug!(binding = %key, "writing schedule status");
        let patch = json!({
            "metadata": {"resourceVersion": s(&current, "/metadata/resourceVersion")},
            "status": diff,
        });
        ctx.writer.merge_patch(&bar, &key, &patch, true).await?;
    }
    Ok(requeue)
}
