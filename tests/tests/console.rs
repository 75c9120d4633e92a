//! The web console in a real browser: `cceone up` with three simulated members, Debian's headless
//! Chromium driven by `tests/console-browser/scenario.mjs` (playwright-core from its committed
//! package-lock.json, never a downloaded browser). The admin signs in with the one-time link
//! `cceone up` wrote to `DIR/console.url`, sees the three members Running with their vCPUs,
//! applies the seed's nginx example from the YAML box and watches it become 3/3 split 1:2,
//! turns delete protection on and is refused unsubscribing, registers a cluster whose agent
//! then joins and dies while the page follows without reloading; a viewer signs in with a
//! pasted token and is refused a change. Every figure the page shows is checked against the
//! API. Screenshots go to `target/console-screenshots/`.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Proc, cceone_up, eventually, free_port, kubectl, kubectl_bin, kubesim, ok, root, step,
};

/// The browser project, with playwright-core installed from its lock file.
fn browser_project() -> std::path::PathBuf {
    let dir = root().join("tests").join("console-browser");
    if !dir.join("node_modules").join("playwright-core").exists() {
        step("npm ci (playwright-core)");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node 20) is needed for the console test");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: apt-get install -y chromium (scripts/test installs it)"
    );
    dir
}

fn regc_json(admin: &Path, name: &str) -> Value {
    serde_json::from_str(&kubectl(
        admin,
        &["get", "registeredcluster", name, "-o", "json"],
    ))
    .unwrap()
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn the_console_in_chromium_shows_acts_refuses_and_follows_live() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = format!("127.0.0.1:{}", free_port());
    let (_up, admin) = cceone_up(d, 3, &hub);
    let link = std::fs::read_to_string(d.join("data").join("console.url")).unwrap();
    let link = link.trim().to_string();
    assert!(
        link.starts_with("https://127.0.0.1:") && link.contains("/console/signin?link="),
        "{link}"
    );
    step("cceone up ready; console link written");

    // A viewer: a person's kubeconfig bound to the platform's read-only role.
    let admin_s = admin.display().to_string();
    let viewer_kc = ok(
        "cceonectl",
        &["--kubeconfig", &admin_s, "user", "kubeconfig", "viewer1"],
    );
    let viewer_token = viewer_kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_string();
    kubectl(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "viewer1-view",
            "--clusterrole=ccseone-viewer",
            "--user=viewer1",
        ],
    );

    let project = browser_project();
    let shots = root().join("target").join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let stderr = std::fs::File::create(d.join("browser.log")).unwrap();
    let mut browser = Command::new("node")
        .arg("scenario.mjs")
        .current_dir(&project)
        .env("CONSOLE_LINK", &link)
        .env("VIEWER_TOKEN", &viewer_token)
        .env("NGINX_YAML", root().join("examples").join("nginx.yaml"))
        .env("OUT", &shots)
        .env("SECRETS", d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("starting node");
    let mut to_browser = browser.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let out = browser.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });

    let mut steps: HashMap<String, Value> = HashMap::new();
    let mut agent: Option<Proc> = None;
    let mut member = None;
    let deadline = Instant::now() + Duration::from_secs(480);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = browser.kill();
                panic!(
                    "the browser scenario did not finish in time; steps so far: {steps:?}\n{}",
                    std::fs::read_to_string(d.join("browser.log")).unwrap_or_default()
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => {
                step(&format!("browser: {line}"));
                continue;
            }
        };
        match v.get("wait").and_then(Value::as_str) {
            Some("agent-started") => {
                // The agent settings exactly as the console handed them out.
                let env = text(&steps["registered"], "/env").to_string();
                assert!(env.contains("CCEONE_BOOTSTRAP_TOKEN="), "{env}");
                let env_file = d.join("edge.env");
                std::fs::write(&env_file, &env).unwrap();
                let (sim, member_kc) = kubesim("edge-member", d, &[]);
                member = Some(sim);
                let extra: BTreeMap<String, String> =
                    [("CCEONE_HEALTH_ADDR".to_string(), "127.0.0.1:0".to_string())].into();
                agent = Some(Proc::start(
                    "edge-agent",
                    "cceone-cluster-agent",
                    &[
                        "--env-file".into(),
                        env_file.display().to_string(),
                        "--kubeconfig".into(),
                        member_kc.display().to_string(),
                    ],
                    &extra,
                    d,
                ));
                step("edge's agent started from the console's env file");
                writeln!(to_browser, "go").unwrap();
            }
            Some("agent-killed") => {
                agent.as_mut().unwrap().kill();
                step("edge's agent killed");
                writeln!(to_browser, "go").unwrap();
            }
            Some(other) => panic!("unknown wait {other}"),
            None => {
                let name = text(&v, "/step").to_string();
                step(&format!("browser step {name}: {v}"));
                steps.insert(name, v);
            }
        }
    }
    let status = browser.wait().unwrap();
    let log = std::fs::read_to_string(d.join("browser.log")).unwrap_or_default();
    assert!(
        !steps.contains_key("failed"),
        "the browser scenario failed: {}\n{log}",
        steps["failed"]
    );
    assert!(status.success(), "node exited with {status}\n{log}");
    drop(member);

    // Signed in by the link, which is gone from the address.
    let overview = &steps["overview"];
    assert!(text(overview, "/url").ends_with("/console/"), "{overview}");
    assert_eq!(text(overview, "/user"), "admin");
    assert_eq!(text(overview, "/clusters"), "3");
    assert_eq!(text(overview, "/running"), "3");
    assert_eq!(text(overview, "/nodes"), "9/9");
    // 3 members x 3 nodes x 4 CPUs, as the API reports them.
    let api_vcpus: u64 = (1..=3)
        .map(|i| {
            text(&regc_json(&admin, &format!("member{i}")), "/status/vcpus")
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(api_vcpus, 36);
    assert_eq!(text(overview, "/vcpus"), api_vcpus.to_string());

    let rows = steps["clusters"]["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| text(r, "/name")).collect();
    assert_eq!(names, ["member1", "member2", "member3"]);
    for r in rows {
        let api = regc_json(&admin, text(r, "/name"));
        assert_eq!(text(r, "/phase"), "Running", "{r}");
        assert_eq!(text(r, "/vcpus"), text(&api, "/status/vcpus"), "{r}");
        assert_eq!(text(r, "/protection"), "Off", "{r}");
    }
    assert_eq!(steps["filtered"]["rows"], serde_json::json!(["member2"]));

    let applied = steps["applied"]["results"].as_array().unwrap();
    assert_eq!(applied.len(), 3, "{applied:?}");
    assert!(
        applied
            .iter()
            .all(|r| r.as_str().unwrap().ends_with(": applied")),
        "{applied:?}"
    );
    // The seed's split: member1 gets 1, member2 gets 2, as the binding says.
    let workload = &steps["workload"];
    assert_eq!(text(workload, "/replicas"), "3/3");
    assert!(text(workload, "/health").contains("Healthy"), "{workload}");
    let shown: BTreeMap<String, u64> = workload["placement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                text(p, "/cluster").to_string(),
                p["replicas"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        BTreeMap::from([("member1".into(), 1), ("member2".into(), 2)])
    );
    let rb: Value = serde_json::from_str(&kubectl(
        &admin,
        &[
            "get",
            "rb",
            "nginx-deployment",
            "-n",
            "default",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let api_split: BTreeMap<String, u64> = rb["spec"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                text(c, "/name").to_string(),
                c["replicas"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown, api_split);
    let members = steps["members"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().all(|m| text(m, "/ready") == "True"),
        "{members:?}"
    );

    // The policy the form wrote, and where it put the ConfigMap.
    let form = &steps["policy-form"];
    assert_eq!(form["placement"], serde_json::json!(["member3"]), "{form}");
    assert!(
        text(form, "/previewed").contains("kind: PropagationPolicy"),
        "{form}"
    );
    let pp: Value = serde_json::from_str(&kubectl(
        &admin,
        &[
            "get",
            "propagationpolicy",
            "demo-pp",
            "-n",
            "default",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(
        pp.pointer("/spec/placement/clusterAffinity/clusterNames"),
        Some(&serde_json::json!(["member3"]))
    );
    assert_eq!(
        pp.pointer("/spec/resourceSelectors/0/kind"),
        Some(&Value::from("ConfigMap"))
    );

    // The downloaded proxy kubeconfig reaches member3 through the hub.
    let kc = &steps["kubeconfig"];
    assert_eq!(text(kc, "/file"), "member3.kubeconfig");
    let proxied = Path::new(text(kc, "/path"));
    let nodes = kubectl(proxied, &["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    eventually(
        "the form's ConfigMap on member3, read through the proxy",
        Duration::from_secs(30),
        || {
            let out = Command::new(kubectl_bin())
                .arg("--kubeconfig")
                .arg(proxied)
                .args(["get", "configmap", "demo", "-n", "default", "-o", "name"])
                .output()
                .unwrap();
            (out.status.success()
                && String::from_utf8_lossy(&out.stdout).trim() == "configmap/demo")
                .then_some(())
        },
    );

    // Delete protection went through the API, and the API refused the unsubscribe.
    let refusal = text(&steps["unsubscribe-refused"], "/message");
    assert!(refusal.contains("delete protection"), "{refusal}");
    let member3 = regc_json(&admin, "member3");
    assert_eq!(
        member3.pointer("/spec/deleteProtection"),
        Some(&Value::Bool(true))
    );
    assert_ne!(
        member3.pointer("/spec/unsubscribed"),
        Some(&Value::Bool(true))
    );

    // Registered from the console, joined and then lost, followed without a reload.
    assert_eq!(text(&steps["registered"], "/phase"), "Pending");
    // Its operation log names who registered it: the console's signed-in user.
    let edge = regc_json(&admin, "edge");
    assert_eq!(text(&edge, "/status/operations/0/reason"), "Registered");
    assert_eq!(text(&edge, "/status/operations/0/user"), "admin");
    assert!(text(&steps["registered"], "/url").ends_with("#/clusters/edge"));
    assert_eq!(steps["joined"]["notReloaded"], Value::Bool(true));
    let disconnected = &steps["disconnected"];
    assert_eq!(text(disconnected, "/phase"), "Disconnected");
    assert_eq!(disconnected["notReloaded"], Value::Bool(true));
    assert_eq!(
        text(&regc_json(&admin, "edge"), "/status/phase"),
        "Disconnected"
    );

    // Usage per cluster from the meter's UsageRecords: the members that ran are billed.
    let usage: Vec<&str> = steps["usage"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(r, "/cluster"))
        .collect();
    for m in ["member1", "member2", "member3"] {
        assert!(usage.contains(&m), "{usage:?}");
    }

    // The fleet made on the fleets page, bound, with two members summed; the grant made on the
    // permissions page applies to both; the audit page found the fleet's creation.
    let fleet = &steps["fleet"];
    assert_eq!(
        fleet["members"],
        serde_json::json!(["member1", "member2"]),
        "{fleet}"
    );
    assert_eq!(text(fleet, "/nodes"), "6/6", "{fleet}");
    assert_eq!(text(fleet, "/vcpus"), "24", "{fleet}");
    assert_eq!(text(fleet, "/federation"), "default", "{fleet}");
    let api_fleet: Value =
        serde_json::from_str(&kubectl(&admin, &["get", "fleet", "web", "-o", "json"])).unwrap();
    assert_eq!(text(&api_fleet, "/spec/federation"), "default");
    assert_eq!(text(&api_fleet, "/spec/description"), "the web tier");
    for m in ["member1", "member2"] {
        assert_eq!(text(&regc_json(&admin, m), "/spec/fleet"), "web");
    }
    let grant = &steps["grant"];
    assert_eq!(text(grant, "/clusters"), "member1,member2", "{grant}");
    let api_grant: Value = serde_json::from_str(&kubectl(
        &admin,
        &["get", "grant", text(grant, "/name"), "-o", "json"],
    ))
    .unwrap();
    assert_eq!(text(&api_grant, "/spec/user"), "alice");
    assert_eq!(text(&api_grant, "/spec/role"), "developer");
    assert_eq!(text(&api_grant, "/spec/fleet"), "web");
    assert_eq!(
        api_grant["spec"]["namespaces"],
        serde_json::json!(["team-a"])
    );
    let audit_rows = steps["audit"]["rows"].as_array().unwrap();
    assert!(!audit_rows.is_empty());
    assert!(
        audit_rows.iter().all(|r| text(r, "/user") == "admin"
            && text(r, "/verb") == "create"
            && text(r, "/resource") == "fleets.platform.cceone.io"),
        "{audit_rows:?}"
    );
    assert!(
        audit_rows
            .iter()
            .any(|r| text(r, "/name") == "web" && text(r, "/code") == "201"),
        "{audit_rows:?}"
    );
    let viewer_audit = &steps["viewer-audit"];
    assert_eq!(
        viewer_audit["linkHidden"],
        Value::Bool(true),
        "{viewer_audit}"
    );
    assert_eq!(viewer_audit["status"], Value::from(403), "{viewer_audit}");

    // The viewer saw the console and was refused the change, in the API's words.
    let viewer = &steps["viewer-refused"];
    assert_eq!(text(viewer, "/user"), "viewer1");
    assert!(
        text(viewer, "/message")
            .to_lowercase()
            .contains("forbidden"),
        "{viewer}"
    );
    assert_eq!(viewer["checked"], Value::Bool(false));
    assert_ne!(
        regc_json(&admin, "member1").pointer("/spec/deleteProtection"),
        Some(&Value::Bool(true))
    );
    let register = text(&steps["viewer-register-refused"], "/message");
    assert!(register.to_lowercase().contains("forbidden"), "{register}");
    let sneaky = std::process::Command::new(kubectl_bin())
        .args([
            "--kubeconfig",
            &admin_s,
            "get",
            "registeredcluster",
            "sneaky",
        ])
        .output()
        .unwrap();
    assert!(!sneaky.status.success(), "the viewer registered a cluster");
    // The audit log names who acted through the console: the admin's patch, the viewer's refusal.
    let audit = d.join("data").join("audit").join("audit.log");
    let patched = |events: &[Value], user: &str, name: &str, code: u64| {
        events.iter().any(|e| {
            e["user"]["username"] == user
                && e["verb"] == "patch"
                && e["objectRef"]["resource"] == "registeredclusters"
                && e["objectRef"]["name"] == name
                && e["responseStatus"]["code"] == code
        })
    };
    eventually(
        "the console's requests in the audit log",
        Duration::from_secs(10),
        || {
            let events: Vec<Value> = std::fs::read_to_string(&audit)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            (patched(&events, "admin", "member3", 200)
                && patched(&events, "viewer1", "member1", 403))
            .then_some(())
        },
    );
    assert_eq!(text(&steps["cookies"], "/visible"), "", "HttpOnly cookie");
    assert!(steps.contains_key("signed-out"));

    let security = &steps["security"];
    assert!(
        text(security, "/csp").contains("script-src 'self'"),
        "{security}"
    );
    assert_eq!(security["withoutHeader"], Value::from(403), "{security}");
    assert!(
        text(security, "/reusedLink").contains("expired"),
        "{security}"
    );

    let done = &steps["done"];
    assert_eq!(done["problems"], serde_json::json!([]), "{done}");
    assert!(shots.join("overview.png").exists());
}
