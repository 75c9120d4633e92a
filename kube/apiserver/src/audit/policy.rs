//! The audit policy (`audit.k8s.io/v1` `Policy`): the first rule matching a request sets its
//! level. Pure: no I/O.

use serde::Deserialize;

use crate::authz::Attributes;

/// How much of a request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    /// Not recorded.
    None,
    /// User, verb, resource, response code and timestamps; no bodies.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata and both bodies.
    RequestResponse,
}

impl Level {
    /// The name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// Resources a rule matches (`group` `""` is the core group).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupResources {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Resources (`pods`, `pods/log`, `*/status`, `*`); empty means all in the group.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Names; empty means all.
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// One rule; every listed criterion must match (an empty list matches anything).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// The level of matching requests.
    pub level: Level,
    /// User names.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups (any of the user's).
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources (resource requests only).
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""` matches cluster-scoped resources).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Non-resource paths; a trailing `*` matches any suffix.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Stages not recorded (accepted for compatibility; only `ResponseComplete` is written).
    #[serde(default)]
    pub omit_stages: Vec<String>,
}

/// An audit policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// The rules, first match wins; no match is `None`.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A policy that failed to parse.
#[derive(Debug, thiserror::Error)]
#[error("the audit policy is not valid: {0}")]
pub struct PolicyError(#[from] serde_yaml::Error);

impl Policy {
    /// Parse a policy from YAML or JSON.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        Ok(serde_yaml::from_str(text)?)
    }

    /// The default: health, version and discovery probes and leases not recorded, events and
    /// reads of them by controllers at Metadata, Secrets (and every request the secret rule
    /// below catches) at Metadata, writes at RequestResponse, everything else at Metadata.
    pub fn default_policy() -> Policy {
        const TEXT: &str = r#"
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/version/", "/openapi*", "/api", "/api/*", "/apis", "/apis/*"]
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
    resources:
      - {group: "", resources: [secrets, serviceaccounts/token]}
      - {group: authentication.k8s.io, resources: [tokenreviews]}
  - level: Metadata
    verbs: [get, list, watch]
  - level: RequestResponse
"#;
        // The text is a constant checked by a test; an error would make the default record
        // at Metadata, never at a level leaking more.
        Policy::from_yaml(TEXT).unwrap_or(Policy {
            rules: vec![Rule {
                level: Level::Metadata,
                users: vec![],
                user_groups: vec![],
                verbs: vec![],
                resources: vec![],
                namespaces: vec![],
                non_resource_urls: vec![],
                omit_stages: vec![],
            }],
        })
    }

    /// The level of a request. Secrets, token reviews and service account tokens are capped at
    /// Metadata whatever the rules say: their bodies are credentials.
    pub fn level(&self, a: &Attributes) -> Level {
        let level = self
            .rules
            .iter()
            .find(|r| r.matches(a))
            .map_or(Level::None, |r| r.level);
        if carries_credentials(a) {
            level.min(Level::Metadata)
        } else {
            level
        }
    }
}

/// Requests whose bodies may hold credentials.
pub fn carries_credentials(a: &Attributes) -> bool {
    a.resource_request
        && ((a.api_group.is_empty() && a.resource == "secrets")
            || a.subresource == "token"
            || (a.api_group == "authentication.k8s.io" && a.resource == "tokenreviews"))
}

impl Rule {
    fn matches(&self, a: &Attributes) -> bool {
        let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        if !any(&self.users, &a.user.name)
            || !(self.user_groups.is_empty()
                || a.user.groups.iter().any(|g| self.user_groups.contains(g)))
            || !any(&self.verbs, &a.verb)
        {
            return false;
        }
        if !a.resource_request {
            if self.non_resource_urls.is_empty() {
                return self.resources.is_empty() && self.namespaces.is_empty();
            }
            return self.non_resource_urls.iter().any(|u| {
                u == &a.path
                    || u.strip_suffix('*')
                        .is_some_and(|prefix| a.path.starts_with(prefix))
            });
        }
        if !self.non_resource_urls.is_empty() || !any(&self.namespaces, &a.namespace) {
            return false;
        }
        self.resources.is_empty()
            || self.resources.iter().any(|gr| {
                let combined = if a.subresource.is_empty() {
                    a.resource.clone()
                } else {
                    format!("{}/{}", a.resource, a.subresource)
                };
                gr.group == a.api_group
                    && (gr.resources.is_empty()
                        || gr.resources.iter().any(|r| {
                            r == "*"
                                || *r == combined
                                || r.strip_prefix("*/").is_some_and(|s| {
                                    !a.subresource.is_empty() && s == a.subresource
                                })
                                || r.strip_suffix("/*").is_some_and(|res| res == a.resource)
                        }))
                    && (gr.resource_names.is_empty() || gr.resource_names.contains(&a.name))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::http::User;

    fn req(verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
        Attributes {
            user: User {
                name: "alice".into(),
                groups: vec!["dev".into()],
                ..User::default()
            },
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            namespace: ns.into(),
            resource: resource.into(),
            ..Attributes::default()
        }
    }

    #[test]
    fn default_policy_levels() {
        let p = Policy::default_policy();
        assert_eq!(p.rules.len(), 5, "the default policy text parses");
        assert_eq!(
            p.level(&req("create", "apps", "deployments", "a")),
            Level::RequestResponse
        );
        assert_eq!(
            p.level(&req("list", "apps", "deployments", "a")),
            Level::Metadata
        );
        assert_eq!(p.level(&req("create", "", "secrets", "a")), Level::Metadata);
        assert_eq!(
            p.level(&req("update", "coordination.k8s.io", "leases", "a")),
            Level::None
        );
        let probe = Attributes {
            verb: "get".into(),
            path: "/apis/apps/v1".into(),
            ..Attributes::default()
        };
        assert_eq!(p.level(&probe), Level::None);
        let admin = Attributes {
            verb: "post".into(),
            path: "/admin/faults".into(),
            ..Attributes::default()
        };
        assert_eq!(p.level(&admin), Level::RequestResponse);
    }

    #[test]
    fn rules_and_the_secret_cap() {
        let p = Policy::from_yaml(
            r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    users: [bob]
  - level: Request
    userGroups: [dev]
    namespaces: [a]
    resources: [{group: "", resources: ["pods/*"]}]
  - level: RequestResponse
"#,
        )
        .unwrap();
        let mut pod_log = req("get", "", "pods", "a");
        pod_log.subresource = "log".into();
        assert_eq!(p.level(&pod_log), Level::Request);
        assert_eq!(
            p.level(&req("get", "", "pods", "b")),
            Level::RequestResponse
        );
        let mut bob = req("get", "", "pods", "a");
        bob.user.name = "bob".into();
        assert_eq!(p.level(&bob), Level::None);
        // The catch-all says RequestResponse; Secrets never go beyond Metadata.
        assert_eq!(p.level(&req("get", "", "secrets", "a")), Level::Metadata);
        let mut token = req("create", "", "serviceaccounts", "a");
        token.subresource = "token".into();
        assert_eq!(p.level(&token), Level::Metadata);
        assert!(Policy::from_yaml("rules: [{level: Loud}]").is_err());
    }
}
