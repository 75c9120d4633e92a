//! End-to-end tests of the real `kubectl` (v1.32) against the real `cceone-kubesim` binary.
//!
//! Each test starts its own simulated cluster and replays one area of a user's kubectl session,
//! asserting on what kubectl prints exactly as it would against a real cluster: table headers
//! and cells, YAML/JSON fields, jsonpath output, and error messages with their exit codes.
//!
//! Areas: client-side apply (created / unchanged / configured, 3-way merge), server-side apply
//! and its conflict with `kubectl scale`; `get` in every output format, with selectors, across
//! namespaces and as a watch; label / annotate / scale / the three patch types; deletion with
//! garbage collection, `delete -f` and namespace deletion; the imperative `create` subcommands;
//! nodes; a CRD with printer columns, schema validation and `explain`; rejected requests; and
//! the simulator's workloads (rollout, capacity-bound scheduling, StatefulSet ordinals, Jobs).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{Sim, eventually, kubectl_bin, row, rows, stderr, stdout};

const WAIT: Duration = Duration::from_secs(30);

/// The `nginx` Deployment of the session: `image`, `replicas`, and the Deployment's own labels
/// (the selector and pod template always use `app: nginx`).
fn nginx(image: &str, replicas: u32, labels: &[(&str, &str)]) -> String {
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("    {k}: {v}\n"))
        .collect();
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  labels:
{labels}spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: {image}
        ports:
        - containerPort: 80
"
    )
}

/// Apply the nginx Deployment with `replicas` and wait until kubectl reports it rolled out.
fn deploy_nginx(sim: &Sim, replicas: u32) -> String {
    let file = sim.write_file(
        "nginx.yaml",
        &nginx("nginx:1.25", replicas, &[("app", "nginx")]),
    );
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "deployment.apps/nginx created\n"
    );
    rollout(sim, "deploy/nginx");
    file
}

/// `kubectl rollout status` must succeed; returns its last line.
fn rollout(sim: &Sim, what: &str) -> String {
    let out = sim.ok(&["rollout", "status", what, "--timeout=30s"]);
    out.lines().last().unwrap_or_default().to_string()
}

/// Names of the pods matching `selector`, with the node each is bound to.
fn pods_by_node(sim: &Sim, selector: &str) -> BTreeMap<String, String> {
    let out = sim.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}"#,
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, n)| (p.to_string(), n.to_string()))
        .collect()
}

#[test]
fn client_side_apply_creates_leaves_unchanged_and_merges_three_ways() {
    let sim = Sim::start(&[]);
    let v1 = nginx("nginx:1.25", 3, &[("app", "nginx"), ("tier", "web")]);
    let file = sim.write_file("nginx.yaml", &v1);
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "deployment.apps/nginx created\n"
    );
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "deployment.apps/nginx unchanged\n"
    );
    assert_eq!(
        sim.jsonpath(&["deploy", "nginx"], "{.metadata.generation}"),
        "1"
    );

    // A label set out of band is not in last-applied, so the next apply must keep it.
    assert_eq!(
        sim.ok(&["label", "deploy", "nginx", "owner=ops"]),
        "deployment.apps/nginx labeled\n"
    );

    // New image, and the `tier` label dropped from the file.
    sim.write_file("nginx.yaml", &nginx("nginx:1.26", 3, &[("app", "nginx")]));
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "deployment.apps/nginx configured\n"
    );
    let live = sim.get_json(&["deploy", "nginx"]);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert_eq!(
        live["metadata"]["labels"],
        serde_json::json!({"app": "nginx", "owner": "ops"})
    );
    assert_eq!(live["metadata"]["generation"], 2);
    assert_eq!(live["spec"]["replicas"], 3);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["ports"],
        serde_json::json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        live["spec"]["selector"],
        serde_json::json!({"matchLabels": {"app": "nginx"}})
    );
    let last_applied: serde_json::Value = serde_json::from_str(
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        last_applied["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "deployment.apps/nginx unchanged\n"
    );
    assert_eq!(
        rollout(&sim, "deploy/nginx"),
        r#"deployment "nginx" successfully rolled out"#
    );
}

