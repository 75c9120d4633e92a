//! Kubeconfigs for people (`cceonectl user kubeconfig NAME`): a bearer token that reaches the
//! federation API as a named user and groups, optionally expiring, revocable by deleting its
//! Secret. The API server (`cceone_kube_apiserver::authn`) verifies them; this module writes
//! them in the format that module documents: Secret `user-token-<id>` in [`SYSTEM_NAMESPACE`],
//! type [`SECRET_TYPE`], data `token-secret`, `user`, `groups`, `expiration`.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::error::is_status;
use crate::phase::rfc3339;
use crate::secret::{checked_identity, is_alnum, random_alnum};
use crate::{PlatformError, SYSTEM_NAMESPACE};

/// The Secret type of user tokens.
pub const SECRET_TYPE: &str = "cceone.io/user-token";
/// Prefix of the Secret names.
pub const SECRET_PREFIX: &str = "user-token-";
/// Length of the id part.
pub const ID_LEN: usize = 8;
/// Length of the secret part.
pub const SECRET_LEN: usize = 32;

/// The Secret holding `<id>.<secret>` for `user` in `groups` (pure).
pub fn token_secret(
    id: &str,
    secret: &str,
    user: &str,
    groups: &[String],
    expiration: Option<Timestamp>,
) -> Result<Secret, PlatformError> {
    let mut data = vec![
        ("token-secret", secret.to_string()),
        ("user", user.to_string()),
        ("groups", groups.join(",")),
    ];
    if let Some(exp) = expiration {
        data.push(("expiration", rfc3339(exp)));
    }
    let mut s: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{SECRET_PREFIX}{id}"),
            "namespace": SYSTEM_NAMESPACE,
            "labels": {"cceone.io/kind": "user-token"},
            "annotations": {"cceone.io/user": user},
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

/// Issue a token for `user` in `groups`, expiring after `ttl` when given; returns (id, token).
pub async fn issue(
    client: &kube::Client,
    user: &str,
    groups: &[String],
    ttl: Option<Duration>,
) -> Result<(String, String), PlatformError> {
    let expiration = checked_identity(user, groups, ttl)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let mut attempts = 0;
    loop {
        let id = random_alnum(ID_LEN)?.to_ascii_lowercase();
        let secret = random_alnum(SECRET_LEN)?;
        let obj = token_secret(&id, &secret, user, groups, expiration)?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => return Ok((id.clone(), format!("{id}.{secret}"))),
            Err(e) if is_status(&e, 409) && attempts < 3 => attempts += 1,
            Err(e) => return Err(PlatformError::api("storing the user token", e)),
        }
    }
}

/// Revoke the user token with id `id` (deletes its Secret).
pub async fn revoke(client: &kube::Client, id: &str) -> Result<(), PlatformError> {
    if !is_alnum(id, ID_LEN) {
        return Err(PlatformError::InvalidInput(format!(
            "{id:?} is not a user kubeconfig id"
        )));
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    match api
        .delete(&format!("{SECRET_PREFIX}{id}"), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Err(PlatformError::NotFound(format!("user token {id}"))),
        Err(e) => Err(PlatformError::api(format!("revoking user token {id}"), e)),
    }
}

/// A kubeconfig (YAML) for `server`, trusting `ca_data` (base64 PEM, as in a kubeconfig) and
/// authenticating as `user` with `token`; entries are named `cceone` and `<user>@cceone`.
pub fn kubeconfig_yaml(server: &str, ca_data: Option<&str>, user: &str, token: &str) -> String {
    let user_entry = format!("{user}@cceone");
    let mut cluster = json!({"server": server});
    if let Some(ca) = ca_data {
        cluster["certificate-authority-data"] = json!(ca);
    }
    let cfg = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cceone", "cluster": cluster}],
        "users": [{"name": user_entry, "user": {"token": token}}],
        "contexts": [{"name": user_entry, "context": {"cluster": "cceone", "user": user_entry}}],
        "current-context": user_entry,
        "preferences": {},
    });
    // Serialising a JSON value to YAML cannot fail (string keys only).
    serde_yaml::to_string(&cfg).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secret_and_kubeconfig_shape() {
        let exp: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let s = token_secret("abcd1234", "s3cr3t", "alice", &["dev".into()], Some(exp)).unwrap();
        assert_eq!(s.metadata.name.as_deref(), Some("user-token-abcd1234"));
        assert_eq!(s.type_.as_deref(), Some(SECRET_TYPE));
        let data = s.data.unwrap();
        assert_eq!(data["user"].0, b"alice");
        assert_eq!(data["groups"].0, b"dev");
        assert_eq!(data["token-secret"].0, b"s3cr3t");
        assert_eq!(data["expiration"].0, b"2026-01-01T00:00:00Z");
        let kc = kubeconfig_yaml("https://127.0.0.1:6443", Some("Q0E="), "alice", "t.x");
        let v: serde_json::Value = serde_yaml::from_str(&kc).unwrap();
        assert_eq!(v["users"][0]["user"]["token"], "t.x");
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(v["current-context"], "alice@cceone");
    }
}
