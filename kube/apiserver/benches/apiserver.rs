//! Throughput, latency, fan-out and memory figures for the API server, measured the way users hit
//! it: over real HTTPS with kube-rs clients (loading for the list and memory sections goes through
//! `Core` in-process). Prints tables to stdout and progress to stderr; it asserts nothing, so the
//! numbers are for a reader to compare between runs and machines.
//!
//! `cargo bench -p cceone-kube-apiserver --bench apiserver` (about 2-3 minutes on 2 cores);
//! `BENCH_QUICK=1` shrinks every size for a CI smoke run (well under 30 s); `BENCH_SECTIONS=3,4`
//! runs only the listed sections.
//!
//! Everything (server, clients, watchers) shares one process and its cores, so client-side work
//! (TLS, JSON decoding in kube-rs) is part of every figure, as it is for a co-located client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cceone_kube_apiserver::core::{ListOptions, WriteOptions};
use cceone_kube_apiserver::selector::LabelSelector;
use cceone_kube_apiserver::{ApiServer, Core, ServerConfig};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Concurrent clients of the write sections.
const CLIENTS: [usize; 3] = [1, 8, 64];
/// kube-apiserver's API call latency SLO for mutating calls (p99 over a day, per resource/verb).
const SLO_P99: Duration = Duration::from_secs(1);

/// Sizes of one run.
#[derive(Clone, Copy, Debug)]
struct Scale {
    quick: bool,
    /// How long each (store mode, clients) cell of sections 1 and 2 runs.
    cell: Duration,
    list_objects: usize,
    list_runs: usize,
    /// (watchers W, events E) per fan-out run.
    watch: &'static [(usize, usize)],
    /// How long a watcher waits for its events before giving up.
    watch_deadline: Duration,
    mem_objects: usize,
}

fn scale() -> Scale {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    if quick {
        Scale {
            quick,
            cell: Duration::from_millis(300),
            list_objects: 1_000,
            list_runs: 5,
            watch: &[(10, 100), (100, 30), (1000, 5)],
            watch_deadline: Duration::from_secs(20),
            mem_objects: 10_000,
        }
    } else {
        Scale {
            quick,
            cell: Duration::from_secs(4),
            list_objects: 10_000,
            list_runs: 20,
            watch: &[(10, 2000), (100, 1000), (1000, 200)],
            watch_deadline: Duration::from_secs(90),
            mem_objects: 100_000,
        }
    }
}

fn progress(msg: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed();
    eprintln!("[{:6.1}s] {msg}", t.as_secs_f64());
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Latency summary of one measured cell.
#[derive(Clone, Debug, Default)]
struct Stats {
    ok: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn new(mut lat: Vec<Duration>, ok: usize, errors: usize, elapsed: Duration) -> Self {
        lat.sort_unstable();
        Stats {
            ok,
            errors,
            elapsed,
            p50: pct(&lat, 0.50),
            p99: pct(&lat, 0.99),
            max: lat.last().copied().unwrap_or_default(),
        }
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Fsync,
    NoFsync,
    Memory,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Fsync => "disk, fsync on",
            Mode::NoFsync => "disk, fsync off",
            Mode::Memory => "memory only",
        }
    }
}

/// A running server plus what clients need to reach it.
struct Server {
    api: ApiServer,
    cfg: kube::Config,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    async fn start(mode: Mode) -> Res<Server> {
        let dir = match mode {
            Mode::Memory => None,
            Mode::Fsync | Mode::NoFsync => Some(tempfile::tempdir()?),
        };
        let api = ApiServer::start(ServerConfig {
            data_dir: dir.as_ref().map(|d| d.path().to_path_buf()),
            fsync: mode == Mode::Fsync,
            ..Default::default()
        })
        .await?;
        let kc = kube::config::Kubeconfig::from_yaml(&api.admin_kubeconfig("bench"))?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(Server {
            api,
            cfg,
            _dir: dir,
        })
    }

