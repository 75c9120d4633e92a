//! The parent's side of the separate processes: this binary re-executed in a role
//! (`--role federation|hub --dir D`), its stderr in a log file, killed when the guard drops
//! (early error, panic); and CPU and memory figures of any process from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A child process of this benchmark. Dropping it kills the child; [`ChildProc::stop`] asks it
/// to stop first (its stdin closes, which it takes as the signal to shut down).
pub(crate) struct ChildProc {
    role: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl ChildProc {
    /// Run this binary as `role` with `--dir dir`; stderr goes to `dir/<role>.log`.
    pub(crate) fn spawn(role: &'static str, dir: &Path) -> anyhow::Result<ChildProc> {
        let exe = std::env::current_exe().context("locating this binary")?;
        let log = dir.join(format!("{role}.log"));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        // BENCH_WRAP_<ROLE> runs the child under another program (a profiler), given this
        // binary and its arguments: `BENCH_WRAP_FEDERATION="heaptrack -o /tmp/fed"`.
        let wrap = std::env::var(format!("BENCH_WRAP_{}", role.to_uppercase())).unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(["--role", role, "--dir"])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting the {role} process"))?;
        let stdin = child.stdin.take();
        Ok(ChildProc {
            role,
            child,
            stdin,
            log,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Wait until `file` exists (the child writes it once it serves), failing early when the
    /// child exits first; its contents.
    pub(crate) async fn wait_for_file(
        &mut self,
        file: &Path,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(text) = std::fs::read_to_string(file) {
                return Ok(text);
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the {} process exited ({status}) before writing {}; its log, {}, ends:\n{}",
                    self.role,
                    file.display(),
                    self.log.display(),
                    tail(&self.log, 20)
                );
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the {} process wrote no {} within {timeout:?}; see {}",
                    self.role,
                    file.display(),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ask the child to stop (close its stdin) and wait up to `grace`; then kill it.
    pub(crate) async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Drop kills it.
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Which process: this one, or another by pid.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pid {
    Me,
    Other(u32),
}

impl Pid {
    fn proc_path(self, file: &str) -> String {
        match self {
            Pid::Me => format!("/proc/self/{file}"),
            Pid::Other(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// CPU time (user + system) used so far.
    pub(crate) fn cpu(self) -> Duration {
        let Ok(s) = std::fs::read_to_string(self.proc_path("stat")) else {
            return Duration::ZERO;
        };
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / clock_ticks() as f64)
    }

    fn status_kib(self, key: &str) -> u64 {
        let status = std::fs::read_to_string(self.proc_path("status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    }

    /// Resident memory, KiB.
    pub(crate) fn rss_kib(self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory, KiB.
    pub(crate) fn hwm_kib(self) -> u64 {
        self.status_kib("VmHWM:")
    }
}

/// USER_HZ, the unit of `/proc/PID/stat` times: `getconf CLK_TCK`, else 100 (every mainstream
/// architecture's).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}
