//! Field validation of built-in objects: unknown fields are pruned (always, as kube-apiserver's
//! decoder drops what the Go types lack) and reported by path, and together with the duplicate
//! fields the body decoder found they are refused under `fieldValidation=Strict` or warned about
//! under `Warn` (k8s.io/apiserver/pkg/endpoints/handlers/create.go and rest.go).
//!
//! The walk runs on every write of a built-in kind, so the schemas are compiled once (on the
//! first such write) into an index of nodes with hashed field names, rather than walking JSON
//! schema values per write. Kinds without a built-in schema (CRDs, the federation's own kinds)
//! cost one hash lookup.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::context::{self, FieldValidation};
use super::duplicates::Path;
use crate::error::{ApiError, ApiResult};
use crate::resource::ResourceInfo;

/// One compiled schema node.
#[derive(Debug)]
enum Node {
    /// Anything goes (scalars, free-form objects such as `RawExtension` or `FieldsV1`).
    Any,
    /// A struct: its fields; others are unknown.
    Object(HashMap<Box<str>, usize>),
    /// A map: every value has this schema.
    Map(usize),
    /// A list: every item has this schema.
    Array(usize),
}

/// The compiled schemas of every built-in kind.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    nodes: Vec<Node>,
    by_def: HashMap<String, usize>,
    roots: HashMap<(&'static str, &'static str, &'static str), usize>,
}

impl Compiled {
    /// The compiled schemas, built on first use from [`super::definitions`].
    pub(crate) fn get() -> &'static Compiled {
        static COMPILED: OnceLock<Compiled> = OnceLock::new();
        COMPILED.get_or_init(|| {
            let defs = super::definitions();
            let mut c = Compiled::default();
            for (group, version, kind, def) in super::KINDS {
                let id = c.def_node(defs, def);
                c.roots.insert((group, version, kind), id);
            }
            c
        })
    }

    /// The root node of a built-in group/version/kind.
    fn root(&self, group: &str, version: &str, kind: &str) -> Option<usize> {
        let roots: &HashMap<(&str, &str, &str), usize> = &self.roots;
        roots.get(&(group, version, kind)).copied()
    }

    fn def_node(&mut self, defs: &serde_json::Map<String, Value>, name: &str) -> usize {
        if let Some(&id) = self.by_def.get(name) {
            return id;
        }
        // Reserve the id first: definitions refer to themselves (JSONSchemaProps).
        let id = self.nodes.len();
        self.nodes.push(Node::Any);
        self.by_def.insert(name.to_string(), id);
        let node = match defs.get(name) {
            Some(schema) => self.node_of(defs, schema),
            None => Node::Any,
        };
        self.nodes[id] = node;
        id
    }

    fn compile(&mut self, defs: &serde_json::Map<String, Value>, schema: &Value) -> usize {
        if let Some(target) = ref_target(schema) {
            return self.def_node(defs, target);
        }
        let node = self.node_of(defs, schema);
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The node of an inline schema or a definition's body (never itself a bare reference).
    fn node_of(&mut self, defs: &serde_json::Map<String, Value>, schema: &Value) -> Node {
        if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return Node::Any;
        }
        if schema.get("type").and_then(Value::as_str) == Some("array") {
            return match schema.get("items") {
                Some(items) => Node::Array(self.compile(defs, items)),
                None => Node::Any,
            };
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let fields = props
                .iter()
                .map(|(k, s)| (Box::from(k.as_str()), self.compile(defs, s)))
                .collect();
            return Node::Object(fields);
        }
        match schema.get("additionalProperties") {
            Some(add) if add.is_object() => Node::Map(self.compile(defs, add)),
            _ => Node::Any,
        }
    }

    /// Drops the fields `v` has that the schema at `id` does not, recording their paths.
    fn prune(&self, id: usize, v: &mut Value, path: &Path<'_>, unknown: &mut Vec<String>) {
        match (&self.nodes[id], v) {
            (Node::Object(fields), Value::Object(map)) => map.retain(|k, child| {
                let here = Path::Key(path, k);
                match fields.get(k.as_str()) {
                    Some(&c) => {
                        self.prune(c, child, &here, unknown);
                        true
                    }
                    None => {
                        unknown.push(here.to_string());
                        false
                    }
                }
            }),
            (Node::Map(c), Value::Object(map)) => {
                for (k, child) in map.iter_mut() {
                    self.prune(*c, child, &Path::Key(path, k), unknown);
                }
            }
            (Node::Array(c), Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.prune(*c, item, &Path::Index(path, i), unknown);
                }
            }
            _ => {}
        }
    }
}

