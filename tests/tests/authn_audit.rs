//! Who a request is and what the logs say about it (issue 10): the simulator authenticates a
//! request without credentials (curl: kubectl asks for a user name when its kubeconfig has no
//! credentials) as `system:anonymous` and RBAC answers it (as kube-apiserver with
//! `--anonymous-auth`, its default), or answers 401 with `--anonymous-auth=false`; impersonation
//! carries `Impersonate-Uid` and `Impersonate-Extra-*` into the user (`kubectl auth whoami`) and
//! the audit event's `impersonatedUser`; the hub records each proxied request in its own audit
//! log, which `cceonectl audit --file` reads. The federation with `--anonymous-auth=true` lets
//! RBAC answer such requests (403, not 401), and writes the stages kube-apiserver writes under
//! an `--audit-policy-file`: a watch's `RequestReceived`, `ResponseStarted` and
//! `ResponseComplete` sharing one `auditID`, a rule's `omitStages` and a `None` rule for a user
//! honoured.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{audit_events, eventually, kubectl, kubectl_bin, step};

/// (server URL, CA file) of a kubeconfig, the CA written beside it.
fn server_and_ca(kc: &Path) -> (String, PathBuf) {
    use base64::Engine as _;
    let field = |path: &str| {
        kubectl(
            kc,
            &[
                "config",
                "view",
                "--raw",
                "-o",
                &format!("jsonpath={{{path}}}"),
            ],
        )
    };
    let ca = base64::engine::general_purpose::STANDARD
        .decode(field(".clusters[0].cluster.certificate-authority-data").trim())
        .unwrap();
    let ca_file = kc.with_extension("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    (
        field(".clusters[0].cluster.server").trim().to_string(),
        ca_file,
    )
}

