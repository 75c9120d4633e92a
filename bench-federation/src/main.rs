//! Federation benchmark: `cceone up` in this process (federation API and controllers, the hub,
//! N simulated member clusters each with an agent dialing the hub over a real tunnel), then K
//! Deployments applied to the federation with bounded concurrency, each divided across every
//! cluster by a PropagationPolicy. It prints figures and never asserts on them:
//!
//! - (a) time from the last template write to every template reporting `readyReplicas ==
//!   replicas` (status aggregated back from the members);
//! - (b) per-Work dispatch latency p50/p99: template write → the Deployment appears in the
//!   member (kube-rs watchers on every member, matched by name);
//! - (c) bindings scheduled per second (binding seen → `Scheduled=True`);
//! - (d) the process's resident memory at the end (and its peak).
//!
//! Sizes: `BENCH_QUICK=1` is K=50 × N=5; otherwise `BENCH_K` (default 1000) × `BENCH_N`
//! (default 100). `BENCH_REPLICAS` (default N: one replica per cluster, so K×N Works),
//! `BENCH_POLICY` (`shared`: one PropagationPolicy selecting every Deployment, the default;
//! `per`: one per Deployment), `BENCH_CONCURRENCY` (default 32 template writes in flight),
//! `BENCH_NODES` (nodes per cluster, default: enough for the pods), `BENCH_TIMEOUT` (seconds,
//! default 1800), `BENCH_DIR` (data directory; default a temporary one), `RUST_LOG`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

const NS: &str = "bench";

/// What the run looks like.
#[derive(Debug, Clone)]
struct Params {
    k: usize,
    n: usize,
    replicas: usize,
    per_policy: bool,
    concurrency: usize,
    nodes: usize,
    timeout: Duration,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Params {
    fn from_env() -> Params {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let (k, n) = if quick { (50, 5) } else { (1000, 100) };
        let k = env_usize("BENCH_K", k);
        let n = env_usize("BENCH_N", n).max(1);
        let replicas = env_usize("BENCH_REPLICAS", n).max(1);
        // 110 pods per node; the busiest cluster runs ceil(replicas / n) pods per Deployment.
        let pods = k * replicas.div_ceil(n);
        let nodes = env_usize("BENCH_NODES", pods.div_ceil(100).max(1));
        Params {
            k,
            n,
            replicas,
            per_policy: std::env::var("BENCH_POLICY").is_ok_and(|v| v == "per"),
            concurrency: env_usize("BENCH_CONCURRENCY", 32).max(1),
            nodes,
            timeout: Duration::from_secs(env_usize("BENCH_TIMEOUT", 1800) as u64),
        }
    }

    /// Works per Deployment: clusters given at least one replica by equal static weights.
    fn works_per_template(&self) -> usize {
        self.replicas.min(self.n)
    }
}

/// Everything the watchers saw, with local timestamps.
#[derive(Default)]
struct Observed {
    /// Template name → when its create request was sent.
    written: HashMap<String, Instant>,
    /// (cluster, name) → when its Work first appeared in the federation.
    work: HashMap<(String, String), Instant>,
    /// (cluster, name) → when the Deployment first appeared in that member.
    in_member: HashMap<(String, String), Instant>,
    /// Binding name → first seen.
    rb_seen: HashMap<String, Instant>,
    /// Binding name → first seen with `Scheduled=True`.
    rb_scheduled: HashMap<String, Instant>,
    /// Template name → first seen with `readyReplicas == replicas`.
    ready: HashMap<String, Instant>,
}

type Shared = Arc<Mutex<Observed>>;

fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

async fn client_from(path: &std::path::Path) -> anyhow::Result<kube::Client> {
    let text = std::fs::read_to_string(path)?;
    let kc = kube::config::Kubeconfig::from_yaml(&text)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

fn rb_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("work.karmada.io", "v1alpha2", "ResourceBinding"),
        "resourcebindings",
    )
}

fn work_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("work.karmada.io", "v1alpha1", "Work"),
        "works",
    )
}

fn pp_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policy.karmada.io", "v1alpha1", "PropagationPolicy"),
        "propagationpolicies",
    )
}

fn scheduled(rb: &DynamicObject) -> bool {
    rb.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Scheduled" && c["status"] == "True")
        })
}

fn template_ready(d: &Deployment) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    want > 0 && ready == want
}

/// The watchers' tasks: stopped before the platform shuts down, so they do not log its going.
type Watchers = tokio::task::JoinSet<()>;

