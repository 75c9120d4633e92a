//! A Kubernetes-compatible API server as a library.
//!
//! The same server backs the federation's API (admins use plain `kubectl`) and every simulated
//! member cluster. [`ApiServer::start`] binds an HTTPS listener, opens the store in the data
//! directory and serves discovery, OpenAPI, the built-in kinds and any CRD's kinds; [`Core`] is
//! the same API for in-process controllers.

pub mod admission;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod builtin;
pub(crate) mod convert;
pub mod core;
pub mod crd;
pub(crate) mod csrsign;
pub mod defaults;
pub mod error;
pub mod gc;
pub mod http;
pub mod local;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod request;
pub mod resource;
pub mod schema;
pub mod selector;
pub mod serviceaccount;
pub mod tls;
pub(crate) mod validation;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cceone_kube_store::{EmbeddedOptions, EmbeddedStore, Store};

pub use crate::core::Core;
pub use crate::error::{ApiError, ApiResult, Cause};
pub use crate::http::{AdminHook, PodStream, PodStreamHook, User};
pub use crate::local::{LocalClient, Reflected};
pub use crate::tls::{Credential, Pki};

/// How to run a server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the store and PKI live; None keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// fsync each commit (turn off only for throwaway simulations).
    pub fsync: bool,
    /// Extra names for the serving certificate.
    pub hostnames: Vec<String>,
    /// `gitVersion` reported by `/version`, e.g. `v1.32.0`.
    pub kubernetes_version: String,
    /// Extra bearer tokens (token, user, groups).
    pub tokens: Vec<(String, String, Vec<String>)>,
    /// Extra `/admin/...` routes.
    pub admin: Option<AdminHook>,
    /// Serve `/admin/...`: fault injection (`/admin/faults`), forced compaction
    /// (`/admin/compact`) and the extra routes. Off by default (production servers); the
    /// simulator turns it on.
    pub fault_injection: bool,
    /// Authenticate requests that carry no credentials as `system:anonymous` (group
    /// `system:unauthenticated`), for RBAC to answer (`403`), as kube-apiserver's
    /// `--anonymous-auth` (on by default there). Off by default here: a request without
    /// credentials gets `401`. The simulator turns it on; a bad credential is `401` either way.
    pub anonymous_auth: bool,
    /// Watch history kept for resuming watches (events).
    pub history: usize,
    /// Record requests in an audit log.
    pub audit: Option<audit::AuditConfig>,
    /// Who serves pods' logs, exec, attach and port-forward (the simulator's kubelet).
    pub pod_streams: Option<PodStreamHook>,
    /// An already open store to serve from (etcd, for several replicas on one store) instead
    /// of the embedded store under `data_dir`; `data_dir` then holds the PKI only.
    pub store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("kubernetes_version", &self.kubernetes_version)
            .field("tokens", &"<masked>")
            .field(
                "store",
                &self.store.as_ref().map_or("embedded", |_| "given"),
            )
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            fsync: true,
            hostnames: Vec::new(),
            kubernetes_version: "v1.32.0".into(),
            tokens: Vec::new(),
            admin: None,
            fault_injection: false,
            anonymous_auth: false,
            history: 1_000_000,
            audit: None,
            pod_streams: None,
            store: None,
        }
    }
}

/// A failure to start the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] cceone_kube_store::StoreError),
    /// Certificates could not be made or loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Binding the listener or writing files failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Seeding the initial objects failed.
    #[error("initialising the API: {0}")]
    Api(#[from] ApiError),
}

/// A running API server.
pub struct ApiServer {
    core: Arc<Core>,
    state: Arc<http::State>,
    pki: Pki,
    addr: SocketAddr,
    admin_token: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The embedded store, closed (flushed) on shutdown; None when serving a given store.
    embedded: Option<Arc<EmbeddedStore>>,
}