/// curl without credentials: (HTTP code, body).
fn curl(ca: &Path, url: &str, headers: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--cacert"])
        .arg(ca)
        .args(["-w", "\n%{http_code}"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

/// The events of one request (by `auditID`) in a log, in order.
fn events_of(log: &Path, id: &Value) -> Vec<Value> {
    audit_events(log)
        .into_iter()
        .filter(|e| &e["auditID"] == id)
        .collect()
}

/// Listing pods without credentials: RBAC's 403 for `system:anonymous`, in kube's words.
fn anonymous_is_forbidden_pods(server: &str, ca: &Path) {
    let (code, body) = curl(ca, &format!("{server}/api/v1/namespaces/default/pods"), &[]);
    assert_eq!(code, 403, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(status["reason"], "Forbidden");
}

#[test]
fn anonymous_requests_and_impersonated_uid_and_extras_on_kubesim() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let audit = d.join("sim-audit.log");
    let audit_s = audit.display().to_string();
    let (_sim, kc) = support::kubesim("anon", d, &["--nodes", "1", "--audit-log", &audit_s]);
    let (server, ca) = server_and_ca(&kc);

    step("no credentials: system:anonymous, and RBAC answers 403 in kube-apiserver's words");
    anonymous_is_forbidden_pods(&server, &ca);
    let (code, body) = curl(&ca, &format!("{server}/api"), &[]);
    assert_eq!(code, 403, "discovery is for authenticated users: {body}");
    assert!(
        body.contains(r#"User \"system:anonymous\" cannot get path \"/api\""#),
        "{body}"
    );
    // system:public-info-viewer.
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        let (code, body) = curl(&ca, &format!("{server}{path}"), &[]);
        assert_eq!(code, 200, "{path}: {body}");
    }
    // A bad token is still refused outright.
    let (code, _) = curl(
        &ca,
        &format!("{server}/api/v1/nodes"),
        &["Authorization: Bearer not-a-token"],
    );
    assert_eq!(code, 401);
    let anonymous_in_log = eventually("the anonymous 403 audited", Duration::from_secs(10), || {
        audit_events(&audit).into_iter().find(|e| {
            e["user"]["username"] == "system:anonymous" && e["responseStatus"]["code"] == 403
        })
    });
    assert_eq!(
        anonymous_in_log["user"]["groups"],
        serde_json::json!(["system:unauthenticated"])
    );

    step("impersonating a uid and extras: whoami and the audit event carry them");
    let who = kubectl(
        &kc,
        &[
            "auth",
            "whoami",
            "--as=bob",
            "--as-group=devs",
            "--as-uid=u-1234",
            "-o",
            "json",
        ],
    );
    let who: Value = serde_json::from_str(&who).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "bob");
    assert_eq!(who["status"]["userInfo"]["uid"], "u-1234");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        serde_json::json!(["devs", "system:authenticated"])
    );
    // kubectl has no flag for extras; curl sends the headers (the key percent-encoded, as
    // kube's impersonation filter decodes it).
    let token = support::kubectl(
        &kc,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[0].user.token}",
        ],
    );
    let (code, body) = {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"]).arg(&ca).args([
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
            "-H",
            "Impersonate-User: carol",
            "-H",
            "Impersonate-Uid: u-42",
            "-H",
            "Impersonate-Extra-Example.com%2fScopes: view",
            "-H",
            "Impersonate-Extra-Example.com%2fScopes: edit",
            "-d",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        ]);
        let out = cmd
            .arg(format!(
                "{server}/apis/authentication.k8s.io/v1/selfsubjectreviews"
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (b, c) = text.rsplit_once('\n').unwrap();
        (c.trim().parse::<u16>().unwrap(), b.to_string())
    };
    assert_eq!(code, 201, "{body}");
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["status"]["userInfo"]["uid"], "u-42", "{review}");
    assert_eq!(
        review["status"]["userInfo"]["extra"],
        serde_json::json!({"example.com/scopes": ["view", "edit"]}),
        "{review}"
    );
    let event = eventually("carol's review audited", Duration::from_secs(10), || {
        audit_events(&audit)
            .into_iter()
            .find(|e| e["impersonatedUser"]["username"] == "carol")
    });
    assert_eq!(event["impersonatedUser"]["uid"], "u-42", "{event}");
    assert_eq!(
        event["impersonatedUser"]["extra"],
        serde_json::json!({"example.com/scopes": ["view", "edit"]})
    );
    assert_eq!(event["user"]["username"], "admin");
}

#[test]
fn anonymous_auth_off_answers_401() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, kc) = support::kubesim(
        "closed",
        dir.path(),
        &["--nodes", "0", "--anonymous-auth=false"],
    );
    let (server, ca) = server_and_ca(&kc);
    let (code, body) = curl(&ca, &format!("{server}/api/v1/nodes"), &[]);
    assert_eq!(code, 401, "{body}");
}

