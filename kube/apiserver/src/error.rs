//! API errors and their one mapping to Kubernetes `Status` objects.
//!
//! Every failure a handler can meet becomes an [`ApiError`]; the HTTP layer turns it into a
//! `Status` body with the matching code, reason and causes, the way kube-apiserver does, so
//! `kubectl` and `kube-rs` print and classify our errors exactly as they would a real cluster's.

use serde_json::{Value, json};

/// One field-level cause of an error (`Status.details.causes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Machine-readable cause, e.g. `FieldValueRequired`, `FieldValueInvalid`.
    pub reason: String,
    /// Human-readable text.
    pub message: String,
    /// The field path, e.g. `metadata.name` or `spec.template.spec.containers[0].image`.
    pub field: String,
}

impl Cause {
    /// A required field is missing.
    pub fn required(field: impl Into<String>) -> Self {
        let field = field.into();
        Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field,
        }
    }

    /// A field holds a value that is not allowed.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let shown = match value {
            Value::String(s) => format!("\"{s}\""),
            other => other.to_string(),
        };
        Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {shown}: {detail}"),
            field: field.into(),
        }
    }

    /// A field value is not one of the supported values.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
            field: field.into(),
        }
    }
}

/// A failed API request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 404: the object (or resource type) does not exist.
    #[error("{message}")]
    NotFound {
        /// Resource (plural) and group, as `deployments.apps`.
        resource: String,
        /// Object name.
        name: String,
        /// Full message.
        message: String,
    },
    /// 409: an object with this name exists already.
    #[error("{message}")]
    AlreadyExists {
        /// Resource (plural.group).
        resource: String,
        /// Object name.
        name: String,
        /// Full message.
        message: String,
    },
    /// 409: the write was based on a stale `resourceVersion`, or apply conflicts.
    #[error("{message}")]
    Conflict {
        /// Resource (plural.group).
        resource: String,
        /// Object name.
        name: String,
        /// Full message.
        message: String,
        /// Conflicting fields (server-side apply).
        causes: Vec<Cause>,
    },
    /// 422: the object fails validation.
    #[error("{message}")]
    Invalid {
        /// Kind of the object.
        kind: String,
        /// Object name.
        name: String,
        /// Full message.
        message: String,
        /// Field causes.
        causes: Vec<Cause>,
    },
    /// 400: the request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 405: the verb is not supported on this resource.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406: none of the accepted media types can be produced.
    #[error("{0}")]
    NotAcceptable(String),
    /// 415: the body's media type is not supported.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 410: the requested resourceVersion has been compacted.
    #[error("{0}")]
    Gone(String),
    /// 401: no valid credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: authenticated but not permitted.
    #[error("{0}")]
    Forbidden(String),
    /// 413: the body is too large.
    #[error("{0}")]
    TooLarge(String),
    /// 429: the server is paused or shedding load.
    #[error("{0}")]
    TooManyRequests(String),
    /// 429 with the causes that refused the request and, when above 0, how long to wait
    /// (the eviction subresource's refusal when a disruption budget allows none).
    #[error("{message}")]
    TooManyRequestsBecause {
        /// Full message.
        message: String,
        /// `details.retryAfterSeconds` (0: none given).
        retry_after_seconds: u32,
        /// `details.causes`.
        causes: Vec<Cause>,
    },
    /// 503: the server is unavailable (fault injection, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// 500: an internal failure (storage I/O); the message is safe to show.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// 404 for a named object of a resource.
    pub fn not_found(resource: &str, name: &str) -> Self {
        ApiError::NotFound {
            resource: resource.into(),
            name: name.into(),
            message: format!("{resource} \"{name}\" not found"),
        }
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        ApiError::AlreadyExists {
            resource: resource.into(),
            name: name.into(),
            message: format!("{resource} \"{name}\" already exists"),
        }
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(resource: &str, name: &str) -> Self {
        ApiError::Conflict {
            resource: resource.into(),
            name: name.into(),
            message: format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            causes: Vec::new(),
        }
    }

    /// 422 Invalid with field causes.
    pub fn invalid(kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let detail: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let detail = match detail.len() {
            1 => detail.join(""),
            _ => format!("[{}]", detail.join(", ")),
        };
        ApiError::Invalid {
            kind: kind.into(),
            name: name.into(),
            message: format!("{kind} \"{name}\" is invalid: {detail}"),
            causes,
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Gone(_) => 410,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::TooLarge(_) => 413,
            ApiError::TooManyRequests(_) | ApiError::TooManyRequestsBecause { .. } => 429,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Gone(_) => "Expired",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::TooManyRequests(_) | ApiError::TooManyRequestsBecause { .. } => {
                "TooManyRequests"
            }
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `Status` object kube-apiserver would answer with.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { resource, name, .. }
            | ApiError::AlreadyExists { resource, name, .. } => Some(details(resource, name, &[])),
            ApiError::Conflict {
                resource,
                name,
                causes,
                ..
            } => Some(details(resource, name, causes)),
            ApiError::Invalid {
                kind, name, causes, ..
            } => {
                let mut d = details("", name, causes);
                d["kind"] = Value::String(kind.clone());
                Some(d)
            }
            ApiError::TooManyRequestsBecause {
                retry_after_seconds,
                causes,
                ..
            } => {
                let mut d = details("", "", causes);
                if let Some(m) = d.as_object_mut() {
                    m.remove("name");
                }
                if *retry_after_seconds > 0 {
                    d["retryAfterSeconds"] = json!(retry_after_seconds);
                }
                Some(d)
            }
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

fn details(resource: &str, name: &str, causes: &[Cause]) -> Value {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let mut d = json!({ "name": name });
    if !group.is_empty() {
        d["group"] = Value::String(group.into());
    }
    if !plural.is_empty() {
        d["kind"] = Value::String(plural.into());
    }
    if !causes.is_empty() {
        d["causes"] = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
    }
    d
}

impl From<cceone_kube_store::StoreError> for ApiError {
    fn from(e: cceone_kube_store::StoreError) -> Self {
        use cceone_kube_store::StoreError as S;
        match e {
            S::Compacted {
                requested,
                compacted,
            } => ApiError::Gone(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            S::NotFound { key } => ApiError::NotFound {
                message: format!("not found: {key}"),
                resource: String::new(),
                name: key,
            },
            S::Closed => ApiError::Unavailable("the server is shutting down".into()),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::Internal(format!("storage error: {other}"))
            }
        }
    }
}

/// Result alias for API operations.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_the_field() {
        let e = ApiError::invalid(
            "PropagationPolicy",
            "pp",
            vec![Cause::required("spec.resourceSelectors")],
        );
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.resourceSelectors");
        assert_eq!(
            s["message"],
            "PropagationPolicy \"pp\" is invalid: spec.resourceSelectors: Required value"
        );
    }

    #[test]
    fn not_found_splits_group() {
        let s = ApiError::not_found("deployments.apps", "nginx").to_status();
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["message"], "deployments.apps \"nginx\" not found");
    }
}
