//! Small helpers for secrets: random lowercase alphanumeric strings from the system RNG,
//! SHA-256 hex digests (we store hashes, never token secrets) and constant-time comparison.

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::PlatformError;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `[a-z0-9]`.
pub(crate) fn random_alnum(len: usize) -> Result<String, PlatformError> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        rng.fill(&mut buf).map_err(|_| PlatformError::Random)?;
        // Rejection sampling keeps the distribution uniform: 252 = 7 * 36.
        for b in buf.iter().filter(|b| **b < 252) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b % 36)]));
        }
    }
    Ok(out)
}

/// `n` random bytes.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, PlatformError> {
    let mut v = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut v)
        .map_err(|_| PlatformError::Random)?;
    Ok(v)
}

/// Whether every character of `s` is in `[a-z0-9]` and there are exactly `len` of them.
pub(crate) fn is_alnum(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// Lowercase hex SHA-256 of `s`.
pub(crate) fn sha256_hex(s: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare without an early exit, so timing says nothing about where two values differ.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A Secret's `data` value as UTF-8 text, if present.
pub(crate) fn data_str(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

/// Base64 (standard alphabet, padded), as kubeconfig `*-data` fields want.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The checks a kubeconfig's identity passes before a token is issued for it (a user name, groups
/// that fit a comma-separated list, a positive lifetime), and when it expires.
pub(crate) fn checked_identity(
    user: &str,
    groups: &[String],
    ttl: Option<std::time::Duration>,
) -> Result<Option<jiff::Timestamp>, crate::PlatformError> {
    use crate::PlatformError;
    if user.is_empty() || groups.iter().any(|g| g.is_empty() || g.contains(',')) {
        return Err(PlatformError::InvalidInput(
            "user must be non-empty and groups non-empty without commas".into(),
        ));
    }
    match ttl {
        Some(ttl) if ttl.is_zero() => Err(PlatformError::InvalidInput(
            "kubeconfig lifetime must be positive".into(),
        )),
        Some(ttl) => jiff::Timestamp::now()
            .checked_add(ttl)
            .map(Some)
            .map_err(|_| {
                PlatformError::InvalidInput(format!("kubeconfig lifetime {ttl:?} is too long"))
            }),
        None => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_have_the_shape_asked_for() {
        let a = random_alnum(16).unwrap();
        let b = random_alnum(16).unwrap();
        assert!(is_alnum(&a, 16) && is_alnum(&b, 16), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(random_alnum(0).unwrap(), "");
        assert_eq!(random_alnum(100).unwrap().len(), 100);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
