//! `work.karmada.io/v1alpha2` ResourceBinding / ClusterResourceBinding (Karmada
//! `pkg/apis/work/v1alpha2/binding_types.go`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meta::{Condition, Extra, Object, list, text};
use crate::policy::{FailoverBehavior, Placement, Suspension};

/// A ResourceBinding or ClusterResourceBinding (`kind` tells which).
pub type ResourceBinding = Object<BindingSpec, BindingStatus>;

/// `apiVersion` of the bindings.
pub const BINDING_API_VERSION: &str = "work.karmada.io/v1alpha2";

/// `ResourceBindingSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingSpec {
    /// `resource`: the template.
    #[serde(default, skip_serializing_if = "ObjectReference::is_empty")]
    pub resource: ObjectReference,
    /// `propagateDeps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_deps: Option<bool>,
    /// `replicaRequirements`: what one replica needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_requirements: Option<ReplicaRequirements>,
    /// `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `clusters`: the scheduling result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<TargetCluster>>,
    /// `placement`: copied from the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// `gracefulEvictionTasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_eviction_tasks: Option<Vec<GracefulEvictionTask>>,
    /// `requiredBy`: the bindings this one was attached to (dependencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_by: Option<Vec<BindingSnapshot>>,
    /// `schedulerName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// `failover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverBehavior>,
    /// `conflictResolution`: `Overwrite` or `Abort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<String>,
    /// `rescheduleTriggeredAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule_triggered_at: Option<String>,
    /// `suspension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Suspension>,
    /// `preserveResourcesOnDeletion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_resources_on_deletion: Option<bool>,
    /// Anything else (`components`, `schedulePriority`, `workloadAffinityGroups`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl BindingSpec {
    /// The scheduled clusters (empty when absent).
    pub fn clusters(&self) -> &[TargetCluster] {
        list(&self.clusters)
    }

    /// The graceful eviction tasks (empty when absent).
    pub fn graceful_eviction_tasks(&self) -> &[GracefulEvictionTask] {
        list(&self.graceful_eviction_tasks)
    }

    /// `schedulerName`, or `""`.
    pub fn scheduler_name(&self) -> &str {
        text(&self.scheduler_name)
    }

    /// Whether the binding is of a workload (it has replicas or per-replica requirements).
    pub fn is_workload(&self) -> bool {
        self.replicas.unwrap_or(0) > 0 || self.replica_requirements.is_some()
    }

    /// Whether dispatching to `cluster` is suspended.
    pub fn suspends(&self, cluster: &str) -> bool {
        self.suspension
            .as_ref()
            .is_some_and(|s| s.suspends(cluster))
    }
}

/// `ObjectReference`: the template a binding stands for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `resourceVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ObjectReference {
    /// Whether nothing is set (a spec without `resource` writes none).
    pub fn is_empty(&self) -> bool {
        *self == ObjectReference::default()
    }

    /// `namespace`, or `""`.
    pub fn namespace(&self) -> &str {
        text(&self.namespace)
    }

    /// `uid`, or `""`.
    pub fn uid(&self) -> &str {
        text(&self.uid)
    }
}

/// `ReplicaRequirements`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaRequirements {
    /// `nodeClaim`: node selector, tolerations and required node affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_claim: Option<Value>,
    /// `resourceRequest`: quantities by resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_request: Option<BTreeMap<String, Value>>,
    /// Anything else (`namespace`, `priorityClassName`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TargetCluster`: one cluster of a scheduling result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCluster {
    /// The cluster's name.
    pub name: String,
    /// Replicas for this cluster; `None` for resources without replicas (ConfigMaps,
    /// Services, ...), which are propagated whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Anything else (`components`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl TargetCluster {
    /// A cluster with its replicas.
    pub fn new(name: impl Into<String>, replicas: Option<i32>) -> Self {
        TargetCluster {
            name: name.into(),
            replicas,
            extra: Extra::new(),
        }
    }
}

/// `GracefulEvictionTask`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulEvictionTask {
    /// `fromCluster`.
    #[serde(default)]
    pub from_cluster: String,
    /// `purgeMode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_mode: Option<String>,
    /// `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `producer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// `gracePeriodSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    /// `suppressDeletion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_deletion: Option<bool>,
    /// `creationTimestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Anything else (`preservedLabelState`, `clustersBeforeFailover`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl GracefulEvictionTask {
    /// `purgeMode`, or `""`.
    pub fn purge_mode(&self) -> &str {
        text(&self.purge_mode)
    }
}

/// `BindingSnapshot`: a binding that requires this one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BindingSnapshot {
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `clusters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<TargetCluster>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ResourceBindingStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingStatus {
    /// `schedulerObservedGeneration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_observed_generation: Option<i64>,
    /// `schedulerObservingAffinityName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_observing_affinity_name: Option<String>,
    /// `lastScheduledTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scheduled_time: Option<String>,
    /// `conditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// `aggregatedStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregated_status: Option<Vec<AggregatedStatusItem>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl BindingStatus {
    /// The conditions (empty when absent).
    pub fn conditions(&self) -> &[Condition] {
        list(&self.conditions)
    }

    /// The aggregated statuses (empty when absent).
    pub fn aggregated_status(&self) -> &[AggregatedStatusItem] {
        list(&self.aggregated_status)
    }
}

/// `AggregatedStatusItem`: one cluster's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedStatusItem {
    /// `clusterName`.
    #[serde(default)]
    pub cluster_name: String,
    /// `status`: the member object's reflected status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// `applied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
    /// `appliedMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_message: Option<String>,
    /// `health`: `Healthy`, `Unhealthy` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResourceBinding {
    /// Whether this is a ClusterResourceBinding.
    pub fn is_cluster_scoped(&self) -> bool {
        self.kind == "ClusterResourceBinding"
    }

    /// The scheduled clusters.
    pub fn clusters(&self) -> &[TargetCluster] {
        self.spec.as_ref().map_or(&[], BindingSpec::clusters)
    }

    /// `status.schedulerObservedGeneration`.
    pub fn scheduler_observed_generation(&self) -> Option<i64> {
        self.status.as_ref()?.scheduler_observed_generation
    }
}
