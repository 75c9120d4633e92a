//! Watch fan-out: the bounded history of committed events, the live broadcast channel, and the
//! per-watcher cursor that stitches history replay and live events into one gap-free stream.
//!
//! Events are published here only once durable, in revision order, under the hub lock. A watcher
//! subscribes to the broadcast and snapshots the history under that same lock, so every event is
//! either in its backlog or will arrive on its receiver. A watcher that lags behind the broadcast
//! re-reads the history; if the events it missed were compacted away it ends with `Compacted`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::{Event, Revision, StoreError, WatchItem, WatchStream};

/// Capacity of the live broadcast channel (events a watcher may fall behind before it has to
/// catch up from history).
const BROADCAST_CAPACITY: usize = 4096;

/// History, broadcast, and the published/compacted revision counters.
pub(super) struct Hub {
    inner: Mutex<HubInner>,
    /// Revision of the last published event (readable without the lock).
    published: AtomicU64,
    /// Oldest revision a watch may resume after (readable without the lock).
    compacted: AtomicU64,
}

/// Bytes of objects the history keeps however old they are: old versions held for watch
/// resumption must not grow with the store. A burst's history is kept by [`HISTORY_GRACE`]
/// whatever this is; this floor only serves a watcher that comes back after a quiet spell,
/// and is memory held for good (32 MiB: 0.6 KiB per Work of a federation holding 50,000).
const HISTORY_BYTES: usize = 32 << 20;

/// Beyond [`HISTORY_BYTES`], events are kept while younger than this (as etcd keeps every
/// revision until its periodic compaction): under a burst of writes 64 MiB is a few seconds of
/// history, and a watcher that falls that far behind — a busy process's own cache, a gateway
/// across the network — would otherwise get `Compacted` and list everything again, which makes
/// it fall further behind. Once the burst is over the history shrinks back.
const HISTORY_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Most events one publish drops for age alone (see [`Hub::publish`]).
const AGED_OUT_PER_PUBLISH: usize = 16_384;

/// The most bytes of objects the history holds, however recent: a watcher further behind
/// than this gets `Compacted` and lists again.
const HISTORY_BYTES_MAX: usize = 512 << 20;

/// An event's share of [`HISTORY_BYTES`]: its key and new object. Its previous object is not
/// counted: that is the same buffer as the new object of the key's earlier event (shared, not
/// copied), so counting it twice halved the history a lagging watcher could catch up from — a
/// burst of status updates then sent the federation's own caches back to a full relist. What
/// the history holds is at most twice this bound (when every earlier event is gone).
fn event_bytes(e: &Event) -> usize {
    e.kv.key.len() + e.kv.value.len()
}

struct HubInner {
    /// Events with revisions in (compacted, published], contiguous and in order.
    history: VecDeque<Arc<Event>>,
    /// When each event of `history` was published (same order).
    published_at: VecDeque<std::time::Instant>,
    /// Most events kept in `history`.
    limit: usize,
    /// Bytes of the events in `history` ([`event_bytes`]).
    bytes: usize,
    /// Live channel; `None` once the store has shut down.
    tx: Option<broadcast::Sender<Arc<Event>>>,
}

/// What a watcher needs to (re)start: a receiver and the retained events it has not seen.
struct Attach {
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    backlog: VecDeque<Arc<Event>>,
    published: Revision,
}

