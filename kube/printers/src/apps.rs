//! `apps` kinds: Deployment, ReplicaSet, StatefulSet and DaemonSet.

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{
    CONTAINERS_DESC, IMAGES_DESC, age, age_column, arr_at, at, col, container_cells,
    format_label_selector, format_labels, int_at, label_selector_string, name, name_column,
    opt_int, wide,
};

/// The pod template's containers of a workload.
fn template_containers(obj: &Value) -> &[Value] {
    arr_at(obj, &["spec", "template", "spec", "containers"])
}

/// `spec.replicas`, defaulting to 1 as the API does.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

/// Deployment: Name, Ready, Up-to-date, Available, Age; wide Containers,
/// Images, Selector.
pub(crate) fn deployment_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", d::DEPLOY_UPDATED),
        col("Available", "string", d::DEPLOY_AVAILABLE),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide("Selector", "string", d::DEPLOY_SELECTOR),
    ]
}

/// Deployment cells: `ready/desired`, updated and available replica counts.
pub(crate) fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = container_cells(template_containers(obj));
    let selector = label_selector_string(at(obj, &["spec", "selector"]))
        .unwrap_or_else(|()| "<invalid>".to_owned());
    vec![
        name(obj),
        Value::from(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        Value::from(int_at(obj, &["status", "updatedReplicas"])),
        Value::from(int_at(obj, &["status", "availableReplicas"])),
        age(obj, now),
        names,
        images,
        Value::from(selector),
    ]
}

/// ReplicaSet: Name, Desired, Current, Ready, Age; wide Containers, Images,
/// Selector.
pub(crate) fn replica_set_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Desired", "integer", d::RS_SPEC_REPLICAS),
        col("Current", "integer", d::RS_STATUS_REPLICAS),
        col("Ready", "integer", d::RS_STATUS_READY_REPLICAS),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide("Selector", "string", d::RS_SPEC_SELECTOR),
    ]
}

/// ReplicaSet cells.
pub(crate) fn replica_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = container_cells(template_containers(obj));
    vec![
        name(obj),
        Value::from(desired_replicas(obj)),
        Value::from(int_at(obj, &["status", "replicas"])),
        Value::from(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        names,
        images,
        Value::from(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

/// ReplicationController (core/v1): the ReplicaSet's columns, its selector a plain label map
/// (`printReplicationController` in `pkg/printers/internalversion/printers.go`).
pub(crate) fn replication_controller_columns() -> Vec<Column> {
    replica_set_columns()
}

/// ReplicationController cells.
pub(crate) fn replication_controller_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut cells = replica_set_cells(obj, now);
    if let Some(last) = cells.last_mut() {
        *last = Value::from(format_labels(at(obj, &["spec", "selector"])));
    }
    cells
}

/// StatefulSet: Name, Ready, Age; wide Containers, Images.
pub(crate) fn stateful_set_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Ready", "string", "Number of the pod with ready state"),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
    ]
}

/// StatefulSet cells: `ready/desired`.
pub(crate) fn stateful_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = container_cells(template_containers(obj));
    vec![
        name(obj),
        Value::from(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        age(obj, now),
        names,
        images,
    ]
}

/// DaemonSet: Name, Desired, Current, Ready, Up-to-date, Available, Node
/// Selector, Age; wide Containers, Images, Selector.
pub(crate) fn daemon_set_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Desired", "integer", d::DS_DESIRED),
        col("Current", "integer", d::DS_CURRENT),
        col("Ready", "integer", d::DS_READY),
        col("Up-to-date", "integer", d::DS_UPDATED),
        col("Available", "integer", d::DS_AVAILABLE),
        col("Node Selector", "string", d::POD_NODE_SELECTOR),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide("Selector", "string", d::DS_SELECTOR),
    ]
}

/// DaemonSet cells.
pub(crate) fn daemon_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = container_cells(template_containers(obj));
    let status = |f: &str| Value::from(int_at(obj, &["status", f]));
    vec![
        name(obj),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        Value::from(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age(obj, now),
        names,
        images,
        Value::from(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}
