//! Leader election between the agent's replicas on a `coordination.k8s.io/v1` Lease, the way
//! client-go's `leaderelection` does it: the holder renews `renewTime` every few seconds, a
//! candidate takes the Lease once it is released or `renewTime + leaseDurationSeconds` has
//! passed, and every write carries the `resourceVersion` it read so two candidates never both
//! win. Only the leader holds the tunnel; a clean shutdown releases the Lease so the standby takes
//! over within one retry interval.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::health::AgentMetrics;

/// The Lease's name.
pub const LEASE_NAME: &str = "cceone-cluster-agent";

/// Timing and names of the election.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This candidate's `holderIdentity`.
    pub identity: String,
    /// `leaseDurationSeconds` written to the Lease.
    pub lease_duration: Duration,
    /// How often the leader renews.
    pub renew_interval: Duration,
    /// The leader steps down when it could not renew for this long (less than the duration,
    /// so it stops before anyone else may take over).
    pub renew_deadline: Duration,
    /// How often a standby retries.
    pub retry_interval: Duration,
}

impl LeaderConfig {
    /// Defaults: 15 s lease, renew every 5 s, step down after 10 s without renewal, retry every
    /// 2 s.
    pub fn new(namespace: &str, identity: &str) -> Self {
        LeaderConfig {
            lease_name: LEASE_NAME.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
            retry_interval: Duration::from_secs(2),
        }
    }

    /// From the agent's configuration.
    pub fn from_config(cfg: &Config) -> Self {
        LeaderConfig::new(&cfg.namespace, &cfg.agent_id)
    }
}

/// Whether `me` may take (or keep) the Lease described by `spec` at `now`: it is unheld, held by
/// `me`, or its holder let `renewTime + leaseDurationSeconds` pass.
pub fn can_acquire(spec: &LeaseSpec, me: &str, now: Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    match renewed.0.checked_add(duration) {
        Ok(expiry) => now >= expiry,
        Err(_) => false,
    }
}

/// A running election.
#[derive(Debug)]
pub struct LeaderElection {
    is_leader: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LeaderElection {
    /// Start campaigning. `metrics`, when given, mirror leadership and API reachability.
    pub fn start(
        client: Client,
        cfg: LeaderConfig,
        metrics: Option<Arc<AgentMetrics>>,
    ) -> LeaderElection {
        let (leader_tx, is_leader) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let api = Api::<Lease>::namespaced(client, &cfg.namespace);
        let task = tokio::spawn(campaign(api, cfg, metrics, leader_tx, stop_rx));
        LeaderElection {
            is_leader,
            stop,
            task,
        }
    }

    /// "I am leader", updated as it changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.is_leader.clone()
    }

    /// Whether this candidate leads right now.
    pub fn is_leader(&self) -> bool {
        *self.is_leader.borrow()
    }

    /// Stop campaigning and release the Lease if held; returns once released.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn campaign(
    api: Api<Lease>,
    cfg: LeaderConfig,
    metrics: Option<Arc<AgentMetrics>>,
    leader_tx: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let set_api_ok = |ok: bool| {
        if let Some(m) = &metrics {
            m.member_api_ok.store(ok, Ordering::Relaxed);
        }
    };
    let set_leader = |lead: bool| {
        if let Some(m) = &metrics {
            m.leader.store(lead, Ordering::Relaxed);
        }
        leader_tx.send_replace(lead);
    };
    let mut leading = false;
    let mut last_renew = Instant::now();
    loop {
        match try_acquire_or_renew(&api, &cfg).await {
            Ok(true) => {
                set_api_ok(true);
                last_renew = Instant::now();
                if !leading {
                    leading = true;
                    tracing::info!(
                        identity = cfg.identity,
                        lease = cfg.lease_name,
                        "became leader"
                    );
                    set_leader(true);
                }
            }
            Ok(false) => {
                set_api_ok(true);
                if leading {
                    leading = false;
                    tracing::warn!(identity = cfg.identity, "lost the lease to another replica");
                    set_leader(false);
                }
            }
            Err(e) => {
                set_api_ok(false);
                tracing::warn!(error = %e, "leader election round failed");
                if leading && last_renew.elapsed() >= cfg.renew_deadline {
                    leading = false;
                    tracing::warn!(
                        identity = cfg.identity,
                        "could not renew the lease in time; stepping down"
                    );
                    set_leader(false);
                }
            }
        }
        let wait = if leading {
            cfg.renew_interval
        } else {
            cfg.retry_interval
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if leading {
        // Stop acting as leader before giving the Lease away.
        set_leader(false);
        match release(&api, &cfg).await {
            Ok(()) => tracing::info!(identity = cfg.identity, "released the lease"),
            Err(e) => tracing::warn!(error = %e, "releasing the lease failed; it will expire"),
        }
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// One round: true when we hold the Lease afterwards.
async fn try_acquire_or_renew(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let duration_secs = i32::try_from(cfg.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&cfg.lease_name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.lease_name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if !can_acquire(spec, &cfg.identity, now) {
        return Ok(false);
    }
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder != cfg.identity {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        spec.holder_identity = Some(cfg.identity.clone());
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(duration_secs);
    // The resourceVersion read above makes this a compare-and-swap.
    match api
        .replace(&cfg.lease_name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Give the Lease up if we still hold it: no holder and a one-second duration.
async fn release(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.lease_name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(());
    }
    let now = Timestamp::now();
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(now));
    spec.acquire_time = Some(MicroTime(now));
    api.replace(&cfg.lease_name, &PostParams::default(), &lease)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed_secs_ago: Option<i64>, duration: i32) -> LeaseSpec {
        let now = Timestamp::now();
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            renew_time: renewed_secs_ago.map(|s| MicroTime(now - SignedDuration::from_secs(s))),
            lease_duration_seconds: Some(duration),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn acquisition_rules() {
        let now = Timestamp::now();
        assert!(can_acquire(&spec(None, Some(1), 15), "a", now), "unheld");
        assert!(
            can_acquire(&spec(Some(""), Some(1), 15), "a", now),
            "released"
        );
        assert!(can_acquire(&spec(Some("a"), Some(1), 15), "a", now), "ours");
        assert!(
            !can_acquire(&spec(Some("b"), Some(1), 15), "a", now),
            "fresh"
        );
        assert!(
            !can_acquire(&spec(Some("b"), Some(14), 15), "a", now),
            "not yet expired"
        );
        assert!(
            can_acquire(&spec(Some("b"), Some(16), 15), "a", now),
            "expired"
        );
        assert!(
            can_acquire(&spec(Some("b"), None, 15), "a", now),
            "never renewed"
        );
    }
}
