//! The built-in kinds registered at start-up, with kube-apiserver's names, scopes, short names,
//! categories and subresources.

use crate::resource::{Registry, ResourceInfo, ScaleSpec};

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all: false,
        status: false,
        scale: false,
    }
}

const fn with_status(mut x: Builtin) -> Builtin {
    x.status = true;
    x
}

const fn in_all(mut x: Builtin) -> Builtin {
    x.all = true;
    x
}

const fn scalable(mut x: Builtin) -> Builtin {
    x.scale = true;
    x
}

const BUILTINS: &[Builtin] = &[
    with_status(b("", "v1", "Namespace", "namespaces", false, &["ns"])),
    b("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
    b("", "v1", "Secret", "secrets", true, &[]),
    in_all(with_status(b(
        "",
        "v1",
        "Service",
        "services",
        true,
        &["svc"],
    ))),
    b("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
    in_all(with_status(b("", "v1", "Pod", "pods", true, &["po"]))),
    with_status(b("", "v1", "Node", "nodes", false, &["no"])),
    b("", "v1", "Event", "events", true, &["ev"]),
    b("", "v1", "Endpoints", "endpoints", true, &["ep"]),
    with_status(b(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
    )),
    with_status(b(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        &["pv"],
    )),
    b("", "v1", "LimitRange", "limitranges", true, &["limits"]),
    with_status(b(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
    )),
    in_all(scalable(with_status(b(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
    )))),
    in_all(scalable(with_status(b(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
    )))),
    in_all(scalable(with_status(b(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
    )))),
    in_all(with_status(b(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
    ))),
    b(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
    ),
    in_all(with_status(b("batch", "v1", "Job", "jobs", true, &[]))),
    in_all(with_status(b(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        true,
        &["cj"],
    ))),
    with_status(b(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
    )),
    with_status(b(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
    )),
    b(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
    ),
    b(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
    ),
    with_status(b(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
    )),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
    ),
    b("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
    b("events.k8s.io", "v1", "Event", "events", true, &["ev"]),
    b(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc"],
    ),
    b(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
    ),
    with_status(b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    )),
];

/// Register every built-in kind.
pub fn register_builtins(registry: &Registry) {
    for x in BUILTINS {
        let printer = cceone_kube_printers::builtin(x.group, x.kind)
            .unwrap_or_else(cceone_kube_printers::default_printer);
        let scale = x.scale.then(|| ScaleSpec {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        });
        registry.insert(ResourceInfo {
            group: x.group.into(),
            version: x.version.into(),
            kind: x.kind.into(),
            plural: x.plural.into(),
            singular: x.kind.to_lowercase(),
            namespaced: x.namespaced,
            short_names: x.short.iter().map(|s| s.to_string()).collect(),
            categories: if x.all { vec!["all".into()] } else { vec![] },
            has_status: x.status,
            scale,
            printer,
            storage_version: x.version.into(),
            schema: None,
            custom: false,
        });
    }
}
