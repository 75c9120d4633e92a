//! Snapshot files: a full copy of the key space at one revision, written to `snapshot.tmp`,
//! synced, and atomically renamed over `snapshot`, so a crash at any point leaves either the old
//! or the new snapshot in place.
//!
//! Layout: magic, a header record (`OP_HEADER`: revision, compacted revision, entry count), one
//! `OP_PUT` record per key in key order, and a trailer (`OP_END`: revision, entry count), all
//! framed like WAL records.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::Entry;
use super::wal::{self, OP_END, OP_HEADER, OP_PUT};
use crate::{Revision, StoreError};

/// The first bytes of every snapshot file.
const MAGIC: &[u8; 8] = b"CCESNAP1";
/// Name of the current snapshot in the data directory.
pub(super) const SNAPSHOT: &str = "snapshot";
/// Name of a snapshot being written.
pub(super) const SNAPSHOT_TMP: &str = "snapshot.tmp";

/// A snapshot read back from disk.
#[derive(Debug)]
pub(super) struct Loaded {
    /// Every key and its entry at `revision`.
    pub(super) map: BTreeMap<String, Entry>,
    /// The revision the snapshot was taken at.
    pub(super) revision: Revision,
    /// The compacted revision when the snapshot was taken.
    pub(super) compacted: Revision,
}

/// Writes `map` as the snapshot at `revision`, replacing any previous snapshot.
pub(super) fn write(
    dir: &Path,
    map: &BTreeMap<String, Entry>,
    revision: Revision,
    compacted: Revision,
    fsync: bool,
) -> io::Result<()> {
    let tmp = dir.join(SNAPSHOT_TMP);
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        0o600,
    )
    .open(&tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC)?;
    let count = map.len() as u64;
    let mut buf = Vec::with_capacity(4096);
    wal::encode(
        &mut buf,
        OP_HEADER,
        revision,
        compacted,
        "",
        &count.to_le_bytes(),
    );
    for (key, entry) in map {
        wal::encode(
            &mut buf,
            OP_PUT,
            entry.mod_rev,
            entry.create_rev,
            key,
            &entry.value,
        );
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    wal::encode(&mut buf, OP_END, revision, count, "", &[]);
    out.write_all(&buf)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    if fsync {
        file.sync_all()?;
    }
    drop(file);
    fs::rename(&tmp, dir.join(SNAPSHOT))?;
    if fsync {
        wal::sync_dir(dir)?;
    }
    Ok(())
}

/// Reads the snapshot in `dir`, if there is one. Any damage is reported as corruption: a
/// snapshot only ever appears through an atomic rename of a fully synced file.
pub(super) fn read(dir: &Path) -> Result<Option<Loaded>, StoreError> {
    let path = dir.join(SNAPSHOT);
    let data = match fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::Io(e)),
    };
    let corrupt = |why: String| StoreError::Corrupt(format!("{}: {why}", path.display()));
    let body = data
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("bad magic".into()))?;
    let decoded = wal::decode_all(body);
    if let Some(e) = decoded.error {
        return Err(corrupt(e));
    }
    let mut records = decoded.records.into_iter();
    let header = records
        .next()
        .filter(|r| r.op == OP_HEADER)
        .ok_or_else(|| corrupt("missing header".into()))?;
    let count = <[u8; 8]>::try_from(&header.value[..])
        .map(u64::from_le_bytes)
        .map_err(|_| corrupt("bad header".into()))?;
    let mut map = BTreeMap::new();
    let mut ended = false;
    for record in records {
        if ended {
            return Err(corrupt("records after trailer".into()));
        }
        match record.op {
            OP_PUT => {
                map.insert(
                    record.key,
                    Entry {
                        value: record.value,
                        create_rev: record.create_revision,
                        mod_rev: record.revision,
                    },
                );
            }
            OP_END if record.revision == header.revision && record.create_revision == count => {
                ended = true;
            }
            op => return Err(corrupt(format!("unexpected record op {op}"))),
        }
    }
    if !ended || map.len() as u64 != count {
        return Err(corrupt(format!(
            "incomplete snapshot: {} of {count} entries",
            map.len()
        )));
    }
    Ok(Some(Loaded {
        map,
        revision: header.revision,
        compacted: header.create_revision,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let mut map = BTreeMap::new();
        for i in 0..10u64 {
            let entry = Entry {
                value: format!("{{\"i\":{i}}}").into(),
                create_rev: i + 2,
                mod_rev: i + 3,
            };
            map.insert(format!("/k/{i}"), entry);
        }
        write(dir.path(), &map, 40, 7, true).unwrap();
        let loaded = read(dir.path()).unwrap().unwrap();
        assert_eq!(loaded.revision, 40);
        assert_eq!(loaded.compacted, 7);
        assert_eq!(loaded.map, map);

        let path = dir.path().join(SNAPSHOT);
        let len = fs::metadata(&path).unwrap().len();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        assert!(matches!(read(dir.path()), Err(StoreError::Corrupt(_))));
    }
}
