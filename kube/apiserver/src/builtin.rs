//! The built-in kinds registered at start-up, with kube-apiserver's names, scopes, short names,
//! categories and subresources (as `kubectl api-resources -o wide` lists them on a 1.32 cluster;
//! upstream declares them in each kind's `pkg/registry/<group>/<kind>/storage/storage.go`
//! through `ShortNames()` and `Categories()`).

use crate::resource::{Registry, ResourceInfo, ScaleSpec};

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    storage_version: &'static str,
    storage_group: &'static str,
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
        categories: &[],
        status: false,
        scale: false,
        storage_version: version,
        storage_group: group,
    }
}

const fn with_status(mut x: Builtin) -> Builtin {
    x.status = true;
    x
}

const fn in_all(mut x: Builtin) -> Builtin {
    x.categories = &["all"];
    x
}

/// kube-apiserver puts CRDs, APIServices and admission configurations in `api-extensions`.
const fn api_extension(mut x: Builtin) -> Builtin {
    x.categories = &["api-extensions"];
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
    b(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
        &[],
    ),
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
    in_all(with_status(b(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
    ))),
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
    events_v1(),
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
    api_extension(with_status(b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    ))),
    // Kinds a 1.32 cluster serves that tools probe or `apply --prune` lists: stored and served
    // like any other object, with no controller behind them unless noted.
    in_all(scalable(with_status(b(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
        &["rc"],
    )))),
    b("", "v1", "PodTemplate", "podtemplates", true, &[]),
    // Read-only on upstream (`pkg/registry/core/componentstatus`); here an empty list.
    b(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        false,
        &["cs"],
    ),
    // autoscaling/v1 of the same objects as v2 (stored as v2), converted on the way in and out.
    in_all(with_status(hpa_v1())),
    with_status(b(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        false,
        &["csr"],
    )),
    b(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        false,
        &[],
    ),
    api_extension(b(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
    )),
    api_extension(b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
    )),
    b(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        false,
        &[],
    ),
    b("storage.k8s.io", "v1", "CSINode", "csinodes", false, &[]),
    b(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        true,
        &[],
    ),
    api_extension(with_status(b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
        &[],
    ))),
    api_extension(b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
        &[],
    )),
    // Empty here: no aggregated API servers (tools that look for metrics.k8s.io find none).
    api_extension(with_status(b(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        false,
        &[],
    ))),
    with_status(b(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        "flowschemas",
        false,
        &[],
    )),
    with_status(b(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        false,
        &[],
    )),
    with_status(b(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        false,
        &[],
    )),
];

const fn hpa_v1() -> Builtin {
    let mut x = b(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
    );
    x.storage_version = "v2";
    x
}

/// events.k8s.io/v1 Events are the core/v1 Events in another shape: one storage, as
/// kube-apiserver's `pkg/registry/events` storage is the core event REST under a second group.
const fn events_v1() -> Builtin {
    let mut x = b("events.k8s.io", "v1", "Event", "events", true, &["ev"]);
    x.storage_group = "";
    x
}

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
            categories: x.categories.iter().map(|s| s.to_string()).collect(),
            has_status: x.status,
            scale,
            printer,
            storage_version: x.storage_version.into(),
            storage_group: x.storage_group.into(),
            schema: None,
            custom: false,
        });
    }
}