#[test]
fn the_hub_records_proxied_requests() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("hub-audit").join("audit.log");
    let log_s = log.display().to_string();
    // Every stage: the default policy would leave RequestReceived out.
    let policy = tmp.path().join("hub-policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n",
    )
    .unwrap();
    let policy_s = policy.display().to_string();
    let p = support::Platform::start(&["--audit-log", &log_s, "--audit-policy-file", &policy_s]);

    step("a proxy kubeconfig for a cluster with no agent: the hub answers 503 and records it");
    p.cceonectl(&["cluster", "register", "ghost", "--type", "local"]);
    let text = p.cceonectl(&["cluster", "kubeconfig", "ghost", "--user", "dev"]);
    let dev = tmp.path().join("dev.kubeconfig");
    std::fs::write(&dev, text).unwrap();
    // Until the hub has seen the new kubeconfig's token (401 before that, recorded without a
    // user).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let event = loop {
        let out = Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(&dev)
            .args([
                "get",
                "--raw",
                "/clusters/ghost/proxy/api/v1/namespaces/team-a/pods",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let events = audit_events(&log);
        if let Some(e) = events.iter().find(|e| {
            e["user"]["username"] == "dev"
                && e["stage"] == "ResponseComplete"
                && e["objectRef"]["resource"] == "pods"
        }) {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request of dev's in the hub's log: {events:?}; kubectl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(event["responseStatus"]["code"], 503, "{event}");
    assert_eq!(event["verb"], "list");
    assert_eq!(event["objectRef"]["resource"], "pods");
    assert_eq!(event["objectRef"]["namespace"], "team-a");
    assert_eq!(event["annotations"]["cceone.io/cluster"], "ghost");
    assert!(
        event["annotations"]["cceone.io/latency"]
            .as_str()
            .unwrap()
            .ends_with("ms")
    );
    assert_eq!(
        event["requestURI"],
        "/clusters/ghost/proxy/api/v1/namespaces/team-a/pods"
    );
    let mode = std::fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(log.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    let received = events_of(&log, &event["auditID"]);
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0]["stage"], "RequestReceived");

    step(
        "a watch through the hub: RequestReceived, ResponseStarted and ResponseComplete, one auditID",
    );
    let out = Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(&dev)
        .args(["get", "--raw", "/clusters/ghost/proxy/api/v1/pods?watch=1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let watch = eventually("the watch's events", Duration::from_secs(10), || {
        let id = audit_events(&log)
            .into_iter()
            .find(|e| e["verb"] == "watch" && e["user"]["username"] == "dev")?["auditID"]
            .clone();
        let all = events_of(&log, &id);
        (all.len() == 3).then_some(all)
    });
    let stages: Vec<&str> = watch.iter().map(|e| e["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        ["RequestReceived", "ResponseStarted", "ResponseComplete"]
    );
    assert_eq!(watch[2]["responseStatus"]["code"], 503);

    step("cceonectl audit reads the hub's log");
    let table = p.cceonectl(&[
        "audit",
        "--file",
        &log_s,
        "--user",
        "dev",
        "--stage",
        "ResponseComplete",
    ]);
    assert!(table.contains("dev") && table.contains("503"), "{table}");
    assert!(table.contains("pods"), "{table}");
}

/// The audit policy of the federation test: nothing of `quiet`'s, configmaps' reads without
/// `RequestReceived`, everything else at Metadata with every stage.
const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    users: [quiet]
  - level: Metadata
    resources: [{group: "", resources: [configmaps]}]
    verbs: [get, list]
    omitStages: [RequestReceived]
  - level: Metadata
"#;

#[test]
fn federation_anonymous_auth_and_audit_stages_under_a_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy = d.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let log = d.join("audit").join("audit.log");
    let (log_s, policy_s) = (log.display().to_string(), policy.display().to_string());
    // A policy that is not valid stops the start, naming the field.
    let bad = d.join("bad-policy.yaml");
    std::fs::write(&bad, POLICY.replace("level: None", "level: Nothing")).unwrap();
    let out = support::run(
        "cceone-federation",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &d.join("unused").display().to_string(),
            "--audit-log-path",
            &log_s,
            "--audit-policy-file",
            &bad.display().to_string(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"rules[0].level: Unsupported value: "Nothing""#),
        "{err}"
    );
    let (_fed, kc) = support::federation_with(
        d,
        &[
            "--anonymous-auth=true",
            "--audit-log-path",
            &log_s,
            "--audit-policy-file",
            &policy_s,
        ],
    );
    let (server, ca) = server_and_ca(&kc);

    step(
        "anonymous: RBAC answers 403 (not 401); a bad token is still 401, audited alone at ResponseStarted",
    );
    anonymous_is_forbidden_pods(&server, &ca);
    let (code, _) = curl(
        &ca,
        &format!("{server}/api/v1/nodes"),
        &["Authorization: Bearer not-a-token", "Audit-ID: bad-token-1"],
    );
    assert_eq!(code, 401);
    let failed = eventually("the 401 audited", Duration::from_secs(10), || {
        let events = audit_events(&log);
        let mine: Vec<Value> = events
            .into_iter()
            .filter(|e| e["auditID"] == "bad-token-1")
            .collect();
        (!mine.is_empty()).then_some(mine)
    });
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["stage"], "ResponseStarted");
    assert_eq!(failed[0]["responseStatus"]["code"], 401);
    assert_eq!(
        failed[0]["responseStatus"]["message"],
        "Authentication failed, attempted: bearer"
    );
    let anonymous = audit_events(&log)
        .into_iter()
        .filter(|e| e["user"]["username"] == "system:anonymous")
        .map(|e| e["stage"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(anonymous, ["RequestReceived", "ResponseComplete"]);

    step(
        "kubectl get -w: the list without RequestReceived, the watch at three stages, one auditID",
    );
    let mut watch = Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "configmaps", "-n", "default", "-w"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let watch_events = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["verb"] == "watch" && e["objectRef"]["resource"] == "configmaps")
            .cloned()
            .collect()
    };
    let started = eventually("the watch started", Duration::from_secs(30), || {
        let w = watch_events(&audit_events(&log));
        (w.len() >= 2).then_some(w)
    });
    let stages = |w: &[Value]| -> Vec<String> {
        w.iter()
            .map(|e| e["stage"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(stages(&started), ["RequestReceived", "ResponseStarted"]);
    watch.kill().unwrap();
    watch.wait().unwrap();
    let whole = eventually("the watch complete", Duration::from_secs(30), || {
        let w = watch_events(&audit_events(&log));
        (w.len() >= 3).then_some(w)
    });
    assert_eq!(
        stages(&whole),
        ["RequestReceived", "ResponseStarted", "ResponseComplete"]
    );
    let id = &whole[0]["auditID"];
    assert!(whole.iter().all(|e| &e["auditID"] == id), "{whole:?}");
    assert_eq!(
        whole[0]["stageTimestamp"],
        whole[0]["requestReceivedTimestamp"]
    );
    assert!(whole[0].get("responseStatus").is_none());
    assert_eq!(whole[1]["responseStatus"]["code"], 200);
    assert_eq!(whole[2]["responseStatus"]["code"], 200);
    let lists: Vec<Value> = audit_events(&log)
        .into_iter()
        .filter(|e| e["verb"] == "list" && e["objectRef"]["resource"] == "configmaps")
        .collect();
    assert_eq!(
        stages(&lists),
        ["ResponseComplete"],
        "omitStages: [RequestReceived]"
    );

    step("a None rule for a user: none of quiet's requests is recorded");
    let text = support::ok(
        "cceonectl",
        &[
            "--kubeconfig",
            &kc.display().to_string(),
            "user",
            "kubeconfig",
            "quiet",
        ],
    );
    let quiet = d.join("quiet.kubeconfig");
    std::fs::write(&quiet, text).unwrap();
    let who = kubectl(
        &quiet,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(who, "quiet");
    // The writer keeps order: once a later request of the admin's is in, quiet's would be too.
    kubectl(&kc, &["auth", "whoami"]);
    eventually("the admin's later whoami", Duration::from_secs(10), || {
        audit_events(&log).into_iter().rev().find(|e| {
            e["user"]["username"] == "admin"
                && e["objectRef"]["resource"] == "selfsubjectreviews"
                && e["stage"] == "ResponseComplete"
        })
    });
    let quiets: Vec<Value> = audit_events(&log)
        .into_iter()
        .filter(|e| e["user"]["username"] == "quiet")
        .collect();
    assert!(quiets.is_empty(), "{quiets:?}");
    // cceonectl audit filters by stage.
    let table = support::ok(
        "cceonectl",
        &[
            "audit",
            "--file",
            &log_s,
            "--verb",
            "watch",
            "--stage",
            "ResponseComplete",
        ],
    );
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.lines().nth(1).unwrap().ends_with("ResponseComplete"),
        "{table}"
    );
}
