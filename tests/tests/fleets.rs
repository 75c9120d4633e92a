//! Fleets and the cluster lifecycle end to end through `cceone up` (issue 15): real kubectl and
//! cceonectl against the federation API, real agents in simulated members. A fleet of two
//! clusters leaves the federation while unbound and joins it when bound; a cluster belongs to
//! one fleet (refused with the field named, whoever writes); a bound or populated fleet cannot
//! be deleted; the fleet's status sums its members; a protected cluster cannot be deleted by
//! `kubectl delete`; unsubscribe reaches Unsubscribed, takes the cluster out of the federation
//! and is in the operation log.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{Proc, eventually, free_port, run, step};

const WAIT: Duration = Duration::from_secs(60);

struct Up {
    _proc: Proc,
    dir: tempfile::TempDir,
}

impl Up {
    fn start(clusters: usize) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = vec![
            "up".into(),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
            "--clusters".into(),
            clusters.to_string(),
            "--hub-listen".into(),
            format!("127.0.0.1:{}", free_port()),
            "--federation-listen".into(),
            format!("127.0.0.1:{}", free_port()),
        ];
        let proc = Proc::start("cceone", "cceone", &args, &Default::default(), dir.path());
        let up = Up { _proc: proc, dir };
        let kc = up.kubeconfig();
        eventually("cceone up ready", Duration::from_secs(120), || {
            kc.exists().then_some(())
        });
        up
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("data").join("admin.kubeconfig")
    }

    fn with_kc(&self, bin: &str, args: &[&str]) -> (bool, String) {
        let kc = self.kubeconfig().display().to_string();
        let mut all = vec!["--kubeconfig", kc.as_str()];
        all.extend_from_slice(args);
        let out = run(bin, &all);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let (ok, out) = self.with_kc("kubectl", args);
        assert!(ok, "kubectl {args:?}: {out}");
        out
    }

    fn kubectl_fails(&self, args: &[&str]) -> String {
        let (ok, out) = self.with_kc("kubectl", args);
        assert!(!ok, "kubectl {args:?} should fail: {out}");
        out
    }

    fn ctl(&self, args: &[&str]) -> String {
        let (ok, out) = self.with_kc("cceonectl", args);
        assert!(ok, "cceonectl {args:?}: {out}");
        out
    }

    fn ctl_fails(&self, args: &[&str]) -> String {
        let (ok, out) = self.with_kc("cceonectl", args);
        assert!(!ok, "cceonectl {args:?} should fail: {out}");
        out
    }

    /// kubectl against a simulated member of `cceone up`.
    fn on_member(&self, member: &str, args: &[&str]) -> (bool, String) {
        let kc = self
            .dir
            .path()
            .join("data")
            .join("members")
            .join(format!("{member}.kubeconfig"))
            .display()
            .to_string();
        let mut all = vec!["--kubeconfig", kc.as_str()];
        all.extend_from_slice(args);
        let out = run("kubectl", &all);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The federation Clusters' names.
    fn federation_clusters(&self) -> Vec<String> {
        let out = self.kubectl(&[
            "get",
            "clusters",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        out.split_whitespace().map(String::from).collect()
    }

    fn wait_members(&self, want: &[&str]) {
        eventually(&format!("federation members {want:?}"), WAIT, || {
            (self.federation_clusters() == want).then_some(())
        });
    }

    fn field(&self, kind: &str, name: &str, path: &str) -> String {
        let (_, out) = self.with_kc(
            "kubectl",
            &["get", kind, name, "-o", &format!("jsonpath={{{path}}}")],
        );
        out
    }
}

#[test]
fn fleets_bind_to_the_federation_and_clusters_live_through_unsubscribe() {
    let up = Up::start(3);
    up.wait_members(&["member1", "member2", "member3"]);

    step("kubectl get fleets prints the promised columns");
    up.ctl(&["fleet", "create", "prod"]);
    let table = up.kubectl(&["get", "fleets"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CLUSTERS",
            "FEDERATION",
            "NODES",
            "CPU-ALLOCATED",
            "MEMORY-ALLOCATED",
            "AGE"
        ]
    );

    step("two clusters in an unbound fleet leave the federation");
    let out = up.ctl(&["fleet", "add", "prod", "member1", "member2"]);
    assert!(
        out.contains("registeredcluster/member2 added to fleet prod"),
        "{out}"
    );
    up.wait_members(&["member3"]);
    assert_eq!(
        up.field("regc", "member1", ".status.membership"),
        "fleet prod is not bound to the federation"
    );

    step("binding the fleet makes both federation members, Ready");
    up.ctl(&["fleet", "bind", "prod"]);
    up.wait_members(&["member1", "member2", "member3"]);
    for m in ["member1", "member2"] {
        eventually(&format!("{m} Ready"), WAIT, || {
            (up.field(
                "cluster",
                m,
                ".status.conditions[?(@.type==\"Ready\")].status",
            ) == "True")
                .then_some(())
        });
    }

    step("the fleet's status sums its members (3 nodes of 4 CPUs each)");
    eventually("fleet status", WAIT, || {
        let row = up.kubectl(&["get", "fleet", "prod", "--no-headers"]);
        let cells: Vec<String> = row.split_whitespace().map(String::from).collect();
        (cells.len() >= 6 && cells[1] == "2" && cells[2] == "default" && cells[3] == "6")
            .then_some(())
    });
    assert_eq!(up.field("fleet", "prod", ".status.vcpus"), "24");
    assert!(
        up.field("fleet", "prod", ".status.cpuAllocated")
            .ends_with('%')
    );

    step("a grant on the fleet shows up as RBAC in both members");
    let out = up.ctl(&[
        "grant",
        "create",
        "--user",
        "alice",
        "--role",
        "developer",
        "--fleet",
        "prod",
    ]);
    assert!(out.contains("grant/alice-prod-developer created"), "{out}");
    for m in ["member1", "member2"] {
        eventually(&format!("alice's binding in {m}"), WAIT, || {
            let (_, out) = up.on_member(
                m,
                &[
                    "get",
                    "clusterrolebinding",
                    "cceone:grant:alice-prod-developer",
                    "-o",
                    "jsonpath={.roleRef.name} {.subjects[0].name}",
                ],
            );
            (out == "cceone:developer alice").then_some(())
        });
        let (ok, _) = up.on_member(m, &["get", "clusterrole", "cceone:developer"]);
        assert!(ok, "the developer role is in {m}");
    }

    step("a user with no grant on a cluster may only read there");
    for u in ["alice", "carol"] {
        up.ctl(&["user", "kubeconfig", u]);
    }
    // alice has the fleet's grant in member1 and member2, none in member3; carol none at all.
    for (m, readers) in [
        ("member1", "carol"),
        ("member2", "carol"),
        ("member3", "alice carol"),
    ] {
        eventually(&format!("the default readers of {m}"), WAIT, || {
            let (_, out) = up.on_member(
                m,
                &[
                    "get",
                    "clusterrolebinding",
                    "cceone:default-read",
                    "-o",
                    "jsonpath={.roleRef.name} {.subjects[*].name}",
                ],
            );
            (out == format!("cceone:restricted {readers}")).then_some(())
        });
    }
    step("custom permissions: a grant's own resources and verbs");
    let out = up.ctl(&[
        "grant",
        "create",
        "--user",
        "dan",
        "--role",
        "custom",
        "--rule",
        "configmaps=get,list",
        "--rule",
        "deployments.apps=get",
        "--cluster",
        "member3",
        "-n",
        "default",
    ]);
    assert!(out.contains("grant/dan-member3-custom created"), "{out}");
    eventually("dan's own role in member3", WAIT, || {
        let (_, out) = up.on_member(
            "member3",
            &[
                "get",
                "clusterrole",
                "cceone:custom:dan-member3-custom",
                "-o",
                "jsonpath={.rules[*].resources[0]} {.rules[1].apiGroups[0]} {.rules[0].verbs}",
            ],
        );
        (out == r#"configmaps deployments apps ["get","list"]"#).then_some(())
    });
    let (ok, out) = up.on_member(
        "member3",
        &[
            "get",
            "rolebinding",
            "-n",
            "default",
            "cceone:grant:dan-member3-custom",
            "-o",
            "jsonpath={.roleRef.name} {.subjects[0].name}",
        ],
    );
    assert!(ok && out == "cceone:custom:dan-member3-custom dan", "{out}");
    let refused = up.ctl_fails(&[
        "grant",
        "create",
        "--user",
        "dan",
        "--role",
        "custom",
        "--rule",
        "pods=escalate",
        "--cluster",
        "member3",
    ]);
    assert!(
        refused.contains("unsupported verb \"escalate\""),
        "{refused}"
    );
    let carol = up.ctl(&["cluster", "kubeconfig", "member3", "--user", "carol"]);
    let carol_kc = up.dir.path().join("carol-member3.kubeconfig");
    std::fs::write(&carol_kc, carol).unwrap();
    let carol_kc = carol_kc.display().to_string();
    let read = run(
        "kubectl",
        &["--kubeconfig", &carol_kc, "get", "deployments", "-A"],
    );
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let write = run(
        "kubectl",
        &[
            "--kubeconfig",
            &carol_kc,
            "create",
            "configmap",
            "carols",
            "-n",
            "default",
        ],
    );
    assert!(!write.status.success(), "carol may only read");
    assert!(
        String::from_utf8_lossy(&write.stderr).contains(
            "configmaps is forbidden: User \"carol\" cannot create resource \"configmaps\""
        ),
        "{}",
        String::from_utf8_lossy(&write.stderr)
    );
    let (_, none) = up.on_member(
        "member3",
        &[
            "get",
            "clusterrolebinding",
            "cceone:grant:alice-prod-developer",
        ],
    );
    assert!(
        none.contains("NotFound") || none.contains("not found"),
        "{none}"
    );
    eventually("kubectl get grants shows where it applies", WAIT, || {
        let row = up.kubectl(&["get", "grants", "--no-headers"]);
        let cells: Vec<&str> = row.split_whitespace().collect();
        (cells.len() >= 6
            && cells[..6]
                == [
                    "alice-prod-developer",
                    "alice",
                    "developer",
                    "member1,member2",
                    "*",
                    "prod",
                ])
        .then_some(())
    });

    step("a cluster belongs to one fleet: cceonectl and kubectl are both refused");
    up.ctl(&["fleet", "create", "dev"]);
    let err = up.ctl_fails(&["fleet", "add", "dev", "member1"]);
    assert!(err.contains("already in fleet \"prod\""), "{err}");
    let err = up.kubectl_fails(&[
        "patch",
        "regc",
        "member1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"fleet":"dev"}}"#,
    ]);
    assert!(
        err.contains("spec.fleet") && err.contains("already in fleet"),
        "{err}"
    );
    let err = up.kubectl_fails(&[
        "patch",
        "regc",
        "member3",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"fleet":"nope"}}"#,
    ]);
    assert!(
        err.contains("spec.fleet") && err.contains("Not found"),
        "{err}"
    );

    step("a bound fleet, then a populated one, cannot be deleted");
    let err = up.ctl_fails(&["fleet", "delete", "prod"]);
    assert!(err.contains("bound to federation"), "{err}");
    let err = up.kubectl_fails(&["delete", "fleet", "prod"]);
    assert!(err.contains("spec.federation"), "{err}");
    up.ctl(&["fleet", "unbind", "prod"]);
    up.wait_members(&["member3"]);
    let err = up.ctl_fails(&["fleet", "delete", "prod"]);
    assert!(err.contains("holds clusters (member1, member2)"), "{err}");

    step("a cluster removed from the fleet is on its own again and rejoins directly");
    let out = up.ctl(&["fleet", "remove", "prod", "member2"]);
    assert!(out.contains("removed from fleet prod"), "{out}");
    up.wait_members(&["member2", "member3"]);
    eventually("the fleet's grant left member2", WAIT, || {
        let (ok, _) = up.on_member(
            "member2",
            &[
                "get",
                "clusterrolebinding",
                "cceone:grant:alice-prod-developer",
            ],
        );
        (!ok).then_some(())
    });
    eventually("fleet counts one cluster", WAIT, || {
        (up.field("fleet", "prod", ".status.clusters") == "1").then_some(())
    });
    up.ctl(&["fleet", "remove", "prod", "member1"]);
    up.ctl(&["fleet", "delete", "prod"]);
    up.ctl(&["fleet", "delete", "dev"]);
    up.wait_members(&["member1", "member2", "member3"]);
    assert!(
        up.kubectl(&["get", "fleets"]).trim().is_empty()
            || !up.kubectl(&["get", "fleets"]).contains("prod")
    );

    step("delete protection holds against kubectl delete and is in the operation log");
    up.ctl(&["cluster", "protect", "member3", "--on"]);
    let err = up.kubectl_fails(&["delete", "registeredcluster", "member3"]);
    assert!(err.contains("delete protection"), "{err}");
    let err = up.ctl_fails(&["cluster", "unsubscribe", "member3"]);
    assert!(err.contains("delete protection"), "{err}");
    eventually("ProtectionOn logged", WAIT, || {
        up.field("regc", "member3", ".status.operations[*].reason")
            .contains("ProtectionOn")
            .then_some(())
    });

    step(
        "unsubscribe reaches Unsubscribed, takes the cluster out of the federation and cleans the member",
    );
    up.ctl(&[
        "grant",
        "create",
        "--user",
        "bob",
        "--role",
        "restricted",
        "--cluster",
        "member3",
        "--namespace",
        "default",
    ]);
    eventually("bob's binding in member3", WAIT, || {
        let (ok, _) = up.on_member(
            "member3",
            &[
                "get",
                "rolebinding",
                "-n",
                "default",
                "cceone:grant:bob-member3-restricted",
            ],
        );
        ok.then_some(())
    });
    up.ctl(&["cluster", "protect", "member3", "--off"]);
    up.ctl(&["cluster", "unsubscribe", "member3"]);
    eventually("member3 Unsubscribed", WAIT, || {
        (up.field("regc", "member3", ".status.phase") == "Unsubscribed").then_some(())
    });
    up.wait_members(&["member1", "member2"]);
    let reasons = up.field("regc", "member3", ".status.operations[*].reason");
    for r in [
        "ProtectionOn",
        "ProtectionOff",
        "UnsubscribeRequested",
        "Unsubscribed",
    ] {
        assert!(reasons.contains(r), "{r} missing from {reasons}");
    }
    // Who did it: the user the API authenticated (cceonectl ran with the admin kubeconfig).
    let admin = up.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    let by = up.field(
        "regc",
        "member3",
        "range .status.operations[*]}{.reason}={.user} {end",
    );
    for r in ["ProtectionOn", "ProtectionOff", "UnsubscribeRequested"] {
        let entry = format!("{r}={}", admin.trim());
        assert!(
            by.split_whitespace().any(|e| e == entry),
            "{entry} not in the operation log: {by}"
        );
    }
    let (ok, out) = up.on_member(
        "member3",
        &[
            "get",
            "rolebinding",
            "-n",
            "default",
            "cceone:grant:bob-member3-restricted",
        ],
    );
    assert!(
        !ok,
        "the grant's RBAC is still in the unsubscribed member: {out}"
    );
    let (ok, out) = up.on_member("member3", &["get", "clusterrole", "cceone:restricted"]);
    assert!(
        !ok,
        "the preset role is still in the unsubscribed member: {out}"
    );
    let err = up.kubectl_fails(&["get", "namespace", "karmada-es-member3"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

/// `cargo run [--release] -p NAME -- ARGS...` as `exec $CCEONE_BINS/NAME ARGS...`.
const CARGO_SHIM: &str = r#"#!/bin/sh
[ "$1" = run ] || { echo "cargo shim: only 'cargo run' is played here, not: $*" >&2; exit 2; }
shift
bin=
while [ $# -gt 0 ]; do
    case "$1" in
        --release) shift ;;
        -p) bin=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "cargo shim: unexpected argument $1" >&2; exit 2 ;;
    esac
done
exec "$CCEONE_BINS/$bin" "$@"
"#;

/// The README's fleet block, handed to `bash` unchanged in the directory where `cceone up
/// --data-dir ./data` runs; only `cargo run -p NAME --` is played by a shim running the binaries
/// this test built.
#[test]
fn readme_fleet_commands_run_as_written() {
    use std::os::unix::fs::PermissionsExt as _;

    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap();
    let (_, after) = readme.split_once("\n## Fleets, grants and usage").unwrap();
    let (_, block) = after.split_once("```sh\n").unwrap();
    let (block, _) = block.split_once("```").unwrap();

    let up = Up::start(3);
    up.wait_members(&["member1", "member2", "member3"]);
    let shim_dir = up.dir.path().join("shim");
    std::fs::create_dir_all(&shim_dir).unwrap();
    let shim = shim_dir.join("cargo");
    std::fs::write(&shim, CARGO_SHIM).unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        shim_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(up.dir.path())
        .env("PATH", path)
        .env("CCEONE_BINS", support::bins())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README block failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("fleet/prod bound to federation default"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hour,cluster,type,vcpus,vcpu_hours,unit_price,amount\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(",member1,ctyun,12,12,0.0556,0.6672"),
        "{stdout}"
    );
    up.wait_members(&["member1", "member2", "member3"]);
    eventually("alice's binding in member2", WAIT, || {
        let (_, out) = up.on_member(
            "member2",
            &[
                "get",
                "clusterrolebinding",
                "cceone:grant:alice-prod-developer",
                "-o",
                "name",
            ],
        );
        out.contains("alice-prod-developer").then_some(())
    });
}
