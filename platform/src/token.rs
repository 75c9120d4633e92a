//! One-time, expiring bootstrap tokens in the style of kubeadm's: `<id>.<secret>`, a 6-character
//! id and a 16-character secret, both `[a-z0-9]`. Each lives in a Secret
//! `bootstrap-token-<id>` in [`SYSTEM_NAMESPACE`] of type [`SECRET_TYPE`] holding the cluster
//! name, the SHA-256 of the secret (never the secret) and the expiry.
//!
//! Redeeming marks the Secret used with an optimistic-concurrency update (its resourceVersion
//! must not have moved), so of two concurrent redeemers exactly one wins and the other, like any
//! later one, gets [`TokenError::Used`]. Used and expired Secrets are removed by
//! [`purge_expired`].

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::error::is_status;
use crate::phase::rfc3339;
use crate::secret::{ct_eq, data_str, is_alnum, random_alnum, sha256_hex};
use crate::{CLUSTER_LABEL, PlatformError, SYSTEM_NAMESPACE, TokenError, validate_cluster_name};

/// The Secret type of bootstrap tokens.
pub const SECRET_TYPE: &str = "cceone.io/bootstrap-token";
/// Prefix of the Secret names (`bootstrap-token-<id>`).
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// Label set on a token's Secret once it was redeemed.
pub const USED_LABEL: &str = "cceone.io/token-used";
/// Length of the id part.
pub const ID_LEN: usize = 6;
/// Length of the secret part.
pub const SECRET_LEN: usize = 16;

/// Split a token into (id, secret), checking the format.
pub fn parse(token: &str) -> Result<(&str, &str), TokenError> {
    let (id, secret) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if is_alnum(id, ID_LEN) && is_alnum(secret, SECRET_LEN) {
        Ok((id, secret))
    } else {
        Err(TokenError::Malformed)
    }
}

/// A fresh random token.
pub fn generate() -> Result<String, PlatformError> {
    Ok(format!(
        "{}.{}",
        random_alnum(ID_LEN)?,
        random_alnum(SECRET_LEN)?
    ))
}

/// The name of the Secret that stores the token with this id.
pub fn secret_name(id: &str) -> String {
    format!("{SECRET_PREFIX}{id}")
}

/// The Secret that stores `token` for `cluster`, expiring at `expiration` (pure).
pub fn token_secret(
    cluster: &str,
    token: &str,
    expiration: Timestamp,
) -> Result<Secret, PlatformError> {
    let (id, secret) = parse(token)
        .map_err(|_| PlatformError::InvalidInput("malformed bootstrap token".into()))?;
    let data: BTreeMap<String, ByteString> = [
        ("cluster", cluster.to_string()),
        ("secret-hash", sha256_hex(secret)),
        ("expiration", rfc3339(expiration)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.into_bytes())))
    .collect();
    let mut s: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": secret_name(id),
            "namespace": SYSTEM_NAMESPACE,
            "labels": {CLUSTER_LABEL: cluster, "cceone.io/kind": "bootstrap-token"},
        },
        "type": SECRET_TYPE,
    }))?;
    s.data = Some(data);
    Ok(s)
}

/// Decide whether `secret` (as stored) accepts `token_secret` at `now` (pure): the secret must
/// match first, so only the token's holder learns that it is used or expired. Returns the
/// cluster name. A Secret of another type counts as unknown; one without a parseable expiry
/// counts as expired.
pub fn check(secret: &Secret, token_secret: &str, now: Timestamp) -> Result<String, TokenError> {
    if secret.type_.as_deref() != Some(SECRET_TYPE) {
        return Err(TokenError::Unknown);
    }
    let stored = data_str(secret, "secret-hash").ok_or(TokenError::WrongSecret)?;
    if !ct_eq(stored.as_bytes(), sha256_hex(token_secret).as_bytes()) {
        return Err(TokenError::WrongSecret);
    }
    if is_used(secret) {
        return Err(TokenError::Used);
    }
    let expiration = data_str(secret, "expiration").and_then(|e| e.parse::<Timestamp>().ok());
    match expiration {
        Some(exp) if now < exp => {}
        _ => return Err(TokenError::Expired),
    }
    data_str(secret, "cluster")
        .filter(|c| !c.is_empty())
        .ok_or(TokenError::Unknown)
}

fn is_used(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(USED_LABEL))
}

fn api(client: &kube::Client) -> Api<Secret> {
    Api::namespaced(client.clone(), SYSTEM_NAMESPACE)
}

/// Issue a token for `cluster`, valid for `ttl`, and return it (the only time the secret part
/// is ever visible). The system namespace must exist.
pub async fn issue(
    client: &kube::Client,
    cluster: &str,
    ttl: Duration,
) -> Result<String, PlatformError> {
    validate_cluster_name(cluster)?;
    if ttl.is_zero() {
        return Err(PlatformError::InvalidInput(
            "token lifetime must be positive".into(),
        ));
    }
    let expiration = Timestamp::now()
        .checked_add(ttl)
        .map_err(|_| PlatformError::InvalidInput(format!("token lifetime {ttl:?} is too long")))?;
    // A colliding id (36^6 of them) is retried with a fresh one rather than overwritten.
    let mut attempts = 0;
    loop {
        let token = generate()?;
        let secret = token_secret(cluster, &token, expiration)?;
        match api(client).create(&PostParams::default(), &secret).await {
            Ok(_) => return Ok(token),
            Err(e) if is_status(&e, 409) && attempts < 3 => attempts += 1,
            Err(e) => return Err(PlatformError::api("storing the bootstrap token", e)),
        }
    }
}

