//! The controllers of one of several replicas on etcd: every replica serves the API and the
//! platform's admission; the controllers (Karmada's and the platform's, with the meter) run on
//! the replica holding the Lease, as kube-controller-manager runs its controllers under
//! `--leader-elect` (cmd/kube-controller-manager/app/controllermanager.go, `leaderElectAndRun`).
//!
//! A replica leads at most once. When it loses the lease (it could not renew within the renew
//! deadline, or another replica holds it) its controllers stop at once and it takes no further
//! part in the election; `cceone-federation` then exits, as kube-controller-manager does
//! (`OnStoppedLeading`: "leaderelection lost", exit 1), and its supervisor starts a fresh
//! process that rejoins as a follower. That is safer than leading again in the same process:
//! nothing of the lost term (a reconcile in flight, a queue's backlog, the in-memory
//! fingerprints of what was dispatched, a cache that missed events while etcd was away) can
//! outlive it and write beside the new leader.

use std::sync::Arc;

use cceone_kube_apiserver::{Core, LocalClient};
use cceone_kube_leader_election::{ElectionConfig, LeaderElector, Leading};
use tokio::sync::watch;

use crate::{LeaderElection, MANAGER, controllers, platform};

/// This replica's part in the election.
pub(crate) struct Election {
    /// Taken (and stopped) on shutdown, or once leadership is lost.
    elector: Arc<tokio::sync::Mutex<Option<LeaderElector>>>,
    leading: watch::Receiver<bool>,
    lost: watch::Receiver<bool>,
    /// The platform's admission caches, on every replica.
    admission: platform::Tasks,
    /// Stops the elector once leadership is lost.
    retire: tokio::task::JoinHandle<()>,
}

impl Election {
    /// Joins the election on `core`'s Lease; the controllers start when this replica leads.
    pub(crate) fn start(
        core: &Arc<Core>,
        le: &LeaderElection,
        admission: Arc<platform::Shared>,
        settings: controllers::Settings,
        platform_settings: platform::Settings,
    ) -> Election {
        let local = move |core: &Arc<Core>| LocalClient::new(Arc::clone(core), MANAGER);
        let admission_tasks = platform::start_admission(admission, local(core));
        let (lost_tx, lost) = watch::channel(false);
        let (leading_tx, leading) = watch::channel(false);
        let lead_core = Arc::clone(core);
        let lead = move || -> Box<dyn Leading> {
            if *lost_tx.borrow() {
                // Leads once (see the module's header); the elector is being stopped.
                return Box::new(|| {});
            }
            let mut controllers = controllers::start(local(&lead_core), settings.clone());
            // The leader's platform controllers read caches of their own: the admission's
            // run on every replica and only hold the fleets.
            let mut platform = platform::start(
                platform::Shared::new(),
                local(&lead_core),
                platform_settings.clone(),
            );
            leading_tx.send_replace(true);
            let (lost, leading) = (lost_tx.clone(), leading_tx.clone());
            Box::new(move || {
                controllers.stop();
                platform.stop();
                leading.send_replace(false);
                lost.send_replace(true);
            })
        };
        let cfg = ElectionConfig {
            lease_duration: le.lease_duration,
            renew_deadline: le.renew_deadline,
            retry_period: le.retry_period,
            ..ElectionConfig::new(&le.namespace, &le.name, identity())
        };
        tracing::info!(identity = %cfg.identity, lease = %format!("{}/{}", le.namespace, le.name), "joining the controllers' leader election");
        let elector = Arc::new(tokio::sync::Mutex::new(Some(LeaderElector::run(
            Arc::clone(core),
            cfg,
            lead,
        ))));
        let retire = {
            let (elector, mut lost) = (Arc::clone(&elector), lost.clone());
            tokio::spawn(async move {
                if lost.wait_for(|l| *l).await.is_ok() {
                    tracing::error!("leader election lost: the controllers have stopped");
                    if let Some(e) = elector.lock().await.take() {
                        e.stop().await;
                    }
                }
            })
        };
        Election {
            elector,
            leading,
            lost,
            admission: admission_tasks,
            retire,
        }
    }

    /// Whether this replica runs the controllers now.
    pub(crate) fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Resolves once this replica has led and lost the lease.
    pub(crate) fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            if lost.wait_for(|l| *l).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops the controllers and releases the lease, so that another replica leads at once.
    pub(crate) async fn stop(mut self) {
        self.retire.abort();
        if let Some(e) = self.elector.lock().await.take() {
            e.stop().await;
        }
        self.admission.stop();
    }
}

/// This process's name in the lease: the host's name and a random suffix, as
/// kube-controller-manager's `id = hostname + "_" + uuid` (a restarted replica is a new
/// candidate, never taken for the old holder).
fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cceone-federation".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}
