#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cceone_kube_store::{EmbeddedOptions, EmbeddedStore, Store};
use serde_json::{Value, json};

use super::*;
use crate::core::WriteOptions;

async fn core() -> Arc<Core> {
    let store = EmbeddedStore::open(EmbeddedOptions {
        dir: None,
        fsync: false,
        ..EmbeddedOptions::default()
    })
    .unwrap();
    let store: Arc<dyn Store> = store;
    let core = Core::new(store).await.unwrap();
    bootstrap::seed(&core).await.unwrap();
    core
}

async fn create(core: &Arc<Core>, plural: &str, ns: Option<&str>, obj: Value) {
    if let Some(ns) = ns {
        let nss = core.resource("", "v1", "namespaces").unwrap();
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let _ = core.create(&nss, None, obj, &WriteOptions::default()).await;
    }
    let res = core.resource(RBAC_GROUP, "v1", plural).unwrap();
    core.create(&res, ns, obj, &WriteOptions::default())
        .await
        .unwrap();
}

fn user(name: &str, groups: &[&str]) -> User {
    User {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..User::default()
    }
}

fn res(u: &User, verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Attributes {
    Attributes {
        user: u.clone(),
        verb: verb.into(),
        resource_request: true,
        api_group: group.into(),
        namespace: ns.into(),
        resource: resource.into(),
        name: name.into(),
        ..Attributes::default()
    }
}

fn role_binding(name: &str, ns: &str, kind: &str, role: &str, subject: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": name, "namespace": ns},
           "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": role},
           "subjects": [subject]})
}

#[tokio::test]
async fn edit_in_one_namespace_and_nowhere_else() {
    let core = core().await;
    create(
        &core,
        "rolebindings",
        Some("team-a"),
        role_binding(
            "alice-edit",
            "team-a",
            "ClusterRole",
            "edit",
            json!({"kind": "User", "name": "alice"}),
        ),
    )
    .await;
    let rbac = Rbac::new(Arc::clone(&core));
    let alice = user("alice", &["system:authenticated"]);
    let d = rbac
        .authorize(&res(&alice, "create", "apps", "deployments", "team-a", ""))
        .await;
    assert!(d.allowed);
    assert_eq!(
        d.reason,
        "RBAC: allowed by RoleBinding \"alice-edit/team-a\" of ClusterRole \"edit\" to User \"alice\""
    );
    let elsewhere = res(&alice, "create", "apps", "deployments", "team-b", "");
    let d = rbac.authorize(&elsewhere).await;
    assert!(!d.allowed);
    assert_eq!(d.reason, "");
    let s = forbidden_status(&elsewhere, &d.reason);
    assert_eq!(
        s["message"],
        "deployments.apps is forbidden: User \"alice\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"team-b\""
    );
    assert_eq!(s["code"], 403);
    assert_eq!(
        s["details"],
        json!({"group": "apps", "kind": "deployments"})
    );
    // edit writes but does not grant: no RoleBindings, no status subresources.
    assert!(
        !rbac
            .authorize(&res(
                &alice,
                "create",
                RBAC_GROUP,
                "rolebindings",
                "team-a",
                ""
            ))
            .await
            .allowed
    );
    let mut status = res(&alice, "update", "apps", "deployments", "team-a", "web");
    status.subresource = "status".into();
    assert!(!rbac.authorize(&status).await.allowed);
    // The self reviews and discovery come with being authenticated.
    let ssar = res(
        &alice,
        "create",
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "",
        "",
    );
    assert!(rbac.authorize(&ssar).await.allowed);
    let discovery = Attributes {
        user: alice.clone(),
        verb: "get".into(),
        path: "/apis/apps/v1".into(),
        ..Attributes::default()
    };
    assert!(rbac.authorize(&discovery).await.allowed);
    let cluster = res(&alice, "get", "", "namespaces", "", "team-a");
    let s = forbidden_status(&cluster, "");
    assert_eq!(
        s["message"],
        "namespaces \"team-a\" is forbidden: User \"alice\" cannot get resource \"namespaces\" in API group \"\" at the cluster scope"
    );
}

#[tokio::test]
async fn masters_roles_names_and_missing_roles() {
    let core = core().await;
    let rbac = Rbac::new(Arc::clone(&core));
    let admin = user("admin", &["system:masters"]);
    assert!(
        rbac.authorize(&res(&admin, "delete", "x.io", "anything", "", "y"))
            .await
            .allowed
    );
    create(
        &core,
        "roles",
        Some("ns"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "one-cm", "namespace": "ns"},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["one"],
                          "verbs": ["get"]}]}),
    )
    .await;
    create(
        &core,
        "rolebindings",
        Some("ns"),
        role_binding(
            "b",
            "ns",
            "Role",
            "one-cm",
            json!({"kind": "Group", "name": "dev"}),
        ),
    )
    .await;
    create(
        &core,
        "rolebindings",
        Some("ns"),
        role_binding(
            "dangling",
            "ns",
            "Role",
            "gone",
            json!({"kind": "Group", "name": "dev"}),
        ),
    )
    .await;
    let bob = user("bob", &["dev"]);
    assert!(
        rbac.authorize(&res(&bob, "get", "", "configmaps", "ns", "one"))
            .await
            .allowed
    );
    let d = rbac
        .authorize(&res(&bob, "get", "", "configmaps", "ns", "two"))
        .await;
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        "RBAC: role.rbac.authorization.k8s.io \"gone\" not found"
    );
}

