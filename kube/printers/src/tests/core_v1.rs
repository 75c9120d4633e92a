//! Core kinds: Namespace, ConfigMap, Secret, ServiceAccount, Service,
//! Endpoints, PersistentVolumeClaim.

use serde_json::{Value, json};

use super::{ago, cells, cols, columns};

fn meta(name: &str, age_secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(age_secs)})
}

#[test]
fn namespace() {
    assert_eq!(columns("", "Namespace"), cols(&["Name", "Status", "Age"]));
    let ns =
        json!({"metadata": meta("kube-system", 3 * 86400 + 7200), "status": {"phase": "Active"}});
    assert_eq!(
        cells("", "Namespace", &ns),
        vec![json!("kube-system"), json!("Active"), json!("3d2h")]
    );
    let gone = json!({"metadata": meta("old", 30), "status": {"phase": "Terminating"}});
    assert_eq!(cells("", "Namespace", &gone)[1], json!("Terminating"));
}

#[test]
fn config_map_counts_data_and_binary_data() {
    assert_eq!(columns("", "ConfigMap"), cols(&["Name", "Data", "Age"]));
    let cm = json!({
        "metadata": meta("kube-root-ca.crt", 600),
        "data": {"ca.crt": "x", "other": "y"},
        "binaryData": {"blob": "AAEC"}
    });
    assert_eq!(
        cells("", "ConfigMap", &cm),
        vec![json!("kube-root-ca.crt"), json!(3), json!("10m")]
    );
    let empty = json!({"metadata": meta("empty", 5)});
    assert_eq!(
        cells("", "ConfigMap", &empty),
        vec![json!("empty"), json!(0), json!("5s")]
    );
}

#[test]
fn secret() {
    assert_eq!(
        columns("", "Secret"),
        cols(&["Name", "Type", "Data", "Age"])
    );
    let s = json!({
        "metadata": meta("tls", 45),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"}
    });
    assert_eq!(
        cells("", "Secret", &s),
        vec![
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("45s")
        ]
    );
    let opaque = json!({"metadata": meta("creds", 45), "data": {"a": "eA=="}, "stringData": {"a": "x", "b": "y"}});
    assert_eq!(
        cells("", "Secret", &opaque)[1..3],
        [json!("Opaque"), json!(2)]
    );
}

#[test]
fn service_account() {
    assert_eq!(
        columns("", "ServiceAccount"),
        cols(&["Name", "Secrets", "Age"])
    );
    let sa = json!({"metadata": meta("default", 86400 * 10)});
    assert_eq!(
        cells("", "ServiceAccount", &sa),
        vec![json!("default"), json!(0), json!("10d")]
    );
    let with = json!({"metadata": meta("builder", 60), "secrets": [{"name": "builder-token"}]});
    assert_eq!(cells("", "ServiceAccount", &with)[1], json!(1));
}

#[test]
fn service_cluster_ip_and_node_port() {
    assert_eq!(
        columns("", "Service"),
        cols(&[
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector*"
        ])
    );
    let svc = json!({
        "metadata": meta("kubernetes", 3600 * 5),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]
        }
    });
    assert_eq!(
        cells("", "Service", &svc),
        vec![
            json!("kubernetes"),
            json!("ClusterIP"),
            json!("10.96.0.1"),
            json!("<none>"),
            json!("443/TCP"),
            json!("5h"),
            json!("<none>")
        ]
    );
    let np = json!({
        "metadata": meta("web", 120),
        "spec": {
            "type": "NodePort",
            "clusterIPs": ["10.96.12.7"],
            "selector": {"tier": "front", "app": "web"},
            "ports": [
                {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 53, "nodePort": 30053, "protocol": "UDP"}
            ]
        }
    });
    assert_eq!(
        cells("", "Service", &np),
        vec![
            json!("web"),
            json!("NodePort"),
            json!("10.96.12.7"),
            json!("<none>"),
            json!("80:30080/TCP,53:30053/UDP"),
            json!("2m"),
            json!("app=web,tier=front")
        ]
    );
}

