//! The platform's own roles on the platform API (seed `003_*` §4.5.1), as ClusterRoles in the
//! federation API: `ccseone-admin` may do everything with registered clusters and the Karmada
//! objects; `ccseone-user` reads and writes, but neither registers nor unsubscribes clusters
//! (RegisteredClusters are read-only to it); `ccseone-viewer` only reads. Bind a person to
//! one with a ClusterRoleBinding (`kubectl create clusterrolebinding ... --clusterrole=...`).

use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::{GROUP, PlatformError};

/// Everything on the platform API.
pub const ADMIN: &str = "ccseone-admin";
/// Read-write, without registering or unsubscribing clusters.
pub const USER: &str = "ccseone-user";
/// Read-only.
pub const VIEWER: &str = "ccseone-viewer";

const KARMADA: [&str; 3] = ["cluster.karmada.io", "policy.karmada.io", "work.karmada.io"];
const READ: [&str; 3] = ["get", "list", "watch"];

fn role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": name, "labels": {"cceone.io/platform-role": "true"}},
           "rules": rules})
}

/// The three roles (pure).
pub fn cluster_roles() -> Vec<Value> {
    let all_groups: Vec<&str> = std::iter::once(GROUP).chain(KARMADA).collect();
    vec![
        role(
            ADMIN,
            json!([{"apiGroups": all_groups, "resources": ["*"], "verbs": ["*"]}]),
        ),
        role(
            USER,
            json!([
                {"apiGroups": [GROUP], "resources": ["*"], "verbs": READ},
                {"apiGroups": ["policy.karmada.io"], "resources": ["*"], "verbs": ["*"]},
                {"apiGroups": ["cluster.karmada.io", "work.karmada.io"], "resources": ["*"],
                 "verbs": READ},
            ]),
        ),
        role(
            VIEWER,
            json!([{"apiGroups": all_groups, "resources": ["*"], "verbs": READ}]),
        ),
    ]
}

/// Apply the roles (server-side apply, so an upgrade brings them up to date).
pub async fn ensure_roles(client: &kube::Client, manager: &str) -> Result<(), PlatformError> {
    let api: Api<ClusterRole> = Api::all(client.clone());
    let params = PatchParams::apply(manager).force();
    for r in cluster_roles() {
        let name = r["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        api.patch(&name, &params, &Patch::Apply(&r))
            .await
            .map_err(|e| PlatformError::api(format!("applying ClusterRole {name}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn users_cannot_write_registered_clusters_and_viewers_cannot_write_at_all() {
        let roles: Vec<ClusterRole> = cluster_roles()
            .into_iter()
            .map(|r| serde_json::from_value(r).unwrap())
            .collect();
        let may = |role: &ClusterRole, verb: &str, group: &str| {
            role.rules.iter().flatten().any(|r| {
                r.verbs.iter().any(|v| v == verb || v == "*")
                    && r.api_groups.iter().flatten().any(|g| g == group)
            })
        };
        let [admin, user, viewer] = [&roles[0], &roles[1], &roles[2]];
        assert!(may(admin, "create", GROUP) && may(admin, "delete", "work.karmada.io"));
        assert!(
            may(user, "list", GROUP) && !may(user, "create", GROUP) && !may(user, "update", GROUP)
        );
        assert!(may(user, "create", "policy.karmada.io"));
        for verb in ["create", "update", "patch", "delete"] {
            for group in std::iter::once(GROUP).chain(KARMADA) {
                assert!(!may(viewer, verb, group), "{verb} {group}");
            }
        }
    }
}
