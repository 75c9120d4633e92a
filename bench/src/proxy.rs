//! Section 4: the cluster proxy. A simulated member holds many ~2 KiB ConfigMaps; the same
//! list is fetched directly from the simulator and through
//! `https://<hub>/clusters/<name>/proxy/api/v1/configmaps` (the real agent binary serving it
//! over its tunnel), alternately, first over TCP and then over QUIC. Also the latency a small
//! GET gains through the tunnel. Both sides use the same client (kube-rs, HTTP/1.1 over TLS)
//! and count body bytes without parsing them. Then raw streams: `kubectl port-forward` to a
//! pod's responder, through the tunnel and directly ([`crate::portforward`]).

use std::time::{Duration, Instant};

use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::platform::{self, Platform, Proc};
use crate::report::{percentile, progress};

const CLUSTER: &str = "bench-proxy";
const NS: &str = "bench";

/// One transport's figures.
pub(crate) struct ProxyRun {
    /// `TCP` or `QUIC`.
    pub(crate) transport: &'static str,
    /// Bytes in one list.
    pub(crate) list_bytes: usize,
    /// Lists fetched each way.
    pub(crate) rounds: usize,
    /// Direct throughput, bytes per second.
    pub(crate) direct_bps: f64,
    /// Through-the-tunnel throughput, bytes per second.
    pub(crate) tunnel_bps: f64,
    /// Small GET latencies, direct.
    pub(crate) direct_lat: Vec<Duration>,
    /// Small GET latencies through the tunnel.
    pub(crate) tunnel_lat: Vec<Duration>,
    /// CPU per MB of list through the tunnel: (member, agent, hub, client) in ms.
    pub(crate) tunnel_cpu: [f64; 4],
    /// CPU per MB of list fetched directly: (member, client) in ms.
    pub(crate) direct_cpu: [f64; 2],
    /// `kubectl port-forward` directly to the simulator.
    pub(crate) pf_direct: crate::portforward::Rates,
    /// `kubectl port-forward` through the hub and the tunnel.
    pub(crate) pf_tunnel: crate::portforward::Rates,
    /// Bytes per port-forward download.
    pub(crate) pf_bytes: usize,
}

/// CPU time of several processes.
fn cpu(pids: &[u32]) -> Vec<Duration> {
    pids.iter().map(|&p| platform::cpu_time(p)).collect()
}

fn add_delta(acc: &mut [Duration], before: &[Duration], after: &[Duration]) {
    for ((a, b), c) in acc.iter_mut().zip(before).zip(after) {
        *a += c.saturating_sub(*b);
    }
}

pub(crate) async fn fetch(client: &kube::Client, path: &str) -> anyhow::Result<(usize, Duration)> {
    let t = Instant::now();
    let req = http::Request::get(path).body(kube::client::Body::from(Vec::new()))?;
    let resp = client.send(req).await?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut n = 0;
    while let Some(f) = body.frame().await {
        if let Ok(d) = f?.into_data() {
            n += d.len();
        }
    }
    anyhow::ensure!(status.is_success(), "GET {path}: {status}");
    Ok((n, t.elapsed()))
}

