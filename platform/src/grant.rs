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
    /// The grant's own rules (`spec.rules`: chosen resources and verbs).
    Custom,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Administrator,
        Role::Operations,
        Role::Developer,
        Role::Restricted,
        Role::Custom,
    ];

    /// The name used in `spec.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Operations => "operations",
            Role::Developer => "developer",
            Role::Restricted => "restricted",
            Role::Custom => "custom",
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
        let read = json!(VERBS[..3]);
        let write = json!(VERBS);
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
            // A custom grant's ClusterRole is its own ([`member_rbac`]).
            Role::Custom => json!([]),
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
    /// With role `custom`: what the user may do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Permission>,
}

/// One custom permission: verbs on resources of API groups (an RBAC PolicyRule's core).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// API groups (`""` is the core group).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources (`deployments`, `pods/log`).
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// The verbs a custom permission may name (Kubernetes' resource verbs; the first three read,
/// the preset roles' "read-write" is all of them).
pub const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

impl Permission {
    /// Parse `RESOURCE[.GROUP]=VERB[,VERB...]` (`deployments.apps=get,list`, `configmaps=get`),
    /// as `cceonectl grant create --rule` and the console take it.
    pub fn parse(s: &str) -> Result<Permission, String> {
        let (what, verbs) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected RESOURCE[.GROUP]=VERB[,VERB...]"))?;
        let (resource, group) = what.trim().split_once('.').unwrap_or((what.trim(), ""));
        let verbs: Vec<String> = verbs
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect();
        let p = Permission {
            api_groups: vec![group.to_string()],
            resources: vec![resource.to_string()],
            verbs,
        };
        match p.problems().into_iter().next() {
            Some((_, why)) => Err(format!("{s:?}: {why}")),
            None => Ok(p),
        }
    }

    /// What is wrong with it: (field below the rule, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.resources.is_empty() || self.resources.iter().any(|r| r.is_empty()) {
            out.push(("resources", "name at least one resource".to_string()));
        }
        if self.verbs.is_empty() {
            out.push(("verbs", "name at least one verb".to_string()));
        }
        if let Some(v) = self.verbs.iter().find(|v| !VERBS.contains(&v.as_str())) {
            out.push((
                "verbs",
                format!(
                    "unsupported verb {v:?}: supported verbs: {}",
                    VERBS.join(", ")
                ),
            ));
        }
        out
    }
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

/// The binding that lets the platform's users with no grant on a cluster read there.
pub const DEFAULT_READ_BINDING: &str = "cceone:default-read";
/// The role those users get: read-only on the objects a console shows (seed §4.5: "a user
/// with no permission configured may only read").
pub const DEFAULT_READ_ROLE: Role = Role::Restricted;

/// The platform user a Secret (in the platform's namespace) stands for: the user of a user
/// token (`cceonectl user kubeconfig NAME`, the platform's way of making a user). None for
/// other Secrets (a proxy kubeconfig is a credential of a user, not a user: its holder may have
/// been given rights in the member directly), for the administrator (`system:masters` in
/// members) and for `system:` identities (the platform's own parts).
pub fn token_user(secret: &Value) -> Option<String> {
    use base64::Engine as _;
    if secret.get("type").and_then(Value::as_str) != Some(crate::usertoken::SECRET_TYPE) {
        return None;
    }
    let user = secret
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("cceone.io/user"))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            let b64 = secret.pointer("/data/user").and_then(Value::as_str)?;
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            String::from_utf8(raw).ok()
        })?;
    if user.is_empty() || user == crate::proxytoken::DEFAULT_USER || user.starts_with("system:") {
        return None;
    }
    Some(user)
}

/// The users to give read-only access on a cluster: the platform's users (`known`) with no
/// grant among `grants` (those that apply to the cluster).
pub fn default_readers<'a>(
    known: impl IntoIterator<Item = &'a str>,
    grants: &BTreeMap<String, GrantSpec>,
) -> std::collections::BTreeSet<String> {
    known
        .into_iter()
        .filter(|u| !grants.values().any(|g| g.user == *u))
        .map(String::from)
        .collect()
}

