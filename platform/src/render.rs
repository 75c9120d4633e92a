//! The agent's manifests for one registered cluster, and the same settings as `KEY=value`
//! environment lines for running the agent binary outside a cluster.
//!
//! The YAML holds a ServiceAccount, a ClusterRole and its binding, the config Secret
//! `cceone-agent-config` (one key per `ENV_*` name; the Deployment loads it with `envFrom`) and
//! the Deployment `cceone-cluster-agent` in `kube-system` (two replicas, one leader). The
//! checked-in template `manifests/agent.yaml` is this output with `${PLACEHOLDERS}`.
//!
//! Values are single-line. In the YAML the CA bundle's newlines are written as the two
//! characters `\n` (and a backslash as `\\`), so the template survives `envsubst`; the agent
//! reads it through [`unescape_env_value`], which also leaves real newlines alone. The env lines
//! carry the CA base64-encoded instead ([`ENV_HUB_CA_BASE64`]): the PEM's `BEGIN CERTIFICATE`
//! holds a space, which `env $(cat file)` splits and `set -a; . file` runs as a command, and a
//! shell eats the backslash of `\n`. Every other value is a single shell-safe word already
//! (validated endpoints, names, tokens and transports), so one file serves `env $(cat file)`,
//! `set -a; . file`, `docker --env-file` and the agent's `--env-file`.

use serde_json::{Value, json};

use crate::PlatformError;
use crate::hubinfo::validate_endpoint;

/// The hub's `host:port` the agent dials (the public endpoint); with several hubs, all of
/// theirs, comma-separated, the first tried first.
pub const ENV_HUB_ENDPOINT: &str = "CCEONE_HUB_ENDPOINT";
/// The hub's private `host:port`; when set (the private variant) the agent dials it instead.
pub const ENV_HUB_PRIVATE_ENDPOINT: &str = "CCEONE_HUB_PRIVATE_ENDPOINT";
/// The registered cluster's name.
pub const ENV_CLUSTER_NAME: &str = "CCEONE_CLUSTER_NAME";
/// The hub CA bundle, PEM, escaped as described in the module docs (the YAML's form).
pub const ENV_HUB_CA: &str = "CCEONE_HUB_CA";
/// The hub CA bundle, PEM, in standard base64 (the env lines' form).
pub const ENV_HUB_CA_BASE64: &str = "CCEONE_HUB_CA_BASE64";
/// The one-time bootstrap token.
pub const ENV_BOOTSTRAP_TOKEN: &str = "CCEONE_BOOTSTRAP_TOKEN";
/// `auto`, `grpc` or `quic`.
pub const ENV_TRANSPORT: &str = "CCEONE_TRANSPORT";
/// This replica's id (the pod name, from the downward API).
pub const ENV_AGENT_ID: &str = "CCEONE_AGENT_ID";
/// The Secret in the member cluster that keeps the agent's issued certificate.
pub const ENV_IDENTITY_SECRET: &str = "CCEONE_IDENTITY_SECRET";
/// Where the agent serves `/healthz` and `/readyz`.
pub const ENV_HEALTH_ADDR: &str = "CCEONE_HEALTH_ADDR";

/// Default of [`ENV_IDENTITY_SECRET`].
pub const DEFAULT_IDENTITY_SECRET: &str = "cceone-agent-identity";
/// Default of [`ENV_HEALTH_ADDR`].
pub const DEFAULT_HEALTH_ADDR: &str = "0.0.0.0:8080";
/// Namespace the agent runs in.
pub const AGENT_NAMESPACE: &str = "kube-system";
/// Name of the agent's Deployment, ServiceAccount, ClusterRole(Binding) and `app` label.
pub const AGENT_NAME: &str = "cceone-cluster-agent";
/// Name of the ClusterRole (and its binding) that lets the agent impersonate proxied callers.
pub const IMPERSONATOR: &str = "cceone-cluster-agent:impersonator";
/// Name of the opt-in ClusterRole (and binding) letting proxied callers be `system:masters`.
pub const MASTERS_OPT_IN: &str = "cceone-cluster-agent:impersonate-masters";
/// Name of the agent's config Secret.
pub const CONFIG_SECRET: &str = "cceone-agent-config";
/// Transports the agent accepts.
pub const TRANSPORTS: [&str; 3] = ["auto", "grpc", "quic"];

const HEALTH_PORT: u16 = 8080;

/// The agent image for this build: `cceone/cluster-agent:<crate version>`.
pub fn default_image() -> String {
    format!("cceone/cluster-agent:{}", env!("CARGO_PKG_VERSION"))
}

