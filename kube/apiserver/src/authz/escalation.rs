//! RBAC's escalation prevention: writing a Role or ClusterRole needs every permission it grants
//! (or the `escalate` verb on it), and writing a binding needs every permission of the role it
//! binds (or the `bind` verb on that role), so that whoever may manage RBAC in a namespace
//! cannot grant more than they hold. `system:masters` may. The covering rules are kube's
//! (`validation.Covers`): each requested rule is broken down to one verb, group, resource and
//! name, and each piece must be covered by one of the writer's rules.

use serde_json::Value;

use super::rules::{self, PolicyRule, RoleRef};
use super::{Attributes, RBAC_GROUP, Rbac};
use crate::error::ApiError;
use crate::http::User;

/// A write to an RBAC object by someone outside `system:masters`, to check once its body is read.
#[derive(Clone)]
pub struct Guard {
    rbac: Rbac,
    attributes: Attributes,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

/// The guard a request needs, if it writes RBAC objects and its user is not a master.
pub fn guard(rbac: &Rbac, a: &Attributes) -> Option<Guard> {
    let writes = matches!(a.verb.as_str(), "create" | "update" | "patch");
    let rbac_kind = a.api_group == RBAC_GROUP
        && matches!(
            a.resource.as_str(),
            "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings"
        )
        && a.subresource.is_empty();
    let master = a.user.groups.iter().any(|g| g == rules::MASTERS);
    (writes && rbac_kind && !master).then(|| Guard {
        rbac: rbac.clone(),
        attributes: a.clone(),
    })
}

fn has_all(owner: &[String], wanted: &[String]) -> bool {
    owner.iter().any(|o| o == "*") || wanted.iter().all(|w| owner.contains(w))
}

fn resources_cover(owner: &[String], wanted: &[String]) -> bool {
    if owner.iter().any(|o| o == "*") {
        return true;
    }
    wanted.iter().all(|w| {
        owner.contains(w)
            || w.split_once('/')
                .is_some_and(|(_, sub)| owner.iter().any(|o| *o == format!("*/{sub}")))
    })
}

fn urls_cover(owner: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| {
        owner
            .iter()
            .any(|o| o == "*" || o == w || o.strip_suffix('*').is_some_and(|p| w.starts_with(p)))
    })
}

/// Whether `owner` covers every permission of `requested` (kube's `ruleCovers`).
fn covers_one(owner: &PolicyRule, requested: &PolicyRule) -> bool {
    has_all(&owner.verbs, &requested.verbs)
        && has_all(&owner.api_groups, &requested.api_groups)
        && resources_cover(&owner.resources, &requested.resources)
        && urls_cover(&owner.non_resource_urls, &requested.non_resource_urls)
        // A rule limited to names covers only those names, never the unnamed (all) request.
        && (owner.resource_names.is_empty()
            || (!requested.resource_names.is_empty()
                && requested
                    .resource_names
                    .iter()
                    .all(|n| owner.resource_names.contains(n))))
}

/// One rule per verb, group, resource and name (or verb and path).
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &str| vec![s.to_string()];
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                if rule.resource_names.is_empty() {
                    out.push(PolicyRule {
                        verbs: one(verb),
                        api_groups: one(group),
                        resources: one(resource),
                        ..PolicyRule::default()
                    });
                }
                for name in &rule.resource_names {
                    out.push(PolicyRule {
                        verbs: one(verb),
                        api_groups: one(group),
                        resources: one(resource),
                        resource_names: one(name),
                        ..PolicyRule::default()
                    });
                }
            }
        }
        for url in &rule.non_resource_urls {
            out.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..PolicyRule::default()
            });
        }
    }
    out
}

/// The pieces of `requested` no rule of `owner` covers (empty: covered).
pub fn uncovered(owner: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    requested
        .iter()
        .flat_map(breakdown)
        .filter(|piece| !owner.iter().any(|o| covers_one(o, piece)))
        .collect()
}

