//! The federation's control plane on its own: the API server and controllers of
//! `cceone-federation` in this process, N clusters joined as the hub records them, and the
//! hub's part played over HTTPS by this benchmark (it watches every Work and reports each new
//! generation applied and healthy at once, as an agent with an instant member would). K
//! Deployments are written with one PropagationPolicy dividing each across every cluster.
//! Prints figures, never asserts on them:
//!
//! - bindings scheduled per second, Works written per second;
//! - template write → Work created, Work created → reported, template write → aggregated
//!   ready (p50 / p99), and the time from the last write to every template ready;
//! - CPU-seconds of this process per 1,000 Works, its RSS per Work held;
//! - the API's busiest request kinds (`apiserver_request_total` by verb, resource, origin).
//!
//! `cargo bench -p cceone-federation --bench controlplane` runs 1,000 × 10 (10,000 Works);
//! `BENCH_K`, `BENCH_N`, `BENCH_CONCURRENCY` (template writes in flight, default 64) and
//! `BENCH_QUICK=1` (100 × 5) adjust it.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

/// The allocator the programs use (`cceone`, `cceone-federation`, `cceone-hub`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NS: &str = "bench";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

#[derive(Default)]
struct Seen {
    written: HashMap<String, Instant>,
    work: HashMap<(String, String), Instant>,
    reported: HashMap<(String, String), Instant>,
    rb_seen: HashMap<String, Instant>,
    rb_scheduled: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
}

type Shared = Arc<Mutex<Seen>>;

/// `utime + stime` of this process in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (1-based) are utime and stime; `after` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [Duration], q: f64) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    v.sort();
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    format!("{:.1} ms", v[i].as_secs_f64() * 1000.0)
}

/// Seconds from the first to the last instant of `m`.
fn span<K>(m: &HashMap<K, Instant>) -> f64 {
    match (m.values().min(), m.values().max()) {
        (Some(a), Some(b)) if b > a => (*b - *a).as_secs_f64(),
        _ => 0.0,
    }
}

fn gaps<K: std::hash::Hash + Eq>(
    later: &HashMap<K, Instant>,
    since: impl Fn(&K) -> Option<Instant>,
) -> Vec<Duration> {
    later
        .iter()
        .filter_map(|(k, t)| since(k).map(|s| t.saturating_duration_since(s)))
        .collect()
}

async fn join(client: &kube::Client, name: &str) {
    let api = cceone_platform::registered_clusters(client);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.cceone.io/v1alpha1",
        "kind": "RegisteredCluster",
        "metadata": {"name": name},
        "spec": {"type": "ctyun", "provider": "ctyun", "region": "r1", "zone": "r1-a"},
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .unwrap()
        .to_string();
    let status = json!({"status": {
        "phase": "Running", "kubernetesVersion": "v1.32.0", "connectedSince": now,
        "lastHeartbeatTime": now, "vcpus": "64", "nodeSummary": {"total": 4, "ready": 4},
        "resourceSummary": {
            "capacity": {"cpu": "256", "memory": "1Ti", "pods": "4400"},
            "allocatable": {"cpu": "256", "memory": "1Ti", "pods": "4400"},
            "allocated": {"cpu": "0", "memory": "0", "pods": "0"}},
        "apiEnablements": [{"groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "kind": "Deployment"}]}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "AgentConnected",
            "message": "agent connected", "lastTransitionTime": now}],
    }});
    let pp = PatchParams {
        field_manager: Some("cceone-hub".into()),
        ..Default::default()
    };
    api.patch_status(name, &pp, &Patch::Merge(&status))
        .await
        .unwrap();
}

