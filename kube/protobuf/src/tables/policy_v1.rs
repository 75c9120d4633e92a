//! Descriptors of the `policy/v1` messages: PodDisruptionBudget, Eviction and their parts.
//!
//! Field numbers are those of k8s.io/api's `policy/v1` protobuf definitions; the flags follow the
//! Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { EVICTION = "Eviction" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit;
    2 "deleteOptions" msg(meta_v1::DELETE_OPTIONS) omit ptr;
}}
message! { POD_DISRUPTION_BUDGET = "PodDisruptionBudget" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(POD_DISRUPTION_BUDGET_SPEC) omit;
    3 "status" msg(POD_DISRUPTION_BUDGET_STATUS) omit;
}}
message! { POD_DISRUPTION_BUDGET_SPEC = "PodDisruptionBudgetSpec" {
    1 "minAvailable" ios omit ptr; 2 "selector" msg(meta_v1::LABEL_SELECTOR) omit ptr;
    3 "maxUnavailable" ios omit ptr; 4 "unhealthyPodEvictionPolicy" str omit ptr;
}}
message! { POD_DISRUPTION_BUDGET_STATUS = "PodDisruptionBudgetStatus" {
    1 "observedGeneration" i64 omit; 2 "disruptedPods" time map omit;
    3 "disruptionsAllowed" i32; 4 "currentHealthy" i32; 5 "desiredHealthy" i32;
    6 "expectedPods" i32; 7 "conditions" msg(meta_v1::CONDITION) list omit;
}}
