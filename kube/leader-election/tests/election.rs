//! Replicas electing a leader on one real etcd: exactly one leads; a leader that dies without a
//! word (its runtime dropped, as kill -9) is replaced once its lease expires; one that stops
//! releases the lease and is replaced at once.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cceone_kube_apiserver::Core;
use cceone_kube_apiserver::core::WriteOptions;
use cceone_kube_leader_election::{ElectionConfig, LeaderElector, Leading};
use cceone_kube_store::Store;
use cceone_kube_store_etcd::testing::TestEtcd;
use cceone_kube_store_etcd::{EtcdConfig, EtcdStore};

const LEASE: Duration = Duration::from_secs(2);

async fn core(url: &str) -> Arc<Core> {
    let store = EtcdStore::connect(EtcdConfig {
        compaction_interval: None,
        ..EtcdConfig::new(vec![url.to_string()])
    })
    .await
    .unwrap();
    Core::new(store as Arc<dyn Store>).await.unwrap()
}

fn config(identity: &str) -> ElectionConfig {
    ElectionConfig {
        lease_duration: LEASE,
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
        ..ElectionConfig::new("kube-system", "controllers", identity.into())
    }
}

/// Starts an elector whose "controllers" count themselves in `running`.
fn elector(core: Arc<Core>, identity: &str, running: Arc<AtomicUsize>) -> LeaderElector {
    LeaderElector::run(core, config(identity), move || {
        running.fetch_add(1, Ordering::SeqCst);
        let running = Arc::clone(&running);
        Box::new(move || {
            running.fetch_sub(1, Ordering::SeqCst);
        }) as Box<dyn Leading>
    })
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn one_leader_and_failover() {
    let etcd = TestEtcd::start().unwrap();
    let url = etcd.url();
    let main = tokio::runtime::Runtime::new().unwrap();
    // Replica A lives in its own runtime: dropping it is A's kill -9.
    let a_rt = tokio::runtime::Runtime::new().unwrap();
    let a_running = Arc::new(AtomicUsize::new(0));
    let b_running = Arc::new(AtomicUsize::new(0));

    let core_a = a_rt.block_on(core(&url));
    let nss = core_a.resource("", "v1", "namespaces").unwrap();
    a_rt.block_on(core_a.create(
        &nss,
        None,
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        &WriteOptions::default(),
    ))
    .unwrap();
    let a = {
        let _guard = a_rt.enter();
        elector(Arc::clone(&core_a), "a", Arc::clone(&a_running))
    };
    wait_until("a leads", Duration::from_secs(10), || a.is_leader());
    let core_b = main.block_on(core(&url));
    let b = {
        let _guard = main.enter();
        elector(Arc::clone(&core_b), "b", Arc::clone(&b_running))
    };
    // For three lease durations, A keeps leading and B only follows.
    let until = Instant::now() + 3 * LEASE;
    while Instant::now() < until {
        assert!(a.is_leader() && !b.is_leader());
        assert_eq!(
            (
                a_running.load(Ordering::SeqCst),
                b_running.load(Ordering::SeqCst)
            ),
            (1, 0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // kill -9 of A: no step-down, no release.
    drop(a);
    a_rt.shutdown_background();
    let took = wait_until("b takes over", Duration::from_secs(15), || b.is_leader());
    assert!(
        took <= LEASE + Duration::from_secs(2),
        "takeover took {took:?}"
    );
    assert_eq!(b_running.load(Ordering::SeqCst), 1);
    let res = core_b
        .resource("coordination.k8s.io", "v1", "leases")
        .unwrap();
    let lease = main
        .block_on(core_b.get(&res, Some("kube-system"), "controllers"))
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);

    // C follows B; B stops gracefully and releases: C leads well before a lease duration.
    let c_running = Arc::new(AtomicUsize::new(0));
    let c = {
        let _guard = main.enter();
        elector(core_b, "c", Arc::clone(&c_running))
    };
    std::thread::sleep(LEASE);
    assert!(!c.is_leader(), "c took a live lease");
    main.block_on(b.stop());
    assert_eq!(
        b_running.load(Ordering::SeqCst),
        0,
        "b stopped its controllers"
    );
    let took = wait_until("c takes over", Duration::from_secs(15), || c.is_leader());
    assert!(took < LEASE, "after a release the takeover took {took:?}");
    assert_eq!(c_running.load(Ordering::SeqCst), 1);
    main.block_on(c.stop());
}
