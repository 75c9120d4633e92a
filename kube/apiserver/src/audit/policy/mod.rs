//! The audit policy (`audit.k8s.io/v1` `Policy`): the first rule matching a request sets its
//! level and the stages left out, as kube-apiserver's policy checker
//! (staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go). Pure: no I/O but [`Policy::load`].

mod load;

use serde::Deserialize;

pub use load::{MAX_POLICY_BYTES, PolicyError};

use super::stage::{Stage, Stages};
use crate::authz::Attributes;
use crate::http::User;

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

    /// The level of a name.
    pub fn parse(name: &str) -> Option<Level> {
        [
            Level::None,
            Level::Metadata,
            Level::Request,
            Level::RequestResponse,
        ]
        .into_iter()
        .find(|l| l.as_str() == name)
    }
}

/// Resources a rule matches (`group` `""` is the core group).
#[derive(Debug, Clone, Default)]
pub struct GroupResources {
    /// API group.
    pub group: String,
    /// Resources (`pods`, `pods/log`, `*/status`, `pods/*`, `*`); empty means all in the group.
    pub resources: Vec<String>,
    /// Names; empty means all.
    pub resource_names: Vec<String>,
}

/// One rule; every listed criterion must match (an empty list matches anything).
#[derive(Debug, Clone)]
pub struct Rule {
    /// The level of matching requests.
    pub level: Level,
    /// User names.
    pub users: Vec<String>,
    /// Groups (any of the user's).
    pub user_groups: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Resources (resource requests only).
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""` matches cluster-scoped resources).
    pub namespaces: Vec<String>,
    /// Non-resource paths; a trailing `*` matches any suffix.
    pub non_resource_urls: Vec<String>,
    /// Stages not recorded (the policy's own are added when it is loaded).
    pub omit_stages: Stages,
    /// Whether `managedFields` are left out of recorded bodies (None: as the policy says).
    pub omit_managed_fields: Option<bool>,
}

/// An audit policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The rules, first match wins; no match is `None`.
    pub rules: Vec<Rule>,
    /// Stages no request is recorded at.
    pub omit_stages: Stages,
    /// Whether `managedFields` are left out of recorded bodies, unless a rule says otherwise.
    pub omit_managed_fields: bool,
}

/// What the policy says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// How much is recorded.
    pub level: Level,
    /// The stages not recorded.
    pub omit: Stages,
    /// Whether `managedFields` are left out of the bodies recorded.
    pub omit_managed_fields: bool,
}

impl Decision {
    /// Whether an event is written at `stage`.
    pub fn records(&self, stage: Stage) -> bool {
        self.level != Level::None && !self.omit.contains(stage)
    }
}

/// The built-in policy, used when no policy file is given. As GCE's and the kube docs' example
/// policies, the `RequestReceived` stage is left out (a `ResponseComplete` or `ResponseStarted`
/// event says all it does, and the log grows half as fast).
const DEFAULT_POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
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

impl Policy {
    /// The default: health, version and discovery probes and leases not recorded, events and
    /// reads at Metadata, Secrets (and every request the secret rule below catches) at
    /// Metadata, writes at RequestResponse, everything else at Metadata; no `RequestReceived`.
    pub fn default_policy() -> Policy {
        // The text is a constant checked by a test; an error would make the default record
        // at Metadata, never at a level leaking more.
        Policy::from_yaml(DEFAULT_POLICY).unwrap_or(Policy {
            rules: vec![Rule {
                level: Level::Metadata,
                users: vec![],
                user_groups: vec![],
                verbs: vec![],
                resources: vec![],
                namespaces: vec![],
                non_resource_urls: vec![],
                omit_stages: Stages::NONE.with(Stage::RequestReceived),
                omit_managed_fields: None,
            }],
            omit_stages: Stages::NONE.with(Stage::RequestReceived),
            omit_managed_fields: false,
        })
    }

    /// The level of a request, matched on the user in its attributes.
    pub fn level(&self, a: &Attributes) -> Level {
        self.decide(a, &a.user).level
    }

    /// What the policy says of a request made by `user` (the authenticated caller: as
    /// kube-apiserver, whose audit filter runs before impersonation, rules match the caller,
    /// not whom they impersonate).
    ///
    /// Secrets, token reviews and service account tokens are capped at Metadata whatever the
    /// rules say: their bodies are credentials. (kube-apiserver leaves that to the policy; here
    /// no policy can write a credential to the log.)
    pub fn decide(&self, a: &Attributes, user: &User) -> Decision {
        let (level, omit, omit_managed_fields) =
            match self.rules.iter().find(|r| r.matches(a, user)) {
                Some(r) => (
                    r.level,
                    r.omit_stages,
                    r.omit_managed_fields.unwrap_or(self.omit_managed_fields),
                ),
                None => (Level::None, self.omit_stages, self.omit_managed_fields),
            };
        let level = if carries_credentials(a) {
            level.min(Level::Metadata)
        } else {
            level
        };
        Decision {
            level,
            omit,
            omit_managed_fields,
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
    /// As `ruleMatches` in kube's checker.go.
    fn matches(&self, a: &Attributes, user: &User) -> bool {
        let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        if !any(&self.users, &user.name)
            || !(self.user_groups.is_empty()
                || user.groups.iter().any(|g| self.user_groups.contains(g)))
            || !any(&self.verbs, &a.verb)
        {
            return false;
        }
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            return a.resource_request && any(&self.namespaces, &a.namespace) && self.resource(a);
        }
        if !self.non_resource_urls.is_empty() {
            return !a.resource_request
                && self.non_resource_urls.iter().any(|u| {
                    u == "*"
                        || u == &a.path
                        || u.strip_suffix('*')
                            .is_some_and(|prefix| a.path.starts_with(prefix))
                });
        }
        true
    }

    /// Whether the request's resource is one of the rule's (`ruleMatchesResource`).
    fn resource(&self, a: &Attributes) -> bool {
        if self.resources.is_empty() {
            return true;
        }
        let combined = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        self.resources.iter().any(|gr| {
            gr.group == a.api_group
                && (gr.resources.is_empty()
                    || ((gr.resource_names.is_empty() || gr.resource_names.contains(&a.name))
                        && gr.resources.iter().any(|r| {
                            r == "*"
                                || *r == combined
                                || r.strip_prefix("*/").is_some_and(|s| {
                                    !a.subresource.is_empty() && s == a.subresource
                                })
                                || r.strip_suffix("/*").is_some_and(|res| res == a.resource)
                        })))
        })
    }
}

#[cfg(test)]
mod tests;
