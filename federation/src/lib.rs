//! `cceone-federation`: the Karmada-compatible federation control plane.
//!
//! [`start`] runs the Kubernetes-compatible API server (admins use plain `kubectl`) with
//! Karmada's kinds installed — Cluster, PropagationPolicy / ClusterPropagationPolicy,
//! OverridePolicy / ClusterOverridePolicy, ResourceBinding / ClusterResourceBinding and Work —
//! plus the platform's RegisteredCluster, and Karmada's admission (defaults, validation with
//! field causes). It then runs the controllers in-process as clients of that same API (its
//! in-process client: the HTTP path's rules without TLS, HTTP or JSON round trips):
//! registered clusters become Clusters, templates × policies become bindings, bindings are
//! scheduled and dispatched as Works per cluster, and the Works' status (written by the hub
//! from what the agents report) flows back into the bindings and templates. The controllers
//! never see a tunnel; the API is the only thing they share with the hub.
//!
//! On etcd, several replicas may serve one federation: every replica serves the API (reads,
//! writes and watches go to etcd, so each sees the others' writes), and the controllers run on
//! the one replica that holds the `cceone-federation` Lease ([`LeaderElection`], as
//! kube-controller-manager's `--leader-elect`).

mod admission;
mod controllers;
mod election;
mod error;
mod json;
mod platform;
mod resources;
mod runtime;
mod templates;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::{PatchKind, WriteOptions};
use cceone_kube_apiserver::{ApiServer, Core, ServerConfig};
use serde_json::Value;

pub use cceone_kube_apiserver::audit::{AuditConfig, Policy as AuditPolicy};

pub use crate::error::Error;

/// The field manager of the CRDs the federation installs.
const MANAGER: &str = "cceone-federation";
/// The cluster (and context) name in the admin kubeconfig.
const KUBECONFIG_NAME: &str = "cceone-federation";

/// How to run the federation.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// The API server's listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the store and certificates live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Extra names for the serving certificate.
    pub hostnames: Vec<String>,
    /// How long a cluster whose tunnel went down stays Ready before it turns Unknown and gets
    /// the `cluster.karmada.io/unreachable` NoSchedule taint. The hub itself declares a
    /// tunnel down only after its heartbeat grace, so this only absorbs quick reconnects.
    pub cluster_grace: Duration,
    /// How long a cluster stays Unknown (or False) before the NoExecute taint moves
    /// workloads that do not tolerate it (Karmada's `--failover-eviction-timeout`).
    pub eviction_timeout: Duration,
    /// The longest a graceful eviction keeps the old cluster's Work while the new placement
    /// comes up (Karmada's `--graceful-eviction-timeout`).
    pub graceful_eviction_timeout: Duration,
    /// Workers per controller (each mostly waits on the store's group commit, so many are
    /// cheap and let commits carry more writes).
    pub workers: usize,
    /// fdatasync every commit of the store (turn off only for throwaway runs).
    pub fsync: bool,
    /// Record every request to the federation API in an audit log.
    pub audit: Option<AuditConfig>,
    /// Requests without credentials run as `system:anonymous` (group
    /// `system:unauthenticated`) and RBAC answers them, as kube-apiserver's `--anonymous-auth`;
    /// off by default here: such requests get `401`.
    pub anonymous_auth: bool,
    /// The clock the vCPU-hour meter bills by (tests shift it across hours).
    pub meter_clock: cceone_platform::clock::Clock,
    /// How often the meter looks at every cluster (it also wakes on every change).
    pub meter_interval: Duration,
    /// How long usage records are kept (the meter deletes older ones once an hour).
    pub usage_retention: Duration,
    /// Keep the API's objects in etcd instead of the embedded store under `data_dir` (which
    /// then holds the certificates only).
    pub etcd: Option<cceone_kube_store_etcd::EtcdConfig>,
    /// On etcd, run the controllers only while this replica holds the lease (None: always,
    /// for a single replica). The embedded store has one process by construction and ignores
    /// this.
    pub leader_election: Option<LeaderElection>,
}

