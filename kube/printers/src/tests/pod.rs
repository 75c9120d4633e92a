//! Pod: READY, STATUS reason logic, RESTARTS and the wide columns.

use serde_json::{Value, json};

use super::{ago, cells, cols, columns};

fn pod(status: Value) -> Value {
    json!({
        "metadata": {"name": "nginx-7c5ddbdf54-x2x9q", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": status
    })
}

#[test]
fn pod_columns() {
    assert_eq!(
        columns("", "Pod"),
        cols(&[
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP*",
            "Node*",
            "Nominated Node*",
            "Readiness Gates*"
        ])
    );
}

#[test]
fn pending_unscheduled() {
    let mut p = pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    }));
    p["spec"].as_object_mut().unwrap().remove("nodeName");
    assert_eq!(
        cells("", "Pod", &p),
        vec![
            json!("nginx-7c5ddbdf54-x2x9q"),
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("5m"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn container_creating() {
    let p = pod(json!({
        "phase": "Pending",
        "hostIP": "192.168.1.10",
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0, "image": "nginx:1.27",
            "state": {"waiting": {"reason": "ContainerCreating"}}
        }]
    }));
    assert_eq!(
        cells("", "Pod", &p)[1..4],
        [json!("0/1"), json!("ContainerCreating"), json!("0")]
    );
}

#[test]
fn running_ready() {
    let p = pod(json!({
        "phase": "Running",
        "podIP": "10.244.1.5",
        "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": "nginx", "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": ago(290)}}
        }]
    }));
    assert_eq!(
        cells("", "Pod", &p),
        vec![
            json!("nginx-7c5ddbdf54-x2x9q"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.244.1.5"),
            json!("worker-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn restarts_show_last_termination_age() {
    let p = pod(json!({
        "phase": "Running",
        "podIP": "10.244.1.5",
        "containerStatuses": [{
            "name": "nginx", "ready": true, "restartCount": 5,
            "state": {"running": {"startedAt": ago(100)}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(100)}}
        }]
    }));
    assert_eq!(
        cells("", "Pod", &p)[1..6],
        [
            json!("1/1"),
            json!("Running"),
            json!("5 (100s ago)"),
            json!("5m"),
            json!("10.244.1.5")
        ]
    );
}

#[test]
fn crash_loop_and_completed() {
    let crash = pod(json!({
        "phase": "Running",
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 12,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(200)}}
        }]
    }));
    assert_eq!(
        cells("", "Pod", &crash)[1..4],
        [
            json!("0/1"),
            json!("CrashLoopBackOff"),
            json!("12 (3m20s ago)")
        ]
    );
    let done = pod(json!({
        "phase": "Succeeded",
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(10)}}
        }]
    }));
    assert_eq!(
        cells("", "Pod", &done)[1..4],
        [json!("0/1"), json!("Completed"), json!("0")]
    );
    let killed = pod(json!({
        "phase": "Failed",
        "containerStatuses": [{"name": "nginx", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]
    }));
    assert_eq!(cells("", "Pod", &killed)[2], json!("Signal:9"));
}

#[test]
fn terminating_unless_terminal() {
    let mut p = pod(json!({
        "phase": "Running",
        "containerStatuses": [{"name": "nginx", "ready": true, "state": {"running": {}}}]
    }));
    p["metadata"]["deletionTimestamp"] = json!(ago(2));
    assert_eq!(
        cells("", "Pod", &p)[1..3],
        [json!("1/1"), json!("Terminating")]
    );
    p["status"]["phase"] = json!("Succeeded");
    assert_eq!(cells("", "Pod", &p)[2], json!("Succeeded"));
    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(cells("", "Pod", &p)[2], json!("Unknown"));
}

#[test]
fn evicted_pod_uses_status_reason() {
    let p = pod(json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}));
    assert_eq!(cells("", "Pod", &p)[1..3], [json!("0/1"), json!("Evicted")]);
}

#[test]
fn scheduling_gated() {
    let p = pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
    }));
    assert_eq!(cells("", "Pod", &p)[2], json!("SchedulingGated"));
}

#[test]
fn init_containers_and_sidecars() {
    let mut p = pod(json!({
        "phase": "Pending",
        "initContainerStatuses": [
            {"name": "migrate", "ready": false, "restartCount": 0, "state": {"running": {}}}
        ],
        "containerStatuses": [{"name": "nginx", "ready": false, "state": {"waiting": {"reason": "PodInitializing"}}}]
    }));
    p["spec"]["initContainers"] =
        json!([{"name": "migrate", "image": "migrate:1"}, {"name": "seed", "image": "seed:1"}]);
    assert_eq!(
        cells("", "Pod", &p)[1..4],
        [json!("0/1"), json!("Init:0/2"), json!("0")]
    );

    p["status"]["initContainerStatuses"] = json!([
        {"name": "migrate", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 2, "finishedAt": ago(30)}}}
    ]);
    assert_eq!(
        cells("", "Pod", &p)[1..4],
        [
            json!("0/1"),
            json!("Init:CrashLoopBackOff"),
            json!("3 (30s ago)")
        ]
    );

    // A restartable (sidecar) init container counts toward READY.
    let mut s = pod(json!({
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "initContainerStatuses": [
            {"name": "proxy", "ready": true, "started": true, "restartCount": 1, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(60)}}}
        ],
        "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "state": {"running": {}}}]
    }));
    s["spec"]["initContainers"] =
        json!([{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]);
    assert_eq!(
        cells("", "Pod", &s)[1..4],
        [json!("2/2"), json!("Running"), json!("1 (60s ago)")]
    );
}

#[test]
fn readiness_gates_and_nominated_node() {
    let mut p = pod(json!({
        "phase": "Running",
        "nominatedNodeName": "worker-2",
        "conditions": [
            {"type": "example.com/lb-ready", "status": "True"},
            {"type": "example.com/dns", "status": "False"}
        ],
        "containerStatuses": [{"name": "nginx", "ready": true, "state": {"running": {}}}]
    }));
    p["spec"]["readinessGates"] = json!([
        {"conditionType": "example.com/lb-ready"},
        {"conditionType": "example.com/dns"}
    ]);
    assert_eq!(
        cells("", "Pod", &p)[6..9],
        [json!("worker-1"), json!("worker-2"), json!("1/2")]
    );
}
