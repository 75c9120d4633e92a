//! A network partition of one hub of three. hub-a runs in a network namespace of its own (a veth
//! to the root namespace, where the federation, the other hubs, the members and their agents
//! are); iptables in that namespace cut it off, its health port excepted so the test can watch
//! it. First hub-a is cut off from the federation API only: its lease lapses, and the cluster
//! status an agent reports to it meanwhile (its tunnel is healthy) is not written (fenced). Then
//! it is cut off from everything: its two clusters' agents reconnect to the other hubs and are
//! Running there, nothing is applied again, and a change made during the partition is applied once through the new holders. When
//! the partition heals, hub-a takes no tunnel back and writes nothing for the clusters it lost;
//! every Work's status is its latest generation's.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use support::multihub::{
    Member, apply_web, connects, field, http_get, hub_args, kubectl, scale_web_applied_once,
    wait_held, wait_moved,
};
use support::netlab::sh;
use support::{Proc, eventually, free_port, metric, step, throughout};

/// A network namespace joined to the root namespace by a veth pair (`root_ip` on the root
/// end, `ns_ip` inside), removed on drop.
struct Island {
    ns: String,
    root_link: String,
    root_ip: String,
    ns_ip: String,
}

impl Island {
    /// The namespace, or None (said as `SKIPPED: ...`) when namespaces cannot be made here.
    fn new(test: &str) -> Option<Island> {
        let pid = std::process::id();
        let ns = format!("ce2e-{pid}-hubp");
        if let Err(e) = sh(&["ip", "netns", "add", &ns]) {
            println!("SKIPPED: {test}: cannot create network namespaces here ({e})");
            return None;
        }
        // A /30 out of 10.208.0.0/16 by the pid (NetLab's labs use 10.200.0.0/13).
        let (c, d) = ((pid / 64) % 256, (pid % 64) * 4);
        let island = Island {
            root_link: format!("ce2e{pid}p"),
            root_ip: format!("10.208.{c}.{}", d + 1),
            ns_ip: format!("10.208.{c}.{}", d + 2),
            ns,
        };
        let ns = island.ns.as_str();
        let up = || -> Result<(), String> {
            sh(&[
                "ip",
                "link",
                "add",
                &island.root_link,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            ])?;
            sh(&[
                "ip",
                "addr",
                "add",
                &format!("{}/30", island.root_ip),
                "dev",
                &island.root_link,
            ])?;
            sh(&["ip", "link", "set", &island.root_link, "up"])?;
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/30", island.ns_ip),
                "dev",
                "eth0",
            ])?;
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])
        };
        up().unwrap_or_else(|e| panic!("building the namespace: {e}"));
        Some(island)
    }

    fn iptables(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", self.ns.as_str(), "iptables"];
        all.extend_from_slice(args);
        sh(&all).unwrap();
    }

    /// Nothing sent from the namespace to `ip:port` over TCP arrives.
    fn cut_from(&self, ip: &str, port: u16) {
        let port = port.to_string();
        self.iptables(&[
            "-A", "OUTPUT", "-d", ip, "-p", "tcp", "--dport", &port, "-j", "DROP",
        ]);
    }

    /// Nothing sent from the namespace arrives (TCP from `keep` excepted).
    fn mute(&self, keep: u16) {
        let keep = keep.to_string();
        self.iptables(&["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"]);
        self.iptables(&[
            "-A", "OUTPUT", "-p", "tcp", "--sport", &keep, "-j", "ACCEPT",
        ]);
        self.iptables(&["-A", "OUTPUT", "-j", "DROP"]);
    }

    /// Nothing sent to the namespace arrives (TCP to `keep` excepted).
    fn deafen(&self, keep: u16) {
        let keep = keep.to_string();
        self.iptables(&["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
        self.iptables(&["-A", "INPUT", "-p", "tcp", "--dport", &keep, "-j", "ACCEPT"]);
        self.iptables(&["-A", "INPUT", "-j", "DROP"]);
    }

    fn heal(&self) {
        self.iptables(&["-F", "INPUT"]);
        self.iptables(&["-F", "OUTPUT"]);
    }
}

impl Drop for Island {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.ns]);
        let _ = sh(&["ip", "link", "del", &self.root_link]);
    }
}

struct Hub {
    id: &'static str,
    health: (String, u16),
    proc: Proc,
}

impl Hub {
    fn metric(&self, name: &str) -> u64 {
        http_get(&self.health.0, self.health.1, "/metrics")
            .map(|m| metric(&m, name))
            .unwrap_or(0)
    }
}

