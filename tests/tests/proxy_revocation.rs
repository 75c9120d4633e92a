//! A proxy kubeconfig's open streams end with it (issue 9, item 7): a `kubectl get -w` through
//! the hub's proxy ends soon after `cceonectl cluster revoke-kubeconfig`, and one opened with a
//! short `--ttl` ends soon after it expires, instead of running on for as long as it likes.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{Platform, kubectl, kubectl_bin, kubesim};

/// A revoked or expired token is noticed at once on revocation and within 10 s on expiry.
const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `kubectl get configmaps -w` with `kc`; returns it once it has printed its first row.
fn watch(kc: &std::path::Path) -> std::process::Child {
    let mut child = Command::new(kubectl_bin())
        .args(["--kubeconfig"])
        .arg(kc)
        .args(["get", "configmaps", "-n", "default", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = rx.recv_timeout(DEADLINE).expect("the watch printed a row");
    assert!(first.contains("NAME") || first.contains("seen"), "{first}");
    child
}

/// Waits until `child` exits; how long that took.
fn ended_within(child: &mut std::process::Child, deadline: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn revoked_and_expired_proxy_kubeconfigs_end_their_watches() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("m1", p.dir.path(), &["--nodes", "1"]);
    kubectl(
        &member_kc,
        &["create", "configmap", "seen", "-n", "default"],
    );
    let env = p.register("m1", &[]);
    let _agent = p.agent("m1", &member_kc, env);
    p.wait_phase("m1", "Running", Duration::from_secs(60));

    // Revoked: the watch ends.
    let text = p.cceonectl(&["cluster", "kubeconfig", "m1"]);
    assert!(text.contains("expires"), "a default TTL: {text}");
    let id = text
        .split_whitespace()
        .skip_while(|w| *w != "kubeconfig")
        .nth(1)
        .unwrap()
        .to_string();
    let kc = p.dir.path().join("revoked.kubeconfig");
    std::fs::write(&kc, &text).unwrap();
    let mut w = watch(&kc);
    p.cceonectl(&["cluster", "revoke-kubeconfig", &id]);
    let took = ended_within(&mut w, DEADLINE).expect("the watch outlived its revoked kubeconfig");
    println!("watch ended {took:?} after the revocation");

    // Expired: the watch ends too.
    let text = p.cceonectl(&["cluster", "kubeconfig", "m1", "--ttl", "4s"]);
    let kc = p.dir.path().join("short.kubeconfig");
    std::fs::write(&kc, &text).unwrap();
    let started = Instant::now();
    let mut w = watch(&kc);
    let took = ended_within(&mut w, DEADLINE).expect("the watch outlived its kubeconfig's TTL");
    println!(
        "watch with a 4 s TTL ended {:?} after it started",
        started.elapsed()
    );
    assert!(took > Duration::ZERO);
}
