//! The hub's own identity in the federation API and the least it may do there (issue 9, least
//! privilege): the user [`USER`], bound by ClusterRole and ClusterRoleBinding [`USER`] and by
//! Role and RoleBinding [`USER`] in [`SYSTEM_NAMESPACE`], the way kube-apiserver's bootstrap
//! policy gives `system:kube-controller-manager` its own roles
//! (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) instead of `system:masters`.
//!
//! Every rule is one the hub's code needs:
//! - RegisteredClusters: list and watch (the cluster cache), and their status read and patched
//!   (phase, operations, heartbeats, certificate serials).
//! - Works: list and watch in every namespace (the relay), their status patched, and patched to
//!   take off the execution finalizer once the member confirms a deleted Work's removal.
//! - The platform CRDs, by name: read and server-side applied (kept current, as `cceonectl` does).
//! - Namespace `cceone-system`, by name: read.
//! - In `cceone-system`: Secrets read, listed, watched and updated (bootstrap tokens are read by
//!   name and claimed with an update; proxy kubeconfig tokens are watched by label: RBAC cannot
//!   narrow a list or watch by label, nor an update to names not known in advance), and the
//!   hub-info ConfigMap applied by name; Secrets created (the first hub of several publishes the
//!   shared CA, `cceone-hub-ca`: RBAC cannot narrow a create by name); Leases read, listed,
//!   watched, created, applied and deleted (each hub's own `cceone-hub-<id>`, which tells the
//!   others it is alive and where to forward proxied requests).
//!
//! Everything else, Deployments and other workload templates, Secrets of other namespaces,
//! RBAC, impersonation, is refused by the federation's RBAC.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use cceone_platform::SYSTEM_NAMESPACE;

/// The hub's user name, and the name of its roles and bindings.
pub const USER: &str = "system:cceone:hub";

const RBAC: &str = "rbac.authorization.k8s.io";
const MANAGER: &str = "cceone-hub-rbac";

fn labels() -> Value {
    json!({"app.kubernetes.io/part-of": "cceone", "app.kubernetes.io/component": "hub"})
}

fn binding(kind: &str, role_kind: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({"name": USER, "labels": labels()});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    json!({"apiVersion": format!("{RBAC}/v1"), "kind": kind, "metadata": meta,
           "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": USER},
           "subjects": [{"apiGroup": RBAC, "kind": "User", "name": USER}]})
}

/// The objects that give [`USER`] what the hub needs, in the order to apply them: the system
/// namespace (the Role lives there), the ClusterRole and its binding, the Role and its binding.
pub fn objects() -> Vec<Value> {
    let group = cceone_platform::GROUP;
    let crds = [
        cceone_platform::CRD_NAME,
        cceone_platform::fleet::CRD_NAME,
        cceone_platform::usage::CRD_NAME,
        cceone_platform::grant::CRD_NAME,
    ];
    let cluster_rules = json!([
        {"apiGroups": [group], "resources": ["registeredclusters"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [group], "resources": ["registeredclusters/status"],
         "verbs": ["get", "patch", "update"]},
        {"apiGroups": ["work.karmada.io"], "resources": ["works"],
         "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["work.karmada.io"], "resources": ["works/status"],
         "verbs": ["patch", "update"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "resourceNames": crds, "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [SYSTEM_NAMESPACE],
         "verbs": ["get"]},
    ]);
    let namespace_rules = json!([
        {"apiGroups": [""], "resources": ["secrets"],
         "verbs": ["get", "list", "watch", "update", "create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
        {"apiGroups": [""], "resources": ["configmaps"],
         "resourceNames": [cceone_platform::hubinfo::CONFIGMAP_NAME], "verbs": ["get", "patch"]},
    ]);
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": SYSTEM_NAMESPACE,
                            "labels": {"app.kubernetes.io/part-of": "cceone"}}}),
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
               "metadata": {"name": USER, "labels": labels()}, "rules": cluster_rules}),
        binding("ClusterRoleBinding", "ClusterRole", None),
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "Role",
               "metadata": {"name": USER, "namespace": SYSTEM_NAMESPACE, "labels": labels()},
               "rules": namespace_rules}),
        binding("RoleBinding", "Role", Some(SYSTEM_NAMESPACE)),
    ]
}

/// [`objects`] as one `v1` `List`, for `kubectl apply -f -` (`cceone-hub --print-federation-rbac`).
pub fn list() -> Value {
    json!({"apiVersion": "v1", "kind": "List", "items": objects()})
}

/// Apply [`objects`] with server-side apply, as an administrator of the federation API
/// (`cceone up` does before it starts the hub with the identity).
pub async fn apply(admin: &kube::Client) -> Result<(), kube::Error> {
    let params = PatchParams::apply(MANAGER).force();
    for obj in objects() {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let patch = Patch::Apply(&obj);
        match obj["kind"].as_str() {
            Some("Namespace") => {
                Api::<Namespace>::all(admin.clone())
                    .patch(name, &params, &patch)
                    .await?;
            }
            Some("ClusterRole") => {
                Api::<ClusterRole>::all(admin.clone())
                    .patch(name, &params, &patch)
                    .await?;
            }
            Some("ClusterRoleBinding") => {
                Api::<ClusterRoleBinding>::all(admin.clone())
                    .patch(name, &params, &patch)
                    .await?;
            }
            Some("Role") => {
                Api::<Role>::namespaced(admin.clone(), SYSTEM_NAMESPACE)
                    .patch(name, &params, &patch)
                    .await?;
            }
            _ => {
                Api::<RoleBinding>::namespaced(admin.clone(), SYSTEM_NAMESPACE)
                    .patch(name, &params, &patch)
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_may_not_write_templates_rbac_or_impersonate() {
        let all = serde_json::to_string(&objects()).unwrap();
        for word in ["\"*\"", "impersonate", "escalate", "bind"] {
            assert!(!all.contains(word), "the hub's roles grant {word}: {all}");
        }
        // Nothing is created or deleted cluster-wide; in the system namespace only the shared
        // CA's Secret is created, and only the hubs' own Leases are created and deleted.
        let cluster_role = serde_json::to_string(&objects()[1]).unwrap();
        for word in ["delete", "create"] {
            assert!(!cluster_role.contains(word), "{word}: {cluster_role}");
        }
        for rule in objects()[3]["rules"].as_array().unwrap() {
            let verbs = rule["verbs"].to_string();
            let resources = rule["resources"].to_string();
            if verbs.contains("create") {
                assert!(
                    resources == r#"["secrets"]"# || resources == r#"["leases"]"#,
                    "{rule}"
                );
            }
            if verbs.contains("delete") {
                assert_eq!(resources, r#"["leases"]"#, "{rule}");
            }
        }
        let l = list();
        assert_eq!(l["items"].as_array().unwrap().len(), 5);
        // Secrets only in the system namespace, through the Role.
        let cluster_role = &objects()[1];
        assert!(!cluster_role.to_string().contains("secrets"));
    }
}
