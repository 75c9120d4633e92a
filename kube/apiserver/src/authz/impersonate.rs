//! Impersonation (`Impersonate-User`, `-Group`, `-Uid`, `-Extra-<key>` headers): each thing
//! asked for is one `impersonate` check of the caller (users, groups, serviceaccounts, uids,
//! userextras), and the request then runs as the impersonated user, as kube-apiserver does.

use http::HeaderMap;
use serde_json::Value;

use super::rules::{AUTHENTICATED, SERVICE_ACCOUNT_PREFIX, UNAUTHENTICATED};
use super::{Attributes, Rbac};
use crate::http::User;

/// Why an impersonation was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The headers ask for groups or extras without a user (kube answers 500 to this).
    Malformed(String),
    /// The caller may not impersonate this; the 403 `Status` to answer with.
    Forbidden(Box<Value>),
}

/// What the headers ask to impersonate, as the checks they need.
fn requests(requestor: &User, headers: &HeaderMap) -> Result<Vec<Attributes>, String> {
    let value = |h: &http::HeaderValue| h.to_str().ok().map(str::to_string);
    let check = |group: &str, resource: &str, sub: &str, ns: &str, name: &str| Attributes {
        user: requestor.clone(),
        verb: "impersonate".into(),
        resource_request: true,
        api_group: group.into(),
        namespace: ns.into(),
        resource: resource.into(),
        subresource: sub.into(),
        name: name.into(),
        path: String::new(),
    };
    let mut out = Vec::new();
    let user = headers.get("impersonate-user").and_then(value);
    if let Some(u) = &user {
        match u
            .strip_prefix(SERVICE_ACCOUNT_PREFIX)
            .and_then(|r| r.split_once(':'))
        {
            Some((ns, name)) => out.push(check("", "serviceaccounts", "", ns, name)),
            None => out.push(check("", "users", "", "", u)),
        }
    }
    let extra = out.len();
    for g in headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(value)
    {
        out.push(check("", "groups", "", "", &g));
    }
    if let Some(uid) = headers.get("impersonate-uid").and_then(value) {
        out.push(check("authentication.k8s.io", "uids", "", "", &uid));
    }
    for (name, v) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-")
            && let Some(v) = value(v)
        {
            out.push(check("authentication.k8s.io", "userextras", key, "", &v));
        }
    }
    if user.is_none() && out.len() > extra {
        return Err(format!(
            "requested {} impersonation without impersonating a user",
            out.len()
        ));
    }
    Ok(out)
}

/// The user a request runs as: the caller, or whom the caller may and does impersonate.
pub async fn resolve(rbac: &Rbac, requestor: &User, headers: &HeaderMap) -> Result<User, Refusal> {
    let checks = requests(requestor, headers).map_err(Refusal::Malformed)?;
    if checks.is_empty() {
        return Ok(requestor.clone());
    }
    let mut name = String::new();
    let mut groups = Vec::new();
    let groups_given = headers.contains_key("impersonate-group");
    for a in &checks {
        let d = rbac.authorize(a).await;
        if !d.allowed {
            return Err(Refusal::Forbidden(Box::new(super::forbidden_status(
                a, &d.reason,
            ))));
        }
        match a.resource.as_str() {
            "users" => name = a.name.clone(),
            "serviceaccounts" => {
                name = format!("{SERVICE_ACCOUNT_PREFIX}{}:{}", a.namespace, a.name);
                if !groups_given {
                    groups.push("system:serviceaccounts".to_string());
                    groups.push(format!("system:serviceaccounts:{}", a.namespace));
                }
            }
            "groups" => groups.push(a.name.clone()),
            _ => {}
        }
    }
    let anonymous = name == "system:anonymous";
    let (add, unless) = if anonymous {
        (UNAUTHENTICATED, AUTHENTICATED)
    } else {
        (AUTHENTICATED, UNAUTHENTICATED)
    };
    if !groups.iter().any(|g| g == add || g == unless) {
        groups.push(add.to_string());
    }
    Ok(User { name, groups })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_header_is_one_check() {
        let me = User {
            name: "hub".into(),
            groups: vec![],
        };
        let mut h = HeaderMap::new();
        h.insert(
            "impersonate-user",
            "system:serviceaccount:team:ci".parse().unwrap(),
        );
        h.append("impersonate-group", "dev".parse().unwrap());
        h.append("impersonate-group", "ops".parse().unwrap());
        h.insert("impersonate-extra-scopes", "view".parse().unwrap());
        let got: Vec<(String, String, String, String)> = requests(&me, &h)
            .unwrap()
            .into_iter()
            .map(|a| (a.resource, a.namespace, a.name, a.subresource))
            .collect();
        let s = |a: &str, b: &str, c: &str, d: &str| {
            (a.to_string(), b.to_string(), c.to_string(), d.to_string())
        };
        assert_eq!(
            got,
            vec![
                s("serviceaccounts", "team", "ci", ""),
                s("groups", "", "dev", ""),
                s("groups", "", "ops", ""),
                s("userextras", "", "view", "scopes"),
            ]
        );
        let mut groups_only = HeaderMap::new();
        groups_only.insert("impersonate-group", "dev".parse().unwrap());
        assert!(requests(&me, &groups_only).is_err());
        assert!(requests(&me, &HeaderMap::new()).unwrap().is_empty());
    }
}
