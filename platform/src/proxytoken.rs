//! Bearer tokens for the kubeconfigs that reach a member cluster through the hub's proxy
//! (`https://<hub>/clusters/<name>/proxy`). A token is `<8 alnum id>.<32 alnum secret>`; it lives
//! as Secret `proxy-token-<id>` in [`SYSTEM_NAMESPACE`] holding the SHA-256 of the secret, the
//! user and groups to impersonate on the member, the cluster, and an optional expiry. The hub
//! watches these Secrets and calls [`verify`]; deleting one ([`revoke`]) revokes the kubeconfig.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::error::is_status;
use crate::phase::rfc3339;
use crate::secret::{b64, checked_identity, ct_eq, data_str, is_alnum, random_alnum, sha256_hex};
use crate::{CLUSTER_LABEL, PlatformError, SYSTEM_NAMESPACE, validate_cluster_name};

/// The Secret type of proxy tokens.
pub const SECRET_TYPE: &str = "cceone.io/proxy-token";
/// Prefix of the Secret names.
pub const SECRET_PREFIX: &str = "proxy-token-";
/// Label selector matching every proxy-token Secret (for the hub's watch).
pub const SELECTOR: &str = "cceone.io/kind=proxy-token";
/// Length of the id part.
pub const ID_LEN: usize = 8;
/// Length of the secret part.
pub const SECRET_LEN: usize = 32;

/// Whom a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyIdentity {
    /// The token id (names its Secret; what `revoke` takes).
    pub id: String,
    /// User to impersonate on the member cluster.
    pub user: String,
    /// Groups to impersonate.
    pub groups: Vec<String>,
    /// The only cluster this token may reach.
    pub cluster: String,
}

/// The user a proxy kubeconfig impersonates when none is named.
pub const DEFAULT_USER: &str = "admin";

/// The groups a proxy kubeconfig carries into the member: those asked for; with none, the
/// default user [`DEFAULT_USER`] is a cluster admin (`system:masters`) and anyone else gets no
/// group (the member's RBAC decides), so that naming a person never makes them a cluster admin
/// by accident.
pub fn groups_for(user: &str, groups: Vec<String>) -> Vec<String> {
    if !groups.is_empty() {
        groups
    } else if user == DEFAULT_USER {
        vec!["system:masters".to_string()]
    } else {
        Vec::new()
    }
}

/// Split a token into (id, secret), or None when malformed.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    (is_alnum(id, ID_LEN) && is_alnum(secret, SECRET_LEN)).then_some((id, secret))
}

/// The name of the Secret for token id `id`.
pub fn secret_name(id: &str) -> String {
    format!("{SECRET_PREFIX}{id}")
}

/// The Secret storing `token` (pure).
pub fn token_secret(
    cluster: &str,
    user: &str,
    groups: &[String],
    token: &str,
    expiration: Option<Timestamp>,
) -> Result<Secret, PlatformError> {
    let (id, secret) =
        parse(token).ok_or_else(|| PlatformError::InvalidInput("malformed proxy token".into()))?;
    let mut data = vec![
        ("secret-hash", sha256_hex(secret)),
        ("user", user.to_string()),
        ("groups", groups.join(",")),
        ("cluster", cluster.to_string()),
    ];
    if let Some(exp) = expiration {
        data.push(("expiration", rfc3339(exp)));
    }
    let mut s: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": secret_name(id),
            "namespace": SYSTEM_NAMESPACE,
            "labels": {CLUSTER_LABEL: cluster, "cceone.io/kind": "proxy-token"},
        },
        "type": SECRET_TYPE,
    }))?;
    s.data = Some(
        data.into_iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.into_bytes())))
            .collect::<BTreeMap<_, _>>(),
    );
    Ok(s)
}

