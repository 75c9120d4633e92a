//! Server-side table printing for a Kubernetes-compatible API server.
//!
//! `kubectl get` asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
//! and prints whatever columns the server returns. This crate reproduces the
//! columns and cells kube-apiserver 1.32 produces:
//!
//! * [`builtin`] — the hand-written printers of built-in kinds (Pod, Node,
//!   Deployment, ...), mirroring `pkg/printers/internalversion`. Like
//!   kube-apiserver, cells are always generated for every column including the
//!   `-o wide` ones (priority 1); kubectl hides those itself.
//! * [`default_printer`] — `Name` and `Created At`, the generic table
//!   convertor used for kinds without a printer (Role, ClusterRole, CRDs, ...).
//! * [`crd_printer`] — a CRD version's `additionalPrinterColumns`.
//!
//! Everything is a pure function over `serde_json::Value`; "now" is passed in.

mod apps;
mod batch;
mod certificates;
mod cluster;
mod coordination;
mod core;
mod crd;
mod descriptions;
mod duration;
mod events;
mod jsonpath;
mod networking;
mod node;
mod pod;
mod rbac;
mod util;

#[cfg(test)]
mod tests;

use serde_json::{Value, json};

pub use crate::duration::human_duration;
pub use crate::jsonpath::json_path;

/// One column of a table, as kube-apiserver's `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Human readable column name, e.g. `"Name"` (kubectl upper-cases it).
    pub name: String,
    /// OpenAPI type: `"string"`, `"integer"`, `"number"`, `"boolean"` or `"date"`.
    pub type_: String,
    /// OpenAPI format modifier: `"name"` for the primary name column, else empty.
    pub format: String,
    /// Human readable description of the column.
    pub description: String,
    /// 0 shown always, 1 (and above) only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The TableColumnDefinition JSON: `{"name","type","format","description","priority"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// A printer for one kind: its columns and how to fill a row's cells.
pub trait Printer: Send + Sync {
    /// The column definitions, in order.
    fn columns(&self) -> Vec<Column>;
    /// One row's cells for `obj` (one per column, wide columns included), with
    /// ages computed relative to `now`.
    fn cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value>;
}

/// A printer made of a fixed column list and a cell function.
struct FnPrinter {
    columns: fn() -> Vec<Column>,
    cells: fn(&Value, jiff::Timestamp) -> Vec<Value>,
}

impl Printer for FnPrinter {
    fn columns(&self) -> Vec<Column> {
        (self.columns)()
    }

    fn cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        (self.cells)(obj, now)
    }
}

/// Boxes a column function and a cell function as a [`Printer`].
fn printer(
    columns: fn() -> Vec<Column>,
    cells: fn(&Value, jiff::Timestamp) -> Vec<Value>,
) -> Box<dyn Printer> {
    Box::new(FnPrinter { columns, cells })
}

/// The printer for a built-in kind (group `""` for core), or None.
///
/// Kinds kube-apiserver prints with its generic convertor (Role, ClusterRole,
/// CustomResourceDefinition) get [`default_printer`].
pub fn builtin(group: &str, kind: &str) -> Option<Box<dyn Printer>> {
    let p = match (group, kind) {
        ("", "Namespace") => printer(crate::core::namespace_columns, crate::core::namespace_cells),
        ("", "ConfigMap") => printer(
            crate::core::config_map_columns,
            crate::core::config_map_cells,
        ),
        ("", "Secret") => printer(crate::core::secret_columns, crate::core::secret_cells),
        ("", "ServiceAccount") => printer(
            crate::core::service_account_columns,
            crate::core::service_account_cells,
        ),
        ("", "Service") => printer(crate::core::service_columns, crate::core::service_cells),
        ("", "Endpoints") => printer(crate::core::endpoints_columns, crate::core::endpoints_cells),
        ("", "PersistentVolumeClaim") => printer(crate::core::pvc_columns, crate::core::pvc_cells),
        ("", "PodTemplate") => printer(
            crate::core::pod_template_columns,
            crate::core::pod_template_cells,
        ),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            printer(certificates::csr_columns, certificates::csr_cells)
        }
        ("", "ResourceQuota") => printer(cluster::quota_columns, cluster::quota_cells),
        ("policy", "PodDisruptionBudget") => printer(cluster::pdb_columns, cluster::pdb_cells),
        ("discovery.k8s.io", "EndpointSlice") => printer(
            cluster::endpoint_slice_columns,
            cluster::endpoint_slice_cells,
        ),
        ("", "Pod") => printer(pod::pod_columns, pod::pod_cells),
        ("", "Node") => printer(node::node_columns, node::node_cells),
        ("", "Event") => printer(events::event_columns, events::core_event_cells),
        ("events.k8s.io", "Event") => printer(events::event_columns, events::events_v1_cells),
        ("coordination.k8s.io", "Lease") => {
            printer(coordination::lease_columns, coordination::lease_cells)
        }
        ("apps", "Deployment") => printer(apps::deployment_columns, apps::deployment_cells),
        ("apps", "ReplicaSet") => printer(apps::replica_set_columns, apps::replica_set_cells),
        ("", "ReplicationController") => printer(
            apps::replication_controller_columns,
            apps::replication_controller_cells,
        ),
        ("apps", "StatefulSet") => printer(apps::stateful_set_columns, apps::stateful_set_cells),
        ("apps", "DaemonSet") => printer(apps::daemon_set_columns, apps::daemon_set_cells),
        ("batch", "Job") => printer(batch::job_columns, batch::job_cells),
        ("batch", "CronJob") => printer(batch::cron_job_columns, batch::cron_job_cells),
        ("networking.k8s.io", "Ingress") => {
            printer(networking::ingress_columns, networking::ingress_cells)
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            printer(rbac::role_binding_columns, rbac::role_binding_cells)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            printer(rbac::cluster_role_binding_columns, rbac::role_binding_cells)
        }
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => default_printer(),
        _ => return None,
    };
    Some(p)
}

/// The default printer for kinds without one: `Name` and `Created At` (type
/// date, cell an RFC 3339 UTC timestamp), as kube-apiserver's default table
/// convertor.
pub fn default_printer() -> Box<dyn Printer> {
    printer(crd::default_columns, crd::default_cells)
}

/// A printer from a CRD version's `additionalPrinterColumns` (the JSON array):
/// `Name` first, then each column (jsonPath evaluated on the object;
/// type/format/description/priority from the definition); when the array is
/// empty or absent, `Name` + `Age` like kube. Every `date` column (such as
/// `.metadata.creationTimestamp`) prints as an age, as kube's CRD convertor.
pub fn crd_printer(additional_printer_columns: &Value) -> Box<dyn Printer> {
    Box::new(crd::CrdPrinter::new(additional_printer_columns))
}
