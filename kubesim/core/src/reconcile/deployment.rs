//! Deployment reconciliation over ReplicaSets, one step of
//! kube-controller-manager 1.32's `pkg/controller/deployment`:
//! `sync.go` (`getAllReplicaSetsAndSyncRevision`, `getNewReplicaSet`,
//! `scaleReplicaSet`, `cleanupDeployment`), `rolling.go`
//! (`reconcileNewReplicaSet`, `reconcileOldReplicaSets`,
//! `cleanupUnhealthyReplicas`, `scaleDownOldReplicaSetsForRollingUpdate`),
//! `recreate.go`, and `util/deployment_util.go` for the revision
//! annotations, `NewRSNewReplicas`, `ResolveFenceposts` and the annotations
//! a ReplicaSet copies from its Deployment. The pods themselves are the
//! ReplicaSet controller's ([`super::replicaset`]).

use serde_json::{Map, Value, json};

use super::{Action, Target, replicas};
use crate::events::{Event, ObjectRef};
use crate::json::{
    at, bool_at, i64_at, int_or_percent, is_terminating, name, namespace, parse_time, set, str_at,
    template_hash,
};

/// Label carrying the template hash on ReplicaSets and their pods.
pub(crate) const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision of a ReplicaSet (and of its Deployment: the newest).
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had (a rollback reuses a ReplicaSet).
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Replicas plus maxSurge when the ReplicaSet was last scaled.
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Annotations a ReplicaSet does not copy from its Deployment
/// (`util/deployment_util.go`, `annotationsToSkip`).
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// The source of the Deployment's events.
const COMPONENT: &str = "deployment-controller";

/// The Deployment's current template hash (of its template as Go would see
/// it; the ReplicaSet's template carries the hash label besides).
pub(crate) fn current_hash(deploy: &Value) -> String {
    template_hash(Some(&without_hash(at(deploy, &["spec", "template"]))))
}

/// Drops nulls and empty maps and lists, which a Go client sends for unset
/// fields (`kubectl rollout undo` sends `creationTimestamp: null`) and the
/// upstream server, decoding into structs, never keeps; `Semantic.DeepEqual`
/// also holds nil and empty alike.
fn go_normal(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => {
            m.retain(|_, x| go_normal(x));
            !m.is_empty()
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                go_normal(x);
            }
            !a.is_empty()
        }
        _ => true,
    }
}

/// A ReplicaSet's revision (0 when unset or unreadable).
fn revision(rs: &Value) -> i64 {
    str_at(rs, &["metadata", "annotations", REVISION])
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// A pod template without the `pod-template-hash` label (`EqualIgnoreHash`),
/// in [`go_normal`] form.
fn without_hash(template: Option<&Value>) -> Value {
    let mut t = template.cloned().unwrap_or(Value::Null);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    if !go_normal(&mut t) {
        t = Value::Null;
    }
    t
}

/// The ReplicaSet running the Deployment's current template, if any: the
/// oldest whose template equals it but for the hash label (`FindNewReplicaSet`),
/// else the one named by the current hash.
pub(crate) fn find_new<'a>(deploy: &Value, sets: &[&'a Value]) -> Option<&'a Value> {
    let want = without_hash(at(deploy, &["spec", "template"]));
    let hash = current_hash(deploy);
    sets.iter()
        .copied()
        .find(|rs| without_hash(at(rs, &["spec", "template"])) == want)
        .or_else(|| {
            sets.iter().copied().find(|rs| {
                str_at(rs, &["metadata", "labels", POD_TEMPLATE_HASH]) == Some(hash.as_str())
            })
        })
}

