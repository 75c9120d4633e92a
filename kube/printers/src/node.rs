//! Node: status from the Ready condition plus cordoning, roles from labels,
//! and the wide node-info columns.

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{
    age, age_column, arr_at, at, bool_at, col, name, name_column, str_at, str_or, wide,
};

/// Node: Name, Status, Roles, Age, Version; wide Internal-IP, External-IP,
/// OS-Image, Kernel-Version, Container-Runtime.
pub(crate) fn node_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        age_column(),
        col("Version", "string", d::NODE_KUBELET_VERSION),
        wide("Internal-IP", "string", d::NODE_ADDRESSES),
        wide("External-IP", "string", d::NODE_ADDRESSES),
        wide("OS-Image", "string", d::NODE_OS_IMAGE),
        wide("Kernel-Version", "string", d::NODE_KERNEL_VERSION),
        wide("Container-Runtime", "string", d::NODE_CONTAINER_RUNTIME),
    ]
}

/// Node cells, as upstream `printNode` with wide output.
pub(crate) fn node_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = arr_at(obj, &["status", "conditions"]);
    // Upstream keeps the last condition of each type.
    let ready = conditions
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready")
        .map(|c| str_at(c, &["status"]));
    let mut status: Vec<&str> = vec![match ready {
        Some("True") => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(obj, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let roles = node_roles(obj);
    let info = |f: &str| Value::from(str_or(obj, &["status", "nodeInfo", f], "<unknown>"));
    vec![
        name(obj),
        Value::from(status.join(",")),
        Value::from(if roles.is_empty() {
            "<none>".to_owned()
        } else {
            roles
        }),
        age(obj, now),
        Value::from(str_at(obj, &["status", "nodeInfo", "kubeletVersion"])),
        Value::from(address(obj, "InternalIP")),
        Value::from(address(obj, "ExternalIP")),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

/// Upstream `findNodeRoles`: `node-role.kubernetes.io/<role>` label keys and
/// the `kubernetes.io/role` label value, sorted and de-duplicated.
fn node_roles(obj: &Value) -> String {
    let mut roles: Vec<String> = at(obj, &["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        (!role.is_empty()).then(|| role.to_owned())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    roles.join(",")
}

/// The first address of `kind`, or `<none>`.
fn address(obj: &Value, kind: &str) -> String {
    arr_at(obj, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == kind)
        .map_or_else(
            || "<none>".to_owned(),
            |a| str_at(a, &["address"]).to_owned(),
        )
}
