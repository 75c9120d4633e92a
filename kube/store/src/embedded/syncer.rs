//! The background WAL syncer thread (group commit).
//!
//! Writers append encoded records and their events to the pending buffer under the state lock.
//! The syncer takes the whole buffer at once, writes and fdatasyncs it, publishes the events to
//! watchers in revision order, and then advances the synced revision that writers wait on, so
//! concurrent writers share one fsync. When the current segment grows past the snapshot
//! threshold it rotates to a new segment and writes a snapshot on a helper thread, after which
//! the older segments are deleted.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::wal::{self, Wal};
use super::{Core, Entry, Failure, snapshot};
use crate::Revision;

/// A consistent copy of the key space taken for a snapshot.
struct SnapshotJob {
    map: BTreeMap<String, Entry>,
    revision: Revision,
    compacted: Revision,
}

/// Owns the WAL file and the directory lock; runs on its own thread.
pub(super) struct Syncer {
    core: Arc<Core>,
    wal: Wal,
    lock: File,
    dir: PathBuf,
    fsync: bool,
    threshold: u64,
    snapshot: Option<JoinHandle<()>>,
    snapshot_busy: Arc<AtomicBool>,
}

impl Syncer {
    /// A syncer for `core` appending to `wal`.
    pub(super) fn new(
        core: Arc<Core>,
        wal: Wal,
        lock: File,
        dir: PathBuf,
        fsync: bool,
        threshold: u64,
    ) -> Self {
        Self {
            core,
            wal,
            lock,
            dir,
            fsync,
            threshold,
            snapshot: None,
            snapshot_busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs until the store closes (after flushing everything pending) or an I/O error occurs.
    pub(super) fn run(mut self) {
        let mut spare = Vec::new();
        loop {
            let (buf, events, job) = {
                let mut st = self.core.state.lock();
                while st.pending.is_empty() && !st.closing {
                    self.core.wake.wait(&mut st);
                }
                if st.pending.is_empty() {
                    break;
                }
                let buf = std::mem::replace(&mut st.pending, std::mem::take(&mut spare));
                let events = std::mem::take(&mut st.pending_events);
                let due = self.wal.size() + buf.len() as u64 >= self.threshold;
                let job =
                    (due && !self.snapshot_busy.load(Ordering::Acquire)).then(|| SnapshotJob {
                        map: st.map.clone(),
                        revision: st.rev,
                        compacted: self.core.hub.compacted(),
                    });
                (buf, events, job)
            };
            let started = std::time::Instant::now();
            if let Err(e) = self.wal.append(&buf) {
                self.fail(e);
                break;
            }
            let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let stats = &self.core.stats;
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .records
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            stats.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            stats.micros.fetch_add(took, Ordering::Relaxed);
            stats.max_micros.fetch_max(took, Ordering::Relaxed);
            if job.is_some() {
                stats.snapshots.fetch_add(1, Ordering::Relaxed);
            }
            spare = buf;
            spare.clear();
            let last = events.last().map(|e| e.revision());
            self.core.hub.publish(events);
            if let Some(revision) = last {
                self.core
                    .sync
                    .send_modify(|s| s.synced = s.synced.max(revision));
            }
            if let Some(job) = job
                && let Err(e) = self.start_snapshot(job)
            {
                self.fail(e);
                break;
            }
        }
        if let Some(handle) = self.snapshot.take()
            && handle.join().is_err()
        {
            tracing::error!("snapshot thread panicked");
        }
        let Self {
            core, wal, lock, ..
        } = self;
        drop(wal);
        drop(lock);
        core.hub.shutdown();
        core.sync.send_modify(|s| s.stopped = true);
    }

    /// Marks the store failed: pending and future writes report the error.
    fn fail(&self, e: std::io::Error) {
        tracing::error!(error = %e, "WAL write failed; store stops accepting writes");
        let failure = Failure::from(&e);
        self.core.state.lock().failure = Some(failure.clone());
        self.core.sync.send_modify(|s| s.failure = Some(failure));
    }

    /// Rotates to a new segment and writes the snapshot on a helper thread.
    fn start_snapshot(&mut self, job: SnapshotJob) -> std::io::Result<()> {
        self.wal.rotate(job.revision + 1)?;
        if let Some(handle) = self.snapshot.take() {
            // Not busy, so it has finished; joining only reaps it.
            let _ = handle.join();
        }
        self.snapshot_busy.store(true, Ordering::Release);
        let busy = Arc::clone(&self.snapshot_busy);
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let spawned = std::thread::Builder::new()
            .name("kube-store-snapshot".into())
            .spawn(move || {
                let SnapshotJob {
                    map,
                    revision,
                    compacted,
                } = job;
                let result = snapshot::write(&dir, &map, revision, compacted, fsync)
                    .and_then(|()| wal::remove_segments_before(&dir, revision + 1));
                match result {
                    Ok(()) => tracing::debug!(revision, keys = map.len(), "snapshot written"),
                    Err(e) => tracing::warn!(error = %e, revision, "snapshot failed; WAL kept"),
                }
                busy.store(false, Ordering::Release);
            });
        match spawned {
            Ok(handle) => self.snapshot = Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "could not start snapshot thread");
                self.snapshot_busy.store(false, Ordering::Release);
            }
        }
        Ok(())
    }
}
