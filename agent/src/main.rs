//! `cceone-cluster-agent`: parse flags and environment, build the member-cluster client, set up
//! logging and signals, and hand over to [`cceone_cluster_agent::run`].

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use cceone_cluster_agent::Config;
use cceone_cluster_agent::config::{EnvFile, Layered, SystemEnv};
use clap::Parser;

/// The cceone member-cluster agent. Settings come from `CCEONE_*` environment variables.
#[derive(Debug, Parser)]
#[command(name = "cceone-cluster-agent", version)]
struct Args {
    /// Kubeconfig of the member cluster (outside a cluster); in-cluster config when absent.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Read `CCEONE_*` settings from this file of KEY=value lines (what `cceonectl cluster
    /// register --format env` writes); variables set in the environment take precedence.
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
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
    cceone_logging::init("info,kube=warn");
    let args = Args::parse();
    let cfg = match &args.env_file {
        Some(path) => {
            let file = EnvFile::read(path)?;
            Config::from_env(&Layered {
                over: SystemEnv,
                under: file,
            })
        }
        None => Config::from_system_env(),
    }
    .context("agent configuration")?;
    let client = member_client(args.kubeconfig).await?;
    cceone_cluster_agent::run(cfg, client, shutdown_signal())
        .await
        .context("cceone-cluster-agent")
}
