//! The audit log's writer thread and its rotation: lines arrive on a bounded channel, are
//! appended to the file (flushed whenever the channel runs dry), and the file is renamed to
//! `<stem>-<UTC time>.<ext>` when it would outgrow its limit; old rotated files are removed
//! by count and age.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Events queued before requests wait for the writer.
const QUEUE: usize = 4096;

/// Where the log goes and when it rotates.
#[derive(Debug, Clone)]
pub(super) struct Rotation {
    pub(super) path: PathBuf,
    pub(super) max_size: u64,
    pub(super) max_backups: usize,
    pub(super) max_age: Option<Duration>,
}

/// Open the log and start the writer; dropping every sender stops it.
pub(super) fn start(rot: Rotation) -> std::io::Result<tokio::sync::mpsc::Sender<Vec<u8>>> {
    let mut file = Log::open(rot)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUE);
    std::thread::Builder::new()
        .name("audit-log".into())
        .spawn(move || {
            while let Some(line) = rx.blocking_recv() {
                let mut result = file.append(&line);
                while result.is_ok()
                    && let Ok(more) = rx.try_recv()
                {
                    result = file.append(&more);
                }
                if let Err(e) = result.and_then(|()| file.flush()) {
                    tracing::error!(error = %e, "writing the audit log failed");
                }
            }
            let _ = file.flush();
        })?;
    Ok(tx)
}

struct Log {
    rot: Rotation,
    out: BufWriter<File>,
    size: u64,
}

impl Log {
    fn open(rot: Rotation) -> std::io::Result<Log> {
        if let Some(dir) = rot.path.parent() {
            // Made owner-only (issue 9): the log names who did what.
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let file = open_append(&rot.path)?;
        let size = file.metadata()?.len();
        // Files that aged out while nothing rotated (a quiet log, a stopped server) go too.
        if let Err(e) = prune(&rot, SystemTime::now()) {
            tracing::warn!(error = %e, "pruning old audit logs failed");
        }
        Ok(Log {
            rot,
            out: BufWriter::new(file),
            size,
        })
    }

    fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.rot.max_size {
            self.rotate()?;
        }
        self.out.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let backup = backup_name(&self.rot.path, jiff::Timestamp::now());
        std::fs::rename(&self.rot.path, &backup)?;
        self.out = BufWriter::new(open_append(&self.rot.path)?);
        self.size = 0;
        prune(&self.rot, SystemTime::now())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // Who did what is for the operator's eyes only.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// `audit.log` → `audit-2026-12-07T06-31-39.123456789.log` (sorts by time).
fn backup_name(path: &Path, now: jiff::Timestamp) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("log");
    let stamp = now.strftime("%Y-%m-%dT%H-%M-%S%.9f").to_string();
    let mut name = path.with_file_name(format!("{stem}-{stamp}.{ext}"));
    let mut n = 1;
    while name.exists() {
        name = path.with_file_name(format!("{stem}-{stamp}-{n}.{ext}"));
        n += 1;
    }
    name
}

/// The rotated files of a log, oldest first.
fn backups(path: &Path) -> Vec<PathBuf> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("log");
    let prefix = format!("{stem}-");
    let suffix = format!(".{ext}");
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn prune(rot: &Rotation, now: SystemTime) -> std::io::Result<()> {
    let all = backups(&rot.path);
    let excess = all.len().saturating_sub(rot.max_backups);
    for (i, p) in all.iter().enumerate() {
        let too_old = rot.max_age.is_some_and(|age| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > age))
        });
        if i < excess || too_old {
            std::fs::remove_file(p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_the_newest_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("audit.log");
        let mut log = Log::open(Rotation {
            path: path.clone(),
            max_size: 100,
            max_backups: 2,
            max_age: None,
        })
        .unwrap();
        for i in 0..10 {
            let line = format!("{{\"n\":{i:040}}}\n");
            assert_eq!(line.len(), 47);
            log.append(line.as_bytes()).unwrap();
            log.flush().unwrap();
        }
        // Two lines fit in 100 bytes: 10 lines make the live file plus 4 rotations, of which
        // the newest 2 are kept.
        let kept = backups(&path);
        assert_eq!(kept.len(), 2, "{kept:?}");
        let live = std::fs::read_to_string(&path).unwrap();
        assert_eq!(live.lines().count(), 2);
        assert!(live.contains(&format!("{:040}", 9)));
        let newest = std::fs::read_to_string(&kept[1]).unwrap();
        assert!(newest.contains(&format!("{:040}", 7)), "{newest}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn prunes_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(dir.path().join("audit-2020-01-01T00-00-00.000.log"), "x").unwrap();
        std::fs::write(dir.path().join("other.log"), "x").unwrap();
        let rot = Rotation {
            path: path.clone(),
            max_size: 100,
            max_backups: 10,
            max_age: Some(Duration::from_secs(60)),
        };
        prune(&rot, SystemTime::now()).unwrap();
        assert_eq!(backups(&path).len(), 1, "young enough");
        prune(&rot, SystemTime::now() + Duration::from_secs(120)).unwrap();
        assert!(backups(&path).is_empty());
        assert!(dir.path().join("other.log").exists());
    }
}
