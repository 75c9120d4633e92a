//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`: several
//! replicas of a control plane serve the API, and the one holding the lease runs the
//! controllers. The lease is read and written through the in-process API ([`Core`]), so with the
//! store on etcd the compare-and-swap on its resourceVersion is etcd's.
//!
//! [`decide`] is the whole policy, a pure function of the lease as last read and the local
//! clock; [`LeaderElector::run`] is the thin driver. A follower takes over once the lease has
//! not changed for its duration *as observed locally* (not by comparing the holder's clock
//! with ours), so clock skew between replicas does not matter. A leader that cannot renew for
//! `renew_deadline` (shorter than the lease duration) stops leading before anyone else may
//! take over.

use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::WriteOptions;
use cceone_kube_apiserver::{ApiError, Core};
use serde_json::{Value, json};
use tokio::time::Instant;

/// The field manager of the elector's writes.
const MANAGER: &str = "cceone-leader-election";

/// How one elector takes part.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (one per set of replicas).
    pub name: String,
    /// This replica's name in `spec.holderIdentity` (unique per process).
    pub identity: String,
    /// How long a lease that stops changing keeps others away.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long stops leading (less than the duration).
    pub renew_deadline: Duration,
    /// How often the lease is read, renewed or tried.
    pub retry_period: Duration,
}

impl ElectionConfig {
    /// Timings under which a killed leader is replaced within about 10 seconds.
    pub fn new(namespace: &str, name: &str, identity: String) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity,
            lease_duration: Duration::from_secs(8),
            renew_deadline: Duration::from_secs(6),
            retry_period: Duration::from_secs(1),
        }
    }
}

/// The parts of a Lease the election reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `spec.holderIdentity` ("" when released).
    pub holder: String,
    /// `spec.leaseDurationSeconds`.
    pub duration: Duration,
    /// `spec.leaseTransitions`.
    pub transitions: i64,
    /// `metadata.resourceVersion` (changes with every renewal).
    pub resource_version: String,
}

impl LeaseRecord {
    /// Reads a Lease object.
    pub fn from_lease(lease: &Value) -> Self {
        let spec = &lease["spec"];
        Self {
            holder: spec["holderIdentity"].as_str().unwrap_or_default().into(),
            duration: Duration::from_secs(
                spec["leaseDurationSeconds"]
                    .as_u64()
                    .unwrap_or(0)
                    .clamp(1, 3600),
            ),
            transitions: spec["leaseTransitions"].as_i64().unwrap_or(0),
            resource_version: lease["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .into(),
        }
    }
}

/// What to do with the lease now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// There is no lease: create it, holding it.
    Create,
    /// Take the lease over (released, or expired as observed here).
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live lease.
    Follow,
}

/// The election's policy. `observed_at` is when this replica last saw the lease change
/// (its resourceVersion), by its own clock.
pub fn decide(lease: Option<&LeaseRecord>, me: &str, observed_at: Instant, now: Instant) -> Step {
    match lease {
        None => Step::Create,
        Some(l) if l.holder == me => Step::Renew,
        Some(l) if l.holder.is_empty() => Step::Acquire,
        Some(l) if now.saturating_duration_since(observed_at) >= l.duration => Step::Acquire,
        Some(_) => Step::Follow,
    }
}

/// What the leader runs; stopped when leadership is lost or the elector stops.
pub trait Leading: Send {
    /// Stops everything started on becoming leader.
    fn stop(self: Box<Self>);
}

impl<F: FnOnce() + Send> Leading for F {
    fn stop(self: Box<Self>) {
        (*self)()
    }
}

/// A running election (see [`LeaderElector::run`]).
pub struct LeaderElector {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    leading: tokio::sync::watch::Receiver<bool>,
}

fn micro_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