#[test]
fn server_side_apply_conflicts_with_scale_until_forced() {
    let sim = Sim::start(&[]);
    let file = sim.write_file("nginx.yaml", &nginx("nginx:1.25", 3, &[("app", "nginx")]));
    assert_eq!(
        sim.ok(&["apply", "--server-side", "-f", &file]),
        "deployment.apps/nginx serverside-applied\n"
    );
    let managers = |sim: &Sim| {
        sim.jsonpath(&["deploy", "nginx", "--show-managed-fields"],
            r#"{range .metadata.managedFields[*]}{.manager}/{.operation}/{.subresource}{"\n"}{end}"#,
        )
    };
    assert!(
        managers(&sim).lines().any(|l| l == "kubectl/Apply/"),
        "{}",
        managers(&sim)
    );

    assert_eq!(
        sim.ok(&["scale", "deploy", "nginx", "--replicas=5"]),
        "deployment.apps/nginx scaled\n"
    );
    assert!(
        managers(&sim).lines().any(|l| l == "kubectl/Update/scale"),
        "{}",
        managers(&sim)
    );

    let err = sim.fails(&["apply", "--server-side", "-f", &file]);
    assert!(
        err.starts_with(
            "error: Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas\n"
        ),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(sim.jsonpath(&["deploy", "nginx"], "{.spec.replicas}"), "5");

    assert_eq!(
        sim.ok(&["apply", "--server-side", "--force-conflicts", "-f", &file]),
        "deployment.apps/nginx serverside-applied\n"
    );
    assert_eq!(sim.jsonpath(&["deploy", "nginx"], "{.spec.replicas}"), "3");
    assert!(
        !managers(&sim).contains("scale"),
        "the scaler lost its only field: {}",
        managers(&sim)
    );
}

#[test]
fn get_prints_tables_yaml_json_jsonpath_and_filters() {
    let sim = Sim::start(&["--nodes", "3"]);
    deploy_nginx(&sim, 3);

    let table = sim.ok(&["get", "deploy"]);
    assert_eq!(
        table.lines().next(),
        Some("NAME    READY   UP-TO-DATE   AVAILABLE   AGE")
    );
    assert_eq!(
        row(&table, "nginx").unwrap()[..4],
        ["nginx", "3/3", "3", "3"]
    );
    assert_eq!(rows(&table).len(), 2, "{table}");

    let wide = sim.ok(&["get", "deploy", "-o", "wide"]);
    assert_eq!(
        rows(&wide)[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        row(&wide, "nginx").unwrap()[5..],
        ["nginx", "nginx:1.25", "app=nginx"]
    );

    let all = sim.ok(&["get", "deploy", "-A"]);
    assert_eq!(
        rows(&all)[0],
        [
            "NAMESPACE",
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE"
        ]
    );
    assert_eq!(
        row(&all, "default").unwrap()[..3],
        ["default", "nginx", "3/3"]
    );

    assert_eq!(
        row(&sim.ok(&["get", "deploy", "-l", "app=nginx"]), "nginx").unwrap()[1],
        "3/3"
    );
    let none = sim.kubectl(&["get", "deploy", "-l", "app=other"]);
    assert!(none.status.success());
    assert_eq!(stdout(&none), "");
    assert_eq!(stderr(&none), "No resources found in default namespace.\n");

    let yaml = sim.ok(&["get", "deploy", "nginx", "-o", "yaml"]);
    for line in [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "  name: nginx",
        "  namespace: default",
        "  replicas: 3",
    ] {
        assert!(yaml.lines().any(|l| l == line), "no {line:?} in\n{yaml}");
    }
    assert!(yaml.lines().any(|l| l == "  readyReplicas: 3"), "{yaml}");
    assert!(
        !yaml.contains("managedFields"),
        "kubectl hides managedFields: {yaml}"
    );

    let obj = sim.get_json(&["deploy", "nginx"]);
    assert_eq!(obj["kind"], "Deployment");
    assert_eq!(obj["status"]["availableReplicas"], 3);
    assert_eq!(obj["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        sim.jsonpath(
            &["deploy", "nginx"],
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.25"
    );

    let pods = sim.ok(&["get", "pods"]);
    assert_eq!(
        rows(&pods)[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let pod_rows: Vec<_> = rows(&pods).into_iter().skip(1).collect();
    assert_eq!(pod_rows.len(), 3, "{pods}");
    for r in &pod_rows {
        assert!(r[0].starts_with("nginx-"), "{pods}");
        assert_eq!(r[1..4], ["1/1", "Running", "0"], "{pods}");
    }
    let wide_pods = sim.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        rows(&wide_pods)[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );

    let placement = pods_by_node(&sim, "app=nginx");
    assert_eq!(placement.len(), 3);
    let node = placement.values().next().unwrap().clone();
    let selector = format!("spec.nodeName={node}");
    let on_node = sim.ok(&["get", "pods", "--field-selector", &selector, "-o", "name"]);
    let want: Vec<String> = placement
        .iter()
        .filter(|(_, n)| **n == node)
        .map(|(p, _)| format!("pod/{p}"))
        .collect();
    assert_eq!(on_node.lines().collect::<Vec<_>>(), want);
    let elsewhere = sim.kubectl(&[
        "get",
        "pods",
        "--field-selector",
        "spec.nodeName=sim-node-99",
    ]);
    assert_eq!(
        stderr(&elsewhere),
        "No resources found in default namespace.\n"
    );
}

#[test]
fn get_watch_prints_a_row_for_each_change() {
    let sim = Sim::start(&[]);
    deploy_nginx(&sim, 3);
    let mut watcher = Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .args(["get", "deploy", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |what: &str, want: &[&str]| {
        eventually(what, WAIT, || {
            seen.extend(rx.try_iter());
            seen.iter()
                .any(|l| {
                    l.split_whitespace()
                        .take(want.len())
                        .eq(want.iter().copied())
                })
                .then_some(())
        });
    };
    wait_for(
        "the watch's header",
        &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    );
    wait_for("the initial row", &["nginx", "3/3", "3", "3"]);

    assert_eq!(
        sim.ok(&["scale", "deploy", "nginx", "--replicas=1"]),
        "deployment.apps/nginx scaled\n"
    );
    wait_for("the scaled-down row", &["nginx", "1/1", "1", "1"]);
    let _ = watcher.kill();
    let _ = watcher.wait();
}

#[test]
fn label_annotate_and_their_removal() {
    let sim = Sim::start(&[]);
    deploy_nginx(&sim, 1);
    assert_eq!(
        sim.ok(&["label", "deploy", "nginx", "env=prod"]),
        "deployment.apps/nginx labeled\n"
    );
    let err = sim.fails(&["label", "deploy", "nginx", "env=dev"]);
    assert_eq!(
        err,
        "error: 'env' already has a value (prod), and --overwrite is false\n"
    );
    assert_eq!(
        sim.ok(&["label", "deploy", "nginx", "env=dev", "--overwrite"]),
        "deployment.apps/nginx labeled\n"
    );
    let shown = sim.ok(&["get", "deploy", "nginx", "--show-labels"]);
    assert_eq!(rows(&shown)[0].last().unwrap(), "LABELS");
    assert_eq!(
        row(&shown, "nginx").unwrap().last().unwrap(),
        "app=nginx,env=dev"
    );
    assert_eq!(rows(&sim.ok(&["get", "deploy", "-l", "env=dev"])).len(), 2);

    assert_eq!(
        sim.ok(&["label", "deploy", "nginx", "env-"]),
        "deployment.apps/nginx unlabeled\n"
    );
    assert_eq!(
        sim.jsonpath(&["deploy", "nginx"], "{.metadata.labels}"),
        r#"{"app":"nginx"}"#
    );

    assert_eq!(
        sim.ok(&["annotate", "deploy", "nginx", "team=payments"]),
        "deployment.apps/nginx annotated\n"
    );
    assert_eq!(
        sim.jsonpath(&["deploy", "nginx"], "{.metadata.annotations.team}"),
        "payments"
    );
    let described = sim.ok(&["describe", "deploy", "nginx"]);
    assert!(
        described
            .lines()
            .any(|l| l.trim_end().ends_with(" team: payments")),
        "{described}"
    );
    assert_eq!(
        sim.ok(&["annotate", "deploy", "nginx", "team-"]),
        "deployment.apps/nginx annotated\n"
    );
    assert_eq!(
        sim.jsonpath(&["deploy", "nginx"], "{.metadata.annotations.team}"),
        ""
    );
}

#[test]
fn scale_is_followed_by_the_simulator() {
    let sim = Sim::start(&[]);
    deploy_nginx(&sim, 2);
    assert_eq!(
        sim.ok(&["scale", "deploy", "nginx", "--replicas=5"]),
        "deployment.apps/nginx scaled\n"
    );
    assert_eq!(sim.jsonpath(&["deploy", "nginx"], "{.spec.replicas}"), "5");
    eventually("nginx at 5/5", WAIT, || {
        let r = row(&sim.ok(&["get", "deploy", "nginx"]), "nginx")?;
        (r[1..4] == ["5/5", "5", "5"]).then_some(())
    });
    assert_eq!(pods_by_node(&sim, "app=nginx").len(), 5);
    assert_eq!(
        rollout(&sim, "deploy/nginx"),
        r#"deployment "nginx" successfully rolled out"#
    );
}

#[test]
fn patch_merge_json_and_strategic() {
    let sim = Sim::start(&[]);
    deploy_nginx(&sim, 1);
    let patch = |kind: &str, body: &str| {
        sim.ok(&[
            "patch",
            "deploy",
            "nginx",
            &format!("--type={kind}"),
            "-p",
            body,
        ])
    };

    assert_eq!(
        patch("merge", r#"{"spec":{"minReadySeconds":5}}"#),
        "deployment.apps/nginx patched\n"
    );
    assert_eq!(
        patch(
            "json",
            r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#
        ),
        "deployment.apps/nginx patched\n"
    );
    let env = r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"MODE","value":"fast"}]}]}}}}"#;
    assert_eq!(patch("strategic", env), "deployment.apps/nginx patched\n");
    // The template change rolls the pods; kubectl says "no change" only when the object it read
    // before patching equals the result, so let the rollout's status updates finish first.
    assert_eq!(
        rollout(&sim, "deploy/nginx"),
        r#"deployment "nginx" successfully rolled out"#
    );
    assert_eq!(
        patch("strategic", env),
        "deployment.apps/nginx patched (no change)\n"
    );

    let live = sim.get_json(&["deploy", "nginx"]);
    assert_eq!(live["spec"]["minReadySeconds"], 5);
    assert_eq!(live["spec"]["revisionHistoryLimit"], 3);
    let containers = &live["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers.as_array().unwrap().len(),
        1,
        "merged by name: {containers}"
    );
    assert_eq!(containers[0]["image"], "nginx:1.25");
    assert_eq!(
        containers[0]["env"],
        serde_json::json!([{"name": "MODE", "value": "fast"}])
    );
    assert_eq!(
        containers[0]["ports"],
        serde_json::json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(live["metadata"]["generation"], 4);

    let err = sim.fails(&[
        "patch",
        "deploy",
        "nosuch",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert_eq!(
        err,
        "Error from server (NotFound): deployments.apps \"nosuch\" not found\n"
    );
}

#[test]
fn delete_collects_garbage_and_delete_file_reports_not_found() {
    let sim = Sim::start(&[]);
    deploy_nginx(&sim, 3);
    assert_eq!(pods_by_node(&sim, "app=nginx").len(), 3);
    assert_eq!(
        sim.ok(&["delete", "deployment", "nginx"]),
        "deployment.apps \"nginx\" deleted\n"
    );
    eventually(
        "the Deployment's pods to be garbage collected",
        WAIT,
        || pods_by_node(&sim, "app=nginx").is_empty().then_some(()),
    );
    let gone = sim.fails(&["get", "deploy", "nginx"]);
    assert_eq!(
        gone,
        "Error from server (NotFound): deployments.apps \"nginx\" not found\n"
    );

    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";
    let file = sim.write_file("cm.yaml", cm);
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "configmap/settings created\n"
    );
    assert_eq!(sim.jsonpath(&["cm", "settings"], "{.data.mode}"), "fast");
    assert_eq!(
        sim.ok(&["delete", "-f", &file]),
        "configmap \"settings\" deleted\n"
    );
    let err = sim.fails(&["delete", "-f", &file]);
    assert_eq!(
        err,
        format!(
            "Error from server (NotFound): error when deleting \"{file}\": configmaps \"settings\" not found\n"
        )
    );
}

#[test]
fn delete_namespace_removes_its_contents() {
    let sim = Sim::start(&[]);
    let manifest = "apiVersion: v1
kind: Namespace
metadata:
  name: team-b
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team-b
data:
  mode: fast
";
    let file = sim.write_file("team-b.yaml", manifest);
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "namespace/team-b created\nconfigmap/settings created\n"
    );
    let deployment = sim.write_file("nginx.yaml", &nginx("nginx:1.25", 2, &[("app", "nginx")]));
    assert_eq!(
        sim.ok(&["apply", "-n", "team-b", "-f", &deployment]),
        "deployment.apps/nginx created\n"
    );
    let ns = sim.ok(&["get", "ns", "team-b"]);
    assert_eq!(rows(&ns)[0], ["NAME", "STATUS", "AGE"]);
    assert_eq!(row(&ns, "team-b").unwrap()[1], "Active");
    eventually("pods in team-b", WAIT, || {
        (sim.ok(&["get", "pods", "-n", "team-b", "-o", "name"])
            .lines()
            .count()
            == 2)
            .then_some(())
    });

    assert_eq!(
        sim.ok(&["delete", "ns", "team-b"]),
        "namespace \"team-b\" deleted\n"
    );
    eventually("namespace team-b to be gone", WAIT, || {
        let out = sim.kubectl(&["get", "ns", "team-b"]);
        (stderr(&out) == "Error from server (NotFound): namespaces \"team-b\" not found\n")
            .then_some(())
    });
    for kind in ["configmaps", "deployments", "pods"] {
        let out = sim.kubectl(&["get", kind, "-n", "team-b"]);
        assert!(out.status.success());
        assert_eq!(
            stderr(&out),
            "No resources found in team-b namespace.\n",
            "{kind}"
        );
    }
}

#[test]
fn create_namespace_configmap_and_deployment() {
    let sim = Sim::start(&[]);
    assert_eq!(
        sim.ok(&["create", "namespace", "team-a"]),
        "namespace/team-a created\n"
    );
    assert_eq!(
        sim.ok(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
            "-n",
            "team-a"
        ]),
        "configmap/settings created\n"
    );
    assert_eq!(
        sim.jsonpath(&["cm", "settings", "-n", "team-a"], "{.data.mode}"),
        "fast"
    );
    assert_eq!(
        sim.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=2",
            "-n",
            "team-a"
        ]),
        "deployment.apps/web created\n"
    );
    let out = sim.ok(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "team-a",
        "--timeout=30s",
    ]);
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );
    assert_eq!(
        sim.jsonpath(
            &["deploy", "web", "-n", "team-a"],
            "{.spec.template.metadata.labels.app}"
        ),
        "web"
    );
    let err = sim.fails(&["create", "namespace", "team-a"]);
    assert_eq!(
        err,
        "Error from server (AlreadyExists): namespaces \"team-a\" already exists\n"
    );
}

