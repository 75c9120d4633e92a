//! The crate's errors: [`PlatformError`] for everything, [`TokenError`] for bootstrap-token
//! redemption, whose variants the hub logs and counts as refusal reasons.

use std::path::PathBuf;

/// A failure of a platform operation.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A call to the federation API server failed (`what` says which).
    #[error("{what}: {source}")]
    Api {
        /// What we were doing.
        what: String,
        /// The kube-rs error.
        #[source]
        source: kube::Error,
    },
    /// A CRD was applied but did not report `Established` before the deadline.
    #[error("CustomResourceDefinition {name} not established within {waited_secs}s")]
    NotEstablished {
        /// The CRD's name.
        name: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// An object we need does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// An object exists but its content is not usable (missing or malformed fields).
    #[error("{what} is invalid: {reason}")]
    InvalidObject {
        /// Which object.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A caller-supplied value was refused (names, endpoints, durations).
    #[error("{0}")]
    InvalidInput(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Generating, parsing or signing certificates failed.
    #[error("certificate {what}: {source}")]
    Certificate {
        /// What we were doing.
        what: &'static str,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// PEM or DER material is not usable.
    #[error("bad certificate material: {0}")]
    BadPem(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// (De)serialising an object failed.
    #[error("serialisation: {0}")]
    Json(#[from] serde_json::Error),
}

impl PlatformError {
    pub(crate) fn api(what: impl Into<String>, source: kube::Error) -> PlatformError {
        PlatformError::Api {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn cert(what: &'static str) -> impl FnOnce(rcgen::Error) -> PlatformError {
        move |source| PlatformError::Certificate { what, source }
    }
}

/// Why a bootstrap token was refused. Each variant is a distinct reason the hub reports
/// (see [`TokenError::reason`]).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not of the form `<6 lowercase alnum>.<16 lowercase alnum>`.
    #[error("malformed bootstrap token")]
    Malformed,
    /// No token with this id exists (never issued, or purged after expiry).
    #[error("unknown bootstrap token")]
    Unknown,
    /// The token exists and the secret matches, but it has expired.
    #[error("bootstrap token expired")]
    Expired,
    /// The token id exists but the secret part does not match.
    #[error("wrong bootstrap token secret")]
    WrongSecret,
    /// The token was already redeemed (including by a concurrent redeemer that won the race).
    #[error("bootstrap token already used")]
    Used,
    /// The federation API server failed; the token is left as it was.
    #[error("bootstrap token lookup: {0}")]
    Api(#[source] kube::Error),
}

impl TokenError {
    /// A short, stable label for metrics and logs: `malformed`, `unknown`, `expired`,
    /// `wrong_secret`, `used` or `api`.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Unknown => "unknown",
            TokenError::Expired => "expired",
            TokenError::WrongSecret => "wrong_secret",
            TokenError::Used => "used",
            TokenError::Api(_) => "api",
        }
    }
}

/// Whether `e` is an API status error with HTTP code `code`.
pub(crate) fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}
