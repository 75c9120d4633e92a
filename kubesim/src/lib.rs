//! `cceone-kubesim`: a simulated member cluster. The Kubernetes-compatible API server seeded with
//! nodes (some NotReady, some virtual-kubelet), node Leases renewed like kubelets do, and
//! controllers that turn workloads into pods bound within capacity. Faults can be injected
//! through `/admin`. Many simulators can run in one process, each with its own endpoint.

pub mod cluster;
pub mod controller;
pub mod nodes;
pub mod streams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::{AdminHook, ApiServer, Core, ServerConfig, StartError};
use serde_json::{Value, json};

pub use cceone_kube_apiserver::audit::AuditConfig;
pub use controller::ControllerConfig;
pub use nodes::NodeShape;

/// Everything a simulated cluster needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Listen address (port 0 allowed).
    pub listen: SocketAddr,
    /// Data directory; None keeps the cluster in memory.
    pub data_dir: Option<PathBuf>,
    /// Node shape.
    pub nodes: NodeShape,
    /// Reported Kubernetes version.
    pub kubernetes_version: String,
    /// Controller timing.
    pub controller: ControllerConfig,
    /// How often node Leases are renewed.
    pub lease_interval: Duration,
    /// fsync each commit.
    pub fsync: bool,
    /// Record every request in an audit log.
    pub audit: Option<AuditConfig>,
    /// Where Service cluster IPs come from (`--service-cluster-ip-range`); 10.96.0.0/12 when
    /// None.
    pub service_cidr: Option<cceone_kube_apiserver::admission::services::Cidr>,
    /// Requests without credentials run as `system:anonymous` for RBAC to answer, as
    /// kube-apiserver's `--anonymous-auth` (on by default, there and here).
    pub anonymous_auth: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            nodes: NodeShape {
                nodes: 3,
                cpu: "4".into(),
                memory: "16Gi".into(),
                pods: 110,
                not_ready: 0,
                virtual_nodes: 0,
                kubelet_version: "v1.32.0".into(),
            },
            kubernetes_version: "v1.32.0".into(),
            controller: ControllerConfig::default(),
            lease_interval: Duration::from_secs(10),
            fsync: true,
            audit: None,
            service_cidr: None,
            anonymous_auth: true,
        }
    }
}

/// A running simulated cluster.
pub struct Simulator {
    server: ApiServer,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Start the API server, seed nodes, and run the controllers.
    pub async fn start(cfg: SimConfig) -> Result<Simulator, StartError> {
        let core_slot: Arc<std::sync::OnceLock<Arc<Core>>> = Arc::default();
        let hook_core = Arc::clone(&core_slot);
        let admin: AdminHook = Arc::new(move |method, path, body| {
            let core = hook_core.get().cloned();
            Box::pin(async move {
                let core = core?;
                admin(core, method, path, body).await
            })
        });
        let server = ApiServer::start(ServerConfig {
            listen: cfg.listen,
            data_dir: cfg.data_dir.clone(),
            fsync: cfg.fsync,
            kubernetes_version: cfg.kubernetes_version.clone(),
            admin: Some(admin),
            // A simulator exists to be broken on purpose.
            fault_injection: true,
            anonymous_auth: cfg.anonymous_auth,
            audit: cfg.audit.clone(),
            // The simulated kubelet: logs, exec, attach, port-forward (and so cp).
            pod_streams: Some(streams::hook(Arc::clone(&core_slot))),
            ..ServerConfig::default()
        })
        .await?;
        let core = Arc::clone(server.core());
        // Before anything writes a Service: the simulator's own `kubernetes` Service comes
        // later, and clients learn the address only from the kubeconfig written after start.
        if let Some(cidr) = cfg.service_cidr {
            core.builtin_admission.set_service_cidr(cidr);
        }
        let _ = core_slot.set(Arc::clone(&core));
        let mut shape = cfg.nodes.clone();
        shape.kubelet_version = cfg.kubernetes_version.clone();
        nodes::seed(&core, &shape).await?;
        let tasks = vec![
            tokio::spawn(controller::run(Arc::clone(&core), cfg.controller.clone())),
            tokio::spawn(nodes::renew_leases(Arc::clone(&core), cfg.lease_interval)),
            tokio::spawn(cluster::run(
                Arc::clone(&core),
                cluster::ApiEndpoint {
                    ip: server.local_addr().ip().to_string(),
                    port: server.local_addr().port(),
                    ca_pem: server.pki().ca_cert.clone(),
                },
            )),
        ];
        Ok(Simulator { server, tasks })
    }

    /// The API server.
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// Stop everything.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.server.shutdown().await;
    }
}

/// `/admin/nodes/<name>` with `{"ready": bool}` flips a node's readiness.
async fn admin(
    core: Arc<Core>,
    method: http_method::Method,
    path: String,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let name = path.strip_prefix("/nodes/")?;
    if method == http_method::Method::GET {
        let nodes = core.resource("", "v1", "nodes").ok()?;
        return Some(match core.get(&nodes, None, name).await {
            Ok(n) => (
                200,
                json!({"name": name, "ready": cceone_kubesim_core::node_is_ready(&n)}),
            ),
            Err(e) => (e.code(), e.to_status()),
        });
    }
    let ready = body
        .as_ref()
        .and_then(|b| b.get("ready"))
        .and_then(Value::as_bool);
    let Some(ready) = ready else {
        return Some((
            400,
            json!({"error": "body must be {\"ready\": true|false}"}),
        ));
    };
    tracing::info!(node = name, ready, "node readiness fault");
    Some(match nodes::set_ready(&core, name, ready).await {
        Ok(_) => (200, json!({"name": name, "ready": ready})),
        Err(e) => (e.code(), e.to_status()),
    })
}

mod http_method {
    pub(crate) use cceone_kube_apiserver::http::Method;
}
