//! `policy.karmada.io/v1alpha1` PropagationPolicy / ClusterPropagationPolicy and OverridePolicy /
//! ClusterOverridePolicy (Karmada `pkg/apis/policy/v1alpha1/propagation_types.go` and
//! `override_types.go`). The namespaced and cluster-wide kinds share their specs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meta::{Extra, LabelSelector, Object, Requirement, list, text};

/// A PropagationPolicy or ClusterPropagationPolicy (`kind` tells which).
pub type PropagationPolicy = Object<PropagationSpec, Value>;

/// An OverridePolicy or ClusterOverridePolicy (`kind` tells which).
pub type OverridePolicy = Object<OverrideSpec, Value>;

/// `apiVersion` of the policies.
pub const POLICY_API_VERSION: &str = "policy.karmada.io/v1alpha1";

/// `PropagationSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropagationSpec {
    /// `resourceSelectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_selectors: Option<Vec<ResourceSelector>>,
    /// `association` (deprecated for `propagateDeps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association: Option<bool>,
    /// `propagateDeps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_deps: Option<bool>,
    /// `placement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// `priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// `preemption`: `Always` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption: Option<String>,
    /// `dependentOverrides`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependent_overrides: Option<Vec<String>>,
    /// `schedulerName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// `failover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverBehavior>,
    /// `conflictResolution`: `Overwrite` or `Abort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<String>,
    /// `activationPreference`: `Lazy` or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_preference: Option<String>,
    /// `suspension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Suspension>,
    /// `preserveResourcesOnDeletion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_resources_on_deletion: Option<bool>,
    /// Anything else (`schedulePriority`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl PropagationSpec {
    /// The resource selectors (empty when absent).
    pub fn resource_selectors(&self) -> &[ResourceSelector] {
        list(&self.resource_selectors)
    }
}

/// `ResourceSelector`: which templates a policy claims.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSelector {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `labelSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResourceSelector {
    /// `namespace`, or `""`.
    pub fn namespace(&self) -> &str {
        text(&self.namespace)
    }

    /// `name`, or `""`.
    pub fn name(&self) -> &str {
        text(&self.name)
    }
}

/// `Placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// `clusterAffinity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_affinity: Option<ClusterAffinity>,
    /// `clusterAffinities`: ordered groups, tried in turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_affinities: Option<Vec<ClusterAffinityTerm>>,
    /// `clusterTolerations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_tolerations: Option<Vec<Toleration>>,
    /// `spreadConstraints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_constraints: Option<Vec<SpreadConstraint>>,
    /// `replicaScheduling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_scheduling: Option<ReplicaScheduling>,
    /// Anything else (`workloadAffinity`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Placement {
    /// The cluster tolerations (empty when absent).
    pub fn cluster_tolerations(&self) -> &[Toleration] {
        list(&self.cluster_tolerations)
    }

    /// The spread constraints (empty when absent).
    pub fn spread_constraints(&self) -> &[SpreadConstraint] {
        list(&self.spread_constraints)
    }

    /// The ordered affinity groups (empty when absent).
    pub fn cluster_affinities(&self) -> &[ClusterAffinityTerm] {
        list(&self.cluster_affinities)
    }
}

/// `ClusterAffinity`: clusters by name, label and field, minus exclusions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAffinity {
    /// `labelSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// `fieldSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<FieldSelector>,
    /// `clusterNames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_names: Option<Vec<String>>,
    /// `exclude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ClusterAffinity {
    /// The cluster names (empty when absent).
    pub fn cluster_names(&self) -> &[String] {
        list(&self.cluster_names)
    }

    /// The excluded names (empty when absent).
    pub fn exclude(&self) -> &[String] {
        list(&self.exclude)
    }
}

/// `ClusterAffinityTerm`: a named affinity group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAffinityTerm {
    /// `affinityName`.
    #[serde(default)]
    pub affinity_name: String,
    /// The group's affinity (`clusterNames`, `labelSelector`, ... inline).
    #[serde(flatten)]
    pub affinity: ClusterAffinity,
}

/// `FieldSelector`: requirements on `provider`, `region` and `zone`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSelector {
    /// `matchExpressions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<Requirement>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `corev1.Toleration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `operator`: `Exists` or `Equal` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `effect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// `tolerationSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `SpreadConstraint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpreadConstraint {
    /// `spreadByField`: `cluster`, `region`, `zone` or `provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_by_field: Option<String>,
    /// `spreadByLabel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_by_label: Option<String>,
    /// `maxGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_groups: Option<i64>,
    /// `minGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_groups: Option<i64>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ReplicaSchedulingStrategy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaScheduling {
    /// `replicaSchedulingType`: `Duplicated` (default) or `Divided`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_scheduling_type: Option<String>,
    /// `replicaDivisionPreference`: `Aggregated` or `Weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_division_preference: Option<String>,
    /// `weightPreference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_preference: Option<WeightPreference>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ClusterPreferences`: static weights, or a dynamic weight factor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightPreference {
    /// `staticWeightList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_weight_list: Option<Vec<StaticWeight>>,
    /// `dynamicWeight`: `AvailableReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_weight: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `StaticClusterWeight`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticWeight {
    /// `targetCluster`.
    #[serde(default)]
    pub target_cluster: ClusterAffinity,
    /// `weight`.
    #[serde(default)]
    pub weight: i64,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `FailoverBehavior`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverBehavior {
    /// `application`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<ApplicationFailover>,
    /// `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterFailover>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ApplicationFailoverBehavior`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationFailover {
    /// `decisionConditions.tolerationSeconds` and the rest of `decisionConditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_conditions: Option<Value>,
    /// `purgeMode`: `Directly` / `Immediately`, `Gracefully` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_mode: Option<String>,
    /// `gracePeriodSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    /// `statePreservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_preservation: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ClusterFailoverBehavior`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFailover {
    /// `purgeMode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_mode: Option<String>,
    /// `statePreservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_preservation: Option<Value>,
    /// `failback` (this federation's, beyond Karmada): `Always` brings replicas back by the
    /// placement's wishes when a cluster they could run on is Ready again; `Never` (the
    /// default, Karmada's behaviour) leaves them where failover put them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl FailoverBehavior {
    /// Whether `failover.cluster.failback` is `Always`.
    pub fn fails_back(&self) -> bool {
        self.cluster.as_ref().and_then(|c| c.failback.as_deref()) == Some("Always")
    }
}

