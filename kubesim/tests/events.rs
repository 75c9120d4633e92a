//! Events in both group versions, as kube-apiserver serves them: one storage, core/v1 and
//! events.k8s.io/v1 (`pkg/registry/core/event` and `pkg/registry/events`). The controllers'
//! core/v1 events read back through events.k8s.io/v1 (`kubectl get events.events.k8s.io`, the
//! Python client's `EventsV1Api`), and kube-rs's `Recorder`, which writes events.k8s.io/v1
//! with a `series` on repeats, shows up in `kubectl events` and `kubectl describe`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Resource;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};
use support::{Sim, eventually};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn controller_events_read_through_both_groups_and_v1_writes_are_checked() {
    let sim = Sim::start(&[]);
    sim.ok(&["create", "namespace", "ev"]);
    sim.ok(&["create", "deployment", "web", "--image=nginx", "-n", "ev"]);
    let table = eventually("ScalingReplicaSet through events.k8s.io", WAIT, || {
        let t = sim.ok(&["get", "events.events.k8s.io", "-n", "ev"]);
        t.contains("ScalingReplicaSet").then_some(t)
    });
    assert!(
        table.starts_with("LAST SEEN   TYPE     REASON"),
        "the events printer: {table}"
    );
    assert!(table.contains("deployment/web"), "{table}");
    let listed: Value = serde_json::from_str(&sim.ok(&[
        "get",
        "events.v1.events.k8s.io",
        "-n",
        "ev",
        "--field-selector",
        "reason=ScalingReplicaSet",
        "-o",
        "json",
    ]))
    .unwrap();
    let ev = &listed["items"][0];
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["regarding"]["name"], "web");
    assert_eq!(ev["reportingController"], "deployment-controller");
    assert!(
        ev["note"]
            .as_str()
            .unwrap()
            .starts_with("Scaled up replica set web-"),
        "{ev}"
    );
    assert_eq!(ev["deprecatedCount"], 1);
    assert!(ev.get("involvedObject").is_none() && ev.get("message").is_none());

    // Written through events.k8s.io/v1, read through core/v1.
    let v1 = "apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: pulled.1, namespace: ev}
eventTime: 2026-01-02T03:04:05.000000Z
type: Normal
reason: Pulled
action: Pulling
note: pulled the image
reportingController: example.com/puller
reportingInstance: puller-1
regarding: {kind: Deployment, name: web, namespace: ev, apiVersion: apps/v1}
";
    sim.kubectl_stdin(&["create", "-f", "-"], Some(v1));
    let core: Value =
        serde_json::from_str(&sim.ok(&["get", "event", "pulled.1", "-n", "ev", "-o", "json"]))
            .unwrap();
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "pulled the image");
    assert_eq!(core["involvedObject"]["kind"], "Deployment");
    assert_eq!(core["reportingComponent"], "example.com/puller");
    let events = sim.ok(&["events", "-n", "ev", "--for", "deployment/web"]);
    assert!(
        events.contains("pulled the image") && events.contains("ScalingReplicaSet"),
        "{events}"
    );

    // events.k8s.io/v1 creates are held to the strict rules (ValidateEventCreate).
    let bare = "apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: bare, namespace: ev}
reason: Pulled
deprecatedCount: 3
regarding: {kind: Deployment, name: web, namespace: ev}
";
    let err = sim.fails_stdin(&["create", "-f", "-"], Some(bare));
    assert!(
        err.contains("eventTime: Required value")
            && err.contains("type: Invalid value: \"\": has invalid value: ")
            && err.contains("count: Invalid value: \"\": needs to be unset"),
        "{err}"
    );
    // The same object through core/v1 is a legacy event: accepted.
    let legacy = "apiVersion: v1
kind: Event
metadata: {name: legacy, namespace: ev}
reason: Pulled
count: 3
involvedObject: {kind: Deployment, name: web, namespace: ev}
";
    sim.kubectl_stdin(&["create", "-f", "-"], Some(legacy));
    sim.ok(&["get", "events.events.k8s.io", "legacy", "-n", "ev"]);
}

#[test]
fn python_client_reads_events_v1() {
    support::ensure_python_client();
    let sim = Sim::start(&[]);
    sim.ok(&["create", "deployment", "web", "--image=nginx"]);
    // Read raw: the controllers' events are legacy ones with `eventTime: null`, which the
    // client's models refuse on kube-apiserver too (kubernetes-client/python#1616).
    let script = r#"
import json, sys, time
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
api = client.EventsV1Api()
deadline = time.time() + 30
while time.time() < deadline:
    raw = api.list_namespaced_event("default", field_selector="reason=ScalingReplicaSet",
                                    _preload_content=False)
    items = json.loads(raw.data)["items"]
    if items:
        e = items[0]
        print(e["regarding"]["kind"], e["regarding"]["name"], e["reportingController"], e["type"])
        break
    time.sleep(0.1)
"#;
    let printed = support::python_ok(script, &[sim.kubeconfig.as_os_str()]);
    assert_eq!(
        printed.trim(),
        "Deployment web deployment-controller Normal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_recorder_events_show_in_kubectl() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "settings"}})).unwrap();
    let cm = cms.create(&PostParams::default(), &cm).await.unwrap();
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "example.com/settings-controller".into(),
            instance: Some("settings-0".into()),
        },
    );
    let event = Event {
        type_: EventType::Warning,
        reason: "Invalid".into(),
        note: Some("key x is not known".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    let reference = cm.object_ref(&());
    // The second publish patches the same event with a series (count 2).
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    // kubectl blocks: off the runtime's worker for it.
    let (listed, described) = tokio::task::block_in_place(|| {
        (
            sim.get_json(&["events", "--field-selector", "reason=Invalid"]),
            sim.ok(&["describe", "configmap", "settings"]),
        )
    });
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one event, a series of two: {items:?}");
    assert_eq!(items[0]["series"]["count"], 2);
    assert_eq!(items[0]["message"], "key x is not known");
    assert_eq!(
        items[0]["reportingComponent"],
        "example.com/settings-controller"
    );
    assert!(
        described.contains("Warning  Invalid") && described.contains("key x is not known"),
        "{described}"
    );
}
