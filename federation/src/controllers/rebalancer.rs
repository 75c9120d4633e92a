//! WorkloadRebalancer (`apps.karmada.io/v1alpha1`, Karmada's
//! `pkg/controllers/workloadrebalancer/workloadrebalancer_controller.go`): a one-shot
//! rebalance of the workloads it names. Each workload's binding gets
//! `spec.rescheduleTriggeredAt` set to the rebalancer's creation time, so the scheduler places
//! it afresh (as if new: dynamic divisions recomputed, replicas back on recovered clusters);
//! the rebalancer's status records each workload's result (`Successful`, or `Failed` with
//! `ReferencedBindingNotFound`) and its `finishTime`, and with `ttlSecondsAfterFinished` the
//! rebalancer is deleted that long after it finished.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::Error;
use crate::json::{arr, s};
use crate::resources;
use crate::runtime::{ObjKey, Requeue};

/// One workload's outcome, as the rebalancer's status records it.
fn observed(workload: &Value, found: bool) -> Value {
    if found {
        json!({"workload": workload, "result": "Successful"})
    } else {
        json!({"workload": workload, "result": "Failed", "reason": "ReferencedBindingNotFound"})
    }
}

/// Whether `at` (RFC 3339) is before `than`; a missing or unreadable time counts as before.
fn earlier(at: Option<&str>, than: Timestamp) -> bool {
    at.and_then(|a| a.parse::<Timestamp>().ok())
        .is_none_or(|a| a < than)
}

/// Run (or expire) one rebalancer.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: ObjKey) -> Result<Requeue, Error> {
    let Some(rebalancer) = ctx.rebalancers.get(&key) else {
        return Ok(None);
    };
    let ar = resources::workload_rebalancer();
    let now = Timestamp::now();
    let generation = rebalancer
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed_generation = rebalancer
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let finished = s(&rebalancer, "/status/finishTime");
    if !finished.is_empty() && observed_generation == generation {
        let ttl = rebalancer
            .pointer("/spec/ttlSecondsAfterFinished")
            .and_then(Value::as_i64);
        let (Some(ttl), Ok(at)) = (ttl, finished.parse::<Timestamp>()) else {
            return Ok(None);
        };
        let expires = at
            .checked_add(jiff::SignedDuration::from_secs(ttl.max(0)))
            .unwrap_or(at);
        if now >= expires {
            tracing::info!(rebalancer = %key, "finished and past its ttlSecondsAfterFinished; deleting");
            ctx.writer.delete(&ar, &key).await?;
            return Ok(None);
        }
        let left = Duration::try_from(expires.duration_since(now)).unwrap_or_default();
        return Ok(Some(left + Duration::from_millis(10)));
    }
    let created = s(&rebalancer, "/metadata/creationTimestamp")
        .parse::<Timestamp>()
        .unwrap_or(now);
    let mut results = Vec::new();
    for workload in arr(&rebalancer, "/spec/workloads") {
        let (kind, name, ns) = (
            s(workload, "/kind"),
            s(workload, "/name"),
            s(workload, "/namespace"),
        );
        let bkey = ObjKey::new(ns, cceone_federation_core::binding_name(kind, name));
        let binding = ctx.binding(&bkey).filter(|b| {
            s(b, "/spec/resource/kind") == kind
                && s(b, "/spec/resource/name") == name
                && s(b, "/spec/resource/apiVersion") == s(workload, "/apiVersion")
        });
        let Some(binding) = binding else {
            results.push(observed(workload, false));
            continue;
        };
        if earlier(
            binding
                .pointer("/spec/rescheduleTriggeredAt")
                .and_then(Value::as_str),
            created,
        ) {
            tracing::info!(rebalancer = %key, binding = %bkey, "rescheduling afresh");
            let patch = json!({
                "metadata": {"resourceVersion": s(&binding, "/metadata/resourceVersion")},
                "spec": {"rescheduleTriggeredAt": cceone_karmada_api::meta::format_time(created)},
            });
            ctx.writer
                .merge_patch(&resources::binding_for(&bkey), &bkey, &patch, false)
                .await?;
        }
        results.push(observed(workload, true));
    }
    let patch = json!({
        "metadata": {"resourceVersion": s(&rebalancer, "/metadata/resourceVersion")},
        "status": {
            "observedWorkloads": results,
            "observedGeneration": generation,
            "finishTime": cceone_karmada_api::meta::format_time(now),
        },
    });
    ctx.writer.merge_patch(&ar, &key, &patch, true).await?;
    // Come back for the TTL.
    Ok(Some(Duration::from_millis(10)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_times() {
        let w = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"});
        assert_eq!(observed(&w, true)["result"], "Successful");
        assert_eq!(observed(&w, false)["reason"], "ReferencedBindingNotFound");
        let t: Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert!(earlier(None, t));
        assert!(earlier(Some("2026-01-01T00:00:09Z"), t));
        assert!(!earlier(Some("2026-01-01T00:00:10Z"), t));
    }
}
