//! The pieces the benchmarks run as child processes (release binaries of the workspace): a
//! federation API (`cceone-kubesim --nodes 0`, memory only), the hub, simulated members and
//! agents; plus reading a process's resident memory and CPU time from `/proc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use http_body_util::BodyExt;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

/// Where the release binaries are.
pub(crate) fn bin_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

/// Build the hub, the simulator and the agent in release (skipped with `BENCH_NO_BUILD=1`).
pub(crate) fn build() -> anyhow::Result<()> {
    if std::env::var("BENCH_NO_BUILD").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "cceone-hub",
            "-p",
            "cceone-kubesim",
            "-p",
            "cceone-cluster-agent",
        ])
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    anyhow::ensure!(status.success(), "building the release binaries failed");
    Ok(())
}

/// A child process, killed when dropped, logging to a file.
pub(crate) struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Start the release binary `bin`.
    pub(crate) fn start(
        name: &str,
        bin: &str,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        dir: &Path,
    ) -> anyhow::Result<Proc> {
        let mut p = Proc {
            name: name.into(),
            program: bin_dir().join(bin),
            args,
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
        };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // `BENCH_WRAP_<NAME>` runs the program under a tool (valgrind, perf), for digging.
        let wrap =
            std::env::var(format!("BENCH_WRAP_{}", self.name.to_uppercase())).unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut cmd = match words.next() {
            Some(tool) => {
                let mut c = Command::new(tool);
                c.args(words).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        let child = cmd
            .args(&self.args)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// kill -9 and reap.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGINT, then wait up to `timeout` for it to exit (tools such as valgrind write their
    /// report at exit).
    pub(crate) async fn interrupt(&mut self, timeout: Duration) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        }
        let t = Instant::now();
        while self.running() && t.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Start again with the same command line.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    /// Replace one environment variable (takes effect at the next start).
    pub(crate) fn set_env(&mut self, k: &str, v: &str) {
        self.env.insert(k.into(), v.into());
    }

    /// The size of its log so far (to look for lines written after this point).
    pub(crate) fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// Whether its log holds `needle` after byte `from`.
    pub(crate) fn log_has_after(&self, from: u64, needle: &str) -> bool {
        use std::io::{Read, Seek};
        let Ok(mut f) = std::fs::File::open(&self.log) else {
            return false;
        };
        let mut buf = Vec::new();
        if f.seek(std::io::SeekFrom::Start(from)).is_err() || f.read_to_end(&mut buf).is_err() {
            return false;
        }
        String::from_utf8_lossy(&buf).contains(needle)
    }

    /// The log so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it still runs.
    pub(crate) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Its name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory of `pid` in KiB (VmRSS).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:").unwrap_or(0)
}

/// Peak resident memory of `pid` in KiB (VmHWM).
pub(crate) fn hwm_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:").unwrap_or(0)
}

/// Open file descriptors of `pid`.
pub(crate) fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// CPU time (user + system) `pid` has used so far.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Linux reports in USER_HZ, which is 100 on every mainstream architecture.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A free TCP+UDP port on 127.0.0.1.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
}

/// A kube client from a kubeconfig's text.
pub(crate) async fn client_from_yaml(yaml: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).context("parsing a kubeconfig")?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    cfg.read_timeout = Some(Duration::from_secs(120));
    Ok(kube::Client::try_from(cfg)?)
}

