//! Core (`""` group) kinds other than Pod, Node and Event: Namespace,
//! ConfigMap, Secret, ServiceAccount, Service, Endpoints, PersistentVolumeClaim
//! and PodTemplate.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{
    CONTAINERS_DESC, IMAGES_DESC, age, age_column, arr_at, at, col, container_cells, deleting,
    format_labels, int_at, len_obj, name, name_column, opt_int, opt_str, sorted_unique_join,
    str_at, str_or, wide,
};

/// Namespace: Name, Status, Age.
pub(crate) fn namespace_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Status", "string", "The status of the namespace"),
        age_column(),
    ]
}

/// Namespace cells; a namespace without a phase is `Active` (what the
/// apiserver sets on create).
pub(crate) fn namespace_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        Value::from(str_or(obj, &["status", "phase"], "Active")),
        age(obj, now),
    ]
}

/// ConfigMap: Name, Data, Age.
pub(crate) fn config_map_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Data", "string", d::CONFIGMAP_DATA),
        age_column(),
    ]
}

/// ConfigMap cells: the data count covers `data` and `binaryData`.
pub(crate) fn config_map_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let n = len_obj(obj, &["data"]) + len_obj(obj, &["binaryData"]);
    vec![name(obj), Value::from(n), age(obj, now)]
}

/// Secret: Name, Type, Data, Age.
pub(crate) fn secret_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Type", "string", d::SECRET_TYPE),
        col("Data", "string", d::SECRET_DATA),
        age_column(),
    ]
}

/// Secret cells. `stringData` keys count too (the apiserver merges them into
/// `data`); the type defaults to `Opaque`.
pub(crate) fn secret_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let keys: BTreeSet<&String> = ["data", "stringData"]
        .iter()
        .filter_map(|f| at(obj, &[f]).and_then(Value::as_object))
        .flat_map(serde_json::Map::keys)
        .collect();
    vec![
        name(obj),
        Value::from(str_or(obj, &["type"], "Opaque")),
        Value::from(keys.len()),
        age(obj, now),
    ]
}

/// ServiceAccount: Name, Secrets, Age.
pub(crate) fn service_account_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Secrets", "string", d::SA_SECRETS),
        age_column(),
    ]
}

/// ServiceAccount cells: the number of referenced secrets.
pub(crate) fn service_account_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        Value::from(arr_at(obj, &["secrets"]).len()),
        age(obj, now),
    ]
}

/// Service: Name, Type, Cluster-IP, External-IP, Port(s), Age; wide Selector.
pub(crate) fn service_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Type", "string", d::SVC_TYPE),
        col("Cluster-IP", "string", d::SVC_CLUSTER_IP),
        col("External-IP", "string", d::SVC_EXTERNAL_IPS),
        col("Port(s)", "string", d::SVC_PORTS),
        age_column(),
        wide("Selector", "string", d::SVC_SELECTOR),
    ]
}

/// Service cells, as upstream `printService` with wide output.
pub(crate) fn service_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let svc_type = str_or(obj, &["spec", "type"], "ClusterIP");
    let cluster_ip = arr_at(obj, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str(obj, &["spec", "clusterIP"]).filter(|s| !s.is_empty()))
        .unwrap_or("<none>");
    let ports = port_string(arr_at(obj, &["spec", "ports"]));
    vec![
        name(obj),
        Value::from(svc_type),
        Value::from(cluster_ip),
        Value::from(external_ip(obj, svc_type)),
        Value::from(if ports.is_empty() {
            "<none>".to_owned()
        } else {
            ports
        }),
        age(obj, now),
        Value::from(format_labels(at(obj, &["spec", "selector"]))),
    ]
}