impl ApiServer {
    /// Open the store, make or load certificates, seed the default namespaces and serve.
    pub async fn start(cfg: ServerConfig) -> Result<ApiServer, StartError> {
        if let Some(dir) = &cfg.data_dir {
            // Keys, the admin token and every object live under it: the owner's alone.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let (dyn_store, embedded) = match &cfg.store {
            Some(given) => (Arc::clone(given), None),
            None => {
                let store = EmbeddedStore::open(EmbeddedOptions {
                    dir: cfg.data_dir.as_ref().map(|d| d.join("store")),
                    fsync: cfg.fsync,
                    history: cfg.history,
                    ..EmbeddedOptions::default()
                })?;
                let dyn_store: Arc<dyn Store> = store.clone();
                (dyn_store, Some(store))
            }
        };
        let core = Core::new(dyn_store).await?;
        seed(&core).await?;
        authz::bootstrap::seed(&core).await?;
        let pki = Pki::load_or_generate(cfg.data_dir.as_deref(), &cfg.hostnames)?;
        let admin_token = load_or_make_token(cfg.data_dir.as_deref())?;
        let mut tokens = HashMap::new();
        tokens.insert(
            admin_token.clone(),
            User {
                name: "admin".into(),
                groups: vec!["system:masters".into()],
                ..User::default()
            },
        );
        for (t, name, groups) in &cfg.tokens {
            tokens.insert(
                t.clone(),
                User {
                    name: name.clone(),
                    groups: groups.clone(),
                    ..User::default()
                },
            );
        }
        let state = Arc::new(http::State {
            core: Arc::clone(&core),
            tokens,
            version: cfg.kubernetes_version.clone(),
            faults: http::Faults::default(),
            admin: cfg.admin.clone(),
            fault_injection: cfg.fault_injection,
            anonymous: cfg.anonymous_auth,
            rbac: authz::Rbac::new(Arc::clone(&core)),
            audit: cfg.audit.clone().map(audit::AuditLog::open).transpose()?,
            mount: std::sync::OnceLock::new(),
            pod_streams: cfg.pod_streams.clone(),
            service_accounts: serviceaccount::TokenSigner::new(admin_token.as_bytes()),
            ca: pki.clone(),
        });
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let tls = pki.server_config()?;
        let mut tasks = vec![tokio::spawn(http::serve(
            listener,
            tls,
            Arc::clone(&state),
            rx,
        ))];
        tasks.push(tokio::spawn(gc::run(Arc::clone(&core))));
        tasks.push(tokio::spawn(authz::aggregation::run(Arc::clone(&core))));
        if cfg.store.is_some() {
            // Other replicas on the same store create CRDs too.
            tasks.push(tokio::spawn(crd::follow(Arc::downgrade(&core))));
        }
        tracing::info!(%addr, data_dir = ?cfg.data_dir, "API server serving");
        Ok(ApiServer {
            core,
            state,
            pki,
            addr,
            admin_token,
            shutdown,
            tasks,
            embedded,
        })
    }

    /// The API logic, for in-process clients.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://host:port` for clients.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        format!("https://{host}:{}", self.addr.port())
    }

    /// The CA and serving certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// A kubeconfig for the admin user (bearer token).
    pub fn admin_kubeconfig(&self, cluster_name: &str) -> String {
        tls::kubeconfig(
            cluster_name,
            &self.url(),
            &self.pki.ca_cert,
            "admin",
            &Credential::Token(self.admin_token.clone()),
        )
    }

    /// Serve `mount`'s pages on this server's port (once; a second mount is handed back).
    pub fn mount(&self, mount: http::Mount) -> Result<(), http::Mount> {
        self.state.mount.set(mount)
    }

    /// The admin user's bearer token (the one in [`ApiServer::admin_kubeconfig`]).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Injected faults (pause, latency).
    pub fn faults(&self) -> &http::Faults {
        &self.state.faults
    }

    /// Stop serving and flush the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(store) = &self.embedded {
            store.close().await;
        }
    }
}

fn load_or_make_token(dir: Option<&std::path::Path>) -> std::io::Result<String> {
    let Some(dir) = dir else {
        return Ok(uuid::Uuid::new_v4().simple().to_string());
    };
    let path = dir.join("pki").join("admin.token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let t = uuid::Uuid::new_v4().simple().to_string();
    write_private(&path, t.as_bytes())?;
    Ok(t)
}

/// Write a key, token or other secret: its directory (made if missing) 0700, the file 0600,
/// whole or not at all (written beside it, then renamed into place).
pub(crate) fn write_private(path: &std::path::Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The namespaces every cluster has.
async fn seed(core: &Arc<Core>) -> ApiResult<()> {
    let nss = core.resource("", "v1", "namespaces")?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if core.store.get(&nss.key(None, ns)).await?.is_some() {
            continue;
        }
        let obj =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let opts = core::WriteOptions {
            field_manager: Some("kube-apiserver".into()),
            ..Default::default()
        };
        match core.create(&nss, None, obj, &opts).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn keys_tokens_and_the_store_are_the_owners_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = ApiServer::start(ServerConfig {
            data_dir: Some(dir.clone()),
            fsync: false,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        server.shutdown().await;
        for d in [dir.clone(), dir.join("pki"), dir.join("store")] {
            assert_eq!(mode(&d), 0o700, "{}", d.display());
        }
        let mut files = 0;
        for sub in ["pki", "store"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                files += 1;
            }
        }
        // ca.crt, ca.key, server.crt, server.key, admin.token, the lock and a log segment.
        assert!(files >= 7, "{files} files");
    }
}
