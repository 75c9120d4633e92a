//! Watches on etcd: one etcd watch per store watch, from `after + 1` with previous values.
//!
//! The stream re-opens the etcd watch from the last revision it accounted for when the
//! connection breaks (etcd restarting, a member failing over), so a store watch has no gaps
//! and no duplicates across it; it reports an error only once etcd has stayed unreachable for
//! the dial timeout. A quiet watch asks etcd for a progress notification every
//! `progress_interval`, so its progress (the API server's bookmarks) follows writes to other
//! keys. Compaction past the watch's position ends it with one `Compacted` item.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cceone_kube_store::{Event, EventType, KeyValue, Revision, StoreError, WatchItem, WatchStream};
use etcd_client::{WatchOptions, WatchRequestSender, WatchResponse, WatchResponseStream};
use futures::StreamExt;

use crate::client::Shared;
use crate::{codec, error};

/// Starts a watch of `prefix` for events after `after`.
pub(crate) fn watch(
    shared: Arc<Shared>,
    prefix: &str,
    after: Revision,
) -> Result<WatchStream, StoreError> {
    let compacted = shared.compacted.load(Ordering::Acquire);
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted,
        });
    }
    let progress = Arc::new(AtomicU64::new(after));
    let key = shared.key(prefix).into_bytes();
    let cursor = Cursor {
        end: codec::prefix_end(&key),
        key,
        seen: after,
        progress: Arc::clone(&progress),
        conn: None,
        backlog: VecDeque::new(),
        broken_since: None,
        done: false,
        shared,
    };
    let stream = futures::stream::unfold(cursor, |mut cursor| async move {
        let item = cursor.next().await?;
        Some((item, cursor))
    });
    Ok(WatchStream::new(stream, progress))
}

/// One open etcd watch.
struct Conn {
    requests: WatchRequestSender,
    responses: WatchResponseStream,
    progress_tick: tokio::time::Interval,
}

/// The state of one store watch.
struct Cursor {
    shared: Arc<Shared>,
    key: Vec<u8>,
    end: Vec<u8>,
    /// Every event at or below this revision has been yielded (or is in `backlog`, which is
    /// drained before any new etcd message is read).
    seen: Revision,
    progress: Arc<AtomicU64>,
    conn: Option<Conn>,
    backlog: VecDeque<Event>,
    /// When the etcd watch last broke without a successful re-open since.
    broken_since: Option<tokio::time::Instant>,
    done: bool,
}

