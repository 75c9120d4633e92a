//! Who may do what on `cceone up`, end to end with the real `kubectl` and `cceonectl`: a person's
//! kubeconfig from `cceonectl user kubeconfig`, RBAC in the federation API (edit in one
//! namespace, refused elsewhere in kube-apiserver's words, `auth can-i`, `auth whoami`,
//! impersonation refused without the verb), the platform's roles (`ccseone-viewer` reads,
//! `ccseone-user` cannot register clusters), the member's own RBAC deciding what a proxied
//! request may do, and the audit logs (`DIR/audit/audit.log`, the member's beside it) holding
//! each request with the right user and code and no Secret data.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{
    audit_events, cceone_up, eventually, free_port, kubectl, kubectl_bin, ok, run, step,
};

/// kubectl with `kc`: (exit code, stdout, stderr).
fn kubectl_as(kc: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Write what a `cceonectl ... kubeconfig` printed to `dir/name`.
fn save(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn people_rbac_member_rbac_and_the_audit_log_on_cceone_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = format!("127.0.0.1:{}", free_port());
    let (_up, admin) = cceone_up(d, 1, &hub);
    let admin_s = admin.display().to_string();
    step("cceone up ready");

    for ns in ["team-a", "team-b"] {
        kubectl(&admin, &["create", "namespace", ns]);
    }
    kubectl(
        &admin,
        &[
            "create",
            "rolebinding",
            "alice-edit",
            "--clusterrole=edit",
            "--user=alice",
            "-n",
            "team-a",
        ],
    );
    // A Secret whose data must never reach the audit log.
    kubectl(
        &admin,
        &[
            "create",
            "secret",
            "generic",
            "db",
            "-n",
            "team-a",
            "--from-literal=password=hunter2-not-for-the-log",
        ],
    );
    kubectl(
        &admin,
        &["get", "secret", "db", "-n", "team-a", "-o", "yaml"],
    );

    let text = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            &admin_s,
            "user",
            "kubeconfig",
            "alice",
            "--group",
            "dev",
        ],
    );
    let alice = save(d, "alice.kubeconfig", &text);

    step("alice: edit in team-a, refused in team-b");
    let (code, out, err) = kubectl_as(
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
    assert_eq!(
        (code, out.trim()),
        (Some(0), "deployment.apps/web created"),
        "{err}"
    );
    let (code, _, err) = kubectl_as(
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
    assert_eq!(code, Some(1));
    assert!(
        err.contains(
            "deployments.apps is forbidden: User \"alice\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"team-b\""
        ),
        "{err}"
    );
    let (code, _, err) = kubectl_as(&alice, &["get", "registeredclusters"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): registeredclusters.platform.cceone.io is forbidden: User \"alice\" cannot list resource \"registeredclusters\" in API group \"platform.cceone.io\" at the cluster scope"
    );

    step("auth can-i and whoami");
    let can_i = |ns: &str| {
        kubectl_as(
            &alice,
            &["auth", "can-i", "create", "deployments", "-n", ns],
        )
    };
    assert_eq!(can_i("team-a").1.trim(), "yes");
    let (code, out, _) = can_i("team-b");
    assert_eq!((code, out.trim()), (Some(1), "no"));
    let (code, out, err) = kubectl_as(&alice, &["auth", "whoami"]);
    assert_eq!(code, Some(0), "{err}");
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
        ]
    );

    step("impersonation without the verb");
    let (code, _, err) = kubectl_as(&alice, &["get", "pods", "-n", "team-a", "--as", "admin"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): users \"admin\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );

    step("the platform's roles");
    let person = |name: &str, role: &str| {
        kubectl(
            &admin,
            &[
                "create",
                "clusterrolebinding",
                &format!("{name}-{role}"),
                &format!("--clusterrole={role}"),
                &format!("--user={name}"),
            ],
        );
        let text = ok(
            "cceonectl",
            &["--kubeconfig", &admin_s, "user", "kubeconfig", name],
        );
        save(d, &format!("{name}.kubeconfig"), &text)
    };
    let carol = person("carol", "ccseone-viewer");
    let (code, out, err) = kubectl_as(&carol, &["get", "registeredclusters", "-o", "name"]);
    assert_eq!(
        (code, out.trim()),
        (Some(0), "registeredcluster.platform.cceone.io/member1"),
        "{err}"
    );
    let edge = save(
        d,
        "edge.yaml",
        "apiVersion: platform.cceone.io/v1alpha1\nkind: RegisteredCluster\nmetadata: {name: edge}\nspec: {type: local}\n",
    );
    let edge_s = edge.display().to_string();
    let (code, _, err) = kubectl_as(&carol, &["create", "-f", &edge_s]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(
            "registeredclusters.platform.cceone.io is forbidden: User \"carol\" cannot create resource \"registeredclusters\" in API group \"platform.cceone.io\" at the cluster scope"
        ),
        "{err}"
    );
    let dave = person("dave", "ccseone-user");
    let can = |kc: &Path, verb: &str, what: &str| {
        let (_, out, _) = kubectl_as(kc, &["auth", "can-i", verb, what, "-A"]);
        out.trim().to_string()
    };
    assert_eq!(
        can(&dave, "create", "propagationpolicies.policy.karmada.io"),
        "yes"
    );
    assert_eq!(
        can(&dave, "create", "registeredclusters.platform.cceone.io"),
        "no"
    );
    assert_eq!(
        can(&dave, "patch", "registeredclusters.platform.cceone.io"),
        "no"
    );
    assert_eq!(
        can(&carol, "create", "propagationpolicies.policy.karmada.io"),
        "no"
    );

    step("through the hub, the member's own RBAC decides");
    let member = d.join("data").join("members").join("member1.kubeconfig");
    // team-a reaches the member by namespace sync, as every federation namespace does.
    eventually("team-a synced to member1", Duration::from_secs(60), || {
        run(
            "kubectl",
            &[
                "--kubeconfig",
                member.to_str().unwrap(),
                "get",
                "namespace",
                "team-a",
            ],
        )
        .status
        .success()
        .then_some(())
    });
    kubectl(
        &member,
        &[
            "create",
            "rolebinding",
            "dev-edit",
            "--clusterrole=edit",
            "--group=devs",
            "-n",
            "team-a",
        ],
    );
    let text = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            &admin_s,
            "cluster",
            "kubeconfig",
            "member1",
            "--user",
            "dev",
            "--group",
            "devs",
        ],
    );
    let dev = save(d, "dev-member1.kubeconfig", &text);
    let (code, out, err) = kubectl_as(
        &dev,
        &[
            "create",
            "deployment",
            "api",
            "--image=nginx",
            "-n",
            "team-a",
        ],
    );
    assert_eq!(
        (code, out.trim()),
        (Some(0), "deployment.apps/api created"),
        "{err}"
    );
    let (code, _, err) = kubectl_as(&dev, &["get", "deployments", "-n", "default"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): deployments.apps is forbidden: User \"dev\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"default\""
    );
    let (_, out, _) = kubectl_as(
        &dev,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(out, "dev");

    step("the audit log");
    let log = d.join("data").join("audit").join("audit.log");
    // The first event of `user` doing `verb` on `resource` in `ns` answered with `code`.
    let find = |events: &[Value], user: &str, verb: &str, resource: &str, ns: &str, code: u64| {
        events
            .iter()
            .find(|e| {
                e["user"]["username"] == user
                    && e["verb"] == verb
                    && e["objectRef"]["resource"] == resource
                    && e["objectRef"]["namespace"] == ns
                    && e["responseStatus"]["code"] == code
            })
            .cloned()
    };
    let events = eventually(
        "alice's requests in the audit log",
        Duration::from_secs(10),
        || {
            let events = audit_events(&log);
            find(&events, "alice", "create", "deployments", "team-b", 403).map(|_| events)
        },
    );
    let created = find(&events, "alice", "create", "deployments", "team-a", 201).unwrap();
    assert_eq!(created["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(created["kind"], "Event");
    assert_eq!(created["objectRef"]["resource"], "deployments");
    assert_eq!(created["objectRef"]["apiGroup"], "apps");
    // The create's URL names no object; the event names the one created, as kube-apiserver's.
    assert_eq!(created["objectRef"]["name"], "web");
    assert_eq!(
        created["user"]["groups"],
        serde_json::json!(["dev", "system:authenticated"])
    );
    assert_eq!(created["sourceIPs"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(
        created["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert_eq!(created["responseObject"]["kind"], "Deployment");
    // kubectl sent it as protobuf; the log has it as JSON.
    assert_eq!(created["requestObject"]["kind"], "Deployment");
    assert_eq!(created["requestObject"]["metadata"]["name"], "web");
    assert!(
        created["requestReceivedTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let refused = find(&events, "alice", "create", "deployments", "team-b", 403).unwrap();
    assert_eq!(refused["responseStatus"]["reason"], "Forbidden");
    assert_eq!(
        refused["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );
    let impersonation = find(&events, "alice", "list", "pods", "team-a", 403).unwrap();
    assert!(
        impersonation["responseStatus"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot impersonate")),
        "{impersonation}"
    );
    for verb in ["create", "get"] {
        let code = if verb == "create" { 201 } else { 200 };
        let secret = find(&events, "admin", verb, "secrets", "team-a", code)
            .unwrap_or_else(|| panic!("no {verb} of the Secret in the audit log"));
        assert_eq!(secret["level"], "Metadata");
        assert!(secret.get("responseObject").is_none() && secret.get("requestObject").is_none());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    for leak in [
        "hunter2-not-for-the-log",
        "aHVudGVyMi1ub3QtZm9yLXRoZS1sb2c=",
    ] {
        assert!(!text.contains(leak), "Secret data in the audit log");
    }
    // cceonectl audit filters the log: alice's Deployment creates, one allowed, one refused.
    let log_s = log.display().to_string();
    let table = ok(
        "cceonectl",
        &[
            "audit",
            "--file",
            &log_s,
            "--user",
            "alice",
            "--verb",
            "create",
            "--resource",
            "deployments.apps",
            "--since",
            "1h",
        ],
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![
                "USER",
                "AS",
                "VERB",
                "RESOURCE",
                "NAMESPACE",
                "NAME",
                "CODE",
                "STAGE"
            ],
            vec![
                "alice",
                "-",
                "create",
                "deployments.apps",
                "team-a",
                "web",
                "201",
                "ResponseComplete"
            ],
            vec![
                "alice",
                "-",
                "create",
                "deployments.apps",
                "team-b",
                "-",
                "403",
                "ResponseComplete"
            ],
        ],
        "{table}"
    );
    // The member records what reached it through the hub: the agent's credentials, acting
    // as the kubeconfig's user.
    let member_log = d.join("data").join("audit").join("member1.log");
    let proxied = eventually(
        "dev's 403 in member1's audit log",
        Duration::from_secs(10),
        || {
            audit_events(&member_log).into_iter().find(|e| {
                e["impersonatedUser"]["username"] == "dev"
                    && e["verb"] == "list"
                    && e["objectRef"]["namespace"] == "default"
                    && e["responseStatus"]["code"] == 403
            })
        },
    );
    assert_eq!(
        proxied["impersonatedUser"]["groups"],
        serde_json::json!(["devs", "system:authenticated"])
    );
    assert_eq!(proxied["user"]["username"], "admin");
    // The hub's own record of the same request (DIR/audit/hub.log) carries the same auditID,
    // which the hub sent on to the member.
    let hub_log = d.join("data").join("audit").join("hub.log");
    let at_hub = eventually(
        "dev's request in the hub's log",
        Duration::from_secs(10),
        || {
            audit_events(&hub_log)
                .into_iter()
                .find(|e| e["auditID"] == proxied["auditID"])
        },
    );
    assert_eq!(at_hub["user"]["username"], "dev");
    assert_eq!(at_hub["responseStatus"]["code"], 403);
    assert_eq!(at_hub["annotations"]["cceone.io/cluster"], "member1");
    // The default policy leaves RequestReceived out (as GCE's and the kube docs' examples).
    assert!(
        audit_events(&log)
            .iter()
            .chain(&audit_events(&hub_log))
            .all(|e| e["stage"] != "RequestReceived")
    );
    // cceonectl's own token Secrets are Secrets too (in their own namespace, out of the
    // hub's reach).
    assert!(
        events
            .iter()
            .any(|e| e["objectRef"]["resource"] == "secrets"
                && e["objectRef"]["namespace"] == "cceone-users"
                && e["verb"] == "create"
                && e["level"] == "Metadata")
    );
}
