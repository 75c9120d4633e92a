//! Watch: the initial state (when asked for), then every change after a resourceVersion, with
//! selector transitions (an object leaving a selection is a DELETED event), bookmarks, and
//! 410 Gone when the requested version has been compacted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cceone_kube_store::EventType;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Core, ListOptions};
use crate::error::{ApiError, ApiResult};
use crate::resource::ResourceInfo;
use crate::selector::{FieldSelector, LabelSelector};

/// How often a bookmark goes out on a watch that allows them: the watch cache's
/// `bookmarkFrequency` (`staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go`).
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// A watch with a timeout gets a last bookmark this long before it ends
/// (`cacheWatcher.nextBookmarkTime` in `cacher/cache_watcher.go`).
const BOOKMARK_BEFORE_TIMEOUT: Duration = Duration::from_secs(2);

/// When the next bookmark is due after `now`: a minute on, or just before the deadline if
/// that comes first; None once the pre-timeout bookmark has gone out.
fn next_bookmark(
    now: tokio::time::Instant,
    deadline: Option<tokio::time::Instant>,
) -> Option<tokio::time::Instant> {
    let heartbeat = now + BOOKMARK_EVERY;
    match deadline.and_then(|d| d.checked_sub(BOOKMARK_BEFORE_TIMEOUT)) {
        Some(pre) if pre < heartbeat => (pre > now).then_some(pre),
        _ => Some(heartbeat),
    }
}

/// Options of a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// `labelSelector`.
    pub label: Option<LabelSelector>,
    /// `fieldSelector`.
    pub field: Option<FieldSelector>,
    /// `resourceVersion` to start after ("" or "0": send the current state first).
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`: state first, then a bookmark marking its end.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
}

/// One item of a watch stream.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// ADDED with the serialized object.
    Added(Bytes),
    /// MODIFIED with the serialized object.
    Modified(Bytes),
    /// DELETED with the object as last seen (stamped with the deletion revision).
    Deleted(Bytes),
    /// BOOKMARK at a resourceVersion; `initial_end` marks the end of the initial events.
    Bookmark {
        /// The resourceVersion the watcher has seen everything up to.
        resource_version: u64,
        /// The `k8s.io/initial-events-end` annotation.
        initial_end: bool,
    },
    /// ERROR: the watch ends with this status (410 for a compacted version).
    Error(ApiError),
}

impl Core {
    /// Start a watch; events arrive on the returned channel until it is dropped or times out.
    pub async fn watch(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        opts: WatchOptions,
    ) -> ApiResult<mpsc::Receiver<WatchItem>> {
        let requested =
            match opts.resource_version.as_deref() {
                None | Some("") | Some("0") => None,
                Some(s) => Some(s.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!("invalid resourceVersion \"{s}\""))
                })?),
            };
        let (tx, rx) = mpsc::channel(256);
        let list_first = requested.is_none() || opts.send_initial_events;
        let mut initial = Vec::new();
        let start = if list_first {
            let page = self
                .list(
                    res,
                    ns,
                    &ListOptions {
                        label: opts.label.clone(),
                        field: opts.field.clone(),
                        ..Default::default()
                    },
                )
                .await?;
            initial = page.items;
            page.resource_version
        } else {
            requested.unwrap_or(0)
        };
        let prefix = res.prefix(ns);
        let core = Arc::clone(self);
        let res = Arc::clone(res);
        tokio::spawn(async move {
            let mut stream = match core.store.watch(&prefix, start) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(WatchItem::Error(e.into())).await;
                    return;
                }
            };
            for item in initial {
                if tx.send(WatchItem::Added(item)).await.is_err() {
                    return;
                }
            }
            if opts.send_initial_events {
                let b = WatchItem::Bookmark {
                    resource_version: start,
                    initial_end: true,
                };
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
            let mut last_bookmark = start;
            let mut bookmark_at =
                next_bookmark(tokio::time::Instant::now(), deadline).filter(|_| opts.bookmarks);
            loop {
                let next = tokio::select! {
                    ev = stream.next() => ev,
                    _ = sleep_until(bookmark_at) => {
                        last_bookmark = last_bookmark.max(stream.progress());
                        let b = WatchItem::Bookmark { resource_version: last_bookmark, initial_end: false };
                        if tx.send(b).await.is_err() { return; }
                        bookmark_at = next_bookmark(tokio::time::Instant::now(), deadline);
                        continue;
                    }
                    _ = sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                };
                let item = match next {
                    None => return,
                    Some(Err(e)) => {
                        let _ = tx.send(WatchItem::Error(e.into())).await;
                        return;
                    }
                    Some(Ok(ev)) => classify(&core, &res, &opts, &ev),
                };
                if let Some(item) = item
                    && tx.send(item).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn matches(opts: &WatchOptions, bytes: &[u8]) -> bool {
    let label = opts.label.as_ref().filter(|l| !l.is_empty());
    let field = opts.field.as_ref().filter(|f| !f.is_empty());
    match (label, field) {
        (None, None) => true,
        (Some(l), None) => l.matches_bytes(bytes),
        _ => serde_json::from_slice::<Value>(bytes).is_ok_and(|obj| {
            label.is_none_or(|l| l.matches(&obj)) && field.is_none_or(|f| f.matches(&obj))
        }),
    }
}

/// Turn a store event into what this watcher sees, given its selectors.
fn classify(
    core: &Core,
    res: &ResourceInfo,
    opts: &WatchOptions,
    ev: &cceone_kube_store::Event,
) -> Option<WatchItem> {
    let now = matches(opts, &ev.kv.value);
    let before = ev.prev.as_deref().is_some_and(|p| matches(opts, p));
    let obj = core.present(res, ev.kv.value.clone()).ok()?;
    match ev.event_type {
        EventType::Added => now.then_some(WatchItem::Added(obj)),
        EventType::Modified => match (before, now) {
            (true, true) => Some(WatchItem::Modified(obj)),
            (false, true) => Some(WatchItem::Added(obj)),
            (true, false) => Some(WatchItem::Deleted(obj)),
            (false, false) => None,
        },
        EventType::Deleted => now.then_some(WatchItem::Deleted(obj)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmarks_every_minute_and_just_before_the_timeout() {
        let now = tokio::time::Instant::now();
        assert_eq!(next_bookmark(now, None), Some(now + BOOKMARK_EVERY));
        let soon = now + Duration::from_secs(30);
        assert_eq!(
            next_bookmark(now, Some(soon)),
            Some(soon - BOOKMARK_BEFORE_TIMEOUT)
        );
        let late = now + Duration::from_secs(600);
        assert_eq!(next_bookmark(now, Some(late)), Some(now + BOOKMARK_EVERY));
        assert_eq!(
            next_bookmark(soon - Duration::from_secs(1), Some(soon)),
            None,
            "the pre-timeout bookmark went out"
        );
    }
}
