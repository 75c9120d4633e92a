//! The review APIs tools probe before they act: `authorization.k8s.io/v1`
//! SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview (`can-i --list`),
//! SubjectAccessReview and LocalSubjectAccessReview; `authentication.k8s.io/v1`
//! SelfSubjectReview (`kubectl auth whoami`) and TokenReview. Each is a create-only virtual
//! resource: the posted object comes back with its `status` filled in, nothing is stored.

use serde_json::{Value, json};

use super::{Attributes, Rbac};
use crate::error::{ApiError, ApiResult};
use crate::http::User;

/// The authorization group.
pub const AUTHORIZATION: &str = "authorization.k8s.io";
/// The authentication group.
pub const AUTHENTICATION: &str = "authentication.k8s.io";

/// `(group, plural, kind, namespaced)` of every review resource.
const REVIEWS: &[(&str, &str, &str, bool)] = &[
    (
        AUTHORIZATION,
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        true,
    ),
    (
        AUTHORIZATION,
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
    ),
    (
        AUTHORIZATION,
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
    ),
    (
        AUTHORIZATION,
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ),
    (
        AUTHENTICATION,
        "selfsubjectreviews",
        "SelfSubjectReview",
        false,
    ),
    (AUTHENTICATION, "tokenreviews", "TokenReview", false),
];

/// The review groups, for `/apis`.
pub fn groups() -> [&'static str; 2] {
    [AUTHENTICATION, AUTHORIZATION]
}

/// Discovery entries of a review group's `v1`, or None for other groups and versions.
pub fn discovery(group: &str, version: &str) -> Option<Vec<Value>> {
    if version != "v1" || !groups().contains(&group) {
        return None;
    }
    Some(
        REVIEWS
            .iter()
            .filter(|(g, ..)| *g == group)
            .map(|(_, plural, kind, namespaced)| {
                json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                       "kind": kind, "verbs": ["create"]})
            })
            .collect(),
    )
}

/// Answer a review: `rest` is the path after `/apis/<group>/v1`, `user` the caller (after
/// impersonation), `body` the decoded request object, `lookup` resolves a bearer token for
/// TokenReview. Returns the code and body.
pub async fn answer(
    rbac: &Rbac,
    user: &User,
    group: &str,
    rest: &[&str],
    method: &str,
    body: Value,
    lookup: &(dyn Fn(&str) -> Option<User> + Sync),
) -> ApiResult<(u16, Value)> {
    let (ns, plural) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural),
        [plural] => (None, *plural),
        _ => return Err(not_found()),
    };
    let Some((_, _, kind, namespaced)) = REVIEWS
        .iter()
        .find(|(g, p, ..)| *g == group && *p == plural)
    else {
        return Err(not_found());
    };
    if *namespaced != ns.is_some() {
        return Err(not_found());
    }
    if method != "POST" {
        return Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource: {method} {plural}"
        )));
    }
    let mut obj = body;
    if !obj.is_object() {
        return Err(ApiError::BadRequest(format!("the body is not a {kind}")));
    }
    obj["apiVersion"] = json!(format!("{group}/v1"));
    obj["kind"] = json!(kind);
    if obj.get("metadata").is_none_or(|m| !m.is_object()) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match *kind {
        "SelfSubjectAccessReview" => access(rbac, user, &spec, None, kind).await?,
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let subject = subject_of(&spec, kind)?;
            if let Some(ns) = ns {
                let want = spec.pointer("/resourceAttributes/namespace");
                if want.and_then(Value::as_str).is_some_and(|w| w != ns) {
                    return Err(invalid(
                        kind,
                        "spec.resourceAttributes.namespace",
                        "must match the namespace of the request",
                    ));
                }
            }
            access(rbac, &subject, &spec, ns, kind).await?
        }
        "SelfSubjectRulesReview" => rules_review(rbac, user, &spec).await?,
        "SelfSubjectReview" => json!({"userInfo": user_info(user)}),
        _ => {
            let token = spec
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match lookup(token) {
                Some(u) => json!({"authenticated": true, "user": user_info(&u)}),
                None => json!({"user": {}, "error": "invalid bearer token"}),
            }
        }
    };
    obj["status"] = status;
    Ok((201, obj))
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        resource: String::new(),
        name: String::new(),
        message: "the server could not find the requested resource".into(),
    }
}

fn invalid(kind: &str, field: &str, detail: &str) -> ApiError {
    ApiError::invalid(
        kind,
        "",
        vec![crate::error::Cause::invalid(field, &Value::Null, detail)],
    )
}

fn user_info(u: &User) -> Value {
    crate::audit::user_json(u)
}

fn subject_of(spec: &Value, kind: &str) -> ApiResult<User> {
    let name = spec.get("user").and_then(Value::as_str).unwrap_or_default();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(invalid(
            kind,
            "spec.user",
            "at least one of user or group must be specified",
        ));
    }
    Ok(User {
        name: name.to_string(),
        groups,
        ..User::default()
    })
}

async fn access(
    rbac: &Rbac,
    user: &User,
    spec: &Value,
    ns: Option<&str>,
    kind: &str,
) -> ApiResult<Value> {
    let s = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let res = spec.get("resourceAttributes").filter(|v| v.is_object());
    let non = spec.get("nonResourceAttributes").filter(|v| v.is_object());
    let a = match (res, non) {
        (Some(_), None) => Attributes {
            user: user.clone(),
            verb: s(res, "verb"),
            resource_request: true,
            api_group: s(res, "group"),
            namespace: ns
                .map(str::to_string)
                .unwrap_or_else(|| s(res, "namespace")),
            resource: s(res, "resource"),
            subresource: s(res, "subresource"),
            name: s(res, "name"),
            path: String::new(),
        },
        (None, Some(_)) => Attributes {
            user: user.clone(),
            verb: s(non, "verb"),
            path: s(non, "path"),
            ..Attributes::default()
        },
        _ => {
            return Err(invalid(
                kind,
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
    };
    let d = rbac.authorize(&a).await;
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    Ok(status)
}

async fn rules_review(rbac: &Rbac, user: &User, spec: &Value) -> ApiResult<Value> {
    let ns = spec
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ns.is_empty() {
        return Err(ApiError::BadRequest("no namespace on request".into()));
    }
    let grants = rbac.grants(user, ns).await;
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in grants.sources.iter().flat_map(|(_, rules)| rules) {
        if !rule.resources.is_empty() {
            let mut r = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups, "resources": rule.resources});
            if !rule.resource_names.is_empty() {
                r["resourceNames"] = json!(rule.resource_names);
            }
            resource_rules.push(r);
        }
        if !rule.non_resource_urls.is_empty() {
            non_resource_rules
                .push(json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if !grants.errors.is_empty() {
        status["evaluationError"] = json!(grants.errors.join(", "));
    }
    Ok(status)
}