#[test]
fn nodes_show_readiness_capacity_and_describe() {
    let sim = Sim::start(&[
        "--nodes",
        "3",
        "--not-ready-nodes",
        "1",
        "--node-cpu",
        "3500m",
        "--node-memory",
        "8Gi",
        "--virtual-nodes",
        "1",
        "--kubernetes-version",
        "v1.31.4",
    ]);
    let nodes = sim.ok(&["get", "nodes"]);
    assert_eq!(
        rows(&nodes)[0],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert_eq!(rows(&nodes).len(), 5, "{nodes}");
    let cells = |name: &str| row(&nodes, name).unwrap_or_else(|| panic!("no {name} in\n{nodes}"));
    assert_eq!(cells("sim-node-0")[1..3], ["NotReady", "<none>"]);
    assert_eq!(cells("sim-node-0")[4], "v1.31.4");
    assert_eq!(cells("sim-node-1")[1..3], ["Ready", "<none>"]);
    assert_eq!(cells("sim-node-2")[1], "Ready");
    assert_eq!(cells("sim-virtual-node-0")[1], "Ready");
    assert_eq!(
        rows(&nodes).iter().filter(|r| r[1] == "NotReady").count(),
        1
    );

    assert_eq!(
        sim.jsonpath(&["node", "sim-node-1"], "{.status.capacity.cpu}"),
        "3500m"
    );
    assert_eq!(
        sim.jsonpath(&["node", "sim-node-1"], "{.status.capacity.memory}"),
        "8Gi"
    );
    let virtual_nodes = sim.ok(&["get", "nodes", "-l", "type=virtual-kubelet", "-o", "name"]);
    assert_eq!(virtual_nodes, "node/sim-virtual-node-0\n");
    assert_eq!(
        sim.jsonpath(&["node", "sim-virtual-node-0"], "{.spec.taints[*].effect}")
            .split(' ')
            .collect::<Vec<_>>(),
        ["NoSchedule"]
    );

    let described = sim.ok(&["describe", "node", "sim-node-1"]);
    let first = described.lines().next().unwrap_or_default();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["Name:", "sim-node-1"]
    );
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().eq(["cpu:", "3500m"])),
        "{described}"
    );
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().eq(["Kubelet", "Version:", "v1.31.4"])),
        "{described}"
    );
    let ready = described
        .lines()
        .find(|l| l.trim_start().starts_with("Ready "))
        .unwrap_or_default();
    assert_eq!(ready.split_whitespace().nth(1), Some("True"), "{described}");
    let not_ready = sim.ok(&["describe", "node", "sim-node-0"]);
    let ready = not_ready
        .lines()
        .find(|l| l.trim_start().starts_with("Ready "))
        .unwrap_or_default();
    assert_ne!(ready.split_whitespace().nth(1), Some("True"), "{not_ready}");
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
      priority: 1
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                minimum: 1
              color:
                type: string
          status:
            type: object
            properties:
              phase:
                type: string