/// Run the section with `objects` ConfigMaps, `rounds` lists and `gets` small GETs each way.
pub(crate) async fn run(
    p: &Platform,
    objects: usize,
    rounds: usize,
    gets: usize,
) -> anyhow::Result<Vec<ProxyRun>> {
    let (member, member_kc) =
        platform::kubesim(p.dir.path(), "proxy-member", &["--nodes", "3"]).await?;
    let direct = platform::client_from_file(&member_kc).await?;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(direct.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let t = Instant::now();
    let cms: Api<ConfigMap> = Api::namespaced(direct.clone(), NS);
    let blob = "x".repeat(1900);
    let created: Vec<anyhow::Result<()>> = futures::stream::iter(0..objects)
        .map(|i| {
            let cms = cms.clone();
            let blob = blob.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("cm-{i:05}"), "labels": {"app": "bench"}},
                    "data": {"blob": blob, "index": i.to_string()},
                }))?;
                cms.create(&PostParams::default(), &cm).await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    created.into_iter().collect::<anyhow::Result<()>>()?;
    progress(format!(
        "proxy: {objects} ConfigMaps created in the member in {:.1} s",
        t.elapsed().as_secs_f64()
    ));

    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "solo"},
        "spec": {"containers": [{"name": "solo", "image": "busybox"}]},
    }))?;
    let pods: Api<Pod> = Api::namespaced(direct.clone(), NS);
    pods.create(&PostParams::default(), &pod).await?;
    let t = Instant::now();
    while pods.get("solo").await?.status.and_then(|s| s.phase) != Some("Running".into()) {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "pod solo not Running"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    p.create_clusters(&[CLUSTER.to_string()], 1).await?;
    let token =
        cceone_platform::token::issue(&p.fed_client, CLUSTER, Duration::from_secs(3600)).await?;
    let mut agent = Proc::start(
        "agent-proxy",
        "cceone-cluster-agent",
        vec!["--kubeconfig".into(), member_kc.display().to_string()],
        p.agent_env(CLUSTER, &token, "grpc"),
        p.dir.path(),
    )?;
    let (_, ptoken) = cceone_platform::proxytoken::issue(
        &p.fed_client,
        CLUSTER,
        "bench",
        &["system:masters".to_string()],
        None,
    )
    .await?;
    let via_yaml = cceone_platform::proxytoken::kubeconfig_yaml(
        &p.hub_endpoint(),
        CLUSTER,
        &p.ca_pem,
        "bench",
        &ptoken,
    );
    let via_kc = p.dir.path().join("via.kubeconfig");
    std::fs::write(&via_kc, &via_yaml)?;
    let via = platform::client_from_yaml(&via_yaml).await?;
    let mut out = Vec::new();
    for (label, transport) in [("TCP", "grpc"), ("QUIC", "quic")] {
        if transport != "grpc" {
            agent.kill();
            agent.set_env("CCEONE_TRANSPORT", transport);
            agent.restart()?;
        }
        p.wait_status(CLUSTER, Duration::from_secs(60), |s| {
            s["phase"] == "Running" && s["transport"] == transport
        })
        .await?;
        let one = format!("/api/v1/namespaces/{NS}/configmaps/cm-00000");
        let t = Instant::now();
        while fetch(&via, &one).await.is_err() {
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(30),
                "the proxy did not answer; agent log:\n{}",
                platform::tail(&agent.log_text(), 20)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        progress(format!(
            "proxy: agent connected over {label}; {rounds} lists and {gets} small GETs each way"
        ));
        let list = "/api/v1/configmaps";
        // Warm-up, both ways.
        fetch(&direct, list).await?;
        fetch(&via, list).await?;
        let (mut db, mut dt, mut tb, mut tt) = (0usize, Duration::ZERO, 0usize, Duration::ZERO);
        let mut list_bytes = 0;
        let pids = [member.pid(), agent.pid(), p.hub.pid(), std::process::id()];
        let (mut dcpu, mut tcpu) = ([Duration::ZERO; 4], [Duration::ZERO; 4]);
        for _ in 0..rounds {
            let c0 = cpu(&pids);
            let (b, d) = fetch(&direct, list).await?;
            let c1 = cpu(&pids);
            add_delta(&mut dcpu, &c0, &c1);
            db += b;
            dt += d;
            list_bytes = b;
            let (b, d) = fetch(&via, list).await?;
            add_delta(&mut tcpu, &c1, &cpu(&pids));
            tb += b;
            tt += d;
        }
        let per_mb = |c: Duration, bytes: usize| c.as_secs_f64() * 1e3 / (bytes as f64 / 1e6);
        let mut direct_lat = Vec::new();
        let mut tunnel_lat = Vec::new();
        for i in 0..gets + 20 {
            let (_, d) = fetch(&direct, &one).await?;
            let (_, t) = fetch(&via, &one).await?;
            if i >= 20 {
                direct_lat.push(d);
                tunnel_lat.push(t);
            }
        }
        progress(format!(
            "proxy {label}: list {:.1} MB/s direct, {:.1} MB/s through the tunnel; GET p50 {:.2} ms direct, {:.2} ms tunnel",
            db as f64 / dt.as_secs_f64() / 1e6,
            tb as f64 / tt.as_secs_f64() / 1e6,
            percentile(&direct_lat, 50.0).as_secs_f64() * 1e3,
            percentile(&tunnel_lat, 50.0).as_secs_f64() * 1e3,
        ));
        let pf_bytes = if rounds > 5 { 64 << 20 } else { 16 << 20 };
        let (pf_direct, pf_tunnel) =
            crate::portforward::run(&member_kc, &via_kc, NS, "solo", p.dir.path(), pf_bytes, 3)
                .await?;
        progress(format!(
            "proxy {label}: port-forward {:.1} MB/s down direct, {:.1} MB/s through the tunnel",
            pf_direct.down / 1e6,
            pf_tunnel.down / 1e6
        ));
        out.push(ProxyRun {
            transport: label,
            list_bytes,
            rounds,
            direct_bps: db as f64 / dt.as_secs_f64(),
            tunnel_bps: tb as f64 / tt.as_secs_f64(),
            direct_lat,
            tunnel_lat,
            tunnel_cpu: [0, 1, 2, 3].map(|i| per_mb(tcpu[i], tb)),
            direct_cpu: [per_mb(dcpu[0], db), per_mb(dcpu[3], db)],
            pf_direct,
            pf_tunnel,
            pf_bytes,
        });
    }
    Ok(out)
}
