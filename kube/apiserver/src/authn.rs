//! Bearer tokens for people (`cceonectl user kubeconfig`): a token `<8 alnum id>.<32 alnum
//! secret>` authenticates as the user and groups its Secret names until the Secret's expiry, or
//! until the Secret is deleted (the kubeconfig is revoked).
//!
//! The Secret is `user-token-<id>` in [`NAMESPACE`], of type [`SECRET_TYPE`], with data
//! `token-secret`, `user`, `groups` (comma-separated) and optionally `expiration` (RFC 3339) —
//! kept in plain text as kube's bootstrap tokens are, readable only by those RBAC lets read
//! Secrets there. `cceone_platform::usertoken` writes them.

use base64::Engine as _;
use serde_json::Value;

use crate::core::Core;
use crate::http::User;

/// Where user-token Secrets live.
pub const NAMESPACE: &str = "cceone-system";
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

fn data(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.get("data")?.get(key)?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(raw).ok()
}

/// Whom `token` authenticates as, given its Secret, at `now` (pure): the Secret must be the
/// one the token names, of [`SECRET_TYPE`], not being deleted, with the same secret, unexpired.
pub fn identity(secret: &Value, token: &str, now: jiff::Timestamp) -> Option<User> {
    let (id, token_secret) = parse(token)?;
    let meta = secret.get("metadata")?;
    if meta.get("name").and_then(Value::as_str) != Some(format!("{SECRET_PREFIX}{id}").as_str())
        || secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE)
        || meta.get("deletionTimestamp").is_some_and(|t| !t.is_null())
    {
        return None;
    }
    if !ct_eq(
        data(secret, "token-secret")?.as_bytes(),
        token_secret.as_bytes(),
    ) {
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
    Some(User { name, groups })
}

/// Look a user token up in the store.
pub async fn verify(core: &Core, token: &str) -> Option<User> {
    let (id, _) = parse(token)?;
    let secrets = core.resource("", "v1", "secrets").ok()?;
    let secret = core
        .get(&secrets, Some(NAMESPACE), &format!("{SECRET_PREFIX}{id}"))
        .await
        .ok()?;
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
    fn tokens_authenticate_until_expiry_and_only_with_their_secret() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let s = secret(&[
            ("token-secret", "0123456789abcdefghijABCDEFGHIJkl"),
            ("user", "alice"),
            ("groups", "dev,ops"),
            ("expiration", "2026-01-01T01:00:00Z"),
        ]);
        assert_eq!(
            identity(&s, TOKEN, now),
            Some(User {
                name: "alice".into(),
                groups: vec!["dev".into(), "ops".into()],
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
            ("token-secret", "0123456789abcdefghijABCDEFGHIJkl"),
            ("user", "alice"),
            ("expiration", "soon"),
        ]);
        assert_eq!(identity(&bad_expiry, TOKEN, now), None, "fails closed");
        assert!(parse("admin-token-that-is-not-ours").is_none());
    }
}