#[tokio::test]
async fn aggregated_roles_pick_up_labelled_roles() {
    let core = core().await;
    let rbac = Rbac::new(Arc::clone(&core));
    create(
        &core,
        "clusterrolebindings",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "carol-view"},
               "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "User", "name": "carol"}]}),
    )
    .await;
    let carol = user("carol", &[]);
    let widgets = res(&carol, "list", "example.com", "widgets", "x", "");
    assert!(
        rbac.authorize(&res(&carol, "list", "", "pods", "x", ""))
            .await
            .allowed
    );
    assert!(
        !rbac
            .authorize(&res(&carol, "list", "", "secrets", "x", ""))
            .await
            .allowed
    );
    assert!(!rbac.authorize(&widgets).await.allowed);
    create(
        &core,
        "clusterroles",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "widget-reader",
                            "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
               "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"],
                          "verbs": ["get", "list", "watch"]}]}),
    )
    .await;
    assert!(rbac.authorize(&widgets).await.allowed);
    // The aggregation controller writes the new rule into the stored view (and, through
    // edit's label, into edit and admin).
    let controller = tokio::spawn(aggregation::run(Arc::clone(&core)));
    let roles = core.resource(RBAC_GROUP, "v1", "clusterroles").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for name in ["view", "edit", "admin"] {
        loop {
            let r = core.get(&roles, None, name).await.unwrap();
            if r["rules"].to_string().contains("widgets") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} never got the widget rule"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    controller.abort();
    // The stored defaults carry their aggregated rules, as kube's controller writes them.
    let edit = core
        .get(
            &core.resource(RBAC_GROUP, "v1", "clusterroles").unwrap(),
            None,
            "edit",
        )
        .await
        .unwrap();
    let rules: Vec<rules::PolicyRule> = serde_json::from_value(edit["rules"].clone()).unwrap();
    let create_deploy = res(&carol, "create", "apps", "deployments", "x", "");
    let get_pods = res(&carol, "get", "", "pods", "x", "p");
    assert!(rules.iter().any(|r| rules::rule_allows(r, &create_deploy)));
    assert!(rules.iter().any(|r| rules::rule_allows(r, &get_pods)));
}

#[tokio::test]
async fn impersonation_needs_the_verb() {
    let core = core().await;
    let rbac = Rbac::new(Arc::clone(&core));
    let mut h = http::HeaderMap::new();
    h.insert("impersonate-user", "bob".parse().unwrap());
    let alice = user("alice", &["system:authenticated"]);
    match impersonate::resolve(&rbac, &alice, &h).await {
        Err(impersonate::Refusal::Forbidden(s)) => assert_eq!(
            s["message"],
            "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        ),
        other => panic!("{other:?}"),
    }
    let admin = user("admin", &["system:masters"]);
    h.append("impersonate-group", "dev".parse().unwrap());
    let as_bob = impersonate::resolve(&rbac, &admin, &h).await.unwrap();
    assert_eq!(as_bob, user("bob", &["dev", "system:authenticated"]));
    let none = impersonate::resolve(&rbac, &alice, &http::HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(none, alice);
}

#[tokio::test]
async fn reviews_answer_for_the_caller() {
    let core = core().await;
    let rbac = Rbac::new(Arc::clone(&core));
    let alice = user("alice", &["system:authenticated"]);
    let no_tokens = |_: &str| None;
    let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "a", "verb": "list", "resource": "pods"}}});
    let (code, out) = reviews::answer(
        &rbac,
        &alice,
        "authorization.k8s.io",
        &["selfsubjectaccessreviews"],
        "POST",
        body,
        &no_tokens,
    )
    .await
    .unwrap();
    assert_eq!(code, 201);
    assert_eq!(out["status"], json!({"allowed": false}));
    let body = json!({"spec": {"namespace": "a"}});
    let (_, out) = reviews::answer(
        &rbac,
        &alice,
        "authorization.k8s.io",
        &["selfsubjectrulesreviews"],
        "POST",
        body,
        &no_tokens,
    )
    .await
    .unwrap();
    let verbs_on_ssar = out["status"]["resourceRules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["resources"]
                .to_string()
                .contains("selfsubjectaccessreviews")
        })
        .map(|r| r["verbs"].clone());
    assert_eq!(verbs_on_ssar, Some(json!(["create"])));
    let (_, out) = reviews::answer(
        &rbac,
        &alice,
        "authentication.k8s.io",
        &["selfsubjectreviews"],
        "POST",
        json!({}),
        &no_tokens,
    )
    .await
    .unwrap();
    assert_eq!(
        out["status"]["userInfo"],
        json!({"username": "alice", "groups": ["system:authenticated"]})
    );
    assert_eq!(out["kind"], "SelfSubjectReview");
}