/// What one cluster's agent needs to join. `Debug` masks the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentSettings {
    /// The hub's public `host:port`, or several hubs' comma-separated.
    pub hub_endpoint: String,
    /// The hub's private `host:port`, set for the private-endpoint variant only.
    pub hub_private_endpoint: Option<String>,
    /// The registered cluster's name.
    pub cluster_name: String,
    /// The hub CA bundle (PEM, real newlines).
    pub ca_bundle: String,
    /// The one-time bootstrap token.
    pub bootstrap_token: String,
    /// `auto`, `grpc` or `quic`.
    pub transport: String,
}

impl AgentSettings {
    /// Check endpoints, cluster name and transport (placeholders would fail this; rendering
    /// itself does not check).
    pub fn validate(&self) -> Result<(), PlatformError> {
        // Several hubs: a comma-separated list, as the agent reads it.
        for endpoint in self.hub_endpoint.split(',') {
            validate_endpoint(endpoint)?;
        }
        if let Some(p) = &self.hub_private_endpoint {
            validate_endpoint(p)?;
        }
        crate::validate_cluster_name(&self.cluster_name)?;
        if !TRANSPORTS.contains(&self.transport.as_str()) {
            return Err(PlatformError::InvalidInput(format!(
                "transport {:?} is not one of auto, grpc, quic",
                self.transport
            )));
        }
        Ok(())
    }

    /// The cluster-specific settings as (env name, escaped value), in a fixed order, as the
    /// YAML's config Secret holds them; the private endpoint only when set.
    pub fn env_pairs(&self) -> Vec<(&'static str, String)> {
        self.pairs_with_ca((ENV_HUB_CA, escape_env_value(&self.ca_bundle)))
    }

    /// [`AgentSettings::env_pairs`] with the CA base64-encoded under [`ENV_HUB_CA_BASE64`]:
    /// every value one shell-safe word, as [`agent_env`] writes them.
    pub fn env_file_pairs(&self) -> Vec<(&'static str, String)> {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_bundle);
        self.pairs_with_ca((ENV_HUB_CA_BASE64, ca))
    }

    fn pairs_with_ca(&self, ca: (&'static str, String)) -> Vec<(&'static str, String)> {
        let mut pairs = vec![(ENV_HUB_ENDPOINT, self.hub_endpoint.clone())];
        if let Some(p) = &self.hub_private_endpoint {
            pairs.push((ENV_HUB_PRIVATE_ENDPOINT, p.clone()));
        }
        pairs.extend([
            (ENV_CLUSTER_NAME, self.cluster_name.clone()),
            ca,
            (ENV_BOOTSTRAP_TOKEN, self.bootstrap_token.clone()),
            (ENV_TRANSPORT, self.transport.clone()),
        ]);
        pairs
    }
}

impl std::fmt::Debug for AgentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSettings")
            .field("hub_endpoint", &self.hub_endpoint)
            .field("hub_private_endpoint", &self.hub_private_endpoint)
            .field("cluster_name", &self.cluster_name)
            .field(
                "ca_bundle",
                &format_args!("<{} bytes>", self.ca_bundle.len()),
            )
            .field("bootstrap_token", &"<masked>")
            .field("transport", &self.transport)
            .finish()
    }
}

