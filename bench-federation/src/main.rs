//! Federation benchmark: K Deployments applied to the federation with bounded concurrency, each
//! divided across every one of N member clusters by a PropagationPolicy, then watched until
//! every template reports its replicas ready (status aggregated back from the members). It
//! prints figures and never asserts on them.
//!
//! Members (`BENCH_MEMBERS`):
//!
//! - `light` (the default): the federation and the hub each run in a process of their own (this
//!   binary re-executed as `bench-federation --role federation --dir D` and `--role hub --dir D`;
//!   their logs are `D/federation.log` and `D/hub.log`), and N light members run in this
//!   process: no API server of their own, but registration with a bootstrap token and the real
//!   tunnel protocol to the real hub, answering every Work delivered at once with an applied,
//!   ready status (see `light.rs`). CPU and memory are then measured per component.
//! - `kubesim`: `cceone up` in this process (federation, hub, N simulated member clusters each
//!   with a real agent dialing the hub over a real tunnel), as before; one process for all.
//!
//! Figures:
//!
//! - (a) time from the last template write to every template reporting `readyReplicas ==
//!   replicas`;
//! - (b) per-Work dispatch latency p50/p99: template write → applied in the member (kubesim:
//!   the Deployment appears in the member, seen by kube-rs watchers on every member; light: the
//!   Work's delivery reaches the light member), split at the Work's creation; and the same for
//!   one template at a time once the federation has gone quiet;
//! - (c) bindings scheduled per second (binding seen → `Scheduled=True`);
//! - (d) this process's resident memory at the end (and its peak);
//! - a per-stage table beside the published Karmada figures and our aims: bindings scheduled
//!   and Works written per second, template write → Work created → applied → aggregated ready,
//!   time to all applied and all ready, members' applies vs Works (re-applies), CPU-seconds per
//!   component (from `/proc/PID/stat`, just before the first template write to the end) and per
//!   1,000 Works, the federation's RSS per Work held and the hub's RSS;
//! - the ten largest `apiserver_request_total` series of the federation's `/metrics`.
//!
//! Sizes: `BENCH_QUICK=1` is K=50 × N=5; otherwise `BENCH_K` (default 1000) × `BENCH_N`
//! (default 100). `BENCH_MEMBERS` (`light`, the default, or `kubesim`), `BENCH_REPLICAS`
//! (default N: one replica per cluster, so K×N Works), `BENCH_POLICY` (`shared`: one
//! PropagationPolicy selecting every Deployment, the default; `per`: one per Deployment),
//! `BENCH_CONCURRENCY` (default 32 template writes in flight), `BENCH_NODES` (nodes per
//! cluster, default: enough for the pods), `BENCH_TIMEOUT` (seconds, default 1800),
//! `BENCH_PROBES` (one-at-a-time templates; default 5 quick, else 20), `BENCH_DIR` (data
//! directory, which must not hold an earlier run's state; default a temporary one whose data
//! is removed after a complete run, keeping the light mode's logs, and kept otherwise),
//! `BENCH_WRAP_FEDERATION`, `BENCH_WRAP_HUB` (a program, with its arguments, to run that
//! process under, e.g. `heaptrack -o FILE` with the `system-alloc` feature, or `perf record ...`),
//! `BENCH_WORKERS` (reconciles in flight per federation controller; the federation's default
//! otherwise), `BENCH_SETTLE` (seconds after the run to measure memory again; default 40,
//! 0 quick), `RUST_LOG` (also passed to the federation and hub processes).
#![allow(clippy::unwrap_used)]

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks). The `system-alloc`
/// feature leaves the system allocator in place, for a heap profiler that hooks malloc
/// (`BENCH_WRAP_FEDERATION=heaptrack`).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod light;
mod platform;
mod procs;
mod report;
mod roles;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::platform::Platform;
use crate::procs::{Pid, mib};
use crate::report::Outcome;
use crate::watch::{Shared, Watchers};