/// Redeem `token` once at `now`, returning the cluster it was issued for.
pub async fn redeem(
    client: &kube::Client,
    token: &str,
    now: Timestamp,
) -> Result<String, TokenError> {
    let (id, token_secret) = parse(token)?;
    let secrets = api(client);
    let mut stored = secrets
        .get_opt(&secret_name(id))
        .await
        .map_err(TokenError::Api)?
        .ok_or(TokenError::Unknown)?;
    let cluster = check(&stored, token_secret, now)?;
    // Claim it: the update carries the resourceVersion we read, so it fails with 409 if a
    // concurrent redeemer got there first (and 404 if the Secret vanished meanwhile).
    stored
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(USED_LABEL.to_string(), "true".to_string());
    stored
        .data
        .get_or_insert_with(BTreeMap::new)
        .insert("used-at".to_string(), ByteString(rfc3339(now).into_bytes()));
    match secrets
        .replace(&secret_name(id), &PostParams::default(), &stored)
        .await
    {
        Ok(_) => Ok(cluster),
        Err(e) if is_status(&e, 409) || is_status(&e, 404) => Err(TokenError::Used),
        Err(e) => Err(TokenError::Api(e)),
    }
}

/// Delete bootstrap-token Secrets that are used or expired at `now`; returns how many. The
/// hub runs this now and then (kubeadm's token cleaner does the same).
pub async fn purge_expired(client: &kube::Client, now: Timestamp) -> Result<usize, PlatformError> {
    let secrets = api(client);
    let list = secrets
        .list(&ListParams::default().labels("cceone.io/kind=bootstrap-token"))
        .await
        .map_err(|e| PlatformError::api("listing bootstrap tokens", e))?;
    let mut removed = 0;
    for s in list
        .items
        .iter()
        .filter(|s| s.type_.as_deref() == Some(SECRET_TYPE))
    {
        let expired = data_str(s, "expiration")
            .and_then(|e| e.parse::<Timestamp>().ok())
            .is_none_or(|exp| exp <= now);
        let Some(name) = s.metadata.name.as_deref() else {
            continue;
        };
        if expired || is_used(s) {
            match secrets.delete(name, &DeleteParams::default()).await {
                Ok(_) => removed += 1,
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(PlatformError::api(format!("deleting {name}"), e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn format_is_kubeadm_style() {
        for _ in 0..50 {
            let t = generate().unwrap();
            assert_eq!(t.len(), 23, "{t}");
            let (id, secret) = parse(&t).unwrap();
            assert!(is_alnum(id, 6) && is_alnum(secret, 16));
        }
        for bad in [
            "",
            "abcdef",
            "abcdef.",
            "abcdef.0123456789abcdef.x",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdefg",
            "abcdef-0123456789abcdef",
            "abcdef.0123456789abcde!",
            "abcdéf.0123456789abcdef",
        ] {
            assert!(matches!(parse(bad), Err(TokenError::Malformed)), "{bad}");
        }
    }

    #[test]
    fn secret_stores_only_the_hash() {
        let token = "abcdef.0123456789abcdef";
        let s = token_secret("demo", token, at(3600)).unwrap();
        assert_eq!(s.metadata.name.as_deref(), Some("bootstrap-token-abcdef"));
        assert_eq!(s.metadata.namespace.as_deref(), Some(SYSTEM_NAMESPACE));
        assert_eq!(s.type_.as_deref(), Some(SECRET_TYPE));
        assert_eq!(s.metadata.labels.as_ref().unwrap()[CLUSTER_LABEL], "demo");
        assert_eq!(data_str(&s, "cluster").unwrap(), "demo");
        assert_eq!(
            data_str(&s, "secret-hash").unwrap(),
            sha256_hex("0123456789abcdef")
        );
        assert_eq!(data_str(&s, "expiration").unwrap(), "2023-11-14T23:13:20Z");
        let all = serde_json::to_string(&s).unwrap();
        let b64_secret = crate::secret::b64(b"0123456789abcdef");
        assert!(!all.contains("0123456789abcdef") && !all.contains(&b64_secret));
    }

    #[test]
    fn check_order_and_expiry() {
        let token = "abcdef.0123456789abcdef";
        let s = token_secret("demo", token, at(60)).unwrap();
        assert_eq!(check(&s, "0123456789abcdef", at(0)).unwrap(), "demo");
        assert_eq!(check(&s, "0123456789abcdef", at(59)).unwrap(), "demo");
        assert!(matches!(
            check(&s, "0123456789abcdef", at(60)),
            Err(TokenError::Expired)
        ));
        // A wrong secret says nothing about expiry.
        assert!(matches!(
            check(&s, "0123456789abcdeX", at(600)),
            Err(TokenError::WrongSecret)
        ));
        let mut used = s.clone();
        used.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(USED_LABEL.into(), "true".into());
        assert!(matches!(
            check(&used, "0123456789abcdef", at(0)),
            Err(TokenError::Used)
        ));
        let mut other = s.clone();
        other.type_ = Some("Opaque".into());
        assert!(matches!(
            check(&other, "0123456789abcdef", at(0)),
            Err(TokenError::Unknown)
        ));
        let mut no_exp = s;
        no_exp.data.as_mut().unwrap().remove("expiration");
        assert!(matches!(
            check(&no_exp, "0123456789abcdef", at(0)),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn reasons_are_distinct() {
        let all = [
            TokenError::Malformed,
            TokenError::Unknown,
            TokenError::Expired,
            TokenError::WrongSecret,
            TokenError::Used,
        ];
        let reasons: std::collections::BTreeSet<_> = all.iter().map(TokenError::reason).collect();
        assert_eq!(reasons.len(), all.len());
    }
}
