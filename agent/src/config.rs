//! The agent's configuration, parsed once from the environment (the Deployment maps its config
//! Secret into environment variables; outside a cluster `--env-file FILE` adds the lines of
//! `cceonectl cluster register --format env`) into typed values. Environment access goes through
//! the [`Env`] trait so tests parse from a map; every error names the variable at fault.

mod env_file;

pub use env_file::{EnvFile, EnvFileError, Layered};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// `host:port` of the hub's public endpoint (required), or a comma-separated list of them when
/// several hubs serve the federation: the agent holds one tunnel, to the first that answers, and
/// moves on to the next when that one fails. A name that resolves to several addresses is
/// treated the same way, address by address.
pub const HUB_ENDPOINT: &str = "CCEONE_HUB_ENDPOINT";
/// `host:port` of the hub's private endpoint (optional; tried after the public one).
pub const HUB_PRIVATE_ENDPOINT: &str = "CCEONE_HUB_PRIVATE_ENDPOINT";
/// This cluster's registered name (required).
pub const CLUSTER_NAME: &str = "CCEONE_CLUSTER_NAME";
/// The hub's CA bundle in PEM, base64-encoded into one shell-safe word: what `cceonectl cluster
/// register --format env` writes, so `env $(cat file)` and `set -a; . file` read it intact.
/// Either this or [`HUB_CA`] is required; this one wins when both are set.
pub const HUB_CA_BASE64: &str = "CCEONE_HUB_CA_BASE64";
/// The hub's CA bundle in PEM; literal `\n` escapes are accepted (the rendered manifests' config
/// Secret carries it so, and older env files did).
pub const HUB_CA: &str = "CCEONE_HUB_CA";
/// The one-time bootstrap token (needed only until an identity exists).
pub const BOOTSTRAP_TOKEN: &str = "CCEONE_BOOTSTRAP_TOKEN";
/// `auto`, `grpc` or `quic` (default `auto`).
pub const TRANSPORT: &str = "CCEONE_TRANSPORT";
/// This replica's identity in leader election (default: `HOSTNAME`, else a random id).
pub const AGENT_ID: &str = "CCEONE_AGENT_ID";
/// The Secret that keeps the agent's client identity (default `cceone-agent-identity`).
pub const IDENTITY_SECRET: &str = "CCEONE_IDENTITY_SECRET";
/// The agent's own namespace (default `kube-system`).
pub const NAMESPACE: &str = "CCEONE_NAMESPACE";
/// Listen address of the health and metrics server (default `0.0.0.0:8080`).
pub const HEALTH_ADDR: &str = "CCEONE_HEALTH_ADDR";
/// Highest tunnel protocol version to offer (optional; tests simulate an older agent with it).
pub const AGENT_PROTOCOL_MAX: &str = "CCEONE_AGENT_PROTOCOL_MAX";
/// The pod's hostname, set by the kubelet to the pod name.
const HOSTNAME: &str = "HOSTNAME";

/// Default for [`IDENTITY_SECRET`].
pub const DEFAULT_IDENTITY_SECRET: &str = "cceone-agent-identity";
/// Default for [`NAMESPACE`].
pub const DEFAULT_NAMESPACE: &str = "kube-system";
/// Default for [`HEALTH_ADDR`].
pub const DEFAULT_HEALTH_ADDR: &str = "0.0.0.0:8080";

/// Where configuration values come from.
pub trait Env {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

impl Env for BTreeMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).map(|v| v.to_string())
    }
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is required but not set")]
    Missing {
        /// The variable.
        var: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
}

/// A hub address as `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEndpoint {
    /// DNS name or IP address (without brackets for IPv6); also the TLS server name.
    pub host: String,
    /// TCP and UDP port.
    pub port: u16,
}

impl HubEndpoint {
    /// `host:port`, bracketing IPv6 literals.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HubEndpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, rest) = rest
                .split_once(']')
                .ok_or("unclosed '[' in an IPv6 address")?;
            let port = rest
                .strip_prefix(':')
                .ok_or("expected host:port, e.g. hub.example.com:9443")?;
            (host, port)
        } else {
            s.rsplit_once(':')
                .ok_or("expected host:port, e.g. hub.example.com:9443")?
        };
        if host.is_empty() || host.contains('/') || (host.contains(':') && !s.starts_with('[')) {
            return Err("expected host:port, e.g. hub.example.com:9443".into());
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("port {port:?} is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err("port 0 is not a valid hub port".into());
        }
        Ok(HubEndpoint {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HubEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

/// How the tunnel reaches the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Try QUIC, fall back to gRPC over TLS/TCP when UDP is blocked.
    #[default]
    Auto,
    /// gRPC (HTTP/2) over TLS/TCP only.
    Grpc,
    /// QUIC over UDP only.
    Quic,
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Transport::Auto),
            "grpc" | "tcp" => Ok(Transport::Grpc),
            "quic" | "udp" => Ok(Transport::Quic),
            other => Err(format!("{other:?} is not one of auto, grpc, quic")),
        }
    }
}

/// A string that never reaches logs: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct MaskedString(String);

