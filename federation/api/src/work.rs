//! `work.karmada.io/v1alpha1` Work (Karmada `pkg/apis/work/v1alpha1/work_types.go`), the
//! execution spaces that hold them and the names they are given.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meta::{Condition, Extra, Object, list};
use crate::names;

/// The manifests destined for one member cluster.
pub type Work = Object<WorkSpec, WorkStatus>;

/// `apiVersion` of a Work.
pub const WORK_API_VERSION: &str = "work.karmada.io/v1alpha1";

/// `WorkSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkSpec {
    /// `workload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadTemplate>,
    /// `suspendDispatching`: the Work is not sent to its cluster while set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_dispatching: Option<bool>,
    /// `preserveResourcesOnDeletion`: the member objects stay when the Work goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_resources_on_deletion: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl WorkSpec {
    /// The manifests (empty when absent).
    pub fn manifests(&self) -> &[Value] {
        self.workload.as_ref().map_or(&[], |w| list(&w.manifests))
    }
}

/// `WorkloadTemplate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadTemplate {
    /// `manifests`: the objects to apply, untyped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `WorkStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkStatus {
    /// `conditions` (`Applied`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// `manifestStatuses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_statuses: Option<Vec<ManifestStatus>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl WorkStatus {
    /// The conditions (empty when absent).
    pub fn conditions(&self) -> &[Condition] {
        list(&self.conditions)
    }

    /// The manifest statuses (empty when absent).
    pub fn manifest_statuses(&self) -> &[ManifestStatus] {
        list(&self.manifest_statuses)
    }
}

/// `ManifestStatus`: one applied manifest's reflected status and health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestStatus {
    /// `identifier`.
    #[serde(default)]
    pub identifier: ResourceIdentifier,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// `health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ResourceIdentifier`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceIdentifier {
    /// `ordinal`: the manifest's index in the Work.
    #[serde(default)]
    pub ordinal: i64,
    /// `group`.
    #[serde(default)]
    pub group: String,
    /// `version`.
    #[serde(default)]
    pub version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Work {
    /// The manifests.
    pub fn manifests(&self) -> &[Value] {
        self.spec.as_ref().map_or(&[], WorkSpec::manifests)
    }

    /// Whether dispatching is suspended.
    pub fn suspended(&self) -> bool {
        self.spec
            .as_ref()
            .is_some_and(|s| s.suspend_dispatching == Some(true))
    }

    /// Whether the member objects stay when the Work goes.
    pub fn preserves_resources(&self) -> bool {
        self.spec
            .as_ref()
            .is_some_and(|s| s.preserve_resources_on_deletion == Some(true))
    }

    /// The cluster whose execution space holds the Work.
    pub fn cluster(&self) -> Option<&str> {
        cluster_of(self.namespace())
    }

    /// Its `Applied` condition, once the member has reported one.
    pub fn applied(&self) -> Option<&Condition> {
        let status = self.status.as_ref()?;
        crate::find_condition(status.conditions(), "Applied")
    }
}

/// The namespace holding a cluster's Works.
pub fn execution_space(cluster: &str) -> String {
    format!("{}{cluster}", names::EXECUTION_SPACE_PREFIX)
}

/// The cluster an execution space belongs to.
pub fn cluster_of(execution_space: &str) -> Option<&str> {
    execution_space.strip_prefix(names::EXECUTION_SPACE_PREFIX)
}

/// `names.GenerateWorkName`: `<name>-<hash>`, the hash being the FNV-1a of
/// `[<namespace>-]<name>-<kind>` (lower case, `:` in the name as `.`) written in decimal and
/// mapped onto `rand.SafeEncodeString`'s alphabet.
pub fn work_name(kind: &str, name: &str, namespace: &str) -> String {
    let name = name.replace(':', ".").to_lowercase();
    let key = if namespace.is_empty() {
        format!("{name}-{kind}")
    } else {
        format!("{namespace}-{name}-{kind}")
    }
    .to_lowercase();
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let encoded: String = hash
        .to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect();
    format!("{name}-{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(execution_space("member1"), "karmada-es-member1");
        assert_eq!(cluster_of("karmada-es-member1"), Some("member1"));
        // As Karmada's docs show it: `karmada-es-member1   nginx-687f7fb96f`.
        let n = work_name("Deployment", "nginx", "default");
        assert_eq!(n, "nginx-687f7fb96f");
        assert_eq!(n, work_name("Deployment", "NGINX", "default"));
        assert!(
            n["nginx-".len()..]
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
    }
}
