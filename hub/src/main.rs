//! `cceone-hub`: parse flags, connect to the federation API, run until Ctrl-C.

/// mimalloc: far less time in allocation and freeing than the system allocator under the
/// API server's JSON-heavy load (measured by the federation benchmarks). The `system-alloc`
/// feature leaves the system allocator in place, for a heap profiler that hooks malloc
/// (`BENCH_WRAP_HUB=heaptrack` in the benchmarks).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// The gateway member clusters dial out to.
#[derive(Debug, Parser)]
#[command(name = "cceone-hub", version)]
struct Args {
    /// Kubeconfig of the federation API (where registered clusters live); in-cluster when absent.
    /// Give the hub its own identity there, not an administrator's: user `system:cceone:hub`
    /// with the roles `--print-federation-rbac` prints.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// TCP and UDP listen address.
    #[arg(long, default_value = "0.0.0.0:9443")]
    listen: std::net::SocketAddr,
    /// Directory for the CA and certificates.
    #[arg(long, default_value = "./data/hub")]
    data_dir: PathBuf,
    /// Endpoint agents dial (host:port), also put in the serving certificate. By default the
    /// listen address; with 0.0.0.0 or :: this host's first non-loopback address (with a warning).
    #[arg(long, default_value = "")]
    public_endpoint: String,
    /// Endpoint over a private network.
    #[arg(long)]
    private_endpoint: Option<String>,
    /// Extra DNS names or IPs for the serving certificate.
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// Seconds between agent heartbeats.
    #[arg(long, default_value_t = 5)]
    heartbeat_interval_secs: u64,
    /// Seconds without a message before a tunnel is closed as Disconnected.
    #[arg(long, default_value_t = 15)]
    heartbeat_grace_secs: u64,
    /// Seconds a Pending cluster may wait for its agent before AccessTimeout.
    #[arg(long, default_value_t = 600)]
    access_timeout_secs: u64,
    /// Validity of agent certificates, in seconds (agents rotate at two thirds of it).
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    cert_validity_secs: u64,
    /// Concurrent TLS handshakes admitted, per transport (TCP, QUIC).
    #[arg(long, default_value_t = 256)]
    max_handshakes: usize,
    /// Open TCP connections at most.
    #[arg(long, default_value_t = 16_384)]
    max_connections: usize,
    /// Unauthenticated connections from one source address (an IPv6 /64) at once.
    #[arg(long, default_value_t = 128)]
    max_per_source: u32,
    /// Seconds a TCP peer has to send its whole TLS ClientHello.
    #[arg(long, default_value_t = 5)]
    client_hello_timeout_secs: u64,
    /// Seconds an HTTPS client has to send a request's headers (also closes idle keep-alive
    /// connections).
    #[arg(long, default_value_t = 30)]
    header_read_timeout_secs: u64,
    /// Highest tunnel protocol version to offer.
    #[arg(long, default_value_t = cceone_proto::MAX_VERSION)]
    max_protocol_version: u32,
    /// Serve /healthz, /livez, /readyz over plain HTTP here as well (for probes that must not
    /// queue behind agents' TLS handshakes), and /metrics (only here), e.g. 0.0.0.0:9444.
    #[arg(long)]
    health_listen: Option<std::net::SocketAddr>,
    /// This hub's id among the hubs of its federation (several may run against one federation;
    /// each keeps a Lease named after it). Default: the host's name and the listen port.
    #[arg(long, default_value = "")]
    hub_id: String,
    /// `host:port` the other hubs of the federation reach this one at (forwarded proxy
    /// requests, over mutual TLS). Default: the public endpoint.
    #[arg(long, default_value = "")]
    peer_endpoint: String,
    /// Seconds this hub counts as alive for the others after its last Lease renewal.
    #[arg(long, default_value_t = 10)]
    hub_lease_secs: u64,
    /// Print the RBAC objects that give the hub's own identity (user `system:cceone:hub`) what
    /// it needs in the federation API, as a List for `kubectl apply -f -`, and exit.
    #[arg(long)]
    print_federation_rbac: bool,
    /// Record each proxied request (who, cluster, verb, path, code, latency) as audit.k8s.io/v1
    /// Event JSON lines in this file (0600, rotated at 100 MiB), for `cceonectl audit --file`.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<std::path::PathBuf>,
    /// The audit policy (an audit.k8s.io/v1 Policy, as kube-apiserver's --audit-policy-file)
    /// for --audit-log; without it, the built-in default.
    #[arg(long, value_name = "FILE", requires = "audit_log")]
    audit_policy_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cceone_logging::init("info");
    let a = Args::parse();
    if a.print_federation_rbac {
        println!("{:#}", cceone_hub::rbac::list());
        return Ok(());
    }
    let client = match &a.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .context("kubeconfig")?;
            kube::Client::try_from(cfg).context("building the client")?
        }
        None => kube::Client::try_default()
            .await
            .context("in-cluster configuration")?,
    };
    let mut cfg = cceone_hub::HubConfig::new(a.listen, a.data_dir);
    cfg.public_endpoint = a.public_endpoint;
    cfg.private_endpoint = a.private_endpoint;
    cfg.hostnames = a.hostnames;
    cfg.heartbeat_interval = Duration::from_secs(a.heartbeat_interval_secs.max(1));
    cfg.heartbeat_grace = Duration::from_secs(a.heartbeat_grace_secs.max(2));
    cfg.access_timeout = Duration::from_secs(a.access_timeout_secs);
    cfg.cert_validity = Duration::from_secs(a.cert_validity_secs.max(60));
    cfg.max_handshakes = a.max_handshakes;
    cfg.max_connections = a.max_connections;
    cfg.max_per_source = a.max_per_source;
    cfg.client_hello_timeout = Duration::from_secs(a.client_hello_timeout_secs.max(1));
    cfg.header_read_timeout = Duration::from_secs(a.header_read_timeout_secs.max(1));
    cfg.max_protocol_version = a.max_protocol_version;
    cfg.health_listen = a.health_listen;
    cfg.audit_log = a.audit_log;
    cfg.audit_policy = a
        .audit_policy_file
        .as_deref()
        .map(cceone_kube_apiserver::audit::Policy::load)
        .transpose()?;
    cfg.hub_id = a.hub_id;
    cfg.peer_endpoint = a.peer_endpoint;
    cfg.hub_lease = Duration::from_secs(a.hub_lease_secs.max(2));
    let hub = cceone_hub::start(cfg, client)
        .await
        .context("starting the hub")?;
    tracing::info!(addr = %hub.addr, "ready");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    hub.leave().await;
    hub.shutdown();
    Ok(())
}
