//! Write-ahead log: record framing (length + CRC32 + payload), the record codec, and the
//! segment files (`wal-<first revision>.log`) the background syncer appends to.
//!
//! A frame is `len: u32 LE | crc32(payload): u32 LE | payload`. A payload is
//! `op: u8 | revision: u64 LE | create_revision: u64 LE | key_len: u32 LE | key | value`.
//! The same framing is used by snapshot files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::Revision;

/// Operation code: the key now holds `value`.
pub(super) const OP_PUT: u8 = 1;
/// Operation code: the key was deleted.
pub(super) const OP_DELETE: u8 = 2;
/// Operation code: snapshot header.
pub(super) const OP_HEADER: u8 = 3;
/// Operation code: snapshot trailer.
pub(super) const OP_END: u8 = 4;

/// Bytes of frame header (length + CRC).
pub(super) const FRAME_HEADER: usize = 8;
/// Bytes of fixed payload fields (op, revision, create revision, key length).
pub(super) const PAYLOAD_FIXED: usize = 1 + 8 + 8 + 4;
/// Largest payload accepted (a larger length field is treated as corruption).
pub(super) const MAX_PAYLOAD: usize = 1 << 30;

/// A decoded log or snapshot record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    /// One of the `OP_*` codes.
    pub(super) op: u8,
    /// Revision of the write (for snapshot headers: the snapshot revision).
    pub(super) revision: Revision,
    /// Create revision of the key (for snapshot headers: the compacted revision).
    pub(super) create_revision: Revision,
    /// The key.
    pub(super) key: String,
    /// The value bytes.
    pub(super) value: Bytes,
}

/// Size of the payload for a key and value of the given lengths.
pub(super) fn payload_len(key_len: usize, value_len: usize) -> usize {
    PAYLOAD_FIXED + key_len + value_len
}

/// Appends one framed record to `buf`. Callers must have checked that the payload fits in
/// [`MAX_PAYLOAD`].
pub(super) fn encode(
    buf: &mut Vec<u8>,
    op: u8,
    revision: Revision,
    create_revision: Revision,
    key: &str,
    value: &[u8],
) {
    let len = payload_len(key.len(), value.len());
    let start = buf.len();
    buf.reserve(FRAME_HEADER + len);
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    let body = buf.len();
    buf.push(op);
    buf.extend_from_slice(&revision.to_le_bytes());
    buf.extend_from_slice(&create_revision.to_le_bytes());
    buf.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(value);
    let crc = crc32fast::hash(&buf[body..]);
    buf[start + 4..body].copy_from_slice(&crc.to_le_bytes());
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at + 8)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Decodes a payload whose CRC has already been checked.
pub(super) fn decode(payload: &[u8]) -> Result<Record, String> {
    let short = || format!("record payload too short ({} bytes)", payload.len());
    let op = *payload.first().ok_or_else(short)?;
    let revision = read_u64(payload, 1).ok_or_else(short)?;
    let create_revision = read_u64(payload, 9).ok_or_else(short)?;
    let key_len = read_u32(payload, 17).ok_or_else(short)? as usize;
    let key_end = PAYLOAD_FIXED
        .checked_add(key_len)
        .filter(|end| *end <= payload.len())
        .ok_or_else(|| format!("key length {key_len} exceeds record"))?;
    let key = std::str::from_utf8(&payload[PAYLOAD_FIXED..key_end])
        .map_err(|e| format!("key is not UTF-8: {e}"))?
        .to_owned();
    if !matches!(op, OP_PUT | OP_DELETE | OP_HEADER | OP_END) {
        return Err(format!("unknown record op {op}"));
    }
    Ok(Record {
        op,
        revision,
        create_revision,
        key,
        value: Bytes::copy_from_slice(&payload[key_end..]),
    })
}

/// The result of splitting a buffer into frames.
#[derive(Debug)]
pub(super) struct Decoded {
    /// The records of every intact frame, in order.
    pub(super) records: Vec<Record>,
    /// Length of the prefix of the buffer made of intact frames.
    pub(super) valid_len: usize,
    /// Why decoding stopped before the end of the buffer, if it did.
    pub(super) error: Option<String>,
}

