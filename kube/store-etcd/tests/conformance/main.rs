//! One conformance suite for every [`Store`] backend: each test function in `suite.rs` runs
//! against the embedded store and against a real etcd (its own server per test), so the two
//! cannot drift apart.

#![allow(clippy::unwrap_used)]

mod suite;

use std::sync::Arc;
use std::time::Duration;

use cceone_kube_store::{EmbeddedOptions, EmbeddedStore, Store};
use cceone_kube_store_etcd::testing::TestEtcd;
use cceone_kube_store_etcd::{EtcdConfig, EtcdStore};

/// A store under test, and a way to open a second handle on the same data.
#[async_trait::async_trait]
pub(crate) trait Backend: Send {
    /// The store.
    fn store(&self) -> Arc<dyn Store>;
    /// Closes the store and opens it again on the same data (a restart, or another replica).
    async fn reopen(&mut self) -> Arc<dyn Store>;
}

/// The embedded store in a temporary data directory.
pub(crate) struct Embedded {
    dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
}

impl Embedded {
    fn options(dir: &std::path::Path) -> EmbeddedOptions {
        EmbeddedOptions {
            dir: Some(dir.to_owned()),
            fsync: false,
            ..EmbeddedOptions::default()
        }
    }

    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(Self::options(dir.path())).unwrap();
        Self { dir, store }
    }
}

#[async_trait::async_trait]
impl Backend for Embedded {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn reopen(&mut self) -> Arc<dyn Store> {
        self.store.close().await;
        self.store = EmbeddedStore::open(Self::options(self.dir.path())).unwrap();
        self.store.clone()
    }
}

/// A store on its own etcd server.
pub(crate) struct Etcd {
    // Dropped after the store: the server outlives its client.
    store: Arc<EtcdStore>,
    server: TestEtcd,
}

/// The suite's etcd settings: quick progress notifications, no background compaction.
pub(crate) fn etcd_config(url: String) -> EtcdConfig {
    EtcdConfig {
        compaction_interval: None,
        progress_interval: Duration::from_millis(200),
        ..EtcdConfig::new(vec![url])
    }
}

impl Etcd {
    pub(crate) async fn new() -> Self {
        let server = TestEtcd::start().unwrap();
        let store = EtcdStore::connect(etcd_config(server.url())).await.unwrap();
        Self { store, server }
    }
}

#[async_trait::async_trait]
impl Backend for Etcd {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn reopen(&mut self) -> Arc<dyn Store> {
        self.store = EtcdStore::connect(etcd_config(self.server.url()))
            .await
            .unwrap();
        self.store.clone()
    }
}

/// Each named suite function, once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::suite::$name(crate::Embedded::new()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::suite::$name(crate::Etcd::new().await).await;
                }
            )*
        }
    };
}

conformance!(
    crud_and_errors,
    list_prefix_start_after_limit_filter,
    watch_replays_missing_then_live,
    concurrent_writers_see_every_revision_once,
    compaction,
    reopen_keeps_data_and_resumes_watches,
    list_pages_past_one_chunk,
);
