//! The status controller: the Works of a binding, whose status the hub writes from what the
//! agents report, become the binding's `aggregatedStatus` and `FullyApplied` condition, and
//! the aggregated member statuses become the resource template's own status — so
//! `kubectl get deployment nginx` on the federation shows `3/3` once the members run it.

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::status::{aggregate, template_status};
use cceone_karmada_api::meta::parse_time;
use cceone_karmada_api::{ResourceBinding, Work};
use jiff::Timestamp;
use serde_json::json;

use super::Ctx;
use crate::error::Error;
use crate::json::{deleting, merge_diff, s};
use crate::resources::{self, TemplateKey};
use crate::runtime::{ObjKey, Requeue};
use crate::templates::Lookup;

/// How long at most a binding's status waits for the first report of a Work sent to a Ready
/// cluster, counted from the Work's `creationTimestamp` (a Work whose dispatching is suspended
/// is not waited for).
///
/// A Ready cluster's agent is connected and will report each Work it is sent; writing the
/// binding's status before it has (every such Work "applied: false, health Unknown", then
/// again as each cluster reports) costs a binding and a template status write per report
/// rather than one for all, and under a burst reports come seconds after the Works. Works of
/// clusters that are not Ready are not waited for, nor are reports of failure (`Applied`
/// false), and past this a late cluster holds the others' reports back no longer.
const AWAIT_REPORTS: Duration = Duration::from_secs(30);

/// How much longer to wait for Works created less than [`AWAIT_REPORTS`] ago on clusters for
/// which `ready` holds that have no `Applied` condition yet; `None` when there are none.
fn awaiting_reports(
    works: &[Work],
    now: Timestamp,
    ready: impl Fn(&str) -> bool,
) -> Option<Duration> {
    let wait = jiff::SignedDuration::try_from(AWAIT_REPORTS).ok()?;
    works
        .iter()
        // A suspended Work is not relayed, so no report of it is coming.
        .filter(|w| {
            !w.deleting()
                && !w.suspended()
                && w.applied().is_none()
                && w.cluster().is_some_and(&ready)
        })
        .filter_map(|w| parse_time(w.metadata.creation_timestamp.as_deref()?))
        .filter_map(|created| {
            let left = wait - now.duration_since(created);
            Duration::try_from(left).ok().filter(|d| !d.is_zero())
        })
        .max()
}

/// Aggregate one binding's status, then its template's.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, key: ObjKey) -> Result<Requeue, Error> {
    let Some(mut binding) = ctx.binding_as(&key) else {
        return Ok(None);
    };
    if binding.deleting() {
        return Ok(None);
    }
    let works: Vec<Work> = ctx.works.by_index_as(&resources::binding_index(&key));
    let now = Timestamp::now();
    let clusters = ctx.cluster_values();
    let ready = |name: &str| {
        clusters
            .iter()
            .any(|c| c.name() == name && c.ready_status() == "True")
    };
    if let Some(wait) = awaiting_reports(&works, now, ready) {
        // A report brings the binding back sooner (the Works' changes queue it).
        return Ok(Some(wait));
    }
    let status = aggregate(&binding, &works, now);
    if binding.status.as_ref() != Some(&status) {
        let current = serde_json::to_value(&binding.status)?;
        let current = if current.is_null() {
            json!({})
        } else {
            current
        };
        if let Some(diff) = merge_diff(&current, &serde_json::to_value(&status)?) {
            let patch = json!({
                "metadata": {"resourceVersion": binding.metadata.resource_version()},
                "status": diff,
            });
            let bar = resources::binding_for(&key);
            tracing::debug!(binding = %key, "updating binding status");
            let written = ctx.writer.merge_patch(&bar, &key, &patch, true).await?;
            binding = ResourceBinding::from_value(&written)?;
        }
    }

    let Some(tkey) = TemplateKey::of_typed_binding(&binding) else {
        return Ok(None);
    };
    let Lookup::Found(template) = ctx.templates.get(&tkey) else {
        return Ok(None);
    };
    let uid = binding.spec().resource.uid().to_string();
    if deleting(&template) || (!uid.is_empty() && uid != s(&template, "/metadata/uid")) {
        return Ok(None);
    }
    let aggregated = binding
        .status
        .as_ref()
        .map_or(&[][..], |s| s.aggregated_status());
    let Some(new) = template_status(&template, aggregated, now) else {
        return Ok(None);
    };
    let old = template.get("status").cloned().unwrap_or(json!({}));
    if let Some(diff) = merge_diff(&old, &new)
        && let Some(cache) = ctx.templates.cache(&tkey.api_version, &tkey.kind)
    {
        tracing::debug!(template = %tkey.key, kind = %tkey.kind, "updating template status");
        ctx.writer
            .merge_patch(cache.resource(), &tkey.key, &json!({"status": diff}), true)
            .await?;
    }
    Ok(None)
}