/// Each Work of `cluster`: (name, generation, Applied status, Applied observedGeneration).
fn works(fed_kc: &Path, cluster: &str) -> Vec<(String, String, String, String)> {
    let ns = format!("karmada-es-{cluster}");
    let path = r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.generation} {.status.conditions[?(@.type=="Applied")].status} {.status.conditions[?(@.type=="Applied")].observedGeneration}{"\n"}{end}"#;
    kubectl(fed_kc, &["get", "works", "-n", &ns, "-o", path])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = |i: usize| f.get(i).copied().unwrap_or_default().to_string();
            (at(0), at(1), at(2), at(3))
        })
        .collect()
}

#[test]
fn a_partitioned_hub_loses_its_clusters_and_takes_nothing_back() {
    let Some(island) = Island::new("a_partitioned_hub_loses_its_clusters_and_takes_nothing_back")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root_ip = island.root_ip.clone();
    // The federation on the root end of the veth, so hub-a reaches it from its namespace.
    let fed_kc = dir.path().join("fed.kubeconfig");
    let fed_args: Vec<String> = [
        "--listen",
        &format!("{root_ip}:0"),
        "--hostname",
        &root_ip,
        "--data-dir",
        &dir.path().join("federation").display().to_string(),
        "--kubeconfig-out",
        &fed_kc.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let _fed = Proc::start(
        "federation",
        "cceone-federation",
        &fed_args,
        &BTreeMap::new(),
        dir.path(),
    );
    eventually("federation serving", Duration::from_secs(60), || {
        fed_kc.exists().then_some(())
    });

    // hub-a in the namespace; b and c beside the federation.
    let mut endpoints = Vec::new();
    let hubs: Vec<Hub> = ["hub-a", "hub-b", "hub-c"]
        .into_iter()
        .map(|id| {
            let (host, netns) = if id == "hub-a" {
                (island.ns_ip.clone(), Some(island.ns.as_str()))
            } else {
                (root_ip.clone(), None)
            };
            let (port, health) = (free_port(), free_port());
            endpoints.push(format!("{host}:{port}"));
            let args = hub_args(
                id,
                &fed_kc,
                &format!("{host}:{port}"),
                &format!("{host}:{health}"),
                dir.path(),
            );
            let env = BTreeMap::new();
            let proc = match netns {
                Some(ns) => Proc::start_in(ns, id, "cceone-hub", &args, &env, dir.path()),
                None => Proc::start(id, "cceone-hub", &args, &env, dir.path()),
            };
            Hub {
                id,
                health: (host, health),
                proc,
            }
        })
        .collect();
    for h in &hubs {
        eventually(
            &format!("{} serving", h.id),
            Duration::from_secs(60),
            || h.proc.log_text().contains("hub serving").then_some(()),
        );
    }

    // member1 and member3 prefer hub-a, member2 hub-b.
    let members: Vec<Member> = [
        ("member1", [0, 1, 2], "grpc"),
        ("member2", [1, 2, 0], "quic"),
        ("member3", [0, 2, 1], "auto"),
    ]
    .into_iter()
    .map(|(name, order, transport)| {
        let list: Vec<String> = order.iter().map(|i| endpoints[*i].clone()).collect();
        Member::start(name, dir.path(), &fed_kc, "1", &list, transport)
    })
    .collect();
    let holder = |m: &str| field(&fed_kc, m, ".status.hub");
    wait_held(
        &fed_kc,
        &[
            ("member1", "hub-a"),
            ("member2", "hub-b"),
            ("member3", "hub-a"),
        ],
    );

    apply_web(&fed_kc, dir.path());
    for m in &members {
        m.wait_web("1/1");
    }
    let applied: Vec<u64> = members.iter().map(|m| m.applies().unwrap()).collect();
    assert!(applied.iter().all(|n| *n >= 1), "{applied:?}");
    let before: Vec<usize> = members.iter().map(|m| connects(&fed_kc, m.name)).collect();

    // hub-a cut off from the federation API: its lease lapses; what member1's agent reports
    // to it meanwhile is not written.
    let fed_port: u16 = std::fs::read_to_string(&fed_kc)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .and_then(|a| a.rsplit(':').next())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    island.cut_from(&root_ip, fed_port);
    let cut = Instant::now();
    step("hub-a cut off from the federation API");
    eventually(
        "hub-a knows it lost its lease",
        Duration::from_secs(15),
        || {
            hubs[0]
                .proc
                .log_text()
                .contains("this hub no longer holds its lease")
                .then_some(())
        },
    );
    // A pod with requests: member1's agent reports the cluster's allocated resources anew.
    let hog = dir.path().join("hog.yaml");
    std::fs::write(&hog, HOG).unwrap();
    let out = kubectl(&members[0].kc, &["apply", "-f", hog.to_str().unwrap()]);
    assert!(out.contains("created"), "{out}");
    eventually(
        "hub-a leaves member1's report unwritten",
        Duration::from_secs(10),
        || (hubs[0].metric("cceone_hub_fenced_writes_total") >= 1).then_some(()),
    );
    // Then cut off from everything.
    let a_health = hubs[0].health.1;
    island.mute(a_health);
    island.deafen(a_health);
    let partitioned = Instant::now();
    step(&format!(
        "hub-a partitioned ({:.1}s after it lost the federation API)",
        cut.elapsed().as_secs_f64()
    ));
    for (i, m) in [(0, "member1"), (2, "member3")] {
        let to = wait_moved(&fed_kc, m, "hub-a", before[i], Duration::from_secs(40));
        step(&format!(
            "{m} Running on {to} {:.1}s after hub-a was partitioned",
            partitioned.elapsed().as_secs_f64()
        ));
    }
    let holders: Vec<String> = members.iter().map(|m| holder(m.name)).collect();
    assert_eq!(holders[1], "hub-b", "member2 never moved");
    assert_eq!(connects(&fed_kc, "member2"), before[1]);
    throughout("no Work applied again", Duration::from_secs(3), || {
        members
            .iter()
            .zip(&applied)
            .all(|(m, n)| m.applies() == Some(*n))
    });
    // hub-a closed the sessions it could not hear.
    eventually("hub-a holds no tunnel", Duration::from_secs(20), || {
        (hubs[0].metric("cceone_hub_sessions") == 0).then_some(())
    });

    // A change during the partition reaches every member through its holder, applied once.
    scale_web_applied_once(&fed_kc, &members, &applied);

    // Healed: hub-a renews its lease and takes nothing back. (What it began to write while
    // cut off, such as a missed heartbeat of the sessions it lost, is judged when it arrives:
    // hub-a has not seen the other hubs' leases lately, so it takes them for alive.)
    let after: Vec<usize> = members.iter().map(|m| connects(&fed_kc, m.name)).collect();
    let ops = |m: &str| field(&fed_kc, m, ".status.operations[*].reason");
    let ops_after: Vec<String> = members.iter().map(|m| ops(m.name)).collect();
    let lapsed = |h: &Hub| {
        h.proc
            .log_text()
            .matches("this hub's lease had lapsed")
            .count()
    };
    let lapses = lapsed(&hubs[0]);
    island.heal();
    step("partition healed");
    eventually("hub-a renews its lease", Duration::from_secs(30), || {
        (lapsed(&hubs[0]) > lapses).then_some(())
    });
    throughout(
        "hub-a takes nothing back and records nothing for the clusters it lost",
        Duration::from_secs(6),
        || {
            hubs[0].metric("cceone_hub_sessions") == 0
                && members
                    .iter()
                    .all(|m| field(&fed_kc, m.name, ".status.phase") == "Running")
                && members
                    .iter()
                    .zip(&holders)
                    .all(|(m, h)| holder(m.name) == *h)
                && members
                    .iter()
                    .zip(&after)
                    .all(|(m, n)| connects(&fed_kc, m.name) == *n)
                && members
                    .iter()
                    .zip(&ops_after)
                    .all(|(m, o)| ops(m.name) == *o)
                && members
                    .iter()
                    .zip(&applied)
                    .all(|(m, n)| m.applies() == Some(n + 1))
        },
    );
    // Every Work's status is its latest generation's, written by the new holders.
    for m in &members {
        assert_eq!(field(&fed_kc, m.name, ".status.phase"), "Running");
        let current = |w: &(String, String, String, String)| w.2 == "True" && w.3 == w.1;
        let ws = eventually(
            &format!("{}: every Work Applied at its generation", m.name),
            Duration::from_secs(20),
            || {
                let ws = works(&fed_kc, m.name);
                (!ws.is_empty() && ws.iter().all(current)).then_some(ws)
            },
        );
        step(&format!("{}: Works {ws:?}", m.name));
    }
}

/// A pod with requests (the member's allocated resources change).
const HOG: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: hog
  namespace: default
spec:
  containers:
  - name: hog
    image: busybox
    resources:
      requests:
        cpu: 250m
        memory: 64Mi
"#;