    /// A new kube-rs client (its own connection pool, so its own TLS connection).
    fn client(&self) -> Res<kube::Client> {
        Ok(kube::Client::try_from(self.cfg.clone())?)
    }

    fn core(&self) -> Arc<Core> {
        Arc::clone(self.api.core())
    }

    /// Stops using the server. Deliberately not `ApiServer::shutdown`: closing the store makes
    /// `gc::run` restart its watch recursively on `Closed` until the stack overflows (an
    /// intermittent abort at shutdown). Dropping leaves the idle server's tasks parked instead.
    fn stop(self) {
        drop(self);
    }
}

fn small_cm(name: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(BTreeMap::from([("app".into(), "bench".into())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("key".into(), "value".into())])),
        ..Default::default()
    }
}

/// The in-process form of a small ConfigMap (1% of them share each `bucket` label).
fn cm_json(i: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("cm-{i:06}"), "labels": {"bucket": format!("b{}", i % 100)}},
        "data": {"key": format!("value-{i}")},
    })
}

/// Creates `ids` through `Core` with some concurrency (fast loading, not a measurement).
async fn load(core: &Arc<Core>, ns: &str, ids: std::ops::Range<usize>) -> Res<()> {
    let cms = core.resource("", "v1", "configmaps")?;
    let opts = WriteOptions::default();
    futures::stream::iter(ids)
        .map(|i| {
            let (core, cms, opts) = (Arc::clone(core), Arc::clone(&cms), opts.clone());
            let ns = ns.to_string();
            async move { core.create(&cms, Some(&ns), cm_json(i), &opts).await }
        })
        .buffer_unordered(64)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- 1 + 2: create and patch

/// One client's measurements: latencies of every call, and how many of them failed.
type ClientRun = (Vec<Duration>, usize);

/// Runs `work` once per client concurrently until `dur` has passed; throughput counts successes.
async fn run_clients<F, Fut>(apis: &[Api<ConfigMap>], dur: Duration, work: F) -> Stats
where
    F: Fn(usize, Api<ConfigMap>, Instant) -> Fut,
    Fut: std::future::Future<Output = ClientRun> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + dur;
    let tasks: Vec<_> = apis
        .iter()
        .enumerate()
        .map(|(w, api)| tokio::spawn(work(w, api.clone(), deadline)))
        .collect();
    let mut lat = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        match t.await {
            Ok((l, e)) => {
                ok += l.len() - e;
                errors += e;
                lat.extend(l);
            }
            Err(_) => errors += 1,
        }
    }
    Stats::new(lat, ok, errors, start.elapsed())
}

/// Opens `c` clients on `srv` and warms their TLS connections (a GET of a missing name).
async fn open_clients(srv: &Server, c: usize) -> Res<Vec<Api<ConfigMap>>> {
    let apis: Vec<Api<ConfigMap>> = (0..c)
        .map(|_| Ok(Api::namespaced(srv.client()?, "default")))
        .collect::<Res<_>>()?;
    futures::future::try_join_all(apis.iter().map(|a| a.get_opt("warm-up"))).await?;
    Ok(apis)
}

/// `c` clients each creating small ConfigMaps back to back for `dur`; returns what they made.
async fn create_cell(apis: &[Api<ConfigMap>], dur: Duration) -> (Stats, Arc<Names>) {
    let names: Arc<Names> = Arc::default();
    let names_in = Arc::clone(&names);
    let c = apis.len();
    let stats = run_clients(apis, dur, move |w, api, deadline| {
        let names = Arc::clone(&names_in);
        async move {
            let (mut lat, mut mine, mut errors) = (Vec::new(), Vec::new(), 0);
            let mut i = 0;
            while Instant::now() < deadline {
                let name = format!("c{c}-{w}-{i}");
                i += 1;
                let cm = small_cm(name.clone());
                let t = Instant::now();
                let r = api.create(&PostParams::default(), &cm).await;
                lat.push(t.elapsed());
                match r {
                    Ok(_) => mine.push(name),
                    Err(_) => errors += 1,
                }
            }
            names.put(w, mine);
            (lat, errors)
        }
    })
    .await;
    (stats, names)
}

