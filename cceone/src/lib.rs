//! `cceone up`: the embedded default. One process runs the federation (API server and
//! controllers), the hub, and N simulated member clusters, each with its own agent dialing the
//! hub over a real tunnel — the same parts, talking over the same sockets, as a real deployment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::PathBuf;

use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// What `cceone up` runs.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// State directory (kept across restarts).
    pub data_dir: PathBuf,
    /// Number of simulated member clusters (`member1`..`memberN`).
    pub clusters: usize,
    /// The hub's TCP and UDP address.
    pub hub_listen: SocketAddr,
    /// The federation API's address.
    pub federation_listen: SocketAddr,
    /// Nodes per simulated cluster.
    pub nodes_per_cluster: usize,
    /// CPU per node (a quantity).
    pub node_cpu: String,
    /// Memory per node.
    pub node_memory: String,
    /// NotReady nodes per cluster.
    pub not_ready_nodes: usize,
    /// Extra virtual-kubelet nodes per cluster.
    pub virtual_nodes: usize,
}

/// Settings of `cceone up` beyond [`UpConfig`], kept apart so that code building an
/// [`UpConfig`] field by field keeps compiling as options are added.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// The endpoint (`host:port`) agents outside this process are told to dial; by default the
    /// hub's listen address, or with `0.0.0.0` this host's first non-loopback address.
    pub hub_public_endpoint: Option<String>,
    /// Where the federation API's audit log goes, by default `<data dir>/audit/audit.log`; each
    /// simulated member's goes beside it as `<member>.log`.
    pub audit_log: Option<PathBuf>,
    /// The audit policy of the federation's and the hub's logs (`--audit-policy-file`); None:
    /// the built-in default. The simulated members keep the default.
    pub audit_policy: Option<cceone_federation::AuditPolicy>,
    /// Requests to the federation API without credentials run as `system:anonymous` for RBAC
    /// to answer (`--anonymous-auth`); off: `401`.
    pub anonymous_auth: bool,
    /// For tests: shift the vCPU-hour meter's clock by the whole seconds written in this file
    /// (read on every pass; the meter then looks every second), so billing hours can be
    /// crossed without waiting for them.
    pub clock_offset_file: Option<PathBuf>,
    /// Keep the federation API's objects in etcd instead of the embedded store (the simulated
    /// members keep theirs embedded).
    pub etcd: Option<cceone_kube_store_etcd::EtcdConfig>,
    /// How long usage records are kept (default
    /// [`cceone_platform::usage::DEFAULT_RETENTION`]).
    pub usage_retention: Option<std::time::Duration>,
}

/// Cluster shapes: varied regions and providers, as a real fleet would have.
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("ctyun", "ctyun", "cn-east-1", "cn-east-1a"),
    ("ctyun", "ctyun", "cn-north-1", "cn-north-1b"),
    ("third-party", "aws", "ap-southeast-1", "ap-southeast-1a"),
    ("local", "idc", "cn-south-1", "cn-south-1a"),
    ("third-party", "azure", "eu-west-1", "eu-west-1c"),
];

/// The running pieces.
pub struct Up {
    federation: cceone_federation::Federation,
    hub: cceone_hub::RunningHub,
    members: Vec<cceone_kubesim::Simulator>,
    agents: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    /// Where the admin kubeconfig was written.
    pub admin_kubeconfig: PathBuf,
    /// The web console's address.
    pub console_url: String,
    /// Where the console's one-time admin sign-in link was written (`<data dir>/console.url`).
    pub console_link: PathBuf,
}

impl Up {
    /// Resolves once the federation led and lost its lease (only with `--etcd-servers`, when
    /// another replica took over): `cceone up` then exits, as `cceone-federation` does.
    pub fn leadership_lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.federation.leadership_lost()
    }

    /// The endpoint agents elsewhere are told to dial (`host:port`).
    pub fn hub_public_endpoint(&self) -> &str {
        &self.hub.public_endpoint
    }

    /// Stop everything (agents first, so their Leases are released).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for a in self.agents {
            let _ = tokio::time::timeout(Duration::from_secs(5), a).await;
        }
        self.hub.shutdown();
        for m in self.members {
            m.shutdown().await;
        }
        self.federation.shutdown().await;
    }
}

