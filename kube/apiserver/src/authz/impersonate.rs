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
            out.push(check(
                "authentication.k8s.io",
                "userextras",
                &unescape_key(key),
                "",
                &v,
            ));
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

/// An extra's key as the header carries it, percent-decoded (kube's `unescapeExtraKey`: keys
/// such as `example.com%2fscopes` name `example.com/scopes`); header names arrive lower-cased,
/// as kube lower-cases them. An undecodable key is kept as sent.
fn unescape_key(key: &str) -> String {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => return key.to_string(),
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| key.to_string())
}

/// The user a request runs as: the caller, or whom the caller may and does impersonate.
pub async fn resolve(rbac: &Rbac, requestor: &User, headers: &HeaderMap) -> Result<User, Refusal> {
    let checks = requests(requestor, headers).map_err(Refusal::Malformed)?;
    if checks.is_empty() {
        return Ok(requestor.clone());
    }
    let mut name = String::new();
    let mut groups = Vec::new();
    let mut uid = String::new();
    let mut extra = std::collections::BTreeMap::<String, Vec<String>>::new();
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
            // As kube's impersonation filter: the impersonated user.Info carries the uid and
            // extras asked for (staging/src/k8s.io/apiserver/pkg/endpoints/filters/
            // impersonation.go).
            "uids" => uid = a.name.clone(),
            "userextras" => extra
                .entry(a.subresource.clone())
                .or_default()
                .push(a.name.clone()),
            _ => {}
        }
    }
    let anonymous = name == super::rules::ANONYMOUS;
    let (add, unless) = if anonymous {
        (UNAUTHENTICATED, AUTHENTICATED)
    } else {
        (AUTHENTICATED, UNAUTHENTICATED)
    };
    if !groups.iter().any(|g| g == add || g == unless) {
        groups.push(add.to_string());
    }
    Ok(User {
        name,
        groups,
        uid,
        extra,
    })
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
            ..User::default()
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
        assert_eq!(unescape_key("example.com%2fscopes"), "example.com/scopes");
        assert_eq!(unescape_key("bad%zz"), "bad%zz");
        let mut groups_only = HeaderMap::new();
        groups_only.insert("impersonate-group", "dev".parse().unwrap());
        assert!(requests(&me, &groups_only).is_err());
        assert!(requests(&me, &HeaderMap::new()).unwrap().is_empty());
    }
}