";

fn widget(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[test]
fn crd_printer_columns_validation_and_explain() {
    let sim = Sim::start(&[]);
    let file = sim.write_file("crd.yaml", WIDGET_CRD);
    assert_eq!(
        sim.ok(&["apply", "-f", &file]),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n"
    );
    let crds = sim.ok(&["get", "crd"]);
    assert_eq!(rows(&crds)[0], ["NAME", "CREATED", "AT"]);
    assert!(row(&crds, "widgets.example.com").is_some(), "{crds}");
    eventually("the CRD to be Established", WAIT, || {
        let c = sim.jsonpath(
            &["crd", "widgets.example.com"],
            r#"{.status.conditions[?(@.type=="Established")].status}"#,
        );
        (c == "True").then_some(())
    });

    let w1 = sim.write_file("w1.yaml", &widget("w1", "  size: 3\n  color: red\n"));
    assert_eq!(
        sim.ok(&["apply", "-f", &w1]),
        "widget.example.com/w1 created\n"
    );
    let table = sim.ok(&["get", "wd"]);
    assert_eq!(table.lines().next(), Some("NAME   SIZE   AGE"));
    assert_eq!(row(&table, "w1").unwrap()[..2], ["w1", "3"]);
    let wide = sim.ok(&["get", "widgets", "-o", "wide"]);
    assert_eq!(wide.lines().next(), Some("NAME   SIZE   COLOR   AGE"));
    assert_eq!(row(&wide, "w1").unwrap()[..3], ["w1", "3", "red"]);
    assert_eq!(
        sim.jsonpath(&["widget.example.com", "w1"], "{.spec.size}"),
        "3"
    );

    let wrong_type = sim.fails_stdin(&["apply", "-f", "-"], Some(&widget("bad", "  size: big\n")));
    assert_eq!(
        wrong_type,
        "The Widget \"bad\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"\n"
    );
    let missing = sim.fails_stdin(
        &["apply", "-f", "-"],
        Some(&widget("bad", "  color: blue\n")),
    );
    assert_eq!(
        missing,
        "The Widget \"bad\" is invalid: spec.size: Required value\n"
    );
    let too_small = sim.fails_stdin(&["apply", "-f", "-"], Some(&widget("bad", "  size: 0\n")));
    assert_eq!(
        too_small,
        "The Widget \"bad\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1\n"
    );
    assert!(sim.kubectl(&["get", "wd", "bad"]).status.code() == Some(1));

    let explained = sim.ok(&["explain", "widget"]);
    let head: Vec<_> = explained.lines().take(3).collect();
    assert_eq!(
        head,
        [
            "GROUP:      example.com",
            "KIND:       Widget",
            "VERSION:    v1"
        ]
    );
    assert!(
        explained.lines().any(|l| l == "  spec\t<Object>"),
        "{explained}"
    );
    let spec = sim.ok(&["explain", "widget.spec"]);
    assert!(
        spec.lines().any(|l| l == "  size\t<integer> -required-"),
        "{spec}"
    );
    assert!(spec.lines().any(|l| l == "  color\t<string>"), "{spec}");
}

#[test]
#[ignore = "kubectl explain: the OpenAPI v3 documents publish no built-in schemas and CRD schemas lack apiVersion/kind/metadata"]
fn explain_matches_a_real_cluster() {
    let sim = Sim::start(&[]);
    let explained = sim.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explained.contains("FIELD: replicas <integer>"),
        "{explained}"
    );
    let file = sim.write_file("crd.yaml", WIDGET_CRD);
    sim.ok(&["apply", "-f", &file]);
    let widget = sim.ok(&["explain", "widget"]);
    for line in [
        "  apiVersion\t<string>",
        "  kind\t<string>",
        "  metadata\t<ObjectMeta>",
    ] {
        assert!(
            widget.lines().any(|l| l == line),
            "no {line:?} in\n{widget}"
        );
    }
}

