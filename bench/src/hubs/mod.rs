//! Section 6: several hubs against one federation API. Three `cceone-hub` processes (hub-a,
//! hub-b, hub-c) share the CA through the API; N lightweight agents ([`crate::fleet`]) are each
//! given all three endpoints in the order `cceonectl cluster register` renders for their
//! cluster (`hubinfo::agent_order`: a real agent starts at the first of its list, and after
//! losing a hub goes on to the next). With every cluster Running, hub-a is killed (-9) and
//! timed until each of its clusters is Running again held by hub-b or hub-c, as a watch on the
//! federation API sees their status; then hub-a is started again and the clusters watched for a
//! while: none may move back or leave Running. Last, proxied requests per second through the
//! hub holding a cluster's tunnel and through one that forwards them there ([`forward`]).

mod forward;
mod status;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cceone_tunnel::TransportChoice;

pub(crate) use forward::Forwarding;

use crate::fleet::{self, Fleet};
use crate::platform::{self, Proc};
use crate::report::{progress, secs};

/// The hubs' ids, in the order their endpoints are listed.
const IDS: [&str; 3] = ["hub-a", "hub-b", "hub-c"];

/// One hub process.
pub(crate) struct HubProc {
    id: String,
    port: u16,
    health: u16,
    proc: Proc,
}

impl HubProc {
    /// `host:port` agents and clients dial.
    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One sample of its `/metrics` (0 when absent or unreachable).
    async fn metric(&self, name: &str) -> u64 {
        match platform::health_get(self.health, "/metrics").await {
            Some((200, text)) => platform::metric(&text, name),
            _ => 0,
        }
    }