/// The status an agent reports for a Work whose Deployments run at once.
fn applied(w: &DynamicObject) -> Value {
    let generation = w.metadata.generation.unwrap_or(1);
    let manifests = w
        .data
        .pointer("/spec/workload/manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<Value> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let r = m["spec"]["replicas"].as_i64().unwrap_or(1);
            let tgen: i64 = m["metadata"]["annotations"]["resourcetemplate.karmada.io/generation"]
                .as_str()
                .and_then(|g| g.parse().ok())
                .unwrap_or(0);
            json!({
                "identifier": {"ordinal": i, "group": "apps", "version": "v1",
                    "kind": m["kind"], "resource": "deployments",
                    "namespace": m["metadata"]["namespace"], "name": m["metadata"]["name"]},
                "status": {"replicas": r, "readyReplicas": r, "availableReplicas": r,
                    "updatedReplicas": r, "generation": 1, "observedGeneration": 1,
                    "resourceTemplateGeneration": tgen},
                "health": "Healthy",
            })
        })
        .collect();
    json!({"status": {
        "conditions": [{"type": "Applied", "status": "True", "reason": "AppliedSuccessful",
            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": generation}],
        "manifestStatuses": statuses,
    }})
}

/// Play the hub: every new Work generation is reported applied and healthy.
fn fake_hub(client: kube::Client, seen: Shared) -> tokio::task::JoinHandle<()> {
    let work = ar("work.karmada.io", "v1alpha1", "Work", "works");
    tokio::spawn(async move {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &work);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<DynamicObject>();
        let reporter = {
            let (client, seen, work) = (client.clone(), Arc::clone(&seen), work.clone());
            tokio::spawn(
                tokio_stream::wrappers::UnboundedReceiverStream::new(rx).for_each_concurrent(
                    64,
                    move |w| {
                        let (client, seen, work) =
                            (client.clone(), Arc::clone(&seen), work.clone());
                        async move {
                            let ns = w.metadata.namespace.clone().unwrap_or_default();
                            let name = w.metadata.name.clone().unwrap_or_default();
                            let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &work);
                            let pp = PatchParams {
                                field_manager: Some("cceone-hub".into()),
                                ..Default::default()
                            };
                            if api
                                .patch_status(&name, &pp, &Patch::Merge(&applied(&w)))
                                .await
                                .is_ok()
                            {
                                seen.lock()
                                    .unwrap()
                                    .reported
                                    .entry((ns, name))
                                    .or_insert_with(Instant::now);
                            }
                        }
                    },
                ),
            )
        };
        let mut reported: HashMap<(String, String), i64> = HashMap::new();
        let mut s = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(w) = ev else { continue };
            let key = (
                w.metadata.namespace.clone().unwrap_or_default(),
                w.metadata.name.clone().unwrap_or_default(),
            );
            let generation = w.metadata.generation.unwrap_or(1);
            if reported.get(&key) == Some(&generation) {
                continue;
            }
            reported.insert(key.clone(), generation);
            seen.lock()
                .unwrap()
                .work
                .entry(key)
                .or_insert_with(Instant::now);
            let _ = tx.send(w);
        }
        reporter.abort();
    })
}

fn watch_federation(client: &kube::Client, seen: &Shared) -> Vec<tokio::task::JoinHandle<()>> {
    let rb = ar(
        "work.karmada.io",
        "v1alpha2",
        "ResourceBinding",
        "resourcebindings",
    );
    let dep = ar("apps", "v1", "Deployment", "deployments");
    let mut tasks = Vec::new();
    let (c, s) = (client.clone(), Arc::clone(seen));
    tasks.push(tokio::spawn(async move {
        let api: Api<DynamicObject> = Api::namespaced_with(c, NS, &rb);
        let mut st = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(ev) = st.next().await {
            let Ok(b) = ev else { continue };
            let name = b.metadata.name.clone().unwrap_or_default();
            let scheduled = b
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Scheduled" && c["status"] == "True")
                });
            let now = Instant::now();
            let mut g = s.lock().unwrap();
            g.rb_seen.entry(name.clone()).or_insert(now);
            if scheduled {
                g.rb_scheduled.entry(name).or_insert(now);
            }
        }
    }));
    let (c, s) = (client.clone(), Arc::clone(seen));
    tasks.push(tokio::spawn(async move {
        let api: Api<DynamicObject> = Api::namespaced_with(c, NS, &dep);
        let mut st = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(ev) = st.next().await {
            let Ok(d) = ev else { continue };
            let want = d.data.pointer("/spec/replicas").and_then(Value::as_i64);
            let ready = d
                .data
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64);
            if want.is_some() && want == ready {
                let name = d.metadata.name.clone().unwrap_or_default();
                s.lock()
                    .unwrap()
                    .ready
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    }));
    tasks
}

fn policy(n: usize) -> Value {
    let clusters: Vec<String> = (1..=n).map(|i| format!("member{i}")).collect();
    let weights: Vec<Value> = clusters
        .iter()
        .map(|c| json!({"targetCluster": {"clusterNames": [c]}, "weight": 1}))
        .collect();
    json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "all", "namespace": NS},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
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

fn deployment(name: &str, replicas: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
        },
    })
}

async fn metrics(client: &kube::Client) -> String {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    client.request_text(req).await.unwrap_or_default()
}

