//! `cceone`: the single command that starts the embedded default (`cceone up`).

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cceone",
    version,
    about = "Multi-cluster connectivity and federation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the federation, the hub and N simulated member clusters with their agents until Ctrl-C.
    Up {
        /// State directory (kept across restarts); admin.kubeconfig is written here.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Simulated member clusters (member1..memberN).
        #[arg(long, default_value_t = 3)]
        clusters: usize,
        /// The hub's TCP and UDP listen address (agents elsewhere can join).
        #[arg(long, default_value = "0.0.0.0:9443")]
        hub_listen: std::net::SocketAddr,
        /// The endpoint (host:port) agents elsewhere are told to dial, also put in the hub's
        /// certificate. By default the listen address; with 0.0.0.0 this host's first
        /// non-loopback address (with a warning).
        #[arg(long, alias = "public-endpoint", value_name = "HOST:PORT")]
        hub_public_endpoint: Option<String>,
        /// The federation API's listen address.
        #[arg(long, default_value = "127.0.0.1:6443")]
        federation_listen: std::net::SocketAddr,
        /// Nodes per simulated cluster.
        #[arg(long, default_value_t = 3)]
        nodes_per_cluster: usize,
        /// CPU per node (a Kubernetes quantity).
        #[arg(long, default_value = "4")]
        node_cpu: String,
        /// Memory per node (a Kubernetes quantity).
        #[arg(long, default_value = "16Gi")]
        node_memory: String,
        /// NotReady nodes per cluster.
        #[arg(long, default_value_t = 0)]
        not_ready_nodes: usize,
        /// Extra virtual-kubelet nodes per cluster.
        #[arg(long, default_value_t = 0)]
        virtual_nodes: usize,
        /// The federation API's audit log (default: <data-dir>/audit/audit.log); the simulated
        /// members' go beside it as <member>.log.
        #[arg(long, value_name = "FILE")]
        audit_log: Option<std::path::PathBuf>,
        /// The audit policy (an audit.k8s.io/v1 Policy file, as kube-apiserver's) of the
        /// federation's and the hub's logs; without it, the built-in default.
        #[arg(long, value_name = "FILE")]
        audit_policy_file: Option<std::path::PathBuf>,
        /// Requests to the federation API without credentials run as system:anonymous and RBAC
        /// answers them (403 unless a binding allows), as kube-apiserver's flag; false: 401.
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
        anonymous_auth: bool,
        /// For tests: shift the vCPU-hour meter's clock by the seconds written in FILE.
        #[arg(long, value_name = "FILE", hide = true)]
        clock_offset_file: Option<std::path::PathBuf>,
        /// The federation's store on etcd instead of the embedded one.
        #[command(flatten)]
        etcd: cceone_kube_store_etcd::EtcdFlags,
        /// Days usage records are kept (the meter deletes older ones once an hour).
        #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..))]
        usage_retention_days: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cceone_logging::init("info,kube=warn");
    let Command::Up {
        data_dir,
        clusters,
        hub_listen,
        hub_public_endpoint,
        federation_listen,
        nodes_per_cluster,
        node_cpu,
        node_memory,
        not_ready_nodes,
        virtual_nodes,
        audit_log,
        audit_policy_file,
        anonymous_auth,
        clock_offset_file,
        etcd,
        usage_retention_days,
    } = Cli::parse().command;
    let audit_policy = audit_policy_file
        .as_deref()
        .map(cceone_federation::AuditPolicy::load)
        .transpose()?;
    for (flag, q) in [("--node-cpu", &node_cpu), ("--node-memory", &node_memory)] {
        anyhow::ensure!(
            !q.is_empty()
                && q.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == '.'),
            "{flag} {q:?} is not a Kubernetes quantity"
        );
    }
    anyhow::ensure!(
        not_ready_nodes <= nodes_per_cluster,
        "--not-ready-nodes cannot exceed --nodes-per-cluster"
    );
    let cfg = cceone::UpConfig {
        data_dir,
        clusters,
        hub_listen,
        federation_listen,
        nodes_per_cluster,
        node_cpu,
        node_memory,
        not_ready_nodes,
        virtual_nodes,
    };
    let up = tokio::select! {
        r = cceone::up_with(cfg, cceone::UpOptions { hub_public_endpoint, audit_log, audit_policy, anonymous_auth, clock_offset_file, etcd: etcd.config(), usage_retention: Some(std::time::Duration::from_secs(usage_retention_days.saturating_mul(24 * 3600))) }) => r.context("cceone up")?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
    };
    let kc = up.admin_kubeconfig.display().to_string();
    let hub = up.hub_public_endpoint();
    let console = &up.console_url;
    let link = up.console_link.display();
    println!(
        "\ncceone is up: federation API, hub and {clusters} member cluster(s), all Ready.\n\n  export KUBECONFIG={kc}\n  kubectl get cluster\n  kubectl get registeredclusters\n  kubectl apply -f examples/nginx.yaml   # a Deployment, OverridePolicy and PropagationPolicy\n  kubectl get rb nginx-deployment -o yaml\n  kubectl get deployment nginx\n\nConsole: {console} (open the one-time admin sign-in link in {link},\n  or sign in with a bearer token from a kubeconfig).\n\nAgents that `cceonectl cluster register` renders dial the hub at {hub}.\nCtrl-C stops everything; state stays in the data directory.\n"
    );
    let lost = up.leadership_lost();
    tokio::select! {
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for Ctrl-C")?;
            up.shutdown().await;
            Ok(())
        }
        () = lost => {
            // Another federation replica on the same etcd leads now; a fresh `cceone up`
            // rejoins as a follower (as cceone-federation and kube-controller-manager do).
            tracing::error!("leader election lost; exiting");
            std::process::exit(1);
        }
    }
}
