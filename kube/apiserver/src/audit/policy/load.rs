//! Reading a policy file: YAML or JSON in the `audit.k8s.io/v1` `Policy` format, bounded in
//! size, every rule checked as kube-apiserver checks it
//! (staging/src/k8s.io/apiserver/pkg/apis/audit/validation/validation.go and
//! pkg/audit/policy/reader.go), errors naming the field (`rules[2].omitStages[0]: ...`).

use std::io::Read as _;
use std::path::Path;

use serde::Deserialize;

use super::{GroupResources, Level, Policy, Rule};
use crate::audit::stage::{Stage, Stages};

/// The largest policy file read (kube-apiserver's have a few dozen rules; this is thousands).
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// A policy that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("reading the audit policy {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_POLICY_BYTES`].
    #[error("the audit policy {path} is larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// Not YAML or JSON of the policy's shape (unknown fields included).
    #[error("the audit policy is not valid: {0}")]
    Decode(#[from] serde_yaml::Error),
    /// Fields with values a policy may not hold, each named.
    #[error("the audit policy is not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    /// Accepted and ignored, as kube-apiserver does.
    #[serde(default, rename = "metadata")]
    _metadata: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    omit_managed_fields: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    level: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<RawGroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    omit_managed_fields: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

impl Policy {
    /// Read a policy file (`--audit-policy-file`).
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let shown = path.display().to_string();
        let read_error = |source| PolicyError::Read {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        file.take(MAX_POLICY_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge { path: shown });
        }
        Policy::from_yaml(&text)
    }

    /// Parse and check a policy from YAML or JSON.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = serde_yaml::from_str(text)?;
        let mut errors = Vec::new();
        if raw.api_version != "audit.k8s.io/v1" {
            errors.push(unsupported(
                "apiVersion",
                &raw.api_version,
                &["audit.k8s.io/v1"],
            ));
        }
        if raw.kind != "Policy" {
            errors.push(unsupported("kind", &raw.kind, &["Policy"]));
        }
        let omit_stages = stages(&raw.omit_stages, "omitStages", &mut errors);
        if raw.rules.is_empty() {
            // reader.go: "loaded illegal policy with 0 rules".
            errors.push("rules: Required value: a policy needs at least one rule".into());
        }
        let rules = raw
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| rule(r, &format!("rules[{i}]"), omit_stages, &mut errors))
            .collect();
        if !errors.is_empty() {
            return Err(PolicyError::Invalid(errors));
        }
        Ok(Policy {
            rules,
            omit_stages,
            omit_managed_fields: raw.omit_managed_fields,
        })
    }
}

/// A checked rule; its stages are the policy's and its own (`NewChecker`'s `unionStages`).
fn rule(r: RawRule, at: &str, policy_stages: Stages, errors: &mut Vec<String>) -> Rule {
    let level = match Level::parse(&r.level) {
        Some(l) => l,
        None if r.level.is_empty() => {
            errors.push(format!("{at}.level: Required value"));
            Level::None
        }
        None => {
            errors.push(unsupported(
                &format!("{at}.level"),
                &r.level,
                &["None", "Metadata", "Request", "RequestResponse"],
            ));
            Level::None
        }
    };
    for (i, url) in r.non_resource_urls.iter().enumerate() {
        if url == "*" {
            continue;
        }
        let field = format!("{at}.nonResourceURLs[{i}]");
        if !url.starts_with('/') {
            errors.push(invalid(
                &field,
                url,
                "non-resource URL rules must begin with a '/' character",
            ));
        }
        if url.find('*').is_some_and(|i| i + 1 < url.len()) {
            errors.push(invalid(
                &field,
                url,
                "non-resource URL wildcards '*' must be the final character of the rule",
            ));
        }
    }
    if !r.non_resource_urls.is_empty() && (!r.resources.is_empty() || !r.namespaces.is_empty()) {
        errors.push(invalid(
            &format!("{at}.nonResourceURLs"),
            &format!("{:?}", r.non_resource_urls),
            "rules cannot apply to both regular resources and non-resource URLs",
        ));
    }
    let resources = r
        .resources
        .into_iter()
        .map(|gr| {
            if !gr.group.is_empty() && !is_dns_subdomain(&gr.group) {
                errors.push(invalid(
                    &format!("{at}.resources.group"),
                    &gr.group,
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
                     characters, '-' or '.', and must start and end with an alphanumeric character",
                ));
            }
            if !gr.resource_names.is_empty() && gr.resources.is_empty() {
                errors.push(invalid(
                    &format!("{at}.resources.resourceNames"),
                    &format!("{:?}", gr.resource_names),
                    "using resourceNames requires at least one resource",
                ));
            }
            GroupResources {
                group: gr.group,
                resources: gr.resources,
                resource_names: gr.resource_names,
            }
        })
        .collect();
    let own = stages(&r.omit_stages, &format!("{at}.omitStages"), errors);
    Rule {
        level,
        users: r.users,
        user_groups: r.user_groups,
        verbs: r.verbs,
        resources,
        namespaces: r.namespaces,
        non_resource_urls: r.non_resource_urls,
        omit_stages: own.union(policy_stages),
        omit_managed_fields: r.omit_managed_fields,
    }
}

fn stages(names: &[String], at: &str, errors: &mut Vec<String>) -> Stages {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let stage = Stage::parse(name);
            if stage.is_none() {
                errors.push(invalid(
                    &format!("{at}[{i}]"),
                    name,
                    "allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic",
                ));
            }
            stage
        })
        .collect()
}

/// `field.Invalid` as apimachinery words it.
fn invalid(field: &str, value: &str, why: &str) -> String {
    format!("{field}: Invalid value: {value:?}: {why}")
}

/// `field.NotSupported` as apimachinery words it.
fn unsupported(field: &str, value: &str, supported: &[&str]) -> String {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "{field}: Unsupported value: {value:?}: supported values: {}",
        list.join(", ")
    )
}

/// A lowercase RFC 1123 subdomain (an API group's form).
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