/// The RBAC objects a member holds for its grants (name → spec) and for its `readers` (users
/// with no grant there, who may only read), or none at all when it has neither: the
/// ClusterRoles of the roles used, per grant a ClusterRoleBinding (all namespaces) or a
/// RoleBinding in each namespace, named after the grant, and [`DEFAULT_READ_BINDING`].
pub fn member_rbac(
    grants: &BTreeMap<String, GrantSpec>,
    readers: &std::collections::BTreeSet<String>,
) -> Vec<Value> {
    let mut roles: Vec<Role> = grants
        .values()
        .map(|g| g.role)
        .filter(|r| *r != Role::Custom)
        .collect();
    if !readers.is_empty() {
        roles.push(DEFAULT_READ_ROLE);
    }
    roles.sort();
    roles.dedup();
    let mut out: Vec<Value> = roles.into_iter().map(Role::cluster_role_object).collect();
    for (name, g) in grants {
        let binding = format!("{ROLE_PREFIX}grant:{name}");
        let subjects =
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": g.user}]);
        let role_name = if g.role == Role::Custom {
            // The grant's own permissions, as a ClusterRole of its own.
            let role = format!("{ROLE_PREFIX}custom:{name}");
            out.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": role, "labels": {"app.kubernetes.io/part-of": "cceone",
                    "platform.cceone.io/grant": name}},
                "rules": g.rules}),
            );
            role
        } else {
            g.role.cluster_role()
        };
        let role_ref = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name});
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
    if !readers.is_empty() {
        let subjects: Vec<Value> = readers
            .iter()
            .map(|u| json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": u}))
            .collect();
        out.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": DEFAULT_READ_BINDING, "labels": {"app.kubernetes.io/part-of": "cceone"}},
            "subjects": subjects,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": DEFAULT_READ_ROLE.cluster_role()}}),
        );
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
                        "rules": {"type": "array", "items": {"type": "object",
                            "required": ["resources", "verbs"], "properties": {
                            "apiGroups": list.clone(),
                            "resources": list.clone(),
                            "verbs": list.clone(),
                        }}},
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
            rules: Vec::new(),
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
        let objs = member_rbac(&grants, &Default::default());
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
        assert!(member_rbac(&BTreeMap::new(), &Default::default()).is_empty());
        // Every rendered object reads as typed RBAC.
        let role: k8s_openapi::api::rbac::v1::ClusterRole =
            serde_json::from_value(objs[1].clone()).unwrap();
        assert!(role.rules.unwrap().iter().all(|r| !r.verbs.is_empty()));
    }

    #[test]
    fn users_without_a_grant_may_only_read() {
        let mut grants = BTreeMap::new();
        grants.insert(
            "a".to_string(),
            g("alice", Role::Developer, &["m1"], None, &["team-a"]),
        );
        let readers = default_readers(["alice", "bob", "carol"], &grants);
        assert_eq!(readers.iter().collect::<Vec<_>>(), ["bob", "carol"]);
        let objs = member_rbac(&grants, &readers);
        let last = objs.last().unwrap();
        assert_eq!(last["metadata"]["name"], DEFAULT_READ_BINDING);
        assert_eq!(last["roleRef"]["name"], "cceone:restricted");
        assert_eq!(last["subjects"][1]["name"], "carol");
        assert!(
            objs.iter()
                .any(|o| o["metadata"]["name"] == "cceone:restricted")
        );
        // Only readers: still the role and the binding.
        assert_eq!(member_rbac(&BTreeMap::new(), &readers).len(), 2);
    }

    #[test]
    fn user_tokens_name_their_user() {
        let user = json!({"type": crate::usertoken::SECRET_TYPE,
            "metadata": {"annotations": {"cceone.io/user": "bob"}}});
        assert_eq!(token_user(&user).as_deref(), Some("bob"));
        let in_data = json!({"type": crate::usertoken::SECRET_TYPE, "data": {"user": "ZGV2"}});
        assert_eq!(token_user(&in_data).as_deref(), Some("dev"));
        // A proxy kubeconfig is a credential, not a user.
        let proxy = json!({"type": crate::proxytoken::SECRET_TYPE,
            "metadata": {"labels": {crate::CLUSTER_LABEL: "m1"}}, "data": {"user": "ZGV2"}});
        assert_eq!(token_user(&proxy), None);
        for who in ["admin", "system:cceone:hub"] {
            let v = json!({"type": crate::usertoken::SECRET_TYPE,
                "metadata": {"annotations": {"cceone.io/user": who}}});
            assert_eq!(token_user(&v), None, "{who}");
        }
        assert_eq!(token_user(&json!({"type": "Opaque"})), None);
    }

    #[test]
    fn a_custom_grant_gets_a_role_of_its_own() {
        let rule = Permission::parse("deployments.apps=get, list").unwrap();
        assert_eq!(rule.api_groups, ["apps"]);
        assert_eq!(rule.verbs, ["get", "list"]);
        assert_eq!(
            Permission::parse("configmaps=get").unwrap().api_groups,
            [""]
        );
        assert!(Permission::parse("configmaps").is_err());
        assert!(Permission::parse("configmaps=").is_err());
        assert!(
            Permission::parse("pods=escalate")
                .unwrap_err()
                .contains("unsupported verb")
        );
        let mut custom = g("dan", Role::Custom, &["m1"], None, &["team-a"]);
        custom.rules = vec![rule];
        let mut grants = BTreeMap::new();
        grants.insert("d".to_string(), custom);
        let objs = member_rbac(&grants, &Default::default());
        assert_eq!(objs.len(), 2, "{objs:?}");
        assert_eq!(objs[0]["kind"], "ClusterRole");
        assert_eq!(objs[0]["metadata"]["name"], "cceone:custom:d");
        assert_eq!(objs[0]["rules"][0]["resources"][0], "deployments");
        assert_eq!(objs[1]["kind"], "RoleBinding");
        assert_eq!(objs[1]["roleRef"]["name"], "cceone:custom:d");
        let role: k8s_openapi::api::rbac::v1::ClusterRole =
            serde_json::from_value(objs[0].clone()).unwrap();
        assert_eq!(role.rules.unwrap()[0].verbs, ["get", "list"]);
    }
}
