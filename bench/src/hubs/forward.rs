//! Proxied requests through several hubs: a simulated member with a real agent (given every
//! hub's endpoint), and one small GET (`/api/v1/namespaces/bench/configmaps`, five small
//! ConfigMaps) sent through the hub holding the cluster's tunnel and through another that
//! forwards it there over mutual TLS, `concurrency` requests in flight, alternately, side by
//! side on the same machine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::json;

use super::{HubProc, Set};
use crate::platform::{self, Proc};
use crate::report::progress;

const CLUSTER: &str = "bench-forward";
const NS: &str = "bench";
const PATH: &str = "/api/v1/namespaces/bench/configmaps";

/// One way in: the owning hub or a forwarding one.
pub(crate) struct Side {
    /// Which way, for the table.
    pub(crate) label: String,
    /// Requests answered 2xx.
    pub(crate) ok: usize,
    /// Requests that failed.
    pub(crate) errors: usize,
    /// Time spent sending them.
    pub(crate) elapsed: Duration,
    /// Latency of each answered request.
    pub(crate) lat: Vec<Duration>,
    /// Requests the entry hub counted as forwarded (`cceone_hub_proxy_forwarded_total`).
    pub(crate) forwarded: u64,
}

/// Both ways, and the settings they ran with.
pub(crate) struct Forwarding {
    pub(crate) sides: Vec<Side>,
    pub(crate) concurrency: usize,
    pub(crate) body_bytes: usize,
}

/// Run the section on `set` (every hub up), `concurrency` in flight for `secs` each way.
pub(crate) async fn run(
    set: &Set,
    concurrency: usize,
    secs: Duration,
) -> anyhow::Result<Forwarding> {
    let dir = set.dir.path();
    let (_member, member_kc) = platform::kubesim(dir, "forward-member", &["--nodes", "3"]).await?;
    let direct = platform::client_from_file(&member_kc).await?;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(direct.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let cms: Api<ConfigMap> = Api::namespaced(direct, NS);
    for i in 0..5 {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("cm-{i}")},
            "data": {"index": i.to_string()},
        }))?;
        cms.create(&PostParams::default(), &cm).await?;
    }
    platform::create_clusters(&set.fed_client, &[CLUSTER.to_string()], 1).await?;
    let token =
        cceone_platform::token::issue(&set.fed_client, CLUSTER, Duration::from_secs(3600)).await?;
    // Given every hub, the agent takes the first that answers.
    let mut env = BTreeMap::new();
    env.insert("CCEONE_HUB_ENDPOINT".into(), set.endpoints().join(","));
    env.insert("CCEONE_CLUSTER_NAME".into(), CLUSTER.into());
    env.insert("CCEONE_HUB_CA".into(), set.ca_pem.clone());
    env.insert("CCEONE_BOOTSTRAP_TOKEN".into(), token);
    env.insert("CCEONE_TRANSPORT".into(), "grpc".into());
    env.insert("CCEONE_AGENT_ID".into(), format!("{CLUSTER}-agent"));
    env.insert("CCEONE_HEALTH_ADDR".into(), "127.0.0.1:0".into());
    env.insert("RUST_LOG".into(), "info,kube=warn".into());
    let agent = Proc::start(
        "agent-forward",
        "cceone-cluster-agent",
        vec!["--kubeconfig".into(), member_kc.display().to_string()],
        env,
        dir,
    )?;
    let t = Instant::now();
    let owner = loop {
        let held = set.record.lock().unwrap().now.get(CLUSTER).cloned();
        if let Some(h) = held.filter(|h| h.running()) {
            break h.hub;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "{CLUSTER} did not become Running; agent log:\n{}",
            platform::tail(&agent.log_text(), 20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let owning = set.hub(&owner)?;
    let other = set
        .hubs
        .iter()
        .find(|h| h.id != owner)
        .ok_or_else(|| anyhow::anyhow!("no second hub"))?;
    let (_, ptoken) = cceone_platform::proxytoken::issue(
        &set.fed_client,
        CLUSTER,
        "bench",
        &["system:masters".to_string()],
        None,
    )
    .await?;
    let client = |hub: &HubProc| {
        let yaml = cceone_platform::proxytoken::kubeconfig_yaml(
            &hub.endpoint(),
            CLUSTER,
            &set.ca_pem,
            "bench",
            &ptoken,
        );
        async move { platform::client_from_yaml(&yaml).await }
    };
    let ways = [
        (
            format!("owning hub ({})", owning.id),
            owning,
            client(owning).await?,
        ),
        (
            format!("forwarded: {} → {}", other.id, owning.id),
            other,
            client(other).await?,
        ),
    ];
    // Both ways answer (the entry hub has seen the owner's Lease), then a warm-up.
    let mut body_bytes = 0;
    for (label, _, c) in &ways {
        let t = Instant::now();
        loop {
            match crate::proxy::fetch(c, PATH).await {
                Ok((n, _)) => {
                    body_bytes = n;
                    break;
                }
                Err(e) => anyhow::ensure!(
                    t.elapsed() < Duration::from_secs(30),
                    "GET {PATH} through the {label}: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..20 {
            crate::proxy::fetch(c, PATH).await?;
        }
    }
    progress(format!(
        "hubs: {CLUSTER} held by {owner}; {concurrency} GETs in flight, {} s each way in two halves",
        secs.as_secs()
    ));
    let mut sides: Vec<Side> = ways
        .iter()
        .map(|(label, _, _)| Side {
            label: label.clone(),
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            lat: Vec::new(),
            forwarded: 0,
        })
        .collect();
    for _half in 0..2 {
        for ((_, hub, c), side) in ways.iter().zip(&mut sides) {
            let f0 = hub.metric("cceone_hub_proxy_forwarded_total").await;
            let (ok, errors, lat, elapsed) = load(c, concurrency, secs / 2).await;
            side.ok += ok;
            side.errors += errors;
            side.lat.extend(lat);
            side.elapsed += elapsed;
            side.forwarded += hub
                .metric("cceone_hub_proxy_forwarded_total")
                .await
                .saturating_sub(f0);
        }
    }
    Ok(Forwarding {
        sides,
        concurrency,
        body_bytes,
    })
}

/// `concurrency` loops of GET [`PATH`] for `dur`: (answered, failed, latencies, elapsed).
async fn load(
    client: &kube::Client,
    concurrency: usize,
    dur: Duration,
) -> (usize, usize, Vec<Duration>, Duration) {
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + dur;
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, lat, errors) = (client.clone(), Arc::clone(&lat), Arc::clone(&errors));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        crate::proxy::fetch(&client, PATH),
                    )
                    .await
                    {
                        Ok(Ok((_, d))) => lat.lock().unwrap().push(d),
                        _ => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let lat = std::mem::take(&mut *lat.lock().unwrap());
    (
        lat.len(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        lat,
        elapsed,
    )
}