/// `(maxSurge, maxUnavailable)` resolved against the replica count like
/// Kubernetes' `ResolveFenceposts` (surge rounds up, unavailable down, both
/// zero means one unavailable); `Recreate` yields `(0, 0)`.
pub(crate) fn fenceposts(deploy: &Value, desired: i64) -> (i64, i64) {
    if is_recreate(deploy) {
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

pub(crate) fn is_recreate(deploy: &Value) -> bool {
    str_at(deploy, &["spec", "strategy", "type"]) == Some("Recreate")
}

/// A ReplicaSet as the step sees it: its spec replicas, possibly already
/// changed by this step.
struct Set<'a> {
    rs: &'a Value,
    replicas: i64,
}

impl Set<'_> {
    /// Available replicas, never more than the spec asks for (a status not
    /// yet caught up with a scale-down must not count pods about to go).
    fn available(&self) -> i64 {
        i64_at(self.rs, &["status", "availableReplicas"])
            .unwrap_or(0)
            .min(self.replicas)
    }

    /// Pods it still has (`status.replicas`).
    fn actual(&self) -> i64 {
        i64_at(self.rs, &["status", "replicas"]).unwrap_or(0)
    }
}

/// The step being planned.
struct Step<'a> {
    deploy: &'a Value,
    desired: i64,
    surge: i64,
    unavailable: i64,
    actions: Vec<Action>,
}

impl Step<'_> {
    fn scale(&mut self, set: &mut Set<'_>, to: i64) {
        if set.replicas == to && !self.annotations_stale(set.rs) {
            return;
        }
        let from = set.replicas;
        let mut annotations = Map::new();
        annotations.insert(DESIRED_REPLICAS.into(), json!(self.desired.to_string()));
        annotations.insert(
            MAX_REPLICAS.into(),
            json!((self.desired + self.surge).to_string()),
        );
        let event = (from != to).then(|| {
            let way = if to > from { "up" } else { "down" };
            self.event(format!(
                "Scaled {way} replica set {} from {from} to {to}",
                name(set.rs)
            ))
        });
        set.replicas = to;
        self.actions.push(Action::Patch {
            target: Target::of("ReplicaSet", set.rs),
            patch: json!({"metadata": {"annotations": annotations}, "spec": {"replicas": to}}),
            event,
        });
    }

    fn annotations_stale(&self, rs: &Value) -> bool {
        let ann = |k: &str| str_at(rs, &["metadata", "annotations", k]);
        ann(DESIRED_REPLICAS) != Some(self.desired.to_string().as_str())
            || ann(MAX_REPLICAS) != Some((self.desired + self.surge).to_string().as_str())
    }

    fn event(&self, message: String) -> Event {
        let regarding = ObjectRef::to(self.deploy, "apps/v1", "Deployment");
        Event::normal(regarding, COMPONENT, "ScalingReplicaSet", message)
    }
}

/// One reconciliation step for a Deployment given the ReplicaSets it
/// controls: create the ReplicaSet of a new template, keep revisions and
/// copied annotations in sync, scale per strategy (unless paused), and drop
/// ReplicaSets beyond `revisionHistoryLimit`.
pub fn reconcile_deployment(deploy: &Value, owned: &[Value]) -> Vec<Action> {
    if is_terminating(deploy)
        || at(deploy, &["spec", "selector"])
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    {
        return Vec::new();
    }
    let mut sorted: Vec<&Value> = owned.iter().collect();
    sorted.sort_by_key(|rs| {
        (
            parse_time(at(rs, &["metadata", "creationTimestamp"])),
            name(rs).to_owned(),
        )
    });
    let desired = replicas(deploy);
    let (surge, unavailable) = fenceposts(deploy, desired);
    let mut step = Step {
        deploy,
        desired,
        surge,
        unavailable,
        actions: Vec::new(),
    };
    let new_rs = find_new(deploy, &sorted);
    let mut old: Vec<Set<'_>> = sorted
        .iter()
        .filter(|rs| Some(**rs) != new_rs)
        .map(|rs| Set {
            rs,
            replicas: replicas(rs),
        })
        .collect();
    let max_old = old.iter().map(|s| revision(s.rs)).max().unwrap_or(0);
    let paused = bool_at(deploy, &["spec", "paused"]);

    // The new ReplicaSet: sync its revision and annotations, or create it.
    let mut new = new_rs.map(|rs| Set {
        rs,
        replicas: replicas(rs),
    });
    let new_revision = match &new {
        Some(set) => sync_new_annotations(&mut step, set.rs, max_old),
        None if paused => 0,
        None => {
            let start = if is_recreate(deploy) {
                // Recreate starts the new pods once the old ones are gone.
                let old_left = old.iter().any(|s| s.replicas > 0 || s.actual() > 0);
                if old_left { None } else { Some(desired) }
            } else {
                Some(new_rs_replicas(&step, &old, 0))
            };
            match start {
                Some(n) => {
                    create_new(&mut step, max_old + 1, n);
                    max_old + 1
                }
                None => 0,
            }
        }
    };
    if new_revision > 0
        && str_at(deploy, &["metadata", "annotations", REVISION])
            != Some(new_revision.to_string().as_str())
    {
        step.actions.push(Action::Patch {
            target: Target::of("Deployment", deploy),
            patch: json!({"metadata": {"annotations": {REVISION: new_revision.to_string()}}}),
            event: None,
        });
    }

    if paused {
        // A paused Deployment still scales (`sync`), but rolls nothing.
        scale(&mut step, new.as_mut(), &mut old);
        cleanup(&mut step, &old);
        return step.actions;
    }
    if is_scaling_event(&step, new.as_ref(), &old) {
        scale(&mut step, new.as_mut(), &mut old);
        return step.actions;
    }
    if is_recreate(deploy) {
        recreate(&mut step, new.as_mut(), &mut old);
    } else if let Some(n) = new.as_mut() {
        rolling(&mut step, n, &mut old);
    }
    let all_settled = old.iter().all(|s| s.replicas == 0 && s.actual() == 0);
    if all_settled {
        cleanup(&mut step, &old);
    }
    step.actions
}

