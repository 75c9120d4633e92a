//! Support for end-to-end tests: build the real binaries once, run them as child processes on
//! free ports with their own directories, and wait on conditions with deadlines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Build the binaries once per test process; returns target/debug.
pub fn bins() -> &'static PathBuf {
    static BINS: OnceLock<PathBuf> = OnceLock::new();
    BINS.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "cceone-kubesim",
                "-p",
                "cceone-hub",
                "-p",
                "cceone-cluster-agent",
                "-p",
                "cceonectl",
                "-p",
                "cceone",
                "-p",
                "cceone-federation",
            ])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(status.success(), "building the binaries failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("debug")
    })
}

/// A child process that is killed when dropped, with its log in a file.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
    cmd: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Proc {
    /// Start `bin` with `args` and extra environment.
    pub fn start(
        name: &str,
        bin: &str,
        args: &[String],
        env: &BTreeMap<String, String>,
        dir: &Path,
    ) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let mut p = Proc {
            name: name.into(),
            child: None,
            log,
            cmd: std::iter::once(bin.to_string())
                .chain(args.iter().cloned())
                .collect(),
            env: env.clone(),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bins().join(&self.cmd[0]))
            .args(&self.cmd[1..])
            .envs(&self.env)
            .env(
                "RUST_LOG",
                std::env::var("E2E_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Everything it logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again with the same command.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP+UDP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A simulated cluster process; returns (process, kubeconfig path).
pub fn kubesim(name: &str, dir: &Path, extra: &[&str]) -> (Proc, PathBuf) {
    let kc = dir.join(format!("{name}.kubeconfig"));
    let data = dir.join(name);
    let mut args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--kubeconfig-out".into(),
        kc.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let p = Proc::start(name, "cceone-kubesim", &args, &BTreeMap::new(), dir);
    eventually(&format!("{name} serving"), Duration::from_secs(30), || {
        kc.exists().then_some(())
    });
    (p, kc)
}

/// Run a command to completion.
pub fn run(bin: &str, args: &[&str]) -> Output {
    let path = if bin == "kubectl" {
        PathBuf::from(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()))
    } else {
        bins().join(bin)
    };
    Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Run and require success; stdout.
pub fn ok(bin: &str, args: &[&str]) -> String {
    let out = run(bin, args);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait until `f` gives Some, or panic after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `KEY=value` lines into a map.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once('=').map(|(k, v)| {
                (
                    k.trim().to_string(),
                    v.trim().trim_matches('\'').trim_matches('"').to_string(),
                )
            })
        })
        .collect()
}

/// A federation API (a simulator with no nodes serving the platform group), a hub, and helpers.
pub struct Platform {
    pub dir: tempfile::TempDir,
    pub fed: Proc,
    pub fed_kc: PathBuf,
    pub hub: Proc,
    pub hub_port: u16,
}

impl Platform {
    /// Start the federation API and a hub with short timings for tests.
    pub fn start(hub_extra: &[&str]) -> Platform {
        let dir = tempfile::tempdir().unwrap();
        let (fed, fed_kc) = kubesim("fed", dir.path(), &["--nodes", "0"]);
        let hub_port = free_port();
        let mut args: Vec<String> = vec![
            "--kubeconfig".into(),
            fed_kc.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{hub_port}"),
            "--data-dir".into(),
            dir.path().join("hub").display().to_string(),
            "--heartbeat-interval-secs".into(),
            "1".into(),
            "--heartbeat-grace-secs".into(),
            "4".into(),
        ];
        args.extend(hub_extra.iter().map(|s| s.to_string()));
        let hub = Proc::start("hub", "cceone-hub", &args, &BTreeMap::new(), dir.path());
        let p = Platform {
            dir,
            fed,
            fed_kc,
            hub,
            hub_port,
        };
        p.wait_hub_ready();
        p
    }

    /// Wait for the hub's /readyz over HTTPS (via its log line, then the registered-cluster CRD).
    pub fn wait_hub_ready(&self) {
        eventually("hub ready", Duration::from_secs(60), || {
            self.hub.log_text().contains("hub serving").then_some(())
        });
    }

    /// `kubectl --kubeconfig <federation>`.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let kc = self.fed_kc.display().to_string();
        let mut all = vec!["--kubeconfig", kc.as_str()];
        all.extend_from_slice(args);
        ok("kubectl", &all)
    }

    /// A registered cluster's status field via jsonpath.
    pub fn cluster_field(&self, name: &str, path: &str) -> String {
        let kc = self.fed_kc.display().to_string();
        let jp = format!("jsonpath={{{path}}}");
        let out = run(
            "kubectl",
            &[
                "--kubeconfig",
                kc.as_str(),
                "get",
                "registeredclusters",
                name,
                "-o",
                jp.as_str(),
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Register a cluster; its agent settings as a map.
    pub fn register(&self, name: &str, extra: &[&str]) -> BTreeMap<String, String> {
        let kc = self.fed_kc.display().to_string();
        let mut args = vec![
            "--kubeconfig",
            kc.as_str(),
            "cluster",
            "register",
            name,
            "--type",
            "local",
            "--format",
            "env",
        ];
        args.extend_from_slice(extra);
        parse_env(&ok("cceonectl", &args))
    }

    /// Start an agent for a member with the given settings.
    pub fn agent(&self, name: &str, member_kc: &Path, mut env: BTreeMap<String, String>) -> Proc {
        env.entry("CCEONE_HEALTH_ADDR".into())
            .or_insert_with(|| "127.0.0.1:0".into());
        env.entry("CCEONE_AGENT_ID".into())
            .or_insert_with(|| format!("{name}-agent"));
        let args = vec!["--kubeconfig".to_string(), member_kc.display().to_string()];
        Proc::start(name, "cceone-cluster-agent", &args, &env, self.dir.path())
    }

    /// Wait for a cluster phase.
    pub fn wait_phase(&self, name: &str, phase: &str, timeout: Duration) {
        eventually(&format!("{name} {phase}"), timeout, || {
            (self.cluster_field(name, ".status.phase") == phase).then_some(())
        });
    }

    /// The hub's metrics text (fetched by kubectl through... no: plain HTTPS with curl-less
    /// std: read the hub log instead). Returns the count of a refusal reason seen in the log.
    pub fn hub_log(&self) -> String {
        self.hub.log_text()
    }
}
