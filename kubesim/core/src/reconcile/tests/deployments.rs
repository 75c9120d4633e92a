//! Deployment rollouts played through ReplicaSets and pods: the Deployment
//! step, each ReplicaSet's step and its status, pods turning ready at once
//! (or not), until nothing is left to do.

#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::*;
use super::T0;
use crate::status::workload_status;
use crate::test_support::{make_ready, ts, workload};

/// RFC 7386 merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

struct World {
    d: Value,
    sets: Vec<Value>,
    pods: Vec<Value>,
    events: Vec<String>,
    /// New pods become ready.
    ready: bool,
    created: u32,
    now: Timestamp,
}

impl World {
    fn new(d: Value) -> World {
        World {
            d,
            sets: Vec::new(),
            pods: Vec::new(),
            events: Vec::new(),
            ready: true,
            created: 0,
            now: ts(T0),
        }
    }

    fn owned(&self, uid: &str) -> Vec<Value> {
        self.pods
            .iter()
            .filter(|p| p["metadata"]["ownerReferences"][0]["uid"] == uid)
            .cloned()
            .collect()
    }

    fn stamp(&mut self, obj: &mut Value) {
        self.created += 1;
        obj["metadata"]["uid"] = json!(format!("uid-{}", name(obj)));
        obj["metadata"]["generation"] = json!(1);
        obj["metadata"]["creationTimestamp"] = json!(format!(
            "2024-01-01T00:{:02}:{:02}Z",
            self.created / 60,
            self.created % 60
        ));
    }

    /// One pass; whether anything was written.
    fn step(&mut self) -> bool {
        let mut changed = false;
        for action in reconcile_deployment(&self.d, &self.sets) {
            changed = true;
            let event = match action {
                Action::Create { mut object, event } => {
                    self.stamp(&mut object);
                    self.sets.push(object);
                    event
                }
                Action::Patch {
                    target,
                    patch,
                    event,
                } => {
                    if target.kind == "Deployment" {
                        merge(&mut self.d, &patch);
                    } else {
                        let rs = self
                            .sets
                            .iter_mut()
                            .find(|r| name(r) == target.name)
                            .unwrap();
                        if patch.get("spec").is_some() {
                            let g = rs["metadata"]["generation"].as_i64().unwrap();
                            rs["metadata"]["generation"] = json!(g + 1);
                        }
                        merge(rs, &patch);
                    }
                    event
                }
                Action::Delete { target, event } => {
                    let uid = format!("uid-{}", target.name);
                    self.sets.retain(|r| name(r) != target.name);
                    self.pods
                        .retain(|p| p["metadata"]["ownerReferences"][0]["uid"] != uid.as_str());
                    event
                }
                Action::Record(e) => Some(e),
                other => panic!("{other:?}"),
            };
            if let Some(e) = event {
                self.events.push(e.message);
            }
        }
        for i in 0..self.sets.len() {
            let uid = self.sets[i]["metadata"]["uid"].as_str().unwrap().to_owned();
            let owned = self.owned(&uid);
            for action in reconcile(&self.sets[i], &owned, &[]) {
                changed = true;
                match action {
                    Action::CreatePod(mut p) => {
                        self.stamp(&mut p);
                        if self.ready {
                            p = make_ready(p, T0);
                        }
                        self.pods.push(p);
                    }
                    Action::DeletePod { name: n, .. } => self.pods.retain(|p| name(p) != n),
                    other => panic!("{other:?}"),
                }
            }
            let owned = self.owned(&uid);
            let status = workload_status(&self.sets[i], &owned, &[], self.now);
            if self.sets[i]["status"] != status {
                self.sets[i]["status"] = status;
                changed = true;
            }
        }
        changed
    }

    /// Steps until nothing changes, checking the rolling-update bounds.
    fn converge(&mut self) {
        let desired = replicas(&self.d);
        let (surge, unavailable) = fenceposts(&self.d, desired);
        for _ in 0..200 {
            if !self.step() {
                return;
            }
            let total = self.pods.len() as i64;
            assert!(
                total <= desired + surge,
                "{total} pods > {desired} + {surge}"
            );
            if self.ready && self.d["spec"]["strategy"]["type"] != "Recreate" {
                assert!(total >= desired - unavailable, "{total} pods");
            }
        }
        panic!("no convergence");
    }

