//! The command line, parsed once by clap into typed values (durations, labels, enums), so the
//! commands never see raw strings they would have to re-check.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The platform admin's command line.
#[derive(Debug, Parser)]
#[command(name = "cceonectl", version, about)]
pub(crate) struct Cli {
    /// Kubeconfig of the federation API (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    pub(crate) context: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Registered member clusters.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Offline repair of a stopped server's store (no API access needed).
    #[command(subcommand)]
    Store(StoreCommand),
    /// People's access to the federation API.
    #[command(subcommand)]
    User(UserCommand),
    /// Print the events of an audit log that match (offline: reads the files).
    Audit(AuditArgs),
    /// Taint federation clusters (as `karmadactl taint`).
    #[command(subcommand)]
    Taint(TaintCommand),
    /// Mark a federation cluster unschedulable: nothing new is placed there.
    Cordon {
        /// The cluster.
        name: String,
    },
    /// Mark a federation cluster schedulable again.
    Uncordon {
        /// The cluster.
        name: String,
    },
    /// Fleets: groups of registered clusters, bound to the federation or not.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Print metered usage in vCPU-hours (billing hours in UTC+8) with totals.
    Usage(UsageArgs),
    /// Grants: a user's preset role in member clusters, synced into them as RBAC.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Show an object (or every object of a kind) in each member cluster, one row per cluster
    /// (as `karmadactl get`), read through the hub as the caller.
    Get(GetArgs),
    /// Take an object running in a member under federation control without restarting it
    /// (as `karmadactl promote`): a template and a policy placing it on that cluster.
    Promote(PromoteArgs),
}

/// `promote`.
#[derive(Debug, clap::Args)]
pub(crate) struct PromoteArgs {
    /// The kind: `deployment`, `deploy`, `configmap`, ...
    pub(crate) kind: String,
    /// The object's name.
    pub(crate) name: String,
    /// The namespace.
    #[arg(long, short = 'n', default_value = "default")]
    pub(crate) namespace: String,
    /// The member cluster it runs in.
    #[arg(long, short = 'c')]
    pub(crate) cluster: String,
    /// Promote the ConfigMaps, Secrets, ServiceAccounts and claims it references too, and let
    /// them follow it (`propagateDeps`).
    #[arg(long, short = 'd')]
    pub(crate) dependencies: bool,
    /// Which hub endpoint to reach the member through.
    #[arg(long, value_enum, default_value = "public")]
    pub(crate) endpoint: EndpointArg,
}

/// `get`.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The kind: `deployment`, `deploy`, `deployments.apps`, `pods`, ...
    pub(crate) kind: String,
    /// One object's name (default: all of the kind).
    pub(crate) name: Option<String>,
    /// The namespace.
    #[arg(long, short = 'n', default_value = "default")]
    pub(crate) namespace: String,
    /// Every namespace.
    #[arg(long, short = 'A')]
    pub(crate) all_namespaces: bool,
    /// Only these member clusters (comma-separated; default: every member).
    #[arg(long, short = 'C', value_delimiter = ',')]
    pub(crate) clusters: Option<Vec<String>>,
    /// A label selector, e.g. `app=nginx`.
    #[arg(long, short = 'l')]
    pub(crate) selector: Option<String>,
    /// `wide` adds the member's wide columns.
    #[arg(long, short = 'o')]
    pub(crate) output: Option<String>,
    /// Which hub endpoint to reach the members through.
    #[arg(long, value_enum, default_value = "public")]
    pub(crate) endpoint: EndpointArg,
}