    /// Wait until `/readyz` answers 200 on its health port.
    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let t = Instant::now();
        loop {
            if let Some((200, _)) = platform::health_get(self.health, "/readyz").await {
                return Ok(t.elapsed());
            }
            anyhow::ensure!(
                self.proc.running(),
                "{} exited:\n{}",
                self.id,
                platform::tail(&self.proc.log_text(), 20)
            );
            anyhow::ensure!(t.elapsed() < timeout, "{} did not become ready", self.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The federation API, the hubs and the watch on the clusters' status.
pub(crate) struct Set {
    dir: tempfile::TempDir,
    _fed: Proc,
    fed_client: kube::Client,
    hubs: Vec<HubProc>,
    ca_pem: String,
    record: Arc<Mutex<status::Record>>,
    watch: tokio::task::JoinHandle<()>,
}

impl Drop for Set {
    fn drop(&mut self) {
        self.watch.abort();
        if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
            let dir = std::mem::replace(&mut self.dir, tempfile::TempDir::new_in("/tmp").unwrap());
            eprintln!("  (kept {})", dir.keep().display());
        }
    }
}

impl Set {
    /// Every hub's endpoint, in [`IDS`] order.
    fn endpoints(&self) -> Vec<String> {
        self.hubs.iter().map(HubProc::endpoint).collect()
    }

    fn hub(&self, id: &str) -> anyhow::Result<&HubProc> {
        self.hubs
            .iter()
            .find(|h| h.id == id)
            .ok_or_else(|| anyhow::anyhow!("no hub {id:?}"))
    }

    /// A federation API holding `names`, and three hubs sharing the CA the first one publishes
    /// (generated here in its data directory, so the benchmark can sign agent certificates).
    async fn start(
        names: &[String],
        max_handshakes: usize,
        max_per_source: usize,
    ) -> anyhow::Result<Set> {
        let dir = tempfile::tempdir()?;
        let (fed, fed_kc) = platform::kubesim(dir.path(), "federation", &["--nodes", "0"]).await?;
        let fed_client = platform::client_from_file(&fed_kc).await?;
        // The hubs would install the CRDs; the clusters are created before any hub starts, so
        // each lists them all at once, as after a restart.
        cceone_platform::ensure_crds(&fed_client, "cceone-bench").await?;
        let t = Instant::now();
        platform::create_clusters(&fed_client, names, 64).await?;
        progress(format!(
            "hubs: created {} RegisteredClusters in {}",
            names.len(),
            secs(t.elapsed())
        ));
        let ca = cceone_platform::ca::HubCa::load_or_generate(&dir.path().join(IDS[0]).join("ca"))?;
        let (record, watch) = status::watch(&fed_client);
        let mut set = Set {
            ca_pem: ca.ca_pem().to_string(),
            dir,
            _fed: fed,
            fed_client,
            hubs: Vec::new(),
            record,
            watch,
        };
        for (i, id) in IDS.iter().enumerate() {
            let (port, health) = (platform::free_port()?, platform::free_port()?);
            let args = vec![
                "--kubeconfig".into(),
                fed_kc.display().to_string(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--data-dir".into(),
                set.dir.path().join(id).display().to_string(),
                "--hub-id".into(),
                id.to_string(),
                "--max-handshakes".into(),
                max_handshakes.to_string(),
                "--max-per-source".into(),
                max_per_source.to_string(),
                "--health-listen".into(),
                format!("127.0.0.1:{health}"),
            ];
            let mut env = BTreeMap::new();
            env.insert(
                "RUST_LOG".into(),
                std::env::var("BENCH_HUB_LOG").unwrap_or_else(|_| "info".into()),
            );
            let proc = Proc::start(id, "cceone-hub", args, env, set.dir.path())?;
            set.hubs.push(HubProc {
                id: id.to_string(),
                port,
                health,
                proc,
            });
            // The first hub publishes the CA; the others adopt it, so they start after it.
            if i == 0 {
                set.hubs[0].wait_ready(Duration::from_secs(120)).await?;
            }
        }
        for h in &mut set.hubs {
            h.wait_ready(Duration::from_secs(120)).await?;
        }
        Ok(set)
    }
}

/// What one run measured.
pub(crate) struct HubsRun {
    /// `TCP` or `QUIC`.
    pub(crate) transport: &'static str,
    /// Fleet start → every agent holds a session.
    pub(crate) fill: Duration,
    /// Fleet start → every cluster Running in the federation API.
    pub(crate) running_after: Duration,
    /// Clusters Running per hub before the kill.
    pub(crate) spread: BTreeMap<String, usize>,
    /// How long the last tunnel had been up at the kill.
    pub(crate) up_for: Duration,
    /// The hub killed.
    pub(crate) victim: String,
    /// Clusters it held.
    pub(crate) held: usize,
    /// Kill → every one of them Running on another hub (None: not all in time).
    pub(crate) all_moved: Option<Duration>,
    /// The moves, read from the status changes.
    pub(crate) failover: status::Failover,
    /// Per agent of the victim: kill → its session on another hub (HelloAck).
    pub(crate) agents_back: Vec<Duration>,
    /// Failed dials and refused handshakes from the kill until every cluster moved.
    pub(crate) failures: u64,
    /// CPU of the two other hubs and of the federation API from the kill until every cluster
    /// moved.
    pub(crate) cpu: (Duration, Duration),
    /// Clusters Running per hub at the end.
    pub(crate) spread_after: BTreeMap<String, usize>,
    /// The victim started again → ready.
    pub(crate) restart_ready: Duration,
    /// How long the clusters were watched with the victim back.
    pub(crate) watched: Duration,
    /// Sessions the restarted victim held at the end.
    pub(crate) victim_sessions: u64,
    /// Proxied requests through the owning and a forwarding hub.
    pub(crate) forwarding: Option<Forwarding>,
}

/// The sizes of one run.
pub(crate) struct Sizes {
    /// Tunnels.
    pub(crate) n: usize,
    /// Hubs' `--max-handshakes`.
    pub(crate) max_handshakes: usize,
    /// Hubs' `--max-per-source`: every test agent dials from 127.0.0.1, where real agents
    /// come from an address each, so by default no lower than the tunnels.
    pub(crate) max_per_source: usize,
    /// Every tunnel up at least this long before the kill (the agents' backoff starts over
    /// after a connection that lasted 60 s).
    pub(crate) hold: Duration,
    /// Watch with the victim back for this long.
    pub(crate) watch: Duration,
    /// Bound on each wait (fill, every cluster Running, the move).
    pub(crate) timeout: Duration,
    /// Proxied GETs in flight.
    pub(crate) concurrency: usize,
    /// Seconds of proxied GETs each way.
    pub(crate) proxy_secs: Duration,
}

/// Run the section over `transport`.
pub(crate) async fn run(transport: TransportChoice, sz: &Sizes) -> anyhow::Result<HubsRun> {
    let label = match transport {
        TransportChoice::Quic => "QUIC",
        _ => "TCP",
    };
    let n = sz.n;
    let names: Vec<String> = (0..n).map(|i| format!("h{i:05}")).collect();
    let mut set = Set::start(&names, sz.max_handshakes, sz.max_per_source).await?;
    let t = Instant::now();
    let ca_dir = set.dir.path().join(IDS[0]).join("ca");
    let names2 = names.clone();
    let tls = tokio::task::spawn_blocking(move || fleet::identities(&ca_dir, &names2)).await??;
    progress(format!(
        "hubs {label}: signed {n} agent certificates in {}; three hubs ready",
        secs(t.elapsed())
    ));

    let all: HashSet<String> = names.iter().cloned().collect();
    // Each agent's list as `cceonectl cluster register` renders it for its cluster.
    let endpoints = set.endpoints();
    let lists: Vec<Vec<String>> = names
        .iter()
        .map(|c| {
            cceone_platform::hubinfo::agent_order(&endpoints, c)
                .into_iter()
                .map(String::from)
                .collect()
        })
        .collect();
    let fleet = Fleet::start(&lists, transport, tls, 256);
    let t = Instant::now();
    let mut last = Instant::now();
    let mut fill = None;
    loop {
        let connected = fleet.stats.connected.load(Ordering::SeqCst);
        if fill.is_none() && connected >= n {
            fill = Some(t.elapsed());
        }
        let running = set.record.lock().unwrap().running(&all);
        if fill.is_some() && running >= n {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < sz.timeout,
            "hubs {label}: {connected} / {n} tunnels up and {running} clusters Running after {}",
            secs(t.elapsed())
        );
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            progress(format!(
                "hubs {label}: {connected} / {n} tunnels up, {running} Running {:?} ({} failed attempts)",
                set.record.lock().unwrap().per_hub(),
                fleet.stats.failures.load(Ordering::Relaxed)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running_after = t.elapsed();
    let fill = fill.unwrap_or(running_after);
    let spread = set.record.lock().unwrap().per_hub();
    progress(format!(
        "hubs {label}: {n} tunnels up after {}, every cluster Running after {}: {spread:?}",
        secs(fill),
        secs(running_after)
    ));
    // A hub that dies has usually been up a while: the agents' backoff has started over.
    let up_since = t + fill;
    if up_since.elapsed() < sz.hold {
        progress(format!(
            "hubs {label}: holding the tunnels up {} before the kill",
            secs(sz.hold - up_since.elapsed())
        ));
        tokio::time::sleep(sz.hold - up_since.elapsed()).await;
    }
    let up_for = up_since.elapsed();

    let victim = IDS[0].to_string();
    let before: HashMap<String, status::Held> = set.record.lock().unwrap().now.clone();
    let theirs: HashSet<String> = before
        .iter()
        .filter(|(_, h)| h.hub == victim)
        .map(|(c, _)| c.clone())
        .collect();
    let survivors = [set.hubs[1].proc.pid(), set.hubs[2].proc.pid()];
    let cpu0 = survivors.map(platform::cpu_time);
    let fed_cpu0 = platform::cpu_time(set._fed.pid());
    let failures0 = fleet.stats.failures.load(Ordering::Relaxed);
    progress(format!(
        "hubs {label}: kill -9 {victim} holding {} clusters",
        theirs.len()
    ));
    fleet.stats.new_epoch();
    let killed = Instant::now();
    set.hubs[0].proc.kill();
    let moved_now = |set: &Set| {
        let r = set.record.lock().unwrap();
        theirs
            .iter()
            .filter(|c| {
                r.now
                    .get(*c)
                    .is_some_and(|h| h.running() && h.hub != victim)
            })
            .count()
    };
    let mut last = Instant::now();
    let all_moved = loop {
        let moved = moved_now(&set);
        if moved >= theirs.len() {
            break Some(killed.elapsed());
        }
        if killed.elapsed() > sz.timeout {
            break None;
        }
        if last.elapsed() >= Duration::from_secs(2) {
            last = Instant::now();
            progress(format!(
                "hubs {label}: {moved} / {} Running on another hub, {} agents back ({} failed attempts)",
                theirs.len(),
                fleet.stats.back.load(Ordering::SeqCst),
                fleet.stats.failures.load(Ordering::Relaxed) - failures0
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let cpu = (
        survivors
            .map(platform::cpu_time)
            .iter()
            .zip(cpu0)
            .map(|(a, b)| a.saturating_sub(b))
            .sum(),
        platform::cpu_time(set._fed.pid()).saturating_sub(fed_cpu0),
    );
    let failures = fleet.stats.failures.load(Ordering::Relaxed) - failures0;
    let agents_back = fleet.stats.back_after();
    progress(format!(
        "hubs {label}: {} / {} moved after {}",
        moved_now(&set),
        theirs.len(),
        secs(killed.elapsed())
    ));
    if all_moved.is_none() {
        let r = set.record.lock().unwrap();
        let stuck: Vec<String> = theirs
            .iter()
            .filter_map(|c| {
                let h = r.now.get(c)?;
                (!h.running() || h.hub == victim).then(|| format!("{c}: {} at {}", h.phase, h.hub))
            })
            .take(5)
            .collect();
        progress(format!("hubs {label}: not moved: {stuck:?}"));
    }

    // The victim back: it must take nothing from the others.
    let restarted = Instant::now();
    set.hubs[0].proc.restart()?;
    let restart_ready = set.hubs[0].wait_ready(Duration::from_secs(120)).await?;
    progress(format!(
        "hubs {label}: {victim} ready again after {}; watching for {}",
        secs(restart_ready),
        secs(sz.watch)
    ));
    tokio::time::sleep(sz.watch).await;
    let watched = restarted.elapsed();
    let victim_sessions = set.hubs[0].metric("cceone_hub_sessions").await;
    let (failover, spread_after) = {
        let r = set.record.lock().unwrap();
        (
            status::failover(&r.changes, &before, &victim, killed),
            r.per_hub(),
        )
    };

    let forwarding = if sz.proxy_secs.is_zero() {
        None
    } else {
        Some(forward::run(&set, sz.concurrency, sz.proxy_secs).await?)
    };
    fleet.stop().await;
    Ok(HubsRun {
        transport: label,
        fill,
        running_after,
        spread,
        up_for,
        victim,
        held: theirs.len(),
        all_moved,
        failover,
        agents_back,
        failures,
        cpu,
        spread_after,
        restart_ready,
        watched,
        victim_sessions,
        forwarding,
    })
}
