//! The fleet controller (a fleet's status sums its members) and the platform's part of a
//! registered cluster's lifecycle: whether it is a federation member (its fleet's binding),
//! delete-protection changes recorded in its operation log, and unsubscribe carried through:
//! Unsubscribing (out of its fleet and the federation: the cluster controller deletes its
//! Cluster and execution space, so its Works go, and the hub, which keeps the tunnel open
//! until Unsubscribed, has the agent remove what they applied in the member — workloads unless
//! `preserveResourcesOnDeletion`, and the grants' RBAC), then Unsubscribed once the Cluster
//! and the execution space are gone and a short drain has passed.

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::work::execution_space;
use cceone_kube_apiserver::{ApiError, LocalClient};
use cceone_platform::fleet::{fleet_of, fleet_status, membership};
use cceone_platform::phase::{self, Operation, SessionEvent};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Shared;
use crate::error::Error;
use crate::json::{annotation, deleting, merge_diff, s};
use crate::runtime::{ObjKey, Requeue, Writer};

/// How often an unsubscribing cluster is looked at until its teardown is done.
const RECHECK_TEARDOWN: Duration = Duration::from_secs(1);
/// How long after unsubscribe was requested the cluster stays Unsubscribing at least: its
/// tunnel stays open until Unsubscribed, and the hub relays the deletions of its Works (the
/// platform's objects in the member) within moments of the execution space going.
const DRAIN: jiff::SignedDuration = jiff::SignedDuration::from_secs(3);

/// When unsubscribe was requested (the operation log's latest UnsubscribeRequested).
fn unsubscribe_requested(status: &Value) -> Option<Timestamp> {
    status
        .get("operations")?
        .as_array()?
        .iter()
        .rev()
        .find(|o| s(o, "/reason") == "UnsubscribeRequested")
        .and_then(|o| s(o, "/time").parse().ok())
}

/// What the reconcilers share.
pub(super) struct Ctx {
    pub(super) shared: Arc<Shared>,
    pub(super) writer: Writer,
    pub(super) local: LocalClient,
}

/// Keep a fleet's status the sum of its members'.
pub(super) async fn reconcile_fleet(ctx: Arc<Ctx>, name: String) -> Result<Requeue, Error> {
    let key = ObjKey::cluster(&name);
    let Some(fleet) = ctx.shared.fleets.get(&key) else {
        return Ok(None);
    };
    if deleting(&fleet) {
        return Ok(None);
    }
    let members = ctx.shared.members(&name);
    let refs: Vec<&Value> = members.iter().map(|m| m.as_ref()).collect();
    let mut want = fleet_status(&refs);
    want["observedGeneration"] = fleet
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(0));
    let current = fleet.get("status").cloned().unwrap_or(json!({}));
    if let Some(diff) = merge_diff(&current, &want) {
        tracing::debug!(fleet = %name, clusters = refs.len(), "fleet status changed");
        ctx.writer
            .merge_patch(
                &cceone_platform::fleet::fleet_resource(),
                &key,
                &json!({"status": diff}),
                true,
            )
            .await?;
    }
    Ok(None)
}

