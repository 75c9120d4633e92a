//! Test support: start the real `cceone-kubesim` binary on a free port with its own data
//! directory, wait until it serves, drive it with the real `kubectl` and with kube-rs, restart or
//! `kill -9` it, and wait on conditions with deadlines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running simulator process.
pub struct Sim {
    child: Option<Child>,
    /// Its data directory (kept across restarts).
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// The port it listens on (reused by restarts).
    pub port: u16,
    args: Vec<String>,
}

fn kubeconfig_port(path: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))?;
    server.rsplit(':').next()?.trim().parse().ok()
}

impl Sim {
    /// Start with extra flags (e.g. `["--nodes", "2"]`).
    pub fn start(extra: &[&str]) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let mut sim = Sim {
            child: None,
            dir,
            kubeconfig,
            port: 0,
            args: extra.iter().map(|s| s.to_string()).collect(),
        };
        sim.spawn("127.0.0.1:0");
        sim
    }

    fn spawn(&mut self, listen: &str) {
        let _ = std::fs::remove_file(&self.kubeconfig);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("sim.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cceone-kubesim"))
            .args(["--listen", listen, "--data-dir"])
            .arg(self.dir.path().join("data"))
            .arg("--kubeconfig-out")
            .arg(&self.kubeconfig)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(port) = kubeconfig_port(&self.kubeconfig) {
                self.port = port;
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("simulator exited early ({status}); log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "simulator did not serve within 30s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The simulator's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    /// `kill -9` the process (no chance to flush anything).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop gracefully (SIGINT, as Ctrl-C).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.wait();
        }
    }

    /// Start again on the same port with the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        let listen = format!("127.0.0.1:{}", self.port);
        self.spawn(&listen);
    }

    /// Start again after a crash (the process must already be gone).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        let listen = format!("127.0.0.1:{}", self.port);
        self.spawn(&listen);
    }

    /// Run the real kubectl against this simulator.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// Run kubectl with `stdin` piped in.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl must be installed (see .ci/run)");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail with exit code 1; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_stdin(args, None)
    }

    /// kubectl fed `stdin` that must fail with exit code 1; returns its stderr.
    pub fn fails_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_stdin(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(1),
            "kubectl {args:?} should fail; stdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        stderr(&out)
    }

    /// `kubectl apply -f -` of `yaml`, which must succeed; returns stdout.
    pub fn apply(&self, yaml: &str) -> String {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    /// `kubectl get <what> -o jsonpath=<expr>`.
    pub fn jsonpath(&self, what: &[&str], expr: &str) -> String {
        let arg = format!("jsonpath={expr}");
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend(["-o", &arg]);
        self.ok(&args)
    }

    /// `kubectl get <what> -o json`, parsed.
    pub fn get_json(&self, what: &[&str]) -> serde_json::Value {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// Write `text` to `name` in the simulator's directory; returns the path as kubectl takes it.
    pub fn write_file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Run kubectl of exactly `minor` (e.g. "1.27"), installed beside the version dispatcher as
    /// `kubectl.<minor>` (the dispatcher picks by the server's version but falls back to its
    /// own when the probe is slow).
    pub fn kubectl_exact(&self, minor: &str, args: &[&str]) -> Output {
        let which = Command::new("sh")
            .args(["-c", "command -v kubectl"])
            .output()
            .unwrap();
        let dispatcher =
            std::fs::canonicalize(String::from_utf8_lossy(&which.stdout).trim()).unwrap();
        let exact = dispatcher.with_file_name(format!("kubectl.{minor}"));
        assert!(
            exact.exists(),
            "kubectl {minor} must be installed beside {}",
            dispatcher.display()
        );
        Command::new(exact)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }

    /// A kube-rs client from the written kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A process's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The rows of a kubectl table, each split into its cells.
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// The row of `table` whose first cell is `name`.
pub fn row(table: &str, name: &str) -> Option<Vec<String>> {
    rows(table)
        .into_iter()
        .find(|r| r.first().map(String::as_str) == Some(name))
}

/// The kubectl to use (`KUBECTL` overrides).
pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

/// Wait until `f` returns Some, or panic with `what` after `timeout`.
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
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like [`eventually`], for a check that says what it saw: `f` returns `Ok` when done or
/// `Err(seen)`, and a timeout reports the last `seen` (a flake then shows how far it got).
pub fn eventually_seen<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for: {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Async flavour of [`eventually`].
pub async fn eventually_async<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Make sure the official Python client (`import kubernetes`) is there, installing it with pip
/// the first time.
pub fn ensure_python_client() {
    let ready = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .unwrap()
        .success();
    if !ready {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "kubernetes"])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install kubernetes failed");
    }
}

/// Run a Python `script` with `args` (`sys.argv[1:]`).
pub fn python(script: &str, args: &[&std::ffi::OsStr]) -> Output {
    Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap()
}

/// Run a Python `script` that must succeed; returns its stdout.
pub fn python_ok(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = python(script, args);
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}
