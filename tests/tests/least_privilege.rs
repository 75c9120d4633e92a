//! Least privilege (issue 9, item 5): the hub reaches the federation API as its own user
//! `system:cceone:hub`, whose roles hold only what the hub does, and the federation's RBAC
//! refuses it everything else, in kube-apiserver's words.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{audit_events, cceone_up, eventually, free_port, kubectl_bin, ok, step};

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

#[test]
fn the_hub_runs_as_its_own_user_and_is_refused_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = format!("127.0.0.1:{}", free_port());
    // Ready members mean the hub, as itself, recorded their phase and status.
    let (up, admin) = cceone_up(d, 1, &hub);
    let hub_kc = d.join("data").join("hub").join("federation.kubeconfig");
    let mode = std::fs::metadata(&hub_kc).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the hub's kubeconfig is the owner's alone"
    );

    step("who the hub is");
    let (code, out, err) = kubectl_as(&hub_kc, &["auth", "whoami", "-o", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let who: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "system:cceone:hub");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        serde_json::json!(["system:authenticated"]),
        "not system:masters"
    );

    step("the hub proxies as itself: a proxy kubeconfig reaches member1");
    let admin_s = admin.display().to_string();
    let text = ok(
        "cceonectl",
        &["--kubeconfig", &admin_s, "cluster", "kubeconfig", "member1"],
    );
    let proxy = d.join("proxy.kubeconfig");
    std::fs::write(&proxy, text).unwrap();
    let nodes = eventually("nodes through the hub", Duration::from_secs(20), || {
        let (code, out, _) = kubectl_as(&proxy, &["get", "nodes", "-o", "name"]);
        (code == Some(0) && out.contains("node/")).then_some(out)
    });
    assert!(nodes.lines().count() >= 1);

    step("the hub relays Works and writes their status as itself");
    // Namespace sync sends every new namespace to the members as a Work.
    support::kubectl(&admin, &["create", "namespace", "lp-a"]);
    eventually("namespace lp-a in member1", Duration::from_secs(30), || {
        let (code, _, _) = kubectl_as(&proxy, &["get", "namespace", "lp-a"]);
        (code == Some(0)).then_some(())
    });
    let audit = d.join("data").join("audit").join("audit.log");
    let by_hub = |e: &Value| e["user"]["username"] == "system:cceone:hub";
    let status_write = eventually(
        "a Work status written by system:cceone:hub",
        Duration::from_secs(30),
        || {
            audit_events(&audit).into_iter().find(|e| {
                by_hub(e)
                    && e["objectRef"]["resource"] == "works"
                    && e["objectRef"]["subresource"] == "status"
                    && e["verb"] == "patch"
                    && e["stage"] == "ResponseComplete"
            })
        },
    );
    assert_eq!(
        status_write["responseStatus"]["code"], 200,
        "{status_write}"
    );
    // Nothing the hub asked for was refused, and nothing it did ran as the administrator.
    let events = audit_events(&audit);
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| by_hub(e) && e["responseStatus"]["code"] == 403)
        .collect();
    assert!(refused.is_empty(), "the hub was refused: {refused:?}");
    assert!(
        events
            .iter()
            .any(|e| by_hub(e) && e["objectRef"]["resource"] == "registeredclusters")
    );
    assert!(!up.log_text().contains("forbidden"), "{}", up.log_text());

    step("the federation refuses the hub what its roles do not hold");
    let refusals: [(&[&str], &str); 4] = [
        (
            &["delete", "deployment", "web", "-n", "default"],
            r#"User "system:cceone:hub" cannot delete resource "deployments" in API group "apps" in the namespace "default""#,
        ),
        (
            &["get", "secret", "anything", "-n", "default"],
            r#"User "system:cceone:hub" cannot get resource "secrets" in API group "" in the namespace "default""#,
        ),
        (
            &[
                "create",
                "clusterrolebinding",
                "mine",
                "--clusterrole=cluster-admin",
                "--user=system:cceone:hub",
            ],
            r#"User "system:cceone:hub" cannot create resource "clusterrolebindings""#,
        ),
        (
            &[
                "get",
                "namespaces",
                "--as=admin",
                "--as-group=system:masters",
            ],
            r#"User "system:cceone:hub" cannot impersonate resource "users" in API group """#,
        ),
    ];
    for (args, words) in refusals {
        let (code, _, err) = kubectl_as(&hub_kc, args);
        assert_ne!(code, Some(0), "{args:?} was allowed");
        assert!(
            err.contains("Forbidden") || err.contains("forbidden"),
            "{args:?}: {err}"
        );
        assert!(err.contains(words), "{args:?}: {err}");
    }
    step("people's tokens are out of the hub's reach, and only their hash is stored");
    let alice = ok(
        "cceonectl",
        &["--kubeconfig", &admin_s, "user", "kubeconfig", "alice"],
    );
    let alice_kc = d.join("alice.kubeconfig");
    std::fs::write(&alice_kc, &alice).unwrap();
    let who = support::kubectl(
        &alice_kc,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(who, "alice");
    let err = kubectl_refused(&hub_kc, &["get", "secrets", "-n", "cceone-users"]);
    assert!(
        err.contains(r#"secrets is forbidden: User "system:cceone:hub" cannot list resource "secrets" in API group "" in the namespace "cceone-users""#),
        "{err}"
    );
    // Where the hub may read Secrets, there are none of people's tokens.
    let (code, out, err) = kubectl_as(
        &hub_kc,
        &[
            "get",
            "secrets",
            "-n",
            "cceone-system",
            "-l",
            "cceone.io/kind=user-token",
            "-o",
            "name",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.trim().is_empty(), "{out}");
    let token = alice
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap()
        .trim()
        .to_string();
    let (id, secret) = token.split_once('.').unwrap();
    let stored: Value = serde_json::from_str(&support::kubectl(
        &admin,
        &[
            "get",
            "secret",
            &format!("user-token-{id}"),
            "-n",
            "cceone-users",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let stored = stored["data"].to_string();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(
        !stored.contains(&b64) && !stored.contains(secret),
        "the token's secret is stored: {stored}"
    );
    assert!(stored.contains("secret-hash"), "{stored}");

    step("a token an earlier version stored in cceone-system still authenticates");
    let legacy = d.join("legacy-token.yaml");
    std::fs::write(
        &legacy,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: user-token-legacy01\n  namespace: cceone-system\n  labels: {cceone.io/kind: user-token}\ntype: cceone.io/user-token\nstringData:\n  token-secret: 0123456789abcdefghij0123456789ab\n  user: old-carol\n",
    )
    .unwrap();
    support::kubectl(&admin, &["apply", "-f", &legacy.display().to_string()]);
    let (code, who, err) = kubectl_as(
        &hub_kc,
        &[
            "--token=legacy01.0123456789abcdefghij0123456789ab",
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!((code, who.as_str()), (Some(0), "old-carol"), "{err}");

    // What a separate hub's operator applies (manifests/hub.yaml) is the same set of objects.
    let rbac = d.join("hub-rbac.json");
    std::fs::write(&rbac, ok("cceone-hub", &["--print-federation-rbac"])).unwrap();
    let applied = support::kubectl(&admin, &["apply", "-f", &rbac.display().to_string()]);
    assert!(
        applied.contains("clusterrole.rbac.authorization.k8s.io/system:cceone:hub"),
        "{applied}"
    );
    let (_, can, _) = kubectl_as(&hub_kc, &["auth", "can-i", "create", "deployments"]);
    assert_eq!(can.trim(), "no");
    let (_, can, _) = kubectl_as(
        &hub_kc,
        &[
            "auth",
            "can-i",
            "patch",
            "works.work.karmada.io",
            "--subresource=status",
            "-A",
        ],
    );
    assert_eq!(can.trim(), "yes");
}

/// `kubectl --kubeconfig kc args...` expecting failure: its stderr.
fn kubectl_refused(kc: &Path, args: &[&str]) -> String {
    let (code, out, err) = kubectl_as(kc, args);
    assert_ne!(code, Some(0), "{args:?} was allowed: {out}");
    err
}

#[test]
fn the_agent_runs_with_its_manifest_rbac_and_cannot_reach_system_masters() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = format!("127.0.0.1:{}", free_port());
    let (_up, admin) = cceone_up(d, 1, &hub);
    let admin_s = admin.display().to_string();

    step("a member with the agent's manifests as cceonectl renders them");
    let yaml = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            &admin_s,
            "cluster",
            "register",
            "lp2",
            "--type",
            "local",
        ],
    );
    let manifests = d.join("agent.yaml");
    std::fs::write(&manifests, &yaml).unwrap();
    let (_member, member) = support::kubesim("lp2", d, &["--nodes", "1"]);
    support::kubectl(&member, &["apply", "-f", &manifests.display().to_string()]);
    let secret: Value = serde_json::from_str(&support::kubectl(
        &member,
        &[
            "get",
            "secret",
            "cceone-agent-config",
            "-n",
            "kube-system",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let mut env = std::collections::BTreeMap::new();
    for (k, v) in secret["data"].as_object().unwrap() {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        env.insert(k.clone(), String::from_utf8(raw).unwrap());
    }
    env.insert("CCEONE_HEALTH_ADDR".into(), "127.0.0.1:0".into());
    env.insert("CCEONE_AGENT_ID".into(), "lp2-agent".into());

    step("the agent runs with its ServiceAccount's token, nothing more");
    let token = support::kubectl(
        &member,
        &[
            "create",
            "token",
            "cceone-cluster-agent",
            "-n",
            "kube-system",
        ],
    );
    let agent_kc = d.join("agent.kubeconfig");
    std::fs::copy(&member, &agent_kc).unwrap();
    support::kubectl(
        &agent_kc,
        &[
            "config",
            "set-credentials",
            "sa",
            &format!("--token={}", token.trim()),
        ],
    );
    support::kubectl(
        &agent_kc,
        &["config", "set-context", "--current", "--user=sa"],
    );
    let who = support::kubectl(
        &agent_kc,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        who,
        "system:serviceaccount:kube-system:cceone-cluster-agent"
    );
    let args = vec!["--kubeconfig".to_string(), agent_kc.display().to_string()];
    let _agent = support::Proc::start("lp2-agent", "cceone-cluster-agent", &args, &env, d);
    let phase = || {
        support::kubectl(
            &admin,
            &[
                "get",
                "registeredclusters",
                "lp2",
                "-o",
                "jsonpath={.status.phase}",
            ],
        )
    };
    eventually("lp2 Running", Duration::from_secs(40), || {
        (phase() == "Running").then_some(())
    });

    step("it applies Works");
    support::kubectl(&admin, &["create", "namespace", "lp-b"]);
    eventually("namespace lp-b in lp2", Duration::from_secs(30), || {
        let (code, _, _) = kubectl_as(&member, &["get", "namespace", "lp-b"]);
        (code == Some(0)).then_some(())
    });

    step("it proxies as the caller, and the member's RBAC decides");
    let text = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            &admin_s,
            "cluster",
            "kubeconfig",
            "lp2",
            "--user",
            "dev",
        ],
    );
    let dev = d.join("dev.kubeconfig");
    std::fs::write(&dev, text).unwrap();
    // Everyone may read (the platform's default grant, itself a Work); writing needs a role.
    let create = ["create", "configmap", "from-dev", "-n", "default"];
    let err = kubectl_refused(&dev, &create);
    assert!(
        err.contains(r#"User "dev" cannot create resource "configmaps""#),
        "{err}"
    );
    support::kubectl(
        &member,
        &[
            "create",
            "rolebinding",
            "dev-edit",
            "--clusterrole=edit",
            "--user=dev",
            "-n",
            "default",
        ],
    );
    eventually(
        "dev writes through the hub",
        Duration::from_secs(10),
        || {
            let (code, _, _) = kubectl_as(&dev, &create);
            (code == Some(0)).then_some(())
        },
    );

    step("system:masters is out of reach: through the hub and with the agent's own token");
    let text = ok(
        "cceonectl",
        &["--kubeconfig", &admin_s, "cluster", "kubeconfig", "lp2"],
    );
    let masters = d.join("admin-proxy.kubeconfig");
    std::fs::write(&masters, text).unwrap();
    let cannot_masters = r#"User "system:serviceaccount:kube-system:cceone-cluster-agent" cannot impersonate resource "groups" in API group "" at the cluster scope"#;
    // --raw takes the path from the server root: the proxy prefix too.
    let pods = "/clusters/lp2/proxy/api/v1/namespaces/default/pods";
    let err = kubectl_refused(&masters, &["get", "--raw", pods]);
    assert!(err.contains(cannot_masters), "{err}");
    let err = kubectl_refused(
        &agent_kc,
        &["get", "nodes", "--as=x", "--as-group=system:masters"],
    );
    assert!(err.contains(cannot_masters), "{err}");
    let err = kubectl_refused(
        &agent_kc,
        &[
            "get",
            "nodes",
            "--as=system:serviceaccount:kube-system:default",
        ],
    );
    assert!(
        err.contains(r#"cannot impersonate resource "serviceaccounts""#),
        "{err}"
    );
    let err = kubectl_refused(
        &agent_kc,
        &[
            "create",
            "clusterrolebinding",
            "x",
            "--clusterrole=cluster-admin",
            "--user=x",
        ],
    );
    assert!(err.contains("forbidden"), "{err}");

    step("an operator who opts in uncomments the last two objects");
    let opt_in = cceone_platform::render::uncommented_opt_in(&yaml);
    let opt_file = d.join("opt-in.yaml");
    std::fs::write(&opt_file, opt_in).unwrap();
    support::kubectl(&member, &["apply", "-f", &opt_file.display().to_string()]);
    eventually(
        "admin through the hub once opted in",
        Duration::from_secs(10),
        || {
            let (code, _, _) = kubectl_as(&masters, &["get", "--raw", pods]);
            (code == Some(0)).then_some(())
        },
    );
}
