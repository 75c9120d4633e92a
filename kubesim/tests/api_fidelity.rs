//! Discovery, protocol and validation fidelity with kube-apiserver 1.32, driven by the real
//! `kubectl` 1.32 and the official Python client against the real `cceone-kubesim` binary:
//! the resources `kubectl api-resources` lists (ReplicationController, PodTemplate,
//! CertificateSigningRequest, the review groups), `apply --prune`, `create token` and the
//! token's identity, `certificate approve|deny`, the 422s upstream gives for invalid objects,
//! the defaults it fills in, HPA autoscaling/v1 beside v2, paging with `remainingItemCount`,
//! and gzip of large responses.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use serde_json::Value;
use support::{Sim, stderr};

/// The `api-resources -o wide` row of `name` (whitespace-separated cells).
fn resource_row(table: &str, name: &str) -> Vec<String> {
    support::row(table, name).unwrap_or_else(|| panic!("{name} not in:\n{table}"))
}

#[test]
fn discovery_lists_what_a_1_32_cluster_serves() {
    let sim = Sim::start(&[]);
    // ReplicationControllers print as upstream's printReplicationController does.
    sim.apply(
        "apiVersion: v1
kind: ReplicationController
metadata: {name: old}
spec:
  replicas: 2
  selector: {app: old}
  template:
    metadata: {labels: {app: old}}
    spec: {containers: [{name: c, image: nginx}]}
",
    );
    let rc = sim.ok(&["get", "rc", "old", "-o", "wide"]);
    let rows = support::rows(&rc);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(rows[1][..2], ["old", "2"]);
    assert_eq!(rows[1][5..], ["c", "nginx", "app=old"]);
    // PodTemplates print as printPodTemplate: containers, images and the template's labels.
    sim.apply(
        "apiVersion: v1
kind: PodTemplate
metadata: {name: tpl}
template:
  metadata: {labels: {app: tpl, tier: web}}
  spec: {containers: [{name: a, image: nginx}, {name: b, image: busybox}]}
",
    );
    let rows = support::rows(&sim.ok(&["get", "podtemplates"]));
    assert_eq!(rows[0], ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"]);
    assert_eq!(rows[1], ["tpl", "a,b", "nginx,busybox", "app=tpl,tier=web"]);
    let table = sim.ok(&["api-resources", "-o", "wide"]);
    assert_eq!(
        resource_row(&table, "replicationcontrollers"),
        [
            "replicationcontrollers",
            "rc",
            "v1",
            "true",
            "ReplicationController",
            "create,delete,deletecollection,get,list,patch,update,watch",
            "all"
        ]
    );
    assert_eq!(
        resource_row(&table, "certificatesigningrequests"),
        [
            "certificatesigningrequests",
            "csr",
            "certificates.k8s.io/v1",
            "false",
            "CertificateSigningRequest",
            "create,delete,deletecollection,get,list,patch,update,watch"
        ]
    );
    // No short names: the row's cells shift left.
    assert_eq!(
        resource_row(&table, "podtemplates")[1..4],
        ["v1", "true", "PodTemplate"]
    );
    assert_eq!(
        resource_row(&table, "namespaces")[5],
        "create,delete,get,list,patch,update,watch"
    );
    assert_eq!(
        resource_row(&table, "selfsubjectaccessreviews")[1..],
        [
            "authorization.k8s.io/v1",
            "false",
            "SelfSubjectAccessReview",
            "create"
        ]
    );
    assert_eq!(
        resource_row(&table, "tokenreviews")[1..],
        ["authentication.k8s.io/v1", "false", "TokenReview", "create"]
    );
    assert_eq!(
        resource_row(&table, "customresourcedefinitions")[6],
        "api-extensions"
    );
    assert_eq!(
        resource_row(&table, "apiservices")[1..],
        [
            "apiregistration.k8s.io/v1",
            "false",
            "APIService",
            "create,delete,deletecollection,get,list,patch,update,watch",
            "api-extensions"
        ]
    );
    // The same document kubectl reads in one request (aggregated discovery), with subresources.
    let v1: Value = serde_json::from_str(&sim.ok(&["get", "--raw", "/api/v1"])).unwrap();
    let names: Vec<&str> = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for sub in [
        "serviceaccounts/token",
        "pods/exec",
        "replicationcontrollers/scale",
    ] {
        assert!(names.contains(&sub), "{sub} not in {names:?}");
    }
    let groups: Value = serde_json::from_str(&sim.ok(&["get", "--raw", "/apis"])).unwrap();
    let autoscaling = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "autoscaling")
        .unwrap();
    assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
    assert_eq!(autoscaling["versions"].as_array().unwrap().len(), 2);

    // A watch that allows bookmarks gets one just before its timeout ends it.
    let events = sim.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=1",
    ]);
    let last: Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "BOOKMARK", "{events}");
    assert_eq!(last["object"]["kind"], "ConfigMap");
}

