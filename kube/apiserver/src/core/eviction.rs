//! The `pods/eviction` subresource: delete a pod unless that would break its
//! PodDisruptionBudget, as kube-apiserver's `pkg/registry/core/pod/storage/eviction.go` (1.32)
//! decides it: terminal, pending and already-deleting pods go without a budget check; a pod
//! under more than one budget is refused (500); otherwise the budget's
//! `status.disruptionsAllowed` is checked and decremented (the pod recorded in
//! `status.disruptedPods` so the disruption controller does not count it), 429 when it is 0;
//! the pod then gets the `DisruptionTarget` condition and is deleted.

use std::sync::Arc;

use cceone_kube_store::StoreError;
use serde_json::{Value, json};

use super::{Core, DeleteOptions, ListOptions};
use crate::error::{ApiError, ApiResult, Cause};
use crate::meta;
use crate::resource::ResourceInfo;
use crate::selector::LabelSelector;

/// How often a conflicting budget or pod write is retried (upstream: 20 steps of 500 ms).
const RETRIES: usize = 20;
/// Above this many unconfirmed evictions a budget refuses more (`MaxDisruptedPodSize`).
const MAX_DISRUPTED_PODS: usize = 2000;
/// The message of every budget refusal.
const VIOLATES: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// `canIgnorePDB`.
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending") || meta::is_deleting(pod)
}

/// `shouldEnforceResourceVersion`.
fn enforce_resource_version(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !meta::is_deleting(pod)
}

fn int_at(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn still_processed(name: &str) -> ApiError {
    ApiError::TooManyRequestsBecause {
        message: VIOLATES.into(),
        retry_after_seconds: 10,
        causes: vec![Cause {
            reason: "DisruptionBudget".into(),
            message: format!(
                "The disruption budget {name} is still being processed by the server."
            ),
            field: String::new(),
        }],
    }
}

fn budget_forbidden(name: &str, why: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "poddisruptionbudget.policy \"{name}\" is forbidden: {why}"
    ))
}

