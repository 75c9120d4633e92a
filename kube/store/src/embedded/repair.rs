//! The operator's way out of [`StoreError::CorruptWal`]: keep a copy of the damaged segment and
//! every later one, then cut the WAL at the damage so the store can start again from the last
//! intact record. Run offline (the directory lock is taken), by `cceonectl store recover-wal`.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::{recover, tail, wal};
use crate::StoreError;

/// What [`recover_wal`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalRepair {
    /// The damaged segment, cut at `offset`; `None` when no segment was damaged.
    pub segment: Option<PathBuf>,
    /// Byte offset the damaged segment was cut at.
    pub offset: u64,
    /// Bytes removed from the WAL (the damaged segment's rest and every later segment).
    pub dropped_bytes: u64,
    /// Intact records among the removed bytes: acknowledged writes that are gone from the store
    /// (they remain in the copies under `backup`).
    pub dropped_records: usize,
    /// The directory holding untouched copies of every file changed or removed.
    pub backup: Option<PathBuf>,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(e)
}

/// A new `damaged-<unix seconds>[-n]` directory inside `dir`, readable by the owner only.
fn backup_dir(dir: &Path) -> Result<PathBuf, StoreError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    for n in 0..1000 {
        let name = if n == 0 {
            format!("damaged-{secs}")
        } else {
            format!("damaged-{secs}-{n}")
        };
        let path = dir.join(name);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    Err(io(std::io::Error::other(
        "no free name for a backup directory",
    )))
}

/// Finds the first damaged WAL segment in the store directory `dir`; copies it and every later
/// segment into a new `damaged-*` directory there, cuts it at the damaged frame and removes the
/// later segments. Leaves an undamaged WAL untouched. The store must not be open.
pub fn recover_wal(dir: &Path) -> Result<WalRepair, StoreError> {
    if !dir.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a store directory", dir.display()),
        )));
    }
    let _lock = recover::lock_dir(dir)?;
    let segments = wal::list_segments(dir).map_err(io)?;
    for (i, (_, path)) in segments.iter().enumerate() {
        let data = fs::read(path).map_err(io)?;
        let decoded = wal::decode_all(&data);
        if decoded.error.is_none() {
            continue;
        }
        let offset = decoded.valid_len;
        let backup = backup_dir(dir)?;
        let later = &segments[i + 1..];
        let mut report = WalRepair {
            segment: Some(path.clone()),
            offset: offset as u64,
            dropped_bytes: (data.len() - offset) as u64,
            dropped_records: tail::intact_after(&data, offset),
            backup: Some(backup.clone()),
        };
        for (_, p) in std::iter::once(&segments[i]).chain(later) {
            let Some(name) = p.file_name() else { continue };
            fs::copy(p, backup.join(name)).map_err(io)?;
            OpenOptions::new()
                .read(true)
                .open(backup.join(name))
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        wal::sync_dir(&backup).map_err(io)?;
        for (_, p) in later {
            let later_data = fs::read(p).map_err(io)?;
            report.dropped_bytes += later_data.len() as u64;
            report.dropped_records += wal::decode_all(&later_data).records.len();
        }
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(offset as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
        for (_, p) in later {
            fs::remove_file(p).map_err(io)?;
        }
        wal::sync_dir(dir).map_err(io)?;
        tracing::warn!(
            segment = %path.display(),
            offset,
            dropped_bytes = report.dropped_bytes,
            dropped_records = report.dropped_records,
            backup = %backup.display(),
            "cut the WAL at damaged data; copies of the removed bytes are kept"
        );
        return Ok(report);
    }
    Ok(WalRepair::default())
}
