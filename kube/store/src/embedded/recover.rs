//! Opening a data directory: take the directory lock, load the snapshot, replay the WAL segments
//! after it (truncating a torn final write off the last one, refusing any other damage), rebuild
//! the watch history, and leave the last segment open for appending.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wal::{self, OP_DELETE, OP_PUT, Record, Wal};
use super::watch::Hub;
use super::{Entry, snapshot, tail};
use crate::{Event, EventType, KeyValue, Revision, StoreError};

/// Name of the lock file that keeps two stores from sharing a directory.
const LOCK: &str = "LOCK";
/// How long to wait for another store in this process (still shutting down) to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Everything recovered from a data directory.
pub(super) struct Recovered {
    /// The key space at `revision`.
    pub(super) map: BTreeMap<String, Entry>,
    /// The last recovered revision.
    pub(super) revision: Revision,
    /// The hub, holding the history rebuilt from the WAL.
    pub(super) hub: Hub,
    /// The segment to append to.
    pub(super) wal: Wal,
    /// The held directory lock (released when dropped).
    pub(super) lock: File,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(e)
}

/// Locks `dir` for exclusive use by this store.
pub(super) fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(LOCK))
        .map_err(io)?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "data directory {} is in use by another store",
                        dir.display()
                    ),
                )));
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

/// Applies one replayed record to `map`, returning the watch event it corresponds to.
fn apply(map: &mut BTreeMap<String, Entry>, record: Record) -> Result<Event, String> {
    let revision = record.revision;
    match record.op {
        OP_PUT => {
            let entry = Entry {
                value: record.value.clone(),
                create_rev: record.create_revision,
                mod_rev: revision,
            };
            let prev = map.insert(record.key.clone(), entry).map(|e| e.value);
            let event_type = if prev.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            };
            Ok(Event {
                event_type,
                kv: KeyValue {
                    key: record.key,
                    value: record.value,
                    create_revision: record.create_revision,
                    mod_revision: revision,
                },
                prev,
            })
        }
        OP_DELETE => {
            let prev = map
                .remove(&record.key)
                .ok_or_else(|| format!("delete of absent key {:?} at {revision}", record.key))?;
            Ok(Event {
                event_type: EventType::Deleted,
                kv: KeyValue {
                    value: super::restamp(&prev.value, revision),
                    key: record.key,
                    create_revision: prev.create_rev,
                    mod_revision: revision,
                },
                prev: Some(prev.value),
            })
        }
        op => Err(format!("unexpected record op {op} at {revision}")),
    }
}

/// Reads one segment, truncating a torn final write off it if it is the last segment. Any other
/// damage stops recovery with [`StoreError::CorruptWal`].
fn read_segment(dir: &Path, path: &Path, last: bool) -> Result<(Vec<Record>, u64), StoreError> {
    let data = fs::read(path).map_err(io)?;
    let decoded = wal::decode_all(&data);
    if let Some(why) = decoded.error {
        let offset = decoded.valid_len;
        let verdict = if last {
            tail::classify(&data, offset).map_err(|not| format!("{why}; {not}"))
        } else {
            Err(format!("{why}; later segments follow it"))
        };
        if let Err(reason) = verdict {
            return Err(StoreError::CorruptWal {
                dir: dir.to_owned(),
                segment: path.to_owned(),
                offset: offset as u64,
                reason,
            });
        }
        tracing::warn!(
            path = %path.display(),
            offset,
            dropped_bytes = data.len() - offset,
            "truncating a torn final WAL write (never acknowledged): {why}"
        );
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(offset as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok((decoded.records, decoded.valid_len as u64))
}

/// Recovers the store state from `dir`, creating the directory if needed.
pub(super) fn recover(dir: &Path, fsync: bool, history: usize) -> Result<Recovered, StoreError> {
    fs::create_dir_all(dir).map_err(io)?;
    // The store holds every object, Secrets included: only its owner may read it.
    fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).map_err(io)?;
    let lock = lock_dir(dir)?;
    match fs::remove_file(dir.join(snapshot::SNAPSHOT_TMP)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let (mut map, snap_rev) = match snapshot::read(dir)? {
        Some(loaded) => (loaded.map, loaded.revision.max(loaded.compacted)),
        None => (BTreeMap::new(), 1),
    };
    let hub = Hub::new(snap_rev, history);
    let mut revision = snap_rev;
    let segments = wal::list_segments(dir).map_err(io)?;
    let mut tail: Option<(PathBuf, u64)> = None;
    for (i, (_, path)) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if segments
            .get(i + 1)
            .is_some_and(|next| next.0 <= snap_rev + 1)
        {
            // Wholly covered by the snapshot (and removed below): nothing in it is needed, so
            // damage in it must not stop the store.
            continue;
        }
        let (records, size) = read_segment(dir, path, last)?;
        for record in records {
            if record.revision <= revision {
                continue;
            }
            if record.revision != revision + 1 {
                return Err(StoreError::Corrupt(format!(
                    "{}: revision gap, {} follows {revision}",
                    path.display(),
                    record.revision
                )));
            }
            revision = record.revision;
            let event = apply(&mut map, record)
                .map_err(|why| StoreError::Corrupt(format!("{}: {why}", path.display())))?;
            hub.publish([Arc::new(event)]);
        }
        if last {
            tail = Some((path.clone(), size));
        }
    }
    // Segments wholly covered by the snapshot are left behind by a crash after the snapshot
    // rename; the last segment always stays as the append target.
    for pair in segments.windows(2) {
        if pair[1].0 <= snap_rev + 1 {
            fs::remove_file(&pair[0].1).map_err(io)?;
        }
    }
    let wal = match tail {
        Some((path, size)) => Wal::open_existing(dir, &path, size, fsync),
        None => Wal::create(dir, revision + 1, fsync),
    }
    .map_err(io)?;
    Ok(Recovered {
        map,
        revision,
        hub,
        wal,
        lock,
    })
}
