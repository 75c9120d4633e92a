#![allow(clippy::unwrap_used)]

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

fn policy(rules: &str) -> Policy {
    Policy::from_yaml(&format!(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\n{rules}"
    ))
    .unwrap()
}

fn error(text: &str) -> String {
    Policy::from_yaml(text).unwrap_err().to_string()
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
    // RequestReceived is left out of every rule's events.
    let watch = req("watch", "", "pods", "a");
    let d = p.decide(&watch, &watch.user);
    assert!(!d.records(Stage::RequestReceived));
    assert!(d.records(Stage::ResponseStarted) && d.records(Stage::ResponseComplete));
}

#[test]
fn rules_and_the_secret_cap() {
    let p = policy(
        r#"
rules:
  - level: None
    users: [bob]
  - level: Request
    userGroups: [dev]
    namespaces: [a]
    resources: [{group: "", resources: ["pods/*"]}]
  - level: RequestResponse
"#,
    );
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
    // Rules match the caller, not whom they impersonate (`a.user` is alice here).
    let caller = User {
        name: "bob".into(),
        ..User::default()
    };
    assert_eq!(
        p.decide(&req("get", "", "pods", "b"), &caller).level,
        Level::None
    );
    // The catch-all says RequestResponse; Secrets never go beyond Metadata.
    assert_eq!(p.level(&req("get", "", "secrets", "a")), Level::Metadata);
    let mut token = req("create", "", "serviceaccounts", "a");
    token.subresource = "token".into();
    assert_eq!(p.level(&token), Level::Metadata);
}

#[test]
fn stages_and_managed_fields_from_policy_and_rule() {
    let p = policy(
        r#"
omitStages: [Panic]
omitManagedFields: true
rules:
  - level: Metadata
    resources: [{group: "", resources: [configmaps], resourceNames: [quiet]}]
    omitStages: [RequestReceived]
    omitManagedFields: false
  - level: Request
    nonResourceURLs: ["*"]
  - level: Metadata
"#,
    );
    let mut quiet = req("get", "", "configmaps", "a");
    quiet.name = "quiet".into();
    let d = p.decide(&quiet, &quiet.user);
    assert_eq!(d.level, Level::Metadata);
    assert!(!d.records(Stage::RequestReceived) && !d.records(Stage::Panic));
    assert!(d.records(Stage::ResponseComplete));
    assert!(!d.omit_managed_fields, "the rule's own setting wins");
    let other = req("get", "", "configmaps", "a");
    let d = p.decide(&other, &other.user);
    assert!(d.records(Stage::RequestReceived) && !d.records(Stage::Panic));
    assert!(d.omit_managed_fields, "the policy's");
    let path = Attributes {
        verb: "get".into(),
        path: "/metrics".into(),
        ..Attributes::default()
    };
    assert_eq!(p.level(&path), Level::Request, "`*` matches any path");
}

#[test]
fn invalid_policies_name_the_field() {
    let head = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";
    assert_eq!(
        error(&format!("{head}rules: [{{level: Loud}}]")),
        r#"the audit policy is not valid: rules[0].level: Unsupported value: "Loud": supported values: "None", "Metadata", "Request", "RequestResponse""#
    );
    assert_eq!(
        error(&format!(
            "{head}rules:\n- level: None\n- level: Metadata\n  omitStages: [RequestReceived, Done]\n  nonResourceURLs: [healthz, '/a*b']"
        )),
        "the audit policy is not valid: rules[1].nonResourceURLs[0]: Invalid value: \"healthz\": non-resource URL rules must begin with a '/' character; rules[1].nonResourceURLs[1]: Invalid value: \"/a*b\": non-resource URL wildcards '*' must be the final character of the rule; rules[1].omitStages[1]: Invalid value: \"Done\": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic"
    );
    assert!(
        error(&format!(
            "{head}rules: [{{level: None, namespaces: [a], nonResourceURLs: ['/x']}}]"
        ))
        .contains("rules[0].nonResourceURLs: Invalid value")
    );
    assert!(
        error(&format!(
            "{head}rules: [{{level: None, resources: [{{group: Apps/v1, resourceNames: [x]}}]}}]"
        ))
        .contains("rules[0].resources.group: Invalid value: \"Apps/v1\"")
    );
    assert!(error(&format!("{head}rules: []")).contains("rules: Required value"));
    assert!(error(&format!("{head}rules: [{{}}]")).contains("rules[0].level: Required value"));
    assert!(
        error("kind: Policy\nrules: [{level: None}]")
            .contains(r#"apiVersion: Unsupported value: """#)
    );
    // Unknown fields are refused with their name (serde_yaml names where).
    let e = error(&format!("{head}rules: [{{level: None, user: [a]}}]"));
    assert!(e.contains("unknown field `user`"), "{e}");
}

#[test]
fn files_are_read_within_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("policy.yaml");
    std::fs::write(
        &small,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n",
    )
    .unwrap();
    assert_eq!(Policy::load(&small).unwrap().rules.len(), 1);
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, "#".repeat(MAX_POLICY_BYTES as usize + 1)).unwrap();
    assert!(matches!(
        Policy::load(&big),
        Err(PolicyError::TooLarge { .. })
    ));
    assert!(matches!(
        Policy::load(&dir.path().join("missing.yaml")),
        Err(PolicyError::Read { .. })
    ));
}