/// Splits `data` into framed records, stopping at the first short, oversized, or corrupt frame.
pub(super) fn decode_all(data: &[u8]) -> Decoded {
    let mut records = Vec::new();
    let mut pos = 0;
    let error = loop {
        if pos == data.len() {
            break None;
        }
        let (Some(len), Some(crc)) = (read_u32(data, pos), read_u32(data, pos + 4)) else {
            break Some(format!("truncated frame header at offset {pos}"));
        };
        let len = len as usize;
        if !(PAYLOAD_FIXED..=MAX_PAYLOAD).contains(&len) {
            break Some(format!("invalid frame length {len} at offset {pos}"));
        }
        let body = pos + FRAME_HEADER;
        let Some(payload) = data.get(body..body + len) else {
            break Some(format!("truncated frame at offset {pos}"));
        };
        if crc32fast::hash(payload) != crc {
            break Some(format!("checksum mismatch at offset {pos}"));
        }
        match decode(payload) {
            Ok(record) => records.push(record),
            Err(e) => break Some(format!("bad record at offset {pos}: {e}")),
        }
        pos = body + len;
    };
    Decoded {
        records,
        valid_len: pos,
        error,
    }
}

/// File name of the segment whose first record has revision `start`.
pub(super) fn segment_name(start: Revision) -> String {
    format!("wal-{start:020}.log")
}

/// The WAL segments in `dir`, sorted by first revision.
pub(super) fn list_segments(dir: &Path) -> io::Result<Vec<(Revision, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let start = name
            .strip_prefix("wal-")
            .and_then(|rest| rest.strip_suffix(".log"))
            .and_then(|digits| digits.parse::<Revision>().ok());
        if let Some(start) = start {
            out.push((start, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Removes every segment whose first revision is below `start` (they are covered by a
/// snapshot).
pub(super) fn remove_segments_before(dir: &Path, start: Revision) -> io::Result<()> {
    for (first, path) in list_segments(dir)? {
        if first < start {
            fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// Makes directory entry changes (creates, renames, removals) in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment currently being appended to.
#[derive(Debug)]
pub(super) struct Wal {
    dir: PathBuf,
    file: File,
    size: u64,
    fsync: bool,
}

impl Wal {
    /// Opens an existing segment for appending; `size` is its (already validated) length.
    pub(super) fn open_existing(
        dir: &Path,
        path: &Path,
        size: u64,
        fsync: bool,
    ) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Self {
            dir: dir.to_owned(),
            file,
            size,
            fsync,
        })
    }

    /// Creates a new, empty segment starting at revision `start` and makes it durable.
    pub(super) fn create(dir: &Path, start: Revision, fsync: bool) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(segment_name(start)))?;
        if fsync {
            file.sync_all()?;
            sync_dir(dir)?;
        }
        // Reopen in append mode so every write lands at the end.
        drop(file);
        Self::open_existing(dir, &dir.join(segment_name(start)), 0, fsync)
    }

    /// Bytes in the current segment.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Appends framed records and, when configured, waits for them to reach the disk.
    pub(super) fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)?;
        if self.fsync {
            self.file.sync_data()?;
        }
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Switches to a fresh segment whose first record will have revision `start`.
    pub(super) fn rotate(&mut self, start: Revision) -> io::Result<()> {
        *self = Self::create(&self.dir, start, self.fsync)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut buf = Vec::new();
        encode(&mut buf, OP_PUT, 2, 2, "/a", b"{\"x\":1}");
        encode(&mut buf, OP_DELETE, 3, 2, "/a", b"");
        buf
    }

    #[test]
    fn round_trip() {
        let d = decode_all(&sample());
        assert!(d.error.is_none());
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.records[0].key, "/a");
        assert_eq!(&d.records[0].value[..], b"{\"x\":1}");
        assert_eq!(d.records[1].op, OP_DELETE);
        assert_eq!(d.records[1].revision, 3);
        assert_eq!(d.records[1].create_revision, 2);
    }

    #[test]
    fn torn_and_corrupt_tails_stop_at_last_good_frame() {
        let full = sample();
        let mut first = Vec::new();
        encode(&mut first, OP_PUT, 2, 2, "/a", b"{\"x\":1}");
        for cut in first.len() + 1..full.len() {
            let d = decode_all(&full[..cut]);
            assert_eq!(d.records.len(), 1, "cut at {cut}");
            assert_eq!(d.valid_len, first.len());
            assert!(d.error.is_some());
        }
        let mut flipped = full.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        let d = decode_all(&flipped);
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.valid_len, first.len());
        let d = decode_all(&[full.clone(), vec![0; 64]].concat());
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.valid_len, full.len());
    }
}