/// Each client merge-patches the ConfigMaps it created, round robin, for `dur`.
async fn patch_cell(apis: &[Api<ConfigMap>], names: &Names, dur: Duration) -> Stats {
    run_clients(apis, dur, move |w, api, deadline| {
        let mine = names.take(w);
        async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            let mut i = 0;
            while !mine.is_empty() && Instant::now() < deadline {
                let name = &mine[i % mine.len()];
                let body = json!({"data": {"key": format!("v{i}")}});
                i += 1;
                let t = Instant::now();
                let r = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&body))
                    .await;
                lat.push(t.elapsed());
                if r.is_err() {
                    errors += 1;
                }
            }
            (lat, errors)
        }
    })
    .await
}

/// One result row of sections 1 and 2.
struct WriteRow {
    mode: Mode,
    clients: usize,
    create: Stats,
    patch: Stats,
}

/// Creates then merge-patches with 1, 8 and 64 clients against three servers (fsync on, fsync
/// off, memory only). The modes run back to back per client count so that load from elsewhere
/// on a shared machine skews them alike.
async fn write_section(sc: Scale) -> Res<Vec<WriteRow>> {
    let modes = [Mode::Fsync, Mode::NoFsync, Mode::Memory];
    let mut servers = Vec::new();
    for mode in modes {
        servers.push((mode, Server::start(mode).await?));
    }
    let mut rows = Vec::new();
    for c in CLIENTS {
        let mut cells = Vec::new();
        for (mode, srv) in &servers {
            let apis = open_clients(srv, c).await?;
            let (create, names) = create_cell(&apis, sc.cell).await;
            progress(&format!(
                "  create {:<16} C={c:<3}: {:>8.0} obj/s, p99 {} ms",
                mode.label(),
                create.rate(),
                ms(create.p99)
            ));
            cells.push((*mode, apis, create, names));
        }
        for (mode, apis, create, names) in cells {
            let patch = patch_cell(&apis, &names, sc.cell).await;
            progress(&format!(
                "  patch  {:<16} C={c:<3}: {:>8.0} ops/s, p99 {} ms",
                mode.label(),
                patch.rate(),
                ms(patch.p99)
            ));
            rows.push(WriteRow {
                mode,
                clients: c,
                create,
                patch,
            });
        }
    }
    for (_, srv) in servers {
        srv.stop();
    }
    Ok(rows)
}

/// Names each client created, handed from the create cell to the patch cell.
#[derive(Default)]
struct Names(std::sync::Mutex<HashMap<usize, Vec<String>>>);

impl Names {
    fn put(&self, w: usize, names: Vec<String>) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(w, names);
        }
    }

    fn take(&self, w: usize) -> Vec<String> {
        self.0
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&w))
            .unwrap_or_default()
    }
}

fn print_writes(title: &str, unit: &str, rows: &[WriteRow], pick: fn(&WriteRow) -> &Stats) {
    println!();
    println!("{title}");
    println!(
        "{:>7} | {:<16} | {:>9} | {:>8} | {:>8} | {:>8} | {:>6} | {:>9} | SLO p99<=1s",
        "clients", "store", unit, "p50 ms", "p99 ms", "max ms", "errors", "vs memory"
    );
    println!("{}", "-".repeat(102));
    for c in CLIENTS {
        let base = rows
            .iter()
            .find(|r| r.clients == c && r.mode == Mode::Memory)
            .map_or(0.0, |r| pick(r).rate());
        for r in rows.iter().filter(|r| r.clients == c) {
            let s = pick(r);
            let ratio = if base > 0.0 {
                format!("{:.2}x", s.rate() / base)
            } else {
                "-".into()
            };
            println!(
                "{c:>7} | {:<16} | {:>9.0} | {:>8} | {:>8} | {:>8} | {:>6} | {:>9} | {}",
                r.mode.label(),
                s.rate(),
                ms(s.p50),
                ms(s.p99),
                ms(s.max),
                s.errors,
                ratio,
                if s.p99 <= SLO_P99 { "met" } else { "MISSED" },
            );
        }
    }
}

