//! What the federation API says of every cluster, as a watch sees it: each cluster's phase and
//! holding hub (`status.phase`, `status.hub`) now, and every change with the time it arrived.
//! [`failover`] reads a kill out of that record (pure, tested below).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;

/// A cluster's phase and holding hub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Held {
    /// `status.phase`.
    pub(crate) phase: String,
    /// `status.hub` ("" before any hub took it).
    pub(crate) hub: String,
}

impl Held {
    /// Running, held by some hub.
    pub(crate) fn running(&self) -> bool {
        self.phase == "Running" && !self.hub.is_empty()
    }
}

/// One change of a cluster's [`Held`], when the watch delivered it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) at: Instant,
    pub(crate) cluster: String,
    pub(crate) held: Held,
}

/// Every cluster now, and the changes so far.
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) now: HashMap<String, Held>,
    pub(crate) changes: Vec<Change>,
}

impl Record {
    fn update(&mut self, obj: &DynamicObject) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let s = |k: &str| {
            obj.data
                .pointer(&format!("/status/{k}"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let held = Held {
            phase: s("phase"),
            hub: s("hub"),
        };
        if self.now.get(&name) != Some(&held) {
            self.changes.push(Change {
                at: Instant::now(),
                cluster: name.clone(),
                held: held.clone(),
            });
            self.now.insert(name, held);
        }
    }

    /// Clusters of `names` Running on some hub.
    pub(crate) fn running(&self, names: &HashSet<String>) -> usize {
        names
            .iter()
            .filter(|n| self.now.get(*n).is_some_and(Held::running))
            .count()
    }

    /// Clusters Running, per holding hub.
    pub(crate) fn per_hub(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for h in self.now.values().filter(|h| h.running()) {
            *out.entry(h.hub.clone()).or_default() += 1;
        }
        out
    }
}

/// Watch every RegisteredCluster of the federation into a shared [`Record`] (until aborted).
pub(crate) fn watch(fed: &kube::Client) -> (Arc<Mutex<Record>>, tokio::task::JoinHandle<()>) {
    let record = Arc::new(Mutex::new(Record::default()));
    let api: Api<DynamicObject> = cceone_platform::registered_clusters(fed);
    let into = Arc::clone(&record);
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    into.lock().unwrap().update(&o)
                }
                Ok(_) => {}
                // The watcher lists again by itself; a pause keeps a failing API from spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    (record, task)
}

/// What a kill of hub `victim` at `killed` did, read from the changes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Failover {
    /// Per cluster the victim held: kill → first seen Running on another hub.
    pub(crate) moved: Vec<Duration>,
    /// Clusters that moved and then changed again (left Running, or another hub took them).
    pub(crate) flapped: Vec<String>,
    /// Clusters the other hubs held whose status changed at all after the kill.
    pub(crate) disturbed: Vec<String>,
}

/// Read a failover out of `changes`: `before` is every cluster's [`Held`] at the kill.
pub(crate) fn failover(
    changes: &[Change],
    before: &HashMap<String, Held>,
    victim: &str,
    killed: Instant,
) -> Failover {
    let mut out = Failover::default();
    // Where each of the victim's clusters went, once it did.
    let mut landed: HashMap<&str, &str> = HashMap::new();
    let mut flapped = HashSet::new();
    let mut disturbed = HashSet::new();
    for c in changes.iter().filter(|c| c.at >= killed) {
        let Some(was) = before.get(&c.cluster) else {
            continue;
        };
        if was.hub == victim {
            match landed.get(c.cluster.as_str()) {
                None if c.held.running() && c.held.hub != victim => {
                    landed.insert(&c.cluster, &c.held.hub);
                    out.moved.push(c.at - killed);
                }
                None => {}
                Some(hub) if c.held.running() && c.held.hub == *hub => {}
                Some(_) => {
                    flapped.insert(c.cluster.clone());
                }
            }
        } else if *was != c.held {
            disturbed.insert(c.cluster.clone());
        }
    }
    out.moved.sort();
    out.flapped = flapped.into_iter().collect();
    out.flapped.sort();
    out.disturbed = disturbed.into_iter().collect();
    out.disturbed.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(phase: &str, hub: &str) -> Held {
        Held {
            phase: phase.into(),
            hub: hub.into(),
        }
    }

    #[test]
    fn moves_flaps_and_disturbances() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let before: HashMap<String, Held> = [
            ("a1", held("Running", "a")),
            ("a2", held("Running", "a")),
            ("a3", held("Running", "a")),
            ("b1", held("Running", "b")),
            ("c1", held("Running", "c")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let change = |ms, cluster: &str, phase, hub| Change {
            at: at(ms),
            cluster: cluster.into(),
            held: held(phase, hub),
        };
        let changes = vec![
            // Before the kill: ignored.
            Change {
                at: t0 - Duration::from_millis(5),
                cluster: "b1".into(),
                held: held("Running", "b"),
            },
            // a1 goes Disconnected first (not a move), then lands on b and stays.
            change(100, "a1", "Disconnected", "a"),
            change(900, "a1", "Running", "b"),
            // a2 lands on c, then moves on to b: a flap.
            change(300, "a2", "Running", "c"),
            change(2000, "a2", "Running", "b"),
            // a3 never moves. c1 is disturbed; b1 is not.
            change(400, "c1", "Disconnected", "c"),
        ];
        let f = failover(&changes, &before, "a", t0);
        assert_eq!(
            f.moved,
            vec![Duration::from_millis(300), Duration::from_millis(900)]
        );
        assert_eq!(f.flapped, vec!["a2".to_string()]);
        assert_eq!(f.disturbed, vec!["c1".to_string()]);
    }
}
