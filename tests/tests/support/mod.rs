//! Support for end-to-end tests: build the real binaries once, run them as child processes on
//! free ports with their own directories (optionally inside a network namespace), talk HTTPS to
//! the hub, and wait on conditions with deadlines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod fake;
pub mod https;
pub mod multihub;
pub mod netlab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

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
        step("building the binaries");
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
                // --etcd-servers (the etcd tests); the build needs protoc, as scripts/test installs.
                "--features",
                "cceone/etcd,cceone-federation/etcd",
            ])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(status.success(), "building the binaries failed");
        step("binaries built");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("debug")
    })
}

/// The kubectl binary ($KUBECTL or `kubectl` on the PATH).
pub fn kubectl_bin() -> PathBuf {
    PathBuf::from(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()))
}

/// kubectl 1.27 (SPDY/3.1 for exec, attach and port-forward), beside the version dispatcher.
pub fn kubectl_127() -> Option<PathBuf> {
    let which = Command::new("sh")
        .args(["-c", "command -v kubectl"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&which.stdout).trim());
    let real = std::fs::canonicalize(path).ok()?;
    let k = real.parent()?.join("kubectl.1.27");
    k.exists().then_some(k)
}

/// A child process that is killed when dropped, with its output in a log file.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    netns: Option<String>,
}

impl Proc {
    /// Start one of the workspace binaries `bin` with `args` and extra environment.
    pub fn start(
        name: &str,
        bin: &str,
        args: &[String],
        env: &BTreeMap<String, String>,
        dir: &Path,
    ) -> Proc {
        Proc::launch(name, bins().join(bin), args, env, dir, None)
    }

    /// [`Proc::start`] inside the network namespace `netns` (`ip netns exec`).
    pub fn start_in(
        netns: &str,
        name: &str,
        bin: &str,
        args: &[String],
        env: &BTreeMap<String, String>,
        dir: &Path,
    ) -> Proc {
        Proc::launch(name, bins().join(bin), args, env, dir, Some(netns.into()))
    }

    /// Start any program (kubectl, ...).
    pub fn start_program(name: &str, program: PathBuf, args: &[&str], dir: &Path) -> Proc {
        Proc::start_program_env(name, program, args, &BTreeMap::new(), dir)
    }

    /// [`Proc::start_program`] with extra environment.
    pub fn start_program_env(
        name: &str,
        program: PathBuf,
        args: &[&str],
        env: &BTreeMap<String, String>,
        dir: &Path,
    ) -> Proc {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Proc::launch(name, program, &args, env, dir, None)
    }

