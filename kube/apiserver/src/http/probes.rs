//! Readiness: ready only while the store can accept writes, so a server whose log writes fail
//! (a full disk) leaves the load balancer instead of answering every write with an error.

use cceone_kube_store::Store;
use http::{Response, StatusCode};

use super::util::{self, Body};

/// `/readyz`: 200 `ok`, or 503 with the reason writes fail.
pub(crate) fn readyz(store: &dyn Store) -> Response<Body> {
    match store.writable() {
        Ok(()) => util::text(StatusCode::OK, "ok"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store cannot write");
            util::text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the store cannot write: {e}"),
            )
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use cceone_kube_store::{EmbeddedOptions, EmbeddedStore};

    use super::*;

    #[tokio::test]
    async fn readyz_follows_whether_the_store_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let store = EmbeddedStore::open(EmbeddedOptions {
            dir: Some(dir.clone()),
            // Every commit starts a new segment: impossible once the directory is gone.
            snapshot_wal_bytes: 1,
            ..EmbeddedOptions::default()
        })
        .unwrap();
        assert_eq!(readyz(&*store).status(), StatusCode::OK);
        std::fs::remove_dir_all(&dir).unwrap();
        let _ = store
            .create("/x/a", serde_json::json!({"metadata": {}}))
            .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while readyz(&*store).status() == StatusCode::OK {
            assert!(
                Instant::now() < deadline,
                "/readyz still 200 after the log failed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(readyz(&*store).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
