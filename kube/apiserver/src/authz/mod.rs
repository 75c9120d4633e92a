//! Authorization with Kubernetes RBAC semantics: who may do what, decided per request from the
//! Roles, ClusterRoles (with aggregation), RoleBindings and ClusterRoleBindings in the store,
//! with `system:masters` allowed everything. The rule matching is pure ([`rules`]); this module
//! reads the bindings a decision needs and words denials as kube-apiserver does.
//!
//! Bindings are read from the store on each decision (there are few, and the store serves them
//! from memory), so a binding applies from the moment its write is acknowledged. Callers in
//! `system:masters` never reach the store.

pub mod aggregation;
pub mod bootstrap;
pub mod escalation;
pub mod impersonate;
pub mod request;
pub mod reviews;
pub mod rules;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::core::{Core, ListOptions};
use crate::error::ApiError;
use crate::http::User;
use rules::{Binding, PolicyRule, Role};

/// The RBAC group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// A request as authorization sees it (kube's `authorizer.Attributes`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// Who asks (after impersonation).
    pub user: User,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `impersonate`...; for a non-resource path the lower-case HTTP method.
    pub verb: String,
    /// True for `/api/v1/...` and `/apis/<group>/<version>/...` resource paths.
    pub resource_request: bool,
    /// API group (empty for the core group).
    pub api_group: String,
    /// Namespace (empty when cluster-scoped).
    pub namespace: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, e.g. `status`.
    pub subresource: String,
    /// Object name (empty for lists and creates).
    pub name: String,
    /// The request path (non-resource requests are matched on it).
    pub path: String,
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Allowed or not (RBAC never denies outright; no rule means no).
    pub allowed: bool,
    /// Why: which binding allowed it, or the errors met while resolving (empty if none).
    pub reason: String,
}

/// The rules that apply to a user in a namespace, where they came from, and what failed.
#[derive(Debug, Default)]
pub struct Grants {
    /// `(source, rules)`: source as `ClusterRoleBinding "b" of ClusterRole "r" to User "u"`.
    pub sources: Vec<(String, Vec<PolicyRule>)>,
    /// Errors resolving bindings (a missing role), each as kube words it.
    pub errors: Vec<String>,
}

/// The RBAC authorizer over a server's store.
#[derive(Clone)]
pub struct Rbac {
    core: Arc<Core>,
}

impl Rbac {
    /// An authorizer reading roles and bindings from `core`'s store.
    pub fn new(core: Arc<Core>) -> Rbac {
        Rbac { core }
    }

    /// Decide a request.
    pub async fn authorize(&self, a: &Attributes) -> Decision {
        if a.user.groups.iter().any(|g| g == rules::MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let grants = self.grants(&a.user, &a.namespace).await;
        for (source, rules) in &grants.sources {
            if rules.iter().any(|r| rules::rule_allows(r, a)) {
                return Decision {
                    allowed: true,
                    reason: format!("RBAC: allowed by {source}"),
                };
            }
        }
        Decision {
            allowed: false,
            reason: match grants.errors.len() {
                0 => String::new(),
                1 => format!("RBAC: {}", grants.errors[0]),
                _ => format!("RBAC: [{}]", grants.errors.join(", ")),
            },
        }
    }

    /// Every rule granted to `user` in `namespace` (empty: cluster-wide only), in kube's order:
    /// ClusterRoleBindings first, then the namespace's RoleBindings.
    pub async fn grants(&self, user: &User, namespace: &str) -> Grants {
        let mut out = Grants::default();
        let mut cluster_roles: Option<Vec<Role>> = None;
        match self.list::<Binding>("clusterrolebindings", None).await {
            Ok(bindings) => {
                for b in bindings {
                    self.add(&mut out, &b, user, "", &mut cluster_roles).await;
                }
            }
            Err(e) => out.errors.push(e.to_string()),
        }
        if !namespace.is_empty() {
            match self.list::<Binding>("rolebindings", Some(namespace)).await {
                Ok(bindings) => {
                    for b in bindings {
                        self.add(&mut out, &b, user, namespace, &mut cluster_roles)
                            .await;
                    }
                }
                Err(e) => out.errors.push(e.to_string()),
            }
        }
        out
    }

    async fn add(
        &self,
        out: &mut Grants,
        b: &Binding,
        user: &User,
        ns: &str,
        cluster_roles: &mut Option<Vec<Role>>,
    ) {
        let Some(subject) = b
            .subjects
            .iter()
            .find(|s| rules::subject_applies(s, user, ns))
        else {
            return;
        };
        let rules = match self.role_rules(&b.role_ref, ns, cluster_roles).await {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(e);
                return;
            }
        };
        let source = if ns.is_empty() {
            format!(
                "ClusterRoleBinding \"{}\" of {} \"{}\" to {}",
                b.metadata.name,
                b.role_ref.kind,
                b.role_ref.name,
                rules::describe_subject(subject, "")
            )
        } else {
            format!(
                "RoleBinding \"{}/{ns}\" of {} \"{}\" to {}",
                b.metadata.name,
                b.role_ref.kind,
                b.role_ref.name,
                rules::describe_subject(subject, ns)
            )
        };
        out.sources.push((source, rules));
    }

