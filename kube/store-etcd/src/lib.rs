//! The [`Store`] trait of `cceone-kube-store` on etcd (v3 API), for API servers that outgrow one
//! machine: several replicas share one etcd cluster, as kube-apiserver's do.
//!
//! The mapping follows kube-apiserver's etcd3 storage: a store key `k` lives at etcd key
//! `prefix + k`; etcd's global revision is the resourceVersion (objects are stored without
//! `metadata.resourceVersion` and stamped with their `mod_revision` when read); create, update
//! and delete are transactions comparing `create_revision`/`mod_revision`, so optimistic
//! concurrency is a compare-and-swap inside etcd; watches start at `after + 1` with previous
//! values, and etcd's compaction answers `Compacted` (410 Gone at the API). A background
//! compactor (kube-apiserver's algorithm, coordinated between replicas through one etcd key)
//! keeps history bounded.
//!
//! `current_revision` and `compacted_revision` are synchronous in the trait: they report the
//! highest revision this process has seen in any etcd answer (writes, reads, watch events and
//! progress notifications) and the highest compaction it has made or been told of.
//!
//! The etcd client is the `client` feature: `etcd-client`'s build compiles etcd's protocol
//! with `protoc`, which a machine that only runs the embedded default need not have. Without
//! it, [`connect`] says how to build with it.

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod codec;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "clap")]
mod flags;
#[cfg(feature = "client")]
mod health;
#[cfg(feature = "test-util")]
pub mod testing;
#[cfg(feature = "client")]
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cceone_kube_store::{Store, StoreError};

#[cfg(feature = "client")]
pub use client::EtcdStore;
#[cfg(feature = "clap")]
pub use flags::EtcdFlags;

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Client URLs (`http://host:2379`, `https://...`), tried in turn by the client.
    pub endpoints: Vec<String>,
    /// Prefix of every key (kube-apiserver's `--etcd-prefix`); no other data in the same etcd
    /// may use a key that starts with it.
    pub prefix: String,
    /// TLS client settings for `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// How often history older than one interval is compacted (kube-apiserver's
    /// `--etcd-compaction-interval`); `None` never compacts.
    pub compaction_interval: Option<Duration>,
    /// How often a quiet watch asks etcd for a progress notification, so that watch progress
    /// (bookmarks) advances when other keys change.
    pub progress_interval: Duration,
    /// Deadline of one read or write request.
    pub request_timeout: Duration,
    /// How long [`EtcdStore::connect`] waits for etcd to answer, and a broken watch keeps
    /// re-connecting before it reports the error.
    pub dial_timeout: Duration,
}

impl EtcdConfig {
    /// Defaults for `endpoints`: prefix `/registry`, compaction every 5 minutes.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            prefix: "/registry".into(),
            tls: None,
            compaction_interval: Some(Duration::from_secs(300)),
            progress_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            dial_timeout: Duration::from_secs(20),
        }
    }
}

/// TLS files for etcd (kube-apiserver's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`).
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// CA bundle that signed etcd's serving certificate.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    /// Key of the client certificate (PEM).
    pub key_file: Option<PathBuf>,
}

/// Connect to etcd as a [`Store`] ([`EtcdStore::connect`]), or, in a build without the
/// `client` feature, an error saying how to get one.
pub async fn connect(cfg: EtcdConfig) -> Result<Arc<dyn Store>, StoreError> {
    #[cfg(feature = "client")]
    {
        Ok(EtcdStore::connect(cfg).await? as Arc<dyn Store>)
    }
    #[cfg(not(feature = "client"))]
    {
        let _ = cfg;
        Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this build has no etcd client: rebuild with `--features etcd` \
             (for example `cargo build --release -p cceone --features etcd`; it needs `protoc`, \
             Debian's protobuf-compiler)",
        )))
    }
}
