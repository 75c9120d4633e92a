//! Descriptors of the `apps/v1` messages: Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! ControllerRevision and their parts.
//!
//! Field numbers are those of k8s.io/api's `apps/v1` protobuf definitions; the flags follow the Go
//! struct tags (see [`crate::descriptor`]).

use super::{core_v1, meta_v1};

message! { CONTROLLER_REVISION = "ControllerRevision" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "data" raw omit; 3 "revision" i64;
}}
message! { DAEMON_SET = "DaemonSet" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(DAEMON_SET_SPEC) omit;
    3 "status" msg(DAEMON_SET_STATUS) omit;
}}
message! { DAEMON_SET_CONDITION = "DaemonSetCondition" {
    1 "type" str; 2 "status" str; 3 "lastTransitionTime" time omit; 4 "reason" str omit;
    5 "message" str omit;
}}
message! { DAEMON_SET_SPEC = "DaemonSetSpec" {
    1 "selector" msg(meta_v1::LABEL_SELECTOR) ptr; 2 "template" msg(core_v1::POD_TEMPLATE_SPEC);
    3 "updateStrategy" msg(DAEMON_SET_UPDATE_STRATEGY) omit; 4 "minReadySeconds" i32 omit;
    6 "revisionHistoryLimit" i32 omit ptr;
}}
message! { DAEMON_SET_STATUS = "DaemonSetStatus" {
    1 "currentNumberScheduled" i32; 2 "numberMisscheduled" i32; 3 "desiredNumberScheduled" i32;
    4 "numberReady" i32; 5 "observedGeneration" i64 omit; 6 "updatedNumberScheduled" i32 omit;
    7 "numberAvailable" i32 omit; 8 "numberUnavailable" i32 omit;
    9 "collisionCount" i32 omit ptr; 10 "conditions" msg(DAEMON_SET_CONDITION) list omit;
}}
message! { DAEMON_SET_UPDATE_STRATEGY = "DaemonSetUpdateStrategy" {
    1 "type" str omit; 2 "rollingUpdate" msg(ROLLING_UPDATE_DAEMON_SET) omit ptr;
}}
message! { DEPLOYMENT = "Deployment" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(DEPLOYMENT_SPEC) omit;
    3 "status" msg(DEPLOYMENT_STATUS) omit;
}}
message! { DEPLOYMENT_CONDITION = "DeploymentCondition" {
    1 "type" str; 2 "status" str; 4 "reason" str omit; 5 "message" str omit;
    6 "lastUpdateTime" time omit; 7 "lastTransitionTime" time omit;
}}
message! { DEPLOYMENT_SPEC = "DeploymentSpec" {
    1 "replicas" i32 omit ptr; 2 "selector" msg(meta_v1::LABEL_SELECTOR) ptr;
    3 "template" msg(core_v1::POD_TEMPLATE_SPEC); 4 "strategy" msg(DEPLOYMENT_STRATEGY) omit;
    5 "minReadySeconds" i32 omit; 6 "revisionHistoryLimit" i32 omit ptr; 7 "paused" bool omit;
    9 "progressDeadlineSeconds" i32 omit ptr;
}}
message! { DEPLOYMENT_STATUS = "DeploymentStatus" {
    1 "observedGeneration" i64 omit; 2 "replicas" i32 omit; 3 "updatedReplicas" i32 omit;
    4 "availableReplicas" i32 omit; 5 "unavailableReplicas" i32 omit;
    6 "conditions" msg(DEPLOYMENT_CONDITION) list omit; 7 "readyReplicas" i32 omit;
    8 "collisionCount" i32 omit ptr; 9 "terminatingReplicas" i32 omit ptr;
}}
message! { DEPLOYMENT_STRATEGY = "DeploymentStrategy" {
    1 "type" str omit; 2 "rollingUpdate" msg(ROLLING_UPDATE_DEPLOYMENT) omit ptr;
}}
message! { REPLICA_SET = "ReplicaSet" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(REPLICA_SET_SPEC) omit;
    3 "status" msg(REPLICA_SET_STATUS) omit;
}}
message! { REPLICA_SET_CONDITION = "ReplicaSetCondition" {
    1 "type" str; 2 "status" str; 3 "lastTransitionTime" time omit; 4 "reason" str omit;
    5 "message" str omit;
}}
message! { REPLICA_SET_SPEC = "ReplicaSetSpec" {
    1 "replicas" i32 omit ptr; 2 "selector" msg(meta_v1::LABEL_SELECTOR) ptr;
    3 "template" msg(core_v1::POD_TEMPLATE_SPEC) omit; 4 "minReadySeconds" i32 omit;
}}
message! { REPLICA_SET_STATUS = "ReplicaSetStatus" {
    1 "replicas" i32; 2 "fullyLabeledReplicas" i32 omit; 3 "observedGeneration" i64 omit;
    4 "readyReplicas" i32 omit; 5 "availableReplicas" i32 omit;
    6 "conditions" msg(REPLICA_SET_CONDITION) list omit; 7 "terminatingReplicas" i32 omit ptr;
}}
message! { ROLLING_UPDATE_DAEMON_SET = "RollingUpdateDaemonSet" {
    1 "maxUnavailable" ios omit ptr; 2 "maxSurge" ios omit ptr;
}}
message! { ROLLING_UPDATE_DEPLOYMENT = "RollingUpdateDeployment" {
    1 "maxUnavailable" ios omit ptr; 2 "maxSurge" ios omit ptr;
}}
message! { ROLLING_UPDATE_STATEFUL_SET_STRATEGY = "RollingUpdateStatefulSetStrategy" {
    1 "partition" i32 omit ptr; 2 "maxUnavailable" ios omit ptr;
}}
message! { STATEFUL_SET = "StatefulSet" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(STATEFUL_SET_SPEC) omit;
    3 "status" msg(STATEFUL_SET_STATUS) omit;
}}
message! { STATEFUL_SET_CONDITION = "StatefulSetCondition" {
    1 "type" str; 2 "status" str; 3 "lastTransitionTime" time omit; 4 "reason" str omit;
    5 "message" str omit;
}}
message! { STATEFUL_SET_ORDINALS = "StatefulSetOrdinals" {
    1 "start" i32;
}}
message! { STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY =
    "StatefulSetPersistentVolumeClaimRetentionPolicy" {
    1 "whenDeleted" str omit; 2 "whenScaled" str omit;
}}
message! { STATEFUL_SET_SPEC = "StatefulSetSpec" {
    1 "replicas" i32 omit ptr; 2 "selector" msg(meta_v1::LABEL_SELECTOR) ptr;
    3 "template" msg(core_v1::POD_TEMPLATE_SPEC);
    4 "volumeClaimTemplates" msg(core_v1::PERSISTENT_VOLUME_CLAIM) list omit;
    5 "serviceName" str; 6 "podManagementPolicy" str omit;
    7 "updateStrategy" msg(STATEFUL_SET_UPDATE_STRATEGY) omit;
    8 "revisionHistoryLimit" i32 omit ptr; 9 "minReadySeconds" i32 omit;
    10 "persistentVolumeClaimRetentionPolicy"
        msg(STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY) omit ptr;
    11 "ordinals" msg(STATEFUL_SET_ORDINALS) omit ptr;
}}
message! { STATEFUL_SET_STATUS = "StatefulSetStatus" {
    1 "observedGeneration" i64 omit; 2 "replicas" i32; 3 "readyReplicas" i32 omit;
    4 "currentReplicas" i32 omit; 5 "updatedReplicas" i32 omit; 6 "currentRevision" str omit;
    7 "updateRevision" str omit; 9 "collisionCount" i32 omit ptr;
    10 "conditions" msg(STATEFUL_SET_CONDITION) list omit; 11 "availableReplicas" i32;
}}
message! { STATEFUL_SET_UPDATE_STRATEGY = "StatefulSetUpdateStrategy" {
    1 "type" str omit; 2 "rollingUpdate" msg(ROLLING_UPDATE_STATEFUL_SET_STRATEGY) omit ptr;
}}
