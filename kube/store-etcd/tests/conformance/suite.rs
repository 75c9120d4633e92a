//! The conformance test functions, written against the trait alone (see `main.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cceone_kube_store::{EventType, KeyValue, Store, StoreError, WatchStream};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::Backend;

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

async fn next(w: &mut WatchStream) -> cceone_kube_store::Event {
    tokio::time::timeout(WAIT, w.next())
        .await
        .expect("watch event in time")
        .expect("stream open")
        .expect("event ok")
}

async fn count(s: &dyn Store, prefix: &str) -> usize {
    s.list(prefix, None, None, None).await.unwrap().items.len()
}

pub(crate) async fn crud_and_errors(b: impl Backend) {
    let s = b.store();
    assert_eq!(s.current_revision(), 1);
    assert!(s.compacted_revision() <= 1);

    let a = s.create("/t/a", obj("a", 1)).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (2, 2));
    assert_eq!(rv(&a), "2");
    assert_eq!(s.current_revision(), 2);
    let err = s.create("/t/a", obj("a", 9)).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { ref key } if key == "/t/a"));
    assert_eq!(
        s.current_revision(),
        2,
        "failed write must not use a revision"
    );

    let got = s.get("/t/a").await.unwrap().unwrap();
    assert_eq!(got, a, "a read returns exactly what the write returned");
    assert!(s.get("/t/missing").await.unwrap().is_none());

    // A stale resourceVersion in the object is replaced, never stored.
    let mut stale = obj("a", 2);
    stale["metadata"]["resourceVersion"] = json!("999");
    let b2 = s.update("/t/a", stale, Some(2)).await.unwrap();
    assert_eq!((b2.create_revision, b2.mod_revision), (2, 3));
    assert_eq!(rv(&b2), "3");
    assert_eq!(field_n(&b2.value), 2);
    assert_eq!(s.get("/t/a").await.unwrap().unwrap(), b2);
    match s.update("/t/a", obj("a", 3), Some(2)).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (2, 3)),
        other => panic!("expected conflict, got {other:?}"),
    }
    let c = s.update("/t/a", obj("a", 4), None).await.unwrap();
    assert_eq!(c.mod_revision, 4);
    assert!(matches!(
        s.update("/t/none", obj("x", 1), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update("/t/none", obj("x", 1), Some(0)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.current_revision(), 4);

    assert!(matches!(
        s.delete("/t/a", Some(3)).await,
        Err(StoreError::Conflict { actual: 4, .. })
    ));
    let d = s.delete("/t/a", Some(4)).await.unwrap();
    assert_eq!((d.create_revision, d.mod_revision), (2, 5));
    assert_eq!(rv(&d), "5");
    assert_eq!(field_n(&d.value), 4);
    assert!(s.get("/t/a").await.unwrap().is_none());
    assert!(matches!(
        s.delete("/t/a", None).await,
        Err(StoreError::NotFound { .. })
    ));

    for bad in [json!([1, 2]), json!("x"), json!({"metadata": 3})] {
        assert!(matches!(
            s.create("/t/bad", bad).await,
            Err(StoreError::InvalidObject(_))
        ));
    }
    let bare = s.create("/t/bare", json!({})).await.unwrap();
    assert_eq!(rv(&bare), bare.mod_revision.to_string());
    assert_eq!(count(&*s, "/t/").await, 1);
    assert_eq!(s.current_revision(), 6);
    // Re-creating a deleted key starts a new life.
    let again = s.create("/t/a", obj("a", 5)).await.unwrap();
    assert_eq!((again.create_revision, again.mod_revision), (7, 7));
}

pub(crate) async fn list_prefix_start_after_limit_filter(b: impl Backend) {
    let s = b.store();
    for i in 0..10u64 {
        s.create(&format!("/p/{i:02}"), obj("x", i)).await.unwrap();
    }
    s.create("/o/00", obj("o", 0)).await.unwrap();
    s.create("/q/00", obj("q", 0)).await.unwrap();

    let all = s.list("/p/", None, None, None).await.unwrap();
    assert_eq!(all.items.len(), 10);
    assert!(!all.more);
    assert_eq!(all.revision, s.current_revision());
    assert_eq!(all.revision, 13);
    let keys: Vec<_> = all.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys[0], "/p/00");
    assert_eq!(keys[9], "/p/09");
    for kv in &all.items {
        assert_eq!(rv(kv), kv.mod_revision.to_string());
        assert_eq!(kv, &s.get(&kv.key).await.unwrap().unwrap());
    }

    let page = s.list("/p/", None, Some(4), None).await.unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(page.more);
    let page2 = s.list("/p/", Some("/p/03"), Some(4), None).await.unwrap();
    assert_eq!(page2.items[0].key, "/p/04");
    assert!(page2.more);
    let last = s.list("/p/", Some("/p/07"), Some(2), None).await.unwrap();
    assert_eq!(last.items.len(), 2);
    assert!(!last.more, "exactly limit items remain");
    let none = s.list("/p/", Some("/p/09"), Some(2), None).await.unwrap();
    assert!(none.items.is_empty() && !none.more);
    let before = s.list("/p/", Some("/a"), Some(1), None).await.unwrap();
    assert_eq!(before.items[0].key, "/p/00");
    let empty = s.list("/nothing/", None, Some(3), None).await.unwrap();
    assert!(empty.items.is_empty() && !empty.more);
    assert_eq!(empty.revision, 13);

    let even = |kv: &KeyValue| field_n(&kv.value).is_multiple_of(2);
    let f = s.list("/p/", None, Some(2), Some(&even)).await.unwrap();
    let ns: Vec<_> = f.items.iter().map(|kv| field_n(&kv.value)).collect();
    assert_eq!(ns, [0, 2]);
    assert!(f.more);
    let f = s
        .list("/p/", Some("/p/05"), Some(2), Some(&even))
        .await
        .unwrap();
    let ns: Vec<_> = f.items.iter().map(|kv| field_n(&kv.value)).collect();
    assert_eq!(ns, [6, 8]);
    assert!(!f.more, "no even item after 8");
    let f = s
        .list("/p/", Some("/p/05"), Some(1), Some(&even))
        .await
        .unwrap();
    assert!(f.more);
    let f = s.list("/p/", None, None, Some(&even)).await.unwrap();
    assert_eq!(f.items.len(), 5);
    assert_eq!(count(&*s, "").await, 12);
}

pub(crate) async fn watch_replays_missing_then_live(b: impl Backend) {
    let s = b.store();
    s.create("/a/1", obj("1", 1)).await.unwrap(); // 2
    s.create("/b/1", obj("1", 1)).await.unwrap(); // 3
    let from = s.current_revision();
    s.update("/a/1", obj("1", 2), None).await.unwrap(); // 4
    s.create("/b/2", obj("2", 1)).await.unwrap(); // 5
    s.create("/a/2", obj("2", 1)).await.unwrap(); // 6
    s.delete("/a/1", None).await.unwrap(); // 7

    let mut w = s.watch("/a/", from).unwrap();
    let e = next(&mut w).await;
    assert_eq!((e.event_type, e.revision()), (EventType::Modified, 4));
    assert_eq!(rv(&e.kv), "4");
    assert_eq!(e.kv.create_revision, 2);
    assert_eq!(field_n(e.prev.as_deref().unwrap()), 1);
    let e = next(&mut w).await;
    assert_eq!(
        (e.event_type, e.revision(), e.kv.key.as_str()),
        (EventType::Added, 6, "/a/2")
    );
    assert!(e.prev.is_none());
    let e = next(&mut w).await;
    assert_eq!((e.event_type, e.revision()), (EventType::Deleted, 7));
    assert_eq!(rv(&e.kv), "7");
    assert_eq!(
        field_n(&e.kv.value),
        2,
        "a deleted event carries the last object"
    );
    assert_eq!(field_n(e.prev.as_deref().unwrap()), 2);
    assert_eq!(w.progress(), 7);

    // Live events; other prefixes advance progress without yielding.
    s.create("/b/3", obj("3", 1)).await.unwrap(); // 8
    let deadline = Instant::now() + WAIT;
    while w.progress() < 8 {
        assert!(
            Instant::now() < deadline,
            "progress stuck at {}",
            w.progress()
        );
        let polled = tokio::time::timeout(Duration::from_millis(20), w.next()).await;
        assert!(polled.is_err(), "no /a/ event expected");
    }
    s.create("/a/3", obj("3", 1)).await.unwrap(); // 9
    let e = next(&mut w).await;
    assert_eq!((e.kv.key.as_str(), e.revision()), ("/a/3", 9));
    assert_eq!(w.progress(), 9);

    // A watch from the current revision sees only new events; a future watch waits.
    let mut now = s.watch("", s.current_revision()).unwrap();
    let mut future = s.watch("", 11).unwrap();
    assert_eq!(future.progress(), 11);
    s.create("/c/1", obj("c", 1)).await.unwrap(); // 10
    s.create("/c/2", obj("c", 2)).await.unwrap(); // 11
    s.create("/c/3", obj("c", 3)).await.unwrap(); // 12
    assert_eq!(next(&mut now).await.revision(), 10);
    assert_eq!(next(&mut future).await.revision(), 12);
}

pub(crate) async fn concurrent_writers_see_every_revision_once(b: impl Backend) {
    const TASKS: u64 = 4;
    const WRITES: u64 = 150;
    let store = b.store();
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
    let expected: BTreeSet<_> = (start + 1..=start + total).collect();
    assert_eq!(
        committed, expected,
        "every write got its own revision, no gaps"
    );
    let mut last = start;
    for _ in 0..total {
        let e = next(&mut w).await;
        assert_eq!(e.revision(), last + 1, "gap or reorder in watch");
        last = e.revision();
    }
    assert_eq!(store.current_revision(), start + total);
    assert_eq!(count(&*store, "/c/").await, (TASKS * 50) as usize);
}

pub(crate) async fn compaction(b: impl Backend) {
    let s = b.store();
    for i in 0..5u64 {
        s.create(&format!("/k/{i}"), obj("k", i)).await.unwrap(); // 2..=6
    }
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
    let e = next(&mut w).await;
    assert_eq!((e.revision(), e.kv.key.as_str()), (5, "/k/3"));
    // Compacting below the compacted revision changes nothing.
    s.compact(2).await.unwrap();
    assert_eq!(s.compacted_revision(), 4);
    // Data survives compaction; only history goes.
    assert_eq!(count(&*s, "/k/").await, 5);
    // Compaction never exceeds the current revision.
    s.compact(u64::MAX).await.unwrap();
    assert_eq!(s.compacted_revision(), s.current_revision());
    assert_eq!(s.compacted_revision(), 6);
    let mut live = s.watch("", s.current_revision()).unwrap();
    s.update("/k/0", obj("k", 10), None).await.unwrap(); // 7
    assert_eq!(next(&mut live).await.revision(), 7);
    assert!(matches!(s.watch("", 5), Err(StoreError::Compacted { .. })));
}

pub(crate) async fn reopen_keeps_data_and_resumes_watches(mut b: impl Backend) {
    let s = b.store();
    s.create("/p/a", obj("a", 1)).await.unwrap(); // 2
    s.create("/p/b", obj("b", 1)).await.unwrap(); // 3
    s.update("/p/a", obj("a", 2), Some(2)).await.unwrap(); // 4
    s.create("/p/c", obj("c", 1)).await.unwrap(); // 5
    s.delete("/p/b", None).await.unwrap(); // 6
    let before = s.list("", None, None, None).await.unwrap();
    drop(s);

    let s = b.reopen().await;
    assert_eq!(s.current_revision(), 6);
    let after = s.list("", None, None, None).await.unwrap();
    assert_eq!(after.items, before.items);
    let a = s.get("/p/a").await.unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (2, 4));
    assert_eq!(field_n(&a.value), 2);
    // A watch can resume across the restart.
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
}