/// Leader election of the controllers among replicas on one etcd, with
/// kube-controller-manager's defaults (`--leader-elect-lease-duration=15s`,
/// `--leader-elect-renew-deadline=10s`, `--leader-elect-retry-period=2s`,
/// `--leader-elect-resource-namespace=kube-system`; cmd/kube-controller-manager/app/options and
/// component-base/config/v1alpha1/defaults.go).
#[derive(Debug, Clone)]
pub struct LeaderElection {
    /// How long followers wait, from the last change of the lease they saw, before taking it.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without renewing (less than the duration).
    pub renew_deadline: Duration,
    /// How often the lease is renewed or tried.
    pub retry_period: Duration,
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
}

impl Default for LeaderElection {
    fn default() -> Self {
        LeaderElection {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            namespace: "kube-system".into(),
            name: "cceone-federation".into(),
        }
    }
}

impl FederationConfig {
    /// Defaults for a federation listening on `listen` with state in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: Option<PathBuf>) -> FederationConfig {
        FederationConfig {
            listen,
            data_dir,
            hostnames: Vec::new(),
            cluster_grace: Duration::from_secs(15),
            eviction_timeout: Duration::from_secs(30),
            graceful_eviction_timeout: Duration::from_secs(600),
            workers: 32,
            fsync: true,
            audit: None,
            anonymous_auth: false,
            meter_clock: cceone_platform::clock::Clock::real(),
            meter_interval: Duration::from_secs(5),
            usage_retention: cceone_platform::usage::DEFAULT_RETENTION,
            etcd: None,
            leader_election: Some(LeaderElection::default()),
        }
    }
}

/// A running federation: its API server and controllers.
pub struct Federation {
    server: ApiServer,
    run: Run,
    kubeconfig: String,
    console: cceone_console::Console,
}

/// How the controllers run.
enum Run {
    /// Alone on its store: from the start.
    Alone {
        controllers: controllers::Controllers,
        /// The platform's controllers and meter ([`platform`]).
        platform: platform::Tasks,
    },
    /// One of several replicas: while this one holds the lease.
    Elected(election::Election),
}

impl Federation {
    /// `https://host:port` of the API.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The web console's address (`https://host:port/console/`).
    pub fn console_url(&self) -> String {
        self.console.url()
    }

    /// A one-time link that opens the console signed in as the admin.
    pub fn console_admin_link(&self) -> Result<String, cceone_console::Error> {
        self.console
            .sign_in_link(self.server.admin_token(), "admin")
    }

    /// A kubeconfig for the admin user.
    pub fn admin_kubeconfig(&self) -> String {
        self.kubeconfig.clone()
    }

    /// The API logic, for in-process callers.
    pub fn core(&self) -> &Arc<Core> {
        self.server.core()
    }

    /// A kube-rs client of the API as the admin.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// Whether this replica runs the controllers now (always, when alone on its store).
    pub fn is_leader(&self) -> bool {
        match &self.run {
            Run::Alone { .. } => true,
            Run::Elected(e) => e.is_leader(),
        }
    }

    /// Resolves once this replica has led and lost the lease (never, when alone). Its
    /// controllers have stopped then and it does not lead again: `cceone-federation` exits,
    /// as kube-controller-manager does, so that a fresh process rejoins as a follower.
    pub fn leadership_lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let lost = match &self.run {
            Run::Alone { .. } => None,
            Run::Elected(e) => Some(e.lost()),
        };
        async move {
            match lost {
                Some(lost) => lost.await,
                None => std::future::pending().await,
            }
        }
    }

    /// Stop the controllers (releasing the lease, so that another replica takes over at
    /// once), then the API server (flushing the store).
    pub async fn shutdown(self) {
        match self.run {
            Run::Alone {
                mut controllers,
                mut platform,
            } => {
                controllers.stop();
                platform.stop();
            }
            Run::Elected(e) => e.stop().await,
        }
        self.server.shutdown().await;
    }
}