async fn client_from(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).context("parsing a kubeconfig")?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .context("kubeconfig")?;
    kube::Client::try_from(cfg).context("building a client")
}

/// Create the RegisteredCluster of simulated member `name` (Pending, the `index`-th of the
/// varied regions and providers, labelled `cceone.io/simulated: <kind>`) unless it exists;
/// `by` is who registers it (the field manager and the operation's message). True when it was
/// created. `cceone up` and the federation benchmark's light members register through this.
pub async fn register_simulated(
    client: &kube::Client,
    name: &str,
    index: usize,
    kind: &str,
    by: &str,
) -> anyhow::Result<bool> {
    let api = cceone_platform::registered_clusters(client);
    if api.get_opt(name).await?.is_some() {
        return Ok(false);
    }
    let (ty, provider, region, zone) = PLACES[index % PLACES.len()];
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", cceone_platform::GROUP, cceone_platform::VERSION),
        "kind": "RegisteredCluster",
        "metadata": {"name": name, "labels": {"cceone.io/simulated": kind, "topology.kubernetes.io/region": region}},
        "spec": {"type": ty, "provider": provider, "region": region, "zone": zone},
    }))?;
    api.create(&PostParams::default(), &obj)
        .await
        .with_context(|| format!("registering {name}"))?;
    let op = cceone_platform::phase::Operation::new(
        jiff::Timestamp::now(),
        "Register",
        "Registered",
        format!("registered by {by}"),
    );
    let status = json!({"status": {"phase": "Pending", "operations": [op.to_json()]}});
    let pp = PatchParams {
        field_manager: Some(by.into()),
        ..Default::default()
    };
    api.patch_status(name, &pp, &Patch::Merge(&status)).await?;
    Ok(true)
}

/// Start everything and wait until every member cluster is Ready in the federation.
pub async fn up(cfg: UpConfig) -> anyhow::Result<Up> {
    up_with(cfg, UpOptions::default()).await
}

