//! etcd's only member killed -9 and started again under everything above it: two federation
//! replicas on that etcd (the second with a copy of the first's data directory), two hubs, one
//! against each replica, and two members whose agents are given both hubs. While etcd is down
//! (past the controllers' renew deadline) the hubs cannot renew their leases and write no
//! status, and the leading replica exits; once it is back every cluster is
//! Running on the hub it was on (no agent moved, nothing applied again), each session writes its
//! status again (the cluster's status still names its hub), and a change made afterwards is
//! applied once in each member, its Work status at the new generation. The replica that lost the
//! controllers' lease exited, as kube-controller-manager does; the test starts it again as a
//! supervisor would.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cceone_kube_store_etcd::testing::TestEtcd;
use support::multihub::{
    Member, apply_web, connects, copy_dir, field, http_get, hub_args, kubectl,
    scale_web_applied_once, wait_held,
};
use support::{Proc, eventually, free_port, metric, step, throughout};

/// A federation replica on `etcd` with its data in `dir/name` (on a port of its own, so a
/// restart keeps its address); its admin kubeconfig.
fn replica(name: &str, dir: &Path, etcd: &str) -> (Proc, PathBuf) {
    let kc = dir.join(format!("{name}.kubeconfig"));
    let args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--data-dir",
        dir.join(name).to_str().unwrap(),
        "--kubeconfig-out",
        kc.to_str().unwrap(),
        "--etcd-servers",
        etcd,
    ]
    .map(String::from)
    .to_vec();
    let proc = Proc::start(name, "cceone-federation", &args, &BTreeMap::new(), dir);
    eventually(&format!("{name} serving"), Duration::from_secs(90), || {
        kc.exists().then_some(())
    });
    (proc, kc)
}

struct Hub {
    id: &'static str,
    health: u16,
    proc: Proc,
}

impl Hub {
    fn metric(&self, name: &str) -> u64 {
        http_get("127.0.0.1", self.health, "/metrics")
            .map(|m| metric(&m, name))
            .unwrap_or(0)
    }
}

#[test]
fn hubs_and_replicas_recover_from_an_etcd_restart() {
    let mut etcd = TestEtcd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut replicas = vec![replica("fed-a", dir, &etcd.url())];
    copy_dir(&dir.join("fed-a"), &dir.join("fed-b"));
    replicas.push(replica("fed-b", dir, &etcd.url()));
    let fed_kc = replicas[0].1.clone();

    let mut endpoints = Vec::new();
    let hubs: Vec<Hub> = [("hub-a", 0), ("hub-b", 1)]
        .into_iter()
        .map(|(id, r)| {
            let (port, health) = (free_port(), free_port());
            endpoints.push(format!("127.0.0.1:{port}"));
            let args = hub_args(
                id,
                &replicas[r].1,
                &format!("127.0.0.1:{port}"),
                &format!("127.0.0.1:{health}"),
                dir,
            );
            let proc = Proc::start(id, "cceone-hub", &args, &BTreeMap::new(), dir);
            Hub { id, health, proc }
        })
        .collect();
    for h in &hubs {
        eventually(
            &format!("{} serving", h.id),
            Duration::from_secs(60),
            || h.proc.log_text().contains("hub serving").then_some(()),
        );
    }
    let members: Vec<Member> = [("member1", [0, 1]), ("member2", [1, 0])]
        .into_iter()
        .map(|(name, order)| {
            let list: Vec<String> = order.iter().map(|i| endpoints[*i].clone()).collect();
            Member::start(name, dir, &fed_kc, "1", &list, "grpc")
        })
        .collect();
    let holder = |m: &str| field(&fed_kc, m, ".status.hub");
    wait_held(&fed_kc, &[("member1", "hub-a"), ("member2", "hub-b")]);
    apply_web(&fed_kc, dir);
    for m in &members {
        m.wait_web("1/1");
    }
    let applied: Vec<u64> = members.iter().map(|m| m.applies().unwrap()).collect();
    let before: Vec<usize> = members.iter().map(|m| connects(&fed_kc, m.name)).collect();

    step("kill -9 etcd");
    etcd.kill();
    let killed = Instant::now();
    for h in &hubs {
        eventually(
            &format!("{} knows it lost its lease", h.id),
            Duration::from_secs(20),
            || {
                h.proc
                    .log_text()
                    .contains("this hub no longer holds its lease")
                    .then_some(())
            },
        );
    }
    // Down past the controllers' renew deadline (10 s): the leading replica gives up.
    eventually(
        "the leading replica exits, its lease lost",
        Duration::from_secs(40),
        || replicas.iter_mut().any(|(p, _)| !p.running()).then_some(()),
    );
    etcd.restart().unwrap();
    step(&format!(
        "etcd started again {:.1}s after the kill",
        killed.elapsed().as_secs_f64()
    ));
    // A replica that lost the controllers' lease exits (status 1); its supervisor starts it
    // again. Either way both serve once etcd is back.
    for (proc, kc) in &mut replicas {
        if !proc.running() {
            step(&format!("{} exited; starting it again", proc.name));
            std::fs::remove_file(&*kc).unwrap();
            proc.restart();
            eventually(
                &format!("{} serving again", proc.name),
                Duration::from_secs(90),
                || kc.exists().then_some(()),
            );
        }
    }
    for h in &hubs {
        eventually(
            &format!("{} renews its lease", h.id),
            Duration::from_secs(30),
            || {
                h.proc
                    .log_text()
                    .contains("this hub's lease had lapsed")
                    .then_some(())
            },
        );
    }
    // Through the restarted replica too (its first answers may still fail).
    eventually(
        "the federation answers again",
        Duration::from_secs(30),
        || {
            members
                .iter()
                .all(|m| field(&fed_kc, m.name, ".status.phase") == "Running")
                .then_some(())
        },
    );
    throughout(
        "every cluster stays Running where it was, nothing applied again",
        Duration::from_secs(3),
        || {
            members.iter().zip(&before).all(|(m, n)| {
                field(&fed_kc, m.name, ".status.phase") == "Running"
                    && connects(&fed_kc, m.name) == *n
            }) && holder("member1") == "hub-a"
                && holder("member2") == "hub-b"
                && members
                    .iter()
                    .zip(&applied)
                    .all(|(m, n)| m.applies() == Some(*n))
        },
    );

    // Propagation goes on, through the same hubs, and each session writes its Work status.
    scale_web_applied_once(&fed_kc, &members, &applied);
    for m in &members {
        let path = r#"jsonpath={.items[0].metadata.generation}/{.items[0].status.conditions[?(@.type=="Applied")].observedGeneration}"#;
        let ns = format!("karmada-es-{}", m.name);
        eventually(
            &format!("{}: the Work's status at its generation", m.name),
            Duration::from_secs(30),
            || {
                let got = kubectl(&fed_kc, &["get", "works", "-n", &ns, "-o", path]);
                (got.trim() == "2/2").then_some(())
            },
        );
    }
    for h in &hubs {
        assert_eq!(h.metric("cceone_hub_sessions"), 1, "{}", h.id);
    }
}
