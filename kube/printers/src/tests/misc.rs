//! Event (core and events.k8s.io), Lease, Ingress, RBAC bindings and the
//! default (Name, Created At) printer.

use serde_json::json;

use super::{ago, cells, cols, columns, now};

#[test]
fn core_event() {
    assert_eq!(
        columns("", "Event"),
        cols(&[
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject*",
            "Source*",
            "Message",
            "First Seen*",
            "Count*",
            "Name*"
        ])
    );
    let e = json!({
        "metadata": {"name": "nginx.17d8a2b3c4d5e6f7", "namespace": "default", "creationTimestamp": ago(900)},
        "involvedObject": {"kind": "Pod", "name": "nginx", "namespace": "default", "fieldPath": "spec.containers{nginx}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "worker-1"},
        "firstTimestamp": ago(900),
        "lastTimestamp": ago(30),
        "count": 7,
        "type": "Warning"
    });
    assert_eq!(
        cells("", "Event", &e),
        vec![
            json!("30s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/nginx"),
            json!("spec.containers{nginx}"),
            json!("kubelet, worker-1"),
            json!("Back-off restarting failed container"),
            json!("15m"),
            json!(7),
            json!("nginx.17d8a2b3c4d5e6f7")
        ]
    );
    // A new-style event: eventTime only (micro precision, truncated to
    // whole seconds), reporting controller, no count.
    let e2 = json!({
        "metadata": {"name": "ev2"},
        "involvedObject": {"kind": "Node"},
        "reason": "RegisteredNode",
        "message": "Node registered",
        "eventTime": "2024-06-01T11:59:00.123456Z",
        "reportingComponent": "node-controller",
        "type": "Normal"
    });
    assert_eq!(
        cells("", "Event", &e2),
        vec![
            json!("59s"),
            json!("Normal"),
            json!("RegisteredNode"),
            json!("node"),
            json!(""),
            json!("node-controller"),
            json!("Node registered"),
            json!("59s"),
            json!(1),
            json!("ev2")
        ]
    );
}

#[test]
fn events_k8s_io_event_with_series() {
    assert_eq!(columns("events.k8s.io", "Event"), columns("", "Event"));
    let e = json!({
        "metadata": {"name": "web.1"},
        "eventTime": ago(3600),
        "series": {"count": 4, "lastObservedTime": "2024-06-01T11:58:00.000000Z"},
        "reportingController": "kubelet",
        "reportingInstance": "worker-2",
        "regarding": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"},
        "reason": "Unhealthy",
        "note": "Readiness probe failed",
        "type": "Warning"
    });
    assert_eq!(
        cells("events.k8s.io", "Event", &e),
        vec![
            json!("2m"),
            json!("Warning"),
            json!("Unhealthy"),
            json!("pod/web"),
            json!("spec.containers{web}"),
            json!("kubelet, worker-2"),
            json!("Readiness probe failed"),
            json!("60m"),
            json!(4),
            json!("web.1")
        ]
    );
}

#[test]
fn lease() {
    assert_eq!(
        columns("coordination.k8s.io", "Lease"),
        cols(&["Name", "Holder", "Age"])
    );
    let l = json!({
        "metadata": {"name": "kube-scheduler", "namespace": "kube-system", "creationTimestamp": ago(7200)},
        "spec": {"holderIdentity": "cp-1_3f1c", "leaseDurationSeconds": 15}
    });
    assert_eq!(
        cells("coordination.k8s.io", "Lease", &l),
        vec![json!("kube-scheduler"), json!("cp-1_3f1c"), json!("120m")]
    );
    let free = json!({"metadata": {"name": "free", "creationTimestamp": ago(3)}, "spec": {}});
    assert_eq!(cells("coordination.k8s.io", "Lease", &free)[1], json!(""));
}

#[test]
fn ingress() {
    assert_eq!(
        columns("networking.k8s.io", "Ingress"),
        cols(&["Name", "Class", "Hosts", "Address", "Ports", "Age"])
    );
    let ing = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(3600 * 30)},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.49.2"}]}}
    });
    assert_eq!(
        cells("networking.k8s.io", "Ingress", &ing),
        vec![
            json!("web"),
            json!("nginx"),
            json!("a.example.com,b.example.com"),
            json!("192.168.49.2"),
            json!("80, 443"),
            json!("30h")
        ]
    );
    let many = json!({
        "metadata": {"name": "many"},
        "spec": {"rules": [{"host": "a"}, {"host": "b"}, {}, {"host": "d"}, {"host": "e"}]}
    });
    assert_eq!(
        cells("networking.k8s.io", "Ingress", &many)[1..6],
        [
            json!("<none>"),
            json!("a,b,d + 2 more..."),
            json!(""),
            json!("80"),
            json!("<unknown>")
        ]
    );
    let star = json!({"metadata": {"name": "s"}, "spec": {"defaultBackend": {}}});
    assert_eq!(cells("networking.k8s.io", "Ingress", &star)[2], json!("*"));
}

