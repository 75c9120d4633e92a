//! Kubeconfigs for people (`cceonectl user kubeconfig NAME`): a bearer token that reaches the
//! federation API as a named user and groups, optionally expiring, revocable by deleting its
//! Secret. The API server (`cceone_kube_apiserver::authn`) verifies them; this module writes
//! them in the format that module documents: Secret `user-token-<id>` in [`NAMESPACE`], type
//! [`SECRET_TYPE`], data `secret-hash` (SHA-256 of the token's secret part), `user`, `groups`,
//! `expiration`.
//!
//! [`NAMESPACE`] is a namespace of their own, not [`SYSTEM_NAMESPACE`]: the hub must read and
//! update Secrets there to redeem bootstrap tokens (issue 9), and a compromised hub must not
//! find people's credentials beside them. Only the hash is stored, so that whoever may read the
//! Secret (an administrator, a backup) holds no usable credential either. Tokens issued before
//! (plain, in [`LEGACY_NAMESPACE`]) still authenticate; [`migrate`] moves them.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::error::is_status;
use crate::phase::rfc3339;
use crate::secret::{checked_identity, data_str, is_alnum, random_alnum, sha256_hex};
use crate::{PlatformError, SYSTEM_NAMESPACE};

/// The namespace of user-token Secrets, which the hub's roles do not reach.
pub const NAMESPACE: &str = "cceone-users";
/// Where user tokens were kept (in plain text) before they had a namespace of their own.
pub const LEGACY_NAMESPACE: &str = SYSTEM_NAMESPACE;
/// The Secret type of user tokens.
pub const SECRET_TYPE: &str = "cceone.io/user-token";
/// Prefix of the Secret names.
pub const SECRET_PREFIX: &str = "user-token-";
/// Label selector matching every user-token Secret.
pub const SELECTOR: &str = "cceone.io/kind=user-token";
/// Length of the id part.
pub const ID_LEN: usize = 8;
/// Length of the secret part.
pub const SECRET_LEN: usize = 32;