    /// The rules of a binding's role; a ClusterRole with an aggregation rule has the rules of
    /// every ClusterRole its selectors match (what kube's aggregation controller writes).
    pub(crate) async fn role_rules(
        &self,
        role_ref: &rules::RoleRef,
        ns: &str,
        cluster_roles: &mut Option<Vec<Role>>,
    ) -> Result<Vec<PolicyRule>, String> {
        let (plural, singular, role_ns) = match role_ref.kind.as_str() {
            "Role" if !ns.is_empty() => ("roles", "role", Some(ns)),
            "ClusterRole" => ("clusterroles", "clusterrole", None),
            other => return Err(format!("unsupported role reference kind: \"{other}\"")),
        };
        let res = self
            .core
            .resource(RBAC_GROUP, "v1", plural)
            .map_err(|e| e.to_string())?;
        let role: Role = match self.core.get(&res, role_ns, &role_ref.name).await {
            Ok(v) => serde_json::from_value(v).map_err(|e| e.to_string())?,
            Err(ApiError::NotFound { .. }) => {
                return Err(format!(
                    "{singular}.{RBAC_GROUP} \"{}\" not found",
                    role_ref.name
                ));
            }
            Err(e) => return Err(e.to_string()),
        };
        let Some(agg) = role.aggregation_rule.as_ref() else {
            return Ok(role.rules);
        };
        if cluster_roles.is_none() {
            *cluster_roles = Some(
                self.list::<Role>("clusterroles", None)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(aggregate(
            &role,
            &agg.cluster_role_selectors,
            cluster_roles.as_deref().unwrap_or_default(),
        ))
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        plural: &str,
        ns: Option<&str>,
    ) -> Result<Vec<T>, ApiError> {
        let res = self.core.resource(RBAC_GROUP, "v1", plural)?;
        let page = self.core.list(&res, ns, &ListOptions::default()).await?;
        Ok(page
            .items
            .iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .collect())
    }
}

/// The rules of an aggregated ClusterRole: each distinct rule of every other ClusterRole a
/// selector matches, in name order. Its own `rules` do not count: they are what the
/// aggregation controller last wrote.
pub fn aggregate(role: &Role, selectors: &[Value], all: &[Role]) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    let mut sorted: Vec<&Role> = all
        .iter()
        .filter(|r| r.metadata.name != role.metadata.name)
        .filter(|r| {
            selectors
                .iter()
                .any(|s| rules::selector_matches(s, &r.metadata.labels))
        })
        .collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for r in sorted {
        for rule in &r.rules {
            if !out.contains(rule) {
                out.push(rule.clone());
            }
        }
    }
    out
}

/// kube-apiserver's 403 `Status` for a denied request, e.g. `deployments.apps is forbidden:
/// User "u" cannot create resource "deployments" in API group "apps" in the namespace "ns"`.
pub fn forbidden_status(a: &Attributes, reason: &str) -> Value {
    let mut msg = if !a.resource_request {
        format!(
            "User \"{}\" cannot {} path \"{}\"",
            a.user.name, a.verb, a.path
        )
    } else {
        let mut resource = a.resource.clone();
        if !a.subresource.is_empty() {
            resource = format!("{resource}/{}", a.subresource);
        }
        if a.namespace.is_empty() {
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" at the cluster scope",
                a.user.name, a.verb, a.api_group
            )
        } else {
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" in the namespace \"{}\"",
                a.user.name, a.verb, a.api_group, a.namespace
            )
        }
    };
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    let qualified = match (a.resource.is_empty(), a.api_group.is_empty()) {
        (true, true) => String::new(),
        (_, true) => a.resource.clone(),
        _ => format!("{}.{}", a.resource, a.api_group),
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {msg}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {msg}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {msg}", a.name)
    };
    // Empty fields are left out, as Go's `omitempty` does.
    let mut details = serde_json::Map::new();
    for (k, v) in [
        ("name", &a.name),
        ("group", &a.api_group),
        ("kind", &a.resource),
    ] {
        if !v.is_empty() {
            details.insert(k.into(), json!(v));
        }
    }
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "Forbidden", "details": details, "code": 403,
    })
}

#[cfg(test)]
mod tests;