/// The definition a `$ref` (or a one-element `allOf` of one) names.
fn ref_target(schema: &Value) -> Option<&str> {
    let r = schema.get("$ref").or_else(|| {
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 1)
            .and_then(|a| a[0].get("$ref"))
    })?;
    r.as_str()?.rsplit('/').next()
}

/// Prunes unknown fields from a built-in object or a custom resource and applies the request's `fieldValidation` to
/// them and to the duplicate fields its body had; `strict` is the write's own option (for
/// in-process callers, which have no request scope and are otherwise pruned silently).
pub(crate) fn check(res: &ResourceInfo, obj: &mut Value, strict: bool) -> ApiResult<()> {
    let mode = match (strict, context::mode()) {
        (true, _) => FieldValidation::Strict,
        (false, Some(mode)) => mode,
        // In-process writes (the federation's and the simulator's controllers) come from our
        // own typed code: they skip the walk, which keeps their hot path as it was.
        (false, None) => return Ok(()),
    };
    let mut problems: Vec<String> = context::take_duplicates()
        .into_iter()
        .map(|p| format!("duplicate field \"{p}\""))
        .collect();
    if let Some(schema) = &res.schema {
        let unknown = crate::schema::prune_unknown(obj, schema);
        problems.extend(
            unknown
                .into_iter()
                .map(|p| format!("unknown field \"{p}\"")),
        );
    } else if !res.custom && res.version == res.storage_version {
        // Objects of a kind served in a version other than the one stored are relabelled, not
        // converted, so only the storage version's schema describes them.
        let compiled = Compiled::get();
        if let Some(root) = compiled.root(&res.group, &res.version, &res.kind) {
            let mut unknown = Vec::new();
            compiled.prune(root, obj, &Path::Root, &mut unknown);
            problems.extend(
                unknown
                    .into_iter()
                    .map(|p| format!("unknown field \"{p}\"")),
            );
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    match mode {
        FieldValidation::Strict => Err(ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            problems.join(", "),
            kind = res.kind,
            version = res.version,
        ))),
        FieldValidation::Warn => {
            problems.into_iter().for_each(context::warn);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_unknown_fields_of_a_deployment_by_path() {
        let c = Compiled::get();
        let root = c
            .root("apps", "v1", "Deployment")
            .expect("Deployment is built in");
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "junk": 1,
            "metadata": {"name": "d", "labels": {"any": "x"}, "managedFields": [{"fieldsV1": {"f:spec": {}}}]},
            "spec": {"replica": 2, "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                    {"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPortt": 1}],
                     "resources": {"limits": {"cpu": "1"}}}]}}},
        });
        let mut unknown = Vec::new();
        c.prune(root, &mut d, &Path::Root, &mut unknown);
        unknown.sort();
        assert_eq!(
            unknown,
            vec![
                "junk",
                "spec.replica",
                "spec.template.spec.containers[0].ports[0].hostPortt"
            ]
        );
        assert!(d["spec"].get("replica").is_none());
        assert_eq!(d["metadata"]["labels"]["any"], "x");
        assert_eq!(
            d["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"],
            json!({})
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "1"
        );
    }

    #[test]
    fn kinds_without_a_builtin_schema_are_not_compiled() {
        assert!(
            Compiled::get()
                .root("work.karmada.io", "v1alpha1", "Work")
                .is_none()
        );
    }
}
