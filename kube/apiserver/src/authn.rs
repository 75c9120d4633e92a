//! Bearer tokens for people (`cceonectl user kubeconfig`): a token `<8 alnum id>.<32 alnum
//! secret>` authenticates as the user and groups its Secret names until the Secret's expiry, or
//! until the Secret is deleted (the kubeconfig is revoked).
//!
//! The Secret is `user-token-<id>` in [`NAMESPACE`], of type [`SECRET_TYPE`], with data
//! `secret-hash` (lowercase hex SHA-256 of the secret part), `user`, `groups`
//! (comma-separated) and optionally `expiration` (RFC 3339). `cceone_platform::usertoken`
//! writes them. Unlike kube's bootstrap tokens (plain, in `kube-system`), only the hash is
//! kept, in a namespace of its own: whoever may read Secrets where the platform's bootstrap
//! tokens live (the hub, issue 9) finds no person's credential. Secrets an earlier version
//! wrote in [`LEGACY_NAMESPACE`] with the plain `token-secret` are still accepted there.

use base64::Engine as _;
use serde_json::Value;

use crate::core::Core;
use crate::http::User;

/// Where user-token Secrets live.
pub const NAMESPACE: &str = "cceone-users";
/// Where an earlier version kept them (plain): still read, so its kubeconfigs keep working.
pub const LEGACY_NAMESPACE: &str = "cceone-system";
/// Their Secret type.
pub const SECRET_TYPE: &str = "cceone.io/user-token";
/// Their name prefix.
pub const SECRET_PREFIX: &str = "user-token-";
/// Length of the id part.
pub const ID_LEN: usize = 8;
/// Length of the secret part.
pub const SECRET_LEN: usize = 32;

fn alnum(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Split a token into (id, secret), or None when it is not a user token.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    (alnum(id, ID_LEN) && alnum(secret, SECRET_LEN)).then_some((id, secret))
}

/// Equal, in time independent of where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lowercase hex SHA-256.
fn sha256_hex(s: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.get("data")?.get(key)?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(raw).ok()
}

/// Whom `token` authenticates as, given its Secret, at `now` (pure): the Secret must be the
/// one the token names, of [`SECRET_TYPE`], not being deleted, with the hash of the token's
/// secret (or, in [`LEGACY_NAMESPACE`] only, the secret itself), unexpired.
pub fn identity(secret: &Value, token: &str, now: jiff::Timestamp) -> Option<User> {
    let (id, token_secret) = parse(token)?;
    let meta = secret.get("metadata")?;
    if meta.get("name").and_then(Value::as_str) != Some(format!("{SECRET_PREFIX}{id}").as_str())
        || secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE)
        || meta.get("deletionTimestamp").is_some_and(|t| !t.is_null())
    {
        return None;
    }
    let matches = match data(secret, "secret-hash") {
        Some(hash) => ct_eq(hash.as_bytes(), sha256_hex(token_secret).as_bytes()),
        None if meta.get("namespace").and_then(Value::as_str) == Some(LEGACY_NAMESPACE) => ct_eq(
            data(secret, "token-secret")?.as_bytes(),
            token_secret.as_bytes(),
        ),
        None => false,
    };
    if !matches {
        return None;
    }
    if let Some(exp) = data(secret, "expiration") {
        // An unreadable expiry fails closed.
        if now >= exp.parse::<jiff::Timestamp>().ok()? {
            return None;
        }
    }
    let name = data(secret, "user").filter(|u| !u.is_empty())?;
    let groups = data(secret, "groups")
        .map(|g| {
            g.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(User {
        name,
        groups,
        ..User::default()
    })
}

/// Look a user token up in the store.
pub async fn verify(core: &Core, token: &str) -> Option<User> {
    let (id, _) = parse(token)?;
    let secrets = core.resource("", "v1", "secrets").ok()?;
    let name = format!("{SECRET_PREFIX}{id}");
    let secret = match core.get(&secrets, Some(NAMESPACE), &name).await {
        Ok(s) => s,
        Err(_) => core
            .get(&secrets, Some(LEGACY_NAMESPACE), &name)
            .await
            .ok()?,
    };
    identity(&secret, token, jiff::Timestamp::now())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOKEN: &str = "abcd1234.0123456789abcdefghijABCDEFGHIJkl";

    fn secret(data: &[(&str, &str)]) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(b64(v))))
            .collect();
        json!({"metadata": {"name": "user-token-abcd1234", "namespace": NAMESPACE},
               "type": SECRET_TYPE, "data": data})
    }

    #[test]
    fn only_the_hash_is_needed_and_plain_secrets_only_where_they_used_to_be() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let hash = sha256_hex("0123456789abcdefghijABCDEFGHIJkl");
        let hashed = secret(&[("secret-hash", &hash), ("user", "bob")]);
        assert_eq!(identity(&hashed, TOKEN, now).unwrap().name, "bob");
        // A token equal to the stored hash is not the token.
        let plain_here = secret(&[
            ("token-secret", "0123456789abcdefghijABCDEFGHIJkl"),
            ("user", "bob"),
        ]);
        assert_eq!(identity(&plain_here, TOKEN, now), None);
        let mut legacy = plain_here;
        legacy["metadata"]["namespace"] = json!(LEGACY_NAMESPACE);
        assert_eq!(identity(&legacy, TOKEN, now).unwrap().name, "bob");
        let wrong_hash = secret(&[("secret-hash", &sha256_hex("other")), ("user", "bob")]);
        assert_eq!(identity(&wrong_hash, TOKEN, now), None);
    }

    #[test]
    fn tokens_authenticate_until_expiry_and_only_with_their_secret() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let hash = sha256_hex("0123456789abcdefghijABCDEFGHIJkl");
        let s = secret(&[
            ("secret-hash", &hash),
            ("user", "alice"),
            ("groups", "dev,ops"),
            ("expiration", "2026-01-01T01:00:00Z"),
        ]);
        assert_eq!(
            identity(&s, TOKEN, now),
            Some(User {
                name: "alice".into(),
                groups: vec!["dev".into(), "ops".into()],
                ..User::default()
            })
        );
        let later: jiff::Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(identity(&s, TOKEN, later), None, "expired");
        let wrong = "abcd1234.0123456789abcdefghijABCDEFGHIJkm";
        assert_eq!(identity(&s, wrong, now), None);
        assert_eq!(
            identity(&s, "efgh5678.0123456789abcdefghijABCDEFGHIJkl", now),
            None
        );
        let mut other_type = s.clone();
        other_type["type"] = json!("Opaque");
        assert_eq!(identity(&other_type, TOKEN, now), None);
        let bad_expiry = secret(&[
            ("secret-hash", &hash),
            ("user", "alice"),
            ("expiration", "soon"),
        ]);
        assert_eq!(identity(&bad_expiry, TOKEN, now), None, "fails closed");
        assert!(parse("admin-token-that-is-not-ours").is_none());
    }
}