/// `isScalingEvent`: an active ReplicaSet was last sized for another replica count.
fn is_scaling_event(step: &Step<'_>, new: Option<&Set<'_>>, old: &[Set<'_>]) -> bool {
    new.into_iter().chain(old).any(|s| {
        s.replicas > 0
            && str_at(s.rs, &["metadata", "annotations", DESIRED_REPLICAS])
                .and_then(|d| d.parse::<i64>().ok())
                .is_some_and(|d| d != step.desired)
    })
}

/// `scale` (`sync.go`): one active ReplicaSet (or none: the newest) takes the new count; a
/// saturated new one leaves the old ones at zero; otherwise a rolling Deployment spreads the
/// change over its active ReplicaSets in proportion to their size (`GetProportion`), the
/// leftover to the largest.
fn scale<'a>(step: &mut Step<'_>, new: Option<&mut Set<'a>>, old: &mut [Set<'a>]) {
    let desired = step.desired;
    let saturated = new.as_ref().is_some_and(|n| {
        n.replicas == desired && i64_at(n.rs, &["status", "availableReplicas"]) == Some(desired)
    });
    // Newest first, as `FindActiveOrLatest` sorts them.
    let has_new = new.is_some();
    let mut all: Vec<&mut Set<'a>> = new.into_iter().chain(old.iter_mut().rev()).collect();
    let active: Vec<usize> = (0..all.len()).filter(|i| all[*i].replicas > 0).collect();
    match active.as_slice() {
        [] if !all.is_empty() => {
            step.scale(all[0], desired);
            return;
        }
        [i] => {
            let i = *i;
            step.scale(all[i], desired);
            return;
        }
        _ => {}
    }
    if saturated {
        for set in all.iter_mut().skip(usize::from(has_new)) {
            if set.replicas > 0 {
                step.scale(set, 0);
            }
        }
        return;
    }
    if is_recreate(step.deploy) {
        return;
    }
    let mut sets: Vec<&mut Set<'a>> = all.into_iter().filter(|s| s.replicas > 0).collect();
    let total: i64 = sets.iter().map(|s| s.replicas).sum();
    let allowed = if desired > 0 { desired + step.surge } else { 0 };
    let to_add = allowed - total;
    if to_add == 0 {
        return;
    }
    // Largest first; among equals the newer when growing, the older when shrinking (the
    // list is newest first, and the sort is stable).
    if to_add > 0 {
        sets.sort_by_key(|s| std::cmp::Reverse(s.replicas));
    } else {
        sets.reverse();
        sets.sort_by_key(|s| std::cmp::Reverse(s.replicas));
    }
    let mut added = 0;
    let mut sizes: Vec<i64> = Vec::with_capacity(sets.len());
    for set in &sets {
        let proportion = if to_add == added {
            0
        } else {
            let annotated = str_at(set.rs, &["metadata", "annotations", MAX_REPLICAS])
                .and_then(|m| m.parse::<i64>().ok())
                .filter(|m| *m > 0)
                .unwrap_or(total.max(1));
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let fraction = if desired == 0 {
                -set.replicas
            } else {
                ((set.replicas * allowed) as f64 / annotated as f64).round() as i64 - set.replicas
            };
            let left = to_add - added;
            if to_add > 0 {
                fraction.min(left)
            } else {
                fraction.max(left)
            }
        };
        added += proportion;
        sizes.push(set.replicas + proportion);
    }
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    for (set, size) in sets.into_iter().zip(sizes) {
        step.scale(set, size);
    }
}