#[test]
fn apply_prune_and_service_account_tokens() {
    let sim = Sim::start(&[]);
    let two = "apiVersion: v1
kind: ConfigMap
metadata: {name: one, labels: {app: x}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: two, labels: {app: x}}
";
    sim.kubectl_stdin(&["apply", "-f", "-"], Some(two));
    // `--prune` walks every kind in its allowlist, ReplicationController included.
    let one = "apiVersion: v1
kind: ConfigMap
metadata: {name: one, labels: {app: x}}
";
    let out = sim.kubectl_stdin(&["apply", "--prune", "-l", "app=x", "-f", "-"], Some(one));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configmap/one unchanged\nconfigmap/two pruned\n"
    );

    sim.ok(&["create", "serviceaccount", "builder"]);
    let token = sim.ok(&["create", "token", "builder"]).trim().to_string();
    let whoami: Value =
        serde_json::from_str(&sim.ok(&["auth", "whoami", "--token", &token, "-o", "json"]))
            .unwrap();
    assert_eq!(
        whoami["status"]["userInfo"]["username"],
        "system:serviceaccount:default:builder"
    );
    assert_eq!(
        whoami["status"]["userInfo"]["groups"],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    // The service account's RBAC decides what the token may do (nothing is bound to it).
    let denied = sim.fails(&["get", "pods", "--token", &token]);
    assert!(
        denied.contains(
            "pods is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"pods\""
        ),
        "{denied}"
    );
    let short = sim.fails(&["create", "token", "builder", "--duration", "1m"]);
    assert!(
        short.contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
        "{short}"
    );
    // Deleting the service account revokes its tokens.
    sim.ok(&["delete", "serviceaccount", "builder"]);
    let gone = sim.fails(&["auth", "whoami", "--token", &token]);
    assert!(gone.contains("Unauthorized"), "{gone}");
}

