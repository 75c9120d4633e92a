//! Sections 1 and 2: how many idle tunnels one hub holds and what each costs in hub memory,
//! then a reconnect storm — the hub killed (-9) and restarted with every tunnel up — timed
//! until every agent is back. One fresh federation API and hub per transport.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cceone_tunnel::TransportChoice;

use crate::fleet::{self, Fleet};
use crate::platform::{self, Platform};
use crate::report::{progress, secs};

/// What one transport's run measured.
pub(crate) struct TunnelRun {
    /// `TCP` or `QUIC`.
    pub(crate) transport: &'static str,
    /// Tunnels asked for.
    pub(crate) n: usize,
    /// Tunnels established at the end of the fill.
    pub(crate) connected: usize,
    /// Hub sessions reported by `/metrics` then.
    pub(crate) hub_sessions: u64,
    /// Time to establish all of them (first connections, `ramp` in flight).
    pub(crate) fill: Duration,
    /// Hub RSS with every cluster registered and no tunnel (KiB).
    pub(crate) rss_base: u64,
    /// Hub RSS with every tunnel up and idle (KiB).
    pub(crate) rss_full: u64,
    /// Hub file descriptors then.
    pub(crate) fds: usize,
    /// Federation API file descriptors then (mostly the hub's connections to it).
    pub(crate) fed_fds: usize,
    /// Hub CPU use while idle, in percent of one core.
    pub(crate) idle_cpu_pct: f64,
    /// The storm.
    pub(crate) storm: Storm,
}

/// A reconnect storm's figures.
pub(crate) struct Storm {
    /// Agents back (first session after the restart).
    pub(crate) back: usize,
    /// Kill → every agent back (None when not all came back in time).
    pub(crate) all_back: Option<Duration>,
    /// Restart → the new hub answers `/readyz`.
    pub(crate) ready_after: Duration,
    /// Per-agent time back after the kill.
    pub(crate) p50: Duration,
    /// 99th percentile.
    pub(crate) p99: Duration,
    /// CPU the new hub used until every agent was back.
    pub(crate) hub_cpu: Duration,
    /// Hub RSS after the storm, settled (KiB).
    pub(crate) rss_after: u64,
    /// Sessions the agents lost and failed handshakes during the storm.
    pub(crate) failures: u64,
    /// Most file descriptors the new hub held.
    pub(crate) peak_fds: usize,
    /// `/healthz` on a new connection once a second during the storm: the slowest.
    pub(crate) probe_max: Duration,
    /// Probes that took over 1 s (a kubelet probe's default timeout) or failed, of all.
    pub(crate) probes_slow: (usize, usize),
    /// The same on the plain-HTTP health port.
    pub(crate) health_probe_max: Duration,
    /// The same on the plain-HTTP health port.
    pub(crate) health_probes_slow: (usize, usize),
}

