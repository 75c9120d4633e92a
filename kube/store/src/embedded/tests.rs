//! Tests of the embedded store: CRUD semantics, listing, watches, compaction, persistence,
//! torn-tail recovery, snapshot rotation, and a real kill -9 crash test.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::{EmbeddedOptions, EmbeddedStore, wal};
use crate::{EventType, KeyValue, Store, StoreError, WatchStream};

const WAIT: Duration = Duration::from_secs(20);

fn obj(name: &str, n: u64) -> Value {
    json!({"kind": "Thing", "metadata": {"name": name, "labels": {"n": n.to_string()}}, "n": n})
}

fn rv(kv: &KeyValue) -> String {
    let v: Value = serde_json::from_slice(&kv.value).unwrap();
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn field_n(value: &[u8]) -> u64 {
    let v: Value = serde_json::from_slice(value).unwrap();
    v["n"].as_u64().unwrap()
}

fn disk(dir: &Path) -> EmbeddedOptions {
    EmbeddedOptions {
        dir: Some(dir.to_owned()),
        ..EmbeddedOptions::default()
    }
}

async fn next(w: &mut WatchStream) -> crate::Event {
    tokio::time::timeout(WAIT, w.next())
        .await
        .expect("watch event in time")
        .expect("stream open")
        .expect("event ok")
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    wal::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

// CRUD and its errors, lists (prefix, start-after, limit, filter) and a watch replaying history
// then going live are checked for this store and for etcd by one conformance suite,
// `kube/store-etcd/tests/conformance/suite.rs` (its embedded half needs no etcd). What only
// this store has is checked here.

#[tokio::test]
async fn in_memory_store_counts_what_it_holds() {
    let s = EmbeddedStore::in_memory();
    assert_eq!(s.compacted_revision(), 1);
    assert!(s.is_empty());
    s.create("/t/a", obj("a", 1)).await.unwrap();
    s.create("/t/b", obj("b", 1)).await.unwrap();
    assert_eq!(s.len(), 2);
    s.delete("/t/a", None).await.unwrap();
    assert_eq!(s.len(), 1);
    assert!(!s.is_empty());
}

/// Many concurrent writers; a watcher from the start must see every committed revision once,
/// in order, with no gaps.
async fn concurrent_writers_case(store: Arc<EmbeddedStore>) {
    const TASKS: u64 = 8;
    const WRITES: u64 = 500;
    let start = store.current_revision();
    let mut w = store.watch("/c/", start).unwrap();
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..WRITES {
                let key = format!("/c/{t}/{}", i % 50);
                let kv = if i < 50 {
                    s.create(&key, obj("x", i)).await.unwrap()
                } else {
                    s.update(&key, obj("x", i), None).await.unwrap()
                };
                revs.push(kv.mod_revision);
            }
            revs
        }));
    }
    let mut committed = BTreeSet::new();
    for h in handles {
        committed.extend(h.await.unwrap());
    }
    let total = TASKS * WRITES;
    assert_eq!(committed.len() as u64, total);
    let expected: BTreeSet<_> = (start + 1..=start + total).collect();
    assert_eq!(committed, expected);
    let mut last = start;
    for _ in 0..total {
        let e = next(&mut w).await;
        assert_eq!(e.revision(), last + 1, "gap or reorder in watch");
        last = e.revision();
    }
    assert_eq!(store.current_revision(), start + total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_memory() {
    concurrent_writers_case(EmbeddedStore::in_memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_durable_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(disk(dir.path())).unwrap();
    concurrent_writers_case(Arc::clone(&store)).await;
    store.close().await;
    let reopened = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(reopened.current_revision(), 1 + 8 * 500);
    assert_eq!(reopened.len(), 8 * 50);
}

#[tokio::test]
async fn compaction_and_lagging_watchers() {
    let s = EmbeddedStore::open(EmbeddedOptions {
        history: 6000,
        ..EmbeddedOptions::default()
    })
    .unwrap();
    for i in 0..5u64 {
        s.create(&format!("/k/{i}"), obj("k", i)).await.unwrap(); // 2..=6
    }
    let mut lagging = s.watch("/k/", 1).unwrap();
    s.compact(4).await.unwrap();
    assert_eq!(s.compacted_revision(), 4);
    assert!(matches!(
        s.watch("/k/", 3),
        Err(StoreError::Compacted {
            requested: 3,
            compacted: 4
        })
    ));
    let mut w = s.watch("/k/", 4).unwrap();
    assert_eq!(next(&mut w).await.revision(), 5);
    // A watcher that attached before compaction still holds its backlog.
    assert_eq!(next(&mut lagging).await.revision(), 2);

    // Overflow the live channel without polling: catch up from history, no gaps.
    let mut slow = s.watch("/k/", s.current_revision()).unwrap();
    let from = s.current_revision();
    for i in 0..5000u64 {
        s.update("/k/0", obj("k", i), None).await.unwrap();
    }
    for r in from + 1..=from + 5000 {
        assert_eq!(next(&mut slow).await.revision(), r);
    }

    // Fall behind past the retained history: one Compacted error, then the end.
    let mut lost = s.watch("/k/", s.current_revision()).unwrap();
    for i in 0..7000u64 {
        s.update("/k/1", obj("k", i), None).await.unwrap();
    }
    assert!(s.compacted_revision() > from + 5000);
    let item = tokio::time::timeout(WAIT, lost.next()).await.unwrap();
    assert!(
        matches!(item, Some(Err(StoreError::Compacted { .. }))),
        "{item:?}"
    );
    assert!(
        tokio::time::timeout(WAIT, lost.next())
            .await
            .unwrap()
            .is_none()
    );
    // Compaction never exceeds the current revision.
    s.compact(u64::MAX).await.unwrap();
    assert_eq!(s.compacted_revision(), s.current_revision());
    assert!(s.watch("", s.current_revision()).is_ok());
}

#[tokio::test]
async fn close_ends_watches_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    for opts in [EmbeddedOptions::default(), disk(dir.path())] {
        let s = EmbeddedStore::open(opts).unwrap();
        let mut w = s.watch("", 1).unwrap();
        s.create("/x", obj("x", 1)).await.unwrap();
        s.close().await;
        assert!(matches!(
            s.create("/y", obj("y", 1)).await,
            Err(StoreError::Closed)
        ));
        assert!(s.get("/x").await.unwrap().is_some());
        assert_eq!(next(&mut w).await.kv.key, "/x");
        let end = tokio::time::timeout(WAIT, w.next()).await.unwrap();
        assert!(matches!(end, Some(Err(StoreError::Closed))));
        assert!(
            tokio::time::timeout(WAIT, w.next())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn persistence_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    s.create("/p/a", obj("a", 1)).await.unwrap(); // 2
    s.create("/p/b", obj("b", 1)).await.unwrap(); // 3
    s.update("/p/a", obj("a", 2), Some(2)).await.unwrap(); // 4
    s.create("/p/c", obj("c", 1)).await.unwrap(); // 5
    s.delete("/p/b", None).await.unwrap(); // 6
    let before = s.list("", None, None, None).await.unwrap();
    s.close().await;
    drop(s);

    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(s.current_revision(), 6);
    let after = s.list("", None, None, None).await.unwrap();
    assert_eq!(after.items, before.items);
    let a = s.get("/p/a").await.unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (2, 4));
    assert_eq!(field_n(&a.value), 2);
    // History is rebuilt from the WAL: a watch can resume across the restart.
    let mut w = s.watch("/p/", 3).unwrap();
    assert_eq!(next(&mut w).await.revision(), 4);
    assert_eq!(next(&mut w).await.revision(), 5);
    let e = next(&mut w).await;
    assert_eq!(
        (e.event_type, e.revision(), rv(&e.kv)),
        (EventType::Deleted, 6, "6".into())
    );
    let d = s.create("/p/d", obj("d", 1)).await.unwrap();
    assert_eq!(d.mod_revision, 7);
    assert_eq!(next(&mut w).await.revision(), 7);
    s.close().await;
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(s.current_revision(), 7);
    assert_eq!(s.len(), 3);
}

#[tokio::test]
async fn torn_tail_recovers_to_last_good_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    for i in 0..10u64 {
        s.create(&format!("/t/{i}"), obj("t", i)).await.unwrap(); // 2..=11
    }
    s.close().await;
    drop(s);
    let seg = segments(dir.path()).pop().unwrap();
    let good_len = std::fs::metadata(&seg).unwrap().len();

    // Garbage appended after the last record.
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[0x17, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .unwrap();
    drop(f);
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(s.current_revision(), 11);
    assert_eq!(s.len(), 10);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len);
    s.close().await;
    drop(s);

    // Last record cut in half.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(good_len - 5).unwrap();
    drop(f);
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(s.current_revision(), 10);
    assert!(s.get("/t/9").await.unwrap().is_none());
    assert_eq!(field_n(&s.get("/t/8").await.unwrap().unwrap().value), 8);
    // Writing continues cleanly after the truncated tail.
    assert_eq!(
        s.create("/t/9", obj("t", 99)).await.unwrap().mod_revision,
        11
    );
    s.close().await;
    drop(s);
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(s.current_revision(), 11);
    assert_eq!(field_n(&s.get("/t/9").await.unwrap().unwrap().value), 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_wal_rotation_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        snapshot_wal_bytes: 2048,
        fsync: false,
        ..disk(dir.path())
    };
    let s = EmbeddedStore::open(opts.clone()).unwrap();
    let mut expect = BTreeMap::new();
    for i in 0..400u64 {
        let key = format!("/s/{}", i % 37);
        let kv = if expect.contains_key(&key) {
            if i.is_multiple_of(11) {
                s.delete(&key, None).await.unwrap();
                expect.remove(&key);
                continue;
            }
            s.update(&key, obj("s", i), None).await.unwrap()
        } else {
            s.create(&key, obj("s", i)).await.unwrap()
        };
        expect.insert(key, kv);
    }
    let rev = s.current_revision();
    s.close().await;
    drop(s);
    assert!(dir.path().join(super::snapshot::SNAPSHOT).exists());
    let segs = segments(dir.path());
    assert!(segs.len() <= 2, "old segments removed: {segs:?}");

    let s = EmbeddedStore::open(opts.clone()).unwrap();
    assert_eq!(s.current_revision(), rev);
    let page = s.list("/s/", None, None, None).await.unwrap();
    let got: BTreeMap<_, _> = page
        .items
        .into_iter()
        .map(|kv| (kv.key.clone(), kv))
        .collect();
    assert_eq!(got, expect);
    let kv = s.create("/s/new", obj("n", 1)).await.unwrap();
    assert_eq!(kv.mod_revision, rev + 1);
    s.close().await;
    drop(s);
    let s = EmbeddedStore::open(opts).unwrap();
    assert_eq!(s.current_revision(), rev + 1);
    assert_eq!(s.len(), expect.len() + 1);
}

/// A crash after the snapshot rename but before old segments were deleted (and with a stale
/// `snapshot.tmp`) must recover the same state and clean up.
#[tokio::test]
async fn recovery_skips_segments_covered_by_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    for i in 0..50u64 {
        s.create(&format!("/r/{i}"), obj("r", i)).await.unwrap(); // 2..=51
    }
    s.close().await;
    drop(s);
    let old = segments(dir.path());
    assert_eq!(old.len(), 1);
    let saved = std::fs::read(&old[0]).unwrap();

    let tiny = EmbeddedOptions {
        snapshot_wal_bytes: 1,
        ..disk(dir.path())
    };
    let s = EmbeddedStore::open(tiny.clone()).unwrap();
    s.update("/r/0", obj("r", 100), None).await.unwrap(); // 52: snapshot at 52
    s.close().await;
    drop(s);
    assert!(!old[0].exists(), "covered segment deleted after snapshot");
    // Damaged, too: a covered segment is not read at all.
    let mut saved = saved;
    let middle = saved.len() / 2;
    saved[middle] ^= 0xff;
    std::fs::write(&old[0], saved).unwrap();
    std::fs::write(dir.path().join(super::snapshot::SNAPSHOT_TMP), b"partial").unwrap();

    let s = EmbeddedStore::open(disk(dir.path())).unwrap();
    assert_eq!(s.current_revision(), 52);
    assert_eq!(s.compacted_revision(), 52);
    assert_eq!(s.len(), 50);
    assert_eq!(field_n(&s.get("/r/0").await.unwrap().unwrap().value), 100);
    assert!(!old[0].exists());
    assert!(!dir.path().join(super::snapshot::SNAPSHOT_TMP).exists());
    assert!(matches!(s.watch("", 51), Err(StoreError::Compacted { .. })));
    assert_eq!(
        s.create("/r/x", obj("x", 1)).await.unwrap().mod_revision,
        53
    );
}

