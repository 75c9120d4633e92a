//! The `/openapi/v2` document (JSON, or gnostic protobuf as client-go asks for) and the built-in
//! component schemas of the `/openapi/v3` group-version documents, as kube-apiserver publishes
//! them (k8s.io/kube-openapi/pkg/handler and handler3): every served kind's paths with the
//! `fieldValidation` parameter and `x-kubernetes-group-version-kind`, the built-in definitions,
//! and each CRD version's schema.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::core::Core;
use crate::resource::ResourceInfo;

/// The media type of gnostic's protobuf `openapi.v2.Document`.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// One rendering of `/openapi/v2`, kept until the served kinds change.
#[derive(Debug)]
pub struct V2 {
    /// Fingerprint of the served kinds and their schemas; the ETag.
    pub etag: String,
    /// The JSON document.
    pub json: Bytes,
    /// The gnostic protobuf document.
    pub protobuf: Bytes,
}

/// `/openapi/v2`, rendered again only when a CRD (or any served kind) changed.
pub fn v2(core: &Core) -> Arc<V2> {
    static CACHE: Mutex<Option<Arc<V2>>> = Mutex::new(None);
    let resources = core.registry.all();
    let etag = format!("\"{:016X}\"", fingerprint(&resources));
    if let Some(cached) = CACHE.lock().as_ref().filter(|c| c.etag == etag) {
        return cached.clone();
    }
    let doc = v2_document(&resources);
    let rendered = Arc::new(V2 {
        etag,
        json: Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
        protobuf: Bytes::from(super::gnostic::encode(&doc)),
    });
    *CACHE.lock() = Some(rendered.clone());
    rendered
}

/// FNV-1a over every served kind and its CRD schema.
fn fingerprint(resources: &[Arc<ResourceInfo>]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for r in resources {
        let s = format!(
            "{}/{}/{}/{}/{}",
            r.group,
            r.version,
            r.kind,
            r.plural,
            r.schema.as_ref().map(Value::to_string).unwrap_or_default()
        );
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// The swagger 2.0 document of everything served.
fn v2_document(resources: &[Arc<ResourceInfo>]) -> Value {
    let mut paths = Map::new();
    let mut definitions = super::definitions().clone();
    for r in resources {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let body_ref = match builtin_or_crd_def(r) {
            Some(name) => json!({"$ref": format!("#/definitions/{name}")}),
            None => json!({"type": "object"}),
        };
        let query = |name: &str| json!({"name": name, "in": "query", "type": "string", "uniqueItems": true});
        let body = json!({"name": "body", "in": "body", "required": true, "schema": body_ref});
        let op = |action: &str, verb: &str, write: bool| {
            let mut params = vec![query("pretty")];
            if write {
                params.extend([
                    body.clone(),
                    query("dryRun"),
                    query("fieldManager"),
                    query("fieldValidation"),
                ]);
            }
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "consumes": ["*/*"],
                "produces": ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
                "schemes": ["https"],
                "parameters": params,
                "responses": {"200": {"description": "OK", "schema": body_ref}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let collection = collection_path(r);
        paths.insert(
            collection.clone(),
            json!({"get": op("list", "list", false), "post": op("post", "create", true)}),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": op("get", "read", false),
                "put": op("put", "replace", true),
                "patch": op("patch", "patch", true),
                "delete": op("delete", "delete", false),
                "parameters": [{"name": "name", "in": "path", "required": true, "type": "string", "uniqueItems": true}],
            }),
        );
        if let Some(schema) = &r.schema {
            let mut s = v2_schema(schema);
            s["x-kubernetes-group-version-kind"] = json!([gvk]);
            definitions.insert(crd_def_name(r), s);
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "definitions": definitions,
    })
}

fn collection_path(r: &ResourceInfo) -> String {
    let prefix = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    }
}

/// The definition name of a served kind: its built-in one, or its CRD's.
fn builtin_or_crd_def(r: &ResourceInfo) -> Option<String> {
    if r.schema.is_some() {
        return Some(crd_def_name(r));
    }
    super::builtin_def(&r.group, &r.version, &r.kind).map(String::from)
}

/// A CRD version's definition name, upstream's reversed-group form
/// (`com.example.v1.Widget`).
pub(crate) fn crd_def_name(r: &ResourceInfo) -> String {
    let mut parts: Vec<&str> = r.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), r.version, r.kind)
}