    fn launch(
        name: &str,
        program: PathBuf,
        args: &[String],
        env: &BTreeMap<String, String>,
        dir: &Path,
        netns: Option<String>,
    ) -> Proc {
        let mut p = Proc {
            name: name.into(),
            child: None,
            log: dir.join(format!("{name}.log")),
            program,
            args: args.to_vec(),
            env: env.clone(),
            netns,
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
        let mut cmd = match &self.netns {
            // `ip netns exec` execs the program, so the child's pid is the program's own.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        let child = cmd
            .args(&self.args)
            .envs(&self.env)
            .env(
                "RUST_LOG",
                std::env::var("E2E_LOG").unwrap_or_else(|_| "info".into()),
            )
            // No NO_COLOR: the programs must write plain text to a file by themselves.
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Everything it logged (terminal colour codes removed).
    pub fn log_text(&self) -> String {
        strip_ansi(&self.raw_log())
    }

    /// Everything it logged, as written.
    pub fn raw_log(&self) -> String {
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

    /// Its exit code once it has exited (None while it runs, or when a signal ended it).
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
            .and_then(|s| s.code())
    }

    /// Wait until it exits (or panic after `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) {
        let name = self.name.clone();
        eventually(&format!("{name} exits"), timeout, || {
            (!self.running()).then_some(())
        });
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows what each of its processes said last.
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!("----- last {} lines of {} -----", tail.len(), self.name);
            for l in tail {
                eprintln!("{l}");
            }
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
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
    kubesim_in(None, "127.0.0.1:0", name, dir, extra)
}

/// A simulated cluster listening on `listen`, optionally inside a network namespace.
pub fn kubesim_in(
    netns: Option<&str>,
    listen: &str,
    name: &str,
    dir: &Path,
    extra: &[&str],
) -> (Proc, PathBuf) {
    let kc = dir.join(format!("{name}.kubeconfig"));
    let data = dir.join(name);
    let mut args: Vec<String> = vec![
        "--listen".into(),
        listen.into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--kubeconfig-out".into(),
        kc.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let env = BTreeMap::new();
    let p = match netns {
        Some(ns) => Proc::start_in(ns, name, "cceone-kubesim", &args, &env, dir),
        None => Proc::start(name, "cceone-kubesim", &args, &env, dir),
    };
    eventually(&format!("{name} serving"), Duration::from_secs(30), || {
        kc.exists().then_some(())
    });
    (p, kc)
}

/// `cceone-federation` on a free loopback port with its data in `dir/federation`; returns once
/// it wrote its admin kubeconfig: (process, that kubeconfig).
pub fn federation(dir: &Path) -> (Proc, PathBuf) {
    federation_with(dir, &[])
}

/// [`federation`] with extra flags.
pub fn federation_with(dir: &Path, extra: &[&str]) -> (Proc, PathBuf) {
    let kc = dir.join("fed.kubeconfig");
    let mut args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.join("federation").display().to_string(),
        "--kubeconfig-out".into(),
        kc.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let p = Proc::start(
        "federation",
        "cceone-federation",
        &args,
        &BTreeMap::new(),
        dir,
    );
    eventually("federation serving", Duration::from_secs(60), || {
        kc.exists().then_some(())
    });
    (p, kc)
}

/// The events of an audit log (`audit.k8s.io/v1` Event JSON lines); a line still being
/// written is skipped.
pub fn audit_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Run a command to completion.
pub fn run(bin: &str, args: &[&str]) -> Output {
    let path = if bin == "kubectl" {
        kubectl_bin()
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

/// `cceone up` with its data in `dir/data`, `clusters` simulated members, the hub on
/// `hub_listen` and the federation on a free loopback port; returns once it wrote
/// `admin.kubeconfig` (every member Ready): (process, that kubeconfig).
pub fn cceone_up(dir: &Path, clusters: usize, hub_listen: &str) -> (Proc, PathBuf) {
    let data = dir.join("data");
    let args: Vec<String> = vec![
        "up".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--clusters".into(),
        clusters.to_string(),
        "--hub-listen".into(),
        hub_listen.into(),
        "--federation-listen".into(),
        "127.0.0.1:0".into(),
    ];
    let up = Proc::start("cceone", "cceone", &args, &BTreeMap::new(), dir);
    let admin = data.join("admin.kubeconfig");
    eventually("cceone up ready", Duration::from_secs(120), || {
        admin.exists().then_some(())
    });
    (up, admin)
}

/// `cceonectl --kubeconfig <kc> cluster register <name> --type local --format env`, requiring
/// success: the env file it prints.
pub fn register_env(kc: &Path, name: &str) -> String {
    let kc = kc.display().to_string();
    ok(
        "cceonectl",
        &[
            "--kubeconfig",
            kc.as_str(),
            "cluster",
            "register",
            name,
            "--type",
            "local",
            "--format",
            "env",
        ],
    )
}

/// `kubectl --kubeconfig <kc> args...`, requiring success.
pub fn kubectl(kc: &Path, args: &[&str]) -> String {
    let kc = kc.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str()];
    all.extend_from_slice(args);
    ok("kubectl", &all)
}

/// Print a progress line with the time since the test process started (shown on failure, or
/// with `--nocapture`).
pub fn step(what: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed();
    eprintln!("[e2e {:>6.1}s] {what}", t.as_secs_f64());
}

/// Wait until `f` gives Some, or panic after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if let Some(v) = f() {
            step(&format!(
                "{what} (after {:.1}s)",
                started.elapsed().as_secs_f64()
            ));
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Check that `f` holds every 100 ms for `period` (panics with `what` on the first failure).
pub fn throughout(what: &str, period: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        assert!(f(), "no longer true: {what}");
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
    pub fed: Proc,
    pub fed_kc: PathBuf,
    pub hub: Proc,
    pub hub_port: u16,
    /// The hub's plain-HTTP health and metrics port (on 127.0.0.1).
    pub health_port: u16,
    /// The address the hub listens on (127.0.0.1 unless started with [`Platform::start_at`]).
    pub hub_host: String,
    /// Last, so the processes (and their logs) go before the directory does.
    pub dir: tempfile::TempDir,
}

/// Hub flags the platform sets for tests unless the caller passes them.
const HUB_DEFAULTS: [(&str, &str); 2] = [
    ("--heartbeat-interval-secs", "1"),
    ("--heartbeat-grace-secs", "4"),
];

impl Platform {
    /// Start the federation API and a hub on 127.0.0.1 with short timings for tests.
    pub fn start(hub_extra: &[&str]) -> Platform {
        Platform::start_at("127.0.0.1", hub_extra)
    }

    /// [`Platform::start`] with the hub listening on `host` (which the hub then publishes as
    /// the endpoint agents dial, unless `hub_extra` has `--public-endpoint`).
    pub fn start_at(host: &str, hub_extra: &[&str]) -> Platform {
        let dir = tempfile::tempdir().unwrap();
        let (fed, fed_kc) = kubesim("fed", dir.path(), &["--nodes", "0"]);
        let hub_port = free_port();
        let mut args: Vec<String> = vec![
            "--kubeconfig".into(),
            fed_kc.display().to_string(),
            "--listen".into(),
            format!("{host}:{hub_port}"),
            "--data-dir".into(),
            dir.path().join("hub").display().to_string(),
        ];
        for (flag, value) in HUB_DEFAULTS {
            if !hub_extra.contains(&flag) {
                args.extend([flag.into(), value.into()]);
            }
        }
        let health_port = free_port();
        args.extend(["--health-listen".into(), format!("127.0.0.1:{health_port}")]);
        args.extend(hub_extra.iter().map(|s| s.to_string()));
        let hub = Proc::start("hub", "cceone-hub", &args, &BTreeMap::new(), dir.path());
        let p = Platform {
            dir,
            fed,
            fed_kc,
            hub,
            hub_port,
            health_port,
            hub_host: host.into(),
        };
        p.wait_hub_ready(0);
        p
    }

    /// GET `path` from the hub's plain-HTTP health port: (status code, body).
    pub fn health_get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", self.health_port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    /// Wait for the hub's `hub serving` log line to appear more than `seen` times.
    pub fn wait_hub_ready(&self, seen: usize) {
        eventually("hub ready", Duration::from_secs(60), || {
            (self.hub.log_text().matches("hub serving").count() > seen).then_some(())
        });
    }

    /// kill -9 the hub, start it again on the same port and data, and wait until it serves.
    pub fn restart_hub(&mut self) {
        let seen = self.hub.log_text().matches("hub serving").count();
        self.hub.restart();
        self.wait_hub_ready(seen);
    }

    /// `host:port` of the hub.
    pub fn hub_endpoint(&self) -> String {
        format!("{}:{}", self.hub_host, self.hub_port)
    }

    /// `kubectl --kubeconfig <federation>`.
    pub fn kubectl(&self, args: &[&str]) -> String {
        kubectl(&self.fed_kc, args)
    }

    /// `cceonectl --kubeconfig <federation> args...`, requiring success.
    pub fn cceonectl(&self, args: &[&str]) -> String {
        let kc = self.fed_kc.display().to_string();
        let mut all = vec!["--kubeconfig", kc.as_str()];
        all.extend_from_slice(args);
        ok("cceonectl", &all)
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

    /// A registered cluster as JSON.
    pub fn cluster_json(&self, name: &str) -> Value {
        let text = self.kubectl(&["get", "registeredclusters", name, "-o", "json"]);
        serde_json::from_str(&text).unwrap()
    }

    /// `status.operations[].reason` of a cluster, oldest first.
    pub fn operation_reasons(&self, name: &str) -> Vec<String> {
        self.cluster_json(name)
            .pointer("/status/operations")
            .and_then(Value::as_array)
            .map(|ops| {
                ops.iter()
                    .filter_map(|o| o.get("reason").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Register a cluster; its agent settings as a map.
    pub fn register(&self, name: &str, extra: &[&str]) -> BTreeMap<String, String> {
        let mut args = vec![
            "cluster", "register", name, "--type", "local", "--format", "env",
        ];
        args.extend_from_slice(extra);
        parse_env(&self.cceonectl(&args))
    }

    /// Start an agent for a member with the given settings.
    pub fn agent(&self, name: &str, member_kc: &Path, env: BTreeMap<String, String>) -> Proc {
        self.agent_in(None, name, member_kc, env)
    }

    /// [`Platform::agent`], optionally inside a network namespace.
    pub fn agent_in(
        &self,
        netns: Option<&str>,
        name: &str,
        member_kc: &Path,
        mut env: BTreeMap<String, String>,
    ) -> Proc {
        env.entry("CCEONE_HEALTH_ADDR".into())
            .or_insert_with(|| "127.0.0.1:0".into());
        env.entry("CCEONE_AGENT_ID".into())
            .or_insert_with(|| format!("{name}-agent"));
        let args = vec!["--kubeconfig".to_string(), member_kc.display().to_string()];
        let bin = "cceone-cluster-agent";
        match netns {
            Some(ns) => Proc::start_in(ns, name, bin, &args, &env, self.dir.path()),
            None => Proc::start(name, bin, &args, &env, self.dir.path()),
        }
    }

    /// Wait for a cluster phase.
    pub fn wait_phase(&self, name: &str, phase: &str, timeout: Duration) {
        eventually(&format!("{name} {phase}"), timeout, || {
            (self.cluster_field(name, ".status.phase") == phase).then_some(())
        });
    }

    /// Wait for a status field to read `want`.
    pub fn wait_field(&self, name: &str, path: &str, want: &str, timeout: Duration) {
        let what = format!("{name} {path} == {want:?}");
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.cluster_field(name, path);
            if last == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what} (last {last:?})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The hub's log.
    pub fn hub_log(&self) -> String {
        self.hub.log_text()
    }

    /// The hub CA (PEM), as kept in its data directory.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hub").join("ca").join("ca.crt")).unwrap()
    }

    /// One HTTPS request to the hub (HTTP/1.1, verifying the hub's certificate against its CA).
    pub fn https(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, String)> {
        let (status, body) = https::request(
            &self.hub_endpoint(),
            &self.hub_host,
            &self.ca_pem(),
            method,
            path,
            headers,
            body,
        )?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// The hub's `/metrics` text (from its health port: the public port does not serve it).
    pub fn metrics(&self) -> String {
        let (status, body) = self.health_get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `cceone_hub_refusals_total{reason="<reason>"}`, 0 when absent.
    pub fn refusals(&self, reason: &str) -> u64 {
        metric(
            &self.metrics(),
            &format!("cceone_hub_refusals_total{{reason=\"{reason}\"}}"),
        )
    }

    /// Whether `/healthz` answers 200.
    pub fn healthz_ok(&self) -> bool {
        matches!(self.https("GET", "/healthz", &[], b""), Ok((200, _)))
    }

    /// A proxy kubeconfig for `cluster` from `cceonectl cluster kubeconfig`: (path, token id).
    pub fn proxy_kubeconfig(&self, cluster: &str, file: &str) -> (PathBuf, String) {
        let text = self.cceonectl(&["cluster", "kubeconfig", cluster]);
        let id = text
            .lines()
            .find_map(|l| l.split("revoke-kubeconfig ").nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| panic!("no kubeconfig id in:\n{text}"));
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        (path, id)
    }
}

/// The value of the sample `name` (with its labels, exactly) in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}
