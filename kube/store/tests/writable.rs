//! A store whose log write failed (here: its directory removed, so the next segment cannot be
//! created) says so through `writable()`, which readiness probes report.

#![allow(clippy::unwrap_used)]

use cceone_kube_store::{EmbeddedOptions, EmbeddedStore, Store, StoreError};
use serde_json::json;

#[tokio::test]
async fn a_failed_log_write_makes_the_store_unwritable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let s = EmbeddedStore::open(EmbeddedOptions {
        dir: Some(data.clone()),
        // Every commit starts a new segment, which cannot be created once the directory is gone.
        snapshot_wal_bytes: 1,
        ..EmbeddedOptions::default()
    })
    .unwrap();
    s.writable().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let obj = json!({"metadata": {"name": "a"}});
    // The write itself may be acknowledged (it reached the open segment); the rotation after
    // it fails, and from then on the store says it cannot write.
    let _ = s.create("/t/a", obj.clone()).await;
    let failed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while s.writable().is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(failed.is_ok(), "writable() still Ok after the log failed");
    assert!(matches!(s.writable(), Err(StoreError::Io(_))));
    assert!(s.create("/t/b", obj).await.is_err());
    s.close().await;
    assert!(s.writable().is_err());
}
