//! Two `cceone-federation` replicas on one etcd (issue 13, item 2): both serve the API with the
//! same certificates and tokens (the second started with a copy of the first's data
//! directory), a CRD created through one is served by the other, the controllers run on the
//! replica holding the `kube-system/cceone-federation` Lease, and kill -9 of that leader hands
//! the Lease to the other, which propagates a template applied after the kill while every Work
//! made before stays the same object (created once, not rewritten). Then etcd itself is killed
//! and restarted, and propagation goes on. Members are registered the light way: the hub's
//! view of a connected cluster written into its RegisteredCluster's status with kubectl.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cceone_kube_store_etcd::testing::TestEtcd;
use support::{Proc, eventually, kubectl, step};

/// The Lease the replicas elect their controllers' leader on.
const LEASE: [&str; 4] = ["-n", "kube-system", "lease", "cceone-federation"];

/// kubectl's stdout when it succeeds, None otherwise (a server may be away).
fn try_kubectl(kc: &Path, args: &[&str], stdin: Option<&str>) -> Option<String> {
    use std::io::Write;
    let mut cmd = std::process::Command::new(support::kubectl_bin());
    cmd.arg("--kubeconfig")
        .arg(kc)
        .arg("--request-timeout=5s")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One federation replica: its process and the admin kubeconfig it wrote.
struct Replica {
    proc: Proc,
    kc: PathBuf,
}

impl Replica {
    fn start(name: &str, dir: &Path, etcd: &str) -> Replica {
        let data = dir.join(name);
        let kc = dir.join(format!("{name}.kubeconfig"));
        let args: Vec<String> = [
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--kubeconfig-out",
            kc.to_str().unwrap(),
            "--etcd-servers",
            etcd,
            // The members here report once; they must not turn unreachable while the test runs.
            "--cluster-grace-secs",
            "600",
            "--eviction-timeout-secs",
            "600",
        ]
        .map(String::from)
        .to_vec();
        let proc = Proc::start(name, "cceone-federation", &args, &BTreeMap::new(), dir);
        eventually(&format!("{name} serving"), Duration::from_secs(90), || {
            kc.exists().then_some(())
        });
        Replica { proc, kc }
    }

    /// Whether its controllers run (it logged taking the lease).
    fn led(&self) -> bool {
        self.proc.log_text().contains("became leader")
    }
}

/// The kubeconfig's `server:` line.
fn server_line(kc: &Path) -> String {
    let text = std::fs::read_to_string(kc).unwrap();
    text.lines()
        .find(|l| l.trim_start().starts_with("server:"))
        .unwrap()
        .trim()
        .to_string()
}

/// A RegisteredCluster that the hub reports connected (its status as the hub writes it).
fn join(kc: &Path, name: &str) {
    let rc = format!(
        "apiVersion: platform.cceone.io/v1alpha1\nkind: RegisteredCluster\nmetadata:\n  name: {name}\nspec:\n  type: ctyun\n  provider: ctyun\n  region: r1\n  zone: r1-a\n"
    );
    try_kubectl(kc, &["apply", "-f", "-"], Some(&rc)).unwrap();
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .unwrap()
        .to_string();
    let status = serde_json::json!({"status": {
        "phase": "Running",
        "kubernetesVersion": "v1.32.0",
        "connectedSince": now,
        "lastHeartbeatTime": now,
        "vcpus": "8",
        "nodeSummary": {"total": 1, "ready": 1},
        "resourceSummary": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocated": {"cpu": "0", "memory": "0", "pods": "0"},
        },
        "apiEnablements": [
            {"groupVersion": "apps/v1", "resources": [{"name": "deployments", "kind": "Deployment"}]},
            {"groupVersion": "v1", "resources": [{"name": "configmaps", "kind": "ConfigMap"}]},
        ],
        "conditions": [{"type": "Ready", "status": "True", "reason": "AgentConnected",
            "message": "agent connected", "lastTransitionTime": now}],
    }});
    kubectl(
        kc,
        &[
            "patch",
            "registeredcluster",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
    );
}

/// A Deployment and the PropagationPolicy that sends it to both members.
fn workload(name: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: {name}
spec:
  resourceSelectors:
  - apiVersion: apps/v1
    kind: Deployment
    name: {name}
  placement:
    clusterAffinity:
      clusterNames: [m1, m2]
"
    )
}

/// A Work: namespace/name, uid, generation and permanent id.
type WorkRow = (String, String, String, String);

/// The Works of the workloads here (not the namespace sync's), sorted.
fn works(kc: &Path) -> Option<Vec<WorkRow>> {
    let out = try_kubectl(
        kc,
        &[
            "get",
            "works",
            "-A",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.uid} {.metadata.generation} {.metadata.labels.work\.karmada\.io/permanent-id}{"\n"}{end}"#,
        ],
        None,
    )?;
    let mut rows: Vec<_> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f.get(1).unwrap_or(&"").to_string(),
                f.get(2).unwrap_or(&"").to_string(),
                f.get(3).unwrap_or(&"").to_string(),
            )
        })
        .collect();
    rows.retain(|w| w.0.contains("/web"));
    rows.sort();
    Some(rows)
}

