//! Discovery (`/version`, `/api`, `/apis`, group and group-version documents) and the OpenAPI v3
//! documents `kubectl` reads to decide on server-side field validation.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::util::{Body, error_response, json_response};
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
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        list.push(e);
        if r.has_status {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.scale.is_some() {
            list.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
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
/// parameter on writes (so kubectl validates on the server), and CRD schemas.
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
            let name = format!("{}.{}.{}", reverse_domain(group), version, r.kind);
            schemas.insert(name, s);
        }
    }
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

fn reverse_domain(group: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.join(".")
}
