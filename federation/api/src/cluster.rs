//! `cluster.karmada.io/v1alpha1` Cluster (Karmada `pkg/apis/cluster/v1alpha1/types.go`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meta::{Condition, Extra, Object, find_condition, list, text};

/// A member cluster as the federation sees it.
pub type Cluster = Object<ClusterSpec, ClusterStatus>;

/// `apiVersion` of a Cluster.
pub const CLUSTER_API_VERSION: &str = "cluster.karmada.io/v1alpha1";

/// `ClusterSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `syncMode`: `Push` or `Pull`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_mode: Option<String>,
    /// `apiEndpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// `provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// `zones`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    /// `taints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    /// Anything else (`secretRef`, `resourceModels`, `proxyURL`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ClusterSpec {
    /// The taints (empty when absent).
    pub fn taints(&self) -> &[Taint] {
        list(&self.taints)
    }

    /// `provider`, or `""`.
    pub fn provider(&self) -> &str {
        text(&self.provider)
    }

    /// `region`, or `""`.
    pub fn region(&self) -> &str {
        text(&self.region)
    }

    /// `zone`, or `""`.
    pub fn zone(&self) -> &str {
        text(&self.zone)
    }
}

/// `corev1.Taint` as a Cluster carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// `key`.
    #[serde(default)]
    pub key: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `effect`: `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: String,
    /// `timeAdded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Taint {
    /// `value`, or `""`.
    pub fn value(&self) -> &str {
        text(&self.value)
    }
}

/// `ClusterStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// `kubernetesVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// `apiEnablements`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_enablements: Option<Vec<ApiEnablement>>,
    /// `conditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// `nodeSummary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_summary: Option<NodeSummary>,
    /// `resourceSummary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_summary: Option<ResourceSummary>,
    /// Anything else (`remedyActions`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ClusterStatus {
    /// The conditions (empty when absent).
    pub fn conditions(&self) -> &[Condition] {
        list(&self.conditions)
    }

    /// The API enablements (empty when absent).
    pub fn api_enablements(&self) -> &[ApiEnablement] {
        list(&self.api_enablements)
    }
}

impl Cluster {
    /// The cluster's `Ready` condition.
    pub fn ready_condition(&self) -> Option<&Condition> {
        find_condition(self.status.as_ref()?.conditions(), "Ready")
    }

    /// The status of its `Ready` condition (`""` when it has none).
    pub fn ready_status(&self) -> &str {
        self.ready_condition().map_or("", |c| c.status.as_str())
    }

    /// Its taints.
    pub fn taints(&self) -> &[Taint] {
        self.spec.as_ref().map_or(&[], ClusterSpec::taints)
    }
}

/// `APIEnablement`: the resources of one group-version a cluster serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiEnablement {
    /// `groupVersion`.
    #[serde(default)]
    pub group_version: String,
    /// `resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ApiResource>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApiEnablement {
    /// The resources (empty when absent).
    pub fn resources(&self) -> &[ApiResource] {
        list(&self.resources)
    }
}

/// `APIResource`: a resource's plural name and kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiResource {
    /// `name` (plural).
    #[serde(default)]
    pub name: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `NodeSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// `totalNum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_num: Option<i64>,
    /// `readyNum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_num: Option<i64>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ResourceSummary`: quantities by resource name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSummary {
    /// `allocatable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<BTreeMap<String, Value>>,
    /// `allocating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocating: Option<BTreeMap<String, Value>>,
    /// `allocated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated: Option<BTreeMap<String, Value>>,
    /// Anything else (`allocatableModelings`).
    #[serde(flatten)]
    pub extra: Extra,
}
