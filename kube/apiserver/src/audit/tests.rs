#![allow(clippy::unwrap_used)]

use super::*;

fn alice() -> User {
    User {
        name: "alice".into(),
        groups: vec!["system:authenticated".into()],
        ..User::default()
    }
}

#[test]
fn events_name_who_what_and_the_answer() {
    let entry = Entry {
        audit_id: "a-1".into(),
        requestor: Some(User {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
            ..User::default()
        }),
        impersonated: Some(alice()),
        attributes: Attributes {
            user: alice(),
            verb: "create".into(),
            resource_request: true,
            api_group: "apps".into(),
            namespace: "team-b".into(),
            resource: "deployments".into(),
            ..Attributes::default()
        },
        request_uri: "/apis/apps/v1/namespaces/team-b/deployments?fieldManager=kubectl".into(),
        user_agent: "kubectl/v1.32.0".into(),
        source_ip: Some("127.0.0.1".parse().unwrap()),
        decision: Some((false, String::new())),
        code: 403,
        status: Some(json!({"status": "Failure", "reason": "Forbidden", "message": "no"})),
        response_object: Some(bytes::Bytes::from_static(br#"{"kind":"Status"}"#)),
        request_object: Some(bytes::Bytes::from_static(br#"{"kind":"Deployment"}"#)),
        received: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
    };
    let ev = event(Level::Metadata, Stage::ResponseComplete, &entry);
    assert_eq!(ev["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(ev["kind"], "Event");
    assert_eq!(ev["level"], "Metadata");
    assert_eq!(ev["stage"], "ResponseComplete");
    assert_eq!(ev["verb"], "create");
    assert_eq!(ev["user"]["username"], "admin");
    assert_eq!(ev["impersonatedUser"]["username"], "alice");
    assert_eq!(ev["sourceIPs"], json!(["127.0.0.1"]));
    assert_eq!(
        ev["objectRef"],
        json!({"resource": "deployments", "namespace": "team-b", "apiGroup": "apps", "apiVersion": "v1"})
    );
    assert_eq!(ev["responseStatus"]["code"], 403);
    assert_eq!(ev["responseStatus"]["reason"], "Forbidden");
    assert_eq!(
        ev["requestReceivedTimestamp"],
        "2023-11-14T22:13:20.000000Z"
    );
    assert_eq!(ev["annotations"]["authorization.k8s.io/decision"], "forbid");
    let parsed = |level: Level, e: &Entry| -> Value {
        let d = Decision {
            level,
            omit: Stages::NONE,
            omit_managed_fields: false,
        };
        let l = line(&d, Stage::ResponseComplete, e);
        assert_eq!(l.last(), Some(&b'\n'));
        serde_json::from_slice(&l).unwrap()
    };
    let meta = parsed(Level::Metadata, &entry);
    assert!(
        meta.get("responseObject").is_none() && meta.get("requestObject").is_none(),
        "no bodies at Metadata"
    );
    let req = parsed(Level::Request, &entry);
    assert_eq!(req["requestObject"], json!({"kind": "Deployment"}));
    assert!(req.get("responseObject").is_none());
    let full = parsed(Level::RequestResponse, &entry);
    assert_eq!(full["responseObject"], json!({"kind": "Status"}));
    assert_eq!(full["requestObject"], json!({"kind": "Deployment"}));
    assert_eq!(full["user"]["username"], "admin");
    let mut secret = entry.clone();
    secret.attributes.api_group.clear();
    secret.attributes.resource = "secrets".into();
    let secret_line = parsed(Level::RequestResponse, &secret);
    assert!(
        secret_line.get("responseObject").is_none() && secret_line.get("requestObject").is_none(),
        "a Secret's body is never logged"
    );
}

#[tokio::test]
async fn records_lines_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit").join("audit.log");
    let log = AuditLog::open(AuditConfig::new(path.clone())).unwrap();
    let entry = Entry {
        requestor: Some(alice()),
        attributes: Attributes {
            user: alice(),
            verb: "list".into(),
            resource_request: true,
            resource: "pods".into(),
            namespace: "a".into(),
            ..Attributes::default()
        },
        request_uri: "/api/v1/namespaces/a/pods".into(),
        code: 200,
        received: jiff::Timestamp::now(),
        ..Entry::default()
    };
    let d = log.decide(&entry.attributes, &alice());
    assert_eq!(d.level, Level::Metadata);
    // The default policy leaves RequestReceived out.
    log.record(&d, Stage::RequestReceived, &entry).await;
    log.record(&d, Stage::ResponseComplete, &entry).await;
    let none = Decision {
        level: Level::None,
        ..d
    };
    log.record(&none, Stage::ResponseComplete, &entry).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let events: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["objectRef"]["resource"], "pods");
    assert_eq!(events[0]["user"]["username"], "alice");
}

#[test]
fn request_received_events_hold_the_request_only() {
    let entry = Entry {
        audit_id: "id-1".into(),
        requestor: Some(alice()),
        impersonated: Some(alice()),
        attributes: Attributes {
            verb: "watch".into(),
            resource_request: true,
            resource: "configmaps".into(),
            ..Attributes::default()
        },
        request_uri: "/api/v1/configmaps?watch=1".into(),
        decision: Some((true, String::new())),
        code: 200,
        request_object: Some(bytes::Bytes::from_static(br#"{"kind":"X"}"#)),
        received: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        ..Entry::default()
    };
    let d = Decision {
        level: Level::RequestResponse,
        omit: Stages::NONE,
        omit_managed_fields: false,
    };
    let ev: Value = serde_json::from_slice(&line(&d, Stage::RequestReceived, &entry)).unwrap();
    assert_eq!(ev["stage"], "RequestReceived");
    assert_eq!(ev["auditID"], "id-1");
    assert_eq!(ev["stageTimestamp"], ev["requestReceivedTimestamp"]);
    for absent in [
        "responseStatus",
        "impersonatedUser",
        "annotations",
        "requestObject",
    ] {
        assert!(ev.get(absent).is_none(), "{absent}: {ev}");
    }
    let started = event(d.level, Stage::ResponseStarted, &entry);
    assert_eq!(started["auditID"], "id-1");
    assert_eq!(started["responseStatus"]["code"], 200);
}

#[test]
fn managed_fields_are_left_out_when_the_policy_says_so() {
    let entry = Entry {
        attributes: Attributes {
            verb: "create".into(),
            resource_request: true,
            resource: "configmaps".into(),
            ..Attributes::default()
        },
        request_object: Some(bytes::Bytes::from_static(
            br#"{"kind":"ConfigMap","metadata":{"name":"a","managedFields":[{"manager":"kubectl"}]}}"#,
        )),
        response_object: Some(bytes::Bytes::from_static(
            br#"{"kind":"ConfigMapList","items":[{"metadata":{"name":"a","managedFields":[]}}]}"#,
        )),
        ..Entry::default()
    };
    let mut d = Decision {
        level: Level::RequestResponse,
        omit: Stages::NONE,
        omit_managed_fields: true,
    };
    let ev: Value = serde_json::from_slice(&line(&d, Stage::ResponseComplete, &entry)).unwrap();
    assert_eq!(ev["requestObject"]["metadata"], json!({"name": "a"}));
    assert_eq!(
        ev["responseObject"]["items"][0]["metadata"],
        json!({"name": "a"})
    );
    d.omit_managed_fields = false;
    let ev: Value = serde_json::from_slice(&line(&d, Stage::ResponseComplete, &entry)).unwrap();
    assert_eq!(
        ev["requestObject"]["metadata"]["managedFields"][0]["manager"],
        "kubectl"
    );
}

#[tokio::test]
async fn a_completion_writes_when_its_last_holder_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let log = AuditLog::open(AuditConfig::new(path.clone())).unwrap();
    let lines = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= n || std::time::Instant::now() > deadline {
                return text
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let done = Completion::new(Arc::clone(&log));
    let held = done.clone();
    done.arm(json!({"auditID": "w", "stage": "ResponseStarted"}));
    drop(done);
    drop(Completion::new(Arc::clone(&log)));
    // The writer keeps order: once this marker is in, anything written before it is too.
    log.write(&json!({"marker": 1})).await;
    assert_eq!(
        lines(1),
        vec![json!({"marker": 1})],
        "held, and unarmed, write nothing"
    );
    drop(held);
    let events = lines(2);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["stage"], "ResponseComplete");
    assert_eq!(events[1]["auditID"], "w");
    assert!(
        events[1]["stageTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}
