//! What a request asks to do, in authorization's terms: kube-apiserver's `RequestInfo` rules
//! turning a method, path and query into a verb on a resource (group, namespace, name,
//! subresource) or on a non-resource path.

use super::Attributes;
use crate::http::User;

/// Describe a request: `path` without the query, `query` already decoded into pairs.
pub fn attributes(user: &User, method: &str, path: &str, query: &[(String, String)]) -> Attributes {
    let mut a = Attributes {
        user: user.clone(),
        verb: method.to_ascii_lowercase(),
        path: path.to_string(),
        ..Attributes::default()
    };
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `/api/v1`, `/apis/<group>` and `/apis/<group>/<version>` are discovery: non-resource paths.
    let rest: &[&str] = match parts.as_slice() {
        ["api", _version, rest @ ..] if !rest.is_empty() => rest,
        ["apis", group, _version, rest @ ..] if !rest.is_empty() => {
            a.api_group = group.to_string();
            rest
        }
        _ => {
            a.api_group.clear();
            return a;
        }
    };
    a.resource_request = true;
    let (verb, mut rest) = match rest {
        [special @ ("watch" | "proxy"), tail @ ..] if !tail.is_empty() => {
            (Some(special.to_string()), tail)
        }
        other => (None, other),
    };
    let by_method = verb.is_none();
    a.verb = verb.unwrap_or_else(|| {
        match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string()
    });
    if let ["namespaces", ns, tail @ ..] = rest {
        a.namespace = ns.to_string();
        // `/namespaces/<ns>/<resource>...` is a namespaced resource; `/namespaces/<ns>` and its
        // `status` and `finalize` are the Namespace itself.
        if !tail.is_empty() && !matches!(tail[0], "status" | "finalize") {
            rest = tail;
        }
    }
    if let Some(r) = rest.first() {
        a.resource = r.to_string();
    }
    if let Some(n) = rest.get(1) {
        a.name = n.to_string();
    }
    if let Some(s) = rest.get(2)
        && a.verb != "proxy"
    {
        a.subresource = s.to_string();
    }
    if by_method && a.name.is_empty() && a.verb == "get" {
        let get = |k: &str| query.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
        a.verb = match get("watch").map(String::as_str) {
            Some("true" | "1") => "watch",
            _ => "list",
        }
        .to_string();
        if let Some(sel) = get("fieldSelector") {
            a.name = exact_name(sel).unwrap_or_default();
        }
    }
    // kubectl 1.30+ opens exec, attach and port-forward as WebSocket GETs; kube-apiserver
    // (AuthorizePodWebsocketUpgradeCreatePermission) still asks for `create`, as for the POST.
    if by_method
        && a.verb == "get"
        && a.resource == "pods"
        && matches!(a.subresource.as_str(), "exec" | "attach" | "portforward")
    {
        a.verb = "create".into();
    }
    if by_method && a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".into();
    }
    a
}

/// `metadata.name=x` (or `==`) among a field selector's terms: a list or watch of one object.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let v = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        (!v.is_empty() && !v.contains('/')).then(|| v.to_string())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let u = User {
            name: "u".into(),
            groups: vec![],
            ..User::default()
        };
        attributes(&u, method, path, &q)
    }

    /// (resource request, verb, group, namespace, resource, subresource, name)
    type Shape<'a> = (bool, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str);
    /// (method, path, query, expected shape)
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        Shape<'static>,
    );

    fn shape(a: &Attributes) -> Shape<'_> {
        (
            a.resource_request,
            &a.verb,
            &a.api_group,
            &a.namespace,
            &a.resource,
            &a.subresource,
            &a.name,
        )
    }

    #[test]
    fn kube_request_info_table() {
        let cases: &[Case] = &[
            (
                "GET",
                "/api/v1/namespaces/a/pods",
                &[],
                (true, "list", "", "a", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods",
                &[("watch", "true")],
                (true, "watch", "", "a", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods",
                &[("fieldSelector", "metadata.name=x")],
                (true, "list", "", "a", "pods", "", "x"),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/x",
                &[],
                (true, "get", "", "a", "pods", "", "x"),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/x/log",
                &[],
                (true, "get", "", "a", "pods", "log", "x"),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/x/exec",
                &[("command", "echo")],
                (true, "create", "", "a", "pods", "exec", "x"),
            ),
            (
                "POST",
                "/api/v1/namespaces/a/pods/x/portforward",
                &[],
                (true, "create", "", "a", "pods", "portforward", "x"),
            ),
            (
                "POST",
                "/apis/apps/v1/namespaces/a/deployments",
                &[],
                (true, "create", "apps", "a", "deployments", "", ""),
            ),
            (
                "PUT",
                "/apis/apps/v1/namespaces/a/deployments/d/scale",
                &[],
                (true, "update", "apps", "a", "deployments", "scale", "d"),
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/r",
                &[],
                (
                    true,
                    "patch",
                    "rbac.authorization.k8s.io",
                    "",
                    "clusterroles",
                    "",
                    "r",
                ),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/a/configmaps",
                &[],
                (true, "deletecollection", "", "a", "configmaps", "", ""),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/a/configmaps/c",
                &[],
                (true, "delete", "", "a", "configmaps", "", "c"),
            ),
            // The Namespace itself lives in its own namespace.
            (
                "GET",
                "/api/v1/namespaces/a",
                &[],
                (true, "get", "", "a", "namespaces", "", "a"),
            ),
            (
                "PUT",
                "/api/v1/namespaces/a/finalize",
                &[],
                (true, "update", "", "a", "namespaces", "finalize", "a"),
            ),
            (
                "GET",
                "/api/v1/namespaces",
                &[],
                (true, "list", "", "", "namespaces", "", ""),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/a/pods",
                &[],
                (true, "watch", "", "a", "pods", "", ""),
            ),
            // Discovery and everything else are non-resource paths.
            ("GET", "/api", &[], (false, "get", "", "", "", "", "")),
            ("GET", "/api/v1", &[], (false, "get", "", "", "", "", "")),
            (
                "GET",
                "/apis/apps/v1",
                &[],
                (false, "get", "", "", "", "", ""),
            ),
            (
                "GET",
                "/openapi/v3",
                &[],
                (false, "get", "", "", "", "", ""),
            ),
            (
                "POST",
                "/admin/faults",
                &[],
                (false, "post", "", "", "", "", ""),
            ),
        ];
        for (method, path, query, want) in cases {
            let a = attrs(method, path, query);
            assert_eq!(shape(&a), *want, "{method} {path} {query:?}");
        }
    }
}
