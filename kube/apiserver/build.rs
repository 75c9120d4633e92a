//! Generates the OpenAPI definitions of the built-in kinds from k8s-openapi's schemars derives
//! (which carry upstream's descriptions), adds the extensions kubectl relies on that the derives
//! lose (`x-kubernetes-group-version-kind`, and the strategic-merge patch strategies and list-map
//! keys this workspace's patch crate already knows), and writes them deflated into `OUT_DIR` for
//! `src/openapi` to inflate on the first request that needs them.
//!
//! Output: `builtin-openapi.json.z` (`{"definitions": {...}}`, refs as `#/definitions/NAME`) and
//! `builtin-kinds.rs` (a static table of group, version, kind and definition name, read without
//! inflating anything).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use k8s_openapi::Resource;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// One root kind: its group/version/kind and definition name.
struct Root {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    def: String,
}

macro_rules! roots {
    ($generator:expr, $($ty:path),* $(,)?) => {{
        let mut roots = Vec::new();
        $(
            $generator.subschema_for::<$ty>();
            roots.push(Root {
                group: <$ty as Resource>::GROUP,
                version: <$ty as Resource>::VERSION,
                kind: <$ty as Resource>::KIND,
                def: <$ty as JsonSchema>::schema_name().into_owned(),
            });
        )*
        roots
    }};
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/definitions".into();
            s.meta_schema = None;
        })
        .into_generator();
    use k8s_openapi::api;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions as apiext;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
    // Every kind a 1.32 kube-apiserver serves at a GA version; the server publishes those its
    // registry holds, so kinds added later need no change here.
    let roots = roots!(
        generator,
        api::core::v1::Binding,
        api::core::v1::ComponentStatus,
        api::core::v1::ConfigMap,
        api::core::v1::Endpoints,
        api::core::v1::Event,
        api::core::v1::LimitRange,
        api::core::v1::Namespace,
        api::core::v1::Node,
        api::core::v1::PersistentVolume,
        api::core::v1::PersistentVolumeClaim,
        api::core::v1::Pod,
        api::core::v1::PodTemplate,
        api::core::v1::ReplicationController,
        api::core::v1::ResourceQuota,
        api::core::v1::Secret,
        api::core::v1::Service,
        api::core::v1::ServiceAccount,
        api::admissionregistration::v1::MutatingWebhookConfiguration,
        api::admissionregistration::v1::ValidatingAdmissionPolicy,
        api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        api::admissionregistration::v1::ValidatingWebhookConfiguration,
        apiext::v1::CustomResourceDefinition,
        apiregistration::v1::APIService,
        api::apps::v1::ControllerRevision,
        api::apps::v1::DaemonSet,
        api::apps::v1::Deployment,
        api::apps::v1::ReplicaSet,
        api::apps::v1::StatefulSet,
        api::authentication::v1::SelfSubjectReview,
        api::authentication::v1::TokenRequest,
        api::authentication::v1::TokenReview,
        api::authorization::v1::LocalSubjectAccessReview,
        api::authorization::v1::SelfSubjectAccessReview,
        api::authorization::v1::SelfSubjectRulesReview,
        api::authorization::v1::SubjectAccessReview,
        api::autoscaling::v1::HorizontalPodAutoscaler,
        api::autoscaling::v1::Scale,
        api::autoscaling::v2::HorizontalPodAutoscaler,
        api::batch::v1::CronJob,
        api::batch::v1::Job,
        api::certificates::v1::CertificateSigningRequest,
        api::coordination::v1::Lease,
        api::discovery::v1::EndpointSlice,
        api::events::v1::Event,
        api::flowcontrol::v1::FlowSchema,
        api::flowcontrol::v1::PriorityLevelConfiguration,
        api::networking::v1::Ingress,
        api::networking::v1::IngressClass,
        api::networking::v1::NetworkPolicy,
        api::node::v1::RuntimeClass,
        api::policy::v1::Eviction,
        api::policy::v1::PodDisruptionBudget,
        api::rbac::v1::ClusterRole,
        api::rbac::v1::ClusterRoleBinding,
        api::rbac::v1::Role,
        api::rbac::v1::RoleBinding,
        api::scheduling::v1::PriorityClass,
        api::storage::v1::CSIDriver,
        api::storage::v1::CSINode,
        api::storage::v1::CSIStorageCapacity,
        api::storage::v1::StorageClass,
        api::storage::v1::VolumeAttachment,
    );
    let mut defs: Map<String, Value> = generator.take_definitions(false).into_iter().collect();
    for d in defs.values_mut() {
        upstream_forms(d);
    }
    let mut gvks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in &roots {
        gvks.entry(r.def.clone())
            .or_default()
            .push(json!({"group": r.group, "version": r.version, "kind": r.kind}));
    }
    for (def, list) in gvks {
        if let Some(d) = defs.get_mut(&def).and_then(Value::as_object_mut) {
            d.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
        }
    }
    let mut seen = HashSet::new();
    for r in &roots {
        annotate(&mut defs, &r.def, &mut Vec::new(), &mut seen);
    }

    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let json = serde_json::to_vec(&json!({"definitions": defs})).expect("definitions serialize");
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&json).expect("deflate to memory");
    let z = z.finish().expect("deflate to memory");
    std::fs::write(Path::new(&out).join("builtin-openapi.json.z"), z).expect("write OUT_DIR");
    let mut kinds = String::from(
        "/// Group, version, kind and definition name of every built-in kind with a schema.\n\
         pub(crate) static KINDS: &[(&str, &str, &str, &str)] = &[\n",
    );
    for r in &roots {
        kinds.push_str(&format!(
            "    ({:?}, {:?}, {:?}, {:?}),\n",
            r.group, r.version, r.kind, r.def
        ));
    }
    kinds.push_str("];\n");
    std::fs::write(Path::new(&out).join("builtin-kinds.rs"), kinds).expect("write OUT_DIR");
}

