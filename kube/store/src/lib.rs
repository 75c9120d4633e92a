//! Revisioned key-value storage for the Kubernetes-compatible API server.
//!
//! This crate plays the role etcd plays under kube-apiserver: a [`Store`] holds
//! serialized objects under string keys, gives every committed write a new,
//! strictly increasing [`Revision`], supports optimistic concurrency
//! (compare-and-swap on the object's last modification revision) and lets
//! clients [`watch`](Store::watch) a key prefix from any retained revision.
//!
//! [`EmbeddedStore`] is the in-process implementation: an in-memory ordered map
//! backed by a crash-safe write-ahead log with group commit and periodic
//! snapshots (or memory only, with identical semantics).
//!
//! ```
//! use cceone_kube_store::{EmbeddedStore, Store};
//! use futures::StreamExt;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = EmbeddedStore::in_memory();
//! let pod = serde_json::json!({"kind": "Pod", "metadata": {"name": "a"}});
//! let created = store.create("/registry/pods/default/a", pod).await?;
//! assert_eq!(created.mod_revision, 2);
//! let mut watch = store.watch("/registry/pods/", created.mod_revision - 1)?;
//! let event = watch.next().await.expect("stream open")?;
//! assert_eq!(event.revision(), created.mod_revision);
//! # Ok::<(), cceone_kube_store::StoreError>(())
//! # }).unwrap();
//! ```

mod embedded;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::Stream;

pub use embedded::{EmbeddedOptions, EmbeddedStore, WalRepair, recover_wal};

/// A store revision: a logical clock that increases by one with every committed write.
pub type Revision = u64;

/// One stored object together with its revisions.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The key the object is stored under.
    pub key: String,
    /// The serialized object (JSON), with `metadata.resourceVersion` equal to `mod_revision`.
    pub value: bytes::Bytes,
    /// Revision at which the key was created.
    pub create_revision: Revision,
    /// Revision of the last write to the key (or of its deletion, in a deleted event).
    pub mod_revision: Revision,
}

/// What happened to a key in a watch [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The key was created.
    Added,
    /// The key was replaced.
    Modified,
    /// The key was deleted.
    Deleted,
}

/// One change delivered by a watch.
#[derive(Clone, Debug)]
pub struct Event {
    /// What kind of change this is.
    pub event_type: EventType,
    /// Added/Modified: the new object. Deleted: the object as it last was, re-stamped with the
    /// deletion revision (its metadata.resourceVersion and mod_revision are the deletion revision).
    pub kv: KeyValue,
    /// The previous value, for Modified and Deleted (lets a watcher with a label selector see an
    /// object leave its selection).
    pub prev: Option<bytes::Bytes>,
}

impl Event {
    /// The revision at which this change was committed.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// One page of a [`Store::list`] call.
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    /// Matching objects in key order.
    pub items: Vec<KeyValue>,
    /// The store revision the page was read at.
    pub revision: Revision,
    /// Whether further matching keys exist after the last item.
    pub more: bool,
}

/// Errors returned by a [`Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist.
    #[error("key {key:?} not found")]
    NotFound {
        /// The missing key.
        key: String,
    },
    /// A create found the key already present.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The existing key.
        key: String,
    },
    /// A compare-and-swap failed: the key was modified since the expected revision.
    #[error("conflict on key {key:?}: expected revision {expected}, current revision {actual}")]
    Conflict {
        /// The key written.
        key: String,
        /// The revision the caller expected the key to have.
        expected: Revision,
        /// The key's actual current modification revision.
        actual: Revision,
    },
    /// The requested revision is older than the retained history.
    #[error("revision {requested} has been compacted (oldest resumable revision is {compacted})")]
    Compacted {
        /// The revision the caller asked to resume from.
        requested: Revision,
        /// The store's compacted revision at the time of the request.
        compacted: Revision,
    },
    /// The object to write is not acceptable (for example not a JSON object).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// Reading or writing the data directory failed.
    #[error("storage I/O error: {0}")]
    Io(#[source] std::io::Error),
    /// The data directory holds data that cannot be decoded or is inconsistent.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// A WAL segment is damaged somewhere a crash cannot have left it (not a torn final
    /// write): the store refuses to start rather than drop acknowledged writes.
    #[error(
        "WAL segment {} is damaged at byte offset {offset}: {reason}; refusing to start so that \
         no acknowledged write is dropped silently (to keep a copy of the damaged files and \
         drop everything from that offset on, stop the server and run \
         `cceonectl store recover-wal {}`)",
        segment.display(),
        dir.display()
    )]
    CorruptWal {
        /// The data directory holding the segment.
        dir: std::path::PathBuf,
        /// The damaged segment file.
        segment: std::path::PathBuf,
        /// Byte offset of the first damaged frame in the segment.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The store has been closed (or stopped after a fatal I/O error).
    #[error("store is closed")]
    Closed,
}

