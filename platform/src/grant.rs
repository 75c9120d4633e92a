//! Grants (issue 10 item 3, seed `003_*` §4.3 and §4.5): a `Grant` binds a user to one of the
//! four preset member-cluster roles — administrator, operations, developer, restricted — on
//! named clusters or on a fleet, in all namespaces or some. What a grant means inside a member
//! is plain Kubernetes RBAC, rendered here (pure) and delivered by the federation as a Work
//! through the tunnel: the preset roles as ClusterRoles and one binding per grant (a
//! ClusterRoleBinding for all namespaces, else a RoleBinding in each). A cluster in a fleet
//! gets the fleet's grants instead of its own; it gets its own back when it leaves the fleet.

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crd::{column, string};
use crate::{GROUP, VERSION};

/// The kind of a grant.
pub const KIND: &str = "Grant";
/// Its plural resource name.
pub const PLURAL: &str = "grants";
/// The CRD's name.
pub const CRD_NAME: &str = "grants.platform.cceone.io";
/// The name of the Work (in a cluster's execution space) that carries its grants.
pub const ACCESS_WORK: &str = "cceone-access";
/// Prefix of the preset roles' ClusterRoles in a member.
pub const ROLE_PREFIX: &str = "cceone:";

/// A preset role inside member clusters (seed §4.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-write on every object.
    Administrator,
    /// Read-write on namespaced workload objects, read-only on the rest.
    Operations,
    /// Read-write on the namespaced objects a console shows.
    Developer,
    /// Read-only on those.
    Restricted,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::Operations,
        Role::Developer,
        Role::Restricted,
    ];

    /// The name used in `spec.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Operations => "operations",
            Role::Developer => "developer",
            Role::Restricted => "restricted",
        }
    }

    /// Parse a `spec.role`.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The ClusterRole's name in the member.
    pub fn cluster_role(self) -> String {
        format!("{ROLE_PREFIX}{}", self.as_str())
    }

    fn rules(self) -> Value {
        let read = json!(["get", "list", "watch"]);
        let write = json!([
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection"
        ]);
        let console = console_resources();
        match self {
            Role::Administrator => json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
            Role::Operations => {
                let mut rules =
                    vec![json!({"apiGroups": ["*"], "resources": ["*"], "verbs": read})];
                rules.extend(
                    console
                        .iter()
                        .map(|(g, rs)| json!({"apiGroups": [g], "resources": rs, "verbs": write})),
                );
                Value::Array(rules)
            }
            Role::Developer => Value::Array(
                console
                    .iter()
                    .map(|(g, rs)| json!({"apiGroups": [g], "resources": rs, "verbs": write}))
                    .collect(),
            ),
            Role::Restricted => Value::Array(
                console
                    .iter()
                    .map(|(g, rs)| json!({"apiGroups": [g], "resources": rs, "verbs": read}))
                    .collect(),
            ),
        }
    }

    /// The role's ClusterRole in a member.
    pub fn cluster_role_object(self) -> Value {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": self.cluster_role(),
                "labels": {"app.kubernetes.io/part-of": "cceone"}},
            "rules": self.rules(),
        })
    }
}

/// The namespaced objects a console shows, by API group.
fn console_resources() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "",
            vec![
                "pods",
                "pods/log",
                "pods/exec",
                "services",
                "endpoints",
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
                "serviceaccounts",
                "events",
            ],
        ),
        (
            "apps",
            vec![
                "deployments",
                "deployments/scale",
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "replicasets",
            ],
        ),
        ("batch", vec!["jobs", "cronjobs"]),
        ("networking.k8s.io", vec!["ingresses", "networkpolicies"]),
        ("autoscaling", vec!["horizontalpodautoscalers"]),
    ]
}

/// The `spec` of a Grant, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantSpec {
    /// The user granted.
    pub user: String,
    /// The role.
    pub role: Role,
    /// The clusters it applies to (when not a fleet's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// The fleet it applies to: every member cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<String>,
    /// The namespaces; none means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

impl GrantSpec {
    /// The spec of a Grant object.
    pub fn of(obj: &Value) -> Option<GrantSpec> {
        serde_json::from_value(obj.get("spec")?.clone()).ok()
    }
}

/// Whether a grant applies to cluster `name`, which is in `fleet` (if any): a cluster in a
/// fleet follows the fleet's grants only; a cluster in none follows the grants naming it.
pub fn applies(grant: &GrantSpec, cluster: &str, fleet: Option<&str>) -> bool {
    match fleet {
        Some(f) => grant.fleet.as_deref() == Some(f),
        None => grant.fleet.is_none() && grant.clusters.iter().any(|c| c == cluster),
    }
}