/// Watch one member's Deployments, recording when each first appears.
fn watch_member(set: &mut Watchers, obs: Shared, cluster: String, client: kube::Client) {
    set.spawn(async move {
        let api: Api<Deployment> = Api::namespaced(client, NS);
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(d) = ev else { continue };
            let now = Instant::now();
            if let Some(name) = d.metadata.name {
                obs.lock()
                    .unwrap()
                    .in_member
                    .entry((cluster.clone(), name))
                    .or_insert(now);
            }
        }
    });
}

/// Watch the federation's bindings and templates.
fn watch_federation(set: &mut Watchers, obs: &Shared, fed: &kube::Client) {
    let (o, api) = (
        Arc::clone(obs),
        Api::<DynamicObject>::namespaced_with(fed.clone(), NS, &rb_resource()),
    );
    set.spawn(async move {
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(rb) = ev else { continue };
            let now = Instant::now();
            let Some(name) = rb.metadata.name.clone() else {
                continue;
            };
            let mut o = o.lock().unwrap();
            o.rb_seen.entry(name.clone()).or_insert(now);
            if scheduled(&rb) {
                o.rb_scheduled.entry(name).or_insert(now);
            }
        }
    });
    let (o, api) = (
        Arc::clone(obs),
        Api::<DynamicObject>::all_with(fed.clone(), &work_resource()),
    );
    set.spawn(async move {
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(w) = ev else { continue };
            let now = Instant::now();
            let cluster = w.metadata.namespace.as_deref().unwrap_or_default();
            let Some(cluster) = cluster.strip_prefix("karmada-es-") else {
                continue;
            };
            let name = w
                .data
                .pointer("/spec/workload/manifests/0/metadata/name")
                .and_then(Value::as_str);
            if let Some(name) = name {
                let key = (cluster.to_string(), name.to_string());
                o.lock().unwrap().work.entry(key).or_insert(now);
            }
        }
    });
    let (o, api) = (
        Arc::clone(obs),
        Api::<Deployment>::namespaced(fed.clone(), NS),
    );
    set.spawn(async move {
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(d) = ev else { continue };
            let now = Instant::now();
            if template_ready(&d)
                && let Some(name) = d.metadata.name
            {
                o.lock().unwrap().ready.entry(name).or_insert(now);
            }
        }
    });
}

fn policy(p: &Params, name: &str, selects: Option<&str>) -> Value {
    let clusters: Vec<String> = (1..=p.n).map(|i| format!("member{i}")).collect();
    let weights: Vec<Value> = clusters
        .iter()
        .map(|c| json!({"targetCluster": {"clusterNames": [c]}, "weight": 1}))
        .collect();
    let mut selector = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
    if let Some(n) = selects {
        selector["name"] = json!(n);
    }
    json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "resourceSelectors": [selector],
            "placement": {
                "clusterAffinity": {"clusterNames": clusters},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": weights},
                },
            },
        },
    })
}

fn deployment(name: &str, replicas: usize) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }))
    .unwrap()
}

