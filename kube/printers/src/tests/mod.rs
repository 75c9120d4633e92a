//! Unit tests: one realistic object per kind with its exact cells, plus the
//! duration, JSONPath and CRD printer tables.
#![allow(clippy::unwrap_used)]

mod apps;
mod batch;
mod core_v1;
mod crd;
mod misc;
mod node;
mod pod;
mod util;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The fixed "now" every test renders against.
fn now() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().unwrap()
}

/// An RFC 3339 timestamp `secs` seconds before [`now`].
fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The cells of the built-in printer for (group, kind).
fn cells(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
    crate::builtin(group, kind).unwrap().cells(obj, now())
}

/// The column names (and priorities) of the built-in printer for (group, kind).
fn columns(group: &str, kind: &str) -> Vec<(String, i32)> {
    crate::builtin(group, kind)
        .unwrap()
        .columns()
        .into_iter()
        .map(|c| (c.name, c.priority))
        .collect()
}

/// `(name, priority)` pairs from a compact spec: a trailing `*` marks wide.
fn cols(spec: &[&str]) -> Vec<(String, i32)> {
    spec.iter()
        .map(|s| match s.strip_suffix('*') {
            Some(n) => (n.to_owned(), 1),
            None => ((*s).to_owned(), 0),
        })
        .collect()
}

#[test]
fn every_builtin_has_one_cell_per_column() {
    let kinds = [
        ("", "Namespace"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "Service"),
        ("", "ServiceAccount"),
        ("", "Pod"),
        ("", "Node"),
        ("", "Event"),
        ("", "Endpoints"),
        ("", "PersistentVolumeClaim"),
        ("", "ResourceQuota"),
        ("policy", "PodDisruptionBudget"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("events.k8s.io", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("", "ReplicationController"),
        ("", "PodTemplate"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("networking.k8s.io", "Ingress"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ];
    for (g, k) in kinds {
        let p = crate::builtin(g, k).unwrap();
        let cols = p.columns();
        assert_eq!(cols.len(), p.cells(&Value::Null, now()).len(), "{g}/{k}");
        assert_eq!(
            cols.iter().filter(|c| c.format == "name").count(),
            1,
            "{g}/{k} has one name column"
        );
    }
    assert!(crate::builtin("", "Widget").is_none());
    assert!(crate::builtin("apps", "Pod").is_none());
}

#[test]
fn column_json_shape() {
    let c = crate::builtin("", "Pod").unwrap().columns();
    assert_eq!(
        c[0].to_json(),
        serde_json::json!({
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": crate::util::NAME_DESC,
            "priority": 0,
        })
    );
    assert_eq!(c[5].to_json()["priority"], 1);
    assert_eq!(c[5].to_json()["format"], "");
}
