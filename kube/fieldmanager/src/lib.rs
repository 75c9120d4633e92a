//! Server-side apply and `metadata.managedFields` bookkeeping for a Kubernetes-compatible API
//! server, as pure functions over `serde_json::Value`.
//!
//! Every write records which fields its manager now owns: [`apply`] for server-side apply
//! (operation `Apply`, with conflict detection and pruning of fields the applier gave up) and
//! [`record_update`] for every other write (operation `Update`, taking over whatever changed).
//! Ownership is stored in each object's `metadata.managedFields` in kube's `FieldsV1` encoding,
//! so clients such as `kubectl` read it as they read kube-apiserver's.
//!
//! Without OpenAPI schemas, list semantics come from `cceone_kube_patch::keys`: list-maps merge
//! by their key fields, set lists (`metadata.finalizers`) by value, every other list is atomic,
//! and every map is granular (kube treats a few struct types, like label selectors, as atomic).

mod apply;
mod fieldset;
mod managed;
mod merge;
mod path;
mod update;

#[cfg(test)]
mod tests;

pub use apply::apply;
pub use update::record_update;

/// A field owned by another manager that an apply would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The name of the manager owning the field.
    pub manager: String,
    /// The field, like `.spec.replicas` or `.spec.template.spec.containers[name="nginx"].image`.
    pub field: String,
    /// The operation of the owning entry: `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion of the owning entry.
    pub api_version: String,
    /// The subresource of the owning entry, if any.
    pub subresource: Option<String>,
    /// The time of the owning entry, if recorded.
    pub time: Option<String>,
}

impl Conflict {
    /// The owning manager as kube prints it: `"kubectl" with subresource "status" using apps/v1`
    /// (apiVersion only for `Update` entries). kube builds the text from the manager identifier,
    /// which never carries the entry's time, so the time is not printed.
    pub fn manager_description(&self) -> String {
        let mut out = quote(&self.manager);
        if let Some(subresource) = &self.subresource {
            out = format!("{out} with subresource {}", quote(subresource));
        }
        if self.operation == managed::UPDATE {
            out = format!("{out} using {}", self.api_version);
        }
        out
    }

    /// The message of the conflict's status cause, as kube words it: `conflict with "kubectl"
    /// using apps/v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }
}

/// `text` as a double-quoted string literal.
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// kube's message for a set of apply conflicts.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: {}: {}",
            only.message(),
            only.field
        );
    }
    let mut managers: Vec<String> = conflicts
        .iter()
        .map(Conflict::manager_description)
        .collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for conflict in conflicts {
            if conflict.manager_description() == manager {
                lines.push(format!("- {}", conflict.field));
            }
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Why a server-side apply was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    /// Another manager owns fields this apply would change (HTTP 409). Displays like kube:
    /// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1:
    /// .spec.replicas`.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid object (e.g. not a map, list item missing its
    /// key fields). The message names the field path.
    #[error("{0}")]
    Invalid(String),
}