impl Cursor {
    async fn open(&self) -> Result<Conn, StoreError> {
        let opts = WatchOptions::new()
            .with_range(self.end.clone())
            .with_start_revision(codec::etcd_revision(self.seen.saturating_add(1)))
            .with_prev_key()
            .with_progress_notify();
        let mut client = self.shared.client.watch_client();
        let stream = tokio::time::timeout(
            self.shared.request_timeout,
            client.watch(self.key.clone(), Some(opts)),
        )
        .await
        .map_err(|_| error::timed_out("watch"))?
        .map_err(|e| self.shared.map_err(e, self.seen))?;
        let (requests, responses) = stream.split();
        let every = self.shared.progress_interval;
        let mut progress_tick =
            tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Conn {
            requests,
            responses,
            progress_tick,
        })
    }

    fn advance(&mut self, revision: Revision) {
        self.seen = self.seen.max(revision);
        self.progress.fetch_max(revision, Ordering::AcqRel);
        self.shared.current.fetch_max(revision, Ordering::AcqRel);
    }

    /// Notes a broken etcd watch: re-open later, or give up past the dial timeout.
    async fn broken(&mut self, e: StoreError) -> Option<WatchItem> {
        self.conn = None;
        let since = *self
            .broken_since
            .get_or_insert_with(tokio::time::Instant::now);
        if !error::transient(&e) || since.elapsed() > self.shared.dial_timeout {
            self.done = true;
            return Some(Err(e));
        }
        tracing::debug!(error = %e, after = self.seen, "etcd watch broken; re-opening");
        tokio::time::sleep(Duration::from_millis(200)).await;
        None
    }

    async fn next(&mut self) -> Option<WatchItem> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                self.advance(event.revision());
                return Some(Ok(event));
            }
            let Some(conn) = self.conn.as_mut() else {
                match self.open().await {
                    Ok(conn) => self.conn = Some(conn),
                    Err(e) => {
                        if let Some(item) = self.broken(e).await {
                            return Some(item);
                        }
                    }
                }
                continue;
            };
            let message = tokio::select! {
                m = conn.responses.next() => Some(m),
                _ = conn.progress_tick.tick() => None,
            };
            let Some(message) = message else {
                if let Err(e) = conn.requests.request_progress().await {
                    let e = self.shared.map_err(e, self.seen);
                    if let Some(item) = self.broken(e).await {
                        return Some(item);
                    }
                }
                continue;
            };
            match message {
                Some(Ok(resp)) => {
                    self.broken_since = None;
                    if let Some(item) = self.handle(resp) {
                        return Some(item);
                    }
                }
                Some(Err(e)) => {
                    let e = self.shared.map_err(e, self.seen);
                    if let Some(item) = self.broken(e).await {
                        return Some(item);
                    }
                }
                None => {
                    let e = StoreError::Io(std::io::Error::other("etcd closed the watch stream"));
                    if let Some(item) = self.broken(e).await {
                        return Some(item);
                    }
                }
            }
        }
    }

    /// Queues a response's events or records its progress; an item ends the watch.
    fn handle(&mut self, resp: WatchResponse) -> Option<WatchItem> {
        if resp.compact_revision() > 0 {
            let compacted = codec::revision(resp.compact_revision());
            self.shared.compacted.fetch_max(compacted, Ordering::AcqRel);
            self.done = true;
            return Some(Err(StoreError::Compacted {
                requested: self.seen,
                compacted,
            }));
        }
        if resp.canceled() {
            self.done = true;
            let reason = resp.cancel_reason().to_owned();
            return Some(Err(StoreError::Io(std::io::Error::other(format!(
                "etcd cancelled the watch: {reason}"
            )))));
        }
        if resp.created() {
            return None;
        }
        if resp.events().is_empty() {
            // A progress notification: every event up to the header revision has been sent.
            if let Some(h) = resp.header() {
                self.advance(codec::revision(h.revision()));
            }
            return None;
        }
        for ev in resp.events() {
            if let Some(event) = self.convert(ev)
                && event.revision() > self.seen
            {
                self.backlog.push_back(event);
            }
        }
        None
    }

    fn convert(&self, ev: &etcd_client::Event) -> Option<Event> {
        let kv = ev.kv()?;
        let key = std::str::from_utf8(kv.key())
            .ok()?
            .strip_prefix(&self.shared.prefix)?
            .to_owned();
        let rev = codec::revision(kv.mod_revision());
        let prev = ev.prev_kv();
        let prev_value =
            prev.map(|p| codec::stamp_bytes(p.value(), codec::revision(p.mod_revision())));
        let (event_type, value, create_revision) = match ev.event_type() {
            etcd_client::EventType::Put => (
                if kv.version() == 1 {
                    EventType::Added
                } else {
                    EventType::Modified
                },
                codec::stamp_bytes(kv.value(), rev),
                codec::revision(kv.create_revision()),
            ),
            etcd_client::EventType::Delete => {
                // The deleted object as it last was, re-stamped with the deletion revision.
                let value = match prev {
                    Some(p) => codec::stamp_bytes(p.value(), rev),
                    None => {
                        tracing::warn!(%key, revision = rev, "etcd delete event without the previous value");
                        codec::stamp_bytes(b"{}", rev)
                    }
                };
                let create = prev.map_or(0, |p| codec::revision(p.create_revision()));
                (EventType::Deleted, value, create)
            }
        };
        Some(Event {
            event_type,
            kv: KeyValue {
                key,
                value,
                create_revision,
                mod_revision: rev,
            },
            prev: prev_value,
        })
    }
}
