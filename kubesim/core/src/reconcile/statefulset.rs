//! StatefulSet reconciliation: pods `<name>-<ordinal>` with stable identity.
//! `OrderedReady` creates the next ordinal only when all lower ones are
//! Running and Ready and removes the highest ordinal first, one at a time;
//! `Parallel` creates and removes all at once. `RollingUpdate` replaces pods
//! of an old revision from the highest ordinal down to the partition, one at
//! a time while everything else is healthy.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Action, PodExtras, new_pod, replicas};
use crate::json::{
    array_at, at, i64_at, is_terminating, label, name, nonempty_str_at, set, str_at, template_hash,
};
use crate::pods::{is_running_and_ready, is_terminal};

/// Label with the revision a StatefulSet pod was created from.
pub(crate) const REVISION_LABEL: &str = "controller-revision-hash";

/// The StatefulSet's current revision name, `<name>-<hash>`.
pub(crate) fn update_revision(sts: &Value) -> String {
    format!(
        "{}-{}",
        name(sts),
        template_hash(at(sts, &["spec", "template"]))
    )
}

/// The ordinal of a pod named `<sts>-<n>`, if it is one.
pub(crate) fn ordinal(sts_name: &str, pod: &Value) -> Option<i64> {
    let digits = name(pod).strip_prefix(sts_name)?.strip_prefix('-')?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if canonical { digits.parse().ok() } else { None }
}

/// One reconciliation step for a StatefulSet.
pub(super) fn reconcile(sts: &Value, owned: &[Value]) -> Vec<Action> {
    let sts_name = name(sts);
    let start = i64_at(sts, &["spec", "ordinals", "start"])
        .unwrap_or(0)
        .max(0);
    let end = start + replicas(sts);
    let revision = update_revision(sts);
    let monotonic = str_at(sts, &["spec", "podManagementPolicy"]) != Some("Parallel");
    let by_ordinal: BTreeMap<i64, &Value> = owned
        .iter()
        .filter_map(|p| ordinal(sts_name, p).map(|o| (o, p)))
        .collect();
    let mut actions = Vec::new();
    let mut all_healthy = true;

    for ord in start..end {
        match by_ordinal.get(&ord) {
            None => {
                actions.push(Action::CreatePod(stateful_pod(sts, ord, &revision)));
                all_healthy = false;
            }
            Some(pod) if is_terminating(pod) => all_healthy = false,
            Some(pod) if is_terminal(pod) => {
                actions.push(Action::delete(pod));
                all_healthy = false;
            }
            Some(pod) if !is_running_and_ready(pod) => all_healthy = false,
            Some(_) => continue,
        }
        if monotonic {
            return actions;
        }
    }

    for (_, pod) in by_ordinal
        .range(end..)
        .rev()
        .chain(by_ordinal.range(..start).rev())
    {
        if is_terminating(pod) {
            if monotonic {
                return actions;
            }
            continue;
        }
        actions.push(Action::delete(pod));
        all_healthy = false;
        if monotonic {
            return actions;
        }
    }

    let rolling = str_at(sts, &["spec", "updateStrategy", "type"]) != Some("OnDelete");
    if rolling && all_healthy && actions.is_empty() {
        let partition = i64_at(
            sts,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
        )
        .unwrap_or(0);
        let stale = by_ordinal.range(start..end).rev().find(|(o, p)| {
            **o >= start + partition && label(p, REVISION_LABEL) != Some(revision.as_str())
        });
        if let Some((_, pod)) = stale {
            actions.push(Action::delete(pod));
        }
    }
    actions
}

/// The pod for one ordinal: identity labels, hostname/subdomain and volumes
/// for the claim templates.
fn stateful_pod(sts: &Value, ord: i64, revision: &str) -> Value {
    let pod_name = format!("{}-{ord}", name(sts));
    let extras = PodExtras {
        labels: vec![
            (REVISION_LABEL.to_owned(), revision.to_owned()),
            (
                "statefulset.kubernetes.io/pod-name".to_owned(),
                pod_name.clone(),
            ),
            ("apps.kubernetes.io/pod-index".to_owned(), ord.to_string()),
        ],
        annotations: Vec::new(),
    };
    let mut pod = new_pod(sts, &pod_name, extras);
    set(&mut pod, &["spec", "hostname"], json!(pod_name));
    if let Some(service) = nonempty_str_at(sts, &["spec", "serviceName"]) {
        set(&mut pod, &["spec", "subdomain"], json!(service));
    }
    let claims = array_at(sts, &["spec", "volumeClaimTemplates"]);
    if !claims.is_empty() {
        let mut volumes: Vec<Value> = array_at(&pod, &["spec", "volumes"]).to_vec();
        for claim in claims {
            let claim_name = name(claim);
            if volumes.iter().any(|v| name_of_volume(v) == claim_name) {
                continue;
            }
            volumes.push(json!({
                "name": claim_name,
                "persistentVolumeClaim": { "claimName": format!("{claim_name}-{pod_name}") },
            }));
        }
        set(&mut pod, &["spec", "volumes"], Value::Array(volumes));
    }
    pod
}

/// A volume's `name`.
fn name_of_volume(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}