/// [`up`] with [`UpOptions`].
pub async fn up_with(cfg: UpConfig, options: UpOptions) -> anyhow::Result<Up> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let admin_kubeconfig = cfg.data_dir.join("admin.kubeconfig");
    let _ = std::fs::remove_file(&admin_kubeconfig);
    tracing::info!(data_dir = %cfg.data_dir.display(), clusters = cfg.clusters, "starting the federation");
    let mut fed_cfg = cceone_federation::FederationConfig::new(
        cfg.federation_listen,
        Some(cfg.data_dir.join("federation")),
    );
    if let Some(keep) = options.usage_retention {
        fed_cfg.usage_retention = keep;
    }
    if let Some(file) = &options.clock_offset_file {
        fed_cfg.meter_clock = cceone_platform::clock::Clock::with_offset_file(file.clone());
        fed_cfg.meter_interval = std::time::Duration::from_secs(1);
    }
    let audit_log = options
        .audit_log
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("audit").join("audit.log"));
    let mut audit = cceone_federation::AuditConfig::new(audit_log.clone());
    if let Some(policy) = &options.audit_policy {
        audit.policy = policy.clone();
    }
    fed_cfg.audit = Some(audit);
    fed_cfg.anonymous_auth = options.anonymous_auth;
    fed_cfg.etcd = options.etcd.clone();
    let federation = cceone_federation::start(fed_cfg)
        .await
        .context("starting the federation")?;
    let fed_kc = federation.admin_kubeconfig();
    let fed = client_from(&fed_kc).await?;
    tracing::info!(
        url = federation.url(),
        "federation API serving; starting the hub"
    );
    let mut hub_cfg = cceone_hub::HubConfig::new(cfg.hub_listen, cfg.data_dir.join("hub"));
    hub_cfg.public_endpoint = options.hub_public_endpoint.clone().unwrap_or_default();
    // What the hub proxies, beside the federation's log, under the same policy.
    hub_cfg.audit_log = Some(audit_log.with_file_name("hub.log"));
    hub_cfg.audit_policy = options.audit_policy.clone();
    // The hub reaches the federation as itself, with only the rights it needs.
    let hub_client = hub_identity(&fed, &fed_kc, &cfg.data_dir.join("hub")).await?;
    let hub = cceone_hub::start(hub_cfg, hub_client)
        .await
        .context("starting the hub")?;
    // The simulated members' agents run in this process: they dial the hub where this host
    // reaches it, whatever endpoint agents elsewhere are told.
    let hub_endpoint = hub.local_endpoint().to_string();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut members = Vec::new();
    let mut agents = Vec::new();
    for i in 1..=cfg.clusters {
        let name = format!("member{i}");
        let sim = cceone_kubesim::Simulator::start(cceone_kubesim::SimConfig {
            data_dir: Some(cfg.data_dir.join("members").join(&name)),
            nodes: cceone_kubesim::NodeShape {
                nodes: cfg.nodes_per_cluster,
                cpu: cfg.node_cpu.clone(),
                memory: cfg.node_memory.clone(),
                pods: 110,
                not_ready: cfg.not_ready_nodes,
                virtual_nodes: cfg.virtual_nodes,
                kubelet_version: "v1.32.0".into(),
            },
            // Beside the federation's: what reached the member, proxied requests included.
            audit: Some(cceone_kubesim::AuditConfig::new(
                audit_log.with_file_name(format!("{name}.log")),
            )),
            ..cceone_kubesim::SimConfig::default()
        })
        .await
        .with_context(|| format!("starting simulated cluster {name}"))?;
        let member_kc = sim.server().admin_kubeconfig(&name);
        let member = client_from(&member_kc).await?;
        let members_dir = cfg.data_dir.join("members");
        std::fs::write(members_dir.join(format!("{name}.kubeconfig")), &member_kc)
            .with_context(|| format!("writing {name}'s kubeconfig"))?;
        let created = register_simulated(&fed, &name, i - 1, "true", "cceone-up").await?;
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("CCEONE_HUB_ENDPOINT".into(), hub_endpoint.clone());
        env.insert("CCEONE_CLUSTER_NAME".into(), name.clone());
        env.insert("CCEONE_HUB_CA".into(), hub.hub.ca_pem().to_string());
        env.insert("CCEONE_TRANSPORT".into(), "auto".into());
        env.insert("CCEONE_AGENT_ID".into(), format!("{name}-agent"));
        env.insert("CCEONE_HEALTH_ADDR".into(), "127.0.0.1:0".into());
        if created || !identity_exists(&member).await {
            let token =
                cceone_platform::token::issue(&fed, &name, Duration::from_secs(3600)).await?;
            env.insert("CCEONE_BOOTSTRAP_TOKEN".into(), token);
        }
        let agent_cfg = cceone_cluster_agent::Config::from_env(&env)
            .map_err(|e| anyhow::anyhow!("agent settings for {name}: {e}"))?;
        let mut stop_agent = stop_rx.clone();
        let cluster = name.clone();
        let health = cceone_cluster_agent::HealthServer::bind("127.0.0.1:0".parse()?)
            .await
            .context("binding an agent health port")?;
        let health_addr = health.local_addr()?;
        std::fs::write(
            members_dir.join(format!("{name}.agent")),
            format!("http://{health_addr}\n"),
        )
        .with_context(|| format!("writing {name}'s agent address"))?;
        agents.push(tokio::spawn(async move {
            let agent = cceone_cluster_agent::Agent::new(agent_cfg, member);
            let shutdown = async move {
                let _ = stop_agent.wait_for(|s| *s).await;
            };
            if let Err(e) = agent.run_with(health, shutdown).await {
                tracing::error!(cluster, error = %e, "agent stopped");
            }
        }));
        tracing::info!(
            cluster = name,
            url = sim.server().url(),
            "simulated member cluster started"
        );
        members.push(sim);
    }
    wait_ready(&fed, cfg.clusters).await?;
    let tmp = admin_kubeconfig.with_extension("tmp");
    std::fs::write(&tmp, &fed_kc).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &admin_kubeconfig)
        .with_context(|| format!("writing {}", admin_kubeconfig.display()))?;
    let console_url = federation.console_url();
    let console_link = cfg.data_dir.join("console.url");
    write_secret(
        &console_link,
        &format!("{}\n", federation.console_admin_link()?),
    )?;
    Ok(Up {
        console_url,
        console_link,
        federation,
        hub,
        members,
        agents,
        stop,
        admin_kubeconfig,
    })
}

