//! Who may do what, end to end with the real `kubectl` against the real `cceone-kubesim`: a
//! user with a client certificate, bound to `edit` in one namespace, works there and is refused
//! elsewhere with kube-apiserver's words; `kubectl auth can-i` (also `--list`) and
//! `kubectl auth whoami` answer for them; impersonating without the `impersonate` verb is
//! refused, while the admin (system:masters) may.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Output;

use cceone_kube_apiserver::{Credential, Pki};
use support::{Sim, kubectl_bin};

/// A kubeconfig for `user` in `groups`, with a client certificate from the simulator's CA.
fn user_kubeconfig(sim: &Sim, user: &str, groups: &[&str]) -> PathBuf {
    let pki = Pki::load_or_generate(Some(&sim.dir.path().join("data")), &[]).unwrap();
    let (cert, key) = pki.issue_client(user, groups).unwrap();
    let server = format!("https://127.0.0.1:{}", sim.port);
    let text = cceone_kube_apiserver::tls::kubeconfig(
        "sim",
        &server,
        &pki.ca_cert,
        user,
        &Credential::ClientCert { cert, key },
    );
    let path = sim.dir.path().join(format!("{user}.kubeconfig"));
    std::fs::write(&path, text).unwrap();
    path
}

fn kubectl_as(kubeconfig: &PathBuf, args: &[&str]) -> Output {
    std::process::Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// kubectl that must exit with `code`; returns (stdout, stderr).
fn exits(code: i32, kc: &PathBuf, args: &[&str]) -> (String, String) {
    let out = kubectl_as(kc, args);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "kubectl {args:?}: {o}\n{e}");
    (o, e)
}

#[test]
fn edit_in_one_namespace_can_i_whoami_and_impersonation() {
    let sim = Sim::start(&[]);
    let admin = sim.kubeconfig.clone();
    for ns in ["team-a", "team-b"] {
        sim.ok(&["create", "namespace", ns]);
    }
    sim.ok(&[
        "create",
        "rolebinding",
        "alice-edit",
        "--clusterrole=edit",
        "--user=alice",
        "-n",
        "team-a",
    ]);
    let alice = user_kubeconfig(&sim, "alice", &["dev"]);

    // Deployments in team-a: yes; in team-b: refused as kube-apiserver words it.
    let (out, _) = exits(
        0,
        &alice,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "-n",
            "team-a",
        ],
    );
    assert_eq!(out.trim(), "deployment.apps/web created");
    let (out, _) = exits(
        0,
        &alice,
        &["get", "deployments", "-n", "team-a", "-o", "name"],
    );
    assert_eq!(out.trim(), "deployment.apps/web");
    let (_, err) = exits(
        1,
        &alice,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "-n",
            "team-b",
        ],
    );
    assert!(
        err.contains(
            "deployments.apps is forbidden: User \"alice\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"team-b\""
        ),
        "{err}"
    );
    let (_, err) = exits(1, &alice, &["get", "deployments", "-n", "team-b"]);
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): deployments.apps is forbidden: User \"alice\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"team-b\""
    );
    let (_, err) = exits(1, &alice, &["get", "nodes"]);
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    );
    // edit may not grant: no RoleBindings, even in its own namespace.
    let (_, err) = exits(
        1,
        &alice,
        &[
            "create",
            "rolebinding",
            "self",
            "--clusterrole=admin",
            "--user=alice",
            "-n",
            "team-a",
        ],
    );
    assert!(
        err.contains("rolebindings.rbac.authorization.k8s.io is forbidden"),
        "{err}"
    );

    // kubectl auth can-i, for oneself and (as the admin) for someone else.
    let (out, _) = exits(
        0,
        &alice,
        &["auth", "can-i", "create", "deployments", "-n", "team-a"],
    );
    assert_eq!(out.trim(), "yes");
    let (out, _) = exits(
        1,
        &alice,
        &["auth", "can-i", "create", "deployments", "-n", "team-b"],
    );
    assert_eq!(out.trim(), "no");
    let (out, _) = exits(
        0,
        &alice,
        &["auth", "can-i", "get", "secrets", "-n", "team-a"],
    );
    assert_eq!(out.trim(), "yes");
    let (out, _) = exits(
        1,
        &alice,
        &[
            "auth",
            "can-i",
            "update",
            "deployments",
            "--subresource=status",
            "-n",
            "team-a",
        ],
    );
    assert_eq!(out.trim(), "no");
    let (out, _) = exits(
        1,
        &admin,
        &[
            "auth", "can-i", "delete", "pods", "-n", "team-b", "--as", "alice",
        ],
    );
    assert_eq!(out.trim(), "no");
    let (out, _) = exits(
        0,
        &admin,
        &["auth", "can-i", "delete", "pods", "-n", "team-b"],
    );
    assert_eq!(out.trim(), "yes");
    let (out, _) = exits(0, &alice, &["auth", "can-i", "--list", "-n", "team-a"]);
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("Resources")
            && header.contains("Non-Resource URLs")
            && header.contains("Verbs"),
        "{out}"
    );
    let deployments = out
        .lines()
        .find(|l| l.starts_with("deployments.apps "))
        .unwrap_or_else(|| panic!("no deployments.apps row:\n{out}"));
    assert!(
        deployments.contains("create") && deployments.contains("get"),
        "{deployments}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("selfsubjectaccessreviews.authorization.k8s.io ")),
        "{out}"
    );
    let (out, _) = exits(0, &alice, &["auth", "can-i", "--list", "-n", "team-b"]);
    assert!(!out.contains("deployments.apps"), "{out}");

    // kubectl auth whoami.
    let (out, _) = exits(0, &alice, &["auth", "whoami"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["ATTRIBUTE", "VALUE"],
            vec!["Username", "alice"],
            vec!["Groups", "[dev", "system:authenticated]"],
        ],
        "{out}"
    );
    let (out, _) = exits(
        0,
        &admin,
        &["auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"],
    );
    assert_eq!(out, "[\"system:masters\",\"system:authenticated\"]");
    let as_bob = ["auth", "whoami", "--as", "bob", "--as-group", "ops", "-o"];
    let (out, _) = exits(
        0,
        &admin,
        &[&as_bob[..], &["jsonpath={.status.userInfo.username}"]].concat(),
    );
    assert_eq!(out, "bob");
    let (out, _) = exits(
        0,
        &admin,
        &[&as_bob[..], &["jsonpath={.status.userInfo.groups}"]].concat(),
    );
    assert_eq!(out, "[\"ops\",\"system:authenticated\"]");

    // Impersonation needs the impersonate verb; alice has none.
    let (_, err) = exits(1, &alice, &["get", "pods", "-n", "team-a", "--as", "bob"]);
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
    // Given the verb on one user, alice may act as that user and no other.
    let grant = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-bob}
