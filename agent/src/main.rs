//! `cceone-cluster-agent`: parse flags and environment, build the member-cluster client, set up
//! logging and signals, and hand over to [`cceone_cluster_agent::run`].

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use cceone_cluster_agent::Config;
use clap::Parser;

/// The cceone member-cluster agent. Settings come from `CCEONE_*` environment variables.
#[derive(Debug, Parser)]
#[command(name = "cceone-cluster-agent", version)]
struct Args {
    /// Kubeconfig of the member cluster (outside a cluster); in-cluster config when absent.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

/// `CCEONE_LOG_FORMAT=json` switches logs to JSON lines.
const LOG_FORMAT: &str = "CCEONE_LOG_FORMAT";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var(LOG_FORMAT).is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn member_client(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no --kubeconfig and no in-cluster configuration")?,
    };
    kube::Client::try_from(config).context("building the member-cluster client")
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let args = Args::parse();
    let cfg = Config::from_system_env().context("agent configuration")?;
    let client = member_client(args.kubeconfig).await?;
    cceone_cluster_agent::run(cfg, client, shutdown_signal())
        .await
        .context("cceone-cluster-agent")
}
