//! The cluster controller: every RegisteredCluster that has joined (an agent connected at
//! least once) is a `cluster.karmada.io` Cluster of the same name in Pull mode, carrying the
//! registration's provider, region, zone and labels, and the status the hub last recorded
//! (version, API enablements, node and resource summaries). Its `Ready` condition follows the
//! tunnel: True while Running, Unknown once Disconnected for longer than the grace period
//! (with the `unreachable` NoSchedule taint), and the NoExecute taint that makes the scheduler
//! move workloads away once it has been Unknown for the eviction timeout. Each Cluster also
//! gets its execution space `karmada-es-<cluster>`, where its Works live.

use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::health::{cluster_conditions, failover_taints};
use cceone_federation_core::work::execution_space;
use std::collections::BTreeMap;

use cceone_karmada_api::cluster::{
    ApiEnablement, CLUSTER_API_VERSION, ClusterSpec, ClusterStatus, NodeSummary, ResourceSummary,
};
use cceone_karmada_api::{Cluster, Condition, ObjectMeta};
use cceone_platform::CLUSTER_LABEL;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::Error;
use crate::json::{arr, condition, deleting, merge_diff, obj, present, s, set};
use crate::resources;
use crate::runtime::{ObjKey, Requeue};

/// Annotation on a Cluster listing the label keys copied from its RegisteredCluster, so a
/// label removed there is removed here while labels admins put on the Cluster stay.
const SYNCED_LABELS_ANNOTATION: &str = "platform.cceone.io/synced-labels";
/// How often a cluster that is not connected is looked at again (its grace and eviction
/// deadlines are measured from its last report).
const RECHECK_DISCONNECTED: Duration = Duration::from_secs(1);

/// Whether a registered cluster has ever joined: an agent connected at least once.
pub(crate) fn joined(regc: &Value) -> bool {
    present(regc, "/status/connectedSince")
        || matches!(
            s(regc, "/status/phase"),
            "Running" | "Disconnected" | "Updating"
        )
}

/// Whether the cluster's tunnel is up now.
fn connected(regc: &Value) -> bool {
    matches!(s(regc, "/status/phase"), "Running" | "Updating")
}

/// When the cluster last reported: now while connected, else when its tunnel went down (the
/// hub's Ready condition), falling back to the last recorded heartbeat.
fn last_report(regc: &Value, now: Timestamp) -> Option<Timestamp> {
    if connected(regc) {
        return Some(now);
    }
    let down = condition(regc, "Ready")
        .filter(|c| s(c, "/status") != "True")
        .map(|c| s(c, "/lastTransitionTime"));
    [
        down.unwrap_or(""),
        s(regc, "/status/lastHeartbeatTime"),
        s(regc, "/status/connectedSince"),
    ]
    .iter()
    .find_map(|t| t.parse::<Timestamp>().ok())
}

/// The labels the Cluster should carry: its own, with the registration's copied over (and
/// those copied before but since removed there dropped), plus the platform's cluster label.
fn desired_labels(
    regc: &Value,
    live: Option<&Cluster>,
    name: &str,
) -> (BTreeMap<String, String>, String) {
    let mut labels = live
        .and_then(|l| l.metadata.labels.clone())
        .unwrap_or_default();
    let from_regc: BTreeMap<String, String> = obj(regc, "/metadata/labels")
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    let previously = live
        .and_then(|l| l.metadata.annotation(SYNCED_LABELS_ANNOTATION))
        .unwrap_or("");
    for old in previously.split(',').filter(|k| !k.is_empty()) {
        if !from_regc.contains_key(old) {
            labels.remove(old);
        }
    }
    let synced = from_regc
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",");
    labels.extend(from_regc);
    labels.insert(CLUSTER_LABEL.into(), name.to_string());
    (labels, synced)
}

/// The Cluster's spec without taints: Pull mode and the registration's placement facts.
fn desired_spec(regc: &Value, live: Option<&Cluster>) -> ClusterSpec {
    let mut spec = live.and_then(|l| l.spec.clone()).unwrap_or_default();
    spec.sync_mode = Some("Pull".into());
    let text = |ptr: &str| Some(s(regc, ptr).to_string()).filter(|v| !v.is_empty());
    spec.provider = text("/spec/provider");
    spec.region = text("/spec/region");
    spec.zones = text("/spec/zone").map(|z| vec![z]);
    spec
}