/// A certificate request for `cn` made by openssl, base64-encoded as `spec.request` holds it.
fn csr_request(dir: &std::path::Path, cn: &str) -> String {
    let key = dir.join(format!("{cn}.key"));
    let script = format!(
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN={cn}/O=dev -keyout {} | base64 -w0",
        key.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn certificate_signing_requests_are_approved_and_denied() {
    let sim = Sim::start(&[]);
    for name in ["alice", "mallory"] {
        let request = csr_request(sim.dir.path(), name);
        let csr = format!(
            "apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {{name: {name}}}
spec:
  request: {request}
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
"
        );
        sim.kubectl_stdin(&["create", "-f", "-"], Some(&csr));
    }
    assert_eq!(
        sim.ok(&["certificate", "approve", "alice"]),
        "certificatesigningrequest.certificates.k8s.io/alice approved\n"
    );
    assert_eq!(
        sim.ok(&["certificate", "deny", "mallory"]),
        "certificatesigningrequest.certificates.k8s.io/mallory denied\n"
    );
    // `kubectl get csr` prints printCertificateSigningRequest's columns; the signed request
    // is Issued too.
    let table = sim.ok(&["get", "csr"]);
    let rows = support::rows(&table);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "AGE",
            "SIGNERNAME",
            "REQUESTOR",
            "REQUESTEDDURATION",
            "CONDITION"
        ]
    );
    let signer = "kubernetes.io/kube-apiserver-client";
    let row = |name: &str| support::row(&table, name).unwrap();
    assert_eq!(
        row("alice")[2..],
        [signer, "admin", "<none>", "Approved,Issued"]
    );
    assert_eq!(row("mallory")[2..], [signer, "admin", "<none>", "Denied"]);
    let alice: Value =
        serde_json::from_str(&sim.ok(&["get", "csr", "alice", "-o", "json"])).unwrap();
    let condition = &alice["status"]["conditions"][0];
    assert_eq!(condition["type"], "Approved");
    assert_eq!(condition["reason"], "KubectlApprove");
    assert_eq!(condition["status"], "True");
    // The server records who asked, as upstream does on create.
    assert_eq!(alice["spec"]["username"], "admin");
    // The cluster CA signed it, and the certificate authenticates as its subject.
    let dir = sim.dir.path();
    let cert = dir.join("alice.crt");
    let pem = sim.jsonpath(&["csr", "alice"], "{.status.certificate}");
    let decoded = Command::new("sh")
        .args([
            "-c",
            &format!("echo {pem} | base64 -d > {}", cert.display()),
        ])
        .status()
        .unwrap();
    assert!(decoded.success());
    let raw = |path: &str| {
        sim.ok(&[
            "config",
            "view",
            "--raw",
            "-o",
            &format!("jsonpath={{{path}}}"),
        ])
    };
    let ca = dir.join("ca.crt");
    let ca_data = raw(".clusters[0].cluster.certificate-authority-data");
    Command::new("sh")
        .args([
            "-c",
            &format!("echo {ca_data} | base64 -d > {}", ca.display()),
        ])
        .status()
        .unwrap();
    let whoami = Command::new(support::kubectl_bin())
        .args([
            "--kubeconfig",
            "/dev/null",
            "--server",
            &raw(".clusters[0].cluster.server"),
        ])
        .arg(format!("--certificate-authority={}", ca.display()))
        .arg(format!("--client-certificate={}", cert.display()))
        .arg(format!("--client-key={}", dir.join("alice.key").display()))
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        "alice",
        "{}",
        stderr(&whoami)
    );
    let mallory_cert = sim.jsonpath(&["csr", "mallory"], "{.status.certificate}");
    assert_eq!(mallory_cert, "", "a denied request is not signed");
    // kubectl will not approve what is denied; the server refuses it too.
    let mut mallory: Value =
        serde_json::from_str(&sim.ok(&["get", "csr", "mallory", "-o", "json"])).unwrap();
    assert_eq!(mallory["status"]["conditions"][0]["type"], "Denied");
    mallory["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "Approved", "status": "True", "reason": "Manual"}));
    let file = sim.dir.path().join("mallory.json");
    std::fs::write(&file, mallory.to_string()).unwrap();
    let both = sim.fails(&[
        "replace",
        "--raw",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/mallory/approval",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert!(
        both.contains("status.conditions[1].type: Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive"),
        "{both}"
    );
}

fn apply_refused(sim: &Sim, yaml: &str) -> String {
    sim.fails_stdin(&["apply", "-f", "-"], Some(yaml))
}

#[test]
fn invalid_objects_are_refused_and_defaults_filled_in_as_upstream() {
    let sim = Sim::start(&[]);
    let port = apply_refused(
        &sim,
        "apiVersion: v1
kind: Service
metadata: {name: bad-port}
spec:
  selector: {app: x}
  ports: [{port: 99999}]
",
    );
    // targetPort defaults to the port, and is checked too.
    assert!(
        port.contains("The Service \"bad-port\" is invalid: \n* spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive\n* spec.ports[0].targetPort: Invalid value: 99999: must be between 1 and 65535, inclusive"),
        "{port}"
    );
    let cron = apply_refused(
        &sim,
        "apiVersion: batch/v1
kind: CronJob
metadata: {name: bad-cron}
spec:
  schedule: bad
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
",
    );
    assert!(
        cron.contains("The CronJob \"bad-cron\" is invalid: spec.schedule: Invalid value: \"bad\": expected exactly 5 fields, found 1: [bad]"),
        "{cron}"
    );
    let mismatch = apply_refused(
        &sim,
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatch}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: nginx}]}
",
    );
    assert!(
        mismatch.contains("The Deployment \"mismatch\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"),
        "{mismatch}"
    );
    let big = sim.dir.path().join("big.txt");
    std::fs::write(&big, "x".repeat(1024 * 1024 + 10)).unwrap();
    let too_long = sim.fails(&[
        "create",
        "configmap",
        "big",
        &format!("--from-file={}", big.display()),
    ]);
    assert!(
        too_long.contains(
            "error: failed to create configmap: ConfigMap \"big\" is invalid: []: Too long: must have at most 1048576 bytes"
        ),
        "{too_long}"
    );

    // Defaults kube-apiserver fills in, as `get -o yaml` shows them.
    sim.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local:5000/web:1.0
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {port: 8080}}
",
        ),
    );
    let web: Value =
        serde_json::from_str(&sim.ok(&["get", "deployment", "web", "-o", "json"])).unwrap();
    let spec = &web["spec"];
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(
        spec["strategy"],
        serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    let c = &pod["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["readinessProbe"],
        serde_json::json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );

    // An HPA written as autoscaling/v1 is the same object as autoscaling/v2.
    sim.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 3
  targetCPUUtilizationPercentage: 50
",
        ),
    );
    assert_eq!(
        sim.jsonpath(
            &["horizontalpodautoscalers.v2.autoscaling", "web"],
            "{.spec.metrics[0].resource.target.averageUtilization} {.spec.minReplicas}"
        ),
        "50 1"
    );
    assert_eq!(
        sim.jsonpath(
            &["horizontalpodautoscalers.v1.autoscaling", "web"],
            "{.spec.targetCPUUtilizationPercentage}"
        ),
        "50"
    );
}

