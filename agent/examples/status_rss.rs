//! Measure the status collector's resident memory: connect to a member cluster, wait for the
//! first complete snapshot, then print it with this process's VmRSS / VmHWM.
//!
//! `cargo run -p cceone-cluster-agent --example status_rss -- /tmp/m.kubeconfig`

use std::time::{Duration, Instant};

use anyhow::Context;

fn proc_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "?".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: status_rss KUBECONFIG [SETTLE_SECS]")?;
    let settle: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("before client: VmRSS {}", proc_status("VmRSS:"));
    let kc = kube::config::Kubeconfig::read_from(&path)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(cfg)?;
    let started = Instant::now();
    let mut rx = cceone_cluster_agent::watch_status(client);
    rx.changed().await.context("collector stopped")?;
    let synced = started.elapsed();
    let s = rx.borrow().clone();
    println!(
        "first snapshot after {synced:?}: nodes {}/{} ready, vcpus {}, allocated pods {}",
        s.nodes_total,
        s.nodes_ready,
        s.vcpus,
        s.allocated
            .get("pods")
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    println!(
        "synced: VmRSS {}  VmHWM {}",
        proc_status("VmRSS:"),
        proc_status("VmHWM:")
    );
    tokio::time::sleep(Duration::from_secs(settle)).await;
    println!(
        "settled {settle}s: VmRSS {}  VmHWM {}",
        proc_status("VmRSS:"),
        proc_status("VmHWM:")
    );
    Ok(())
}
