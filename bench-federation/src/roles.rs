//! The child processes' side: `bench-federation --role federation --dir D` runs the federation
//! (API server and controllers; data in `D/federation`) and writes `D/federation.kubeconfig`;
//! `bench-federation --role hub --dir D` runs the hub against it (data in `D/hub`) and writes
//! `D/hub.ca` and then `D/hub.addr`. Each file is written atomically, once the component serves.
//! Both run until SIGTERM, SIGINT or the end of their stdin (the parent going away).

use std::path::Path;

use anyhow::Context;

/// Written by the federation role once its API serves.
pub(crate) const FEDERATION_KUBECONFIG: &str = "federation.kubeconfig";
/// The hub's CA (PEM), written by the hub role before [`HUB_ADDR`].
pub(crate) const HUB_CA: &str = "hub.ca";
/// `127.0.0.1:<port>` of the hub, written by the hub role once it serves.
pub(crate) const HUB_ADDR: &str = "hub.addr";

/// Run `role` until told to stop.
pub(crate) async fn run(role: &str, dir: &Path) -> anyhow::Result<()> {
    match role {
        "federation" => federation(dir).await,
        "hub" => hub(dir).await,
        other => anyhow::bail!("unknown role {other:?}: expected federation or hub"),
    }
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// Resolves on SIGTERM, SIGINT, or when stdin reaches its end (the parent closed it or died).
async fn stop_requested() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = rx => {}
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn federation(dir: &Path) -> anyhow::Result<()> {
    let mut cfg = cceone_federation::FederationConfig::new(
        "127.0.0.1:0".parse()?,
        Some(dir.join("federation")),
    );
    // BENCH_WORKERS: reconciles in flight per controller (the federation's default otherwise).
    if let Some(w) = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        cfg.workers = w;
    }
    let fed = cceone_federation::start(cfg)
        .await
        .context("starting the federation")?;
    write_atomically(&dir.join(FEDERATION_KUBECONFIG), &fed.admin_kubeconfig())?;
    tracing::info!(url = %fed.url(), "federation serving");
    stop_requested().await;
    fed.shutdown().await;
    Ok(())
}

async fn hub(dir: &Path) -> anyhow::Result<()> {
    let client = crate::client_from(&dir.join(FEDERATION_KUBECONFIG)).await?;
    let cfg = cceone_hub::HubConfig::new("127.0.0.1:0".parse()?, dir.join("hub"));
    let hub = cceone_hub::start(cfg, client)
        .await
        .context("starting the hub")?;
    write_atomically(&dir.join(HUB_CA), hub.hub.ca_pem())?;
    write_atomically(
        &dir.join(HUB_ADDR),
        &format!("127.0.0.1:{}\n", hub.addr.port()),
    )?;
    tracing::info!(addr = %hub.addr, "hub serving");
    stop_requested().await;
    hub.shutdown();
    Ok(())
}
