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

mod admission;
mod controllers;
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

pub use cceone_kube_apiserver::audit::AuditConfig;

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
    /// The clock the vCPU-hour meter bills by (tests shift it across hours).
    pub meter_clock: cceone_platform::clock::Clock,
    /// How often the meter looks at every cluster (it also wakes on every change).
    pub meter_interval: Duration,
    /// How long usage records are kept (the meter deletes older ones once an hour).
    pub usage_retention: Duration,
    /// Keep the API's objects in etcd instead of the embedded store under `data_dir` (which
    /// then holds the certificates only).
    pub etcd: Option<cceone_kube_store_etcd::EtcdConfig>,
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
            meter_clock: cceone_platform::clock::Clock::real(),
            meter_interval: Duration::from_secs(5),
            usage_retention: cceone_platform::usage::DEFAULT_RETENTION,
            etcd: None,
        }
    }
}

/// A running federation: its API server and controllers.
pub struct Federation {
    server: ApiServer,
    controllers: controllers::Controllers,
    /// The platform's controllers and meter ([`platform`]).
    platform_tasks: platform::Tasks,
    kubeconfig: String,
    console: cceone_console::Console,
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

    /// Stop the controllers, then the API server (flushing the store).
    pub async fn shutdown(mut self) {
        self.controllers.stop();
        self.platform_tasks.stop();
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
    cceone_platform::roles::ensure_roles(&client, MANAGER).await?;
    let local = cceone_kube_apiserver::LocalClient::new(Arc::clone(server.core()), MANAGER);
    let controllers = controllers::start(
        local,
        controllers::Settings {
            cluster_grace: cfg.cluster_grace,
            eviction_timeout: cfg.eviction_timeout,
            graceful_eviction_timeout: cfg.graceful_eviction_timeout,
            workers: cfg.workers,
        },
    );
    let platform_tasks = platform::start(
        platform,
        cceone_kube_apiserver::LocalClient::new(Arc::clone(server.core()), MANAGER),
        platform::Settings {
            clock: cfg.meter_clock.clone(),
            meter_interval: cfg.meter_interval,
            usage_retention: cfg.usage_retention,
        },
    );
    tracing::info!(url = %server.url(), console = %console.url(), "federation serving");
    Ok(Federation {
        server,
        controllers,
        platform_tasks,
        kubeconfig,
        console,
    })
}
