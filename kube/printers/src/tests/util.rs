//! `human_duration` and `json_path` tables.

use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::{human_duration, json_path};

#[test]
fn human_duration_matches_apimachinery() {
    let s = SignedDuration::from_secs;
    let m = SignedDuration::from_mins;
    let h = SignedDuration::from_hours;
    let d = |days: i64| SignedDuration::from_hours(days * 24);
    let cases: Vec<(SignedDuration, &str)> = vec![
        (s(-5), "<invalid>"),
        (s(-2), "<invalid>"),
        (SignedDuration::from_millis(-1500), "0s"),
        (s(-1), "0s"),
        (s(0), "0s"),
        (SignedDuration::from_millis(999), "0s"),
        (s(1), "1s"),
        (s(5), "5s"),
        (s(70), "70s"),
        (s(119), "119s"),
        (s(120), "2m"),
        (s(182), "3m2s"),
        (s(190), "3m10s"),
        (s(599), "9m59s"),
        (m(10), "10m"),
        (m(70), "70m"),
        (m(179) + s(59), "179m"),
        (h(3), "3h"),
        (h(3) + m(30), "3h30m"),
        (h(5), "5h"),
        (h(7) + m(59), "7h59m"),
        (h(8), "8h"),
        (h(47), "47h"),
        (h(48), "2d"),
        (h(49), "2d1h"),
        (d(2) + h(3), "2d3h"),
        (h(191), "7d23h"),
        (d(8), "8d"),
        (d(367), "367d"),
        (d(729), "729d"),
        (d(730), "2y"),
        (d(731), "2y1d"),
        (d(4 * 365), "4y"),
        (d(7 * 365 + 364), "7y364d"),
        (d(8 * 365), "8y"),
        (d(8 * 365 + 300), "8y"),
    ];
    for (dur, want) in cases {
        assert_eq!(human_duration(dur), want, "{dur:?}");
    }
}

fn pod() -> Value {
    json!({
        "metadata": {
            "name": "web-0",
            "labels": {"app": "web", "app.kubernetes.io/name": "web-app"},
        },
        "spec": {
            "replicas": 3,
            "containers": [
                {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "envoy:1.30"}
            ]
        },
        "status": {
            "phase": "Running",
            "ready": true,
            "score": 1.5,
            "nothing": null,
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "Probe"},
                {"type": "ContainersReady", "status": "False"}
            ]
        }
    })
}

#[test]
fn json_path_cases() {
    let o = pod();
    let cases: Vec<(&str, Option<Value>)> = vec![
        (".status.phase", Some(json!("Running"))),
        ("{.status.phase}", Some(json!("Running"))),
        ("$.status.phase", Some(json!("Running"))),
        (".spec.replicas", Some(json!(3))),
        (".status.ready", Some(json!(true))),
        (".status.score", Some(json!(1.5))),
        (".status.nothing", Some(Value::Null)),
        (".metadata.labels.app", Some(json!("web"))),
        (
            r".metadata.labels.app\.kubernetes\.io/name",
            Some(json!("web-app")),
        ),
        (
            ".metadata.labels['app.kubernetes.io/name']",
            Some(json!("web-app")),
        ),
        (".spec.containers[0].image", Some(json!("nginx:1.27"))),
        (".spec.containers[1].name", Some(json!("sidecar"))),
        (".spec.containers[-1].image", Some(json!("envoy:1.30"))),
        (".spec.containers[5].image", None),
        (".spec.containers[*].name", Some(json!("nginx"))),
        (".spec.containers[1:].name", Some(json!("sidecar"))),
        (
            ".spec.containers[0].ports[0].containerPort",
            Some(json!(80)),
        ),
        (
            r#".status.conditions[?(@.type=="Ready")].status"#,
            Some(json!("False")),
        ),
        (
            ".status.conditions[?(@.type=='Ready')].reason",
            Some(json!("Probe")),
        ),
        (
            r#".status.conditions[?(@.type!="Initialized")].type"#,
            Some(json!("Ready")),
        ),
        (".status.conditions[?(@.reason)].type", Some(json!("Ready"))),
        (r#".status.conditions[?(@.type=="Nope")].status"#, None),
        ("..containerPort", Some(json!(80))),
        (".status.missing", None),
        (".metadata.name.deeper", None),
        (".spec.containers[", None),
    ];
    for (path, want) in cases {
        assert_eq!(json_path(&o, path), want, "{path}");
    }
}
