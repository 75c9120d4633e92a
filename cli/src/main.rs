//! `cceonectl`: the platform admin's command line against the federation API: register member
//! clusters and print their agent manifests, list them, revoke or unsubscribe them, and issue
//! bootstrap tokens and proxy kubeconfigs; group clusters into fleets; print metered
//! usage; issue and revoke people's kubeconfigs; taint federation clusters; show an object
//! in every member (`get`) or take one under federation control (`promote`); and, offline,
//! read audit logs and repair a stopped server's store.

mod args;
mod audit;
mod cluster;
mod fleet;
mod get;
mod grant;
mod promote;
mod store;
mod taint;
mod usage;
mod user;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::args::{Cli, ClusterCommand, Command, TaintCommand};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        kubeconfig,
        context,
        command,
    } = cli;
    let cmd = match command {
        Command::Store(cmd) => return store::run(cmd),
        Command::Audit(a) => return audit::run(a),
        Command::User(cmd) => {
            let target = user::target(kubeconfig.as_deref(), context.as_deref())?;
            let client = client(kubeconfig.as_deref(), context).await?;
            return user::run(&client, &target, cmd).await;
        }
        Command::Taint(TaintCommand::Cluster {
            name,
            taints,
            overwrite,
        }) => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return taint::cluster(&client, &name, &taints, overwrite).await;
        }
        Command::Cordon { name } => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return taint::cordon(&client, &name, true).await;
        }
        Command::Uncordon { name } => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return taint::cordon(&client, &name, false).await;
        }
        Command::Fleet(cmd) => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return fleet::run(&client, cmd).await;
        }
        Command::Grant(cmd) => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return grant::run(&client, cmd).await;
        }
        Command::Get(a) => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return get::run(&client, a).await;
        }
        Command::Promote(a) => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return promote::run(&client, a).await;
        }
        Command::Usage(a) => {
            let client = client(kubeconfig.as_deref(), context).await?;
            return usage::run(&client, a).await;
        }
        Command::Cluster(cmd) => cmd,
    };
    let client = client(kubeconfig.as_deref(), context).await?;
    match cmd {
        ClusterCommand::Register(a) => cluster::register(&client, a).await,
        ClusterCommand::List(a) => cluster::list(&client, a).await,
        ClusterCommand::Revoke { name } => cluster::revoke(&client, &name).await,
        ClusterCommand::Unsubscribe { name } => cluster::unsubscribe(&client, &name).await,
        ClusterCommand::Protect { name, off, .. } => cluster::protect(&client, &name, !off).await,
        ClusterCommand::Token { name, ttl } => cluster::token(&client, &name, ttl).await,
        ClusterCommand::Kubeconfig(a) => cluster::kubeconfig(&client, a).await,
        ClusterCommand::RevokeKubeconfig { id } => cluster::revoke_kubeconfig(&client, &id).await,
    }
}

/// A client of the federation API from `--kubeconfig`/`--context`, else the usual inference
/// (`$KUBECONFIG`, `~/.kube/config`, in-cluster).
async fn client(
    kubeconfig: Option<&std::path::Path>,
    context: Option<String>,
) -> anyhow::Result<kube::Client> {
    let has_context = context.is_some();
    let opts = KubeConfigOptions {
        context,
        ..KubeConfigOptions::default()
    };
    let config = match (kubeconfig, has_context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        (None, true) => kube::Config::from_kubeconfig(&opts)
            .await
            .context("loading kubeconfig")?,
        (None, false) => kube::Config::infer()
            .await
            .context("finding a kubeconfig")?,
    };
    kube::Client::try_from(config).context("creating the API client")
}

/// Write to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}