const CRASH_ENV: &str = "CCEONE_KUBE_STORE_CRASH_DIR";

/// Child half of `kill_9_loses_no_acknowledged_write`: does nothing unless the env var is set.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = EmbeddedStore::open(EmbeddedOptions {
            snapshot_wal_bytes: 32 << 10,
            ..disk(Path::new(&dir))
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut tasks = Vec::new();
        for t in 0..4 {
            let s = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let key = format!("/crash/{t}/{i}");
                    s.create(&key, obj("c", i)).await.unwrap();
                    println!("ack {key} {i}");
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "embedded::tests::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = line.strip_prefix("ack ") {
                let _ = tx.send(ack.to_owned());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    while acked.len() < 600 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ack) => acked.push(ack),
            Err(e) => {
                let _ = child.kill();
                panic!("child produced {} acks before {e:?}", acked.len());
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    acked.extend(rx.try_iter());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(disk(dir.path())).unwrap();
        for ack in &acked {
            let (key, i) = ack.split_once(' ').unwrap();
            let kv = s.get(key).await.unwrap();
            let kv = kv.unwrap_or_else(|| panic!("acknowledged {key} lost after kill -9"));
            assert_eq!(field_n(&kv.value), i.parse::<u64>().unwrap());
        }
        // The store is usable after the crash and revisions continue.
        let rev = s.current_revision();
        assert!(rev as usize > acked.len());
        assert_eq!(
            s.create("/after", obj("a", 1)).await.unwrap().mod_revision,
            rev + 1
        );
    });
}