impl MaskedString {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        MaskedString(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MaskedString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for MaskedString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The agent's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The hub's public endpoint (the first of [`HUB_ENDPOINT`]'s list).
    pub hub_endpoint: HubEndpoint,
    /// The other hubs of [`HUB_ENDPOINT`]'s list, in order.
    pub more_hub_endpoints: Vec<HubEndpoint>,
    /// The hub's private endpoint, if the cluster has one.
    pub hub_private_endpoint: Option<HubEndpoint>,
    /// This cluster's registered name.
    pub cluster_name: String,
    /// The hub's CA bundle (PEM, real newlines).
    pub hub_ca_pem: String,
    /// The one-time bootstrap token.
    pub bootstrap_token: Option<MaskedString>,
    /// Tunnel transport.
    pub transport: Transport,
    /// This replica's leader-election identity.
    pub agent_id: String,
    /// The Secret holding the agent's identity.
    pub identity_secret: String,
    /// The agent's namespace in the member cluster.
    pub namespace: String,
    /// Health/metrics listen address.
    pub health_addr: SocketAddr,
    /// Highest tunnel protocol version to offer, when capped.
    pub protocol_max: Option<u32>,
}

impl Config {
    /// Parse from the process environment.
    pub fn from_system_env() -> Result<Config, ConfigError> {
        Config::from_env(&SystemEnv)
    }

    /// Parse from `env`.
    pub fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let mut listed = parse_list(HUB_ENDPOINT, &required(env, HUB_ENDPOINT)?)?.into_iter();
        let hub_endpoint = listed
            .next()
            .ok_or(ConfigError::Missing { var: HUB_ENDPOINT })?;
        let more_hub_endpoints = listed.collect();
        let hub_private_endpoint = optional(env, HUB_PRIVATE_ENDPOINT)
            .map(|v| parse(HUB_PRIVATE_ENDPOINT, &v))
            .transpose()?;
        let cluster_name = required(env, CLUSTER_NAME)?;
        check_dns_name(CLUSTER_NAME, &cluster_name)?;
        let hub_ca_pem = match optional(env, HUB_CA_BASE64) {
            Some(b64) => parse_ca(HUB_CA_BASE64, &decode_base64(HUB_CA_BASE64, &b64)?)?,
            None => parse_ca(
                HUB_CA,
                &optional(env, HUB_CA).ok_or(ConfigError::Missing { var: HUB_CA_BASE64 })?,
            )?,
        };
        let bootstrap_token = optional(env, BOOTSTRAP_TOKEN).map(MaskedString::new);
        let transport = optional(env, TRANSPORT)
            .map(|v| parse(TRANSPORT, &v))
            .transpose()?
            .unwrap_or_default();
        let agent_id = optional(env, AGENT_ID)
            .or_else(|| optional(env, HOSTNAME))
            .unwrap_or_else(|| format!("cceone-agent-{}", uuid::Uuid::new_v4().simple()));
        let identity_secret =
            optional(env, IDENTITY_SECRET).unwrap_or_else(|| DEFAULT_IDENTITY_SECRET.into());
        check_dns_name(IDENTITY_SECRET, &identity_secret)?;
        let namespace = optional(env, NAMESPACE).unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        check_dns_name(NAMESPACE, &namespace)?;
        let health_addr = parse(
            HEALTH_ADDR,
            &optional(env, HEALTH_ADDR).unwrap_or_else(|| DEFAULT_HEALTH_ADDR.into()),
        )?;
        let protocol_max = optional(env, AGENT_PROTOCOL_MAX)
            .map(|v| parse(AGENT_PROTOCOL_MAX, &v))
            .transpose()?;
        Ok(Config {
            hub_endpoint,
            more_hub_endpoints,
            hub_private_endpoint,
            cluster_name,
            hub_ca_pem,
            bootstrap_token,
            transport,
            agent_id,
            identity_secret,
            namespace,
            health_addr,
            protocol_max,
        })
    }

    /// The hub endpoints in the order to try them: the public ones as listed, then private.
    pub fn hub_endpoints(&self) -> impl Iterator<Item = &HubEndpoint> {
        std::iter::once(&self.hub_endpoint)
            .chain(&self.more_hub_endpoints)
            .chain(self.hub_private_endpoint.as_ref())
    }
}

/// A comma-separated list of `host:port` (empty items skipped, duplicates dropped).
fn parse_list(var: &'static str, value: &str) -> Result<Vec<HubEndpoint>, ConfigError> {
    let mut out: Vec<HubEndpoint> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let e: HubEndpoint = parse(var, item)?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn optional(env: &dyn Env, var: &'static str) -> Option<String> {
    env.get(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(env: &dyn Env, var: &'static str) -> Result<String, ConfigError> {
    optional(env, var).ok_or(ConfigError::Missing { var })
}

fn parse<T>(var: &'static str, value: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    value.parse().map_err(|e: T::Err| ConfigError::Invalid {
        var,
        reason: e.to_string(),
    })
}

/// A lowercase RFC 1123 name (clusters, Secrets, namespaces).
fn check_dns_name(var: &'static str, name: &str) -> Result<(), ConfigError> {
    let ok = name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: format!(
                "{name:?} must be lowercase letters, digits, '-' or '.', starting and ending alphanumeric"
            ),
        })
    }
}

/// Standard base64 (whitespace inside ignored, as `base64` without `-w0` wraps its output) of
/// UTF-8 text.
fn decode_base64(var: &'static str, value: &str) -> Result<String, ConfigError> {
    use base64::Engine as _;
    let compact: String = value.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("not base64: {e}"),
        })?;
    String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
        var,
        reason: "does not decode to text".into(),
    })
}

/// Turn literal `\n` escapes into newlines and check the result holds at least one certificate.
fn parse_ca(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let pem = raw.replace("\\r\\n", "\n").replace("\\n", "\n");
    let pem = pem.replace('\r', "");
    let mut certs = 0;
    for item in rustls_pemfile::certs(&mut pem.as_bytes()) {
        item.map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("not a PEM certificate bundle: {e}"),
        })?;
        certs += 1;
    }
    if certs == 0 {
        return Err(ConfigError::Invalid {
            var,
            reason: "no -----BEGIN CERTIFICATE----- block found".into(),
        });
    }
    let mut pem = pem.trim().to_string();
    pem.push('\n');
    Ok(pem)
}

#[cfg(test)]
mod tests;