#[test]
fn bad_requests_are_refused_with_the_field_named() {
    let sim = Sim::start(&[]);
    let good = nginx("nginx:1.25", 1, &[("app", "nginx")]);
    let mismatch = good.replace(
        "      labels:\n        app: nginx\n",
        "      labels:\n        app: other\n",
    );
    assert_ne!(mismatch, good);
    let err = sim.fails(&["apply", "-f", &sim.write_file("mismatch.yaml", &mismatch)]);
    assert_eq!(
        err,
        "The Deployment \"nginx\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`\n"
    );
    let no_image = good.replace("        image: nginx:1.25\n", "");
    assert_ne!(no_image, good);
    let err = sim.fails(&["apply", "-f", &sim.write_file("no-image.yaml", &no_image)]);
    assert_eq!(
        err,
        "The Deployment \"nginx\" is invalid: spec.template.spec.containers[0].image: Required value\n"
    );

    let err = sim.fails(&["get", "deploy", "nosuch"]);
    assert_eq!(
        err,
        "Error from server (NotFound): deployments.apps \"nosuch\" not found\n"
    );
    let err = sim.fails(&["get", "nosuchkind"]);
    assert_eq!(
        err,
        "error: the server doesn't have a resource type \"nosuchkind\"\n"
    );

    // replace with a resourceVersion someone else has moved past.
    deploy_nginx(&sim, 1);
    let stale = sim.ok(&["get", "deploy", "nginx", "-o", "yaml"]);
    let stale_file = sim.write_file("stale.yaml", &stale);
    sim.ok(&["scale", "deploy", "nginx", "--replicas=2"]);
    let err = sim.fails(&["replace", "-f", &stale_file]);
    assert_eq!(
        err,
        format!(
            "Error from server (Conflict): error when replacing \"{stale_file}\": Operation cannot be fulfilled on deployments.apps \"nginx\": the object has been modified; please apply your changes to the latest version and try again\n"
        )
    );
    assert_eq!(sim.jsonpath(&["deploy", "nginx"], "{.spec.replicas}"), "2");
}