rules:
- {apiGroups: [\"\"], resources: [users], resourceNames: [bob], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-impersonates-bob}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-bob}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], Some(grant));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (out, _) = exits(
        0,
        &alice,
        &[
            "auth",
            "whoami",
            "--as",
            "bob",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(out, "bob");
    // ... but not with groups it was not given: no way into system:masters.
    let (_, err) = exits(
        1,
        &alice,
        &[
            "get",
            "pods",
            "-n",
            "team-a",
            "--as",
            "bob",
            "--as-group",
            "system:masters",
        ],
    );
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): groups \"system:masters\" is forbidden: User \"alice\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope"
    );
    let (_, err) = exits(1, &alice, &["get", "pods", "-n", "team-a", "--as", "carol"]);
    assert!(err.contains("users \"carol\" is forbidden"), "{err}");
    // whoami words any 403 its own way (as against kube-apiserver).
    let (_, err) = exits(1, &alice, &["auth", "whoami", "--as", "carol"]);
    assert_eq!(
        err.trim(),
        "error: the selfsubjectreviews API is not enabled in the cluster or you do not have permission to call it"
    );
}

/// Escalation prevention: a namespace admin may hand out what they hold there (edit, a Role
/// within their rights) but not more (cluster-admin, a wildcard Role), as in kube-apiserver.
#[test]
fn namespace_admins_grant_no_more_than_they_hold() {
    let sim = Sim::start(&[]);
    sim.ok(&["create", "namespace", "team-a"]);
    sim.ok(&[
        "create",
        "rolebinding",
        "bob-admin",
        "--clusterrole=admin",
        "--user=bob",
        "-n",
        "team-a",
    ]);
    let bob = user_kubeconfig(&sim, "bob", &[]);
    let binding = |name: &str, role: &str| {
        vec![
            "create".to_string(),
            "rolebinding".into(),
            name.into(),
            format!("--clusterrole={role}"),
            "--user=carol".into(),
            "-n".into(),
            "team-a".into(),
        ]
    };
    let args = binding("carol-edit", "edit");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = exits(0, &bob, &args);
    assert_eq!(
        out.trim(),
        "rolebinding.rbac.authorization.k8s.io/carol-edit created"
    );
    let args = binding("carol-root", "cluster-admin");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, err) = exits(1, &bob, &args);
    assert!(
        err.contains(
            "rolebindings.rbac.authorization.k8s.io \"carol-root\" is forbidden: user \"bob\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:"
        ) && err.contains("{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}"),
        "{err}"
    );
    let (out, _) = exits(
        0,
        &bob,
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get",
            "--verb=list",
            "--resource=pods",
            "-n",
            "team-a",
        ],
    );
    assert_eq!(
        out.trim(),
        "role.rbac.authorization.k8s.io/pod-reader created"
    );
    let (_, err) = exits(
        1,
        &bob,
        &[
            "create",
            "role",
            "everything",
            "--verb=*",
            "--resource=pods",
            "-n",
            "team-a",
        ],
    );
    assert!(
        err.contains("is attempting to grant RBAC permissions not currently held"),
        "{err}"
    );
    // What bob could not grant, carol does not have.
    let carol = user_kubeconfig(&sim, "carol", &[]);
    let (out, _) = exits(
        0,
        &carol,
        &["auth", "can-i", "create", "deployments", "-n", "team-a"],
    );
    assert_eq!(out.trim(), "yes");
    let (out, _) = exits(
        1,
        &carol,
        &["auth", "can-i", "create", "rolebindings", "-n", "team-a"],
    );
    assert_eq!(out.trim(), "no");
}
