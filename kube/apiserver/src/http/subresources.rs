//! Subresources with their own semantics: `serviceaccounts/token` (TokenRequest) and
//! `certificatesigningrequests/approval` (`kubectl certificate approve|deny`).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::State;
use super::body;
use super::util::{Body, json_response, read_body};
use crate::core::WriteOptions;
use crate::error::{ApiError, ApiResult, Cause};
use crate::resource::ResourceInfo;
use crate::serviceaccount::{self, Claims};

async fn read_object(req: Request<Incoming>) -> ApiResult<Value> {
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let raw = read_body(req).await?;
    if raw.is_empty() {
        return Ok(json!({}));
    }
    body::decode(ct.as_deref(), raw).await
}

/// `POST serviceaccounts/<name>/token`: a token for the service account, as
/// `pkg/registry/core/serviceaccount/storage/token.go` answers (201 with the TokenRequest and
/// its `status.token`).
pub(crate) async fn token(
    state: &State,
    req: Request<Incoming>,
    res: &ResourceInfo,
    ns: &str,
    name: &str,
) -> ApiResult<Response<Body>> {
    let mut tr = read_object(req).await?;
    let seconds = match tr.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => serviceaccount::DEFAULT_EXPIRATION_SECONDS,
        Some(v) => {
            let n = v.as_i64().unwrap_or(0);
            let detail = if n < serviceaccount::MIN_EXPIRATION_SECONDS {
                Some("may not specify a duration less than 10 minutes")
            } else if n > 1 << 32 {
                Some("may not specify a duration larger than 2^32 seconds")
            } else {
                None
            };
            if let Some(detail) = detail {
                return Err(ApiError::invalid(
                    "TokenRequest",
                    "",
                    vec![Cause::invalid("spec.expirationSeconds", v, detail)],
                ));
            }
            n
        }
    };
    let sa = state.core.get(res, Some(ns), name).await?;
    let audiences: Vec<String> = tr
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![serviceaccount::AUDIENCE.to_string()]);
    let claims = Claims {
        namespace: ns.to_string(),
        name: name.to_string(),
        uid: crate::meta::uid(&sa).unwrap_or_default().to_string(),
        audiences: audiences.clone(),
    };
    let now = jiff::Timestamp::now();
    let token = state
        .service_accounts
        .issue(&claims, now.as_second(), seconds);
    let expires = jiff::Timestamp::from_second(now.as_second() + seconds)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let bound = tr
        .pointer("/spec/boundObjectRef")
        .cloned()
        .unwrap_or(Value::Null);
    tr = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": crate::meta::now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": bound},
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok(json_response(StatusCode::CREATED, &tr))
}

