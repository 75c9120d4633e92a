//! Telling a torn final write from corruption, over the bytes of one WAL segment (no I/O).
//!
//! A crash during an append can only leave damage at the very end of the last segment: a frame
//! cut short by end of file, or a zero-filled region where the file grew before its data reached
//! the disk. Anything else — a damaged frame with an intact frame after it, a whole frame whose
//! checksum or length field is wrong, non-zero garbage — is corruption of data that may have been
//! acknowledged, and recovery must stop instead of truncating it away. When in doubt the damage
//! is called corruption: refusing to start is recoverable, a silent truncation is not.

use super::wal::{self, FRAME_HEADER, MAX_PAYLOAD, OP_DELETE, OP_PUT, PAYLOAD_FIXED};

/// Most payload bytes checksummed while looking for intact frames after a damaged one; past it
/// the damage is treated as corruption (the scan cannot vouch for the rest).
const SCAN_BUDGET: usize = 256 << 20;

/// Why damage at some offset is not a torn final write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NotTorn {
    /// Intact records follow the damage; `first` is the offset of the first, `count` how many
    /// consecutive intact frames start there.
    IntactAfter {
        /// Offset of the first intact frame after the damage.
        first: usize,
        /// Consecutive intact frames from `first`.
        count: usize,
    },
    /// The damaged frame is complete (or only its length field is wrong) and not zero-filled.
    WholeFrame,
    /// The scan for later intact frames ran out of budget.
    Unscanned,
}

impl std::fmt::Display for NotTorn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotTorn::IntactAfter { first, count } => write!(
                f,
                "{count} intact record(s) follow it from offset {first}, so it is not a torn final write"
            ),
            NotTorn::WholeFrame => f.write_str(
                "the damaged record is complete on disk, so it is not a torn final write",
            ),
            NotTorn::Unscanned => {
                f.write_str("the bytes after it are too large to rule out intact records")
            }
        }
    }
}

/// Whether a whole, intact WAL write record (put or delete) starts at `at`; returns its end.
fn intact_frame(data: &[u8], at: usize, budget: &mut usize) -> Option<usize> {
    let header = data.get(at..at.checked_add(FRAME_HEADER)?)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if !(PAYLOAD_FIXED..=MAX_PAYLOAD).contains(&len) {
        return None;
    }
    let body = at + FRAME_HEADER;
    let payload = data.get(body..body.checked_add(len)?)?;
    *budget = budget.saturating_sub(len);
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let record = wal::decode(payload).ok()?;
    matches!(record.op, OP_PUT | OP_DELETE).then_some(body + len)
}

/// Counts the consecutive intact frames from `at`.
fn run_from(data: &[u8], mut at: usize) -> usize {
    let mut budget = usize::MAX;
    let mut count = 0;
    while let Some(end) = intact_frame(data, at, &mut budget) {
        count += 1;
        at = end;
    }
    count
}

/// Looks for an intact frame starting anywhere after `at`.
fn next_intact(data: &[u8], at: usize) -> Result<Option<usize>, NotTorn> {
    let mut budget = SCAN_BUDGET;
    for q in at + 1..data.len() {
        if intact_frame(data, q, &mut budget).is_some() {
            return Ok(Some(q));
        }
        if budget == 0 {
            return Err(NotTorn::Unscanned);
        }
    }
    Ok(None)
}

/// Counts the intact records anywhere after the damage at `at` (what truncating there drops).
pub(super) fn intact_after(data: &[u8], at: usize) -> usize {
    let mut count = 0;
    let mut pos = at;
    let mut budget = usize::MAX;
    while pos < data.len() {
        match intact_frame(data, pos, &mut budget) {
            Some(end) if pos != at => {
                count += 1;
                pos = end;
            }
            _ => pos += 1,
        }
    }
    count
}

/// Decides whether the damage found at offset `at` of a segment's bytes is a torn final write
/// (safe to truncate at `at`) or corruption.
pub(super) fn classify(data: &[u8], at: usize) -> Result<(), NotTorn> {
    if let Some(first) = next_intact(data, at)? {
        let count = run_from(data, first);
        return Err(NotTorn::IntactAfter { first, count });
    }
    let rest = data.get(at..).unwrap_or_default();
    let Some(header) = rest.get(..FRAME_HEADER) else {
        // Less than a frame header left: an append cut short.
        return Ok(());
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let zero_tail = |from: usize| rest.get(from..).is_some_and(|t| t.iter().all(|b| *b == 0));
    if !(PAYLOAD_FIXED..=MAX_PAYLOAD).contains(&len) {
        // A length no writer produces: only a zero-filled extension of the file is a torn write.
        return if zero_tail(0) {
            Ok(())
        } else {
            Err(NotTorn::WholeFrame)
        };
    }
    let payload = &rest[FRAME_HEADER..];
    if payload.len() < len {
        // Cut short by end of file, unless the rest is exactly one whole record whose length
        // field alone was damaged.
        return if payload.len() >= PAYLOAD_FIXED && crc32fast::hash(payload) == crc {
            Err(NotTorn::WholeFrame)
        } else {
            Ok(())
        };
    }
    // A complete frame that fails its checksum. A written record never ends in a zero byte (its
    // value is JSON, or a delete's key), so a zero at its end means the file grew before the
    // data arrived.
    if zero_tail(FRAME_HEADER + len - 1) {
        Ok(())
    } else {
        Err(NotTorn::WholeFrame)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn log(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(buf.len());
            let value = format!("{{\"n\":{i}}}");
            wal::encode(&mut buf, OP_PUT, i + 2, i + 2, "/k", value.as_bytes());
        }
        (buf, starts)
    }

    #[test]
    fn cut_short_and_zero_filled_tails_are_torn() {
        let (full, starts) = log(5);
        let last = starts[4];
        for cut in last + 1..full.len() {
            assert_eq!(classify(&full[..cut], last), Ok(()), "cut at {cut}");
        }
        let mut zeroed = full.clone();
        zeroed[last + 12..].fill(0);
        assert_eq!(classify(&zeroed, last), Ok(()));
        let padded = [full.clone(), vec![0; 100]].concat();
        assert_eq!(classify(&padded, full.len()), Ok(()));
    }

    #[test]
    fn damage_with_records_after_it_is_corruption() {
        let (mut data, starts) = log(6);
        data[starts[2] + 15] ^= 0xff;
        assert_eq!(
            classify(&data, starts[2]),
            Err(NotTorn::IntactAfter {
                first: starts[3],
                count: 3
            })
        );
        assert_eq!(intact_after(&data, starts[2]), 3);
    }

    #[test]
    fn a_whole_damaged_final_record_is_corruption() {
        let (full, starts) = log(3);
        let last = starts[2];
        for at in [last + 4, last + 10, full.len() - 1] {
            let mut data = full.clone();
            data[at] ^= 0x01;
            assert_eq!(classify(&data, last), Err(NotTorn::WholeFrame), "at {at}");
        }
        // Only the length field damaged, making the record look longer than the file.
        let mut data = full.clone();
        data[last + 2] ^= 0x01;
        assert_eq!(classify(&data, last), Err(NotTorn::WholeFrame));
        // Non-zero garbage where a header should be.
        let garbage = [full.clone(), vec![0xff; 9]].concat();
        assert_eq!(classify(&garbage, full.len()), Err(NotTorn::WholeFrame));
    }
}
