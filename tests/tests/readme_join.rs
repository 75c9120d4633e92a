//! The README's join commands, run as written: its block is handed to `bash` unchanged, in a
//! directory where `cceone up --data-dir ./data` runs (on free ports, the hub on every address as
//! by default), with two simulated members as `$EDGE1_KUBECONFIG` and `$EDGE2_KUBECONFIG`. Only
//! `cargo run [--release] -p NAME -- ARGS` is played by a shim that runs the binaries this test
//! built. Then the other two ways the README gives to read the env file (`set -a; . file` and the
//! agent's `--env-file`) join two more members, and every log written to a file is plain text.
//! The README's block on giving someone access runs the same way against its own `cceone up`.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Proc, bins, cceone_up, eventually, kubectl, parse_env, register_env, root, step};

/// The README paragraph whose code block this test runs.
const JOIN_HEADING: &str = "Joining other clusters";

/// The first ```sh block after the paragraph starting with `heading`.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, after) = readme
        .split_once(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("README has no paragraph starting {heading:?}"));
    let (_, block) = after.split_once("```sh\n").unwrap();
    let (block, _) = block.split_once("```").unwrap();
    block.to_string()
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

fn write_shim(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = dir.join("shim");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, CARGO_SHIM).unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Kills a process group when dropped (what the README's script left running in the
/// background).
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0)])
            .status();
    }
}

fn assert_plain(what: &str, log: &str) {
    assert!(log.contains(" INFO "), "{what} logged nothing:\n{log}");
    assert!(
        !log.contains('\x1b'),
        "{what} wrote terminal escape codes to a file:\n{log}"
    );
}