/// `PUT certificatesigningrequests/<name>/approval`: only `status.conditions` change
/// (`csrApprovalStrategy` in `pkg/registry/certificates/certificates/strategy.go`), checked as
/// `validateCertificateSigningRequestUpdate` does.
pub(crate) async fn approval(
    state: &State,
    req: Request<Incoming>,
    res: &std::sync::Arc<ResourceInfo>,
    name: &str,
    opts: &WriteOptions,
) -> ApiResult<Response<Body>> {
    let body = read_object(req).await?;
    let old = state.core.get(res, None, name).await?;
    let now = crate::meta::now_rfc3339();
    let mut conditions: Vec<Value> = body
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &mut conditions {
        for k in ["lastUpdateTime", "lastTransitionTime"] {
            if c.get(k).is_none_or(Value::is_null) {
                c[k] = json!(now);
            }
        }
    }
    let causes = check_conditions(
        old.pointer("/status/conditions").and_then(Value::as_array),
        &conditions,
    );
    if !causes.is_empty() {
        return Err(ApiError::invalid(&res.kind, name, causes));
    }
    let mut new = old.clone();
    new["status"]["conditions"] = Value::Array(conditions);
    let out = state
        .core
        .update(res, None, name, Some("status"), new, opts)
        .await?;
    if !opts.dry_run {
        issue(state, res, name, &out).await;
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// Sign an approved request for a built-in signer, as the csrsigning controller would just
/// after the approval (a failure leaves the request approved without a certificate).
async fn issue(state: &State, res: &std::sync::Arc<ResourceInfo>, name: &str, csr: &Value) {
    if !crate::csrsign::due(csr) {
        return;
    }
    let now = jiff::Timestamp::now().as_second();
    let Some(cert) = crate::csrsign::sign(&state.ca.ca_cert, &state.ca.ca_key, csr, now) else {
        tracing::info!(
            csr = name,
            "certificate request not signed: it does not parse"
        );
        return;
    };
    let mut signed = csr.clone();
    signed["status"]["certificate"] = Value::String(cert);
    let opts = WriteOptions {
        field_manager: Some("certificatesigningrequest-signing-controller".into()),
        ..WriteOptions::default()
    };
    if let Err(e) = state
        .core
        .update(res, None, name, Some("status"), signed, &opts)
        .await
    {
        tracing::warn!(csr = name, error = %e, "could not store the signed certificate");
    }
}

/// A new CertificateSigningRequest names who asked and starts unapproved, whatever the client
/// sent (`csrStrategy.PrepareForCreate`).
pub(crate) fn stamp_requestor(res: &ResourceInfo, user: &super::User, csr: &mut Value) {
    if res.group != "certificates.k8s.io" || res.kind != "CertificateSigningRequest" {
        return;
    }
    let Some(obj) = csr.as_object_mut() else {
        return;
    };
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        for k in ["uid", "extra"] {
            spec.remove(k);
        }
        spec.insert("username".into(), json!(user.name));
        spec.insert("groups".into(), json!(user.groups));
    }
    obj.insert("status".into(), json!({}));
}

/// Approved and Denied exclude each other, are True when present, and once there stay.
fn check_conditions(old: Option<&Vec<Value>>, new: &[Value]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ty = |c: &Value| {
        c.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let t = ty(c);
        let at = format!("status.conditions[{i}]");
        if t.is_empty() {
            causes.push(Cause::required(format!("{at}.type")));
            continue;
        }
        if matches!(t.as_str(), "Approved" | "Denied") {
            if c.get("status").and_then(Value::as_str) != Some("True") {
                causes.push(Cause::not_supported(
                    format!("{at}.status"),
                    c.get("status").unwrap_or(&Value::Null),
                    &["True"],
                ));
            }
            let other = if t == "Approved" {
                "Denied"
            } else {
                "Approved"
            };
            if seen.iter().any(|s| s == other) {
                causes.push(Cause::invalid(
                    format!("{at}.type"),
                    &json!(t),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
            if seen.contains(&t) {
                causes.push(Cause {
                    reason: "FieldValueDuplicate".into(),
                    message: format!("Duplicate value: \"{t}\""),
                    field: format!("{at}.type"),
                });
            }
        }
        seen.push(t);
    }
    for c in old.into_iter().flatten() {
        let t = ty(c);
        if matches!(t.as_str(), "Approved" | "Denied") && !seen.contains(&t) {
            causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                message: format!("Forbidden: updates may not remove a condition of type \"{t}\""),
                field: "status.conditions".into(),
            });
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approved_and_denied_exclude_each_other_and_stay() {
        let approved = json!({"type": "Approved", "status": "True"});
        let denied = json!({"type": "Denied", "status": "True"});
        assert!(check_conditions(None, std::slice::from_ref(&approved)).is_empty());
        let both = check_conditions(None, &[approved.clone(), denied]);
        assert_eq!(both[0].field, "status.conditions[1].type");
        assert_eq!(
            both[0].message,
            "Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
        );
        let removed = check_conditions(Some(&vec![approved]), &[]);
        assert_eq!(
            removed[0].message,
            "Forbidden: updates may not remove a condition of type \"Approved\""
        );
    }
}
