//! `cceonectl cluster register` and friends against the real `cceone-kubesim` binary as the
//! federation API: the registered cluster shows Pending in the real `kubectl`, its bootstrap
//! token redeems exactly once, expired/wrong/unknown/malformed tokens are refused with distinct
//! reasons, `--format env` prints parseable lines, and the other commands behave.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cceone_platform::hubinfo::{self, HubInfo};
use cceone_platform::render::{self, unescape_env_value};
use cceone_platform::{TokenError, ca::HubCa, proxytoken, token};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde::Deserialize as _;
use serde_json::Value;

/// Build `cceone-kubesim` (a no-op when fresh) next to this test's own binaries and return it.
fn kubesim_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "cceone-kubesim",
            "--bin",
            "cceone-kubesim",
        ])
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "building cceone-kubesim failed");
        profile_dir.join("cceone-kubesim")
    })
}

/// A running simulator used as the federation API.
struct Fed {
    child: Child,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Fed {
    fn start() -> Fed {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let log = std::fs::File::create(dir.path().join("sim.log")).unwrap();
        let child = Command::new(kubesim_bin())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--nodes",
                "0",
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut fed = Fed {
            child,
            dir,
            kubeconfig,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !fed.kubeconfig.exists() {
            if let Some(status) = fed.child.try_wait().unwrap() {
                panic!("simulator exited ({status}): {}", fed.log());
            }
            assert!(
                Instant::now() < deadline,
                "simulator did not start: {}",
                fed.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        fed
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    /// Publish hub info as the hub would; returns the CA PEM.
    async fn publish_hub_info(&self, client: &kube::Client) -> String {
        let (ca, _) = HubCa::generate().unwrap();
        let info = HubInfo {
            public_endpoint: "hub.example.com:9443".into(),
            private_endpoint: Some("10.0.0.7:9443".into()),
            ca_bundle: ca.ca_pem().to_string(),
            hub_endpoints: Vec::new(),
        };
        hubinfo::publish(client, &info).await.unwrap();
        info.ca_bundle
    }

    fn cceonectl(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_cceonectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "cceonectl {args:?} panicked: {stderr}"
        );
        out
    }

    /// cceonectl that must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cceonectl(args);
        assert!(
            out.status.success(),
            "cceonectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// cceonectl that must fail; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.cceonectl(args);
        assert!(!out.status.success(), "cceonectl {args:?} should fail");
        assert!(out.stdout.is_empty(), "nothing on stdout when failing");
        String::from_utf8(out.stderr).unwrap()
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let out = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl must be installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Fed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn env_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=value: {l:?}"));
            assert!(
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{l}"
            );
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_shows_pending_and_the_token_redeems_once() {
    let fed = Fed::start();
    let client = fed.client().await;
    let ca_pem = fed.publish_hub_info(&client).await;

    let yaml = fed.ok(&[
        "cluster", "register", "demo", "--type", "local", "--region", "r1", "--label", "env=dev",
    ]);
    eprintln!("--- cceonectl cluster register demo printed:\n{yaml}---");
    let objs = docs(&yaml);
    let kinds: Vec<&str> = objs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Secret",
            "Deployment"
        ]
    );
    let config = &objs[5]["stringData"];
    assert_eq!(config[render::ENV_CLUSTER_NAME], "demo");
    assert_eq!(config[render::ENV_HUB_ENDPOINT], "hub.example.com:9443");
    assert!(
        config.get(render::ENV_HUB_PRIVATE_ENDPOINT).is_none(),
        "public variant by default"
    );
    assert_eq!(
        unescape_env_value(config[render::ENV_HUB_CA].as_str().unwrap()),
        ca_pem
    );
    assert_eq!(objs[6]["spec"]["replicas"], 2);
    let bootstrap = config[render::ENV_BOOTSTRAP_TOKEN]
        .as_str()
        .unwrap()
        .to_string();

    // The real kubectl sees it, with the CRD's printer columns.
    let table = fed.kubectl(&["get", "registeredclusters"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "TYPE", "PROVIDER", "VERSION", "REGION", "PHASE", "VCPUS", "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["demo", "local", "r1", "Pending"], "{table}");
    assert_eq!(
        fed.kubectl(&[
            "get",
            "regc",
            "demo",
            "-o",
            "jsonpath={.metadata.labels.env}"
        ]),
        "dev"
    );
    let reason = fed.kubectl(&[
        "get",
        "regc",
        "demo",
        "-o",
        "jsonpath={.status.operations[0].reason}",
    ]);
    assert_eq!(reason, "Registered");
    // Our own list prints the same columns.
    let ours = fed.ok(&["cluster", "list"]);
    assert_eq!(
        ours.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        header
    );

    // The token redeems once.
    let now = jiff::Timestamp::now();
    assert_eq!(
        token::redeem(&client, &bootstrap, now).await.unwrap(),
        "demo"
    );
    let again = token::redeem(&client, &bootstrap, now).await.unwrap_err();
    assert!(matches!(again, TokenError::Used), "{again:?}");

    // Two concurrent redeems of one token: exactly one wins.
    let t = token::issue(&client, "demo", Duration::from_secs(600))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        token::redeem(&client, &t, now),
        token::redeem(&client, &t, now)
    );
    let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    assert!(
        [a, b]
            .into_iter()
            .any(|r| matches!(r, Err(TokenError::Used)))
    );

    // Expiry is judged at the time passed in; a refusal leaves the token as it was.
    let short = token::issue(&client, "demo", Duration::from_secs(60))
        .await
        .unwrap();
    let later = now.checked_add(Duration::from_secs(2 * 3600)).unwrap();
    let expired = token::redeem(&client, &short, later).await.unwrap_err();
    assert!(matches!(expired, TokenError::Expired), "{expired:?}");
    let (id, _) = token::parse(&short).unwrap();
    let wrong = format!("{id}.0000000000000000");
    let err = token::redeem(&client, &wrong, now).await.unwrap_err();
    assert!(matches!(err, TokenError::WrongSecret), "{err:?}");
    let err = token::redeem(&client, "zzzzzz.0123456789abcdef", now)
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::Unknown), "{err:?}");
    let err = token::redeem(&client, "not-a-token", now)
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::Malformed), "{err:?}");
    assert_eq!(token::redeem(&client, &short, now).await.unwrap(), "demo");

    // The cleaner removes used and expired tokens; then they are simply unknown.
    let leftover = token::issue(&client, "demo", Duration::from_secs(60))
        .await
        .unwrap();
    let removed = token::purge_expired(&client, later).await.unwrap();
    assert_eq!(removed, 4, "three used tokens and one expired");
    let err = token::redeem(&client, &leftover, now).await.unwrap_err();
    assert!(matches!(err, TokenError::Unknown), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_format_prints_parseable_lines() {
    let fed = Fed::start();
    let client = fed.client().await;
    let ca_pem = fed.publish_hub_info(&client).await;
    let text = fed.ok(&[
        "cluster",
        "register",
        "edge-1",
        "--type",
        "third-party",
        "--provider",
        "aws",
        "--endpoint",
        "private",
        "--format",
        "env",
        "--transport",
        "grpc",
        "--token-ttl",
        "10m",
    ]);
    let pairs = env_lines(&text);
    let get = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone());
    assert_eq!(
        get(render::ENV_HUB_ENDPOINT).as_deref(),
        Some("hub.example.com:9443")
    );
    assert_eq!(
        get(render::ENV_HUB_PRIVATE_ENDPOINT).as_deref(),
        Some("10.0.0.7:9443")
    );
    assert_eq!(get(render::ENV_CLUSTER_NAME).as_deref(), Some("edge-1"));
    assert_eq!(get(render::ENV_TRANSPORT).as_deref(), Some("grpc"));
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(get(render::ENV_HUB_CA_BASE64).unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(ca).unwrap(), ca_pem);
    assert!(get(render::ENV_HUB_CA).is_none(), "{text}");
    // The shells read the file back exactly: `set -a; . file` and `env $(cat file)`.
    let file = fed.dir.path().join("edge-1.env");
    std::fs::write(&file, &text).unwrap();
    for script in [r#"set -a; . "$1"; set +a; env"#, r#"env $(cat "$1")"#] {
        let out = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sh -c {script:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = String::from_utf8_lossy(&out.stdout);
        for (k, v) in &pairs {
            assert!(
                seen.lines().any(|l| l == format!("{k}={v}")),
                "sh -c {script:?} did not read {k} back:\n{seen}"
            );
        }
    }
    let bootstrap = get(render::ENV_BOOTSTRAP_TOKEN).unwrap();
    let now = jiff::Timestamp::now();
    assert_eq!(
        token::redeem(&client, &bootstrap, now).await.unwrap(),
        "edge-1"
    );
    // A fresh token for the same cluster.
    let fresh = fed.ok(&["cluster", "token", "edge-1", "--ttl", "5m"]);
    assert_eq!(
        token::redeem(&client, fresh.trim(), now).await.unwrap(),
        "edge-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_commands_and_bad_input() {
    let fed = Fed::start();
    let client = fed.client().await;

    // Without hub info nothing is registered.
    let err = fed.fails(&["cluster", "register", "early", "--type", "local"]);
    assert!(err.contains("cceone-hub-info"), "{err}");
    assert!(fed.kubectl(&["get", "regc", "-o", "name"]).is_empty());
    let ca_pem = fed.publish_hub_info(&client).await;

    fed.ok(&[
        "cluster",
        "register",
        "prod",
        "--type",
        "ctyun",
        "--delete-protection",
    ]);
    let err = fed.fails(&["cluster", "register", "prod", "--type", "ctyun"]);
    assert!(err.contains("already registered"), "{err}");
    let err = fed.fails(&["cluster", "unsubscribe", "prod"]);
    assert!(err.contains("delete protection"), "{err}");
    assert_eq!(
        fed.kubectl(&["get", "regc", "prod", "-o", "jsonpath={.spec.unsubscribed}"]),
        ""
    );
    fed.ok(&["cluster", "protect", "prod", "--off"]);
    fed.ok(&["cluster", "unsubscribe", "prod"]);
    assert_eq!(
        fed.kubectl(&["get", "regc", "prod", "-o", "jsonpath={.spec.unsubscribed}"]),
        "true"
    );
    fed.ok(&["cluster", "revoke", "prod"]);
    assert_eq!(
        fed.kubectl(&["get", "regc", "prod", "-o", "jsonpath={.spec.revoked}"]),
        "true"
    );
    let err = fed.fails(&["cluster", "token", "prod"]);
    assert!(err.contains("revoked or unsubscribed"), "{err}");

    // Proxy kubeconfigs: issued, verifiable by the hub, revocable.
    let text = fed.ok(&[
        "cluster",
        "kubeconfig",
        "prod",
        "--user",
        "alice",
        "--group",
        "dev",
        "--ttl",
        "1h",
    ]);
    let kc: Value = serde_yaml::from_str(&text).unwrap();
    let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap();
    assert_eq!(server, "https://hub.example.com:9443/clusters/prod/proxy");
    let bearer = kc["users"][0]["user"]["token"].as_str().unwrap();
    let (id, _) = proxytoken::parse(bearer).unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), cceone_platform::SYSTEM_NAMESPACE);
    let stored = secrets.get(&proxytoken::secret_name(id)).await.unwrap();
    let who = proxytoken::verify(&stored, bearer, jiff::Timestamp::now()).unwrap();
    assert_eq!(
        (
            who.user.as_str(),
            who.groups.as_slice(),
            who.cluster.as_str()
        ),
        ("alice", &["dev".to_string()][..], "prod")
    );
    use base64::Engine as _;
    let ca_data = kc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(ca_data)
            .unwrap(),
        ca_pem.as_bytes()
    );
    fed.ok(&["cluster", "revoke-kubeconfig", id]);
    assert!(
        secrets
            .get_opt(&proxytoken::secret_name(id))
            .await
            .unwrap()
            .is_none()
    );
    let err = fed.fails(&["cluster", "revoke-kubeconfig", id]);
    assert!(err.contains("not found"), "{err}");

    // Bad input: clear errors, non-zero exits, no panics.
    for args in [
        &["cluster", "register", "Bad_Name", "--type", "local"][..],
        &["cluster", "register", "x", "--type", "mars"],
        &[
            "cluster",
            "register",
            "x",
            "--type",
            "local",
            "--label",
            "no-equals",
        ],
        &[
            "cluster",
            "register",
            "x",
            "--type",
            "local",
            "--token-ttl",
            "-5m",
        ],
        &["cluster", "token", "nosuch"],
        &["cluster", "revoke", "nosuch"],
        &["cluster", "kubeconfig", "nosuch"],
        &["cluster", "revoke-kubeconfig", "../../etc"],
        &["cluster", "frobnicate"],
    ] {
        let err = fed.fails(args);
        assert!(!err.trim().is_empty(), "{args:?} explains itself");
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_cceonectl"))
        .args(["--kubeconfig", "/nonexistent/kubeconfig", "cluster", "list"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/kubeconfig"));
}

/// kubectl with `kubeconfig`: (exit code, stdout, stderr).
fn kubectl_with(kubeconfig: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl must be installed");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cceonectl user kubeconfig`: the printed kubeconfig reaches the API as that user and those
/// groups, RBAC decides what they may do, and it stops working when revoked or expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_kubeconfig_reaches_the_api_as_that_user_until_revoked() {
    let fed = Fed::start();
    fed.kubectl(&["create", "namespace", "cceone-system"]);
    let text = fed.ok(&["user", "kubeconfig", "alice", "--group", "dev"]);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("# Revoke: cceonectl user revoke "))
        .unwrap_or_else(|| panic!("no revoke line in:\n{text}"))
        .to_string();
    let alice = fed.dir.path().join("alice.kubeconfig");
    std::fs::write(&alice, &text).unwrap();

    let who = ["auth", "whoami", "-o", "jsonpath={.status.userInfo}"];
    let (code, out, err) = kubectl_with(&alice, &who);
    assert_eq!(code, Some(0), "{err}");
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["username"], "alice");
    assert_eq!(
        info["groups"],
        serde_json::json!(["dev", "system:authenticated"])
    );
    // Authenticated is not authorized: nothing is bound to alice yet.
    let (code, _, err) = kubectl_with(&alice, &["get", "configmaps", "-n", "default"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): configmaps is forbidden: User \"alice\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    fed.kubectl(&[
        "create",
        "rolebinding",
        "dev-view",
        "--clusterrole=view",
        "--group=dev",
        "-n",
        "default",
    ]);
    let (code, _, err) = kubectl_with(&alice, &["get", "configmaps", "-n", "default"]);
    assert_eq!(code, Some(0), "{err}");
    // The token itself is a Secret only admins read; alice may not.
    let (code, _, err) = kubectl_with(&alice, &["get", "secrets", "-n", "cceone-system"]);
    assert_eq!(code, Some(1), "{err}");

    assert_eq!(
        fed.ok(&["user", "revoke", &id]),
        format!("user kubeconfig {id} revoked\n")
    );
    let (code, _, err) = kubectl_with(&alice, &who);
    assert_eq!(code, Some(1));
    assert!(err.contains("Unauthorized"), "{err}");
    assert!(fed.fails(&["user", "revoke", &id]).contains("not found"));

    // A kubeconfig with a lifetime stops at its expiry.
    let text = fed.ok(&["user", "kubeconfig", "bob", "--ttl", "2s"]);
    assert!(text.contains("; expires "), "{text}");
    let bob = fed.dir.path().join("bob.kubeconfig");
    std::fs::write(&bob, &text).unwrap();
    let (code, out, err) = kubectl_with(
        &bob,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!((code, out.as_str()), (Some(0), "bob"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, err) = kubectl_with(&bob, &["auth", "whoami"]);
        if code == Some(1) && err.contains("Unauthorized") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob's kubeconfig did not expire: {err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        fed.fails(&["user", "kubeconfig", "carol", "--ttl", "0s"])
            .contains("positive")
    );
}