/// Revision and copied annotations of an existing new ReplicaSet
/// (`SetNewReplicaSetAnnotations`); returns its revision.
fn sync_new_annotations(step: &mut Step<'_>, rs: &Value, max_old: i64) -> i64 {
    let current = revision(rs);
    let mut patch = copied_annotations(step.deploy, rs);
    let wanted = if current <= max_old {
        max_old + 1
    } else {
        current
    };
    if wanted != current {
        patch.insert(REVISION.into(), json!(wanted.to_string()));
        if current > 0 {
            let history = match str_at(rs, &["metadata", "annotations", REVISION_HISTORY])
                .filter(|h| !h.is_empty())
            {
                Some(h) => format!("{h},{current}"),
                None => current.to_string(),
            };
            patch.insert(REVISION_HISTORY.into(), json!(history));
        }
    }
    if !patch.is_empty() {
        step.actions.push(Action::Patch {
            target: Target::of("ReplicaSet", rs),
            patch: json!({"metadata": {"annotations": patch}}),
            event: None,
        });
    }
    wanted
}

/// The Deployment's annotations `rs` lacks or has otherwise.
fn copied_annotations(deploy: &Value, rs: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(anns) = at(deploy, &["metadata", "annotations"]).and_then(Value::as_object) else {
        return out;
    };
    for (k, v) in anns {
        if NOT_COPIED.contains(&k.as_str()) {
            continue;
        }
        if at(rs, &["metadata", "annotations", k]) != Some(v) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// `NewRSNewReplicas` for a rolling update: grow toward `desired` without
/// exceeding `desired + maxSurge` pods in all.
fn new_rs_replicas(step: &Step<'_>, old: &[Set<'_>], new_replicas: i64) -> i64 {
    let current: i64 = old.iter().map(|s| s.replicas).sum::<i64>() + new_replicas;
    let max_total = step.desired + step.surge;
    if current >= max_total {
        return new_replicas;
    }
    let up = (max_total - current)
        .min(step.desired - new_replicas)
        .max(0);
    new_replicas + up
}

/// Creates `<deployment>-<hash>` with the template, the hash label and selector,
/// the Deployment's annotations and its revision (`getNewReplicaSet`).
fn create_new(step: &mut Step<'_>, revision: i64, replicas: i64) {
    let deploy = step.deploy;
    let hash = current_hash(deploy);
    let rs_name = format!("{}-{hash}", name(deploy));
    let mut template = at(deploy, &["spec", "template"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    set(
        &mut template,
        &["metadata", "labels", POD_TEMPLATE_HASH],
        json!(hash),
    );
    let labels = at(&template, &["metadata", "labels"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut selector = at(deploy, &["spec", "selector"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    set(
        &mut selector,
        &["matchLabels", POD_TEMPLATE_HASH],
        json!(hash),
    );
    let mut annotations = copied_annotations(deploy, &Value::Null);
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(DESIRED_REPLICAS.into(), json!(step.desired.to_string()));
    annotations.insert(
        MAX_REPLICAS.into(),
        json!((step.desired + step.surge).to_string()),
    );
    let mut spec = json!({
        "replicas": replicas,
        "selector": selector,
        "template": template,
    });
    if let Some(m) = i64_at(deploy, &["spec", "minReadySeconds"]) {
        spec["minReadySeconds"] = json!(m);
    }
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": namespace(deploy),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name(deploy),
                "uid": str_at(deploy, &["metadata", "uid"]).unwrap_or(""),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    });
    let event = (replicas > 0).then(|| {
        step.event(format!(
            "Scaled up replica set {rs_name} from 0 to {replicas}"
        ))
    });
    step.actions.push(Action::Create { object: rs, event });
}

/// `rolloutRolling`: scale the new ReplicaSet up within the surge, else the
/// old ones down within the availability budget.
fn rolling(step: &mut Step<'_>, new: &mut Set<'_>, old: &mut [Set<'_>]) {
    // reconcileNewReplicaSet
    if new.replicas > step.desired {
        step.scale(new, step.desired);
        return;
    }
    if new.replicas < step.desired {
        let to = new_rs_replicas(step, old, new.replicas);
        if to != new.replicas {
            step.scale(new, to);
            return;
        }
    } else if step.annotations_stale(new.rs) {
        step.scale(new, new.replicas);
    }
    // reconcileOldReplicaSets
    let old_pods: i64 = old.iter().map(|s| s.replicas).sum();
    if old_pods == 0 {
        return;
    }
    let all_pods = old_pods + new.replicas;
    let min_available = step.desired - step.unavailable;
    let new_unavailable = new.replicas - new.available();
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return;
    }
    // cleanupUnhealthyReplicas: old pods that are not available cost nothing.
    let mut cleaned = 0;
    for set in old.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        if set.replicas == 0 || set.replicas == set.available() {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(set.replicas - set.available());
        let to = set.replicas - down;
        step.scale(set, to);
        cleaned += down;
    }
    // scaleDownOldReplicaSetsForRollingUpdate
    let available: i64 = old.iter().map(Set::available).sum::<i64>() + new.available();
    if available <= min_available {
        return;
    }
    let mut left = available - min_available;
    for set in old.iter_mut() {
        if left <= 0 {
            break;
        }
        if set.replicas == 0 {
            continue;
        }
        let down = set.replicas.min(left);
        let to = set.replicas - down;
        step.scale(set, to);
        left -= down;
    }
}

/// `rolloutRecreate`: old ReplicaSets to zero; the new one up once no old
/// pod is left.
fn recreate(step: &mut Step<'_>, new: Option<&mut Set<'_>>, old: &mut [Set<'_>]) {
    let mut scaled = false;
    for set in old.iter_mut() {
        if set.replicas > 0 {
            step.scale(set, 0);
            scaled = true;
        }
    }
    if scaled || old.iter().any(|s| s.actual() > 0) {
        return;
    }
    if let Some(n) = new {
        step.scale(n, step.desired);
    }
}

/// `cleanupDeployment`: delete the oldest revisions of scaled-down
/// ReplicaSets beyond `spec.revisionHistoryLimit` (default 10).
fn cleanup(step: &mut Step<'_>, old: &[Set<'_>]) {
    let limit = i64_at(step.deploy, &["spec", "revisionHistoryLimit"]).unwrap_or(10);
    let mut cleanable: Vec<&Set<'_>> = old.iter().filter(|s| !is_terminating(s.rs)).collect();
    let surplus = i64::try_from(cleanable.len()).unwrap_or(0) - limit.max(0);
    if surplus <= 0 {
        return;
    }
    cleanable.sort_by_key(|s| (revision(s.rs), name(s.rs).to_owned()));
    for set in cleanable
        .into_iter()
        .take(usize::try_from(surplus).unwrap_or(0))
    {
        let observed = i64_at(set.rs, &["status", "observedGeneration"]).unwrap_or(0);
        let generation = i64_at(set.rs, &["metadata", "generation"]).unwrap_or(0);
        if set.replicas != 0 || set.actual() != 0 || generation > observed {
            continue;
        }
        step.actions.push(Action::Delete {
            target: Target::of("ReplicaSet", set.rs),
            event: None,
        });
    }
}