const NS: &str = "bench";

/// What the member clusters are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Members {
    /// Light in-process members; federation and hub in processes of their own.
    Light,
    /// `cceone up`: kubesim clusters with real agents, everything in this process.
    Kubesim,
}

impl Members {
    fn as_str(self) -> &'static str {
        match self {
            Members::Light => "light",
            Members::Kubesim => "kubesim",
        }
    }
}

/// What the run looks like.
#[derive(Debug, Clone)]
struct Params {
    k: usize,
    n: usize,
    replicas: usize,
    per_policy: bool,
    /// The shared policy is written after every template (`BENCH_POLICY=last`): the control
    /// plane's pass from templates to Works, measured apart from the rate templates arrive at.
    policy_last: bool,
    concurrency: usize,
    nodes: usize,
    timeout: Duration,
    members: Members,
    probes: usize,
    /// How long after the run to measure the federation's memory again ([`Outcome::mem_settled`]).
    settle: Duration,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Params {
    fn from_env() -> anyhow::Result<Params> {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let (k, n) = if quick { (50, 5) } else { (1000, 100) };
        let k = env_usize("BENCH_K", k);
        let n = env_usize("BENCH_N", n).max(1);
        let replicas = env_usize("BENCH_REPLICAS", n).max(1);
        // 110 pods per node; the busiest cluster runs ceil(replicas / n) pods per Deployment.
        let pods = k * replicas.div_ceil(n);
        let nodes = env_usize("BENCH_NODES", pods.div_ceil(100).max(1));
        let members = match std::env::var("BENCH_MEMBERS").as_deref() {
            Err(_) | Ok("") | Ok("light") => Members::Light,
            Ok("kubesim") => Members::Kubesim,
            Ok(other) => anyhow::bail!("BENCH_MEMBERS={other:?}: expected light or kubesim"),
        };
        Ok(Params {
            k,
            n,
            replicas,
            per_policy: std::env::var("BENCH_POLICY").is_ok_and(|v| v == "per"),
            policy_last: std::env::var("BENCH_POLICY").is_ok_and(|v| v == "last"),
            concurrency: env_usize("BENCH_CONCURRENCY", 32).max(1),
            nodes,
            timeout: Duration::from_secs(env_usize("BENCH_TIMEOUT", 1800) as u64),
            members,
            probes: env_usize("BENCH_PROBES", if quick { 5 } else { 20 }),
            settle: Duration::from_secs(
                env_usize("BENCH_SETTLE", if quick { 0 } else { 40 }) as u64
            ),
        })
    }

    /// Works per Deployment: clusters given at least one replica by equal static weights.
    fn works_per_template(&self) -> usize {
        self.replicas.min(self.n)
    }
}

async fn client_from(path: &Path) -> anyhow::Result<kube::Client> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let kc = kube::config::Kubeconfig::from_yaml(&text)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
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

/// The value of `--name VALUE` among `args`.
fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,kube=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(role) = flag(&args, "--role") {
        let dir = flag(&args, "--dir").context("--role needs --dir DIR")?;
        return roles::run(&role, Path::new(&dir)).await;
    }
    anyhow::ensure!(
        args.is_empty(),
        "usage: bench-federation (settings from BENCH_* variables), or bench-federation --role federation|hub --dir DIR"
    );
    bench().await
}

