//! What the several-hubs tests share: members whose agents are given every hub endpoint,
//! readings of their clusters' status and of the agents' apply counts, and a Deployment
//! propagated to all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Proc, eventually, free_port, kubesim, parse_env, register_env, run};

/// `kubectl --kubeconfig kc args...`: stdout and stderr together.
pub fn kubectl(kc: &Path, args: &[&str]) -> String {
    let kc = kc.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str()];
    all.extend_from_slice(args);
    let out = run("kubectl", &all);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A plain HTTP GET of `path` at `host:port`: the whole answer, or None.
pub fn http_get(host: &str, port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((host, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The flags of hub `id` of a test: against the federation at `fed_kc`, on `listen` with its
/// health port at `health` (both `host:port`), its data in `dir/id`, and short timings (a
/// heartbeat a second, 4 s of silence, a 4 s lease).
pub fn hub_args(id: &str, fed_kc: &Path, listen: &str, health: &str, dir: &Path) -> Vec<String> {
    [
        "--kubeconfig",
        &fed_kc.display().to_string(),
        "--listen",
        listen,
        "--data-dir",
        &dir.join(id).display().to_string(),
        "--hub-id",
        id,
        "--health-listen",
        health,
        "--heartbeat-interval-secs",
        "1",
        "--heartbeat-grace-secs",
        "4",
        "--hub-lease-secs",
        "4",
    ]
    .map(String::from)
    .to_vec()
}

/// `from` and everything under it copied to `to`, modes kept (a PKI's keys stay 0600).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::metadata(from).unwrap().permissions()).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A simulated member cluster and its agent.
pub struct Member {
    pub name: &'static str,
    pub kc: PathBuf,
    pub health: u16,
    pub sim: Proc,
    pub agent: Proc,
}

impl Member {
    /// A member `name` (`nodes` nodes) registered in the federation, its agent given
    /// `endpoints` in that order over `transport`.
    pub fn start(
        name: &'static str,
        dir: &Path,
        fed_kc: &Path,
        nodes: &str,
        endpoints: &[String],
        transport: &str,
    ) -> Member {
        let (sim, kc) = kubesim(name, dir, &["--nodes", nodes]);
        let mut env: BTreeMap<String, String> = parse_env(&register_env(fed_kc, name));
        env.insert("CCEONE_HUB_ENDPOINT".into(), endpoints.join(","));
        env.insert("CCEONE_TRANSPORT".into(), transport.into());
        let health = free_port();
        env.insert("CCEONE_HEALTH_ADDR".into(), format!("127.0.0.1:{health}"));
        env.insert("CCEONE_AGENT_ID".into(), format!("{name}-agent"));
        let args = vec!["--kubeconfig".to_string(), kc.display().to_string()];
        let agent = Proc::start(
            &format!("{name}-agent"),
            "cceone-cluster-agent",
            &args,
            &env,
            dir,
        );
        Member {
            name,
            kc,
            health,
            sim,
            agent,
        }
    }

    /// How many Work generations the agent applied.
    pub fn applies(&self) -> Option<u64> {
        http_get("127.0.0.1", self.health, "/metrics")?
            .lines()
            .find_map(|l| l.strip_prefix("cceone_agent_works_applied_total "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// `web`'s `spec.replicas/status.readyReplicas` in the member.
    pub fn web(&self) -> String {
        kubectl(
            &self.kc,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.replicas}/{.status.readyReplicas}",
            ],
        )
        .trim()
        .to_string()
    }

    /// Wait until the member runs `web` as `want` (`replicas/ready`).
    pub fn wait_web(&self, want: &str) {
        eventually(
            &format!("{} runs web {want}", self.name),
            Duration::from_secs(60),
            || (self.web() == want).then_some(()),
        );
    }
}

/// Wait until each `(cluster, hub)` is Running and held by that hub (`status.hub`).
pub fn wait_held(fed_kc: &Path, want: &[(&str, &str)]) {
    for (m, hub) in want {
        eventually(
            &format!("{m} Running on {hub}"),
            Duration::from_secs(60),
            || {
                (field(fed_kc, m, ".status.phase") == "Running"
                    && field(fed_kc, m, ".status.hub") == *hub)
                    .then_some(())
            },
        );
    }
}

/// Scale `web` to 2 in the federation: each member runs it 2/2, its agent having applied once
/// more than `applied` (theirs, in order).
pub fn scale_web_applied_once(fed_kc: &Path, members: &[Member], applied: &[u64]) {
    let out = kubectl(fed_kc, &["scale", "deployment", "web", "--replicas=2"]);
    assert!(out.contains("scaled"), "{out}");
    for (m, n) in members.iter().zip(applied) {
        m.wait_web("2/2");
        assert_eq!(m.applies(), Some(n + 1), "{}", m.name);
    }
}

/// A field of the RegisteredCluster `cluster` (a jsonpath inside the braces).
pub fn field(fed_kc: &Path, cluster: &str, path: &str) -> String {
    kubectl(
        fed_kc,
        &[
            "get",
            "registeredclusters",
            cluster,
            "-o",
            &format!("jsonpath={{{path}}}"),
        ],
    )
}

/// How many times the cluster's operation log says an agent connected.
pub fn connects(fed_kc: &Path, cluster: &str) -> usize {
    field(fed_kc, cluster, ".status.operations[*].reason")
        .split_whitespace()
        .filter(|r| matches!(*r, "AgentConnected" | "TunnelReplaced" | "AgentReconnected"))
        .count()
}

/// Wait (up to `timeout`) until `cluster` is Running on a hub other than `from`, connected
/// anew (more connections in its operation log than `connects_before`); that hub.
pub fn wait_moved(
    fed_kc: &Path,
    cluster: &str,
    from: &str,
    connects_before: usize,
    timeout: Duration,
) -> String {
    eventually(
        &format!("{cluster} Running on a hub other than {from}"),
        timeout,
        || {
            let h = field(fed_kc, cluster, ".status.hub");
            (field(fed_kc, cluster, ".status.phase") == "Running"
                && h != from
                && !h.is_empty()
                && connects(fed_kc, cluster) > connects_before)
                .then_some(h)
        },
    )
}

/// Apply [`WEB`] to the federation.
pub fn apply_web(fed_kc: &Path, dir: &Path) {
    let manifest = dir.join("web.yaml");
    std::fs::write(&manifest, WEB).unwrap();
    let out = kubectl(fed_kc, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(out.contains("created"), "{out}");
}

/// A Deployment `web` (one replica) to member1, member2 and member3.
pub const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: web
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
  placement:
    clusterAffinity:
      clusterNames: [member1, member2, member3]
    replicaScheduling:
      replicaSchedulingType: Duplicated
"#;
