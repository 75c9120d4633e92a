//! The system under test, in one of two shapes:
//!
//! - `kubesim`: `cceone::up` in this process (federation, hub, N simulated member clusters each
//!   with a real agent dialing the hub over a real tunnel); everything shares one process.
//! - `light`: the federation and the hub each in a process of their own (this binary
//!   re-executed in a role), and N light members ([`crate::light`]) in this process, so CPU and
//!   memory are measured per component.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::light;
use crate::procs::{ChildProc, Pid};
use crate::roles::{FEDERATION_KUBECONFIG, HUB_ADDR, HUB_CA};
use crate::{Members, Params};

/// The running system.
pub(crate) enum Platform {
    InProcess {
        up: Box<cceone::Up>,
    },
    Processes {
        federation: ChildProc,
        hub: ChildProc,
        fleet: light::Fleet,
    },
}

/// CPU time used so far, per component (`None`: not a process of its own).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cpu {
    pub(crate) federation: Option<Duration>,
    pub(crate) hub: Option<Duration>,
    /// This process: the members and watchers (light), or everything (kubesim).
    pub(crate) me: Duration,
}

impl Cpu {
    /// `self - earlier`, component by component.
    pub(crate) fn since(&self, earlier: &Cpu) -> Cpu {
        let d = |a: Option<Duration>, b: Option<Duration>| {
            Some(a?.saturating_sub(b.unwrap_or_default()))
        };
        Cpu {
            federation: d(self.federation, earlier.federation),
            hub: d(self.hub, earlier.hub),
            me: self.me.saturating_sub(earlier.me),
        }
    }
}

/// Resident memory (current, peak) in KiB, per component.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) federation: Option<(u64, u64)>,
    pub(crate) hub: Option<(u64, u64)>,
    pub(crate) me: (u64, u64),
}

fn mem(pid: Pid) -> (u64, u64) {
    (pid.rss_kib(), pid.hwm_kib())
}

impl Platform {
    /// Start the system for `p` with its data in `dir`.
    pub(crate) async fn start(
        p: &Params,
        dir: &Path,
        on_delivery: light::OnDelivery,
    ) -> anyhow::Result<Platform> {
        match p.members {
            Members::Kubesim => Platform::in_process(p, dir).await,
            Members::Light => Platform::processes(p, dir, on_delivery).await,
        }
    }

    async fn in_process(p: &Params, dir: &Path) -> anyhow::Result<Platform> {
        let up = cceone::up(cceone::UpConfig {
            data_dir: dir.to_path_buf(),
            clusters: p.n,
            hub_listen: "127.0.0.1:0".parse()?,
            federation_listen: "127.0.0.1:0".parse()?,
            nodes_per_cluster: p.nodes,
            node_cpu: "64".into(),
            node_memory: "256Gi".into(),
            not_ready_nodes: 0,
            virtual_nodes: 0,
        })
        .await?;
        Ok(Platform::InProcess { up: Box::new(up) })
    }

    async fn processes(
        p: &Params,
        dir: &Path,
        on_delivery: light::OnDelivery,
    ) -> anyhow::Result<Platform> {
        std::fs::create_dir_all(dir)?;
        for f in [FEDERATION_KUBECONFIG, HUB_CA, HUB_ADDR] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let mut federation = ChildProc::spawn("federation", dir)?;
        println!(
            "  federation process: pid {}, log {}",
            federation.pid(),
            federation.log().display()
        );
        federation
            .wait_for_file(&dir.join(FEDERATION_KUBECONFIG), Duration::from_secs(120))
            .await?;
        let mut hub = ChildProc::spawn("hub", dir)?;
        println!(
            "  hub process: pid {}, log {}",
            hub.pid(),
            hub.log().display()
        );
        let hub_addr = hub
            .wait_for_file(&dir.join(HUB_ADDR), Duration::from_secs(120))
            .await?;
        let hub_ca = std::fs::read_to_string(dir.join(HUB_CA))?;
        let fed = crate::client_from(&dir.join(FEDERATION_KUBECONFIG)).await?;
        let fleet =
            light::Fleet::start(&fed, hub_addr.trim(), &hub_ca, p.n, p.nodes, on_delivery).await?;
        wait_ready(&fed, p.n, fleet.stats()).await?;
        Ok(Platform::Processes {
            federation,
            hub,
            fleet,
        })
    }