// ---------------------------------------------------------------- 3: list

async fn list_section(sc: Scale) -> Res<()> {
    let srv = Server::start(Mode::Memory).await?;
    let core = srv.core();
    let n = sc.list_objects;
    let t = Instant::now();
    load(&core, "default", 0..n).await?;
    progress(&format!(
        "  loaded {n} ConfigMaps in-process in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let api: Api<ConfigMap> = Api::namespaced(srv.client()?, "default");
    api.list(&ListParams::default().limit(1)).await?;
    let mut rows: Vec<(String, usize, usize, Stats)> = Vec::new();

    let cms = core.resource("", "v1", "configmaps")?;
    let in_process = |opts: ListOptions| {
        let (core, cms) = (Arc::clone(&core), Arc::clone(&cms));
        async move {
            let mut lat = Vec::new();
            let (mut items, mut bytes) = (0, 0);
            for _ in 0..sc.list_runs {
                let t = Instant::now();
                let page = core.list(&cms, Some("default"), &opts).await?;
                let body = core.list_body(&cms, &page);
                lat.push(t.elapsed());
                (items, bytes) = (page.items.len(), body.len());
            }
            Res::Ok((
                items,
                bytes,
                Stats::new(lat, sc.list_runs, 0, Duration::ZERO),
            ))
        }
    };
    let (items, bytes, s) = in_process(ListOptions::default()).await?;
    rows.push(("full, in-process Core::list+body".into(), items, bytes, s));
    let label = Some(LabelSelector::parse("bucket=b7")?);
    let (items, bytes, s) = in_process(ListOptions {
        label,
        ..Default::default()
    })
    .await?;
    rows.push(("bucket=b7 (1%), in-process".into(), items, bytes, s));
    let (items, bytes, s) = in_process(ListOptions {
        limit: Some(1),
        ..Default::default()
    })
    .await?;
    rows.push(("limit=1, in-process".into(), items, bytes, s));
    progress("  in-process lists done");

    for (what, lp) in [
        ("full list, HTTPS kube-rs", ListParams::default()),
        (
            "labelSelector bucket=b7 (1%)",
            ListParams::default().labels("bucket=b7"),
        ),
        ("limit=1 (first page only)", ListParams::default().limit(1)),
    ] {
        let mut lat = Vec::new();
        let mut items = 0;
        for _ in 0..sc.list_runs {
            let t = Instant::now();
            let list = api.list(&lp).await?;
            lat.push(t.elapsed());
            items = list.items.len();
        }
        rows.push((
            what.into(),
            items,
            0,
            Stats::new(lat, sc.list_runs, 0, Duration::ZERO),
        ));
        progress(&format!("  {what} done"));
    }

    let (mut page_lat, mut pass_lat) = (Vec::new(), Vec::new());
    let mut pass_items = 0;
    for _ in 0..sc.list_runs {
        let pass = Instant::now();
        let mut token: Option<String> = None;
        pass_items = 0;
        loop {
            let mut lp = ListParams::default().limit(500);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let t = Instant::now();
            let list = api.list(&lp).await?;
            page_lat.push(t.elapsed());
            pass_items += list.items.len();
            token = list.metadata.continue_.filter(|c| !c.is_empty());
            if token.is_none() {
                break;
            }
        }
        pass_lat.push(pass.elapsed());
    }
    let pages = page_lat.len();
    rows.push((
        "paged limit=500, one page".into(),
        pass_items.min(500),
        0,
        Stats::new(page_lat, pages, 0, Duration::ZERO),
    ));
    rows.push((
        "paged limit=500, whole pass".into(),
        pass_items,
        0,
        Stats::new(pass_lat, sc.list_runs, 0, Duration::ZERO),
    ));
    progress("  paged list done");
    srv.stop();

    println!();
    println!(
        "== 3. list ConfigMaps, {n} objects in one namespace (memory store), {} runs each ==",
        sc.list_runs
    );
    println!(
        "{:<34} | {:>6} | {:>9} | {:>8} | {:>8} | {:>8}",
        "query", "items", "body KiB", "p50 ms", "p99 ms", "max ms"
    );
    println!("{}", "-".repeat(86));
    for (what, items, bytes, s) in rows {
        let kib = if bytes > 0 {
            format!("{:.0}", bytes as f64 / 1024.0)
        } else {
            "-".into()
        };
        println!(
            "{what:<34} | {items:>6} | {kib:>9} | {:>8} | {:>8} | {:>8}",
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- 4: watch fan-out

/// What one watcher saw: (resourceVersion, receipt time) per event, and failures.
type Seen = (Vec<(u64, Instant)>, usize);

async fn watcher(
    api: Api<ConfigMap>,
    rv: String,
    expect: usize,
    gate: Arc<Semaphore>,
    ready: mpsc::Sender<()>,
    deadline: tokio::time::Instant,
) -> Res<Seen> {
    let permit = gate.acquire_owned().await?;
    let stream = api.watch(&WatchParams::default(), &rv).await?;
    drop(permit);
    let _ = ready.send(()).await;
    drop(ready);
    let mut stream = std::pin::pin!(stream);
    let mut seen = Vec::with_capacity(expect);
    let mut errors = 0;
    while seen.len() < expect {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Ok(WatchEvent::Added(cm)))) => {
                let at = Instant::now();
                let rv = cm.metadata.resource_version.as_deref().unwrap_or("0");
                seen.push((rv.parse().unwrap_or(0), at));
            }
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => {}
            Ok(Some(_)) => errors += 1,
        }
    }
    Ok((seen, errors))
}

struct WatchRow {
    w: usize,
    e: usize,
    connect: Duration,
    write_rate: f64,
    delivered: usize,
    rate: f64,
    lag: Stats,
    from_send: Stats,
    early: usize,
    errors: usize,
}

async fn watch_run(srv: &Server, w: usize, e: usize, sc: Scale) -> Res<WatchRow> {
    let core = srv.core();
    let ns = format!("fanout-{w}");
    let nss = core.resource("", "v1", "namespaces")?;
    let ns_obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    core.create(&nss, None, ns_obj, &WriteOptions::default())
        .await?;
    let client = srv.client()?;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let gate = Arc::new(Semaphore::new(64));
    let (ready_tx, mut ready_rx) = mpsc::channel(w);
    let deadline = tokio::time::Instant::now() + sc.watch_deadline;
    let connecting = Instant::now();
    let handles: Vec<_> = (0..w)
        .map(|_| {
            tokio::spawn(watcher(
                api.clone(),
                rv.clone(),
                e,
                Arc::clone(&gate),
                ready_tx.clone(),
                deadline,
            ))
        })
        .collect();
    drop(ready_tx);
    let mut ready = 0;
    while ready < w && ready_rx.recv().await.is_some() {
        ready += 1;
    }
    let connect = connecting.elapsed();
    progress(&format!(
        "  W={w}: {ready} watches open in {:.2} s; writing {e} events",
        connect.as_secs_f64()
    ));

    let writer: Api<ConfigMap> = Api::namespaced(srv.client()?, &ns);
    writer.list(&ListParams::default().limit(1)).await?;
    // resourceVersion -> (request sent, response decoded)
    let mut acks: HashMap<u64, (Instant, Instant)> = HashMap::with_capacity(e);
    let start = Instant::now();
    for i in 0..e {
        let obj = small_cm(format!("ev-{i}"));
        let sent = Instant::now();
        let cm = writer.create(&PostParams::default(), &obj).await?;
        let rv = cm.metadata.resource_version.as_deref().unwrap_or("0");
        acks.insert(rv.parse().unwrap_or(0), (sent, Instant::now()));
    }
    let write_rate = e as f64 / start.elapsed().as_secs_f64();

    let (mut lags, mut from_send) = (Vec::new(), Vec::new());
    let (mut delivered, mut early, mut errors) = (0, 0, w - ready);
    let mut last = start;
    for h in handles {
        match h.await {
            Ok(Ok((seen, errs))) => {
                errors += errs;
                delivered += seen.len();
                for (rv, at) in seen {
                    last = last.max(at);
                    let Some(&(sent, ack)) = acks.get(&rv) else {
                        errors += 1;
                        continue;
                    };
                    from_send.push(at.saturating_duration_since(sent));
                    if at < ack {
                        early += 1;
                    }
                    lags.push(at.saturating_duration_since(ack));
                }
            }
            _ => errors += 1,
        }
    }
    let rate = delivered as f64 / (last - start).as_secs_f64().max(1e-9);
    let lag = Stats::new(lags, delivered, 0, Duration::ZERO);
    let from_send = Stats::new(from_send, delivered, 0, Duration::ZERO);
    progress(&format!(
        "  W={w}: delivered {delivered}/{} at {rate:.0} events/s, lag p99 {} ms",
        w * e,
        ms(lag.p99)
    ));
    Ok(WatchRow {
        w,
        e,
        connect,
        write_rate,
        delivered,
        rate,
        lag,
        from_send,
        early,
        errors,
    })
}

async fn watch_section(sc: Scale) -> Res<()> {
    let srv = Server::start(Mode::Memory).await?;
    let mut rows = Vec::new();
    for &(w, e) in sc.watch {
        rows.push(watch_run(&srv, w, e, sc).await?);
    }
    srv.stop();
    println!();
    println!(
        "== 4. watch fan-out over HTTPS (memory store; W watches on one namespace; one writer creating E ConfigMaps back to back) =="
    );
    println!(
        "{:>5} | {:>5} | {:>9} | {:>8} | {:>15} | {:>9} | {:>17} | {:>17} | {:>6} | {:>6}",
        "W",
        "E",
        "connect s",
        "writes/s",
        "delivered",
        "events/s",
        "ack lag p50/p99",
        "send lag p50/p99",
        "early",
        "errors"
    );
    println!("{}", "-".repeat(124));
    for r in rows {
        println!(
            "{:>5} | {:>5} | {:>9.2} | {:>8.0} | {:>15} | {:>9.0} | {:>17} | {:>17} | {:>6} | {:>6}",
            r.w,
            r.e,
            r.connect.as_secs_f64(),
            r.write_rate,
            format!("{}/{}", r.delivered, r.w * r.e),
            r.rate,
            format!("{}/{}", ms(r.lag.p50), ms(r.lag.p99)),
            format!("{}/{}", ms(r.from_send.p50), ms(r.from_send.p99)),
            r.early,
            r.errors
        );
    }
    println!(
        "(lags in ms, per delivered event. ack lag = watcher receipt - writer got its 201 (0 when the event came first: 'early'); send lag = receipt - writer sent the POST)"
    );
    Ok(())
}

// ---------------------------------------------------------------- 5: memory

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs in a fresh child process so earlier sections' heap does not blur the figures.
async fn mem_child(mode: &str, n: usize) -> Res<()> {
    let disk = mode == "disk";
    let srv = Server::start(if disk { Mode::Fsync } else { Mode::Memory }).await?;
    let core = srv.core();
    load(&core, "default", 0..10).await?;
    let before = rss_kib();
    let t = Instant::now();
    let workers = 4;
    let tasks: Vec<_> = (0..workers)
        .map(|k| {
            let core = Arc::clone(&core);
            tokio::spawn(async move {
                let lo = 10 + k * n / workers;
                let hi = 10 + (k + 1) * n / workers;
                load(&core, "default", lo..hi).await
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    let after = rss_kib();
    let cms = core.resource("", "v1", "configmaps")?;
    let page = core
        .list(&cms, Some("default"), &ListOptions::default())
        .await?;
    let json_bytes: usize = page.items.iter().map(|b| b.len()).sum();
    let avg = json_bytes / page.items.len().max(1);
    println!("MEMRESULT {before} {after} {secs} {avg}");
    srv.stop();
    Ok(())
}

fn mem_section(sc: Scale) -> Res<()> {
    let exe = std::env::current_exe()?;
    let n = sc.mem_objects;
    let mut rows = Vec::new();
    for (mode, label) in [("memory", "memory only"), ("disk", "data dir, fsync on")] {
        progress(&format!(
            "  loading {n} ConfigMaps in a child process ({label})"
        ));
        let out = std::process::Command::new(&exe)
            .env("BENCH_MEM_CHILD", mode)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("MEMRESULT ")) else {
            println!("memory child ({label}) failed: {text}");
            continue;
        };
        let f: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [before, after, secs, avg] = f[..] {
            rows.push((label, before, after, secs, avg));
        }
    }
    println!();
    println!(
        "== 5. resident memory (VmRSS) before/after loading {n} small ConfigMaps in-process (fresh process each) =="
    );
    println!(
        "{:<20} | {:>10} | {:>10} | {:>10} | {:>9} | {:>10} | {:>8} | {:>8}",
        "store",
        "before MiB",
        "after MiB",
        "delta MiB",
        "B/object",
        "JSON B/obj",
        "load s",
        "obj/s"
    );
    println!("{}", "-".repeat(104));
    for (label, before, after, secs, avg) in rows {
        let delta = after - before;
        println!(
            "{label:<20} | {:>10.1} | {:>10.1} | {:>10.1} | {:>9.0} | {:>10.0} | {:>8.2} | {:>8.0}",
            before / 1024.0,
            after / 1024.0,
            delta / 1024.0,
            delta * 1024.0 / n as f64,
            avg,
            secs,
            n as f64 / secs
        );
    }
    println!(
        "(B/object = RSS growth / objects; it includes the map entry, the watch history event and allocator slack)"
    );
    Ok(())
}

// ---------------------------------------------------------------- main

fn main() -> Res<()> {
    let sc = scale();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Ok(mode) = std::env::var("BENCH_MEM_CHILD") {
        return rt.block_on(mem_child(&mode, sc.mem_objects));
    }
    progress(&format!(
        "apiserver bench ({}; {} cores; {:?} per write cell)",
        if sc.quick { "BENCH_QUICK" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        sc.cell
    ));
    // BENCH_SECTIONS=3,4 runs only those sections (1 and 2 always run together).
    let only = std::env::var("BENCH_SECTIONS").unwrap_or_default();
    let run = |n: char| only.is_empty() || only.contains(n) || (n == '1' && only.contains('2'));
    let total = Instant::now();
    rt.block_on(async {
        if !run('1') {
            return Res::Ok(());
        }
        progress("1+2. create / merge-patch over HTTPS");
        let rows = write_section(sc).await?;
        print_writes(
            &format!(
                "== 1. create small ConfigMaps over HTTPS (kube-rs; 1 client = 1 TLS connection; {:?} per cell) ==",
                sc.cell
            ),
            "obj/s",
            &rows,
            |r| &r.create,
        );
        print_writes(
            "== 2. update (merge patch) of those ConfigMaps; kube-apiserver SLO: mutating calls p99 <= 1 s ==",
            "ops/s",
            &rows,
            |r| &r.patch,
        );
        Res::Ok(())
    })?;
    rt.block_on(async {
        if run('3') {
            progress("3. list");
            list_section(sc).await?;
        }
        if run('4') {
            progress("4. watch fan-out");
            watch_section(sc).await?;
        }
        Res::Ok(())
    })?;
    drop(rt);
    if run('5') {
        progress("5. memory");
        mem_section(sc)?;
    }
    println!();
    println!("total bench time: {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}
