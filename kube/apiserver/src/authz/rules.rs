//! RBAC's rule and subject matching, as plain functions over the `rbac.authorization.k8s.io/v1`
//! types: which request a `PolicyRule` allows, and to whom a binding's subject applies. No store,
//! no I/O; the resolver feeds these the roles and bindings it reads.

use serde::{Deserialize, Serialize};

use super::Attributes;
use crate::http::User;

/// The group every authenticated caller is in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group of unauthenticated callers.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user of requests without credentials, when anonymous authentication is on.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group that bypasses authorization.
pub const MASTERS: &str = "system:masters";
/// The user name prefix of service accounts: `system:serviceaccount:<ns>:<name>`.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Verbs, `*` for all.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// API groups (`""` is the core group), `*` for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*` or `*/subresource`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names the rule is limited to; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource paths; a trailing `*` matches any suffix.
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// Whom a binding grants its role to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(default)]
    pub kind: String,
    /// The user, group or service account name.
    #[serde(default)]
    pub name: String,
    /// A service account's namespace (defaults to the RoleBinding's).
    #[serde(default)]
    pub namespace: String,
}

/// The role a binding refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RoleRef {
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// The role's name.
    #[serde(default)]
    pub name: String,
}

/// The parts of a Role or ClusterRole authorization reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Object metadata (name and labels only).
    #[serde(default)]
    pub metadata: Meta,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// A ClusterRole's aggregation: its rules are those of every ClusterRole matching a selector.
    #[serde(default)]
    pub aggregation_rule: Option<AggregationRule>,
}

/// `aggregationRule` of a ClusterRole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    /// Label selectors (`matchLabels` and `matchExpressions`) over ClusterRoles' labels.
    #[serde(default)]
    pub cluster_role_selectors: Vec<serde_json::Value>,
}

/// The parts of a RoleBinding or ClusterRoleBinding authorization reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// Object metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// Who is granted the role.
    #[serde(default)]
    pub subjects: Vec<Subject>,
    /// The role granted.
    #[serde(default)]
    pub role_ref: RoleRef,
}

/// Name, namespace and labels.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Namespace (empty when cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    /// Labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

fn has_or_star(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether `rule` lists the verb (or `*`).
pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    has_or_star(&rule.verbs, verb)
}

/// Whether `rule` lists the API group (or `*`).
pub fn group_matches(rule: &PolicyRule, group: &str) -> bool {
    has_or_star(&rule.api_groups, group)
}

/// Whether `rule` lists the resource: `*` matches everything (subresources too), otherwise
/// `resource/subresource` must be listed exactly, or `*/subresource`.
pub fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        if r == "*" {
            return true;
        }
        if subresource.is_empty() {
            return r == resource;
        }
        match r.split_once('/') {
            Some((res, sub)) => sub == subresource && (res == resource || res == "*"),
            None => false,
        }
    })
}

/// Whether the name is allowed: a rule without `resourceNames` allows any (and unnamed)
/// requests; one with names only those names, so never a list or create.
pub fn name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == name)
}

/// Whether `rule` covers the path: `*`, the exact path, or a prefix ending in `*`.
pub fn url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == "*"
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Whether `rule` allows the request.
pub fn rule_allows(rule: &PolicyRule, a: &Attributes) -> bool {
    if !verb_matches(rule, &a.verb) {
        return false;
    }
    if a.resource_request {
        group_matches(rule, &a.api_group)
            && resource_matches(rule, &a.resource, &a.subresource)
            && name_matches(rule, &a.name)
    } else {
        url_matches(rule, &a.path)
    }
}

/// Whether `subject` names `user`; a ServiceAccount subject without a namespace takes the
/// binding's (`binding_ns`, empty for a ClusterRoleBinding, where it then matches no one).
pub fn subject_applies(subject: &Subject, user: &User, binding_ns: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.iter().any(|g| g == &subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                binding_ns
            } else {
                &subject.namespace
            };
            !ns.is_empty()
                && user
                    .name
                    .strip_prefix(SERVICE_ACCOUNT_PREFIX)
                    .and_then(|rest| rest.split_once(':'))
                    .is_some_and(|(n, s)| n == ns && s == subject.name)
        }
        _ => false,
    }
}

/// `Kind "name"` as Kubernetes describes a subject in a decision's reason.
pub fn describe_subject(subject: &Subject, binding_ns: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let ns = if subject.namespace.is_empty() {
            binding_ns
        } else {
            &subject.namespace
        };
        return format!("{} \"{}/{ns}\"", subject.kind, subject.name);
    }
    format!("{} \"{}\"", subject.kind, subject.name)
}