/// The Works of a template's binding, once one exists in each member's namespace.
fn propagated(kc: &Path, name: &str) -> Option<Vec<WorkRow>> {
    let all = works(kc)?;
    let mine: Vec<_> = all
        .into_iter()
        .filter(|w| w.0.contains(&format!("/{name}-")))
        .collect();
    let spaces: Vec<&str> = mine
        .iter()
        .map(|w| w.0.split('/').next().unwrap())
        .collect();
    (spaces == ["karmada-es-m1", "karmada-es-m2"]).then_some(mine)
}

/// The Lease's holder, as a replica serves it.
fn holder(kc: &Path) -> Option<String> {
    let mut args = LEASE.to_vec();
    args.insert(0, "get");
    args.extend(["-o", "jsonpath={.spec.holderIdentity}"]);
    try_kubectl(kc, &args, None).filter(|h| !h.is_empty())
}

#[test]
fn two_replicas_on_etcd_fail_over() {
    let mut etcd = TestEtcd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    step("replica a, then replica b with a copy of a's data directory");
    let a = Replica::start("a", dir, &etcd.url());
    support::multihub::copy_dir(&dir.join("a"), &dir.join("b"));
    let b = Replica::start("b", dir, &etcd.url());
    // Same CA and admin token, two addresses: a's kubeconfig works against b.
    let (sa, sb) = (server_line(&a.kc), server_line(&b.kc));
    assert_ne!(sa, sb);
    let a_text = std::fs::read_to_string(&a.kc).unwrap();
    assert_eq!(
        a_text.replace(&sa, &sb),
        std::fs::read_to_string(&b.kc).unwrap(),
        "the replicas differ in more than their address"
    );
    let first = eventually("a replica leads", Duration::from_secs(30), || holder(&a.kc));
    assert!(
        a.led() ^ b.led(),
        "exactly one replica runs the controllers"
    );
    let (mut leader, mut follower) = if a.led() { (a, b) } else { (b, a) };
    step(&format!("{} leads as {first}", leader.proc.name));

    step("a CRD created through the follower is served by the leader");
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";
    try_kubectl(&follower.kc, &["apply", "-f", "-"], Some(crd)).unwrap();
    let gadget = "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\n";
    eventually(
        "the leader serves the new kind",
        Duration::from_secs(10),
        || try_kubectl(&leader.kc, &["apply", "-f", "-"], Some(gadget)),
    );
    let got = kubectl(&follower.kc, &["get", "gadget", "g1", "-o", "name"]);
    assert_eq!(got.trim(), "gadget.example.com/g1");

    step("two members, and a workload applied through the follower");
    join(&follower.kc, "m1");
    join(&leader.kc, "m2");
    try_kubectl(&follower.kc, &["apply", "-f", "-"], Some(&workload("web1"))).unwrap();
    let before = eventually(
        "web1 propagated to both members",
        Duration::from_secs(30),
        || propagated(&follower.kc, "web1"),
    );

    step("kill -9 the leader");
    leader.proc.kill();
    let killed = Instant::now();
    let new_holder = eventually(
        "the follower takes the lease",
        Duration::from_secs(30),
        || holder(&follower.kc).filter(|h| *h != first),
    );
    let took = killed.elapsed();
    assert!(
        follower.led(),
        "the new holder {new_holder} is not the follower"
    );
    eprintln!(
        "failover: lease taken {:.1}s after kill -9 of the leader",
        took.as_secs_f64()
    );
    try_kubectl(&follower.kc, &["apply", "-f", "-"], Some(&workload("web2"))).unwrap();
    eventually(
        "web2, applied after the kill, propagated",
        Duration::from_secs(30),
        || propagated(&follower.kc, "web2"),
    );
    let after = works(&follower.kc).unwrap();
    assert_eq!(
        after.len(),
        4,
        "one Work per template and member: {after:?}"
    );
    for w in &before {
        assert!(
            after.contains(w),
            "{} was recreated or rewritten across the failover: {before:?} then {after:?}",
            w.0
        );
    }

    step("the killed replica comes back as a follower");
    std::fs::remove_file(&leader.kc).unwrap();
    leader.proc.restart();
    eventually(
        "the old leader serves again",
        Duration::from_secs(90),
        || leader.kc.exists().then_some(()),
    );
    assert_eq!(holder(&leader.kc).as_deref(), Some(new_holder.as_str()));
    std::mem::swap(&mut leader, &mut follower);

    step("kill -9 etcd and start it again");
    etcd.kill();
    etcd.restart().unwrap();
    eventually(
        "both replicas serve from etcd again",
        Duration::from_secs(60),
        || holder(&leader.kc).and(holder(&follower.kc)),
    );
    eventually(
        "web3, applied after etcd's restart, propagated",
        Duration::from_secs(60),
        || {
            try_kubectl(&follower.kc, &["apply", "-f", "-"], Some(&workload("web3")))
                .and_then(|_| propagated(&leader.kc, "web3"))
        },
    );
    let last = works(&leader.kc).unwrap();
    assert_eq!(last.len(), 6, "{last:?}");
    for w in &after {
        assert!(last.contains(w), "{} changed across etcd's restart", w.0);
    }
    let mut args = LEASE.to_vec();
    args.insert(0, "get");
    args.extend(["-o", "jsonpath={.spec.leaseTransitions}"]);
    let transitions = kubectl(&leader.kc, &args);
    assert!(
        transitions.trim().parse::<u32>().unwrap() >= 1,
        "the takeover is a lease transition: {transitions}"
    );
}