/// For every key of `later` whose start `since` knows: the time from that start to its `later`
/// instant, sorted (for percentiles).
fn gaps<'a, K>(
    later: &'a HashMap<K, Instant>,
    since: impl Fn(&K) -> Option<&'a Instant>,
) -> Vec<Duration> {
    let mut out: Vec<Duration> = later
        .iter()
        .filter_map(|(k, t)| since(k).map(|s| t.saturating_duration_since(*s)))
        .collect();
    out.sort();
    out
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Writes (create, update, patch, delete) the federation API has served, from its /metrics.
async fn fed_writes(fed: &kube::Client) -> u64 {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = fed.request_text(req).await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| {
            ["create", "update", "patch", "delete"]
                .iter()
                .any(|v| l.contains(&format!("verb=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Wait until the federation API has served no write for two seconds (at most `max`); how long
/// that took, or None when it never went quiet.
async fn quiesce(fed: &kube::Client, max: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut last = fed_writes(fed).await;
    let mut quiet_since = Instant::now();
    while start.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = fed_writes(fed).await;
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_secs(2) {
            return Some(quiet_since.saturating_duration_since(start));
        }
    }
    None
}

/// `cceone_agent_works_applied_total` summed over the members' agents.
async fn agent_applies(dir: &std::path::Path, n: usize) -> u64 {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,kube=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let p = Params::from_env();
    let tmp = tempfile::tempdir()?;
    let dir = std::env::var("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().join("data"));
    let expected_works = p.k * p.works_per_template();
    println!(
        "bench-federation: K={} Deployments x N={} clusters, {} replicas each (Divided, equal static weights) -> {} Works; policy: {}; {} writes in flight; {} nodes/cluster; {} cores",
        p.k,
        p.n,
        p.replicas,
        expected_works,
        if p.per_policy {
            "one PropagationPolicy per Deployment"
        } else {
            "one PropagationPolicy selecting all"
        },
        p.concurrency,
        p.nodes,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let started = Instant::now();
    let up = cceone::up(cceone::UpConfig {
        data_dir: dir.clone(),
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
    println!(
        "up: federation, hub and {} members Ready in {:.1} s (RSS {})",
        p.n,
        started.elapsed().as_secs_f64(),
        mib(rss().0)
    );

    let fed = client_from(&up.admin_kubeconfig).await?;
    let obs: Shared = Arc::default();
    let mut watchers = Watchers::new();
    for i in 1..=p.n {
        let c = client_from(&dir.join(format!("members/member{i}.kubeconfig"))).await?;
        watch_member(&mut watchers, Arc::clone(&obs), format!("member{i}"), c);
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(fed.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    watch_federation(&mut watchers, &obs, &fed);
    let pps: Api<DynamicObject> = Api::namespaced_with(fed.clone(), NS, &pp_resource());
    if !p.per_policy {
        let pp: DynamicObject = serde_json::from_value(policy(&p, "bench-all", None))?;
        pps.create(&PostParams::default(), &pp).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let progress = {
        let (obs, k) = (Arc::clone(&obs), p.k);
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let line = {
                    let o = obs.lock().unwrap();
                    format!(
                        "  [{:>6.1} s] written {}/{k}  bindings {} scheduled {}  works {}  in members {}/{expected_works}  ready {}/{k}",
                        t0.elapsed().as_secs_f64(),
                        o.written.len(),
                        o.rb_seen.len(),
                        o.rb_scheduled.len(),
                        o.work.len(),
                        o.in_member.len(),
                        o.ready.len(),
                    )
                };
                println!("{line}  RSS {}", mib(rss().0));
            }
        })
    };

    let deploys: Api<Deployment> = Api::namespaced(fed.clone(), NS);
    let first_write = Instant::now();
    let errors: usize = futures::stream::iter(0..p.k)
        .map(|i| {
            let (deploys, pps, obs, p) = (deploys.clone(), pps.clone(), Arc::clone(&obs), &p);
            async move {
                let name = format!("app-{i:05}");
                if p.per_policy {
                    let pp: DynamicObject =
                        serde_json::from_value(policy(p, &name, Some(&name))).unwrap();
                    if let Err(e) = pps.create(&PostParams::default(), &pp).await {
                        eprintln!("creating policy {name}: {e}");
                        return 1;
                    }
                }
                obs.lock()
                    .unwrap()
                    .written
                    .insert(name.clone(), Instant::now());
                match deploys
                    .create(&PostParams::default(), &deployment(&name, p.replicas))
                    .await
                {
                    Ok(_) => 0,
                    Err(e) => {
                        eprintln!("creating {name}: {e}");
                        1
                    }
                }
            }
        })
        .buffer_unordered(p.concurrency)
        .fold(0, |a, b| async move { a + b })
        .await;
    let last_write = Instant::now();
    let write_secs = (last_write - first_write).as_secs_f64();
    println!(
        "applied {} templates in {:.2} s ({:.0}/s), {errors} failed",
        p.k,
        write_secs,
        p.k as f64 / write_secs.max(1e-9),
    );

    let deadline = last_write + p.timeout;
    let done = loop {
        {
            let o = obs.lock().unwrap();
            if o.ready.len() >= p.k
                && o.in_member.len() >= expected_works
                && o.rb_scheduled.len() >= p.k
            {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let end = Instant::now();
    progress.abort();
    // Let status settle so the apply count shows churn, if any.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let applies = agent_applies(&dir, p.n).await;
    let (rss_now, rss_peak) = rss();

    // The watchers keep running until shutdown; report on what they saw up to now.
    let o = std::mem::take(&mut *obs.lock().unwrap());

    // Dispatch latency without a queue: one template at a time, once the federation API has
    // seen no write for two seconds (status traffic from the burst goes on after "ready").
    let quiet_after = quiesce(&fed, Duration::from_secs(120)).await;
    let probes = env_usize(
        "BENCH_PROBES",
        if std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
            5
        } else {
            20
        },
    );
    let per = p.works_per_template();
    let mut probe_dispatch: Vec<Duration> = Vec::new();
    let mut probe_to_work: Vec<Duration> = Vec::new();
    for i in 0..probes {
        let name = format!("probe-{i:03}");
        obs.lock()
            .unwrap()
            .written
            .insert(name.clone(), Instant::now());
        if let Err(e) = deploys
            .create(&PostParams::default(), &deployment(&name, p.replicas))
            .await
        {
            eprintln!("creating {name}: {e}");
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let o = obs.lock().unwrap();
                let landed: Vec<Instant> = o
                    .in_member
                    .iter()
                    .filter(|((_, n), _)| *n == name)
                    .map(|(_, t)| *t)
                    .collect();
                if landed.len() >= per || Instant::now() > deadline {
                    let w = o.written[&name];
                    probe_dispatch.extend(landed.iter().map(|t| t.saturating_duration_since(w)));
                    probe_to_work.extend(
                        o.work
                            .iter()
                            .filter(|((_, n), _)| *n == name)
                            .map(|(_, t)| t.saturating_duration_since(w)),
                    );
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    probe_dispatch.sort();
    probe_to_work.sort();
    let dispatch = gaps(&o.in_member, |(_, name)| o.written.get(name));
    let to_work = gaps(&o.work, |(_, name)| o.written.get(name));
    let relay = gaps(&o.in_member, |key| o.work.get(key));
    let sched = gaps(&o.rb_scheduled, |name| o.rb_seen.get(name));
    let first_rb = o.rb_seen.values().min().copied();
    let last_sched = o.rb_scheduled.values().max().copied();
    let sched_rate = match (first_rb, last_sched) {
        (Some(a), Some(b)) if b > a => o.rb_scheduled.len() as f64 / (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let all_ready = o.ready.values().max().copied();
    let to_ready = all_ready.map(|t| t.saturating_duration_since(last_write));

    println!();
    if !done {
        println!(
            "NOT COMPLETE within {} s: ready {}/{}, in members {}/{}, scheduled {}/{}; figures below cover what completed",
            p.timeout.as_secs(),
            o.ready.len(),
            p.k,
            o.in_member.len(),
            expected_works,
            o.rb_scheduled.len(),
            p.k
        );
    }
    println!(
        "results (K={} x N={}, {} Works, wall {:.1} s from first write):",
        p.k,
        p.n,
        expected_works,
        (end - first_write).as_secs_f64()
    );
    println!(
        "  (a) last write -> all {} templates ready : {}",
        p.k,
        to_ready.map_or("n/a".into(), |d| format!("{:.2} s", d.as_secs_f64()))
    );
    println!(
        "  (b) dispatch, template write -> in member: p50 {}  p99 {}  max {}  ({} Works)   Karmada Pull @100 clusters: p99 989 ms; aim p99 <= 100 ms",
        ms(pct(&dispatch, 0.50)),
        ms(pct(&dispatch, 0.99)),
        ms(dispatch.last().copied().unwrap_or_default()),
        dispatch.len(),
    );
    println!(
        "      of which template write -> Work created: p50 {}  p99 {};  Work created -> in member (hub, tunnel, agent): p50 {}  p99 {}",
        ms(pct(&to_work, 0.50)),
        ms(pct(&to_work, 0.99)),
        ms(pct(&relay, 0.50)),
        ms(pct(&relay, 0.99)),
    );
    println!(
        "      before the one-at-a-time templates: {}",
        quiet_after.map_or(
            "the federation API never went quiet within 120 s".into(),
            |d| format!(
                "the federation API's last write came {:.1} s into the wait for quiet (2 s without a write)",
                d.as_secs_f64()
            )
        )
    );
    println!(
        "      one template at a time on the settled federation ({probes} templates, {} Works): template write -> in member p50 {}  p99 {}  max {};  -> Work created p50 {}  p99 {}",
        probe_dispatch.len(),
        ms(pct(&probe_dispatch, 0.50)),
        ms(pct(&probe_dispatch, 0.99)),
        ms(probe_dispatch.last().copied().unwrap_or_default()),
        ms(pct(&probe_to_work, 0.50)),
        ms(pct(&probe_to_work, 0.99)),
    );
    println!(
        "  (c) bindings scheduled: {:.0}/s over {} bindings (seen -> Scheduled p50 {} p99 {}); templates were written at {:.0}/s   Karmada: ~22/s; aim >= 2,000/s",
        sched_rate,
        o.rb_scheduled.len(),
        ms(pct(&sched, 0.50)),
        ms(pct(&sched, 0.99)),
        p.k as f64 / write_secs.max(1e-9),
    );
    println!(
        "  (d) process RSS at end: {} (peak {}), {:.0} KiB per Work",
        mib(rss_now),
        mib(rss_peak),
        rss_now as f64 / expected_works.max(1) as f64
    );
    println!(
        "  agents' works applied: {applies} for {} Works (more means re-applies)",
        o.in_member.len()
    );
    watchers.abort_all();
    up.shutdown().await;
    Ok(())
}
