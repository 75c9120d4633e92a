//! When the container a stream is attached to goes away: its pod deleted or marked for deletion
//! (the kubelet then stops the pod's containers), replaced by another pod of the same name, or
//! the container no longer running. The kubelet's attach ends then, its status `Success`
//! (kubernetes `staging/src/k8s.io/kubelet/pkg/cri/streaming/remotecommand/attach.go`:
//! `AttachContainer` returns once the container's streams close).

use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::{WatchItem, WatchOptions};
use cceone_kube_apiserver::selector::FieldSelector;
use cceone_kube_apiserver::{ApiError, Core, meta};
use serde_json::Value;

use super::{container_status, pod_names};

/// How long to wait before watching again after the watch failed.
const RETRY: Duration = Duration::from_secs(1);

/// Whether `pod` is still the pod `uid` with `container` running and no deletion begun.
fn still_running(pod: &Value, uid: &str, container: &str) -> bool {
    pod.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid)
        && !meta::is_deleting(pod)
        && container_status(pod, container)
            .is_some_and(|s| s.pointer("/state/running").is_some_and(|r| !r.is_null()))
}

/// Resolves once `container` of `pod` (as it was when the stream began) is gone.
pub(crate) async fn container_gone(core: Arc<Core>, pod: Value, container: String) {
    let (ns, name) = pod_names(&pod);
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (Ok(res), Ok(field)) = (
        core.resource("", "v1", "pods"),
        FieldSelector::parse(&format!("metadata.name={name}"), "Pod"),
    ) else {
        return std::future::pending().await;
    };
    // From the version the stream began with, so a deletion in between is not missed.
    let mut from = pod
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    loop {
        let opts = WatchOptions {
            field: Some(field.clone()),
            resource_version: from.take(),
            ..WatchOptions::default()
        };
        if let Ok(mut events) = core.watch(&res, Some(&ns), opts).await {
            while let Some(item) = events.recv().await {
                match item {
                    WatchItem::Deleted(_) => return,
                    WatchItem::Added(b) | WatchItem::Modified(b) => {
                        let running = serde_json::from_slice::<Value>(&b)
                            .is_ok_and(|p| still_running(&p, &uid, &container));
                        if !running {
                            return;
                        }
                    }
                    WatchItem::Bookmark { .. } => {}
                    WatchItem::Error(_) => break,
                }
            }
        }
        // The watch ended or could not start (a compacted version): look at the pod as it is,
        // then watch again from now.
        match core.get(&res, Some(&ns), &name).await {
            Err(ApiError::NotFound { .. }) => return,
            Ok(p) if !still_running(&p, &uid, &container) => return,
            _ => tokio::time::sleep(RETRY).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_container_is_gone_once_deleting_replaced_or_stopped() {
        let running = json!({
            "metadata": {"uid": "u1", "name": "p", "namespace": "default"},
            "status": {"containerStatuses": [{"name": "c", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]},
        });
        assert!(still_running(&running, "u1", "c"));
        assert!(!still_running(&running, "u2", "c"));
        assert!(!still_running(&running, "u1", "other"));
        let mut deleting = running.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:01:00Z");
        assert!(!still_running(&deleting, "u1", "c"));
        let mut stopped = running.clone();
        stopped["status"]["containerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 0}});
        assert!(!still_running(&stopped, "u1", "c"));
    }
}