/// A preset role in member clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RoleArg {
    /// Read-write on every object.
    Administrator,
    /// Read-write on namespaced workload objects, read-only on the rest.
    Operations,
    /// Read-write on the namespaced objects a console shows.
    Developer,
    /// Read-only on those.
    Restricted,
    /// Custom permissions: the resources and verbs the --rule flags name.
    Custom,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// Grant a user a role on clusters or on a fleet (every member cluster, replacing their
    /// own grants while they are in it).
    Create {
        /// The user (as their kubeconfig names them).
        #[arg(long)]
        user: String,
        /// The role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A cluster (repeatable).
        #[arg(
            long = "cluster",
            required_unless_present = "fleet",
            conflicts_with = "fleet"
        )]
        clusters: Vec<String>,
        /// A fleet.
        #[arg(long)]
        fleet: Option<String>,
        /// A namespace (repeatable; default: all).
        #[arg(long = "namespace", short = 'n')]
        namespaces: Vec<String>,
        /// With --role custom: RESOURCE[.GROUP]=VERB[,VERB...] (repeatable), e.g.
        /// `deployments.apps=get,list,watch`.
        #[arg(long = "rule", value_name = "RULE")]
        rules: Vec<String>,
        /// The grant's name (default: from the user, the target and the role).
        #[arg(long)]
        name: Option<String>,
    },
    /// List grants.
    List,
    /// Revoke a grant: its RBAC leaves the members.
    Delete {
        /// The grant.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FleetCommand {
    /// Create a fleet.
    Create {
        /// The fleet's name (a DNS-1123 label).
        name: String,
        /// A description for people.
        #[arg(long)]
        description: Option<String>,
    },
    /// Add clusters to a fleet (a cluster belongs to at most one fleet).
    Add {
        /// The fleet.
        name: String,
        /// The registered clusters.
        #[arg(required = true)]
        clusters: Vec<String>,
    },
    /// Remove clusters from a fleet.
    Remove {
        /// The fleet.
        name: String,
        /// The registered clusters.
        #[arg(required = true)]
        clusters: Vec<String>,
    },
    /// Bind a fleet to the federation: its clusters become federation members.
    Bind {
        /// The fleet.
        name: String,
    },
    /// Unbind a fleet from the federation: its clusters leave it.
    Unbind {
        /// The fleet.
        name: String,
    },
    /// Delete a fleet (refused while it is bound or holds clusters).
    Delete {
        /// The fleet.
        name: String,
    },
}

