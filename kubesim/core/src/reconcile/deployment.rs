//! Deployment reconciliation. Pods are owned directly by the Deployment (no
//! ReplicaSet objects) but carry the `pod-template-hash` label and the
//! `<deployment>-<hash>-<suffix>` names a ReplicaSet would give them. The
//! `Recreate` and `RollingUpdate` (maxSurge / maxUnavailable) strategies are
//! followed one step per call.

use serde_json::Value;

use super::{Action, NameGen, PodExtras, delete_preferred, new_pod, replicas};
use crate::json::{at, int_or_percent, label, name, namespace, str_at, template_hash};
use crate::pods::{is_active, is_ready, is_terminal};

/// Label carrying the template hash on Deployment pods.
pub(crate) const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// The Deployment's current template hash.
pub(crate) fn current_hash(deploy: &Value) -> String {
    template_hash(at(deploy, &["spec", "template"]))
}

/// `(maxSurge, maxUnavailable)` resolved against the replica count like
/// Kubernetes' `ResolveFenceposts` (surge rounds up, unavailable down, both
/// zero means one unavailable); `Recreate` yields `(0, 0)`.
pub(crate) fn fenceposts(deploy: &Value, desired: i64) -> (i64, i64) {
    if str_at(deploy, &["spec", "strategy", "type"]) == Some("Recreate") {
        return (0, 0);
    }
    let rolling = at(deploy, &["spec", "strategy", "rollingUpdate"]);
    let surge = int_or_percent(
        rolling.and_then(|r| r.get("maxSurge")),
        desired,
        true,
        "25%",
    );
    let unavailable = int_or_percent(
        rolling.and_then(|r| r.get("maxUnavailable")),
        desired,
        false,
        "25%",
    );
    if surge <= 0 && unavailable <= 0 {
        (0, 1)
    } else {
        (surge.max(0), unavailable.max(0))
    }
}

/// One reconciliation step for a Deployment.
pub(super) fn reconcile(deploy: &Value, owned: &[Value]) -> Vec<Action> {
    let desired = replicas(deploy);
    let hash = current_hash(deploy);
    let mut actions: Vec<Action> = owned
        .iter()
        .filter(|p| is_terminal(p) && !crate::json::is_terminating(p))
        .map(Action::delete)
        .collect();
    let active: Vec<&Value> = owned.iter().filter(|p| is_active(p)).collect();
    let (new, old): (Vec<&Value>, Vec<&Value>) = active
        .iter()
        .partition(|p| label(p, POD_TEMPLATE_HASH) == Some(hash.as_str()));
    let count = |v: &[&Value]| i64::try_from(v.len()).unwrap_or(i64::MAX);

    let new_count = count(&new);
    let mut total = count(&active);
    let recreate = str_at(deploy, &["spec", "strategy", "type"]) == Some("Recreate");
    if recreate {
        if !old.is_empty() {
            actions.extend(old.iter().map(|p| Action::delete(p)));
            return actions;
        }
        // Wait until the old pods are gone before starting new ones.
        let old_terminating = owned.iter().any(|p| {
            crate::json::is_terminating(p) && label(p, POD_TEMPLATE_HASH) != Some(hash.as_str())
        });
        if old_terminating {
            return actions;
        }
    } else if !old.is_empty() {
        let (surge, unavailable) = fenceposts(deploy, desired);
        let min_available = desired - unavailable;
        let new_unready = count(
            &new.iter()
                .copied()
                .filter(|p| !is_ready(p))
                .collect::<Vec<_>>(),
        );
        let (old_ready, old_unready): (Vec<&Value>, Vec<&Value>) =
            old.iter().partition(|p| is_ready(p));
        // Old pods that are not ready cost no availability: clean them up first.
        let cleanup = usize::try_from(total - min_available - new_unready).unwrap_or(0);
        let removed = delete_preferred(&old_unready, cleanup, &mut actions);
        total -= i64::try_from(removed).unwrap_or(0);
        let available = count(
            &active
                .iter()
                .copied()
                .filter(|p| is_ready(p))
                .collect::<Vec<_>>(),
        );
        let scale_down = usize::try_from(available - min_available).unwrap_or(0);
        let removed = delete_preferred(&old_ready, scale_down, &mut actions);
        total -= i64::try_from(removed).unwrap_or(0);
        let room = desired + surge - total;
        let want = (desired - new_count).min(room);
        if want > 0 {
            create_pods(deploy, owned, &hash, want, &mut actions);
        }
        if new_count > desired {
            delete_preferred(
                &new,
                usize::try_from(new_count - desired).unwrap_or(0),
                &mut actions,
            );
        }
        return actions;
    }
    if new_count < desired {
        create_pods(deploy, owned, &hash, desired - new_count, &mut actions);
    } else if new_count > desired {
        delete_preferred(
            &new,
            usize::try_from(new_count - desired).unwrap_or(0),
            &mut actions,
        );
    }
    actions
}

/// Appends `count` pod creations for the current template.
fn create_pods(deploy: &Value, owned: &[Value], hash: &str, count: i64, actions: &mut Vec<Action>) {
    let prefix = format!("{}-{hash}-", name(deploy));
    let seed = format!("{}/{}", namespace(deploy), prefix);
    let mut names = NameGen::new(seed, prefix, owned);
    for _ in 0..count {
        let pod_name = names.next_name();
        let extras = PodExtras {
            labels: vec![(POD_TEMPLATE_HASH.to_owned(), hash.to_owned())],
            annotations: Vec::new(),
        };
        actions.push(Action::CreatePod(new_pod(deploy, &pod_name, extras)));
    }
}