#[test]
fn readme_join_commands_work_as_written() {
    let block = readme_block(JOIN_HEADING);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The README's `cceone up --data-dir ./data`, on free ports (the hub on every address).
    let (up, admin) = cceone_up(d, 1, "0.0.0.0:0");
    // Four members in one simulator process: edge.kubeconfig-0 .. -3.
    let members = Proc::start(
        "members",
        "cceone-kubesim",
        &[
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            d.join("edges").display().to_string(),
            "--kubeconfig-out".into(),
            d.join("edge.kubeconfig").display().to_string(),
            "--clusters".into(),
            "4".into(),
            "--nodes".into(),
            "2".into(),
        ],
        &BTreeMap::new(),
        d,
    );
    let member = |i: usize| d.join(format!("edge.kubeconfig-{i}"));
    eventually("members serving", Duration::from_secs(60), || {
        member(3).exists().then_some(())
    });

    step("running the README's join commands");
    let shim = write_shim(d);
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("timeout")
        .args(["300", "bash", "-euc", &block])
        .current_dir(d)
        .env("PATH", path)
        .env("CCEONE_BINS", bins())
        .env("EDGE1_KUBECONFIG", member(0))
        .env("EDGE2_KUBECONFIG", member(1))
        // Agents' health port (default 0.0.0.0:8080): a free one, so tests can run side by side.
        .env("CCEONE_HEALTH_ADDR", "127.0.0.1:0")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _background = Group(child.id());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's join commands failed ({}):\n{block}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- edge2.log\n{}",
        out.status,
        std::fs::read_to_string(d.join("edge2.log")).unwrap_or_default()
    );

    // edge2 (the agent binary from the env file) joined, and kubectl reached its member
    // through the hub's proxy.
    assert!(stdout.contains("condition met"), "{stdout}");
    assert!(
        stdout.contains("sim-node-0") && stdout.contains("sim-node-1"),
        "{stdout}"
    );
    let phase = |name: &str| {
        kubectl(
            &admin,
            &[
                "get",
                "registeredcluster",
                name,
                "-o",
                "jsonpath={.status.phase}",
            ],
        )
    };
    assert_eq!(phase("edge2"), "Running");

    // The endpoint agents were told: the hub listens on every address, so this host's first
    // non-loopback address (or loopback if it has none), with a warning saying which.
    let env = parse_env(&std::fs::read_to_string(d.join("edge2.env")).unwrap());
    let endpoint = &env["CCEONE_HUB_ENDPOINT"];
    let up_log = up.log_text();
    assert!(
        up_log.contains(&format!("public_endpoint=\"{endpoint}\"")),
        "{endpoint} is not what the hub published:\n{up_log}"
    );
    assert!(
        !endpoint.starts_with("0.0.0.0:"),
        "agents told to dial {endpoint}"
    );
    assert!(
        up_log.contains(&format!("agents are told to dial {endpoint}")),
        "no warning naming {endpoint}:\n{up_log}"
    );
    assert!(env.contains_key("CCEONE_HUB_CA_BASE64"), "{env:?}");

    // edge1 (the rendered YAML applied with kubectl): every object exists in the member, the
    // agent's Deployment with two replicas in kube-system, rolled out.
    let edge1_yaml = d.join("edge1.yaml").display().to_string();
    let objects = kubectl(&member(0), &["get", "-f", &edge1_yaml, "-o", "name"]);
    let mut names: Vec<&str> = objects.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "clusterrole.rbac.authorization.k8s.io/cceone-cluster-agent",
            "clusterrole.rbac.authorization.k8s.io/cceone-cluster-agent:impersonator",
            "clusterrolebinding.rbac.authorization.k8s.io/cceone-cluster-agent",
            "clusterrolebinding.rbac.authorization.k8s.io/cceone-cluster-agent:impersonator",
            "deployment.apps/cceone-cluster-agent",
            "secret/cceone-agent-config",
            "serviceaccount/cceone-cluster-agent",
        ]
    );
    let replicas = |field: &str| {
        kubectl(
            &member(0),
            &[
                "-n",
                "kube-system",
                "get",
                "deployment",
                "cceone-cluster-agent",
                "-o",
                &format!("jsonpath={{{field}}}"),
            ],
        )
    };
    assert_eq!(replicas(".spec.replicas"), "2");
    eventually(
        "edge1's agent Deployment rolled out",
        Duration::from_secs(30),
        || (replicas(".status.readyReplicas") == "2").then_some(()),
    );
    // Applying again succeeds too (an upgrade is the same command).
    kubectl(&member(0), &["apply", "-f", &edge1_yaml]);

    // The same file format read by `set -a; . file` and by the agent's --env-file.
    for name in ["edge3", "edge4"] {
        std::fs::write(d.join(format!("{name}.env")), register_env(&admin, name)).unwrap();
    }
    let agent_bin = bins().join("cceone-cluster-agent");
    let env: BTreeMap<String, String> =
        [("CCEONE_HEALTH_ADDR".to_string(), "127.0.0.1:0".to_string())].into();
    let edge3_env = d.join("edge3.env").display().to_string();
    let edge3_kc = member(2).display().to_string();
    let agent_path = agent_bin.display().to_string();
    let edge3 = Proc::start_program_env(
        "edge3",
        PathBuf::from("bash"),
        &[
            "-c",
            r#"set -a; . "$1"; set +a; exec "$2" --kubeconfig "$3""#,
            "bash",
            &edge3_env,
            &agent_path,
            &edge3_kc,
        ],
        &env,
        d,
    );
    let edge4_env = d.join("edge4.env").display().to_string();
    let edge4_kc = member(3).display().to_string();
    let edge4 = Proc::start_program_env(
        "edge4",
        agent_bin,
        &["--env-file", &edge4_env, "--kubeconfig", &edge4_kc],
        &env,
        d,
    );
    for name in ["edge3", "edge4"] {
        eventually(&format!("{name} Running"), Duration::from_secs(60), || {
            (phase(name) == "Running").then_some(())
        });
    }

    // Logs written to files (not terminals) are plain text, with nothing set to ask for it.
    assert_plain("cceone up", &up.raw_log());
    assert_plain("cceone-kubesim", &members.raw_log());
    assert_plain(
        "the README's agent (edge2.log)",
        &std::fs::read_to_string(d.join("edge2.log")).unwrap(),
    );
    assert_plain("edge3's agent", &edge3.raw_log());
    assert_plain("edge4's agent", &edge4.raw_log());
}

/// The README paragraph on giving someone access, whose code block this test runs.
const ACCESS_HEADING: &str = "To let a person work in one namespace";

#[test]
fn readme_access_commands_work_as_written() {
    let block = readme_block(ACCESS_HEADING);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_up, admin) = cceone_up(d, 0, "127.0.0.1:0");
    step("running the README's access commands");
    let shim = write_shim(d);
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["120", "bash", "-euc", &block])
        .current_dir(d)
        .env("PATH", path)
        .env("CCEONE_BINS", bins())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's access commands failed ({}):\n{block}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.contains(&vec!["Username", "alice"])
            && rows.contains(&vec!["Groups", "[dev", "system:authenticated]"])
            && rows.contains(&vec!["yes"])
            && rows.contains(&vec!["deployment.apps/web", "created"]),
        "{stdout}"
    );
    // What was granted in team-a is all alice has.
    let alice = d.join("alice.kubeconfig").display().to_string();
    let denied = support::run(
        "kubectl",
        &[
            "--kubeconfig",
            &alice,
            "auth",
            "can-i",
            "create",
            "deployments",
            "-n",
            "default",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&denied.stdout).trim(), "no");
    assert_eq!(
        kubectl(
            &admin,
            &["get", "deployment", "web", "-n", "team-a", "-o", "name"]
        )
        .trim(),
        "deployment.apps/web"
    );
}
