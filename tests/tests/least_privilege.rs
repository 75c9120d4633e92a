//! Least privilege (issue 9, item 5): the hub reaches the federation API as its own user
//! `system:cceone:hub`, whose roles hold only what the hub does, and the federation's RBAC
//! refuses it everything else, in kube-apiserver's words.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{cceone_up, eventually, free_port, kubectl_bin, ok, step};

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

fn audit_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
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