#[test]
fn deployment_rolls_out_to_three_ready_replicas() {
    let sim = Sim::start(&["--nodes", "3", "--pod-start-delay-ms", "300"]);
    let file = sim.write_file("nginx.yaml", &nginx("nginx:1.25", 3, &[("app", "nginx")]));
    sim.ok(&["apply", "-f", &file]);
    assert_eq!(
        rollout(&sim, "deploy/nginx"),
        r#"deployment "nginx" successfully rolled out"#
    );
    let table = sim.ok(&["get", "deploy", "nginx"]);
    assert_eq!(
        row(&table, "nginx").unwrap()[..4],
        ["nginx", "3/3", "3", "3"]
    );
    let nodes = pods_by_node(&sim, "app=nginx");
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes.values().all(|n| n.starts_with("sim-node-")),
        "{nodes:?}"
    );
}

#[test]
fn capacity_leaves_one_pod_pending_unschedulable() {
    let sim = Sim::start(&["--nodes", "3", "--not-ready-nodes", "1", "--node-cpu", "2"]);
    let hungry = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: hungry
spec:
  replicas: 5
  selector:
    matchLabels: {app: hungry}
  template:
    metadata:
      labels: {app: hungry}
    spec:
      containers:
      - name: c
        image: busybox
        resources:
          requests:
            cpu: \"1\"
";
    sim.ok(&["apply", "-f", &sim.write_file("hungry.yaml", hungry)]);
    let pods = eventually("4 Running and 1 Pending", WAIT, || {
        let table = sim.ok(&["get", "pods", "-l", "app=hungry"]);
        let body: Vec<_> = rows(&table).into_iter().skip(1).collect();
        let running = body
            .iter()
            .filter(|r| r[1..3] == ["1/1", "Running"])
            .count();
        let pending = body
            .iter()
            .filter(|r| r[1..3] == ["0/1", "Pending"])
            .count();
        (running == 4 && pending == 1 && body.len() == 5).then_some(body)
    });
    let pending = &pods.iter().find(|r| r[2] == "Pending").unwrap()[0];
    let placement = pods_by_node(&sim, "app=hungry");
    assert_eq!(
        placement
            .values()
            .filter(|n| n.as_str() == "sim-node-1")
            .count(),
        2,
        "{placement:?}"
    );
    assert_eq!(
        placement
            .values()
            .filter(|n| n.as_str() == "sim-node-2")
            .count(),
        2,
        "{placement:?}"
    );
    assert_eq!(placement[pending.as_str()], "");

    let scheduled = r#"{.status.conditions[?(@.type=="PodScheduled")]}"#;
    let cond: serde_json::Value =
        serde_json::from_str(&sim.jsonpath(&["pod", pending.as_str()], scheduled)).unwrap();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "Unschedulable");
    let message = cond["message"].as_str().unwrap();
    assert!(message.starts_with("0/3 nodes are available:"), "{message}");
    assert!(message.contains("2 Insufficient cpu"), "{message}");

    let described = sim.ok(&["describe", "pod", pending.as_str()]);
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().eq(["Status:", "Pending"])),
        "{described}"
    );
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().eq(["PodScheduled", "False"])),
        "{described}"
    );
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().eq(["Node:", "<none>"])),
        "{described}"
    );
    let table = sim.ok(&["get", "deploy", "hungry"]);
    assert_eq!(
        row(&table, "hungry").unwrap()[..4],
        ["hungry", "4/5", "5", "4"]
    );
}

