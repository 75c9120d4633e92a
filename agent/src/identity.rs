//! The agent's client identity: a private key that never leaves the member cluster, the
//! certificate the hub's CA signed for this cluster, and that CA. It is obtained once by
//! registering with the bootstrap token and kept in a Secret in the agent's namespace, so a
//! restart (or the standby taking over) reuses it instead of registering again.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};

use crate::config::{Config, MaskedString};
use crate::https::{HttpsClient, HttpsError};

/// The registration path on the hub.
pub const REGISTER_PATH: &str = "/v1/register";
/// Field manager for the identity Secret.
const FIELD_MANAGER: &str = "cceone-cluster-agent";
/// Secret keys.
const KEY_CLUSTER: &str = "cluster";
const KEY_TLS_KEY: &str = "tls.key";
const KEY_TLS_CRT: &str = "tls.crt";
const KEY_CA: &str = "ca.crt";
const KEY_NOT_BEFORE: &str = "notBefore";
const KEY_NOT_AFTER: &str = "notAfter";

/// What can go wrong with the identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Generating the key or the CSR failed.
    #[error("generating key and CSR: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing the identity Secret failed.
    #[error("identity Secret {namespace}/{name}: {source}")]
    Secret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The hub refused the registration (bad, expired or used token; unknown cluster).
    /// Permanent: only a new token helps.
    #[error("the hub refused registration ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The hub's message.
        message: String,
    },
    /// No bootstrap token is configured and no stored identity exists.
    #[error("no usable stored identity and CCEONE_BOOTSTRAP_TOKEN is not set")]
    NoToken,
    /// The hub could not be reached or failed (retryable).
    #[error("registration request: {0}")]
    Transport(#[from] HttpsError),
    /// The hub answered with an error status other than a refusal (retryable).
    #[error("the hub answered {status}: {message}")]
    HubError {
        /// HTTP status.
        status: u16,
        /// The hub's message.
        message: String,
    },
    /// The hub's answer is unusable (permanent: a hub/agent mismatch).
    #[error("unusable registration answer: {0}")]
    BadResponse(String),
}

impl IdentityError {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            IdentityError::Transport(e) => e.is_retryable(),
            IdentityError::HubError { .. } | IdentityError::Secret { .. } => true,
            IdentityError::Generate(_)
            | IdentityError::Rejected { .. }
            | IdentityError::NoToken
            | IdentityError::BadResponse(_) => false,
        }
    }
}

/// The agent's client identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The cluster the certificate names.
    pub cluster_name: String,
    /// PKCS#8 private key, PEM (masked in `Debug`).
    pub key_pem: MaskedString,
    /// The client certificate, PEM.
    pub cert_pem: String,
    /// The hub's CA, PEM.
    pub ca_pem: String,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
}

/// The registration request body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest<'a> {
    token: &'a str,
    csr_pem: &'a str,
    agent_version: &'a str,
}

/// The registration answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterResponse {
    cluster_name: String,
    certificate_pem: String,
    ca_pem: String,
    not_after: i64,
}

impl Identity {
    /// A fresh ECDSA P-256 key and a CSR whose common name is `cluster`: `(key_pem, csr_pem)`.
    pub fn new_key_and_csr(cluster: &str) -> Result<(String, String), IdentityError> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cluster);
        let csr = params.serialize_request(&key)?;
        Ok((key.serialize_pem(), csr.pem()?))
    }

    /// Past two thirds of the validity period, or already expired.
    pub fn needs_rotation(&self, now_unix: i64) -> bool {
        let lifetime = (self.not_after - self.not_before).max(0);
        now_unix >= self.not_before + lifetime * 2 / 3
    }

    /// Past `not_after`.
    pub fn is_expired(&self, now_unix: i64) -> bool {
        now_unix >= self.not_after
    }

    /// The identity as Secret data.
    fn to_secret_data(&self) -> BTreeMap<String, ByteString> {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        BTreeMap::from([
            (KEY_CLUSTER.into(), b(&self.cluster_name)),
            (KEY_TLS_KEY.into(), b(self.key_pem.expose())),
            (KEY_TLS_CRT.into(), b(&self.cert_pem)),
            (KEY_CA.into(), b(&self.ca_pem)),
            (KEY_NOT_BEFORE.into(), b(&self.not_before.to_string())),
            (KEY_NOT_AFTER.into(), b(&self.not_after.to_string())),
        ])
    }

    /// Read an identity back from Secret data; `None` when a key is missing or malformed.
    fn from_secret_data(data: &BTreeMap<String, ByteString>) -> Option<Identity> {
        let s = |k: &str| {
            data.get(k)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
        };
        let n = |k: &str| s(k).and_then(|v| v.trim().parse::<i64>().ok());
        Some(Identity {
            cluster_name: s(KEY_CLUSTER)?,
            key_pem: MaskedString::new(s(KEY_TLS_KEY)?),
            cert_pem: s(KEY_TLS_CRT)?,
            ca_pem: s(KEY_CA)?,
            not_before: n(KEY_NOT_BEFORE)?,
            not_after: n(KEY_NOT_AFTER)?,
        })
    }
}