impl Hub {
    /// A hub whose history starts empty at `revision` (published = compacted = revision).
    pub(super) fn new(revision: Revision, limit: usize) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Mutex::new(HubInner {
                history: VecDeque::new(),
                published_at: VecDeque::new(),
                limit,
                bytes: 0,
                tx: Some(tx),
            }),
            published: AtomicU64::new(revision),
            compacted: AtomicU64::new(revision),
        }
    }

    /// Revision of the last published event.
    pub(super) fn published(&self) -> Revision {
        self.published.load(Ordering::Acquire)
    }

    /// Oldest revision a watch may resume after.
    pub(super) fn compacted(&self) -> Revision {
        self.compacted.load(Ordering::Acquire)
    }

    /// Appends durable events (in revision order, continuing the sequence) to the history and
    /// sends them to live watchers. Never blocks on watchers.
    pub(super) fn publish(&self, events: impl IntoIterator<Item = Arc<Event>>) {
        let now = std::time::Instant::now();
        // What leaves the history is freed after the lock is released; and what leaves it for
        // age alone leaves a little at a time, so the end of a burst's grace does not stall
        // one commit with freeing hundreds of megabytes.
        let mut dropped = Vec::new();
        let mut aged_out = 0usize;
        let mut inner = self.inner.lock();
        for event in events {
            let revision = event.revision();
            if let Some(tx) = &inner.tx {
                // An error only means nobody is listening right now.
                let _ = tx.send(Arc::clone(&event));
            }
            inner.bytes += event_bytes(&event);
            inner.history.push_back(event);
            inner.published_at.push_back(now);
            self.published.store(revision, Ordering::Release);
            loop {
                let over = inner.history.len() > inner.limit
                    || (inner.bytes > HISTORY_BYTES_MAX && inner.history.len() > 1);
                let aged = !over
                    && aged_out < AGED_OUT_PER_PUBLISH
                    && inner.bytes > HISTORY_BYTES
                    && inner.history.len() > 1
                    && inner
                        .published_at
                        .front()
                        .is_some_and(|t| now.duration_since(*t) > HISTORY_GRACE);
                if !over && !aged {
                    break;
                }
                let Some(oldest) = inner.history.pop_front() else {
                    break;
                };
                aged_out += usize::from(aged);
                inner.published_at.pop_front();
                inner.bytes = inner.bytes.saturating_sub(event_bytes(&oldest));
                self.compacted.store(oldest.revision(), Ordering::Release);
                dropped.push(oldest);
            }
        }
        drop(inner);
        drop(dropped);
    }

    /// Drops history at or below `revision` (clamped to the published revision).
    pub(super) fn compact(&self, revision: Revision) {
        let mut inner = self.inner.lock();
        let target = revision.min(self.published());
        if target <= self.compacted() {
            return;
        }
        while inner
            .history
            .front()
            .is_some_and(|e| e.revision() <= target)
        {
            if let Some(e) = inner.history.pop_front() {
                inner.published_at.pop_front();
                inner.bytes = inner.bytes.saturating_sub(event_bytes(&e));
            }
        }
        self.compacted.store(target, Ordering::Release);
    }

    /// Ends every live watch (they yield `Closed` after draining what they were sent).
    pub(super) fn shutdown(&self) {
        self.inner.lock().tx = None;
    }

    /// Subscribes and collects the retained events after `from` (and after `after`) under
    /// `prefix`, or reports `Compacted` when events after `from` are no longer retained.
    fn attach(&self, from: Revision, after: Revision, prefix: &str) -> Result<Attach, StoreError> {
        let inner = self.inner.lock();
        let compacted = self.compacted();
        if from < compacted {
            return Err(StoreError::Compacted {
                requested: from,
                compacted,
            });
        }
        let rx = inner.tx.as_ref().map(broadcast::Sender::subscribe);
        let start = from.max(after);
        let skip = inner
            .history
            .front()
            .map_or(0, |first| start.saturating_sub(first.revision() - 1));
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let backlog = inner
            .history
            .iter()
            .skip(skip)
            .filter(|e| e.kv.key.starts_with(prefix))
            .cloned()
            .collect();
        Ok(Attach {
            rx,
            backlog,
            published: self.published(),
        })
    }

    /// Starts a watch of `prefix` for events after `after`.
    pub(super) fn watch(
        self: &Arc<Self>,
        prefix: &str,
        after: Revision,
    ) -> Result<WatchStream, StoreError> {
        let attach = self.attach(after, after, prefix)?;
        let progress = Arc::new(AtomicU64::new(0));
        let mut cursor = Cursor {
            hub: Arc::clone(self),
            prefix: prefix.to_owned(),
            after,
            rx: None,
            backlog: VecDeque::new(),
            seen: 0,
            progress: Arc::clone(&progress),
            done: false,
        };
        cursor.install(attach);
        let stream = futures::stream::unfold(cursor, |mut cursor| async move {
            let item = cursor.next().await?;
            Some((item, cursor))
        });
        Ok(WatchStream::new(stream, progress))
    }
}

/// The state of one watcher.
struct Cursor {
    hub: Arc<Hub>,
    prefix: String,
    /// Only events above this revision are delivered.
    after: Revision,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    /// Retained events still to deliver (already filtered by prefix).
    backlog: VecDeque<Arc<Event>>,
    /// Highest revision of the global sequence this watcher has accounted for.
    seen: Revision,
    progress: Arc<AtomicU64>,
    done: bool,
}

impl Cursor {
    fn install(&mut self, attach: Attach) {
        self.rx = attach.rx;
        self.backlog = attach.backlog;
        self.seen = self.seen.max(attach.published);
        self.advance(self.after);
        self.settle();
    }

    fn advance(&self, revision: Revision) {
        self.progress.fetch_max(revision, Ordering::AcqRel);
    }

    /// Records progress up to just before the next backlog event (or everything seen).
    fn settle(&self) {
        match self.backlog.front() {
            Some(next) => self.advance(next.revision() - 1),
            None => self.advance(self.seen),
        }
    }

    /// Re-reads history after a lag or a gap; ends the watch if it was compacted away.
    fn resync(&mut self) -> Option<WatchItem> {
        match self.hub.attach(self.seen, self.after, &self.prefix) {
            Ok(attach) => {
                self.install(attach);
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    async fn next(&mut self) -> Option<WatchItem> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                self.settle();
                return Some(Ok(Event::clone(&event)));
            }
            let Some(rx) = self.rx.as_mut() else {
                self.done = true;
                return Some(Err(StoreError::Closed));
            };
            match rx.recv().await {
                Ok(event) => {
                    let revision = event.revision();
                    if revision <= self.seen {
                        continue;
                    }
                    if revision != self.seen + 1 {
                        if let Some(err) = self.resync() {
                            return Some(err);
                        }
                        continue;
                    }
                    self.seen = revision;
                    self.advance(revision);
                    if revision > self.after && event.kv.key.starts_with(&self.prefix) {
                        return Some(Ok(Event::clone(&event)));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(err) = self.resync() {
                        return Some(err);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(StoreError::Closed));
                }
            }
        }
    }
}