async fn bench() -> anyhow::Result<()> {
    let p = Params::from_env()?;
    let (dir, temporary) = match std::env::var("BENCH_DIR") {
        Ok(d) if !d.is_empty() => (PathBuf::from(d), false),
        _ => (
            tempfile::Builder::new()
                .prefix("bench-federation-")
                .tempdir()?
                .keep(),
            true,
        ),
    };
    let expected_works = p.k * p.works_per_template();
    println!(
        "bench-federation: K={} Deployments x N={} clusters ({}), {} replicas each (Divided, equal static weights) -> {} Works; policy: {}; {} writes in flight; {} nodes/cluster; {} cores",
        p.k,
        p.n,
        match p.members {
            Members::Light =>
                "light members in this process; federation and hub in processes of their own",
            Members::Kubesim => "kubesim clusters with agents, all in this process",
        },
        p.replicas,
        expected_works,
        if p.per_policy {
            "one PropagationPolicy per Deployment"
        } else if p.policy_last {
            "one PropagationPolicy selecting all, written after every template (backlog)"
        } else {
            "one PropagationPolicy selecting all"
        },
        p.concurrency,
        p.nodes,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("  bench directory: {}", dir.display());

    let obs: Shared = Arc::default();
    let on_delivery: light::OnDelivery = {
        let obs = Arc::clone(&obs);
        Arc::new(move |cluster: &str, name: &str, at: Instant| {
            watch::record_in_member(&obs, cluster, name, at)
        })
    };
    let started = Instant::now();
    let platform = Platform::start(&p, &dir, on_delivery).await?;
    println!(
        "up: federation, hub and {} {} members Ready in {:.1} s (this process's RSS {})",
        p.n,
        p.members.as_str(),
        started.elapsed().as_secs_f64(),
        mib(Pid::Me.rss_kib())
    );
    let outcome = measure(&p, &dir, &platform, &obs).await;
    if let Ok(o) = &outcome {
        report::print(&p, o);
    }
    platform.shutdown().await;
    let outcome = outcome?;
    if temporary {
        if !outcome.done {
            println!("kept {} (the run did not complete)", dir.display());
        } else if p.members == Members::Light {
            // The data goes; the logs, whose paths were printed, stay.
            for d in ["federation", "hub"] {
                let _ = std::fs::remove_dir_all(dir.join(d));
            }
            println!(
                "removed the data in {}; kept its federation.log and hub.log",
                dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(())
}

/// Apply the templates, wait for them to be ready, probe one template at a time.
async fn measure(
    p: &Params,
    dir: &Path,
    platform: &Platform,
    obs: &Shared,
) -> anyhow::Result<Outcome> {
    let expected_works = p.k * p.works_per_template();
    let fed = client_from(&platform.fed_kubeconfig(dir)).await?;
    let mut watchers = Watchers::new();
    if p.members == Members::Kubesim {
        for i in 1..=p.n {
            let c = client_from(&dir.join(format!("members/member{i}.kubeconfig"))).await?;
            watch::watch_member(&mut watchers, Arc::clone(obs), format!("member{i}"), c);
        }
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(fed.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| {
            format!("creating namespace {NS} (BENCH_DIR must not hold an earlier run's state)")
        })?;
    watch::watch_federation(&mut watchers, obs, &fed);
    let pps: Api<DynamicObject> = Api::namespaced_with(fed.clone(), NS, &watch::pp_resource());
    if !p.per_policy && !p.policy_last {
        let pp: DynamicObject = serde_json::from_value(policy(p, "bench-all", None))?;
        pps.create(&PostParams::default(), &pp).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let progress = {
        let (obs, k) = (Arc::clone(obs), p.k);
        let light = platform.light_stats();
        let n = p.n;
        let in_member = match p.members {
            Members::Light => "delivered",
            Members::Kubesim => "in members",
        };
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let line = {
                    let o = obs.lock().unwrap();
                    format!(
                        "  [{:>6.1} s] written {}/{k}  bindings {} scheduled {}  works {}  {in_member} {}/{expected_works}  ready {}/{k}",
                        t0.elapsed().as_secs_f64(),
                        o.written.len(),
                        o.rb_seen.len(),
                        o.rb_scheduled.len(),
                        o.work.len(),
                        o.in_member.len(),
                        o.ready.len(),
                    )
                };
                let connected = light.as_ref().map_or(String::new(), |s| {
                    format!(
                        "  connected {}/{n}",
                        s.connected.load(std::sync::atomic::Ordering::Relaxed)
                    )
                });
                println!("{line}{connected}  RSS {}", mib(Pid::Me.rss_kib()));
            }
        })
    };

    let deploys: Api<Deployment> = Api::namespaced(fed.clone(), NS);
    let mem_before = platform.memory();
    let cpu_before = platform.cpu();
    let first_write = Instant::now();
    let errors: usize = futures::stream::iter(0..p.k)
        .map(|i| {
            let (deploys, pps, obs) = (deploys.clone(), pps.clone(), Arc::clone(obs));
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
    let mut last_write = Instant::now();
    let write_secs = (last_write - first_write).as_secs_f64();
    println!(
        "applied {} templates in {:.2} s ({:.0}/s), {errors} failed",
        p.k,
        write_secs,
        p.k as f64 / write_secs.max(1e-9),
    );
    let (mut first_write, mut cpu_before) = (first_write, cpu_before);
    if p.policy_last {
        // Backlog: once the federation has gone quiet over the unmatched templates, one policy
        // selects them all; every figure then counts from that write.
        let quiet = report::quiesce(&fed, Duration::from_secs(120)).await;
        println!(
            "  quiet {} after the last template; writing the policy",
            quiet.map_or("never (120 s)".into(), |d| format!(
                "{:.1} s",
                d.as_secs_f64()
            ))
        );
        cpu_before = platform.cpu();
        let pp: DynamicObject = serde_json::from_value(policy(p, "bench-all", None))?;
        first_write = Instant::now();
        pps.create(&PostParams::default(), &pp).await?;
        last_write = Instant::now();
        let mut o = obs.lock().unwrap();
        for t in o.written.values_mut() {
            *t = first_write;
        }
    }

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
    let cpu = platform.cpu().since(&cpu_before);
    progress.abort();
    // Let status settle so the apply count shows churn, if any.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let applies = platform.applies(dir, p.n).await;
    let mem_after = platform.memory();

    // The watchers keep running; report on what they saw up to now.
    let seen = std::mem::take(&mut *obs.lock().unwrap());

    // Dispatch latency without a queue: one template at a time, once the federation API has
    // seen no write for two seconds (status traffic from the burst goes on after "ready").
    let quiet_after = report::quiesce(&fed, Duration::from_secs(120)).await;
    let per = p.works_per_template();
    let mut probe_dispatch: Vec<Duration> = Vec::new();
    let mut probe_to_work: Vec<Duration> = Vec::new();
    for i in 0..p.probes {
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
    // The store keeps a burst's watch history for 30 s beyond its usual 64 MiB (for watchers
    // that fell behind): measure again once that has gone.
    let mem_settled = if p.settle.is_zero() {
        None
    } else {
        tokio::time::sleep(p.settle).await;
        Some(platform.memory())
    };
    let metrics = report::metrics_text(&fed).await;
    let requests = report::request_counts(&metrics);
    let controllers = report::controller_figures(&metrics);
    let storage = report::storage_commits(&metrics);
    watchers.abort_all();
    let light = platform.light_stats().map(|s| {
        use std::sync::atomic::Ordering::Relaxed;
        report::LightCounts {
            sessions: s.sessions.load(Relaxed),
            redeliveries: s.redeliveries.load(Relaxed),
            deletions: s.deletions.load(Relaxed),
            statuses: s.statuses.load(Relaxed),
            failures: s.failures.load(Relaxed),
            last_failure: s.last_failure.lock().map(|l| l.clone()).unwrap_or_default(),
        }
    });
    Ok(Outcome {
        done,
        obs: seen,
        first_write,
        last_write,
        end,
        quiet_after,
        probes: p.probes,
        probe_dispatch,
        probe_to_work,
        applies,
        light,
        cpu,
        mem_before,
        mem_after,
        mem_settled,
        requests,
        controllers,
        storage,
    })
}
