//! Service account tokens: what TokenRequest (`POST .../serviceaccounts/<name>/token`,
//! `kubectl create token`) issues and what authentication then accepts as
//! `system:serviceaccount:<namespace>:<name>` with the groups `system:serviceaccounts` and
//! `system:serviceaccounts:<namespace>` (`pkg/registry/core/serviceaccount/storage/token.go`,
//! `pkg/serviceaccount/claims.go`).
//!
//! Tokens are JWTs as upstream's, with the claims kube-apiserver puts in them, but signed with
//! HMAC-SHA256 under a key derived from the server's admin token (so they survive restarts of
//! a server with a data directory) instead of the service account RSA key. A token
//! authenticates until it expires and while its service account exists with the same uid.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http::User;

/// The audience of the API server itself (`--api-audiences` defaults to the issuer).
pub const AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// Upstream's default `expirationSeconds` of a TokenRequest.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest expiry a TokenRequest may ask for (`ValidateTokenRequest`).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

/// Signs and checks service account tokens.
pub struct TokenSigner {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<masked>)")
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// The service account's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid when the token was issued.
    pub uid: String,
    /// The audiences the token is for.
    pub audiences: Vec<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenSigner {
    /// A signer whose key is derived from `secret` (the server's admin token).
    pub fn new(secret: &[u8]) -> TokenSigner {
        let master = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let derived = ring::hmac::sign(&master, b"cceone service account token signing");
        TokenSigner {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// A token for the service account `namespace/name` (uid `uid`) valid for `audiences`
    /// from `now` for `seconds`.
    pub fn issue(&self, claims: &Claims, now: i64, seconds: i64) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let payload = json!({
            "aud": claims.audiences,
            "exp": now + seconds,
            "iat": now,
            "nbf": now,
            "iss": AUDIENCE,
            "sub": format!("system:serviceaccount:{}:{}", claims.namespace, claims.name),
            "kubernetes.io": {"namespace": claims.namespace,
                              "serviceaccount": {"name": claims.name, "uid": claims.uid}},
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let tag = ring::hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", b64(tag.as_ref()))
    }

    /// The claims of `token` if this signer signed it and it is valid at `now` (seconds).
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        let (signing_input, tag) = token.rsplit_once('.')?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .ok()?;
        ring::hmac::verify(&self.key, signing_input.as_bytes(), &tag).ok()?;
        let (_, payload) = signing_input.split_once('.')?;
        let payload: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()?,
        )
        .ok()?;
        let exp = payload.get("exp")?.as_i64()?;
        let nbf = payload.get("nbf").and_then(Value::as_i64).unwrap_or(0);
        if now >= exp || now < nbf {
            return None;
        }
        let k = payload.get("kubernetes.io")?;
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
        Some(Claims {
            namespace: s(k.get("namespace"))?,
            name: s(k.pointer("/serviceaccount/name"))?,
            uid: s(k.pointer("/serviceaccount/uid")).unwrap_or_default(),
            audiences: payload
                .get("aud")?
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str().map(String::from))
                .collect(),
        })
    }
}

/// Whom a token signed by `signer` authenticates as: its service account, while that exists
/// with the uid the token names, and only for tokens meant for the API server.
pub async fn authenticate(core: &crate::Core, signer: &TokenSigner, token: &str) -> Option<User> {
    let claims = signer.verify(token, jiff::Timestamp::now().as_second())?;
    if !claims.audiences.iter().any(|a| a == AUDIENCE) {
        return None;
    }
    let sas = core.resource("", "v1", "serviceaccounts").ok()?;
    let sa = core
        .get(&sas, Some(&claims.namespace), &claims.name)
        .await
        .ok()?;
    if crate::meta::uid(&sa).unwrap_or_default() != claims.uid || crate::meta::is_deleting(&sa) {
        return None;
    }
    Some(user(&claims.namespace, &claims.name))
}

/// The user a service account is (`serviceaccount.UserInfo`).
pub fn user(namespace: &str, name: &str) -> User {
    User {
        name: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
        ],
        ..User::default()
    }
}

/// Whether `token` looks like a JWT (three dot-separated parts), to try it as one.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("ey")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            namespace: "default".into(),
            name: "builder".into(),
            uid: "u1".into(),
            audiences: vec![AUDIENCE.into()],
        }
    }

    #[test]
    fn tokens_verify_until_expiry_and_only_under_their_key() {
        let signer = TokenSigner::new(b"admin-token");
        let token = signer.issue(&claims(), 1_000, 3600);
        assert!(looks_like_jwt(&token));
        assert_eq!(signer.verify(&token, 1_000), Some(claims()));
        assert_eq!(signer.verify(&token, 4_600), None, "expired");
        assert_eq!(TokenSigner::new(b"other").verify(&token, 1_000), None);
        let mut forged = token.clone();
        forged.insert(forged.len() - 5, 'x');
        assert_eq!(signer.verify(&forged, 1_000), None);
        assert_eq!(signer.verify("a.b", 1_000), None);
        assert_eq!(
            user("default", "builder").groups,
            ["system:serviceaccounts", "system:serviceaccounts:default"]
        );
    }
}
