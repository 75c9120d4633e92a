//! The federation's API definitions: Karmada's kinds as `apiextensions.k8s.io/v1`
//! CustomResourceDefinitions (group, version, kind, plural, short names, scope, categories,
//! printer columns, status subresource and a structural `openAPIV3Schema` with Karmada's field
//! names, types, enums, defaults and required lists), plus the schema defaulting kube-apiserver
//! performs for them.
//!
//! The schemas live as JSON under `crds/`. The policy and work kinds were derived from
//! Karmada's own CRD bases (`charts/karmada/_crds/bases/{policy,work}`) with descriptions
//! dropped and only the storage version kept (ResourceBinding / ClusterResourceBinding serve
//! `v1alpha2` only; Karmada's `v1alpha1` needs a conversion webhook). `Cluster` is served by an
//! aggregated API server in Karmada, so its CRD was written from `pkg/apis/cluster/v1alpha1`
//! types and the columns of `pkg/printers/internalversion/printers.go`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The embedded CRDs, in registration order.
const SOURCES: &[&str] = &[
    include_str!("../crds/clusters.cluster.karmada.io.json"),
    include_str!("../crds/propagationpolicies.policy.karmada.io.json"),
    include_str!("../crds/clusterpropagationpolicies.policy.karmada.io.json"),
    include_str!("../crds/overridepolicies.policy.karmada.io.json"),
    include_str!("../crds/clusteroverridepolicies.policy.karmada.io.json"),
    include_str!("../crds/resourcebindings.work.karmada.io.json"),
    include_str!("../crds/clusterresourcebindings.work.karmada.io.json"),
    include_str!("../crds/works.work.karmada.io.json"),
    include_str!("../crds/workloadrebalancers.apps.karmada.io.json"),
];

fn parsed() -> &'static [Value] {
    static CRDS: OnceLock<Vec<Value>> = OnceLock::new();
    CRDS.get_or_init(|| {
        SOURCES
            .iter()
            // The sources are constants checked by the tests, so none is ever skipped.
            .filter_map(|src| serde_json::from_str(src).ok())
            .collect()
    })
}

/// The CustomResourceDefinitions of Karmada's kinds: `cluster.karmada.io/v1alpha1` Cluster,
/// `policy.karmada.io/v1alpha1` PropagationPolicy (`pp`), ClusterPropagationPolicy (`cpp`),
/// OverridePolicy (`op`), ClusterOverridePolicy (`cop`), `work.karmada.io/v1alpha2`
/// ResourceBinding (`rb`), ClusterResourceBinding (`crb`) and `work.karmada.io/v1alpha1`
/// Work (`wk`), and `apps.karmada.io/v1alpha1` WorkloadRebalancer (written from Karmada's
/// `pkg/apis/apps/v1alpha1/workloadrebalancer_types.go`).
pub fn crds() -> Vec<Value> {
    parsed().to_vec()
}

/// The CRD serving a kind of the federation's groups.
pub fn crd_for(api_version: &str, kind: &str) -> Option<&'static Value> {
    let (group, version) = api_version.split_once('/')?;
    parsed().iter().find(|crd| {
        crd.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && crd.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind)
            && served_version(crd, version).is_some()
    })
}

fn served_version<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
}

/// The `openAPIV3Schema` of a kind of the federation's groups.
///
/// Looked up in a table built once: defaulting asks on every write of the federation's kinds,
/// and searching the CRDs by JSON pointer each time cost 1.5% of the federation's CPU under
/// the 3,000 x 10 benchmark.
pub fn schema_for(api_version: &str, kind: &str) -> Option<&'static Value> {
    // Per kind: (group, version, schema) of each served version.
    type Table = HashMap<&'static str, Vec<(&'static str, &'static str, &'static Value)>>;
    static SCHEMAS: OnceLock<Table> = OnceLock::new();
    let table = SCHEMAS.get_or_init(|| {
        let mut t = Table::new();
        for crd in parsed() {
            let group = crd.pointer("/spec/group").and_then(Value::as_str);
            let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str);
            let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
            let (Some(group), Some(kind), Some(versions)) = (group, kind, versions) else {
                continue;
            };
            for v in versions {
                let name = v.get("name").and_then(Value::as_str);
                let schema = v.pointer("/schema/openAPIV3Schema");
                if let (Some(name), Some(schema)) = (name, schema) {
                    t.entry(kind).or_default().push((group, name, schema));
                }
            }
        }
        t
    });
    let (group, version) = api_version.split_once('/')?;
    table
        .get(kind)?
        .iter()
        .find(|(g, v, _)| *g == group && *v == version)
        .map(|(_, _, schema)| *schema)
}

/// Fills the `default`s of a structural schema into an object, as kube-apiserver does when it
/// reads a custom resource: a property that is absent (or `null`) takes its default, and
/// defaulting descends into present objects, array items and additional properties.
pub fn apply_schema_defaults(obj: &mut Value, schema: &Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, sub) in props {
                    let absent = map.get(key).is_none_or(Value::is_null);
                    if absent && let Some(default) = sub.get("default") {
                        map.insert(key.clone(), default.clone());
                    }
                    if let Some(child) = map.get_mut(key) {
                        apply_schema_defaults(child, sub);
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    apply_schema_defaults(child, add);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_schema_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// [`apply_schema_defaults`] with the schema of the object's own kind; `false` when the kind is
/// not one of the federation's.
pub fn default_object(obj: &mut Value) -> bool {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    match schema_for(api_version, kind) {
        Some(schema) => {
            apply_schema_defaults(obj, schema);
            true
        }
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