/// Lists larger than one etcd range request (500 keys) come back whole and consistent.
pub(crate) async fn list_pages_past_one_chunk(b: impl Backend) {
    const KEYS: u64 = 1100;
    let s = b.store();
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            for i in (t..KEYS).step_by(4) {
                s.create(&format!("/big/{i:05}"), obj("b", i))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.list("/big/", None, None, None).await.unwrap();
    assert_eq!(all.items.len() as u64, KEYS);
    assert!(!all.more);
    assert!(
        all.items.windows(2).all(|w| w[0].key < w[1].key),
        "key order"
    );
    let page = s.list("/big/", None, Some(700), None).await.unwrap();
    assert_eq!(page.items.len(), 700);
    assert!(page.more);
    let rest = s
        .list("/big/", Some(&page.items[699].key), Some(700), None)
        .await
        .unwrap();
    assert_eq!(rest.items.len() as u64, KEYS - 700);
    assert!(!rest.more);
    let tens = |kv: &KeyValue| field_n(&kv.value).is_multiple_of(10);
    let f = s.list("/big/", None, Some(60), Some(&tens)).await.unwrap();
    assert_eq!(f.items.len(), 60);
    assert_eq!(field_n(&f.items[59].value), 590);
    assert!(f.more);
    let f = s.list("/big/", None, None, Some(&tens)).await.unwrap();
    assert_eq!(f.items.len(), 110);
    assert!(!f.more);
}