/// The Secret for token `<id>.<secret>` of `user` in `groups`, holding the secret's hash (pure).
pub fn token_secret(
    id: &str,
    secret: &str,
    user: &str,
    groups: &[String],
    expiration: Option<Timestamp>,
) -> Result<Secret, PlatformError> {
    let mut data = vec![
        ("secret-hash", sha256_hex(secret)),
        ("user", user.to_string()),
        ("groups", groups.join(",")),
    ];
    if let Some(exp) = expiration {
        data.push(("expiration", rfc3339(exp)));
    }
    let mut s: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{SECRET_PREFIX}{id}"),
            "namespace": NAMESPACE,
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

/// The hashed Secret in [`NAMESPACE`] standing for a plain token Secret of
/// [`LEGACY_NAMESPACE`] (same id, user, groups and expiry), or None when `old` is not a
/// readable user token (pure).
pub fn migrated(old: &Secret) -> Option<Secret> {
    let id = old.metadata.name.as_deref()?.strip_prefix(SECRET_PREFIX)?;
    if old.type_.as_deref() != Some(SECRET_TYPE) || !is_alnum(id, ID_LEN) {
        return None;
    }
    let secret = data_str(old, "token-secret")?;
    let user = data_str(old, "user").filter(|u| !u.is_empty())?;
    let groups: Vec<String> = data_str(old, "groups")
        .unwrap_or_default()
        .split(',')
        .filter(|g| !g.is_empty())
        .map(String::from)
        .collect();
    let expiration = match data_str(old, "expiration") {
        // An unreadable expiry is not made into no expiry: the token stays where it is (and
        // keeps failing closed there).
        Some(e) => Some(e.parse::<Timestamp>().ok()?),
        None => None,
    };
    token_secret(id, &secret, &user, &groups, expiration).ok()
}

/// Issue a token for `user` in `groups`, expiring after `ttl` when given; returns (id, token).
pub async fn issue(
    client: &kube::Client,
    user: &str,
    groups: &[String],
    ttl: Option<Duration>,
) -> Result<(String, String), PlatformError> {
    let expiration = checked_identity(user, groups, ttl)?;
    crate::ensure_namespace(client, NAMESPACE).await?;
    let api: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
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

/// Revoke the user token with id `id` (deletes its Secret, wherever it is kept).
pub async fn revoke(client: &kube::Client, id: &str) -> Result<(), PlatformError> {
    if !is_alnum(id, ID_LEN) {
        return Err(PlatformError::InvalidInput(format!(
            "{id:?} is not a user kubeconfig id"
        )));
    }
    for ns in [NAMESPACE, LEGACY_NAMESPACE] {
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        match api
            .delete(&format!("{SECRET_PREFIX}{id}"), &DeleteParams::default())
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(PlatformError::api(format!("revoking user token {id}"), e)),
        }
    }
    Err(PlatformError::NotFound(format!("user token {id}")))
}

/// Move the user tokens an earlier version kept in plain text in [`LEGACY_NAMESPACE`] to
/// hashed Secrets in [`NAMESPACE`] (the same tokens keep working) and delete the old ones;
/// returns how many moved. Run by the federation at start, as an administrator.
pub async fn migrate(client: &kube::Client) -> Result<usize, PlatformError> {
    let old: Api<Secret> = Api::namespaced(client.clone(), LEGACY_NAMESPACE);
    let list = old
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .map_err(|e| PlatformError::api("listing legacy user tokens", e))?;
    let new: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let mut moved = 0;
    for s in &list.items {
        let Some(hashed) = migrated(s) else { continue };
        if moved == 0 {
            crate::ensure_namespace(client, NAMESPACE).await?;
        }
        let name = hashed.metadata.name.clone().unwrap_or_default();
        match new.create(&PostParams::default(), &hashed).await {
            Ok(_) => {}
            // Moved by an earlier run that stopped before the delete.
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(PlatformError::api(format!("moving user token {name}"), e)),
        }
        match old.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(PlatformError::api(format!("deleting legacy {name}"), e)),
        }
        moved += 1;
    }
    Ok(moved)
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
        assert_eq!(s.metadata.namespace.as_deref(), Some(NAMESPACE));
        assert_eq!(s.type_.as_deref(), Some(SECRET_TYPE));
        let data = s.data.unwrap();
        assert_eq!(data["user"].0, b"alice");
        assert_eq!(data["groups"].0, b"dev");
        assert_eq!(data["secret-hash"].0, sha256_hex("s3cr3t").as_bytes());
        assert!(
            !data.contains_key("token-secret"),
            "never the secret itself"
        );
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

    #[test]
    fn legacy_tokens_move_hashed_with_their_identity() {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        let mut old: Secret = serde_json::from_value(json!({
            "metadata": {"name": "user-token-abcd1234", "namespace": LEGACY_NAMESPACE},
            "type": SECRET_TYPE,
        }))
        .unwrap();
        old.data = Some(BTreeMap::from([
            ("token-secret".to_string(), b("s3cr3t")),
            ("user".to_string(), b("alice")),
            ("groups".to_string(), b("dev,ops")),
            ("expiration".to_string(), b("2026-01-01T00:00:00Z")),
        ]));
        let new = migrated(&old).unwrap();
        let exp = "2026-01-01T00:00:00Z".parse().unwrap();
        let want = token_secret(
            "abcd1234",
            "s3cr3t",
            "alice",
            &["dev".into(), "ops".into()],
            Some(exp),
        )
        .unwrap();
        assert_eq!(new, want);
        let mut bad = old.clone();
        bad.data
            .as_mut()
            .unwrap()
            .insert("expiration".into(), b("soon"));
        assert_eq!(migrated(&bad), None, "an unreadable expiry stays put");
        let mut other = old;
        other.type_ = Some("Opaque".into());
        assert_eq!(migrated(&other), None);
    }
}