/// Check `token` against a proxy-token Secret at `now` (pure): the Secret must be the one the
/// token names, of [`SECRET_TYPE`], with a matching hash and not expired.
pub fn verify(secret: &Secret, token: &str, now: Timestamp) -> Option<ProxyIdentity> {
    let (id, token_secret) = parse(token)?;
    if secret.metadata.name.as_deref() != Some(secret_name(id).as_str())
        || secret.type_.as_deref() != Some(SECRET_TYPE)
        || secret.metadata.deletion_timestamp.is_some()
    {
        return None;
    }
    let stored = data_str(secret, "secret-hash")?;
    if !ct_eq(stored.as_bytes(), sha256_hex(token_secret).as_bytes()) {
        return None;
    }
    if let Some(exp) = data_str(secret, "expiration") {
        // An unparseable expiry fails closed.
        if now >= exp.parse::<Timestamp>().ok()? {
            return None;
        }
    }
    let user = data_str(secret, "user").filter(|u| !u.is_empty())?;
    let cluster = data_str(secret, "cluster").filter(|c| !c.is_empty())?;
    let groups = data_str(secret, "groups")
        .map(|g| {
            g.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(ProxyIdentity {
        id: id.to_string(),
        user,
        groups,
        cluster,
    })
}

/// Issue a token for `user` (impersonated with `groups`) on `cluster`, expiring after `ttl`
/// when given; returns (id, token).
pub async fn issue(
    client: &kube::Client,
    cluster: &str,
    user: &str,
    groups: &[String],
    ttl: Option<Duration>,
) -> Result<(String, String), PlatformError> {
    validate_cluster_name(cluster)?;
    let expiration = checked_identity(user, groups, ttl)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let mut attempts = 0;
    loop {
        let id = random_alnum(ID_LEN)?;
        let token = format!("{id}.{}", random_alnum(SECRET_LEN)?);
        let secret = token_secret(cluster, user, groups, &token, expiration)?;
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => return Ok((id, token)),
            Err(e) if is_status(&e, 409) && attempts < 3 => attempts += 1,
            Err(e) => return Err(PlatformError::api("storing the proxy token", e)),
        }
    }
}

/// Revoke the token with id `id` (deletes its Secret). [`PlatformError::NotFound`] when there
/// is no such token.
pub async fn revoke(client: &kube::Client, id: &str) -> Result<(), PlatformError> {
    if !is_alnum(id, ID_LEN) {
        return Err(PlatformError::InvalidInput(format!(
            "{id:?} is not a proxy token id"
        )));
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    match api.delete(&secret_name(id), &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Err(PlatformError::NotFound(format!("proxy token {id}"))),
        Err(e) => Err(PlatformError::api(format!("revoking proxy token {id}"), e)),
    }
}

/// A kubeconfig (YAML) whose server is `https://<endpoint>/clusters/<cluster>/proxy`, trusting
/// `ca_bundle` and authenticating with `token`; context and cluster entries are named
/// `cceone-<cluster>`, the user entry `<user>@cceone-<cluster>`.
pub fn kubeconfig_yaml(
    endpoint: &str,
    cluster: &str,
    ca_bundle: &str,
    user: &str,
    token: &str,
) -> String {
    let name = format!("cceone-{cluster}");
    let user_entry = format!("{user}@{name}");
    let cfg = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": format!("https://{endpoint}/clusters/{cluster}/proxy"),
            "certificate-authority-data": b64(ca_bundle.as_bytes()),
        }}],
        "users": [{"name": user_entry, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user_entry}}],
        "current-context": name,
        "preferences": {},
    });
    // Serialising a JSON value to YAML cannot fail (string keys only).
    serde_yaml::to_string(&cfg).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    const TOKEN: &str = "abcd1234.0123456789abcdef0123456789abcdef";

    #[test]
    fn only_the_default_user_is_a_cluster_admin_by_default() {
        assert_eq!(groups_for(DEFAULT_USER, vec![]), ["system:masters"]);
        assert!(groups_for("dev", vec![]).is_empty());
        assert_eq!(groups_for("dev", vec!["devs".into()]), ["devs"]);
    }

    #[test]
    fn verify_accepts_only_the_right_token_in_time() {
        let groups = vec!["system:masters".to_string(), "dev".to_string()];
        let s = token_secret("demo", "alice", &groups, TOKEN, Some(at(60))).unwrap();
        let id = verify(&s, TOKEN, at(0)).unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.groups, groups);
        assert_eq!(id.cluster, "demo");
        assert_eq!(id.id, "abcd1234");
        assert!(verify(&s, TOKEN, at(60)).is_none(), "expired");
        let wrong = "abcd1234.0123456789abcdef0123456789abcdeX";
        assert!(verify(&s, wrong, at(0)).is_none());
        let other_id = "abcd1235.0123456789abcdef0123456789abcdef";
        assert!(
            verify(&s, other_id, at(0)).is_none(),
            "a Secret answers only for its own id"
        );
        assert!(verify(&s, "garbage", at(0)).is_none());
        let forever = token_secret("demo", "bob", &[], TOKEN, None).unwrap();
        let id = verify(&forever, TOKEN, at(1_000_000_000)).unwrap();
        assert!(id.groups.is_empty());
        let mut bad_exp = forever.clone();
        bad_exp
            .data
            .as_mut()
            .unwrap()
            .insert("expiration".into(), ByteString(b"soon".to_vec()));
        assert!(verify(&bad_exp, TOKEN, at(0)).is_none());
        let mut typed = forever;
        typed.type_ = Some("Opaque".into());
        assert!(verify(&typed, TOKEN, at(0)).is_none());
    }

    #[test]
    fn secret_never_holds_the_token() {
        let s = token_secret("demo", "alice", &[], TOKEN, None).unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("0123456789abcdef0123456789abcdef"));
        assert_eq!(s.metadata.labels.as_ref().unwrap()[CLUSTER_LABEL], "demo");
        assert_eq!(s.metadata.name.as_deref(), Some("proxy-token-abcd1234"));
    }

    #[test]
    fn kubeconfig_points_at_the_proxy() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let text = kubeconfig_yaml("hub.example.com:9443", "demo", pem, "alice", TOKEN);
        let v: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let server = &v["clusters"][0]["cluster"]["server"];
        assert_eq!(server, "https://hub.example.com:9443/clusters/demo/proxy");
        assert_eq!(v["users"][0]["user"]["token"], TOKEN);
        assert_eq!(v["current-context"], "cceone-demo");
        let ca = v["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        assert_eq!(ca, crate::secret::b64(pem.as_bytes()));
    }
}