/// A simulated cluster process (`cceone-kubesim`, memory only); returns it and its kubeconfig.
pub(crate) async fn kubesim(
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<(Proc, PathBuf)> {
    let kc = dir.join(format!("{name}.kubeconfig"));
    let mut args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--kubeconfig-out".into(),
        kc.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut env = BTreeMap::new();
    env.insert("RUST_LOG".into(), "warn".into());
    let mut p = Proc::start(name, "cceone-kubesim", args, env, dir)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !kc.exists() {
        anyhow::ensure!(p.running(), "{name} exited:\n{}", p.log_text());
        anyhow::ensure!(Instant::now() < deadline, "{name} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((p, kc))
}

/// A client for a kubeconfig file.
pub(crate) async fn client_from_file(path: &Path) -> anyhow::Result<kube::Client> {
    client_from_yaml(&std::fs::read_to_string(path)?).await
}

/// The federation API and one hub.
pub(crate) struct Platform {
    /// Scratch directory (logs, kubeconfigs, the hub's data).
    pub(crate) dir: tempfile::TempDir,
    /// The federation API process.
    pub(crate) fed: Proc,
    /// A client of the federation API.
    pub(crate) fed_client: kube::Client,
    /// The hub process.
    pub(crate) hub: Proc,
    /// The hub's port (TCP and UDP on 127.0.0.1).
    pub(crate) hub_port: u16,
    /// The hub's plain-HTTP health port.
    pub(crate) health_port: u16,
    /// The hub CA (PEM).
    pub(crate) ca_pem: String,
    /// A client of the hub's plain HTTPS endpoints (no credentials).
    hub_http: kube::Client,
}

impl Drop for Platform {
    fn drop(&mut self) {
        if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
            let dir = std::mem::replace(&mut self.dir, tempfile::TempDir::new_in("/tmp").unwrap());
            eprintln!("  (kept {})", dir.keep().display());
        }
    }
}

impl Platform {
    /// Start a federation API and a hub with `--max-handshakes max_handshakes`. The hub's CA is
    /// generated here, in its data directory, so the benchmark can sign agent certificates.
    pub(crate) async fn start(max_handshakes: usize) -> anyhow::Result<Platform> {
        let dir = tempfile::tempdir()?;
        let (fed, fed_kc) = kubesim(dir.path(), "federation", &["--nodes", "0"]).await?;
        let fed_client = client_from_file(&fed_kc).await?;
        let hub_data = dir.path().join("hub");
        let ca = cceone_platform::ca::HubCa::load_or_generate(&hub_data.join("ca"))?;
        let ca_pem = ca.ca_pem().to_string();
        let hub_port = free_port()?;
        let health_port = free_port()?;
        let args = vec![
            "--kubeconfig".into(),
            fed_kc.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{hub_port}"),
            "--data-dir".into(),
            hub_data.display().to_string(),
            "--max-handshakes".into(),
            max_handshakes.to_string(),
            "--health-listen".into(),
            format!("127.0.0.1:{health_port}"),
        ];
        let mut env = BTreeMap::new();
        env.insert(
            "RUST_LOG".into(),
            std::env::var("BENCH_HUB_LOG").unwrap_or_else(|_| "info".into()),
        );
        let hub = Proc::start("hub", "cceone-hub", args, env, dir.path())?;
        let mut cfg = kube::Config::new(format!("https://127.0.0.1:{hub_port}").parse()?);
        cfg.root_cert = Some(pem_certs(&ca_pem)?);
        cfg.connect_timeout = Some(Duration::from_secs(2));
        cfg.read_timeout = Some(Duration::from_secs(10));
        let hub_http = kube::Client::try_from(cfg)?;
        let mut p = Platform {
            dir,
            fed,
            fed_client,
            hub,
            hub_port,
            health_port,
            ca_pem,
            hub_http,
        };
        p.wait_hub_ready(Duration::from_secs(60)).await?;
        Ok(p)
    }

    /// `host:port` agents dial.
    pub(crate) fn hub_endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.hub_port)
    }

    /// The hub's data directory.
    pub(crate) fn hub_data(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    /// GET a path on the hub's HTTPS side: (status, body).
    pub(crate) async fn hub_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let req = http::Request::get(path).body(Vec::new())?;
        let resp = self
            .hub_http
            .send(req.map(kube::client::Body::from))
            .await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Wait until `/readyz` answers 200.
    pub(crate) async fn wait_hub_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if let Ok((200, _)) = self.hub_get("/readyz").await {
                return Ok(start.elapsed());
            }
            anyhow::ensure!(
                self.hub.running(),
                "the hub exited:\n{}",
                tail(&self.hub.log_text(), 20)
            );
            anyhow::ensure!(start.elapsed() < timeout, "the hub did not become ready");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kill the hub (-9), start it again, and wait for its "hub serving" log line (the
    /// listeners are up); returns the time that took.
    pub(crate) async fn restart_hub(&mut self) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let from = self.hub.log_len();
        self.hub.restart()?;
        loop {
            // The line comes early, before the storm's log lines pile up after it.
            if self.hub.log_has_after(from, "hub serving") {
                return Ok(t.elapsed());
            }
            anyhow::ensure!(self.hub.running(), "the hub exited");
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(120),
                "the hub did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One sample from the hub's `/metrics` on its health port (0 when absent or unreachable).
    pub(crate) async fn hub_metric(&self, name: &str) -> u64 {
        match health_get(self.health_port, "/metrics").await {
            Some((200, text)) => metric(&text, name),
            _ => 0,
        }
    }

    /// Create RegisteredClusters `names`, `concurrency` at a time (see [`create_clusters`]).
    pub(crate) async fn create_clusters(
        &self,
        names: &[String],
        concurrency: usize,
    ) -> anyhow::Result<()> {
        create_clusters(&self.fed_client, names, concurrency).await
    }

    /// A RegisteredCluster's status (Null when unreadable).
    pub(crate) async fn cluster_status(&self, name: &str) -> Value {
        let api: Api<DynamicObject> = cceone_platform::registered_clusters(&self.fed_client);
        match api.get(name).await {
            Ok(o) => o.data.get("status").cloned().unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Wait until `pred` holds for the cluster's status.
    pub(crate) async fn wait_status(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let s = self.cluster_status(name).await;
            if pred(&s) {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < timeout,
                "cluster {name} did not reach the expected status; last: {s}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Environment for an agent binary of cluster `name` with `token` (as `cceonectl cluster
    /// register --format env` prints it).
    pub(crate) fn agent_env(
        &self,
        name: &str,
        token: &str,
        transport: &str,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("CCEONE_HUB_ENDPOINT".into(), self.hub_endpoint());
        env.insert("CCEONE_CLUSTER_NAME".into(), name.into());
        env.insert("CCEONE_HUB_CA".into(), self.ca_pem.clone());
        env.insert("CCEONE_BOOTSTRAP_TOKEN".into(), token.into());
        env.insert("CCEONE_TRANSPORT".into(), transport.into());
        env.insert("CCEONE_AGENT_ID".into(), format!("{name}-agent"));
        env.insert("CCEONE_HEALTH_ADDR".into(), "127.0.0.1:0".into());
        env.insert("RUST_LOG".into(), "info,kube=warn".into());
        env
    }
}

/// Create RegisteredClusters `names` (spec only, as `cceonectl cluster register` does),
/// `concurrency` at a time.
pub(crate) async fn create_clusters(
    fed: &kube::Client,
    names: &[String],
    concurrency: usize,
) -> anyhow::Result<()> {
    let api = cceone_platform::registered_clusters(fed);
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let api = api.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": format!("{}/{}", cceone_platform::GROUP, cceone_platform::VERSION),
                    "kind": cceone_platform::KIND,
                    "metadata": {"name": name},
                    "spec": {"type": "local", "provider": "bench", "region": "r1"},
                }))?;
                api.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| format!("creating RegisteredCluster {name}"))?;
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

/// One `GET /healthz` to the hub on `port` on a new connection, as a kubelet probe makes it;
/// its latency, None when it failed.
pub(crate) async fn probe_healthz(port: u16, ca_pem: &str) -> Option<Duration> {
    let t = Instant::now();
    let mut cfg = kube::Config::new(format!("https://127.0.0.1:{port}").parse().ok()?);
    cfg.root_cert = pem_certs(ca_pem).ok();
    cfg.connect_timeout = Some(Duration::from_secs(120));
    cfg.read_timeout = Some(Duration::from_secs(120));
    let client = kube::Client::try_from(cfg).ok()?;
    let req = http::Request::get("/healthz")
        .body(kube::client::Body::from(Vec::new()))
        .ok()?;
    let resp = client.send(req).await.ok()?;
    resp.status().is_success().then(|| t.elapsed())
}

/// `GET /healthz` on a new plain-HTTP connection to the hub's health port: how long it took,
/// or None when it failed.
pub(crate) async fn probe_health_port(port: u16) -> Option<Duration> {
    let t = Instant::now();
    let (status, _) = health_get(port, "/healthz").await?;
    (status == 200).then(|| t.elapsed())
}

/// `GET path` on a new plain-HTTP connection to the hub's health port: (status, body), None
/// when the connection failed.
pub(crate) async fn health_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

/// DER certificates from PEM.
pub(crate) fn pem_certs(pem: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.map(|c| c.to_vec()).map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

/// The value of sample `name` in a Prometheus text exposition.
pub(crate) fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .filter(|r| r.starts_with(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