/// Output of `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UsageFormat {
    /// Aligned columns with a total line.
    Table,
    /// `hour,cluster,type,vcpus,vcpu_hours,unit_price,amount` (totals on stderr).
    Csv,
    /// One JSON document: the records and the totals.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct UsageArgs {
    /// Only this cluster's hours.
    #[arg(long)]
    pub(crate) cluster: Option<String>,
    /// Only hours charged while the cluster was in this fleet.
    #[arg(long)]
    pub(crate) fleet: Option<String>,
    /// Only hours starting at or after this time (RFC 3339, `2026-12-07T09:00+08:00`, or a
    /// date `2026-12-07`, midnight UTC+8).
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// Only hours starting before this time (same forms as --from).
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub(crate) output: UsageFormat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaintCommand {
    /// Add `KEY[=VALUE]:EFFECT` taints to a federation Cluster, or remove `KEY[:EFFECT]-`
    /// (effects: NoSchedule, PreferNoSchedule, NoExecute).
    Cluster {
        /// The cluster.
        name: String,
        /// The taints to add or remove.
        #[arg(required = true)]
        taints: Vec<String>,
        /// Replace a taint of the same key and effect that has another value.
        #[arg(long)]
        overwrite: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The audit log (its rotated files beside it are read too).
    #[arg(long, default_value = "./data/audit/audit.log")]
    pub(crate) file: PathBuf,
    /// Only this user's requests (or requests impersonating them).
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// Only this verb (get, list, watch, create, update, patch, delete, ...).
    #[arg(long)]
    pub(crate) verb: Option<String>,
    /// Only this resource (`deployments` or `deployments.apps`).
    #[arg(long)]
    pub(crate) resource: Option<String>,
    /// Only this namespace.
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,
    /// Only requests received since this time (RFC 3339) or this long ago (`1h`).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only requests received before this time (RFC 3339) or this long ago.
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only events of this stage (RequestReceived, ResponseStarted, ResponseComplete, Panic);
    /// a long-running request (a watch, logs -f, exec) has a ResponseStarted and a
    /// ResponseComplete event.
    #[arg(long, value_parser = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"])]
    pub(crate) stage: Option<String>,
    /// Print the matching events as JSON lines instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Print a kubeconfig that reaches the federation API as NAME (what NAME may do there is
    /// up to RBAC: bind NAME or its groups to roles).
    Kubeconfig {
        /// The user name the API server sees.
        name: String,
        /// A group the user is in (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Expire the kubeconfig after this long (default: never; revoke it instead).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// Revoke a kubeconfig issued by `user kubeconfig` (by the id it printed).
    Revoke {
        /// The kubeconfig id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Cut a damaged write-ahead log at its first damaged record, so a server that refused to
    /// start can start again. The damaged segment and every later one are copied first into a
    /// `damaged-<time>` directory beside them; what was dropped is printed. Stop the server first.
    RecoverWal {
        /// The store directory named in the server's error (`<data-dir>/store`).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Register a cluster and print its agent manifests (or settings).
    Register(RegisterArgs),
    /// List registered clusters.
    List(ListArgs),
    /// Revoke a cluster: its certificate is refused and its tunnel closed.
    Revoke {
        /// The cluster.
        name: String,
    },
    /// Unsubscribe a cluster (refused while it has delete protection).
    Unsubscribe {
        /// The cluster.
        name: String,
    },
    /// Turn delete protection on (the default, or --on) or off (--off).
    Protect {
        /// The cluster.
        name: String,
        /// Turn protection on (the default).
        #[arg(long, conflicts_with = "off")]
        on: bool,
        /// Turn protection off.
        #[arg(long)]
        off: bool,
    },
    /// Issue a fresh one-time bootstrap token for a cluster and print it.
    Token {
        /// The cluster.
        name: String,
        /// How long the token stays valid (e.g. 30m, 1h, 2h30m).
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
    },
    /// Issue a kubeconfig that reaches the cluster through the hub's proxy.
    Kubeconfig(KubeconfigArgs),
    /// Revoke a kubeconfig issued by `cluster kubeconfig` (by the id it printed).
    RevokeKubeconfig {
        /// The token id.
        id: String,
    },
}

/// Where a cluster runs (`spec.type`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TypeArg {
    /// A ctyun cloud cluster.
    Ctyun,
    /// A cluster in your own data centre.
    Local,
    /// A cluster on another cloud.
    ThirdParty,
}

impl TypeArg {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TypeArg::Ctyun => "ctyun",
            TypeArg::Local => "local",
            TypeArg::ThirdParty => "third-party",
        }
    }
}

/// Which hub endpoint the agent (or kubeconfig) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EndpointArg {
    /// The hub's public endpoint.
    Public,
    /// The hub's private endpoint.
    Private,
}

impl EndpointArg {
    /// The hub endpoint this names (the public one when the hub published no private one).
    pub(crate) fn of(self, hub: &cceone_platform::hubinfo::HubInfo) -> &str {
        match self {
            EndpointArg::Private => hub
                .private_endpoint
                .as_deref()
                .unwrap_or(&hub.public_endpoint),
            EndpointArg::Public => &hub.public_endpoint,
        }
    }
}

/// Output of `register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// Kubernetes manifests for `kubectl apply -f`.
    Yaml,
    /// KEY=value lines for running the agent binary outside a cluster.
    Env,
}

/// Tunnel transport of the agent.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TransportArg {
    /// QUIC, falling back to TCP when UDP is blocked.
    Auto,
    /// gRPC over TLS/TCP.
    Grpc,
    /// QUIC over UDP.
    Quic,
}