#[test]
fn service_load_balancer_external_name_and_headless() {
    let pending = json!({
        "metadata": meta("lb", 10),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80, "nodePort": 31000}]}
    });
    assert_eq!(
        cells("", "Service", &pending)[3..5],
        [json!("<pending>"), json!("80:31000/TCP")]
    );
    let ready = json!({
        "metadata": meta("lb", 10),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.0.0.5"], "externalIPs": ["1.2.3.4"]},
        "status": {"loadBalancer": {"ingress": [
            {"ip": "203.0.113.9"}, {"hostname": "a-very-long-hostname.elb.example.com"}
        ]}}
    });
    assert_eq!(
        cells("", "Service", &ready)[3..5],
        [
            json!("203.0.113.9,a-very-long-hostname.elb.example.com,1.2.3.4"),
            json!("<none>")
        ]
    );
    let ext = json!({"metadata": meta("db", 10), "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    assert_eq!(
        cells("", "Service", &ext)[1..4],
        [
            json!("ExternalName"),
            json!("<none>"),
            json!("db.example.com")
        ]
    );
    let headless = json!({"metadata": meta("sts", 10), "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}});
    assert_eq!(
        cells("", "Service", &headless)[1..5],
        [
            json!("ClusterIP"),
            json!("None"),
            json!("<none>"),
            json!("5432/TCP")
        ]
    );
}

#[test]
fn endpoints() {
    assert_eq!(
        columns("", "Endpoints"),
        cols(&["Name", "Endpoints", "Age"])
    );
    let ep = json!({
        "metadata": meta("web", 300),
        "subsets": [{
            "addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.1.7"}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
        }]
    });
    assert_eq!(
        cells("", "Endpoints", &ep),
        vec![
            json!("web"),
            json!("10.244.0.5:80,10.244.1.7:80"),
            json!("5m")
        ]
    );
    let many = json!({
        "metadata": meta("big", 300),
        "subsets": [{
            "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
            "ports": [{"port": 80}, {"port": 443}]
        }]
    });
    assert_eq!(
        cells("", "Endpoints", &many)[1],
        json!("10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...")
    );
    let none = json!({"metadata": meta("empty", 300)});
    assert_eq!(cells("", "Endpoints", &none)[1], json!("<none>"));
    let headless =
        json!({"metadata": meta("h", 1), "subsets": [{"addresses": [{"ip": "10.1.1.1"}]}]});
    assert_eq!(cells("", "Endpoints", &headless)[1], json!("10.1.1.1"));
}

#[test]
fn persistent_volume_claim() {
    assert_eq!(
        columns("", "PersistentVolumeClaim"),
        cols(&[
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age",
            "VolumeMode*"
        ])
    );
    let bound = json!({
        "metadata": meta("data-db-0", 9 * 3600),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "volumeName": "pvc-1234"
        },
        "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "10Gi"}}
    });
    assert_eq!(
        cells("", "PersistentVolumeClaim", &bound),
        vec![
            json!("data-db-0"),
            json!("Bound"),
            json!("pvc-1234"),
            json!("10Gi"),
            json!("RWO,RWX"),
            json!("standard"),
            json!("<unset>"),
            json!("9h"),
            json!("Filesystem")
        ]
    );
    let pending = json!({
        "metadata": {"name": "claim", "creationTimestamp": ago(20), "deletionTimestamp": ago(1),
                     "annotations": {"volume.beta.kubernetes.io/storage-class": "fast"}},
        "spec": {"storageClassName": "standard", "volumeMode": "Block"},
        "status": {"phase": "Pending"}
    });
    assert_eq!(
        cells("", "PersistentVolumeClaim", &pending),
        vec![
            json!("claim"),
            json!("Terminating"),
            json!(""),
            json!(""),
            json!(""),
            json!("fast"),
            json!("<unset>"),
            json!("20s"),
            json!("Block")
        ]
    );
}
