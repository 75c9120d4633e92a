//! Damaged WAL bytes never cost an acknowledged write silently: a single damaged byte anywhere in
//! a segment makes the store refuse to start (naming the segment and offset) unless every
//! acknowledged write is still there; `recover_wal` then keeps a copy and says what it dropped.
//! Only a torn final write (cut short, or zero-filled) is truncated at start-up.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use cceone_kube_store::{EmbeddedOptions, EmbeddedStore, Store, StoreError, recover_wal};
use serde_json::json;

const OBJECTS: u64 = 40;

fn opts(dir: &Path) -> EmbeddedOptions {
    EmbeddedOptions {
        dir: Some(dir.to_owned()),
        ..EmbeddedOptions::default()
    }
}

fn segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("wal-") && name.ends_with(".log")
        })
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 1, "one segment expected: {segs:?}");
    segs.pop().unwrap()
}

/// Writes OBJECTS acknowledged (fsynced) objects and returns the segment's bytes.
async fn acknowledged(dir: &Path) -> Vec<u8> {
    let s = EmbeddedStore::open(opts(dir)).unwrap();
    for i in 0..OBJECTS {
        let obj = json!({"kind": "Thing", "metadata": {"name": format!("t{i}")}, "n": i});
        s.create(&format!("/t/{i:03}"), obj).await.unwrap();
    }
    s.close().await;
    drop(s);
    std::fs::read(segment(dir)).unwrap()
}

/// The `n` of every stored object, in key order.
async fn stored(s: &EmbeddedStore) -> Vec<u64> {
    let page = s.list("/t/", None, None, None).await.unwrap();
    page.items
        .iter()
        .map(|kv| {
            let v: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
            v["n"].as_u64().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn damaged_bytes_refuse_start_and_recovery_keeps_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = acknowledged(dir.path()).await;
    let seg = segment(dir.path());
    let len = pristine.len();
    let offsets = [
        0,
        2,
        5,
        9,
        30,
        len / 5,
        len / 3,
        len / 2,
        2 * len / 3,
        len - 120,
        len - 60,
        len - 30,
        len - 2,
        len - 1,
    ];
    let mut refused = 0;
    for at in offsets {
        for flip in [0x01u8, 0xff] {
            // Start from the pristine log each time, with no backup directories left over.
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).unwrap();
                }
            }
            let mut data = pristine.clone();
            data[at] ^= flip;
            std::fs::write(&seg, &data).unwrap();
            let case = format!("byte {at} of {len} xor {flip:#x}");
            match EmbeddedStore::open(opts(dir.path())) {
                Ok(s) => {
                    // Allowed only if nothing acknowledged went missing.
                    assert_eq!(stored(&s).await, (0..OBJECTS).collect::<Vec<_>>(), "{case}");
                    s.close().await;
                }
                Err(e) => {
                    let message = e.to_string();
                    let StoreError::CorruptWal {
                        segment, offset, ..
                    } = e
                    else {
                        panic!("{case}: unexpected error {message}");
                    };
                    refused += 1;
                    assert_eq!(segment, seg, "{case}");
                    assert!(offset as usize <= at, "{case}: damage reported at {offset}");
                    assert!(message.contains("recover-wal"), "{case}: {message}");
                    assert!(message.contains(&format!("offset {offset}")), "{message}");
                    // Refusing touched nothing.
                    assert_eq!(std::fs::read(&seg).unwrap(), data, "{case}");

                    let repair = recover_wal(dir.path()).unwrap();
                    assert_eq!(repair.segment.as_deref(), Some(seg.as_path()), "{case}");
                    assert_eq!(repair.offset, offset, "{case}");
                    assert_eq!(repair.dropped_bytes as usize, len - offset as usize);
                    let backup = repair.backup.clone().unwrap();
                    let copy = std::fs::read(backup.join(seg.file_name().unwrap())).unwrap();
                    assert_eq!(copy, data, "{case}: the copy is the damaged file as found");

                    let s = EmbeddedStore::open(opts(dir.path())).unwrap();
                    let kept = stored(&s).await;
                    s.close().await;
                    // What survives is a prefix of the acknowledged writes, and every other
                    // intact record is reported as dropped (the damaged one is the remaining 1).
                    assert_eq!(kept, (0..kept.len() as u64).collect::<Vec<_>>(), "{case}");
                    assert_eq!(
                        kept.len() + repair.dropped_records + 1,
                        OBJECTS as usize,
                        "{case}: {repair:?}"
                    );
                }
            }
        }
    }
    println!(
        "{refused} of {} single-byte corruptions refused",
        2 * offsets.len()
    );
    assert!(refused > 0);
}

#[tokio::test]
async fn torn_final_writes_are_truncated_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = acknowledged(dir.path()).await;
    let seg = segment(dir.path());
    let len = pristine.len();
    // The last record's frame: the store truncates back to its start.
    let without_last = {
        std::fs::write(&seg, &pristine[..len - 1]).unwrap();
        let s = EmbeddedStore::open(opts(dir.path())).unwrap();
        assert_eq!(stored(&s).await, (0..OBJECTS - 1).collect::<Vec<_>>());
        s.close().await;
        std::fs::metadata(&seg).unwrap().len() as usize
    };
    assert!(without_last < len - 1);
    let last_frame = len - without_last;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut in the header", pristine[..without_last + 5].to_vec()),
        (
            "cut in the payload",
            pristine[..len - last_frame / 2].to_vec(),
        ),
        ("payload zero-filled", {
            let mut d = pristine.clone();
            d[len - 10..].fill(0);
            d
        }),
        (
            "zeros after the last record",
            [pristine.clone(), vec![0; 4096]].concat(),
        ),
    ];
    for (name, data) in cases {
        std::fs::write(&seg, &data).unwrap();
        let s = EmbeddedStore::open(opts(dir.path())).unwrap();
        let kept = stored(&s).await;
        s.close().await;
        let want = if name.starts_with("zeros after") {
            OBJECTS
        } else {
            OBJECTS - 1
        };
        assert_eq!(kept, (0..want).collect::<Vec<_>>(), "{name}");
    }
}

#[tokio::test]
async fn recover_wal_leaves_an_intact_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = acknowledged(dir.path()).await;
    let repair = recover_wal(dir.path()).unwrap();
    assert_eq!(repair.segment, None);
    assert_eq!(std::fs::read(segment(dir.path())).unwrap(), pristine);
}
