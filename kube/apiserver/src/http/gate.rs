//! The gate between authentication and the handlers: impersonation, then authorization of the
//! request as the user it runs as; plus the review APIs, which answer about that user.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::util::{self, Body, json_response};
use super::{State, User};
use crate::authz::{self, Attributes, impersonate};
use crate::error::ApiError;

/// Who a request is from and what it asks, once through the gate (or refused at it).
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    /// The authenticated caller.
    pub(crate) requestor: User,
    /// The user the request runs as, when the caller impersonates someone.
    pub(crate) impersonated: Option<User>,
    /// The request in authorization's terms (None when impersonation was refused first).
    pub(crate) attributes: Option<Attributes>,
    /// The authorization decision and its reason.
    pub(crate) decision: Option<(bool, String)>,
}

impl Admission {
    /// The user the request runs as.
    pub(crate) fn user(&self) -> &User {
        self.impersonated.as_ref().unwrap_or(&self.requestor)
    }
}

/// Who a request is from: a static token, a client certificate, or a user token from the
/// store (`cceonectl user kubeconfig`).
pub(crate) async fn authenticate(
    state: &State,
    req: &Request<Incoming>,
    cert_user: Option<User>,
) -> Result<User, ApiError> {
    let bearer = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match bearer {
        Some(t) if !state.tokens.contains_key(t) && crate::serviceaccount::looks_like_jwt(t) => {
            match crate::serviceaccount::authenticate(&state.core, &state.service_accounts, t).await
            {
                Some(u) => Ok(super::with_authenticated(u)),
                None => {
                    tracing::debug!(reason = "invalid service account token", "request refused");
                    Err(ApiError::Unauthorized)
                }
            }
        }
        Some(t) if !state.tokens.contains_key(t) && crate::authn::parse(t).is_some() => {
            match crate::authn::verify(&state.core, t).await {
                Some(u) => Ok(super::with_authenticated(u)),
                None => {
                    tracing::debug!(reason = "unknown or expired user token", "request refused");
                    Err(ApiError::Unauthorized)
                }
            }
        }
        _ => super::authenticate(state, req, cert_user),
    }
}

/// A bearer token's user, for TokenReview.
async fn token_user(state: &State, token: &str) -> Option<User> {
    let user = match state.tokens.get(token) {
        Some(u) => u.clone(),
        None if crate::serviceaccount::looks_like_jwt(token) => {
            crate::serviceaccount::authenticate(&state.core, &state.service_accounts, token).await?
        }
        None => crate::authn::verify(&state.core, token).await?,
    };
    Some(super::with_authenticated(user))
}

/// Impersonate and authorize: the admitted request, or the refusal to answer with.
pub(crate) async fn admit(
    state: &State,
    req: &Request<Incoming>,
    requestor: User,
) -> (Admission, Option<Response<Body>>) {
    let mut adm = Admission {
        requestor,
        impersonated: None,
        attributes: None,
        decision: None,
    };
    match impersonate::resolve(&state.rbac, &adm.requestor, req.headers()).await {
        Ok(u) if u == adm.requestor && !req.headers().contains_key("impersonate-user") => {}
        Ok(u) => adm.impersonated = Some(u),
        Err(impersonate::Refusal::Malformed(m)) => {
            return (adm, Some(util::error_response(&ApiError::Internal(m))));
        }
        Err(impersonate::Refusal::Forbidden(status)) => {
            return (adm, Some(json_response(StatusCode::FORBIDDEN, &status)));
        }
    }
    let query = util::query_pairs(req.uri().query());
    let path = req.uri().path();
    let a = authz::request::attributes(adm.user(), req.method().as_str(), path, &query);
    let d = state.rbac.authorize(&a).await;
    let refusal = (!d.allowed).then(|| {
        tracing::debug!(user = %a.user.name, verb = %a.verb, resource = %a.resource,
            namespace = %a.namespace, path = %a.path, "request forbidden");
        json_response(
            StatusCode::FORBIDDEN,
            &authz::forbidden_status(&a, &d.reason),
        )
    });
    adm.attributes = Some(a);
    adm.decision = Some((d.allowed, d.reason));
    (adm, refusal)
}

/// `POST /apis/authorization.k8s.io/v1/...` and `/apis/authentication.k8s.io/v1/...`.
pub(crate) async fn review(
    state: &State,
    req: Request<Incoming>,
    user: &User,
    group: &str,
    rest: &[&str],
) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match util::read_body(req).await {
        Ok(b) if method != "POST" || b.is_empty() => serde_json::Value::Null,
        // kubectl's typed client sends protobuf.
        Ok(b) => match super::body::decode(ct.as_deref(), b).await {
            Ok(v) => v,
            Err(e) => return util::error_response(&e),
        },
        Err(e) => return util::error_response(&e),
    };
    let token = body
        .pointer("/spec/token")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let reviewed = match (group, rest) {
        (authz::reviews::AUTHENTICATION, ["tokenreviews"]) => token_user(state, token).await,
        _ => None,
    };
    let lookup = |_: &str| reviewed.clone();
    match authz::reviews::answer(&state.rbac, user, group, rest, &method, body, &lookup).await {
        Ok((code, v)) => json_response(StatusCode::from_u16(code).unwrap_or(StatusCode::OK), &v),
        Err(e) => util::error_response(&e),
    }
}
