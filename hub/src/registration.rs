//! The body of `POST /v1/register`, parsed without I/O so it can be fuzzed: JSON with the
//! bootstrap `token`, the agent's `csrPem` and optionally its `agentVersion`.

use serde_json::Value;

/// The largest registration body the hub reads.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// A parsed registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The one-time bootstrap token.
    pub token: String,
    /// The agent's certificate signing request (PEM).
    pub csr_pem: String,
    /// The agent's version, when it said.
    pub agent_version: String,
}

/// Why a registration body is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Not JSON at all.
    #[error("registration body is not JSON: {0}")]
    NotJson(String),
    /// JSON without a string `token` and `csrPem`.
    #[error("registration needs token and csrPem")]
    Missing,
}

/// Parse a registration body.
pub fn parse_registration(body: &[u8]) -> Result<Registration, RegistrationError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| RegistrationError::NotJson(e.to_string()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(token), Some(csr_pem)) = (s("token"), s("csrPem")) else {
        return Err(RegistrationError::Missing);
    };
    Ok(Registration {
        token,
        csr_pem,
        agent_version: s("agentVersion").unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_refuses() {
        let r = parse_registration(br#"{"token":"a.b","csrPem":"pem","agentVersion":"1"}"#);
        assert_eq!(
            r.unwrap(),
            Registration {
                token: "a.b".into(),
                csr_pem: "pem".into(),
                agent_version: "1".into()
            }
        );
        assert_eq!(
            parse_registration(br#"{"token":"a.b"}"#),
            Err(RegistrationError::Missing)
        );
        assert_eq!(
            parse_registration(br#"{"token":1,"csrPem":"x"}"#),
            Err(RegistrationError::Missing)
        );
        assert!(matches!(
            parse_registration(b"\xff{"),
            Err(RegistrationError::NotJson(_))
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_registration(&data);
        }

        #[test]
        fn random_json_never_panics(token in ".{0,40}", csr in ".{0,200}", extra in any::<i64>()) {
            let body = serde_json::json!({"token": token, "csrPem": csr, "agentVersion": extra});
            let r = parse_registration(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(&r.token, &token);
            let _ = cceone_platform::token::parse(&r.token);
            let _ = cceone_platform::ca::check_csr(&r.csr_pem);
        }
    }
}