/// The Cluster's status from the registration's (Karmada's field shapes), with `Ready`.
fn desired_status(regc: &Value, live: &Cluster, ready: Condition) -> ClusterStatus {
    let mut status = live.status.clone().unwrap_or_default();
    status.kubernetes_version =
        Some(s(regc, "/status/kubernetesVersion").to_string()).filter(|v| !v.is_empty());
    status.api_enablements = regc
        .pointer("/status/apiEnablements")
        .and_then(|a| Vec::<ApiEnablement>::deserialize(a).ok());
    status.node_summary = regc.pointer("/status/nodeSummary").map(|n| NodeSummary {
        total_num: Some(n.get("total").and_then(Value::as_i64).unwrap_or(0)),
        ready_num: Some(n.get("ready").and_then(Value::as_i64).unwrap_or(0)),
        ..NodeSummary::default()
    });
    status.resource_summary = regc.pointer("/status/resourceSummary").map(|r| {
        let part = |name: &str| {
            r.get(name)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        };
        ResourceSummary {
            allocatable: part("allocatable"),
            allocated: part("allocated"),
            allocating: part("allocating"),
            ..ResourceSummary::default()
        }
    });
    let mut conditions: Vec<Condition> = status
        .conditions()
        .iter()
        .filter(|c| c.type_ != "Ready")
        .cloned()
        .collect();
    conditions.push(ready);
    status.conditions = Some(conditions);
    status
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// A cluster that left confirms no Work's removal any more: while its execution space is being
/// deleted, the Works there lose the execution finalizer the hub would otherwise remove, so the
/// space can go. Karmada's execution controller does the same for a cluster being removed
/// (pkg/controllers/execution/execution_controller.go: an unready cluster that is terminating
/// has its Works' finalizers removed without deleting the workload).
async fn release_works(ctx: &Ctx, es: &str) -> Result<Requeue, Error> {
    let Some(ns) = ctx.namespaces.get(&ObjKey::cluster(es)) else {
        return Ok(None);
    };
    if !deleting(&ns) {
        return Ok(Some(RECHECK_DISCONNECTED));
    }
    let finalizer = cceone_federation_core::names::EXECUTION_FINALIZER;
    for w in ctx.works.list_ns_as::<Value>(es) {
        let all = arr(&w, "/metadata/finalizers");
        if !deleting(&w) || !all.iter().any(|f| f == finalizer) {
            continue;
        }
        let rest: Vec<&Value> = all.iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {
            "resourceVersion": s(&w, "/metadata/resourceVersion"),
            "finalizers": rest,
        }});
        let Some(key) = ObjKey::of(&w) else { continue };
        match ctx
            .writer
            .merge_patch(&resources::work(), &key, &patch, false)
            .await
        {
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            other => {
                other?;
            }
        }
    }
    Ok(Some(RECHECK_DISCONNECTED))
}