/// Sets `metadata.resourceVersion` of `obj` (a JSON object) to `revision`, as the store does
/// when it writes it.
pub fn set_resource_version(obj: &mut serde_json::Value, revision: Revision) {
    if let Some(fields) = obj.as_object_mut() {
        let meta = fields
            .entry("metadata")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "resourceVersion".into(),
                serde_json::Value::String(revision.to_string()),
            );
        }
    }
}

/// A predicate applied to listed objects; only objects it accepts are returned and counted.
pub type Filter<'a> = &'a (dyn Fn(&KeyValue) -> bool + Sync);

/// A revisioned, watchable key-value store.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Current revision (the revision of the last committed write; 1 for an empty new store).
    fn current_revision(&self) -> Revision;

    /// Oldest revision a watch may resume after (watch(after) with after < this returns Compacted).
    fn compacted_revision(&self) -> Revision;

    /// The object stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Keys starting with `prefix`, in key order, strictly after `start_after` if given, at most
    /// `limit` items that pass `filter` (limit None = all). `more` says whether further matching
    /// keys exist. `revision` is the store revision the page was read at.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
        filter: Option<Filter<'_>>,
    ) -> Result<ListPage, StoreError>;

    /// Create; AlreadyExists if present. The store assigns the next revision and sets
    /// `metadata.resourceVersion` (a JSON string of the revision number) inside `obj` before
    /// serializing it; InvalidObject if obj is not a JSON object.
    async fn create(&self, key: &str, obj: serde_json::Value) -> Result<KeyValue, StoreError>;

    /// Replace; NotFound if absent; Conflict if `expected` is Some(rev) and the current
    /// mod_revision differs. Stamps resourceVersion like create. create_revision is kept.
    async fn update(
        &self,
        key: &str,
        obj: serde_json::Value,
        expected: Option<Revision>,
    ) -> Result<KeyValue, StoreError>;

    /// [`Store::create`], handing `obj` back as stored (its `metadata.resourceVersion` set) for
    /// a caller that needs the object after writing it, without a copy made beforehand where
    /// the store can avoid one.
    async fn create_kept(
        &self,
        key: &str,
        obj: serde_json::Value,
    ) -> Result<(KeyValue, serde_json::Value), StoreError> {
        let mut kept = obj.clone();
        let kv = self.create(key, obj).await?;
        set_resource_version(&mut kept, kv.mod_revision);
        Ok((kv, kept))
    }

    /// [`Store::update`], handing `obj` back as stored, as [`Store::create_kept`] does.
    async fn update_kept(
        &self,
        key: &str,
        obj: serde_json::Value,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, serde_json::Value), StoreError> {
        let mut kept = obj.clone();
        let kv = self.update(key, obj, expected).await?;
        set_resource_version(&mut kept, kv.mod_revision);
        Ok((kv, kept))
    }

    /// Delete; NotFound/Conflict as update. Returns the deleted object re-stamped with the
    /// deletion revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError>;

    /// Events for keys under `prefix` with revision > `after`, in revision order, no gaps, no
    /// duplicates, then live events as they commit. Compacted error if `after` <
    /// compacted_revision(). Writers are never blocked by slow watchers: a watcher that falls
    /// behind past the retained history gets one Err(Compacted) item and then the stream ends.
    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Drop history at or below `revision` (watches from older revisions then get Compacted).
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// Counters of the store's commits, for the metrics (all zero when it keeps none).
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Whether writes can be accepted now: the error every write would get (a failed log
    /// write such as a full disk, a closed store), for readiness probes.
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Counters of a store's durable commits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StoreStats {
    /// Group commits written (each one write and, when enabled, one fdatasync).
    pub commits: u64,
    /// Records (writes) those commits carried.
    pub records: u64,
    /// Bytes appended to the log.
    pub bytes: u64,
    /// Seconds spent writing and syncing the log.
    pub commit_seconds: f64,
    /// The longest single commit, in seconds.
    pub max_commit_seconds: f64,
    /// Snapshots written.
    pub snapshots: u64,
}

/// The item type of a [`WatchStream`].
pub type WatchItem = Result<Event, StoreError>;

/// A watch: a stream of [`Event`]s (see [`Store::watch`]) that also reports its progress through
/// the store's global revision sequence.
pub struct WatchStream {
    inner: Pin<Box<dyn Stream<Item = WatchItem> + Send>>,
    progress: Arc<AtomicU64>,
}

impl WatchStream {
    /// Wraps a stream of events. `progress` must only ever hold a revision such that every event
    /// for the watched prefix at or below it has already been yielded by `inner`.
    pub fn new(
        inner: impl Stream<Item = WatchItem> + Send + 'static,
        progress: Arc<AtomicU64>,
    ) -> Self {
        Self {
            inner: Box::pin(inner),
            progress,
        }
    }

    /// Every event for this prefix with revision <= this value has been yielded by the stream
    /// already (advances even when events for other prefixes commit, so the API server can send
    /// watch bookmarks). Cheap and sync.
    pub fn progress(&self) -> Revision {
        self.progress.load(Ordering::Acquire)
    }
}

impl Stream for WatchStream {
    type Item = WatchItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}