/// Make a value single-line: `\` → `\\`, newline → `\n`, carriage returns dropped.
pub fn escape_env_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 32);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Undo [`escape_env_value`]: `\n` → newline, `\\` → `\`; any other backslash and real
/// newlines are kept as they are.
pub fn unescape_env_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    out
}

fn labels() -> Value {
    json!({"app": AGENT_NAME, "app.kubernetes.io/part-of": "cceone"})
}

/// A ClusterRoleBinding `name` of ClusterRole `role` to the agent's ServiceAccount.
fn binding(name: &str, role: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": AGENT_NAME, "namespace": AGENT_NAMESPACE}],
    })
}

/// The commented-out opt-in that ends the agent YAML: with it, proxied callers whose kubeconfig
/// names group `system:masters` (the default `admin` of `cceonectl cluster kubeconfig`) are
/// cluster administrators of the member, beyond its RBAC.
pub fn masters_opt_in() -> String {
    let docs = [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": MASTERS_OPT_IN, "labels": labels()},
               "rules": [{"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"],
                          "resourceNames": ["system:masters"]}]}),
        binding(MASTERS_OPT_IN, MASTERS_OPT_IN),
    ];
    let yaml = docs
        .iter()
        .filter_map(|d| serde_yaml::to_string(d).ok())
        .collect::<Vec<_>>()
        .join("---\n");
    let mut out = String::from(
        "# Opt-in, off by default: proxied requests may run as group system:masters (what the\n\
         # default `cceonectl cluster kubeconfig` user admin asks for), i.e. beyond this cluster's\n\
         # RBAC. Uncomment to allow it; otherwise bind admin (or a group) to cluster-admin here.\n\
         # ---\n",
    );
    for line in yaml.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The opt-in ending a rendered agent YAML, uncommented: what an operator applies to opt in.
pub fn uncommented_opt_in(yaml: &str) -> String {
    yaml.lines()
        .skip_while(|l| !l.starts_with("# ---"))
        .skip(1)
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect()
}

/// The agent's objects, in apply order.
pub fn agent_documents(s: &AgentSettings, image: &str) -> Vec<Value> {
    let mut config: serde_json::Map<String, Value> = s
        .env_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    config.insert(ENV_IDENTITY_SECRET.into(), json!(DEFAULT_IDENTITY_SECRET));
    config.insert(ENV_HEALTH_ADDR.into(), json!(DEFAULT_HEALTH_ADDR));
    let meta = |name: &str, namespaced: bool| {
        let mut m = json!({"name": name, "labels": labels()});
        if namespaced {
            m["namespace"] = json!(AGENT_NAMESPACE);
        }
        m
    };
    let all = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let probe = |path: &str, delay: u32, period: u32| {
        json!({"httpGet": {"path": path, "port": "health"},
               "initialDelaySeconds": delay, "periodSeconds": period, "failureThreshold": 3})
    };
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(AGENT_NAME, true)}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta(AGENT_NAME, false),
            "rules": [
                // Works may carry any kind, so the agent reads and writes every resource (for
                // status, applying Works, its Lease and identity Secret), but never with
                // `escalate`, `bind` or `impersonate`: RBAC objects a Work carries grant no
                // more than the agent holds, and impersonation is the role below.
                {"apiGroups": ["*"], "resources": ["*"], "verbs": all},
                {"nonResourceURLs": ["*"], "verbs": ["get"]},
            ],
        }),
        binding(AGENT_NAME, AGENT_NAME),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta(IMPERSONATOR, false),
            // Proxied requests run as the caller, so the member's RBAC decides: any user name
            // (a name alone carries no group), but only the groups listed here, never
            // `system:masters` (see the opt-in after the manifests), and no service accounts
            // (one would bring its bindings, such as a controller's). Add the groups your proxy
            // kubeconfigs (`--group`) and grants name to resourceNames. As Karmada's
            // karmada-impersonator ClusterRole, which lists its subjects by name.
            "rules": [
                {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
                {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"],
                 "resourceNames": ["system:authenticated"]},
            ],
        }),
        binding(IMPERSONATOR, IMPERSONATOR),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta(CONFIG_SECRET, true),
            "type": "Opaque",
            "stringData": config,
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(AGENT_NAME, true),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": AGENT_NAME}},
                "template": {
                    "metadata": {"labels": labels()},
                    "spec": {
                        "serviceAccountName": AGENT_NAME,
                        "affinity": {"podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [{
                                "weight": 100,
                                "podAffinityTerm": {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {"matchLabels": {"app": AGENT_NAME}},
                                },
                            }],
                        }},
                        "containers": [{
                            "name": "agent",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "envFrom": [{"secretRef": {"name": CONFIG_SECRET}}],
                            "env": [{"name": ENV_AGENT_ID,
                                     "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                            "ports": [{"name": "health", "containerPort": HEALTH_PORT,
                                       "protocol": "TCP"}],
                            "livenessProbe": probe("/healthz", 5, 10),
                            "readinessProbe": probe("/readyz", 2, 5),
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": false,
                                "readOnlyRootFilesystem": true,
                                "runAsNonRoot": true,
                                "runAsUser": 65532,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                        }],
                    },
                },
            },
        }),
    ]
}

/// The agent manifests as one multi-document YAML, ending with the commented-out
/// [`masters_opt_in`].
pub fn agent_yaml(s: &AgentSettings, image: &str) -> String {
    let docs = agent_documents(s, image)
        .iter()
        // Serialising a JSON value to YAML cannot fail (string keys only).
        .filter_map(|d| serde_yaml::to_string(d).ok())
        .collect::<Vec<_>>()
        .join("---\n");
    format!("{docs}{}", masters_opt_in())
}

/// The settings as `KEY=value` lines, no quoting and no comments (`env $(cat file)` would take
/// a `#` for a command): every value is one shell-safe word, see the module docs.
pub fn agent_env(s: &AgentSettings) -> String {
    s.env_file_pairs()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