/// Upstream `getServiceExternalIP` (wide, so load balancer addresses are
/// never truncated).
fn external_ip(obj: &Value, svc_type: &str) -> String {
    let external: Vec<String> = arr_at(obj, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_owned()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_string(at(obj, &["status", "loadBalancer"]));
            if !external.is_empty() {
                let mut all: Vec<String> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(',').map(str::to_owned));
                }
                all.extend(external);
                return all.join(",");
            }
            if lb.is_empty() {
                "<pending>".to_owned()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(obj, &["spec", "externalName"]).to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

/// Upstream `loadBalancerStatusStringer` (wide): the sorted, de-duplicated
/// ingress IPs (or hostnames when an entry has no IP), joined by `,`.
pub(crate) fn load_balancer_string(status: Option<&Value>) -> String {
    let items: Vec<String> = status
        .map(|s| arr_at(s, &["ingress"]))
        .unwrap_or(&[])
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip.to_owned())
            } else if !host.is_empty() {
                Some(host.to_owned())
            } else {
                None
            }
        })
        .collect();
    sorted_unique_join(items, ",")
}

/// Upstream `makePortString`: `port/proto` or `port:nodePort/proto`.
fn port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let proto = str_or(p, &["protocol"], "TCP");
            match opt_int(p, &["nodePort"]) {
                Some(np) if np > 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Endpoints: Name, Endpoints, Age.
pub(crate) fn endpoints_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Endpoints", "string", d::ENDPOINTS_SUBSETS),
        age_column(),
    ]
}

/// Endpoints cells.
pub(crate) fn endpoints_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        Value::from(format_endpoints(arr_at(obj, &["subsets"]))),
        age(obj, now),
    ]
}

/// Upstream `formatEndpoints` for all ports: up to three `ip:port` (or bare
/// IPs for port-less subsets), then `+ N more...`; `<none>` without subsets.
fn format_endpoints(subsets: &[Value]) -> String {
    const MAX: usize = 3;
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addrs = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_owned());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(p, &["port"])));
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - MAX);
    }
    ret
}

/// Go's `net.JoinHostPort`: brackets hosts containing a colon (IPv6).
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// PersistentVolumeClaim: Name, Status, Volume, Capacity, Access Modes,
/// StorageClass, VolumeAttributesClass, Age; wide VolumeMode.
pub(crate) fn pvc_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Status", "string", d::PVC_PHASE),
        col("Volume", "string", d::PVC_VOLUME_NAME),
        col("Capacity", "string", d::PVC_CAPACITY),
        col("Access Modes", "string", d::PVC_ACCESS_MODES),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        age_column(),
        wide("VolumeMode", "string", d::PVC_VOLUME_MODE),
    ]
}

/// PersistentVolumeClaim cells. Capacity and access modes are only shown once
/// bound to a volume; phase defaults to `Pending` and volume mode to
/// `Filesystem` (the API defaults).
pub(crate) fn pvc_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let phase = if deleting(obj) {
        "Terminating"
    } else {
        str_or(obj, &["status", "phase"], "Pending")
    };
    let volume = str_at(obj, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            str_at(obj, &["status", "capacity", "storage"]).to_owned(),
            access_modes(arr_at(obj, &["status", "accessModes"])),
        )
    };
    let class = opt_str(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .or_else(|| opt_str(obj, &["spec", "storageClassName"]))
    .unwrap_or("");
    let vac = opt_str(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>");
    vec![
        name(obj),
        Value::from(phase),
        Value::from(volume),
        Value::from(capacity),
        Value::from(modes),
        Value::from(class),
        Value::from(vac),
        age(obj, now),
        Value::from(str_or(obj, &["spec", "volumeMode"], "Filesystem")),
    ]
}

/// Upstream `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// PodTemplate: Name, Containers, Images, Pod Labels (`printPodTemplate`; no Age column).
pub(crate) fn pod_template_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Containers", "string", CONTAINERS_DESC),
        col("Images", "string", IMAGES_DESC),
        col("Pod Labels", "string", "The labels for the pod template."),
    ]
}

/// PodTemplate cells: the template's containers and its labels (`<none>` without).
pub(crate) fn pod_template_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let [names, images] = container_cells(arr_at(obj, &["template", "spec", "containers"]));
    vec![
        name(obj),
        names,
        images,
        Value::from(format_labels(at(obj, &["template", "metadata", "labels"]))),
    ]
}
