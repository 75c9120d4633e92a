//! What only the etcd backend has: several handles (replicas) on one etcd, its restart under a
//! live watch, compaction made elsewhere, the background compactor, TLS client certificates
//! and etcd's request size limit. Each test starts its own etcd.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cceone_kube_store::{Store, StoreError, WatchStream};
use cceone_kube_store_etcd::testing::{TestEtcd, TestTls};
use cceone_kube_store_etcd::{EtcdConfig, EtcdStore, EtcdTls};
use futures::StreamExt;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn obj(n: u64) -> Value {
    json!({"kind": "Thing", "metadata": {"name": "x"}, "n": n})
}

fn config(url: String) -> EtcdConfig {
    EtcdConfig {
        compaction_interval: None,
        progress_interval: Duration::from_millis(200),
        ..EtcdConfig::new(vec![url])
    }
}

async fn next(w: &mut WatchStream) -> cceone_kube_store::Event {
    tokio::time::timeout(WAIT, w.next())
        .await
        .expect("watch event in time")
        .expect("stream open")
        .expect("event ok")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_revisions_and_cas() {
    let etcd = TestEtcd::start().unwrap();
    let a = EtcdStore::connect(config(etcd.url())).await.unwrap();
    let b = EtcdStore::connect(config(etcd.url())).await.unwrap();
    let mut w = b.watch("/r/", b.current_revision()).unwrap();
    let created = a.create("/r/x", obj(1)).await.unwrap();
    let seen = next(&mut w).await;
    assert_eq!(seen.kv, created, "b's watch sees a's write as a wrote it");
    assert!(b.current_revision() >= created.mod_revision);
    // Both read the same version; only the first CAS wins.
    let rev = b.get("/r/x").await.unwrap().unwrap().mod_revision;
    b.update("/r/x", obj(2), Some(rev)).await.unwrap();
    assert!(matches!(
        a.update("/r/x", obj(3), Some(rev)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        a.create("/r/x", obj(4)).await,
        Err(StoreError::AlreadyExists { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_across_an_etcd_kill_and_restart() {
    let mut etcd = TestEtcd::start().unwrap();
    let s = EtcdStore::connect(config(etcd.url())).await.unwrap();
    let start = s.current_revision();
    let mut w = s.watch("/k/", start).unwrap();
    for i in 0..5 {
        s.create(&format!("/k/{i}"), obj(i)).await.unwrap();
    }
    for r in start + 1..=start + 5 {
        assert_eq!(next(&mut w).await.revision(), r);
    }
    etcd.kill();
    assert!(
        s.create("/k/down", obj(0)).await.is_err(),
        "no write succeeds while etcd is down"
    );
    etcd.restart().unwrap();
    // The store's requests recover once etcd is back.
    let deadline = Instant::now() + WAIT;
    let mut i = 5;
    let mut written = Vec::new();
    while written.len() < 5 {
        assert!(Instant::now() < deadline, "etcd writes did not recover");
        match s.create(&format!("/k/{i}"), obj(i)).await {
            Ok(kv) => {
                written.push(kv.mod_revision);
                i += 1;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // The watch re-opened from where it was: every later write once, in order.
    for rev in written {
        let e = next(&mut w).await;
        assert_eq!(e.revision(), rev);
    }
    let quiet = tokio::time::timeout(Duration::from_millis(500), w.next()).await;
    assert!(quiet.is_err(), "no duplicate after the restart: {quiet:?}");
}

/// Waits until the store's readiness is `ready`, without making requests of its own (the
/// store's probe has to find out).
async fn until_writable(s: &EtcdStore, ready: bool) {
    let deadline = Instant::now() + WAIT;
    while s.writable().is_ok() != ready {
        assert!(
            Instant::now() < deadline,
            "writable() still {:?}",
            s.writable()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_stats_follow_etcd() {
    let mut etcd = TestEtcd::start().unwrap();
    let s = EtcdStore::connect(config(etcd.url())).await.unwrap();
    assert!(s.writable().is_ok());
    assert_eq!(s.stats().commits, 0);
    s.create("/h/a", obj(1)).await.unwrap();
    s.update("/h/a", obj(2), None).await.unwrap();
    let stats = s.stats();
    assert_eq!((stats.commits, stats.records), (2, 2));
    assert!(stats.bytes > 0 && stats.commit_seconds > 0.0);
    // An idle store notices etcd going and coming back.
    etcd.kill();
    until_writable(&s, false).await;
    let why = s.writable().unwrap_err().to_string();
    assert!(why.contains("etcd"), "{why}");
    etcd.restart().unwrap();
    until_writable(&s, true).await;
    s.create("/h/b", obj(3)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_by_another_replica_ends_watches_with_compacted() {
    let etcd = TestEtcd::start().unwrap();
    let a = EtcdStore::connect(config(etcd.url())).await.unwrap();
    let b = EtcdStore::connect(config(etcd.url())).await.unwrap();
    for i in 0..10 {
        a.create(&format!("/c/{i}"), obj(i)).await.unwrap(); // 2..=11
    }
    b.compact(8).await.unwrap();
    assert_eq!(a.compacted_revision(), 0, "a has not been told yet");
    // a's watch from before the compaction is refused by etcd: one Compacted item, then the end.
    let mut w = a.watch("/c/", 3).unwrap();
    let item = tokio::time::timeout(WAIT, w.next()).await.unwrap();
    assert!(
        matches!(item, Some(Err(StoreError::Compacted { compacted: 8, .. }))),
        "{item:?}"
    );
    assert!(
        tokio::time::timeout(WAIT, w.next())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(a.compacted_revision(), 8, "a learnt the compaction");
    assert!(matches!(
        a.watch("/c/", 3),
        Err(StoreError::Compacted { .. })
    ));
    // A new handle reads nothing about it until it hears from etcd, and still answers right.
    let c = EtcdStore::connect(config(etcd.url())).await.unwrap();
    let mut w = c.watch("/c/", 1).unwrap();
    let item = tokio::time::timeout(WAIT, w.next()).await.unwrap();
    assert!(
        matches!(item, Some(Err(StoreError::Compacted { .. }))),
        "{item:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_compactor_bounds_history_once_per_interval() {
    let etcd = TestEtcd::start().unwrap();
    let cfg = EtcdConfig {
        compaction_interval: Some(Duration::from_millis(500)),
        ..config(etcd.url())
    };
    // Two replicas run the compactor; the shared record keeps them to one round per interval.
    let a = EtcdStore::connect(cfg.clone()).await.unwrap();
    let b = EtcdStore::connect(cfg).await.unwrap();
    let first = a.create("/h/0", obj(0)).await.unwrap().mod_revision;
    let deadline = Instant::now() + WAIT;
    let mut n = 1;
    while a.compacted_revision() < first || b.compacted_revision() < first {
        assert!(
            Instant::now() < deadline,
            "no compaction past {first}: a {} b {}",
            a.compacted_revision(),
            b.compacted_revision()
        );
        a.update("/h/0", obj(n), None).await.unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // History before the compaction is gone from etcd itself, not just from our counters.
    let fresh = EtcdStore::connect(config(etcd.url())).await.unwrap();
    assert!(
        fresh.compacted_revision() >= first,
        "the record tells new replicas"
    );
    assert!(matches!(
        fresh.watch("/h/", first - 1),
        Err(StoreError::Compacted { .. })
    ));
    // The data itself is intact.
    let kv = fresh.get("/h/0").await.unwrap().unwrap();
    assert_eq!(kv.create_revision, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_objects_are_refused_as_invalid() {
    let etcd = TestEtcd::start().unwrap();
    let s = EtcdStore::connect(config(etcd.url())).await.unwrap();
    // Over etcd's request limit (1.5 MiB), and over its gRPC message limit (2 MiB).
    for size in [1_700_000, 3 << 20] {
        let big = json!({"metadata": {"name": "big"}, "data": "x".repeat(size)});
        let err = s.create("/big/x", big).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidObject(_)),
            "{size}: {err:?}"
        );
        assert!(s.get("/big/x").await.unwrap().is_none());
    }
    // Just under the limit is fine.
    let fits = json!({"metadata": {"name": "big"}, "data": "x".repeat(1_400_000)});
    s.create("/big/x", fits).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_etcd_fails_connect_within_the_dial_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = EtcdConfig {
        dial_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        ..config(format!("http://127.0.0.1:{port}"))
    };
    let started = Instant::now();
    let err = match EtcdStore::connect(cfg).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Io(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// CA, etcd serving certificate and a client certificate, written 0600 into `dir`.
fn pki(dir: &std::path::Path) -> (TestTls, EtcdTls) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let write = |name: &str, pem: String| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(pem.as_bytes()).unwrap();
        path
    };
    let ca_params = || {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p
    };
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params().self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params(), &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["apiserver".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    let ca_file = write("ca.pem", ca.pem());
    let server_tls = TestTls {
        ca: ca_file.clone(),
        cert: write("server.pem", server.pem()),
        key: write("server-key.pem", server_key.serialize_pem()),
    };
    let client_tls = EtcdTls {
        ca_file: Some(ca_file),
        cert_file: Some(write("client.pem", client.pem())),
        key_file: Some(write("client-key.pem", client_key.serialize_pem())),
    };
    (server_tls, client_tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (server_tls, client_tls) = pki(dir.path());
    let etcd = TestEtcd::start_with(Some(server_tls)).unwrap();
    assert!(etcd.url().starts_with("https://"));
    let s = EtcdStore::connect(EtcdConfig {
        tls: Some(client_tls.clone()),
        ..config(etcd.url())
    })
    .await
    .unwrap();
    let kv = s.create("/tls/a", obj(1)).await.unwrap();
    assert_eq!(s.get("/tls/a").await.unwrap().unwrap(), kv);
    let mut w = s.watch("/tls/", kv.mod_revision - 1).unwrap();
    assert_eq!(next(&mut w).await.kv, kv);

    // Without a client certificate etcd refuses the connection.
    let refused = EtcdStore::connect(EtcdConfig {
        tls: Some(EtcdTls {
            cert_file: None,
            key_file: None,
            ..client_tls
        }),
        dial_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        ..config(etcd.url())
    })
    .await;
    assert!(
        refused.is_err(),
        "etcd accepted a client without a certificate"
    );
}