/// The RBAC objects a member holds for its grants (name → spec), or none at all when it has
/// no grant: the ClusterRoles of the roles used, and per grant a ClusterRoleBinding (all
/// namespaces) or a RoleBinding in each namespace, named after the grant.
pub fn member_rbac(grants: &BTreeMap<String, GrantSpec>) -> Vec<Value> {
    let mut roles: Vec<Role> = grants.values().map(|g| g.role).collect();
    roles.sort();
    roles.dedup();
    let mut out: Vec<Value> = roles.into_iter().map(Role::cluster_role_object).collect();
    for (name, g) in grants {
        let binding = format!("{ROLE_PREFIX}grant:{name}");
        let subjects =
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": g.user}]);
        let role_ref = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": g.role.cluster_role()});
        let labels =
            json!({"app.kubernetes.io/part-of": "cceone", "platform.cceone.io/grant": name});
        if g.namespaces.is_empty() {
            out.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": binding, "labels": labels},
                "subjects": subjects, "roleRef": role_ref}),
            );
        } else {
            for ns in &g.namespaces {
                out.push(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": binding, "namespace": ns, "labels": labels},
                    "subjects": subjects, "roleRef": role_ref}),
                );
            }
        }
    }
    out
}

/// The Grant CRD: cluster-scoped, printer columns USER ROLE CLUSTERS NAMESPACES AGE (and
/// FLEET). CLUSTERS is where the grant applies now (`status.clusters`, a fleet's members).
pub fn grant_crd() -> Value {
    let list = json!({"type": "array", "items": string()});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "cceone"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"kind": KIND, "listKind": format!("{KIND}List"), "plural": PLURAL,
                "singular": "grant", "categories": ["cceone"]},
            "versions": [{
                "name": VERSION, "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "apiVersion": string(), "kind": string(), "metadata": {"type": "object"},
                    "spec": {"type": "object", "required": ["user", "role"], "properties": {
                        "user": string(),
                        "role": {"type": "string", "enum": Role::ALL.map(Role::as_str)},
                        "clusters": list.clone(),
                        "fleet": string(),
                        "namespaces": list.clone(),
                    }},
                    "status": {"type": "object", "properties": {
                        "clusters": string(),
                        "namespaces": string(),
                    }},
                }}},
                "additionalPrinterColumns": [
                    column("User", "string", ".spec.user", 0),
                    column("Role", "string", ".spec.role", 0),
                    column("Clusters", "string", ".status.clusters", 0),
                    column("Namespaces", "string", ".status.namespaces", 0),
                    column("Fleet", "string", ".spec.fleet", 0),
                    column("Age", "date", ".metadata.creationTimestamp", 0),
                ],
            }],
        },
    })
}

/// The kube-rs resource description of Grants.
pub fn grant_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// A dynamic API handle on Grants (cluster-scoped).
pub fn grants(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &grant_resource())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn g(user: &str, role: Role, clusters: &[&str], fleet: Option<&str>, ns: &[&str]) -> GrantSpec {
        GrantSpec {
            user: user.into(),
            role,
            clusters: clusters.iter().map(|c| c.to_string()).collect(),
            fleet: fleet.map(String::from),
            namespaces: ns.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn a_fleets_grants_replace_the_clusters_own() {
        let own = g("bob", Role::Restricted, &["m1"], None, &[]);
        let fleet = g("alice", Role::Developer, &[], Some("prod"), &[]);
        assert!(applies(&own, "m1", None) && !applies(&fleet, "m1", None));
        assert!(!applies(&own, "m1", Some("prod")) && applies(&fleet, "m1", Some("prod")));
        assert!(!applies(&fleet, "m1", Some("dev")));
    }

    #[test]
    fn rbac_is_a_role_per_preset_and_a_binding_per_grant_and_namespace() {
        let mut grants = BTreeMap::new();
        grants.insert(
            "a".to_string(),
            g(
                "alice",
                Role::Developer,
                &[],
                Some("prod"),
                &["team-a", "team-b"],
            ),
        );
        grants.insert(
            "b".to_string(),
            g("bob", Role::Administrator, &["m1"], None, &[]),
        );
        let objs = member_rbac(&grants);
        let kinds: Vec<(String, String)> = objs
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap().into(),
                    o["metadata"]["name"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("ClusterRole".into(), "cceone:administrator".into()),
                ("ClusterRole".into(), "cceone:developer".into()),
                ("RoleBinding".into(), "cceone:grant:a".into()),
                ("RoleBinding".into(), "cceone:grant:a".into()),
                ("ClusterRoleBinding".into(), "cceone:grant:b".into()),
            ]
        );
        assert_eq!(objs[3]["metadata"]["namespace"], "team-b");
        assert_eq!(objs[2]["subjects"][0]["name"], "alice");
        assert!(member_rbac(&BTreeMap::new()).is_empty());
        // Every rendered object reads as typed RBAC.
        let role: k8s_openapi::api::rbac::v1::ClusterRole =
            serde_json::from_value(objs[1].clone()).unwrap();
        assert!(role.rules.unwrap().iter().all(|r| !r.verbs.is_empty()));
    }
}
