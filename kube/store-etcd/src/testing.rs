//! A throwaway etcd server for tests (feature `test-util`): Debian's `etcd-server` binary
//! (`scripts/test` installs it), on free loopback ports, in its own temporary data directory,
//! killed when dropped. `ETCD_BIN` overrides the binary.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started etcd may take to accept clients.
const READY: Duration = Duration::from_secs(30);

/// TLS files for a test etcd: it serves `https://` with `cert`/`key` and requires client
/// certificates signed by `ca`.
#[derive(Clone, Debug)]
pub struct TestTls {
    /// CA that signed the serving certificate and the client certificates.
    pub ca: PathBuf,
    /// Serving certificate (with an IP SAN for 127.0.0.1).
    pub cert: PathBuf,
    /// Serving key.
    pub key: PathBuf,
}

/// A running etcd; killed (SIGKILL) and its data removed when dropped.
pub struct TestEtcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client: SocketAddr,
    peer: SocketAddr,
    tls: Option<TestTls>,
}

fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn binary() -> PathBuf {
    std::env::var_os("ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("etcd"))
}

impl TestEtcd {
    /// Starts a plain-HTTP etcd and waits until it accepts clients.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(None)
    }

    /// Starts an etcd, with TLS and client-certificate authentication when `tls` is given.
    pub fn start_with(tls: Option<TestTls>) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("etcd-test").tempdir()?;
        // A port picked free may be taken before etcd binds it: try a few pairs.
        let mut last = None;
        for _ in 0..3 {
            let mut etcd = Self {
                child: None,
                client: free_port()?,
                peer: free_port()?,
                dir: tempfile::Builder::new().prefix("etcd-test").tempdir()?,
                tls: tls.clone(),
            };
            match etcd.spawn().and_then(|()| etcd.wait_ready()) {
                Ok(()) => return Ok(etcd),
                Err(e) => last = Some(e),
            }
        }
        drop(dir);
        Err(last.unwrap_or_else(|| std::io::Error::other("etcd did not start")))
    }

    /// The client URL (`http://127.0.0.1:PORT`, or `https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.client)
    }

    /// The data directory (etcd's `--data-dir` is `data` inside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills etcd at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data, and waits until it accepts clients.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()?;
        self.wait_ready()
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let client_url = self.url();
        let peer_url = format!("http://{}", self.peer);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))?;
        let mut cmd = Command::new(binary());
        cmd.arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(tls) = &self.tls {
            cmd.arg(format!("--cert-file={}", tls.cert.display()))
                .arg(format!("--key-file={}", tls.key.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca.display()))
                .arg("--client-cert-auth");
        }
        let child = cmd.spawn().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "starting {} (Debian package etcd-server; scripts/test installs it): {e}",
                    binary().display()
                ),
            )
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the client port accepts connections (and etcd is still running).
    fn wait_ready(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + READY;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                let log =
                    std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
                return Err(std::io::Error::other(format!(
                    "etcd exited with {status}: {}",
                    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                )));
            }
            if TcpStream::connect_timeout(&self.client, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "etcd did not accept clients in time",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}