/// Wait until the hub uses less than a quarter of a core over a second (at most `max`).
async fn settle(pid: u32, max: Duration) {
    let start = Instant::now();
    while start.elapsed() < max {
        let c0 = platform::cpu_time(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if (platform::cpu_time(pid) - c0) < Duration::from_millis(250) {
            return;
        }
    }
}

/// Run both sections for one transport.
pub(crate) async fn run(
    n: usize,
    transport: TransportChoice,
    max_handshakes: usize,
    quick: bool,
) -> anyhow::Result<TunnelRun> {
    let label = match transport {
        TransportChoice::Quic => "QUIC",
        _ => "TCP",
    };
    progress(format!(
        "{label}: starting a federation API and a hub (--max-handshakes {max_handshakes})"
    ));
    let mut p = Platform::start(max_handshakes).await?;
    let names: Vec<String> = (0..n).map(|i| format!("t{i:05}")).collect();
    let t = Instant::now();
    p.create_clusters(&names, 64).await?;
    progress(format!(
        "{label}: created {n} RegisteredClusters in {}",
        secs(t.elapsed())
    ));
    let t = Instant::now();
    let ca_dir = p.hub_data().join("ca");
    let names2 = names.clone();
    let tls = tokio::task::spawn_blocking(move || fleet::identities(&ca_dir, &names2)).await??;
    progress(format!(
        "{label}: signed {n} agent certificates with the hub CA in {}",
        secs(t.elapsed())
    ));
    // A fresh hub process: it lists every cluster before serving, and its memory holds no
    // leftovers of the 10,000 creations it watched.
    p.hub.restart()?;
    p.wait_hub_ready(Duration::from_secs(120)).await?;
    settle(p.hub.pid(), Duration::from_secs(10)).await;
    let rss_base = platform::rss_kib(p.hub.pid());
    progress(format!(
        "{label}: hub ready with {n} clusters and no tunnel: RSS {:.1} MiB",
        rss_base as f64 / 1024.0
    ));

    let fleet = Fleet::start(&[vec![p.hub_endpoint()]], transport, tls, 256);
    let t = Instant::now();
    let fill_timeout = Duration::from_secs(if quick { 60 } else { 300 });
    let mut last = Instant::now();
    while fleet.stats.connected.load(Ordering::SeqCst) < n && t.elapsed() < fill_timeout {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let own = platform::rss_kib(std::process::id());
        if own > 8 << 20 {
            fleet.stop().await;
            anyhow::bail!(
                "{label}: the test agents in this process grew to {} MiB with {} of {n} tunnels up; giving up before the machine runs out of memory",
                own / 1024,
                fleet_connected_now(&p).await
            );
        }
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            progress(format!(
                "{label}: {} / {n} tunnels up ({} failed attempts{})",
                fleet.stats.connected.load(Ordering::SeqCst),
                fleet.stats.failures.load(Ordering::Relaxed),
                last_failure(&fleet)
            ));
        }
    }
    let fill = t.elapsed();
    let connected = fleet.stats.connected.load(Ordering::SeqCst);
    progress(format!(
        "{label}: {connected} / {n} tunnels up after {}; letting the hub settle (this process, with the test agents: RSS {:.0} MiB)",
        secs(fill),
        platform::rss_kib(std::process::id()) as f64 / 1024.0
    ));
    settle(
        p.hub.pid(),
        Duration::from_secs(if quick { 10 } else { 30 }),
    )
    .await;
    let pid = p.hub.pid();
    let window = Duration::from_secs(if quick { 5 } else { 10 });
    let c0 = platform::cpu_time(pid);
    tokio::time::sleep(window).await;
    let idle_cpu_pct = (platform::cpu_time(pid) - c0).as_secs_f64() / window.as_secs_f64() * 100.0;
    let rss_full = platform::rss_kib(pid);
    let fds = platform::fds(pid);
    let fed_fds = platform::fds(p.fed.pid());
    let hub_sessions = p.hub_metric("cceone_hub_sessions").await;
    progress(format!(
        "{label}: idle with {connected} tunnels: hub RSS {:.1} MiB, {fds} fds, {idle_cpu_pct:.0}% CPU, {hub_sessions} sessions in /metrics",
        rss_full as f64 / 1024.0
    ));

    if std::env::var("BENCH_SKIP_STORM").is_ok_and(|v| v == "1") {
        fleet.stop().await;
        p.hub.interrupt(Duration::from_secs(120)).await;
        anyhow::bail!("BENCH_SKIP_STORM=1: stopped after the idle measurement");
    }
    // The storm.
    progress(format!(
        "{label}: kill -9 the hub with {connected} tunnels up, restart it at once"
    ));
    let failures0 = fleet.stats.failures.load(Ordering::Relaxed);
    fleet.stats.new_epoch();
    let t0 = Instant::now();
    let ready_after = p.restart_hub().await?;
    progress(format!(
        "{label}: new hub serving after {}",
        secs(ready_after)
    ));
    let storm_timeout = Duration::from_secs(if quick { 60 } else { 180 });
    let mut last = Instant::now();
    let mut all_back = None;
    let mut hub_cpu = Duration::ZERO;
    let mut peak_fds = 0;
    // Probes run on their own, one started every second, so a slow one does not hide others.
    let probes: std::sync::Arc<std::sync::Mutex<Vec<Option<Duration>>>> = Default::default();
    let health_probes: std::sync::Arc<std::sync::Mutex<Vec<Option<Duration>>>> = Default::default();
    let probe_hub = (p.hub_port, p.ca_pem.clone(), p.health_port);
    let (probe_log, health_log) = (
        std::sync::Arc::clone(&probes),
        std::sync::Arc::clone(&health_probes),
    );
    let prober = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let slot = |log: &std::sync::Mutex<Vec<Option<Duration>>>| {
            let mut l = log.lock().unwrap();
            l.push(None);
            l.len() - 1
        };
        loop {
            tick.tick().await;
            let (port, ca, health_port) = probe_hub.clone();
            let log = std::sync::Arc::clone(&probe_log);
            let i = slot(&log);
            tokio::spawn(async move {
                if let Some(d) = platform::probe_healthz(port, &ca).await {
                    log.lock().unwrap()[i] = Some(d);
                }
            });
            let log = std::sync::Arc::clone(&health_log);
            let i = slot(&log);
            tokio::spawn(async move {
                if let Some(d) = platform::probe_health_port(health_port).await {
                    log.lock().unwrap()[i] = Some(d);
                }
            });
        }
    });
    while t0.elapsed() < storm_timeout {
        if fleet.stats.back.load(Ordering::SeqCst) >= connected {
            all_back = Some(t0.elapsed());
            hub_cpu = platform::cpu_time(p.hub.pid());
            break;
        }
        peak_fds = peak_fds.max(platform::fds(p.hub.pid()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            progress(format!(
                "{label}: {} / {connected} agents back ({} failed attempts{}); hub fds {peak_fds}",
                fleet.stats.back.load(Ordering::SeqCst),
                fleet.stats.failures.load(Ordering::Relaxed) - failures0,
                last_failure(&fleet)
            ));
        }
    }
    prober.abort();
    // A probe still waiting when everyone is back counts as slow (None).
    let probes = probes.lock().unwrap().clone();
    let health_probes = health_probes.lock().unwrap().clone();
    let slowest = |probes: &[Option<Duration>]| {
        probes
            .iter()
            .map(|p| p.unwrap_or(Duration::MAX))
            .max()
            .map_or(Duration::ZERO, |m| m.min(t0.elapsed()))
    };
    let slow = |probes: &[Option<Duration>]| {
        (
            probes
                .iter()
                .filter(|p| p.is_none_or(|d| d > Duration::from_secs(1)))
                .count(),
            probes.len(),
        )
    };
    let back_after = fleet.stats.back_after();
    let back = back_after.len();
    if all_back.is_none() {
        hub_cpu = platform::cpu_time(p.hub.pid());
    }
    progress(format!(
        "{label}: {back} / {connected} back after {}",
        secs(t0.elapsed())
    ));
    settle(
        p.hub.pid(),
        Duration::from_secs(if quick { 10 } else { 30 }),
    )
    .await;
    let rss_after = platform::rss_kib(p.hub.pid());
    let storm = Storm {
        back,
        all_back,
        ready_after,
        p50: crate::report::percentile(&back_after, 50.0),
        p99: crate::report::percentile(&back_after, 99.0),
        hub_cpu,
        rss_after,
        failures: fleet.stats.failures.load(Ordering::Relaxed) - failures0,
        peak_fds,
        probe_max: slowest(&probes),
        probes_slow: slow(&probes),
        health_probe_max: slowest(&health_probes),
        health_probes_slow: slow(&health_probes),
    };
    fleet.stop().await;
    drop(p);
    Ok(TunnelRun {
        transport: label,
        n,
        connected,
        hub_sessions,
        fill,
        rss_base,
        rss_full,
        fds,
        fed_fds,
        idle_cpu_pct,
        storm,
    })
}

async fn fleet_connected_now(p: &Platform) -> u64 {
    p.hub_metric("cceone_hub_sessions").await
}

fn last_failure(fleet: &Fleet) -> String {
    let f = fleet.stats.last_failure.lock().unwrap().clone();
    if f.is_empty() {
        String::new()
    } else {
        format!("; last: {}", f.chars().take(120).collect::<String>())
    }
}