    /// The federation's admin kubeconfig.
    pub(crate) fn fed_kubeconfig(&self, dir: &Path) -> PathBuf {
        match self {
            Platform::InProcess { up } => up.admin_kubeconfig.clone(),
            Platform::Processes { .. } => dir.join(FEDERATION_KUBECONFIG),
        }
    }

    pub(crate) fn cpu(&self) -> Cpu {
        match self {
            Platform::InProcess { .. } => Cpu {
                federation: None,
                hub: None,
                me: Pid::Me.cpu(),
            },
            Platform::Processes {
                federation, hub, ..
            } => Cpu {
                federation: Some(Pid::Other(federation.pid()).cpu()),
                hub: Some(Pid::Other(hub.pid()).cpu()),
                me: Pid::Me.cpu(),
            },
        }
    }

    pub(crate) fn memory(&self) -> Memory {
        match self {
            Platform::InProcess { .. } => Memory {
                federation: None,
                hub: None,
                me: mem(Pid::Me),
            },
            Platform::Processes {
                federation, hub, ..
            } => Memory {
                federation: Some(mem(Pid::Other(federation.pid()))),
                hub: Some(mem(Pid::Other(hub.pid()))),
                me: mem(Pid::Me),
            },
        }
    }

    /// The light members' counters, in light mode.
    pub(crate) fn light_stats(&self) -> Option<Arc<light::Stats>> {
        match self {
            Platform::InProcess { .. } => None,
            Platform::Processes { fleet, .. } => Some(Arc::clone(fleet.stats())),
        }
    }

    /// Works applied by the members: the agents' `cceone_agent_works_applied_total` (kubesim),
    /// or deliveries received (light).
    pub(crate) async fn applies(&self, dir: &Path, n: usize) -> u64 {
        match self {
            Platform::InProcess { .. } => agent_applies(dir, n).await,
            Platform::Processes { fleet, .. } => fleet
                .stats()
                .deliveries
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Stop everything: members first, then the hub, then the federation.
    pub(crate) async fn shutdown(self) {
        match self {
            Platform::InProcess { up } => up.shutdown().await,
            Platform::Processes {
                federation,
                hub,
                fleet,
            } => {
                fleet.stop().await;
                hub.stop(Duration::from_secs(5)).await;
                federation.stop(Duration::from_secs(10)).await;
            }
        }
    }
}

/// Wait until `n` federation Clusters are Ready, saying how it goes every 5 s.
async fn wait_ready(fed: &kube::Client, n: usize, stats: &light::Stats) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(120) + Duration::from_millis(500 * n as u64);
    let mut last_report = Instant::now();
    loop {
        let ready = cceone::clusters_ready(fed).await;
        if ready >= n {
            return Ok(());
        }
        let connected = stats.connected.load(Ordering::Relaxed);
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            println!(
                "  [{:>6.1} s] members connected {connected}/{n}, Clusters Ready {ready}/{n}",
                start.elapsed().as_secs_f64()
            );
        }
        if Instant::now() > deadline {
            let last = stats
                .last_failure
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default();
            anyhow::bail!(
                "only {ready} of {n} Clusters became Ready ({connected} members connected, {} failures; last: {last})",
                stats.failures.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `cceone_agent_works_applied_total` summed over the kubesim members' agents.
async fn agent_applies(dir: &Path, n: usize) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut total = 0;
    for i in 1..=n {
        let Ok(url) = std::fs::read_to_string(dir.join(format!("members/member{i}.agent"))) else {
            continue;
        };
        let addr = url.trim().trim_start_matches("http://").to_string();
        let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
            continue;
        };
        let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let mut out = String::new();
        if s.write_all(req.as_bytes()).await.is_ok() && s.read_to_string(&mut out).await.is_ok() {
            total += out
                .lines()
                .find_map(|l| l.strip_prefix("cceone_agent_works_applied_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}
