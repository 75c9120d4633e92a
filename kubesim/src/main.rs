//! `cceone-kubesim`: run one simulated member cluster (or several, for scale tests).

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cceone_kubesim::{ControllerConfig, NodeShape, SimConfig, Simulator};
use clap::Parser;

/// A simulated Kubernetes member cluster: a Kubernetes-compatible API server with simulated
/// nodes and a workload controller.
#[derive(Debug, Parser)]
#[command(name = "cceone-kubesim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: std::net::SocketAddr,
    /// Data directory (the store and certificates); memory only when absent.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write an admin kubeconfig here once serving.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// CPU per node (a Kubernetes quantity such as 4 or 3500m).
    #[arg(long, default_value = "4")]
    node_cpu: String,
    /// Memory per node (a Kubernetes quantity such as 16Gi).
    #[arg(long, default_value = "16Gi")]
    node_memory: String,
    /// Pods per node.
    #[arg(long, default_value_t = 110)]
    node_pods: u32,
    /// How many of the nodes are NotReady.
    #[arg(long, default_value_t = 0)]
    not_ready_nodes: usize,
    /// Extra nodes labelled `type: virtual-kubelet`.
    #[arg(long, default_value_t = 0)]
    virtual_nodes: usize,
    /// Kubernetes version to report.
    #[arg(long, default_value = "v1.32.0")]
    kubernetes_version: String,
    /// Milliseconds a bound pod takes to become Running and Ready.
    #[arg(long, default_value_t = 200)]
    pod_start_delay_ms: u64,
    /// Milliseconds a Job pod runs before it succeeds.
    #[arg(long, default_value_t = 1000)]
    job_run_ms: u64,
    /// Milliseconds a deleted pod's containers take to stop (at most its grace period).
    #[arg(long, default_value_t = 500)]
    pod_stop_delay_ms: u64,
    /// Seconds between node Lease renewals.
    #[arg(long, default_value_t = 10)]
    lease_interval_secs: u64,
    /// Run this many clusters in one process (ports listen+i, data-dir/cluster-i, kubeconfig-out-i).
    #[arg(long, default_value_t = 1)]
    clusters: usize,
    /// Skip fsync (throwaway simulations only).
    #[arg(long)]
    no_fsync: bool,
    /// The IPv4 CIDR Service cluster IPs are allocated from (kube-apiserver's flag).
    #[arg(long, default_value = cceone_kube_apiserver::admission::services::DEFAULT_SERVICE_CIDR)]
    service_cluster_ip_range: String,
    /// Record every request as audit.k8s.io/v1 Event JSON lines in this file.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Requests without credentials run as system:anonymous and RBAC answers them (403), as
    /// kube-apiserver's flag; --anonymous-auth=false answers them 401.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    anonymous_auth: bool,
}

fn check_quantity(what: &str, q: &str) -> anyhow::Result<()> {
    cceone_kube_quantity::Quantity::parse(q)
        .map(|_| ())
        .with_context(|| format!("--{what} {q:?} is not a Kubernetes quantity"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cceone_logging::init("info");
    let args = Args::parse();
    check_quantity("node-cpu", &args.node_cpu)?;
    check_quantity("node-memory", &args.node_memory)?;
    let service_cidr = cceone_kube_apiserver::admission::services::Cidr::parse(
        &args.service_cluster_ip_range,
    )
    .with_context(|| {
        format!(
            "--service-cluster-ip-range {:?} is not an IPv4 CIDR with a prefix of 8 to 30 bits",
            args.service_cluster_ip_range
        )
    })?;
    anyhow::ensure!(
        args.not_ready_nodes <= args.nodes,
        "--not-ready-nodes cannot exceed --nodes"
    );
    let mut sims = Vec::new();
    for i in 0..args.clusters.max(1) {
        let suffix = |p: &PathBuf| {
            if args.clusters > 1 {
                PathBuf::from(format!("{}-{i}", p.display()))
            } else {
                p.clone()
            }
        };
        let mut listen = args.listen;
        if args.clusters > 1 && listen.port() != 0 {
            listen.set_port(listen.port() + i as u16);
        }
        let cfg = SimConfig {
            listen,
            data_dir: args.data_dir.as_ref().map(suffix),
            nodes: NodeShape {
                nodes: args.nodes,
                cpu: args.node_cpu.clone(),
                memory: args.node_memory.clone(),
                pods: args.node_pods,
                not_ready: args.not_ready_nodes,
                virtual_nodes: args.virtual_nodes,
                kubelet_version: args.kubernetes_version.clone(),
            },
            kubernetes_version: args.kubernetes_version.clone(),
            controller: ControllerConfig {
                start_delay: Duration::from_millis(args.pod_start_delay_ms),
                job_run: Duration::from_millis(args.job_run_ms),
                stop_delay: Duration::from_millis(args.pod_stop_delay_ms),
                ..ControllerConfig::default()
            },
            lease_interval: Duration::from_secs(args.lease_interval_secs.max(1)),
            fsync: !args.no_fsync,
            audit: args
                .audit_log
                .as_ref()
                .map(|p| cceone_kubesim::AuditConfig::new(suffix(p))),
            service_cidr: Some(service_cidr),
            anonymous_auth: args.anonymous_auth,
        };
        let sim = Simulator::start(cfg)
            .await
            .context("starting the simulated cluster")?;
        let name = if args.clusters > 1 {
            format!("kubesim-{i}")
        } else {
            "kubesim".to_string()
        };
        if let Some(out) = args.kubeconfig_out.as_ref().map(suffix) {
            let tmp = out.with_extension("tmp");
            std::fs::write(&tmp, sim.server().admin_kubeconfig(&name))
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
        }
        tracing::info!(
            cluster = name,
            url = sim.server().url(),
            "simulated cluster ready"
        );
        sims.push(sim);
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    for s in sims {
        s.shutdown().await;
    }
    Ok(())
}