#[test]
fn python_client_pages_with_remaining_item_count_and_reads_gzip() {
    support::ensure_python_client();
    let sim = Sim::start(&[]);
    let mut templates = String::new();
    for i in 0..5 {
        templates.push_str(&format!(
            "---\napiVersion: v1\nkind: PodTemplate\nmetadata: {{name: t{i}}}\ntemplate:\n  spec:\n    containers: [{{name: c, image: busybox}}]\n"
        ));
    }
    sim.kubectl_stdin(&["apply", "-f", "-"], Some(&templates));
    // kubectl pages too, and gets every item.
    let chunked = sim.ok(&["get", "podtemplates", "--chunk-size=2", "-o", "name"]);
    assert_eq!(chunked.lines().count(), 5, "{chunked}");
    let big = sim.dir.path().join("big.txt");
    std::fs::write(&big, "y".repeat(200 * 1024)).unwrap();
    sim.ok(&[
        "create",
        "configmap",
        "big",
        &format!("--from-file={}", big.display()),
    ]);
    let script = r#"
import sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
token = None
while True:
    page = v1.list_namespaced_pod_template("default", limit=2, _continue=token)
    print(len(page.items), page.metadata.remaining_item_count)
    token = page.metadata._continue
    if not token:
        break
api = client.ApiClient()
for name in ["big", "kube-root-ca.crt-absent"]:
    request = api.param_serialize("GET", "/api/v1/namespaces/default/configmaps/" + name,
                                  header_params={"Accept-Encoding": "gzip"}, auth_settings=["BearerToken"])
    response = api.call_api(*request)
    body = response.read()
    print(name, response.status, response.getheader("Content-Encoding"), len(body) > 200 * 1024)
"#;
    let out = support::python(script, &[sim.kubeconfig.as_os_str()]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}\n{}", stderr(&out));
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "2 3",
            "2 1",
            "1 None",
            "big 200 gzip True",
            "kube-root-ca.crt-absent 404 None False",
        ]
    );
}
