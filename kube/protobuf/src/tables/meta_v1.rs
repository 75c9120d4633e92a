//! Descriptors of the `meta.k8s.io/v1` messages that API objects embed (ObjectMeta, LabelSelector,
//! Condition, ...) and of DeleteOptions.
//!
//! Field numbers are those of k8s.io/apimachinery's `pkg/apis/meta/v1` protobuf definitions; the
//! flags follow the Go struct tags (see [`crate::descriptor`]).

message! { CONDITION = "Condition" {
    1 "type" str; 2 "status" str; 3 "observedGeneration" i64 omit; 4 "lastTransitionTime" time;
    5 "reason" str; 6 "message" str;
}}
message! { DELETE_OPTIONS = "DeleteOptions" {
    1 "gracePeriodSeconds" i64 omit ptr; 2 "preconditions" msg(PRECONDITIONS) omit ptr;
    3 "orphanDependents" bool omit ptr; 4 "propagationPolicy" str omit ptr;
    5 "dryRun" str list omit;
    6 "ignoreStoreReadErrorWithClusterBreakingPotential" bool omit ptr;
}}
message! { LABEL_SELECTOR = "LabelSelector" {
    1 "matchLabels" str map omit;
    2 "matchExpressions" msg(LABEL_SELECTOR_REQUIREMENT) list omit;
}}
message! { LABEL_SELECTOR_REQUIREMENT = "LabelSelectorRequirement" {
    1 "key" str; 2 "operator" str; 3 "values" str list omit;
}}
message! { MANAGED_FIELDS_ENTRY = "ManagedFieldsEntry" {
    1 "manager" str omit; 2 "operation" str omit; 3 "apiVersion" str omit;
    4 "time" time omit ptr; 6 "fieldsType" str omit; 7 "fieldsV1" raw omit ptr;
    8 "subresource" str omit;
}}
message! { OBJECT_META = "ObjectMeta" {
    1 "name" str omit; 2 "generateName" str omit; 3 "namespace" str omit; 4 "selfLink" str omit;
    5 "uid" str omit; 6 "resourceVersion" str omit; 7 "generation" i64 omit;
    8 "creationTimestamp" time omit; 9 "deletionTimestamp" time omit ptr;
    10 "deletionGracePeriodSeconds" i64 omit ptr; 11 "labels" str map omit;
    12 "annotations" str map omit; 13 "ownerReferences" msg(OWNER_REFERENCE) list omit;
    14 "finalizers" str list omit; 17 "managedFields" msg(MANAGED_FIELDS_ENTRY) list omit;
}}
message! { OWNER_REFERENCE = "OwnerReference" {
    1 "kind" str; 3 "name" str; 4 "uid" str; 5 "apiVersion" str; 6 "controller" bool omit ptr;
    7 "blockOwnerDeletion" bool omit ptr;
}}
message! { PRECONDITIONS = "Preconditions" {
    1 "uid" str omit ptr; 2 "resourceVersion" str omit ptr;
}}