/// The forms upstream's swagger uses where k8s-openapi's derives differ: int-or-string and
/// quantities are strings with a format (kubectl's validators key on it).
fn upstream_forms(d: &mut Value) {
    let Some(o) = d.as_object_mut() else {
        return;
    };
    if o.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) && !o.contains_key("type") {
        o.insert("type".into(), json!("string"));
        if o.get("description")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with("IntOrString"))
        {
            o.insert("format".into(), json!("int-or-string"));
        }
        o.remove("x-kubernetes-int-or-string");
    }
}

/// Adds `x-kubernetes-patch-strategy`/`-merge-key` and `x-kubernetes-list-type`/`-map-keys` on
/// list fields that `cceone_kube_patch::keys` knows, walking each definition once from the first
/// root that reaches it (its table is keyed on field paths, unambiguous for the built-in kinds).
fn annotate(
    defs: &mut Map<String, Value>,
    def: &str,
    path: &mut Vec<String>,
    seen: &mut HashSet<String>,
) {
    if !seen.insert(def.to_string()) {
        return;
    }
    let Some(props) = defs
        .get(def)
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    for (name, prop) in props {
        path.push(name.clone());
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let mut ext = Map::new();
        if prop.get("type") == Some(&json!("array")) {
            if let Some(keys) = cceone_kube_patch::keys::list_map_keys(&refs) {
                ext.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                ext.insert("x-kubernetes-patch-merge-key".into(), json!(keys[0]));
                ext.insert("x-kubernetes-list-type".into(), json!("map"));
                ext.insert("x-kubernetes-list-map-keys".into(), json!(keys));
            } else if cceone_kube_patch::keys::is_merged_primitive_list(&refs) {
                ext.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                ext.insert("x-kubernetes-list-type".into(), json!("set"));
            }
        }
        if !ext.is_empty()
            && let Some(p) = defs
                .get_mut(def)
                .and_then(|d| d.get_mut("properties"))
                .and_then(|p| p.get_mut(&name))
                .and_then(Value::as_object_mut)
        {
            p.extend(ext);
        }
        let target = prop
            .get("$ref")
            .or_else(|| prop.get("items").and_then(|i| i.get("$ref")))
            .or_else(|| prop.get("additionalProperties").and_then(|i| i.get("$ref")))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"));
        if let Some(target) = target {
            annotate(defs, target, path, seen);
        }
        path.pop();
    }
}