/// Write a file only its owner reads (a sign-in link is as good as the admin's token once).
fn write_secret(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// First line of the hub's kubeconfig: which user token it holds, to revoke on the next start.
const HUB_TOKEN_ID: &str = "# cceone-hub user token ";

/// The hub's own identity in the federation API (issue 9, least privilege): apply its roles
/// ([`cceone_hub::rbac`]), revoke the token an earlier run issued, issue a fresh one for
/// [`cceone_hub::rbac::USER`] and keep its kubeconfig in `dir/federation.kubeconfig` (0600).
async fn hub_identity(
    admin: &kube::Client,
    admin_kubeconfig: &str,
    dir: &std::path::Path,
) -> anyhow::Result<kube::Client> {
    use cceone_platform::usertoken;
    cceone_hub::rbac::apply(admin)
        .await
        .context("applying the hub's roles in the federation API")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("federation.kubeconfig");
    let earlier = std::fs::read_to_string(&file).ok();
    if let Some(id) = earlier
        .as_deref()
        .and_then(|t| t.lines().next()?.strip_prefix(HUB_TOKEN_ID))
    {
        match usertoken::revoke(admin, id.trim()).await {
            Ok(()) | Err(cceone_platform::PlatformError::NotFound(_)) => {}
            Err(e) => tracing::warn!(error = %e, "revoking the hub's earlier token failed"),
        }
    }
    let (id, token) = usertoken::issue(admin, cceone_hub::rbac::USER, &[], None)
        .await
        .context("issuing the hub's token")?;
    let kc =
        kube::config::Kubeconfig::from_yaml(admin_kubeconfig).context("parsing a kubeconfig")?;
    let cluster = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .context("the federation's kubeconfig names no cluster")?;
    let server = cluster.server.clone().unwrap_or_default();
    let yaml = usertoken::kubeconfig_yaml(
        &server,
        cluster.certificate_authority_data.as_deref(),
        cceone_hub::rbac::USER,
        &token,
    );
    write_secret(&file, &format!("{HUB_TOKEN_ID}{id}\n{yaml}"))?;
    client_from(&yaml).await
}

async fn identity_exists(member: &kube::Client) -> bool {
    let api: Api<k8s_openapi_secret::Secret> = Api::namespaced(member.clone(), "kube-system");
    api.get_opt("cceone-agent-identity")
        .await
        .ok()
        .flatten()
        .is_some()
}

mod k8s_openapi_secret {
    pub(crate) use k8s_openapi::api::core::v1::Secret;
}

/// How many Karmada Clusters of the federation report `Ready=True` (0 when the list fails).
pub async fn clusters_ready(fed: &kube::Client) -> usize {
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("cluster.karmada.io", "v1alpha1", "Cluster"),
        "clusters",
    );
    let api: Api<DynamicObject> = Api::all_with(fed.clone(), &ar);
    match api.list(&Default::default()).await {
        Ok(list) => list
            .items
            .iter()
            .filter(|c| {
                c.data
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|x| {
                            x.get("type") == Some(&json!("Ready"))
                                && x.get("status") == Some(&json!("True"))
                        })
                    })
            })
            .count(),
        Err(_) => 0,
    }
}

/// Wait until `n` Karmada Clusters report Ready=True.
async fn wait_ready(fed: &kube::Client, n: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut last_report = tokio::time::Instant::now();
    loop {
        let ready = clusters_ready(fed).await;
        if ready >= n {
            return Ok(());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            tracing::info!(ready, want = n, "waiting for member clusters to join");
            last_report = tokio::time::Instant::now();
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {ready} of {n} clusters became Ready within 120s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