/// Whether an object exists (through the in-process API).
async fn exists(local: &LocalClient, group: &str, plural: &str, name: &str) -> Result<bool, Error> {
    let res = local
        .resource(group, "v1alpha1", plural)
        .or_else(|_| local.resource(group, "v1", plural))?;
    match local.get(&res, None, name).await {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether the federation still holds anything of the cluster: its Cluster or its execution
/// space (whose Works the hub relays as deletions to the agent).
async fn teardown_done(ctx: &Ctx, name: &str) -> Result<bool, Error> {
    let cluster = exists(&ctx.local, "cluster.karmada.io", "clusters", name).await?;
    let space = exists(&ctx.local, "", "namespaces", &execution_space(name)).await?;
    Ok(!cluster && !space)
}

/// The operation recording a delete-protection change, if `spec` and what was last recorded
/// differ (a cluster registered without protection records nothing).
fn protection_change(regc: &Value, now: Timestamp) -> Option<(bool, Option<Operation>)> {
    let want = regc.pointer("/spec/deleteProtection") == Some(&Value::Bool(true));
    let seen = regc
        .pointer("/status/deleteProtection")
        .and_then(Value::as_bool);
    if seen == Some(want) {
        return None;
    }
    let op = (seen.is_some() || want).then(|| {
        let (reason, message) = if want {
            ("ProtectionOn", "delete protection turned on")
        } else {
            ("ProtectionOff", "delete protection turned off")
        };
        let op = Operation::new(now, "Protect", reason, message);
        match annotation(regc, cceone_platform::PROTECTION_CHANGED_BY_ANNOTATION) {
            Some(user) => op.by(user),
            None => op,
        }
    });
    Some((want, op))
}

/// Apply a session event to a working copy of `status` (as the hub would record it).
fn apply_event(status: &mut Value, ev: &SessionEvent) {
    if let Some(patch) = phase::status_patch(status, ev)
        && let (Some(st), Some(p)) = (status.as_object_mut(), patch["status"].as_object())
    {
        for (k, v) in p {
            st.insert(k.clone(), v.clone());
        }
    }
}

/// The platform's part of one registered cluster.
pub(super) async fn reconcile_cluster(ctx: Arc<Ctx>, name: String) -> Result<Requeue, Error> {
    let key = ObjKey::cluster(&name);
    let Some(regc) = ctx.shared.registered.get(&key) else {
        return Ok(None);
    };
    if deleting(&regc) {
        return Ok(None);
    }
    let ar = cceone_platform::registered_cluster_resource();
    let unsubscribed = regc.pointer("/spec/unsubscribed") == Some(&Value::Bool(true));
    let rv = json!(s(&regc, "/metadata/resourceVersion"));
    if unsubscribed && let Some(fleet) = fleet_of(&regc) {
        tracing::info!(cluster = %name, fleet, "unsubscribed cluster withdrawn from its fleet");
        ctx.writer
            .merge_patch(
                &ar,
                &key,
                &json!({"metadata": {"resourceVersion": rv}, "spec": {"fleet": null}}),
                false,
            )
            .await?;
        return Ok(None);
    }

    let now = Timestamp::now();
    let current = regc.get("status").cloned().unwrap_or(json!({}));
    let mut status = current.clone();
    let fleet = fleet_of(&regc).and_then(|f| ctx.shared.fleets.get(&ObjKey::cluster(f)));
    let (member, why) = membership(&regc, fleet.as_deref());
    status["federationMember"] = json!(member);
    status["membership"] = json!(why);
    if let Some((on, op)) = protection_change(&regc, now) {
        status["deleteProtection"] = json!(on);
        if let Some(op) = op {
            let mut ops: Vec<Value> = status["operations"].as_array().cloned().unwrap_or_default();
            phase::append_operation(&mut ops, &op, phase::MAX_OPERATIONS);
            status["operations"] = json!(ops);
        }
    }
    let mut requeue = None;
    if unsubscribed {
        match s(&status, "/phase") {
            "Unsubscribed" => {}
            "Unsubscribing" => {
                let drained =
                    unsubscribe_requested(&status).is_none_or(|t| now.duration_since(t) >= DRAIN);
                if drained && teardown_done(&ctx, &name).await? {
                    tracing::info!(cluster = %name, "teardown done; the cluster is unsubscribed");
                    apply_event(&mut status, &SessionEvent::Unsubscribed { at: now });
                } else {
                    requeue = Some(RECHECK_TEARDOWN);
                }
            }
            _ => {
                tracing::info!(cluster = %name, "unsubscribe requested; withdrawing the cluster");
                apply_event(&mut status, &SessionEvent::UnsubscribeRequested { at: now });
                if let Some(user) = annotation(&regc, cceone_platform::UNSUBSCRIBED_BY_ANNOTATION)
                    && let Some(last) = status["operations"]
                        .as_array_mut()
                        .and_then(|ops| ops.last_mut())
                        .filter(|op| op["reason"] == "UnsubscribeRequested")
                {
                    last["user"] = json!(user);
                }
                requeue = Some(RECHECK_TEARDOWN);
            }
        }
    }
    if let Some(diff) = merge_diff(&current, &status) {
        ctx.writer
            .merge_patch(
                &ar,
                &key,
                &json!({"metadata": {"resourceVersion": rv}, "status": diff}),
                true,
            )
            .await?;
    }
    Ok(requeue)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn protection_changes_are_recorded_once() {
        let now: Timestamp = "2026-12-07T01:00:00Z".parse().unwrap();
        let plain = json!({"spec": {"type": "local"}});
        assert_eq!(protection_change(&plain, now), Some((false, None)));
        let on = json!({"spec": {"deleteProtection": true}, "status": {"deleteProtection": false}});
        let (state, op) = protection_change(&on, now).unwrap();
        assert!(state);
        assert_eq!(op.unwrap().reason, "ProtectionOn");
        let seen =
            json!({"spec": {"deleteProtection": true}, "status": {"deleteProtection": true}});
        assert_eq!(protection_change(&seen, now), None);
    }

    #[test]
    fn unsubscribe_events_move_the_phase() {
        let now: Timestamp = "2026-12-07T01:00:00Z".parse().unwrap();
        let mut st = json!({"phase": "Running"});
        apply_event(&mut st, &SessionEvent::UnsubscribeRequested { at: now });
        assert_eq!(st["phase"], "Unsubscribing");
        apply_event(&mut st, &SessionEvent::Unsubscribed { at: now });
        assert_eq!(st["phase"], "Unsubscribed");
        assert_eq!(st["operations"].as_array().unwrap().len(), 2);
    }
}