/// `controller=depth` for every controller queue.
fn queue_depths(metrics: &str) -> String {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("federation_queue_depth{controller=\""))
        .filter_map(|l| {
            let (name, rest) = l.split_once('"')?;
            Some(format!("{name}={}", rest.rsplit(' ').next()?))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reconciles and seconds spent per controller.
fn controller_lines(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_storage_")
                || l.starts_with("federation_reconciles_total")
                || l.starts_with("federation_reconcile_seconds_total")
                || l.starts_with("federation_queue_adds_total")
        })
        .map(str::to_string)
        .collect()
}

async fn top_requests(client: &kube::Client) -> Vec<String> {
    let text = metrics(client).await;
    let mut rows: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("apiserver_request_total"))
        .filter_map(|l| {
            let (labels, n) = l.rsplit_once(' ')?;
            Some((n.parse().ok()?, labels.to_string()))
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.into_iter()
        .take(12)
        .map(|(n, l)| format!("{n:>8}  {l}"))
        .collect()
}

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,kube=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let (k, n) = if quick { (100, 5) } else { (1000, 10) };
    let k = env_usize("BENCH_K", k);
    let n = env_usize("BENCH_N", n).max(1);
    let concurrency = env_usize("BENCH_CONCURRENCY", 64).max(1);
    let works = k * n;
    println!(
        "controlplane: K={k} Deployments x N={n} clusters ({works} Works), {concurrency} writes in flight, the hub played over HTTPS, {} cores",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );

    let dir = tempfile::tempdir().unwrap();
    let fed = cceone_federation::start(cceone_federation::FederationConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Some(dir.path().join("data")),
    ))
    .await
    .unwrap();
    let client = fed.client().await.unwrap();
    for i in 1..=n {
        join(&client, &format!("member{i}")).await;
    }
    let clusters: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ar("cluster.karmada.io", "v1alpha1", "Cluster", "clusters"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = clusters
            .list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|c| {
                        c.data
                            .pointer("/status/conditions")
                            .and_then(Value::as_array)
                            .is_some_and(|cs| {
                                cs.iter()
                                    .any(|x| x["type"] == "Ready" && x["status"] == "True")
                            })
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready >= n {
            break;
        }
        assert!(Instant::now() < deadline, "clusters did not turn Ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ns: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .unwrap();
    Api::<DynamicObject>::all_with(client.clone(), &ar("", "v1", "Namespace", "namespaces"))
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let pp: DynamicObject = serde_json::from_value(policy(n)).unwrap();
    Api::<DynamicObject>::namespaced_with(
        client.clone(),
        NS,
        &ar(
            "policy.karmada.io",
            "v1alpha1",
            "PropagationPolicy",
            "propagationpolicies",
        ),
    )
    .create(&PostParams::default(), &pp)
    .await
    .unwrap();

    let seen: Shared = Arc::default();
    let hub = fake_hub(client.clone(), Arc::clone(&seen));
    let watchers = watch_federation(&client, &seen);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // How late a 10 ms timer fires: the longest the runtime's workers were all busy or blocked.
    let lateness = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let window_late = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = {
        let (seen, client) = (Arc::clone(&seen), client.clone());
        let window_late = Arc::clone(&window_late);
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let text = metrics(&client).await;
                let depths = queue_depths(&text);
                let api_count = |verb: &str, resource: &str| -> u64 {
                    let needle = format!("verb=\"{verb}\",resource=\"{resource}\",");
                    text.lines()
                        .filter(|l| l.starts_with("apiserver_request_total") && l.contains(&needle))
                        .filter(|l| l.contains("code=\"20"))
                        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                        .sum()
                };
                let api = format!(
                    "api: bindings {} works {} work-status {}",
                    api_count("create", "resourcebindings.work.karmada.io"),
                    api_count("create", "works.work.karmada.io"),
                    api_count("patch", "works.work.karmada.io/status"),
                );
                let late = window_late.swap(0, std::sync::atomic::Ordering::Relaxed);
                let s = seen.lock().unwrap();
                println!(
                    "  [{:>6.1} s] written {}/{k}  scheduled {}  works {}/{works}  reported {}  ready {}/{k}  RSS {} MiB  queues {depths}  timer late <= {late} ms  {api}",
                    t0.elapsed().as_secs_f64(),
                    s.written.len(),
                    s.rb_scheduled.len(),
                    s.work.len(),
                    s.reported.len(),
                    s.ready.len(),
                    rss_kib() / 1024
                );
            }
        })
    };

    let ticker = {
        let (lateness, window_late) = (Arc::clone(&lateness), Arc::clone(&window_late));
        tokio::spawn(async move {
            loop {
                let t = Instant::now();
                tokio::time::sleep(Duration::from_millis(10)).await;
                let late = t.elapsed().saturating_sub(Duration::from_millis(10));
                lateness.fetch_max(
                    late.as_millis() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                window_late.fetch_max(
                    late.as_millis() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
        })
    };
    let deploys: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NS,
        &ar("apps", "v1", "Deployment", "deployments"),
    );
    let cpu0 = cpu_seconds();
    let first = Instant::now();
    futures::stream::iter(0..k)
        .for_each_concurrent(concurrency, |i| {
            let (deploys, seen) = (deploys.clone(), Arc::clone(&seen));
            async move {
                let name = format!("app-{i:05}");
                let d: DynamicObject = serde_json::from_value(deployment(&name, n)).unwrap();
                seen.lock()
                    .unwrap()
                    .written
                    .insert(name.clone(), Instant::now());
                if let Err(e) = deploys.create(&PostParams::default(), &d).await {
                    eprintln!("creating {name}: {e}");
                }
            }
        })
        .await;
    let last_write = Instant::now();
    let deadline = last_write + Duration::from_secs(env_usize("BENCH_TIMEOUT", 600) as u64);
    loop {
        {
            let s = seen.lock().unwrap();
            if s.ready.len() >= k && s.reported.len() >= works {
                break;
            }
        }
        if Instant::now() > deadline {
            println!("NOT COMPLETE within the timeout; figures cover what completed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end = Instant::now();
    let cpu = cpu_seconds() - cpu0;
    progress.abort();
    ticker.abort();
    let s = std::mem::take(&mut *seen.lock().unwrap());
    let written = |name: &str| s.written.get(name).copied();
    let template_of = |key: &(String, String)| {
        // Works are named <name>-<hash>; the template is app-NNNNN.
        key.1.get(..9).and_then(written)
    };
    let mut to_work = gaps(&s.work, template_of);
    let mut relay = gaps(&s.reported, |k| s.work.get(k).copied());
    let mut to_ready = gaps(&s.ready, |n| written(n));
    let mut sched = gaps(&s.rb_scheduled, |n| s.rb_seen.get(n).copied());
    let all_ready = s
        .ready
        .values()
        .max()
        .map(|t| t.saturating_duration_since(last_write));
    println!();
    println!(
        "results (K={k} x N={n}, {works} Works; wall {:.1} s from the first write; writes took {:.1} s)",
        (end - first).as_secs_f64(),
        (last_write - first).as_secs_f64()
    );
    println!(
        "  bindings scheduled     {:>8.0}/s   (seen -> Scheduled p50 {} p99 {})   Karmada ~22/s; aim >= 2,000/s",
        s.rb_scheduled.len() as f64 / span(&s.rb_scheduled).max(1e-9),
        pct(&mut sched, 0.5),
        pct(&mut sched, 0.99)
    );
    println!(
        "  Works written          {:>8.0}/s   ({} Works)",
        s.work.len() as f64 / span(&s.work).max(1e-9),
        s.work.len()
    );
    println!(
        "  template -> Work       p50 {}  p99 {}",
        pct(&mut to_work, 0.5),
        pct(&mut to_work, 0.99)
    );
    println!(
        "  Work -> reported       p50 {}  p99 {}   (the played hub's HTTPS status write)",
        pct(&mut relay, 0.5),
        pct(&mut relay, 0.99)
    );
    println!(
        "  template -> ready      p50 {}  p99 {}   last write -> all ready {}",
        pct(&mut to_ready, 0.5),
        pct(&mut to_ready, 0.99),
        all_ready.map_or("n/a".into(), |d| format!("{:.2} s", d.as_secs_f64()))
    );
    println!(
        "  CPU                    {:.1} s in this process ({:.2} s per 1,000 Works; federation and the played hub together)",
        cpu,
        cpu * 1000.0 / works.max(1) as f64
    );
    println!(
        "  RSS                    {} MiB, {:.1} KiB per Work held   aim <= 16 KiB",
        rss_kib() / 1024,
        rss_kib() as f64 / works.max(1) as f64
    );
    println!(
        "  runtime                a 10 ms timer fired up to {} ms late",
        lateness.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("  controllers:");
    for line in controller_lines(&metrics(&client).await) {
        println!("    {line}");
    }
    println!("  busiest requests (count, labels):");
    for line in top_requests(&client).await {
        println!("    {line}");
    }
    hub.abort();
    for w in watchers {
        w.abort();
    }
    fed.shutdown().await;
}
