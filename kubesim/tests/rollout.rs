//! Rollouts as a user drives them with the real `kubectl` (v1.32) against the real
//! `cceone-kubesim`: a Deployment rolled out twice through ReplicaSets, its `rollout history`
//! with change causes, `rollout undo` bringing revision 1 back as revision 3, `rollout pause` /
//! `resume` / `restart`, the events `describe` shows, a Job made from a CronJob, graceful and
//! forced pod deletion; and the official Python client (`kubernetes`) reading the same
//! ReplicaSets and events.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Sim, eventually};

const WAIT: Duration = Duration::from_secs(60);

fn deployment(image: &str, cause: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: {cause}
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: {image}
"
    )
}

fn rollout_status(sim: &Sim) {
    let out = sim.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(
        out.trim_end()
            .ends_with("deployment \"web\" successfully rolled out"),
        "{out}"
    );
}

/// `rollout history` as (revision, change cause) rows.
fn history(sim: &Sim) -> Vec<(String, String)> {
    let out = sim.ok(&["rollout", "history", "deploy/web"]);
    let mut lines = out.lines().skip_while(|l| !l.starts_with("REVISION"));
    lines.next();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cells = l.split_whitespace();
            let rev = cells.next().unwrap().to_owned();
            (rev, cells.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

/// The ReplicaSets of `web`: (name, revision, replicas, image), by revision.
fn replica_sets(sim: &Sim) -> Vec<(String, i64, i64, String)> {
    let list = sim.get_json(&["rs", "-l", "app=web"]);
    let mut out: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rs| {
            let rev = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (
                rs["metadata"]["name"].as_str().unwrap().to_owned(),
                rev,
                rs["spec"]["replicas"].as_i64().unwrap(),
                rs["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    out.sort_by_key(|r| r.1);
    out
}

fn pair(rev: &str, cause: &str) -> (String, String) {
    (rev.to_owned(), cause.to_owned())
}

#[test]
fn rollouts_history_undo_pause_resume_restart_and_events() {
    let sim = Sim::start(&[]);
    sim.apply(&deployment("nginx:1.25", "v1"));
    rollout_status(&sim);
    assert_eq!(
        sim.ok(&["set", "image", "deploy/web", "web=nginx:1.26"]),
        "deployment.apps/web image updated\n"
    );
    sim.ok(&[
        "annotate",
        "deploy/web",
        "kubernetes.io/change-cause=v2",
        "--overwrite",
    ]);
    rollout_status(&sim);
    eventually("revision 2 carries its change cause", WAIT, || {
        (history(&sim) == [pair("1", "v1"), pair("2", "v2")]).then_some(())
    });
    let rs = replica_sets(&sim);
    assert_eq!(rs.len(), 2, "{rs:?}");
    assert_eq!((rs[0].1, rs[0].2, rs[0].3.as_str()), (1, 0, "nginx:1.25"));
    assert_eq!((rs[1].1, rs[1].2, rs[1].3.as_str()), (2, 3, "nginx:1.26"));
    let hash = &sim.get_json(&["rs", &rs[1].0])["metadata"]["labels"]["pod-template-hash"];
    assert_eq!(rs[1].0, format!("web-{}", hash.as_str().unwrap()));
    let one = sim.ok(&["rollout", "history", "deploy/web", "--revision=1"]);
    assert!(one.contains("nginx:1.25"), "{one}");

    // Pods belong to the ReplicaSet, which belongs to the Deployment.
    let pods = sim.get_json(&["pods", "-l", "app=web"]);
    let live: Vec<&Value> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
        .collect();
    assert_eq!(live.len(), 3);
    for p in &live {
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["name"].as_str()),
            (Some("ReplicaSet"), Some(rs[1].0.as_str()))
        );
    }

    // Undo: revision 1's template comes back as revision 3, in the same ReplicaSet.
    assert_eq!(
        sim.ok(&["rollout", "undo", "deploy/web"]),
        "deployment.apps/web rolled back\n"
    );
    rollout_status(&sim);
    eventually("revision 1 is now 3", WAIT, || {
        (history(&sim) == [pair("2", "v2"), pair("3", "v1")]).then_some(())
    });
    let after = replica_sets(&sim);
    assert_eq!(after[1].0, rs[0].0, "the first ReplicaSet is reused");
    assert_eq!((after[1].1, after[1].2), (3, 3));
    let d = sim.get_json(&["deploy", "web"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );

    // Pause: a template change is observed but not rolled out, until resumed.
    assert_eq!(
        sim.ok(&["rollout", "pause", "deploy/web"]),
        "deployment.apps/web paused\n"
    );
    sim.ok(&["set", "image", "deploy/web", "web=nginx:1.27"]);
    let paused = eventually("the paused change is observed", WAIT, || {
        let d = sim.get_json(&["deploy", "web"]);
        (d["status"]["observedGeneration"] == d["metadata"]["generation"]).then_some(d)
    });
    let progressing = paused["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["reason"], "DeploymentPaused");
    assert_eq!(progressing["status"], "Unknown");
    assert_eq!(replica_sets(&sim).len(), 2, "no ReplicaSet while paused");
    let undo = sim.fails(&["rollout", "undo", "deploy/web"]);
    assert!(
        undo.contains("you cannot rollback a paused deployment"),
        "{undo}"
    );
    assert_eq!(
        sim.ok(&["rollout", "resume", "deploy/web"]),
        "deployment.apps/web resumed\n"
    );
    rollout_status(&sim);
    let rs = replica_sets(&sim);
    assert_eq!(
        (rs.last().unwrap().1, rs.last().unwrap().3.as_str()),
        (4, "nginx:1.27")
    );

    // Restart: a new ReplicaSet whose pods carry the restart time.
    assert_eq!(
        sim.ok(&["rollout", "restart", "deploy/web"]),
        "deployment.apps/web restarted\n"
    );
    rollout_status(&sim);
    let rs = replica_sets(&sim);
    let newest = rs.last().unwrap();
    assert_eq!((newest.1, newest.2), (5, 3));
    let pods = sim.get_json(&["pods", "-l", "app=web"]);
    let restarted = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
        .filter(|p| p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string())
        .count();
    assert_eq!(restarted, 3);

    // describe shows the ReplicaSets and the events of each level.
    let described = sim.ok(&["describe", "deployment", "web"]);
    assert!(
        described.contains(&format!(
            "NewReplicaSet:   {} (3/3 replicas created)",
            newest.0
        )),
        "{described}"
    );
    assert!(described.contains("ScalingReplicaSet"), "{described}");
    assert!(
        described.contains(&format!("Scaled up replica set {} from 0 to 1", newest.0)),
        "{described}"
    );
    assert!(described.contains("deployment-controller"), "{described}");
    let rs_described = sim.ok(&["describe", "rs", &newest.0]);
    assert!(rs_described.contains("SuccessfulCreate"), "{rs_described}");
    assert!(rs_described.contains("Created pod: "), "{rs_described}");
    let pod = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metadata"].get("deletionTimestamp").is_none())
        .unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let pod_described = eventually("the kubelet's events", WAIT, || {
        let d = sim.ok(&["describe", "pod", &pod]);
        d.contains("Started container web").then_some(d)
    });
    assert!(
        pod_described.contains(&format!("Successfully assigned default/{pod} to ")),
        "{pod_described}"
    );
    assert!(
        pod_described.contains("default-scheduler"),
        "{pod_described}"
    );
    assert!(
        pod_described.contains("Container image \"nginx:1.27\" already present on machine"),
        "{pod_described}"
    );

    // The official Python client reads the same ReplicaSets and events.
    support::ensure_python_client();
    let script = r#"
import json, sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
apps, core = client.AppsV1Api(), client.CoreV1Api()
sets = apps.list_namespaced_replica_set("default", label_selector="app=web")
events = core.list_namespaced_event(
    "default", field_selector="involvedObject.kind=Deployment,involvedObject.name=web")
print(json.dumps({
    "sets": sorted([int(r.metadata.annotations["deployment.kubernetes.io/revision"]),
                    r.metadata.owner_references[0].kind] for r in sets.items),
    "reasons": sorted({e.reason for e in events.items}),
    "sources": sorted({e.source.component for e in events.items}),
}))
"#;
    let printed = support::python_ok(script, &[sim.kubeconfig.as_os_str()]);
    let seen: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        seen["sets"],
        serde_json::json!([
            [2, "Deployment"],
            [3, "Deployment"],
            [4, "Deployment"],
            [5, "Deployment"]
        ])
    );
    assert_eq!(seen["reasons"], serde_json::json!(["ScalingReplicaSet"]));
    assert_eq!(
        seen["sources"],
        serde_json::json!(["deployment-controller"])
    );
}

#[test]
fn a_job_from_a_cronjob_and_graceful_pod_deletion() {
    let sim = Sim::start(&["--pod-stop-delay-ms", "3000"]);
    // A schedule that will not come round during the test: the Job is made by hand.
    sim.apply(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: \"@yearly\"
  timeZone: Europe/Paris
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: tick
            image: busybox:1.36
",
    );
    assert_eq!(
        sim.ok(&["create", "job", "manual", "--from=cronjob/tick"]),
        "job.batch/manual created\n"
    );
    sim.ok(&[
        "wait",
        "--for=condition=complete",
        "job/manual",
        "--timeout=60s",
    ]);
    let job = sim.get_json(&["job", "manual"]);
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    // Recorded at the end of the pass that wrote the Job's status.
    let described = eventually("the Job's Completed event", WAIT, || {
        let d = sim.ok(&["describe", "job", "manual"]);
        d.contains("Job completed").then_some(d)
    });
    assert!(described.contains("Created pod: manual-"), "{described}");
    let cj = sim.get_json(&["cronjob", "tick"]);
    assert!(cj["status"].get("lastScheduleTime").is_none(), "{cj}");

    // A graceful delete: Terminating with the pod's grace period, then gone.
    sim.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: slow
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: app
    image: nginx:1.25
",
    );
    sim.ok(&["wait", "--for=condition=Ready", "pod/slow", "--timeout=60s"]);
    sim.ok(&["delete", "pod", "slow", "--wait=false"]);
    let pod = sim.get_json(&["pod", "slow"]);
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 20);
    assert!(pod["metadata"]["deletionTimestamp"].is_string());
    let table = sim.ok(&["get", "pod", "slow"]);
    assert!(table.contains("Terminating"), "{table}");
    eventually("the kubelet stops the container", WAIT, || {
        let events = sim.jsonpath(
            &[
                "events",
                "--field-selector",
                "involvedObject.name=slow,reason=Killing",
            ],
            "{.items[*].message}",
        );
        (events == "Stopping container app").then_some(())
    });
    sim.ok(&["wait", "--for=delete", "pod/slow", "--timeout=60s"]);

    // A pod no node can take: the scheduler says why.
    sim.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: app
    image: nginx:1.25
    resources:
      requests:
        cpu: \"100\"
",
    );
    let described = eventually("FailedScheduling", WAIT, || {
        let d = sim.ok(&["describe", "pod", "big"]);
        d.contains("FailedScheduling").then_some(d)
    });
    assert!(
        described.contains("default-scheduler  0/3 nodes are available: 3 Insufficient cpu."),
        "{described}"
    );

    // Forced: gone at once.
    sim.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: fast
spec:
  containers:
  - name: app
    image: nginx:1.25
",
    );
    sim.ok(&["wait", "--for=condition=Ready", "pod/fast", "--timeout=60s"]);
    sim.ok(&["delete", "pod", "fast", "--grace-period=0", "--force"]);
    let gone = sim.fails(&["get", "pod", "fast"]);
    assert!(gone.contains("NotFound"), "{gone}");
}