/// `Suspension`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suspension {
    /// `dispatching`: suspends dispatching to every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatching: Option<bool>,
    /// `dispatchingOnClusters`: suspends dispatching to some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatching_on_clusters: Option<SuspendClusters>,
    /// `scheduling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Suspension {
    /// Whether dispatching to `cluster` is suspended.
    pub fn suspends(&self, cluster: &str) -> bool {
        self.dispatching == Some(true)
            || self
                .dispatching_on_clusters
                .as_ref()
                .is_some_and(|c| list(&c.cluster_names).iter().any(|n| n == cluster))
    }
}

/// `SuspendClusters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuspendClusters {
    /// `clusterNames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_names: Option<Vec<String>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `OverrideSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideSpec {
    /// `resourceSelectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_selectors: Option<Vec<ResourceSelector>>,
    /// `overrideRules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_rules: Option<Vec<RuleWithCluster>>,
    /// `targetCluster` (deprecated, with `overriders`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cluster: Option<ClusterAffinity>,
    /// `overriders` (deprecated, with `targetCluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overriders: Option<Overriders>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl OverrideSpec {
    /// The resource selectors (empty when absent).
    pub fn resource_selectors(&self) -> &[ResourceSelector] {
        list(&self.resource_selectors)
    }

    /// The rules: `overrideRules`, or the deprecated `targetCluster` + `overriders` pair as
    /// one rule (Karmada reads them the same way when `overrideRules` is empty).
    pub fn rules(&self) -> Vec<RuleWithCluster> {
        match &self.override_rules {
            Some(rules) if !rules.is_empty() => rules.clone(),
            _ => match &self.overriders {
                Some(o) => vec![RuleWithCluster {
                    target_cluster: self.target_cluster.clone(),
                    overriders: o.clone(),
                    extra: Extra::new(),
                }],
                None => Vec::new(),
            },
        }
    }
}

/// `RuleWithCluster`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleWithCluster {
    /// `targetCluster`: every cluster when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cluster: Option<ClusterAffinity>,
    /// `overriders`.
    #[serde(default)]
    pub overriders: Overriders,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `Overriders`, applied in this order: plaintext, image, command, args, labels, annotations,
/// field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overriders {
    /// `plaintext`: JSON patch operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Vec<PlaintextOverrider>>,
    /// `imageOverrider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_overrider: Option<Vec<ImageOverrider>>,
    /// `commandOverrider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_overrider: Option<Vec<CommandArgsOverrider>>,
    /// `argsOverrider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_overrider: Option<Vec<CommandArgsOverrider>>,
    /// `labelsOverrider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_overrider: Option<Vec<MapOverrider>>,
    /// `annotationsOverrider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations_overrider: Option<Vec<MapOverrider>>,
    /// `fieldOverrider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_overrider: Option<Vec<FieldOverrider>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `PlaintextOverrider`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaintextOverrider {
    /// `path`: a JSON pointer.
    #[serde(default)]
    pub path: String,
    /// `operator`: `add`, `remove` or `replace`.
    #[serde(default)]
    pub operator: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ImageOverrider`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageOverrider {
    /// `predicate.path`: which image; every container's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<ImagePredicate>,
    /// `component`: `Registry`, `Repository` or `Tag`.
    #[serde(default)]
    pub component: String,
    /// `operator`: `add`, `remove` or `replace`.
    #[serde(default)]
    pub operator: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ImagePredicate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagePredicate {
    /// `path`.
    #[serde(default)]
    pub path: String,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `CommandArgsOverrider`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandArgsOverrider {
    /// `containerName`.
    #[serde(default)]
    pub container_name: String,
    /// `operator`: `add` or `remove`.
    #[serde(default)]
    pub operator: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Vec<String>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `LabelAnnotationOverrider`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapOverrider {
    /// `operator`: `add`, `remove` or `replace`.
    #[serde(default)]
    pub operator: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<BTreeMap<String, String>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `FieldOverrider`: patches inside a field holding JSON or YAML text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldOverrider {
    /// `fieldPath`: a JSON pointer to the text.
    #[serde(default)]
    pub field_path: String,
    /// `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Vec<PatchOperation>>,
    /// `yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaml: Option<Vec<PatchOperation>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `JSONPatchOperation` / `YAMLPatchOperation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchOperation {
    /// `subPath`.
    #[serde(default)]
    pub sub_path: String,
    /// `operator`.
    #[serde(default)]
    pub operator: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}