/// `checkAndDecrement`: the budget with one disruption fewer allowed and the pod recorded, or
/// why not.
fn decrement(pdb: &Value, pod_name: &str, now: &str) -> ApiResult<Value> {
    let name = meta::name(pdb).unwrap_or_default();
    if int_at(pdb, "/status/observedGeneration") < int_at(pdb, "/metadata/generation") {
        return Err(still_processed(name));
    }
    let allowed = int_at(pdb, "/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(budget_forbidden(
            name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(budget_forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(ApiError::TooManyRequestsBecause {
            message: VIOLATES.into(),
            retry_after_seconds: 0,
            causes: vec![Cause {
                reason: "DisruptionBudget".into(),
                message: format!(
                    "The disruption budget {name} needs {} healthy pods and has {} currently",
                    int_at(pdb, "/status/desiredHealthy"),
                    int_at(pdb, "/status/currentHealthy")
                ),
                field: String::new(),
            }],
        });
    }
    let mut out = pdb.clone();
    out["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        set_disruption_allowed(&mut out, false, now);
    }
    let status = &mut out["status"];
    if !status.get("disruptedPods").is_some_and(Value::is_object) {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod_name] = json!(now);
    Ok(out)
}

/// `UpdateDisruptionAllowedCondition` (component-helpers/apps/poddisruptionbudget).
pub fn set_disruption_allowed(pdb: &mut Value, allowed: bool, now: &str) {
    let (status, reason) = if allowed {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let generation = int_at(pdb, "/status/observedGeneration");
    let conds = &mut pdb["status"]["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let cond = json!({"type": "DisruptionAllowed", "status": status, "reason": reason,
                      "message": "", "observedGeneration": generation, "lastTransitionTime": now});
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed"))
    {
        Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => {
            c["reason"] = json!(reason);
            c["observedGeneration"] = json!(generation);
        }
        Some(c) => *c = cond,
        None => list.push(cond),
    }
}

impl Core {
    /// Evict pod `name` of namespace `ns` as `POST .../pods/NAME/eviction` with `body` (a
    /// policy/v1 or v1beta1 Eviction); answers the `Status` to send with 201.
    pub async fn evict(
        self: &Arc<Self>,
        pods: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        if meta::name(body) != Some(name) {
            return Err(ApiError::BadRequest(
                "name in URL does not match name in Eviction object".into(),
            ));
        }
        let opts = DeleteOptions::from_body(body.get("deleteOptions"), None, dry_run)?;
        let success = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
        let pod = self.get(pods, ns, name).await?;
        if can_ignore_budget(&pod) {
            let mut o = opts.clone();
            if enforce_resource_version(&pod) && o.resource_version.is_none() {
                o.resource_version = meta::resource_version(&pod).map(String::from);
            }
            self.disrupt_and_delete(pods, ns, name, o).await?;
            return Ok(success);
        }
        let budgets = self.budgets_of(ns, &pod).await?;
        let mut pin_version = false;
        match budgets.as_slice() {
            [] => {}
            [_, _, ..] => {
                return Err(ApiError::Internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
                ));
            }
            [pdb] => {
                let always = pdb
                    .pointer("/spec/unhealthyPodEvictionPolicy")
                    .and_then(Value::as_str)
                    == Some("AlwaysAllow");
                let desired = int_at(pdb, "/status/desiredHealthy");
                let healthy_budget =
                    int_at(pdb, "/status/currentHealthy") >= desired && desired > 0;
                if !is_ready(&pod) && (always || healthy_budget) {
                    pin_version = true;
                } else {
                    self.take_disruption(ns, pdb.clone(), name, opts.dry_run)
                        .await?;
                }
            }
        }
        let mut o = opts.clone();
        if pin_version && o.resource_version.is_none() {
            o.resource_version = meta::resource_version(&pod).map(String::from);
        }
        match self.disrupt_and_delete(pods, ns, name, o).await {
            Err(ApiError::Conflict { .. }) if pin_version && opts.resource_version.is_none() => {
                Err(still_processed(
                    budgets.first().and_then(meta::name).unwrap_or_default(),
                ))
            }
            Err(e) => Err(e),
            Ok(()) => Ok(success),
        }
    }

    /// The budgets whose selector matches the pod's labels.
    async fn budgets_of(&self, ns: Option<&str>, pod: &Value) -> ApiResult<Vec<Value>> {
        let res = self.resource("policy", "v1", "poddisruptionbudgets")?;
        let page = self.list(&res, ns, &ListOptions::default()).await?;
        let labels = pod.pointer("/metadata/labels");
        Ok(page
            .items
            .iter()
            .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
            .filter(|pdb| {
                pdb.pointer("/spec/selector")
                    .filter(|s| !s.is_null())
                    .and_then(|s| LabelSelector::from_object(s).ok())
                    .is_some_and(|sel| sel.matches_labels(labels))
            })
            .collect())
    }

    /// Decrement the budget's allowed disruptions, re-reading it after a conflict.
    async fn take_disruption(
        self: &Arc<Self>,
        ns: Option<&str>,
        mut pdb: Value,
        pod_name: &str,
        dry_run: bool,
    ) -> ApiResult<()> {
        let res = self.resource("policy", "v1", "poddisruptionbudgets")?;
        let name = meta::name(&pdb).unwrap_or_default().to_string();
        for _ in 0..RETRIES {
            let mut updated = decrement(&pdb, pod_name, &meta::now_rfc3339())?;
            if dry_run {
                return Ok(());
            }
            let Some(rv) = meta::resource_version(&pdb).and_then(|s| s.parse::<u64>().ok()) else {
                return Err(ApiError::Internal(
                    "a PodDisruptionBudget without a resourceVersion".into(),
                ));
            };
            meta::metadata_mut(&mut updated).remove("resourceVersion");
            match self
                .store
                .update(&res.key(ns, &name), updated, Some(rv))
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => pdb = self.get(&res, ns, &name).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Unavailable(format!(
            "couldn't update PodDisruptionBudget \"{name}\" due to conflicts"
        )))
    }

    /// `addConditionAndDeletePod`: mark the pod `DisruptionTarget` and delete it.
    async fn disrupt_and_delete(
        self: &Arc<Self>,
        pods: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        mut opts: DeleteOptions,
    ) -> ApiResult<()> {
        if !opts.dry_run {
            let kv = self.get_kv(pods, ns, name).await?;
            let mut pod = self.decode(pods, &kv.value)?;
            if opts
                .uid
                .as_deref()
                .is_some_and(|u| Some(u) != meta::uid(&pod))
                || opts
                    .resource_version
                    .as_deref()
                    .is_some_and(|rv| rv != kv.mod_revision.to_string())
            {
                return Err(ApiError::conflict("pods", name));
            }
            let cond = json!({"type": "DisruptionTarget", "status": "True",
                "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
                "lastTransitionTime": meta::now_rfc3339(), "lastProbeTime": null});
            let conds = &mut pod["status"]["conditions"];
            if !conds.is_array() {
                *conds = json!([]);
            }
            if let Some(list) = conds.as_array_mut() {
                list.retain(|c| c.get("type").and_then(Value::as_str) != Some("DisruptionTarget"));
                list.push(cond);
            }
            meta::metadata_mut(&mut pod).remove("resourceVersion");
            match self
                .store
                .update(&pods.key(ns, name), pod, Some(kv.mod_revision))
                .await
            {
                Ok(kv) => {
                    if opts.resource_version.is_some() {
                        opts.resource_version = Some(kv.mod_revision.to_string());
                    }
                }
                Err(StoreError::Conflict { .. }) => return Err(ApiError::conflict("pods", name)),
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::not_found("pods", name));
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.delete(pods, ns, name, &opts).await.map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pdb(allowed: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": 1},
               "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                          "desiredHealthy": 2, "currentHealthy": 2}})
    }

    #[test]
    fn a_budget_at_zero_refuses_with_429_and_a_cause() {
        let e = decrement(&pdb(0), "p", "now").unwrap_err();
        assert_eq!(e.code(), 429);
        let s = e.to_status();
        assert_eq!(s["message"], VIOLATES);
        assert_eq!(s["reason"], "TooManyRequests");
        assert_eq!(s["details"]["causes"][0]["reason"], "DisruptionBudget");
        assert_eq!(
            s["details"]["causes"][0]["message"],
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        assert!(s["details"].get("retryAfterSeconds").is_none());
        let mut stale = pdb(1);
        stale["metadata"]["generation"] = json!(2);
        assert_eq!(
            decrement(&stale, "p", "now").unwrap_err().to_status()["details"]["retryAfterSeconds"],
            10
        );
        assert_eq!(decrement(&pdb(-1), "p", "now").unwrap_err().code(), 403);
    }

    #[test]
    fn a_budget_with_room_records_the_pod() {
        let out = decrement(&pdb(1), "p", "now").unwrap();
        assert_eq!(out["status"]["disruptionsAllowed"], 0);
        assert_eq!(out["status"]["disruptedPods"]["p"], "now");
        assert_eq!(out["status"]["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(out["status"]["conditions"][0]["status"], "False");
    }
}
