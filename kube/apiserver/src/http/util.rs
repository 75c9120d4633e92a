//! Small HTTP helpers: the response body type, JSON and error responses, bounded body reads,
//! and query-string decoding.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use serde_json::Value;

use crate::error::ApiError;

/// The largest request body accepted (kube-apiserver's limit is 3 MiB).
pub(crate) const MAX_BODY: usize = 3 * 1024 * 1024;

/// Response body: a whole buffer or a stream (watch).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn bytes_response(
    code: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response<Body> {
    bytes_response(
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

pub(crate) fn text(code: StatusCode, s: &str) -> Response<Body> {
    bytes_response(code, "text/plain; charset=utf-8", s.to_string())
}

/// A Kubernetes `Status` answer for `e`.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(code, &e.to_status());
    if matches!(e, ApiError::TooManyRequests(_) | ApiError::Unavailable(_)) {
        r.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    r
}

/// Read a request body, refusing more than [`MAX_BODY`] bytes.
pub(crate) async fn read_body(req: http::Request<Incoming>) -> Result<Bytes, ApiError> {
    // The audit log keeps the body when its level asks for it.
    let slot = req.extensions().get::<super::audited::BodySlot>().cloned();
    let guard = req
        .extensions()
        .get::<crate::authz::escalation::Guard>()
        .cloned();
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    match limited.collect().await {
        Ok(c) => {
            let bytes = c.to_bytes();
            if let Some(guard) = guard
                // A body that does not decode fails in the handler, with its own message.
                && let Ok(v) = super::body::decode(ct.as_deref(), bytes.clone()).await
            {
                guard.check(&v).await?;
            }
            if let Some(slot) = slot {
                slot.put(ct, bytes.clone());
            }
            Ok(bytes)
        }
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::TooLarge(format!(
                "the request body is larger than {MAX_BODY} bytes"
            )))
        }
        Err(e) => Err(ApiError::BadRequest(format!(
            "reading the request body failed: {e}"
        ))),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode one query component (`+` is a space).
pub(crate) fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decoded query parameters in order.
pub(crate) fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// Low-cardinality labels for metrics: the verb (`get`, `list`, `watch`, `create`, `update`,
/// `patch`, `delete`, `other`) and the resource (`plural.group`, `plural` in the core group,
/// with `/subresource`; empty outside the resource paths).
pub(crate) fn request_labels(method: &Method, path: &str, query: &str) -> (&'static str, String) {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, rest) = match segs.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return ("other", String::new()),
    };
    let rest = match rest {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let Some(plural) = rest.first() else {
        return ("get", String::new());
    };
    let mut resource = if group.is_empty() {
        (*plural).to_string()
    } else {
        format!("{plural}.{group}")
    };
    if let Some(sub) = rest.get(2) {
        resource.push('/');
        resource.push_str(sub);
    }
    let named = rest.len() > 1;
    let watch = query
        .split('&')
        .any(|p| p == "watch=1" || p == "watch=true");
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    };
    (verb, resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_requests_by_verb_and_resource() {
        let l = |m: Method, p: &str, q: &str| request_labels(&m, p, q);
        assert_eq!(
            l(Method::GET, "/api/v1/namespaces/a/pods", ""),
            ("list", "pods".into())
        );
        assert_eq!(
            l(Method::GET, "/api/v1/namespaces", "watch=1"),
            ("watch", "namespaces".into())
        );
        assert_eq!(
            l(Method::GET, "/api/v1/namespaces/a", ""),
            ("get", "namespaces".into())
        );
        assert_eq!(
            l(
                Method::PATCH,
                "/apis/work.karmada.io/v1alpha1/namespaces/es/works/w/status",
                ""
            ),
            ("patch", "works.work.karmada.io/status".into())
        );
        assert_eq!(
            l(Method::POST, "/apis/apps/v1/namespaces/a/deployments", ""),
            ("create", "deployments.apps".into())
        );
        assert_eq!(l(Method::GET, "/openapi/v3", ""), ("other", String::new()));
    }

    #[test]
    fn decodes_queries() {
        let q = query_pairs(Some(
            "labelSelector=app%3Dnginx%2Ctier+in+(a)&watch=1&x=%zz&y=%4",
        ));
        assert_eq!(
            q[0],
            ("labelSelector".into(), "app=nginx,tier in (a)".into())
        );
        assert_eq!(q[1], ("watch".into(), "1".into()));
        assert_eq!(q[2].1, "%zz");
        assert_eq!(q[3].1, "%4");
    }
}