/// A CRD's structural schema in the form kube-apiserver publishes in v2: what swagger 2.0
/// cannot say (`nullable`, `oneOf`, `anyOf`, `not`, and types lists) left out
/// (k8s.io/apiextensions-apiserver/pkg/controller/openapi/v2 ToStructuralOpenAPIV2).
fn v2_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "nullable" | "oneOf" | "anyOf" | "not"))
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "properties" | "patternProperties" | "definitions" => match v {
                            Value::Object(ps) => Value::Object(
                                ps.iter().map(|(n, s)| (n.clone(), v2_schema(s))).collect(),
                            ),
                            other => other.clone(),
                        },
                        "items" | "additionalProperties" => v2_schema(v),
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Adds to `schemas` the built-in definitions `roots` and everything they refer to, in the v3
/// form: refs under `#/components/schemas/`, and a ref with siblings wrapped in `allOf` (in
/// OpenAPI 3.0 siblings of `$ref` are ignored), as kube-apiserver's v3 documents have them.
pub(crate) fn add_v3_components(roots: &[&str], schemas: &mut Map<String, Value>) {
    let defs = super::definitions();
    let mut todo: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = defs.get(&name) else {
            continue;
        };
        let mut refs = Vec::new();
        let mut schema = v3_schema(def, &mut refs);
        if let Some(one_of) = v3_one_of(&name) {
            // kube-openapi's v3 form of these (their `OpenAPIV3OneOfTypes`): no `type`, so
            // kubectl explain names them by their definition (`<IntOrString>`).
            if let Some(m) = schema.as_object_mut() {
                m.remove("type");
                m.insert("oneOf".into(), one_of);
            }
        }
        schemas.insert(name, schema);
        todo.extend(refs);
    }
}

/// The `oneOf` of the built-in scalar types that take two JSON forms
/// (k8s.io/apimachinery intstr.IntOrString and resource.Quantity `OpenAPIV3OneOfTypes`).
fn v3_one_of(name: &str) -> Option<Value> {
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            Some(json!([{"type": "integer"}, {"type": "string"}]))
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            Some(json!([{"type": "string"}, {"type": "number"}]))
        }
        _ => None,
    }
}

fn v3_schema(v: &Value, refs: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(target) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/definitions/"))
            {
                refs.push(target.to_string());
                let r = json!({"$ref": format!("#/components/schemas/{target}")});
                if m.len() == 1 {
                    return r;
                }
                let mut out: Map<String, Value> = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "$ref")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                out.insert("allOf".into(), json!([r]));
                return Value::Object(out);
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v3_schema(v, refs)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| v3_schema(i, refs)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn v3_components_wrap_refs_with_siblings_and_follow_them() {
        let mut schemas = Map::new();
        add_v3_components(&["io.k8s.api.apps.v1.Deployment"], &mut schemas);
        let d = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            d["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(d["properties"]["spec"]["description"].is_string());
        assert_eq!(
            d["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        let strategy = &schemas["io.k8s.api.apps.v1.DeploymentStrategy"];
        assert!(
            strategy["description"]
                .as_str()
                .unwrap()
                .contains("how to replace existing pods")
        );
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }

    #[test]
    fn crd_schemas_lose_what_swagger_2_cannot_say() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "nullable": true,
            "properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true}}}}});
        let v2 = v2_schema(&s);
        assert!(v2["properties"]["spec"].get("nullable").is_none());
        assert!(
            v2["properties"]["spec"]["properties"]["a"]
                .get("anyOf")
                .is_none()
        );
        assert_eq!(
            v2["properties"]["spec"]["properties"]["a"]["x-kubernetes-int-or-string"],
            true
        );
    }
}