/// A kube-rs client from kubeconfig text.
pub async fn client_from_kubeconfig(kubeconfig: &str) -> Result<kube::Client, Error> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)
        .map_err(|e| Error::Client(e.to_string()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Client(e.to_string()))?;
    kube::Client::try_from(cfg).map_err(|e| Error::Client(e.to_string()))
}

/// Install (or update) Karmada's CRDs through the in-process API with server-side apply.
async fn install_crds(core: &Arc<Core>) -> Result<(), Error> {
    let crd_res = core
        .resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .map_err(|source| Error::Install {
            what: "the CRD resource".into(),
            source: Box::new(source),
        })?;
    let opts = WriteOptions {
        field_manager: Some(MANAGER.into()),
        force: true,
        ..WriteOptions::default()
    };
    for crd in cceone_federation_core::crds::crds() {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        core.patch(&crd_res, None, &name, None, PatchKind::Apply, &crd, &opts)
            .await
            .map_err(|source| Error::Install {
                what: format!("CRD {name}"),
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// Start the API server, install the federation's kinds and admission, and run the
/// controllers.
pub async fn start(cfg: FederationConfig) -> Result<Federation, Error> {
    let store = match &cfg.etcd {
        Some(etcd) => {
            let store = cceone_kube_store_etcd::connect(etcd.clone())
                .await
                .map_err(cceone_kube_apiserver::StartError::from)?;
            Some(store)
        }
        None => None,
    };
    let server = ApiServer::start(ServerConfig {
        listen: cfg.listen,
        data_dir: cfg.data_dir.clone(),
        hostnames: cfg.hostnames.clone(),
        fsync: cfg.fsync,
        audit: cfg.audit.clone(),
        anonymous_auth: cfg.anonymous_auth,
        store,
        ..ServerConfig::default()
    })
    .await?;
    // The web console on the API's own port, acting through the API as whoever signs in.
    let console = cceone_console::Console::new(
        server.url(),
        server.pki().ca_cert.clone(),
        cfg.audit.as_ref().map(|a| a.path.clone()),
    );
    if server.mount(console.mount()).is_err() {
        tracing::warn!("the API server already serves other pages; no console");
    }
    server.core().add_admission(admission::hook());
    server.core().add_delete_admission(admission::delete_hook());
    let platform = platform::Shared::new();
    platform.install_admission(server.core());
    install_crds(server.core()).await?;
    let kubeconfig = server.admin_kubeconfig(KUBECONFIG_NAME);
    let client = client_from_kubeconfig(&kubeconfig).await?;
    cceone_platform::ensure_crds(&client, MANAGER).await?;
    cceone_platform::ensure_system_namespace(&client).await?;
    // User tokens an earlier version kept beside the bootstrap tokens move out of the hub's
    // reach (issue 9); they authenticate wherever they are meanwhile.
    match cceone_platform::usertoken::migrate(&client).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(moved = n, "user tokens moved to their own namespace"),
        Err(e) => tracing::warn!(error = %e, "moving user tokens failed; they still work"),
    }
    cceone_platform::roles::ensure_roles(&client, MANAGER).await?;
    let settings = controllers::Settings {
        cluster_grace: cfg.cluster_grace,
        eviction_timeout: cfg.eviction_timeout,
        graceful_eviction_timeout: cfg.graceful_eviction_timeout,
        workers: cfg.workers,
    };
    let platform_settings = platform::Settings {
        clock: cfg.meter_clock.clone(),
        meter_interval: cfg.meter_interval,
        usage_retention: cfg.usage_retention,
    };
    let local = || cceone_kube_apiserver::LocalClient::new(Arc::clone(server.core()), MANAGER);
    let run = match (&cfg.etcd, &cfg.leader_election) {
        (Some(_), Some(le)) => Run::Elected(election::Election::start(
            server.core(),
            le,
            platform,
            settings,
            platform_settings,
        )),
        _ => Run::Alone {
            controllers: controllers::start(local(), settings),
            platform: platform::start(platform, local(), platform_settings),
        },
    };
    tracing::info!(url = %server.url(), console = %console.url(), "federation serving");
    Ok(Federation {
        server,
        run,
        kubeconfig,
        console,
    })
}
