//! `cceone-federation`: parse flags, start the federation API and controllers, write the admin
//! kubeconfig, run until Ctrl-C.

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// The Karmada-compatible federation control plane.
#[derive(Debug, Parser)]
#[command(name = "cceone-federation", version)]
struct Args {
    /// API server listen address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: std::net::SocketAddr,
    /// Directory for the store and certificates (the certificates only, with --etcd-servers).
    #[arg(long, default_value = "./data/federation")]
    data_dir: PathBuf,
    /// The store on etcd instead of the embedded one.
    #[command(flatten)]
    etcd: cceone_kube_store_etcd::EtcdFlags,
    /// With --etcd-servers: run the controllers only on the replica that holds the
    /// kube-system/cceone-federation Lease (several replicas then serve one federation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// How long followers wait, from the last renewal they saw, before taking the lease.
    #[arg(long, default_value = "15s", value_parser = duration)]
    leader_elect_lease_duration: Duration,
    /// How long the leader keeps leading without renewing the lease.
    #[arg(long, default_value = "10s", value_parser = duration)]
    leader_elect_renew_deadline: Duration,
    /// How often the lease is renewed or tried.
    #[arg(long, default_value = "2s", value_parser = duration)]
    leader_elect_retry_period: Duration,
    /// Where to write the admin kubeconfig once the API serves.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Extra DNS names or IPs for the serving certificate.
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// Seconds a disconnected cluster stays Ready before turning Unknown (unreachable).
    #[arg(long, default_value_t = 15)]
    cluster_grace_secs: u64,
    /// Seconds a cluster stays Unknown before its workloads are moved (NoExecute taint).
    #[arg(long, default_value_t = 30)]
    eviction_timeout_secs: u64,
    /// Workers per controller.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Days usage records are kept (the meter deletes older ones once an hour).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..))]
    usage_retention_days: u64,
    /// Where to write a one-time link that opens the web console signed in as the admin
    /// (0600; it works once, within a day). The console itself is at <API URL>/console/.
    #[arg(long, value_name = "FILE")]
    console_link_out: Option<PathBuf>,
    /// Requests without credentials run as system:anonymous (group system:unauthenticated) and
    /// RBAC answers them (403 unless a binding allows), as kube-apiserver's flag; false: 401.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    anonymous_auth: bool,
    /// Record every request to the API as audit.k8s.io/v1 Event JSON lines in this file (0600
    /// in a 0700 directory), as kube-apiserver's flag; no audit log without it.
    #[arg(long, value_name = "FILE")]
    audit_log_path: Option<PathBuf>,
    /// The audit policy (an audit.k8s.io/v1 Policy file, as kube-apiserver's); without it, the
    /// built-in default.
    #[arg(long, value_name = "FILE", requires = "audit_log_path")]
    audit_policy_file: Option<PathBuf>,
    /// Days rotated audit files are kept (0: no limit by age).
    #[arg(long, default_value_t = 30)]
    audit_log_maxage: u64,
    /// Rotated audit files kept.
    #[arg(long, default_value_t = 10)]
    audit_log_maxbackup: usize,
    /// Megabytes an audit file grows to before it is rotated.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    audit_log_maxsize: u64,
}

/// A positive duration as kube-controller-manager's flags take them (`15s`, `1m30s`, `500ms`).
fn duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} must be positive"))
}

/// Write `text` to `path` readable by its owner only, whole or not at all.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    cceone_platform::ca::write_file(path, text, 0o600)
        .with_context(|| format!("writing {}", path.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cceone_logging::init("info");
    let a = Args::parse();
    let mut cfg = cceone_federation::FederationConfig::new(a.listen, Some(a.data_dir));
    cfg.hostnames = a.hostnames;
    cfg.cluster_grace = Duration::from_secs(a.cluster_grace_secs);
    cfg.eviction_timeout = Duration::from_secs(a.eviction_timeout_secs);
    cfg.workers = a.workers;
    cfg.etcd = a.etcd.config();
    cfg.leader_election = a.leader_elect.then(|| cceone_federation::LeaderElection {
        lease_duration: a.leader_elect_lease_duration,
        renew_deadline: a.leader_elect_renew_deadline,
        retry_period: a.leader_elect_retry_period,
        ..cceone_federation::LeaderElection::default()
    });
    if let Some(le) = &cfg.leader_election
        && le.renew_deadline >= le.lease_duration
    {
        anyhow::bail!(
            "--leader-elect-renew-deadline must be less than --leader-elect-lease-duration"
        );
    }
    cfg.usage_retention = Duration::from_secs(a.usage_retention_days.saturating_mul(24 * 3600));
    cfg.anonymous_auth = a.anonymous_auth;
    if let Some(path) = a.audit_log_path {
        let mut audit = cceone_federation::AuditConfig::new(path);
        if let Some(file) = &a.audit_policy_file {
            audit.policy = cceone_kube_apiserver::audit::Policy::load(file)?;
        }
        audit.max_age = (a.audit_log_maxage > 0)
            .then(|| Duration::from_secs(a.audit_log_maxage.saturating_mul(24 * 3600)));
        audit.max_backups = a.audit_log_maxbackup;
        audit.max_size = a.audit_log_maxsize.saturating_mul(1024 * 1024);
        cfg.audit = Some(audit);
    }
    let fed = cceone_federation::start(cfg)
        .await
        .context("starting the federation")?;
    if let Some(path) = &a.kubeconfig_out {
        write_private(path, &fed.admin_kubeconfig())?;
    }
    if let Some(path) = &a.console_link_out {
        write_private(path, &format!("{}\n", fed.console_admin_link()?))?;
    }
    tracing::info!(url = %fed.url(), console = %fed.console_url(), "federation ready");
    let lost = fed.leadership_lost();
    tokio::select! {
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for Ctrl-C")?;
            fed.shutdown().await;
            Ok(())
        }
        () = lost => {
            // As kube-controller-manager: a fresh process rejoins as a follower (see the
            // federation's election module).
            tracing::error!("leader election lost; exiting");
            std::process::exit(1);
        }
    }
}