#[test]
fn statefulset_pods_are_numbered_in_order() {
    let sim = Sim::start(&[]);
    let sts = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx:1.25
";
    assert_eq!(
        sim.ok(&["apply", "-f", &sim.write_file("web.yaml", sts)]),
        "statefulset.apps/web created\n"
    );
    assert_eq!(
        rollout(&sim, "sts/web"),
        "partitioned roll out complete: 3 new pods have been updated..."
    );
    let table = sim.ok(&["get", "sts"]);
    assert_eq!(rows(&table)[0], ["NAME", "READY", "AGE"]);
    assert_eq!(row(&table, "web").unwrap()[1], "3/3");
    let names: Vec<_> = pods_by_node(&sim, "app=web").into_keys().collect();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);
    let owner = sim.jsonpath(
        &["pod", "web-1"],
        "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    );
    assert_eq!(owner, "StatefulSet/web");
}

#[test]
fn job_runs_to_completion() {
    let sim = Sim::start(&["--job-run-ms", "300"]);
    let job = "apiVersion: batch/v1
kind: Job
metadata:
  name: x
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        command: [\"true\"]
";
    assert_eq!(
        sim.ok(&["apply", "-f", &sim.write_file("job.yaml", job)]),
        "job.batch/x created\n"
    );
    let uid = sim.jsonpath(&["job", "x"], "{.metadata.uid}");
    assert_eq!(
        sim.jsonpath(
            &["job", "x"],
            "{.spec.selector.matchLabels.batch\\.kubernetes\\.io/controller-uid}"
        ),
        uid
    );
    assert_eq!(
        sim.ok(&["wait", "--for=condition=complete", "job/x", "--timeout=30s"]),
        "job.batch/x condition met\n"
    );
    let jobs = sim.ok(&["get", "jobs"]);
    assert_eq!(
        rows(&jobs)[0],
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(row(&jobs, "x").unwrap()[..3], ["x", "Complete", "1/1"]);
    let pods = sim.ok(&["get", "pods", "-l", "job-name=x"]);
    let body: Vec<_> = rows(&pods).into_iter().skip(1).collect();
    assert_eq!(body.len(), 1, "{pods}");
    assert_eq!(body[0][1..4], ["0/1", "Completed", "0"]);
}