/// Whether a label selector (`matchLabels` and `matchExpressions`) selects `labels`. An empty
/// selector selects everything; a malformed one nothing.
pub fn selector_matches(
    selector: &serde_json::Value,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    use serde_json::Value;
    let Some(obj) = selector.as_object() else {
        return false;
    };
    if let Some(ml) = obj.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = obj.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels.get(key).map(String::as_str);
            let ok = match e.get("operator").and_then(Value::as_str) {
                Some("In") => have.is_some_and(|h| values.contains(&h)),
                Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                Some("Exists") => have.is_some(),
                Some("DoesNotExist") => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
            non_resource_urls: vec![],
        }
    }

    fn req(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            resource_request: true,
            ..Attributes::default()
        }
    }

    #[test]
    fn resources_subresources_and_names() {
        let r = rule(&["get"], &[""], &["pods"], &[]);
        assert!(rule_allows(&r, &req("get", "", "pods", "", "a")));
        assert!(!rule_allows(&r, &req("get", "", "pods", "log", "a")));
        assert!(!rule_allows(&r, &req("get", "apps", "pods", "", "a")));
        assert!(!rule_allows(&r, &req("list", "", "pods", "", "")));
        let sub = rule(&["get"], &[""], &["pods/log"], &[]);
        assert!(rule_allows(&sub, &req("get", "", "pods", "log", "a")));
        assert!(!rule_allows(&sub, &req("get", "", "pods", "", "a")));
        let any_sub = rule(&["*"], &["*"], &["*/scale"], &[]);
        assert!(rule_allows(
            &any_sub,
            &req("update", "apps", "deployments", "scale", "x")
        ));
        assert!(!rule_allows(
            &any_sub,
            &req("update", "apps", "deployments", "", "x")
        ));
        let star = rule(&["*"], &["*"], &["*"], &[]);
        assert!(rule_allows(
            &star,
            &req("patch", "apps", "deployments", "status", "x")
        ));
        let named = rule(&["get", "list"], &[""], &["configmaps"], &["one"]);
        assert!(rule_allows(
            &named,
            &req("get", "", "configmaps", "", "one")
        ));
        assert!(!rule_allows(
            &named,
            &req("get", "", "configmaps", "", "two")
        ));
        // A list has no name, so a rule limited to names never allows it.
        assert!(!rule_allows(&named, &req("list", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_urls() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/apis/*".into()],
            ..PolicyRule::default()
        };
        let path = |p: &str| Attributes {
            verb: "get".into(),
            path: p.into(),
            ..Attributes::default()
        };
        assert!(rule_allows(&r, &path("/healthz")));
        assert!(!rule_allows(&r, &path("/healthz/etcd")));
        assert!(rule_allows(&r, &path("/apis/apps/v1")));
        assert!(!rule_allows(&r, &path("/api")));
        // A resource rule never allows a path, nor a path rule a resource.
        assert!(!rule_allows(
            &rule(&["*"], &["*"], &["*"], &[]),
            &path("/api")
        ));
        assert!(!rule_allows(&r, &req("get", "", "pods", "", "")));
    }

    #[test]
    fn subjects() {
        let alice = User {
            name: "alice".into(),
            groups: vec!["dev".into(), AUTHENTICATED.into()],
            ..User::default()
        };
        let s = |kind: &str, name: &str, ns: &str| Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.into(),
        };
        assert!(subject_applies(&s("User", "alice", ""), &alice, ""));
        assert!(!subject_applies(&s("User", "bob", ""), &alice, ""));
        assert!(subject_applies(&s("Group", "dev", ""), &alice, ""));
        assert!(!subject_applies(&s("Group", "ops", ""), &alice, ""));
        let sa = User {
            name: "system:serviceaccount:team:builder".into(),
            groups: vec![],
            ..User::default()
        };
        assert!(subject_applies(
            &s("ServiceAccount", "builder", ""),
            &sa,
            "team"
        ));
        assert!(subject_applies(
            &s("ServiceAccount", "builder", "team"),
            &sa,
            ""
        ));
        assert!(!subject_applies(
            &s("ServiceAccount", "builder", ""),
            &sa,
            ""
        ));
        assert!(!subject_applies(
            &s("ServiceAccount", "builder", "other"),
            &sa,
            "team"
        ));
        assert_eq!(
            describe_subject(&s("ServiceAccount", "builder", ""), "team"),
            "ServiceAccount \"builder/team\""
        );
    }

    #[test]
    fn aggregation_selectors() {
        let labels: std::collections::BTreeMap<String, String> = [(
            "rbac.example.com/aggregate-to-edit".to_string(),
            "true".to_string(),
        )]
        .into();
        let sel =
            serde_json::json!({"matchLabels": {"rbac.example.com/aggregate-to-edit": "true"}});
        assert!(selector_matches(&sel, &labels));
        assert!(!selector_matches(&sel, &Default::default()));
        let expr = serde_json::json!({"matchExpressions": [
            {"key": "rbac.example.com/aggregate-to-edit", "operator": "In", "values": ["true"]}]});
        assert!(selector_matches(&expr, &labels));
        assert!(!selector_matches(&serde_json::json!("x"), &labels));
    }
}