/// The current time in unix seconds.
pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn secret_err(cfg: &Config) -> impl FnOnce(kube::Error) -> IdentityError + '_ {
    |source| IdentityError::Secret {
        namespace: cfg.namespace.clone(),
        name: cfg.identity_secret.clone(),
        source,
    }
}

/// The stored identity, if the Secret exists, is complete and names this cluster.
pub async fn load(client: &Client, cfg: &Config) -> Result<Option<Identity>, IdentityError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &cfg.namespace);
    let Some(secret) = api
        .get_opt(&cfg.identity_secret)
        .await
        .map_err(secret_err(cfg))?
    else {
        return Ok(None);
    };
    let Some(identity) = secret.data.as_ref().and_then(Identity::from_secret_data) else {
        tracing::warn!(
            secret = cfg.identity_secret,
            "identity Secret is incomplete; ignoring it"
        );
        return Ok(None);
    };
    if identity.cluster_name != cfg.cluster_name {
        tracing::warn!(
            stored = identity.cluster_name,
            configured = cfg.cluster_name,
            "identity Secret names another cluster; ignoring it"
        );
        return Ok(None);
    }
    Ok(Some(identity))
}

/// Create or overwrite the identity Secret (server-side apply).
pub async fn store(
    client: &Client,
    cfg: &Config,
    identity: &Identity,
) -> Result<(), IdentityError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &cfg.namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(cfg.identity_secret.clone()),
            namespace: Some(cfg.namespace.clone()),
            labels: Some(BTreeMap::from([(
                "app".to_string(),
                "cceone-cluster-agent".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(identity.to_secret_data()),
        ..Secret::default()
    };
    // `Patch::Apply` needs apiVersion/kind in the body, which k8s-openapi types omit.
    let mut body =
        serde_json::to_value(&secret).map_err(|e| secret_err(cfg)(kube::Error::SerdeError(e)))?;
    body["apiVersion"] = "v1".into();
    body["kind"] = "Secret".into();
    api.patch(
        &cfg.identity_secret,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(secret_err(cfg))?;
    Ok(())
}

/// Register with the bootstrap token: generate a key and CSR, POST them to the first reachable
/// hub endpoint, and check the answer (cluster name, certificate matching our key).
pub async fn register(cfg: &Config, http: &HttpsClient) -> Result<Identity, IdentityError> {
    let token = cfg.bootstrap_token.as_ref().ok_or(IdentityError::NoToken)?;
    let (key_pem, csr_pem) = Identity::new_key_and_csr(&cfg.cluster_name)?;
    let body = serde_json::to_value(RegisterRequest {
        token: token.expose(),
        csr_pem: &csr_pem,
        agent_version: env!("CARGO_PKG_VERSION"),
    })
    .map_err(|e| IdentityError::BadResponse(e.to_string()))?;
    let mut last_err = None;
    for endpoint in cfg.hub_endpoints() {
        match http.post_json(endpoint, REGISTER_PATH, &body).await {
            Ok((status, bytes)) => return answer(cfg, status, &bytes, key_pem),
            Err(e) => {
                tracing::warn!(endpoint = %endpoint, error = %e, "registration attempt failed");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.map_or(IdentityError::NoToken, IdentityError::Transport))
}

fn answer(
    cfg: &Config,
    status: http::StatusCode,
    bytes: &[u8],
    key_pem: String,
) -> Result<Identity, IdentityError> {
    if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
        return Err(IdentityError::Rejected {
            status: status.as_u16(),
            message: hub_message(bytes),
        });
    }
    if !status.is_success() {
        return Err(IdentityError::HubError {
            status: status.as_u16(),
            message: hub_message(bytes),
        });
    }
    let resp: RegisterResponse = serde_json::from_slice(bytes)
        .map_err(|e| IdentityError::BadResponse(format!("not the expected JSON: {e}")))?;
    if resp.cluster_name != cfg.cluster_name {
        return Err(IdentityError::BadResponse(format!(
            "certificate issued for cluster {:?}, but this is {:?}",
            resp.cluster_name, cfg.cluster_name
        )));
    }
    let (not_before, spki) = parse_certificate(&resp.certificate_pem)?;
    let key = rcgen::KeyPair::from_pem(&key_pem)
        .map_err(|e| IdentityError::BadResponse(format!("own key: {e}")))?;
    if spki != rcgen::PublicKeyData::der_bytes(&key) {
        return Err(IdentityError::BadResponse(
            "the certificate does not carry this agent's public key".into(),
        ));
    }
    Ok(Identity {
        cluster_name: resp.cluster_name,
        key_pem: MaskedString::new(key_pem),
        cert_pem: resp.certificate_pem,
        ca_pem: resp.ca_pem,
        not_before,
        not_after: resp.not_after,
    })
}

/// `notBefore` (unix seconds) and the raw public key bits of the first certificate.
fn parse_certificate(pem: &str) -> Result<(i64, Vec<u8>), IdentityError> {
    let bad = |what: String| IdentityError::BadResponse(format!("certificate: {what}"));
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| bad(e.to_string()))?;
    Ok((
        cert.validity().not_before.timestamp(),
        cert.public_key().subject_public_key.data.to_vec(),
    ))
}

/// The hub's explanation: `message` or `error` of a JSON body, else the text, shortened.
fn hub_message(bytes: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            ["message", "error", "reason"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_string))
        });
    let mut msg = from_json.unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_string());
    if msg.len() > 512 {
        let cut = (0..=512)
            .rev()
            .find(|&i| msg.is_char_boundary(i))
            .unwrap_or(0);
        msg.truncate(cut);
        msg.push('…');
    }
    if msg.is_empty() {
        msg = "(no message)".into();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(not_before: i64, not_after: i64) -> Identity {
        Identity {
            cluster_name: "member1".into(),
            key_pem: MaskedString::new("-----BEGIN PRIVATE KEY-----"),
            cert_pem: "cert".into(),
            ca_pem: "ca".into(),
            not_before,
            not_after,
        }
    }

    #[test]
    fn rotation_after_two_thirds() {
        let id = ident(1_000, 4_000);
        assert!(!id.needs_rotation(1_000));
        assert!(!id.needs_rotation(2_999));
        assert!(id.needs_rotation(3_000));
        assert!(id.needs_rotation(5_000));
        assert!(!id.is_expired(3_999) && id.is_expired(4_000));
    }

    #[test]
    fn csr_names_the_cluster() {
        let (key, csr) = Identity::new_key_and_csr("member1").expect("csr");
        assert!(key.contains("PRIVATE KEY"));
        let params = rcgen::CertificateSigningRequestParams::from_pem(&csr).expect("parse csr");
        let cn = params
            .params
            .distinguished_name
            .get(&rcgen::DnType::CommonName)
            .cloned();
        assert_eq!(cn, Some(rcgen::DnValue::Utf8String("member1".into())));
    }

    #[test]
    fn secret_data_round_trip_and_masking() {
        let id = ident(1, 2);
        assert_eq!(
            Identity::from_secret_data(&id.to_secret_data()),
            Some(id.clone())
        );
        let mut data = id.to_secret_data();
        data.remove(KEY_TLS_KEY);
        assert_eq!(Identity::from_secret_data(&data), None);
        assert!(!format!("{id:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn hub_messages() {
        assert_eq!(
            hub_message(br#"{"message":"token expired"}"#),
            "token expired"
        );
        assert_eq!(
            hub_message(br#"{"error":"token already used"}"#),
            "token already used"
        );
        assert_eq!(hub_message(b"  bad token \n"), "bad token");
        assert_eq!(hub_message(b""), "(no message)");
        assert!(hub_message("é".repeat(600).as_bytes()).ends_with('…'));
    }
}