impl LeaderElector {
    /// Takes part in the election on `core`'s Lease; while this replica leads, what `lead`
    /// started runs. `lead` may be called again after leadership was lost and regained.
    pub fn run<F>(core: Arc<Core>, cfg: ElectionConfig, lead: F) -> Self
    where
        F: FnMut() -> Box<dyn Leading> + Send + 'static,
    {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (leading_tx, leading) = tokio::sync::watch::channel(false);
        let driver = Driver {
            core,
            cfg,
            observed: None,
            last_renew: None,
            running: None,
            leading: leading_tx,
        };
        let task = tokio::spawn(driver.run(lead, stop_rx));
        Self {
            stop,
            task,
            leading,
        }
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Stops leading (and what it ran) and releases the lease so another replica takes over
    /// at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Driver {
    core: Arc<Core>,
    cfg: ElectionConfig,
    /// The lease as last read, and when it last changed by our clock.
    observed: Option<(LeaseRecord, Instant)>,
    /// When we last created, acquired or renewed it.
    last_renew: Option<Instant>,
    running: Option<Box<dyn Leading>>,
    leading: tokio::sync::watch::Sender<bool>,
}

impl Driver {
    async fn run<F>(mut self, mut lead: F, mut stop: tokio::sync::watch::Receiver<bool>)
    where
        F: FnMut() -> Box<dyn Leading> + Send + 'static,
    {
        let mut tick = tokio::time::interval(self.cfg.retry_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let held = match self.round().await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, lease = %self.cfg.name, "leader election round failed");
                    false
                }
            };
            let now = Instant::now();
            if held {
                self.last_renew = Some(now);
                if self.running.is_none() {
                    tracing::info!(identity = %self.cfg.identity, lease = %self.cfg.name, "became leader");
                    self.running = Some(lead());
                    self.leading.send_replace(true);
                }
            } else if self.running.is_some() {
                let stale = self
                    .last_renew
                    .is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.renew_deadline);
                let taken = self
                    .observed
                    .as_ref()
                    .is_some_and(|(l, _)| !l.holder.is_empty() && l.holder != self.cfg.identity);
                if stale || taken {
                    tracing::warn!(identity = %self.cfg.identity, lease = %self.cfg.name, "lost leadership; stopping the controllers");
                    self.step_down();
                }
            }
        }
        let was_leading = self.running.is_some();
        self.step_down();
        if was_leading && let Err(e) = self.release().await {
            tracing::warn!(error = %e, "could not release the lease; others wait for it to expire");
        }
    }

    fn step_down(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
        self.leading.send_replace(false);
    }

    fn resource(&self) -> Result<Arc<cceone_kube_apiserver::resource::ResourceInfo>, ApiError> {
        self.core.resource("coordination.k8s.io", "v1", "leases")
    }

    fn opts() -> WriteOptions {
        WriteOptions {
            field_manager: Some(MANAGER.into()),
            ..WriteOptions::default()
        }
    }

    /// Reads the lease and acts on [`decide`]; whether we hold it afterwards.
    async fn round(&mut self) -> Result<bool, ApiError> {
        let res = self.resource()?;
        let ns = Some(self.cfg.namespace.as_str());
        let current = match self.core.get(&res, ns, &self.cfg.name).await {
            Ok(v) => Some(v),
            Err(ApiError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let record = current.as_ref().map(LeaseRecord::from_lease);
        match (&record, &self.observed) {
            (Some(r), Some((seen, _))) if r == seen => {}
            (Some(r), _) => self.observed = Some((r.clone(), now)),
            (None, _) => self.observed = None,
        }
        let observed_at = self.observed.as_ref().map_or(now, |(_, t)| *t);
        let step = decide(record.as_ref(), &self.cfg.identity, observed_at, now);
        let stamp = micro_time(jiff::Timestamp::now());
        let secs = self.cfg.lease_duration.as_secs().max(1);
        let written = match (step, current) {
            (Step::Follow, _) => return Ok(false),
            (Step::Create, _) => {
                let lease = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.cfg.name, "namespace": self.cfg.namespace},
                    "spec": {
                        "holderIdentity": self.cfg.identity,
                        "leaseDurationSeconds": secs,
                        "acquireTime": stamp,
                        "renewTime": stamp,
                        "leaseTransitions": 0,
                    },
                });
                self.core.create(&res, ns, lease, &Self::opts()).await
            }
            (Step::Acquire | Step::Renew, Some(mut lease)) => {
                // The update carries the resourceVersion read above: a compare-and-swap, so of
                // two replicas acquiring at once exactly one wins.
                let spec = &mut lease["spec"];
                if step == Step::Acquire {
                    spec["holderIdentity"] = json!(self.cfg.identity);
                    spec["acquireTime"] = json!(stamp);
                    let transitions = record.as_ref().map_or(0, |r| r.transitions);
                    spec["leaseTransitions"] = json!(transitions + 1);
                }
                spec["leaseDurationSeconds"] = json!(secs);
                spec["renewTime"] = json!(stamp);
                self.core
                    .update(&res, ns, &self.cfg.name, None, lease, &Self::opts())
                    .await
            }
            (Step::Acquire | Step::Renew, None) => return Ok(false),
        };
        match written {
            Ok(lease) => {
                self.observed = Some((LeaseRecord::from_lease(&lease), Instant::now()));
                Ok(true)
            }
            // Another replica wrote first: follow it.
            Err(ApiError::Conflict { .. } | ApiError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (holder "") so that a follower acquires it on its next round.
    async fn release(&mut self) -> Result<(), ApiError> {
        let res = self.resource()?;
        let ns = Some(self.cfg.namespace.as_str());
        let mut lease = self.core.get(&res, ns, &self.cfg.name).await?;
        if LeaseRecord::from_lease(&lease).holder != self.cfg.identity {
            return Ok(());
        }
        lease["spec"]["holderIdentity"] = json!("");
        lease["spec"]["leaseDurationSeconds"] = json!(1);
        self.core
            .update(&res, ns, &self.cfg.name, None, lease, &Self::opts())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, secs: u64) -> LeaseRecord {
        LeaseRecord {
            holder: holder.into(),
            duration: Duration::from_secs(secs),
            transitions: 0,
            resource_version: "5".into(),
        }
    }

    #[test]
    fn decisions() {
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_secs(s);
        assert_eq!(decide(None, "a", t0, t0), Step::Create);
        assert_eq!(
            decide(Some(&lease("a", 8)), "a", t0, later(100)),
            Step::Renew
        );
        assert_eq!(decide(Some(&lease("", 8)), "a", t0, t0), Step::Acquire);
        assert_eq!(
            decide(Some(&lease("b", 8)), "a", t0, later(7)),
            Step::Follow
        );
        assert_eq!(
            decide(Some(&lease("b", 8)), "a", t0, later(8)),
            Step::Acquire
        );
        // A clock that goes backwards never makes a lease look expired.
        assert_eq!(
            decide(Some(&lease("b", 8)), "a", later(5), t0),
            Step::Follow
        );
    }

    #[test]
    fn records_read_leniently() {
        let r = LeaseRecord::from_lease(
            &json!({"metadata": {"resourceVersion": "9"}, "spec": {"holderIdentity": "x", "leaseDurationSeconds": 0}}),
        );
        assert_eq!(r.holder, "x");
        assert_eq!(
            r.duration,
            Duration::from_secs(1),
            "a zero duration is one second"
        );
        assert_eq!(r.resource_version, "9");
        let empty = LeaseRecord::from_lease(&json!({}));
        assert_eq!(empty.holder, "");
    }
}