impl TransportArg {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TransportArg::Auto => "auto",
            TransportArg::Grpc => "grpc",
            TransportArg::Quic => "quic",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The cluster's name (a DNS-1123 label).
    pub(crate) name: String,
    /// Where the cluster runs.
    #[arg(long = "type", value_enum)]
    pub(crate) cluster_type: TypeArg,
    /// Cloud or infrastructure provider.
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// Region.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Zone.
    #[arg(long)]
    pub(crate) zone: Option<String>,
    /// Fleet to put the cluster in.
    #[arg(long)]
    pub(crate) fleet: Option<String>,
    /// A label key=value (repeatable).
    #[arg(long = "label", value_parser = parse_label)]
    pub(crate) labels: Vec<(String, String)>,
    /// Refuse unsubscribing until protection is turned off.
    #[arg(long)]
    pub(crate) delete_protection: bool,
    /// Which hub endpoint the agent dials.
    #[arg(long, value_enum, default_value = "public")]
    pub(crate) endpoint: EndpointArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    pub(crate) format: FormatArg,
    /// How long the bootstrap token stays valid (e.g. 30m, 1h).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub(crate) token_ttl: Duration,
    /// Agent transport.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) transport: TransportArg,
    /// Agent image (default cceone/cluster-agent:<version>).
    #[arg(long)]
    pub(crate) image: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Output format: the table (default), `wide` (adds zone, transport, protection), json,
    /// yaml.
    #[arg(short = 'o', long, value_enum)]
    pub(crate) output: Option<ListFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListFormat {
    /// The table with the priority-1 columns too.
    Wide,
    /// The list as JSON.
    Json,
    /// The list as YAML.
    Yaml,
}

#[derive(Debug, Args)]
pub(crate) struct KubeconfigArgs {
    /// The cluster.
    pub(crate) name: String,
    /// User the member cluster sees (impersonated).
    #[arg(long, default_value = cceone_platform::proxytoken::DEFAULT_USER)]
    pub(crate) user: String,
    /// Group the member cluster sees (repeatable; default: system:masters, i.e. cluster admin,
    /// for the default user `admin`, none for a named user).
    #[arg(long = "group")]
    pub(crate) groups: Vec<String>,
    /// Expire the kubeconfig after this long (e.g. 8h or 720h); its open streams end
    /// then too.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    pub(crate) ttl: Option<Duration>,
    /// Which hub endpoint the kubeconfig points at.
    #[arg(long, value_enum, default_value = "public")]
    pub(crate) endpoint: EndpointArg,
}

/// A positive duration such as `90s`, `30m`, `1h`, `2h30m` or ISO 8601 `PT1H`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{s:?} is not a duration like 30m or 1h ({e})"))?;
    let d = Duration::try_from(d).map_err(|_| format!("{s:?} must not be negative"))?;
    if d.is_zero() {
        return Err(format!("{s:?} must be positive"));
    }
    Ok(d)
}

/// `key=value` with a Kubernetes label key (optional DNS prefix `/` name) and value.
pub(crate) fn parse_label(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not key=value"))?;
    let name_ok = |n: &str, max: usize| {
        n.len() <= max
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && n.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
    };
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253
            && p.split('.')
                .all(|part| name_ok(part, 63) && !part.contains('_'))
    });
    if !prefix_ok || !name_ok(name, 63) {
        return Err(format!(
            "label key {key:?} is not a valid Kubernetes label key"
        ));
    }
    if !value.is_empty() && !name_ok(value, 63) {
        return Err(format!(
            "label value {value:?} is not a valid Kubernetes label value"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("PT1H"), Ok(Duration::from_secs(3600)));
        for bad in ["", "0s", "-1h", "soon", "1 fortnight"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("env=dev"), Ok(("env".into(), "dev".into())));
        assert_eq!(
            parse_label("cceone.io/tier=a_b-c.d"),
            Ok(("cceone.io/tier".into(), "a_b-c.d".into()))
        );
        assert_eq!(parse_label("empty="), Ok(("empty".into(), String::new())));
        for bad in [
            "env",
            "=x",
            "-a=b",
            "a=b c",
            "a/b/c=d",
            "a=-x",
            &format!("{}=x", "k".repeat(64)),
        ] {
            assert!(parse_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_line_parses() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "cceonectl",
            "--kubeconfig",
            "/k",
            "cluster",
            "register",
            "demo",
            "--type",
            "third-party",
            "--label",
            "env=dev",
            "--label",
            "a=b",
            "--format",
            "env",
            "--token-ttl",
            "10m",
        ])
        .unwrap();
        let Command::Cluster(ClusterCommand::Register(r)) = cli.command else {
            panic!()
        };
        assert_eq!(r.cluster_type.as_str(), "third-party");
        assert_eq!(r.labels.len(), 2);
        assert_eq!(r.format, FormatArg::Env);
        assert_eq!(r.token_ttl, Duration::from_secs(600));
        assert!(
            Cli::try_parse_from(["cceonectl", "cluster", "register", "demo", "--type", "mars"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["cceonectl", "cluster", "register", "demo"]).is_err());
    }
}
