//! Discovery (`/version`, `/api`, `/apis`, group and group-version documents) and the OpenAPI v3
//! documents `kubectl` reads to decide on server-side field validation.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::util::{Body, bytes_response, error_response, json_response};
use crate::core::Core;
use crate::error::ApiError;
use crate::resource::ResourceInfo;

/// `/version`.
pub(crate) fn version(git_version: &str) -> Value {
    let (major, minor) = git_version
        .trim_start_matches('v')
        .split_once('.')
        .map(|(a, b)| {
            (
                a.to_string(),
                b.split('.').next().unwrap_or("0").to_string(),
            )
        })
        .unwrap_or(("1".into(), "32".into()));
    json!({
        "major": major, "minor": minor, "gitVersion": git_version,
        "gitCommit": "cceone", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust", "compiler": "rustc", "platform": "linux/amd64",
    })
}

/// `/api`.
pub(crate) fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`.
pub(crate) fn group_list(core: &Core) -> Value {
    let groups: Vec<Value> = core
        .registry
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .chain(review_groups())
        .map(|(g, vs)| group_doc(&g, &vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub(crate) fn group(core: &Core, group: &str) -> Response<Body> {
    let mut groups = core.registry.groups().into_iter().chain(review_groups());
    match groups.find(|(g, _)| g == group) {
        Some((g, vs)) => {
            let mut doc = group_doc(&g, &vs);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            json_response(StatusCode::OK, &doc)
        }
        None => not_found(),
    }
}

/// The review APIs' groups, served by the gate rather than the registry.
fn review_groups() -> impl Iterator<Item = (String, Vec<String>)> {
    crate::authz::reviews::groups()
        .into_iter()
        .map(|g| (g.to_string(), vec!["v1".to_string()]))
}

fn not_found() -> Response<Body> {
    error_response(&ApiError::NotFound {
        resource: String::new(),
        name: String::new(),
        message: "the server could not find the requested resource".into(),
    })
}

fn resources_in(core: &Core, group: &str, version: &str) -> Vec<std::sync::Arc<ResourceInfo>> {
    core.registry
        .all()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

/// Verbs of a resource as kube-apiserver lists them: most kinds have every verb; namespaces no
/// `deletecollection` (`pkg/registry/core/namespace/storage`), component statuses are
/// read-only (`pkg/registry/core/componentstatus/rest.go`).
fn verbs(r: &ResourceInfo) -> Vec<&'static str> {
    match (r.group.as_str(), r.plural.as_str()) {
        ("", "namespaces") => vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        ("", "componentstatuses") => vec!["get", "list"],
        _ => r.verbs(),
    }
}

/// A subresource in discovery: its name, the group, version and kind it answers with (empty
/// group and version: the parent's), and its verbs.
struct Sub {
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
}

/// Subresources served besides `status` and `scale`, by (group, plural) of the parent, as a
/// 1.32 cluster lists them (`pkg/registry/core/rest/storage_core.go`,
/// `pkg/registry/certificates/rest/storage_certificates.go`).
fn extra_subresources(group: &str, plural: &str) -> &'static [Sub] {
    const fn s(
        name: &'static str,
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        verbs: &'static [&'static str],
    ) -> Sub {
        Sub {
            name,
            group,
            version,
            kind,
            verbs,
        }
    }
    const GET_CREATE: &[&str] = &["create", "get"];
    const WRITE: &[&str] = &["get", "patch", "update"];
    const PODS: &[Sub] = &[
        s("attach", "", "", "PodAttachOptions", GET_CREATE),
        // kubectl drain finds the eviction API's version here (`drain.CheckEvictionSupport`).
        s("eviction", "policy", "v1", "Eviction", &["create"]),
        s("exec", "", "", "PodExecOptions", GET_CREATE),
        s("log", "", "", "Pod", &["get"]),
        s("portforward", "", "", "PodPortForwardOptions", GET_CREATE),
    ];
    const SERVICE_ACCOUNTS: &[Sub] = &[s(
        "token",
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
        &["create"],
    )];
    const CSRS: &[Sub] = &[s("approval", "", "", "CertificateSigningRequest", WRITE)];
    match (group, plural) {
        ("", "pods") => PODS,
        ("", "serviceaccounts") => SERVICE_ACCOUNTS,
        ("certificates.k8s.io", "certificatesigningrequests") => CSRS,
        _ => &[],
    }
}

/// Every subresource of `r`: (name, group, version, kind, verbs), the group and version empty
/// when they are the parent's.
fn subresources(
    r: &ResourceInfo,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    String,
    Vec<&'static str>,
)> {
    const WRITE: [&str; 3] = ["get", "patch", "update"];
    let mut out = Vec::new();
    for x in extra_subresources(&r.group, &r.plural) {
        out.push((
            x.name,
            x.group,
            x.version,
            x.kind.to_string(),
            x.verbs.to_vec(),
        ));
    }
    if r.scale.is_some() {
        out.push((
            "scale",
            "autoscaling",
            "v1",
            "Scale".to_string(),
            WRITE.to_vec(),
        ));
    }
    if r.has_status {
        out.push(("status", "", "", r.kind.clone(), WRITE.to_vec()));
    }
    out.sort_by_key(|x| x.0);
    out
}

/// `/api/v1` and `/apis/<group>/<version>`.
pub(crate) fn resource_list(core: &Core, group: &str, version: &str) -> Response<Body> {
    let rs = resources_in(core, group, version);
    let mut list = crate::authz::reviews::discovery(group, version).unwrap_or_default();
    if rs.is_empty() && list.is_empty() {
        return not_found();
    }
    for r in &rs {
        let mut e = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        list.push(e);
        for (name, g, v, kind, verbs) in subresources(r) {
            let mut e = json!({"name": format!("{}/{name}", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
            if !g.is_empty() || !v.is_empty() {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            list.push(e);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// The aggregated discovery version a client's `Accept` asks for (`v2`, or `v2beta1` from
/// client-go before 1.30), or None for the legacy documents
/// (`staging/src/k8s.io/apiserver/pkg/endpoints/discovery/aggregated/negotiation.go`).
pub(crate) fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        if params.next() != Some("application/json") {
            continue;
        }
        let (mut g, mut v, mut r#as) = (None, None, None);
        for p in params {
            match p.split_once('=') {
                Some(("g", x)) => g = Some(x),
                Some(("v", x)) => v = Some(x),
                Some(("as", x)) => r#as = Some(x),
                _ => {}
            }
        }
        if g == Some("apidiscovery.k8s.io") && r#as == Some("APIGroupDiscoveryList") {
            match v {
                Some("v2") => return Some("v2"),
                Some("v2beta1") => return Some("v2beta1"),
                _ => {}
            }
        }
    }
    None
}

/// `/api` (`legacy`: the core group alone) or `/apis` (every other group) as one
/// `APIGroupDiscoveryList` with every version, resource and subresource, which kubectl 1.26+
/// reads in a single request instead of one per group-version.
pub(crate) fn aggregated(core: &Core, legacy: bool, version: &str) -> Response<Body> {
    let all = core.registry.all();
    let mut groups: Vec<(String, Vec<String>)> = core.registry.groups();
    groups.retain(|(g, _)| g.is_empty() == legacy);
    if !legacy {
        groups.extend(review_groups());
    }
    let items: Vec<Value> = groups
        .iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let mut resources: Vec<Value> = crate::authz::reviews::discovery(g, v)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| {
                            json!({"resource": e["name"], "responseKind": {"group": "", "version": "", "kind": e["kind"]},
                                   "scope": if e["namespaced"] == true { "Namespaced" } else { "Cluster" },
                                   "singularResource": e["singularName"], "verbs": e["verbs"]})
                        })
                        .collect();
                    for r in all.iter().filter(|r| &r.group == g && &r.version == v) {
                        resources.push(aggregated_resource(r));
                    }
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    let doc = json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"),
                     "metadata": {}, "items": items});
    let mut resp = json_response(StatusCode::OK, &doc);
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = http::HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let subs: Vec<Value> = subresources(r)
        .into_iter()
        .map(|(name, g, v, kind, verbs)| {
            json!({"subresource": name, "responseKind": {"group": g, "version": v, "kind": kind}, "verbs": verbs})
        })
        .collect();
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !subs.is_empty() {
        e["subresources"] = json!(subs);
    }
    e
}

/// `/openapi/v3`: where each group-version's document is.
pub(crate) fn openapi_root(core: &Core) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, vs) in core.registry.groups() {
        for v in vs {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            let hash = format!("{:016X}", fingerprint(core, &g, &v));
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

fn fingerprint(core: &Core, group: &str, version: &str) -> u64 {
    // FNV-1a over the served kinds and their schemas: changes when a CRD changes.
    let mut h: u64 = 0xcbf29ce484222325;
    for r in resources_in(core, group, version) {
        let s = format!(
            "{}{}{}",
            r.plural,
            r.kind,
            r.schema.as_ref().map(Value::to_string).unwrap_or_default()
        );
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// `/openapi/v3/apis/<group>/<version>`: paths with their verbs, the `fieldValidation`
/// parameter on writes (so kubectl validates on the server), and the schemas of the built-in
/// kinds (with every definition they refer to) and of CRDs.
pub(crate) fn openapi_gv(core: &Core, group: &str, version: &str) -> Response<Body> {
    let rs = resources_in(core, group, version);
    if rs.is_empty() {
        return not_found();
    }
    let gv_prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let params = json!([
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
    ]);
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let mut builtin = Vec::new();
    for r in &rs {
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let op = |action: &str, verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "parameters": params,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}},
            })
        };
        let collection = if r.namespaced {
            format!("{gv_prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{gv_prefix}/{}", r.plural)
        };
        paths.insert(
            collection.clone(),
            json!({"get": op("list", "list"), "post": op("post", "create")}),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"get": op("get", "read"), "put": op("put", "replace"), "patch": op("patch", "patch"), "delete": op("delete", "delete")}),
        );
        if let Some(schema) = &r.schema {
            let mut s = schema.clone();
            s["x-kubernetes-group-version-kind"] = json!([gvk]);
            schemas.insert(crate::openapi::crd_def_name(r), s);
        } else if let Some(def) = crate::openapi::builtin_def(group, version, &r.kind) {
            builtin.push(def);
        }
    }
    crate::openapi::add_v3_components(&builtin, &mut schemas);
    json_response(
        StatusCode::OK,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": paths,
            "components": {"schemas": schemas},
        }),
    )
}

/// `/openapi/v2`: gnostic protobuf when the client asks for it (client-go's discovery
/// `OpenAPISchema` does), JSON otherwise; `304` when `If-None-Match` names the current ETag,
/// as k8s.io/kube-openapi/pkg/handler serves it.
pub(crate) fn openapi_v2(core: &Core, accept: &str, if_none_match: Option<&str>) -> Response<Body> {
    let doc = crate::openapi::v2(core);
    let protobuf = accept.contains(crate::openapi::V2_PROTOBUF);
    let (ct, body) = if protobuf {
        // kube-openapi's handler answers the protobuf form as an octet stream: Go's mime
        // parser refuses the `@` of the requested type.
        ("application/octet-stream", doc.protobuf.clone())
    } else {
        ("application/json", doc.json.clone())
    };
    let fresh = if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == doc.etag));
    let mut resp = if fresh {
        bytes_response(StatusCode::NOT_MODIFIED, ct, bytes::Bytes::new())
    } else {
        bytes_response(StatusCode::OK, ct, body)
    };
    if let Ok(v) = http::HeaderValue::from_str(&doc.etag) {
        resp.headers_mut().insert(http::header::ETAG, v);
    }
    resp.headers_mut()
        .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    resp
}
