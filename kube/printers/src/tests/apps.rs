//! apps: Deployment, ReplicaSet, StatefulSet, DaemonSet.

use serde_json::json;

use super::{ago, cells, cols, columns};

#[test]
fn deployment() {
    assert_eq!(
        columns("apps", "Deployment"),
        cols(&[
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers*",
            "Images*",
            "Selector*"
        ])
    );
    let d = json!({
        "metadata": {"name": "nginx", "namespace": "default", "creationTimestamp": ago(3 * 3600 + 25 * 60)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.27"},
                    {"name": "exporter", "image": "nginx/exporter:1.1"}
                ]}
            }
        },
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        cells("apps", "Deployment", &d),
        vec![
            json!("nginx"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("3h25m"),
            json!("nginx,exporter"),
            json!("nginx:1.27,nginx/exporter:1.1"),
            json!("app=nginx")
        ]
    );
    let fresh = json!({"metadata": {"name": "new", "creationTimestamp": ago(1)}, "spec": {"template": {"spec": {}}}});
    assert_eq!(
        cells("apps", "Deployment", &fresh),
        vec![
            json!("new"),
            json!("0/1"),
            json!(0),
            json!(0),
            json!("1s"),
            json!(""),
            json!(""),
            json!("")
        ]
    );
}

#[test]
fn replica_set() {
    assert_eq!(
        columns("apps", "ReplicaSet"),
        cols(&[
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers*",
            "Images*",
            "Selector*"
        ])
    );
    let rs = json!({
        "metadata": {"name": "nginx-7c5ddbdf54", "creationTimestamp": ago(86400 + 3600)},
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"pod-template-hash": "7c5ddbdf54", "app": "nginx"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "edge"]},
                    {"key": "canary", "operator": "DoesNotExist"}
                ]
            },
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}
        },
        "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    });
    assert_eq!(
        cells("apps", "ReplicaSet", &rs),
        vec![
            json!("nginx-7c5ddbdf54"),
            json!(3),
            json!(3),
            json!(3),
            json!("25h"),
            json!("nginx"),
            json!("nginx:1.27"),
            json!("app=nginx,!canary,pod-template-hash=7c5ddbdf54,tier in (edge,web)")
        ]
    );
}

#[test]
fn stateful_set() {
    assert_eq!(
        columns("apps", "StatefulSet"),
        cols(&["Name", "Ready", "Age", "Containers*", "Images*"])
    );
    let s = json!({
        "metadata": {"name": "db", "creationTimestamp": ago(90)},
        "spec": {"replicas": 3, "serviceName": "db", "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    assert_eq!(
        cells("apps", "StatefulSet", &s),
        vec![
            json!("db"),
            json!("1/3"),
            json!("90s"),
            json!("pg"),
            json!("postgres:16")
        ]
    );
}

#[test]
fn daemon_set() {
    assert_eq!(
        columns("apps", "DaemonSet"),
        cols(&[
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers*",
            "Images*",
            "Selector*"
        ])
    );
    let ds = json!({
        "metadata": {"name": "kube-proxy", "namespace": "kube-system", "creationTimestamp": ago(12 * 86400)},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "template": {"spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.32.2"}]
            }}
        },
        "status": {
            "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 3, "numberAvailable": 2, "numberMisscheduled": 0
        }
    });
    assert_eq!(
        cells("apps", "DaemonSet", &ds),
        vec![
            json!("kube-proxy"),
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("kubernetes.io/os=linux"),
            json!("12d"),
            json!("kube-proxy"),
            json!("registry.k8s.io/kube-proxy:v1.32.2"),
            json!("k8s-app=kube-proxy")
        ]
    );
}

#[test]
fn replication_controller() {
    assert_eq!(
        columns("", "ReplicationController"),
        columns("apps", "ReplicaSet")
    );
    let rc = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(120)},
        "spec": {"replicas": 2, "selector": {"app": "web"},
                 "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    assert_eq!(
        cells("", "ReplicationController", &rc),
        vec![
            json!("web"),
            json!(2),
            json!(2),
            json!(1),
            json!("2m"),
            json!("c"),
            json!("nginx"),
            json!("app=web")
        ]
    );
}