/// kube's compact rendering of a rule in escalation errors.
fn compact(r: &PolicyRule) -> String {
    let list = |v: &[String]| {
        let q: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", q.join(" "))
    };
    let mut parts = Vec::new();
    for (name, v) in [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("NonResourceURLs", &r.non_resource_urls),
        ("ResourceNames", &r.resource_names),
        ("Verbs", &r.verbs),
    ] {
        if !v.is_empty() || name == "Verbs" {
            parts.push(format!("{name}:{}", list(v)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

impl Guard {
    /// Check the written object (or patch) `body`: Forbidden if it grants what the writer
    /// does not hold and they lack `escalate` / `bind`.
    pub async fn check(&self, body: &Value) -> Result<(), ApiError> {
        let a = &self.attributes;
        let ns = a.namespace.as_str();
        let name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(&a.name);
        let binding = a.resource.ends_with("bindings");
        if !body.is_object() {
            // A JSON patch: what it grants is only known once applied.
            return self
                .needs("escalate", "", name, "a JSON patch of an RBAC object")
                .await;
        }
        if binding {
            let Some(role_ref) = body.get("roleRef") else {
                return Ok(());
            };
            let role_ref: RoleRef = serde_json::from_value(role_ref.clone()).unwrap_or_default();
            let role_resource = if role_ref.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            let bind = self.allowed("bind", role_resource, &role_ref.name).await;
            if bind {
                return Ok(());
            }
            let mut cache = None;
            let wanted = self
                .rbac
                .role_rules(&role_ref, ns, &mut cache)
                .await
                .map_err(ApiError::Forbidden)?;
            return self.covered(&wanted, name).await;
        }
        if body.get("aggregationRule").is_some_and(|v| !v.is_null()) {
            return self
                .needs("escalate", &a.resource, name, "an aggregationRule")
                .await;
        }
        let Some(rules_json) = body.get("rules") else {
            return Ok(());
        };
        let wanted: Vec<PolicyRule> =
            serde_json::from_value(rules_json.clone()).unwrap_or_default();
        if self.allowed("escalate", &a.resource, name).await {
            return Ok(());
        }
        self.covered(&wanted, name).await
    }

    async fn allowed(&self, verb: &str, resource: &str, name: &str) -> bool {
        let a = Attributes {
            verb: verb.into(),
            resource: resource.into(),
            name: name.into(),
            subresource: String::new(),
            ..self.attributes.clone()
        };
        self.rbac.authorize(&a).await.allowed
    }

    async fn needs(
        &self,
        verb: &str,
        resource: &str,
        name: &str,
        what: &str,
    ) -> Result<(), ApiError> {
        let resource = if resource.is_empty() {
            &self.attributes.resource
        } else {
            resource
        };
        if self.allowed(verb, resource, name).await {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "{}.{RBAC_GROUP} \"{name}\" is forbidden: {what} needs the {verb} verb",
            self.attributes.resource
        )))
    }

    async fn covered(&self, wanted: &[PolicyRule], name: &str) -> Result<(), ApiError> {
        let user: &User = &self.attributes.user;
        let grants = self.rbac.grants(user, &self.attributes.namespace).await;
        let owner: Vec<PolicyRule> = grants
            .sources
            .into_iter()
            .flat_map(|(_, rules)| rules)
            .collect();
        let missing = uncovered(&owner, wanted);
        if missing.is_empty() {
            return Ok(());
        }
        let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
        let lines: Vec<String> = missing.iter().map(compact).collect();
        Err(ApiError::Forbidden(format!(
            "{}.{RBAC_GROUP} \"{name}\" is forbidden: user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            self.attributes.resource,
            user.name,
            groups.join(" "),
            lines.join("\n")
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn covers_as_kube_does() {
        let edit = vec![
            rule(&["get", "list", "create"], &[""], &["pods", "configmaps"]),
            rule(&["*"], &["apps"], &["deployments", "*/scale"]),
        ];
        assert!(uncovered(&edit, &[rule(&["get"], &[""], &["pods"])]).is_empty());
        assert!(
            uncovered(
                &edit,
                &[rule(&["delete"], &["apps"], &["deployments/scale"])]
            )
            .is_empty()
        );
        // A wildcard is only covered by a wildcard.
        let missing = uncovered(&edit, &[rule(&["*"], &[""], &["pods"])]);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            compact(&missing[0]),
            "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"*\"]}"
        );
        let missing = uncovered(&edit, &[rule(&["get", "delete"], &["", "apps"], &["pods"])]);
        assert_eq!(missing.len(), 3, "{missing:?}");
        let named = PolicyRule {
            resource_names: vec!["one".into()],
            ..rule(&["get"], &[""], &["configmaps"])
        };
        assert!(uncovered(&edit, std::slice::from_ref(&named)).is_empty());
        assert!(
            !uncovered(
                std::slice::from_ref(&named),
                &[rule(&["get"], &[""], &["configmaps"])]
            )
            .is_empty()
        );
        let urls = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/*".into()],
            ..PolicyRule::default()
        };
        let want = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/apps".into()],
            ..PolicyRule::default()
        };
        assert!(uncovered(std::slice::from_ref(&urls), std::slice::from_ref(&want)).is_empty());
        assert!(!uncovered(&edit, &[want]).is_empty());
    }
}