/// Keep the Cluster of registered cluster `name` in step with it.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, name: String) -> Result<Requeue, Error> {
    let key = ObjKey::cluster(&name);
    let cluster_ar = resources::cluster();
    let regc = ctx.registered.get(&key);
    let live: Option<Cluster> = ctx.clusters.get_as(&key);
    // A cluster the platform withdrew (fleet not bound, unsubscribed) is not a member.
    let out = |r: &Value| {
        deleting(r) || s(r, "/status/phase") == "Unsubscribed" || crate::platform::withdrawn(r)
    };
    let wanted = regc.as_deref().filter(|r| !out(r) && joined(r));
    let Some(regc) = wanted else {
        let gone = regc.as_deref().is_none_or(out);
        if gone
            && let Some(live) = &live
            && live.metadata.label(CLUSTER_LABEL) == Some(name.as_str())
            && !live.deleting()
        {
            tracing::info!(cluster = %name, "registered cluster gone; removing its federation cluster");
            ctx.writer.delete(&cluster_ar, &key).await?;
            let es = ObjKey::cluster(execution_space(&name));
            ctx.writer.delete(&resources::namespace(), &es).await?;
        }
        if gone {
            return release_works(&ctx, &execution_space(&name)).await;
        }
        return Ok(None);
    };

    let es = execution_space(&name);
    match ctx.namespaces.get(&ObjKey::cluster(&es)) {
        Some(ns) if deleting(&ns) => return Ok(Some(RECHECK_DISCONNECTED)),
        Some(_) => {}
        None => {
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": es}});
            match ctx.writer.create(&resources::namespace(), ns).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
    }

    let (labels, synced) = desired_labels(regc, live.as_ref(), &name);
    let live = match live {
        Some(l) => l,
        None => {
            let cluster = Cluster {
                api_version: CLUSTER_API_VERSION.into(),
                kind: "Cluster".into(),
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(labels.clone()),
                    annotations: Some(BTreeMap::from([(
                        SYNCED_LABELS_ANNOTATION.to_string(),
                        synced.clone(),
                    )])),
                    ..ObjectMeta::default()
                },
                spec: Some(desired_spec(regc, None)),
                ..Cluster::default()
            };
            tracing::info!(cluster = %name, "registered cluster joined; creating its federation cluster");
            let created = ctx.writer.create(&cluster_ar, cluster.to_value()).await?;
            Cluster::from_value(&created)?
        }
    };
    if live.deleting() {
        return Ok(Some(RECHECK_DISCONNECTED));
    }

    let now = Timestamp::now();
    let (ready, taints) = cluster_conditions(
        &live,
        last_report(regc, now),
        now,
        signed(ctx.settings.cluster_grace),
    );
    let mut judged = live.clone();
    judged.spec_mut().taints = Some(taints);
    judged.status_mut().conditions = Some(vec![ready.clone()]);
    let taints = failover_taints(&judged, now, signed(ctx.settings.eviction_timeout));

    let mut want = live.clone();
    let mut spec = desired_spec(regc, Some(&live));
    spec.taints = (!taints.is_empty()).then_some(taints);
    want.spec = Some(spec);
    want.metadata.labels = Some(labels);
    want.metadata
        .annotations_mut()
        .insert(SYNCED_LABELS_ANNOTATION.into(), synced);
    let project = |c: &Cluster| {
        let v = c.to_value();
        json!({"metadata": {"labels": v.pointer("/metadata/labels"), "annotations": v.pointer("/metadata/annotations")}, "spec": v.get("spec")})
    };
    let mut live = live;
    if let Some(mut patch) = merge_diff(&project(&live), &project(&want)) {
        let rv = json!(live.metadata.resource_version());
        set(&mut patch, &["metadata", "resourceVersion"], rv);
        let written = ctx
            .writer
            .merge_patch(&cluster_ar, &key, &patch, false)
            .await?;
        live = Cluster::from_value(&written)?;
    }

    let status = serde_json::to_value(desired_status(regc, &live, ready))?;
    let current = live
        .status
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?
        .unwrap_or(json!({}));
    if let Some(diff) = merge_diff(&current, &status) {
        ctx.writer
            .merge_patch(&cluster_ar, &key, &json!({"status": diff}), true)
            .await?;
    }
    Ok((!connected(regc)).then_some(RECHECK_DISCONNECTED))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_has_joined_once_an_agent_connected() {
        assert!(!joined(&json!({"status": {"phase": "Pending"}})));
        assert!(joined(&json!({"status": {"phase": "Running"}})));
        assert!(joined(
            &json!({"status": {"phase": "AccessTimeout", "connectedSince": "2025-01-01T00:00:00Z"}})
        ));
    }

    #[test]
    fn last_report_is_now_while_connected_and_the_disconnect_time_after() {
        let now: Timestamp = "2025-01-01T00:10:00Z".parse().unwrap();
        assert_eq!(
            last_report(&json!({"status": {"phase": "Running"}}), now),
            Some(now)
        );
        let down = json!({"status": {"phase": "Disconnected",
            "lastHeartbeatTime": "2025-01-01T00:01:00Z",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2025-01-01T00:02:00Z"}]}});
        assert_eq!(
            last_report(&down, now),
            Some("2025-01-01T00:02:00Z".parse().unwrap())
        );
    }

    #[test]
    fn labels_follow_the_registration_and_keep_the_admins() {
        let regc = json!({"metadata": {"labels": {"env": "prod"}}});
        let live = json!({"metadata": {
            "labels": {"team": "a", "old": "x", "env": "dev"},
            "annotations": {SYNCED_LABELS_ANNOTATION: "env,old"}}});
        let live: Cluster = serde_json::from_value(live).unwrap();
        let (labels, synced) = desired_labels(&regc, Some(&live), "member1");
        assert_eq!(
            serde_json::to_value(labels).unwrap(),
            json!({"team": "a", "env": "prod", CLUSTER_LABEL: "member1"})
        );
        assert_eq!(synced, "env");
    }

    #[test]
    fn status_takes_karmada_shapes() {
        let regc = json!({"status": {"kubernetesVersion": "v1.32.0",
            "nodeSummary": {"total": 3, "ready": 2},
            "resourceSummary": {"capacity": {"cpu": "8"}, "allocatable": {"cpu": "7"}, "allocated": {"cpu": "1"}}}});
        let ready: Condition =
            serde_json::from_value(json!({"type": "Ready", "status": "True"})).unwrap();
        let st = serde_json::to_value(desired_status(&regc, &Cluster::default(), ready)).unwrap();
        assert_eq!(st["nodeSummary"], json!({"totalNum": 3, "readyNum": 2}));
        assert_eq!(
            st["resourceSummary"],
            json!({"allocatable": {"cpu": "7"}, "allocated": {"cpu": "1"}})
        );
        assert_eq!(st["kubernetesVersion"], "v1.32.0");
        assert_eq!(st["conditions"][0]["status"], "True");
    }
}