#[test]
fn role_bindings() {
    let wide = cols(&[
        "Name",
        "Role",
        "Age",
        "Users*",
        "Groups*",
        "ServiceAccounts*",
    ]);
    assert_eq!(columns("rbac.authorization.k8s.io", "RoleBinding"), wide);
    assert_eq!(
        columns("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        wide
    );
    let rb = json!({
        "metadata": {"name": "read-pods", "namespace": "dev", "creationTimestamp": ago(100 * 86400)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [
            {"kind": "User", "name": "jane"},
            {"kind": "User", "name": "joe"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}
        ]
    });
    assert_eq!(
        cells("rbac.authorization.k8s.io", "RoleBinding", &rb),
        vec![
            json!("read-pods"),
            json!("Role/pod-reader"),
            json!("100d"),
            json!("jane, joe"),
            json!("devs"),
            json!("build/ci")
        ]
    );
    let crb = json!({
        "metadata": {"name": "cluster-admin", "creationTimestamp": ago(3 * 365 * 86400)},
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "Group", "name": "system:masters"}]
    });
    assert_eq!(
        cells("rbac.authorization.k8s.io", "ClusterRoleBinding", &crb),
        vec![
            json!("cluster-admin"),
            json!("ClusterRole/cluster-admin"),
            json!("3y"),
            json!(""),
            json!("system:masters"),
            json!("")
        ]
    );
}

#[test]
fn roles_and_crds_use_default_printer() {
    let created = cols(&["Name", "Created At"]);
    for (g, k) in [
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ] {
        assert_eq!(columns(g, k), created);
    }
    assert_eq!(crate::default_printer().columns()[1].type_, "date");
    let crd = json!({"metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-05-01T08:30:00Z"}});
    assert_eq!(
        cells("apiextensions.k8s.io", "CustomResourceDefinition", &crd),
        vec![json!("widgets.example.com"), json!("2024-05-01T08:30:00Z")]
    );
    let role =
        json!({"metadata": {"name": "view", "creationTimestamp": "2024-05-01T08:30:00.5+02:00"}});
    assert_eq!(
        crate::default_printer().cells(&role, now()),
        vec![json!("view"), json!("2024-05-01T06:30:00Z")]
    );
    let bare = json!({"metadata": {"name": "x"}});
    assert_eq!(
        crate::default_printer().cells(&bare, now())[1],
        json!("0001-01-01T00:00:00Z")
    );
}

#[test]
fn certificate_signing_request() {
    let g = "certificates.k8s.io";
    assert_eq!(
        columns(g, "CertificateSigningRequest"),
        cols(&[
            "Name",
            "Age",
            "SignerName",
            "Requestor",
            "RequestedDuration",
            "Condition"
        ])
    );
    let pending = json!({
        "metadata": {"name": "alice", "creationTimestamp": ago(30)},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "admin",
                 "expirationSeconds": 86400, "request": "", "usages": ["client auth"]}
    });
    assert_eq!(
        cells(g, "CertificateSigningRequest", &pending),
        vec![
            json!("alice"),
            json!("30s"),
            json!("kubernetes.io/kube-apiserver-client"),
            json!("admin"),
            json!("24h"),
            json!("Pending")
        ]
    );
    // Denied wins over Approved; a failed, issued request says both; no signer or duration
    // prints <none>.
    let issued = json!({
        "metadata": {"name": "bob", "creationTimestamp": ago(30)},
        "spec": {"username": "bob"},
        "status": {"conditions": [{"type": "Approved"}, {"type": "Failed"}], "certificate": "LS0t"}
    });
    let c = cells(g, "CertificateSigningRequest", &issued);
    assert_eq!(
        c[2..],
        [
            json!("<none>"),
            json!("bob"),
            json!("<none>"),
            json!("Approved,Failed,Issued")
        ]
    );
    let denied = json!({"metadata": {"name": "eve"},
                        "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}]}});
    assert_eq!(
        cells(g, "CertificateSigningRequest", &denied)[5],
        json!("Denied")
    );
}

#[test]
fn pod_template() {
    assert_eq!(
        columns("", "PodTemplate"),
        cols(&["Name", "Containers", "Images", "Pod Labels"])
    );
    let t = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(30)},
        "template": {"metadata": {"labels": {"tier": "web", "app": "shop"}},
                     "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}}
    });
    assert_eq!(
        cells("", "PodTemplate", &t),
        vec![
            json!("web"),
            json!("a,b"),
            json!("nginx,busybox"),
            json!("app=shop,tier=web")
        ]
    );
    let bare = json!({"metadata": {"name": "empty"}, "template": {"spec": {"containers": []}}});
    assert_eq!(cells("", "PodTemplate", &bare)[3], json!("<none>"));
}