    fn revisions(&self) -> Vec<(String, String, i64)> {
        self.sets
            .iter()
            .map(|r| {
                let rev = r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                (
                    name(r).to_owned(),
                    rev,
                    r["spec"]["replicas"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn set_image(&mut self, image: &str) {
        self.d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    }
}

#[test]
fn first_rollout_creates_a_replica_set_of_revision_one() {
    let mut d = workload("Deployment", "web", json!({ "replicas": 3 }));
    d["metadata"]["annotations"] = json!({"kubernetes.io/change-cause": "v1",
        "kubectl.kubernetes.io/last-applied-configuration": "{}"});
    let mut w = World::new(d);
    w.converge();
    let revs = w.revisions();
    assert_eq!(revs.len(), 1, "{revs:?}");
    let (rs, rev, replicas) = revs[0].clone();
    assert_eq!(replicas, 3);
    let hash = current_hash(&w.d);
    assert_eq!(rs, format!("web-{hash}"));
    assert_eq!(rev, "1");
    let set = &w.sets[0];
    assert_eq!(
        set["metadata"]["labels"]["pod-template-hash"],
        hash.as_str()
    );
    assert_eq!(
        set["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash.as_str()
    );
    assert_eq!(set["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(set["metadata"]["ownerReferences"][0]["controller"], true);
    let anns = &set["metadata"]["annotations"];
    assert_eq!(anns["kubernetes.io/change-cause"], "v1");
    assert!(
        anns.get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(anns["deployment.kubernetes.io/desired-replicas"], "3");
    assert_eq!(anns["deployment.kubernetes.io/max-replicas"], "4");
    assert_eq!(
        w.d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(w.pods.len(), 3);
    for p in &w.pods {
        assert!(name(p).starts_with(&format!("web-{hash}-")));
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
    }
    assert_eq!(
        w.events,
        [format!("Scaled up replica set web-{hash} from 0 to 3")]
    );
}

#[test]
fn rolling_update_then_undo_reuses_the_first_replica_set_as_revision_three() {
    let mut w = World::new(workload("Deployment", "web", json!({ "replicas": 4 })));
    w.converge();
    let first = name(&w.sets[0]).to_owned();
    w.events.clear();
    w.set_image("busybox:2");
    w.converge();
    let revs = w.revisions();
    assert_eq!(revs.len(), 2);
    assert_eq!(revs[0], (first.clone(), "1".into(), 0));
    assert_eq!(revs[1].1, "2");
    assert_eq!(revs[1].2, 4);
    assert!(
        w.pods
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2")
    );
    // maxSurge 1, maxUnavailable 1 of 4: one new pod; once it is available
    // five are, of which two may go.
    assert_eq!(
        w.events[0],
        format!("Scaled up replica set {} from 0 to 1", revs[1].0)
    );
    assert_eq!(
        w.events[1],
        format!("Scaled down replica set {first} from 4 to 2")
    );

    // `rollout undo`: the first template back (kubectl sends `creationTimestamp: null`).
    w.set_image("busybox:1");
    w.d["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
    w.converge();
    let revs = w.revisions();
    assert_eq!(revs.len(), 2, "no third ReplicaSet");
    assert_eq!(revs[0], (first.clone(), "3".into(), 4));
    assert_eq!(
        w.sets[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(
        w.d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
}

#[test]
fn paused_deployment_rolls_nothing_until_resumed_but_scales() {
    let mut w = World::new(workload("Deployment", "web", json!({ "replicas": 2 })));
    w.converge();
    w.d["spec"]["paused"] = json!(true);
    w.set_image("busybox:2");
    w.d["spec"]["replicas"] = json!(3);
    w.converge();
    assert_eq!(w.sets.len(), 1, "no new ReplicaSet while paused");
    assert_eq!(w.pods.len(), 3, "scaling still works");
    w.d["spec"]["paused"] = json!(false);
    w.converge();
    assert_eq!(w.sets.len(), 2);
    assert!(
        w.pods
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2")
    );
}

#[test]
fn rolling_update_waits_for_new_pods_to_be_available() {
    let mut w = World::new(workload("Deployment", "web", json!({ "replicas": 3 })));
    w.converge();
    w.ready = false;
    w.set_image("busybox:2");
    w.converge();
    // maxSurge 1, maxUnavailable 0: one unready new pod, the old three stay.
    let revs = w.revisions();
    assert_eq!(revs[0].2, 3);
    assert_eq!(revs[1].2, 1);
    assert_eq!(w.pods.len(), 4);
}

#[test]
fn recreate_scales_old_to_zero_before_starting_new() {
    let mut w = World::new(workload(
        "Deployment",
        "web",
        json!({ "replicas": 2, "strategy": { "type": "Recreate" } }),
    ));
    w.converge();
    w.set_image("busybox:2");
    let actions = reconcile_deployment(&w.d, &w.sets);
    assert!(
        actions.iter().all(|a| !matches!(a, Action::Create { .. })),
        "{actions:?}"
    );
    w.converge();
    let revs = w.revisions();
    assert_eq!((revs[0].2, revs[1].2), (0, 2));
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_first() {
    let mut w = World::new(workload(
        "Deployment",
        "web",
        json!({ "replicas": 1, "revisionHistoryLimit": 1 }),
    ));
    w.converge();
    for image in ["busybox:2", "busybox:3"] {
        w.set_image(image);
        w.converge();
    }
    let revs: Vec<String> = w.revisions().into_iter().map(|r| r.1).collect();
    assert_eq!(revs, ["2", "3"]);
}

#[test]
fn scaling_mid_rollout_is_spread_in_proportion() {
    let mut w = World::new(workload(
        "Deployment",
        "web",
        json!({ "replicas": 10, "strategy": {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}} }),
    ));
    w.converge();
    // A rollout stuck half way: the new pods never become ready.
    w.ready = false;
    w.set_image("busybox:2");
    w.converge();
    let before = w.revisions();
    assert_eq!((before[0].2, before[1].2), (8, 5));
    w.events.clear();
    w.d["spec"]["replicas"] = json!(20);
    w.step();
    // 13 pods were allowed (10 + 3), 23 are now: 8 → 14 and 5 → 9 (8·23/13 = 14.15, 5·23/13 = 8.85).
    let after = w.revisions();
    assert_eq!((after[0].2, after[1].2), (14, 9), "{:?}", w.events);
    assert_eq!(
        w.events,
        [
            format!("Scaled up replica set {} from 8 to 14", after[0].0),
            format!("Scaled up replica set {} from 5 to 9", after[1].0),
        ]
    );
}
