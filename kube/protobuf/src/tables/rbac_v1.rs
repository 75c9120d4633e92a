//! Descriptors of the `rbac.authorization.k8s.io/v1` messages: Role, ClusterRole, RoleBinding,
//! ClusterRoleBinding and their parts.
//!
//! Field numbers are those of k8s.io/api's `rbac/v1` protobuf definitions; the flags follow the Go
//! struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { AGGREGATION_RULE = "AggregationRule" {
    1 "clusterRoleSelectors" msg(meta_v1::LABEL_SELECTOR) list omit;
}}
message! { CLUSTER_ROLE = "ClusterRole" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "rules" msg(POLICY_RULE) list;
    3 "aggregationRule" msg(AGGREGATION_RULE) omit ptr;
}}
message! { CLUSTER_ROLE_BINDING = "ClusterRoleBinding" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "subjects" msg(SUBJECT) list omit;
    3 "roleRef" msg(ROLE_REF);
}}
message! { POLICY_RULE = "PolicyRule" {
    1 "verbs" str list; 2 "apiGroups" str list omit; 3 "resources" str list omit;
    4 "resourceNames" str list omit; 5 "nonResourceURLs" str list omit;
}}
message! { ROLE = "Role" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "rules" msg(POLICY_RULE) list;
}}
message! { ROLE_BINDING = "RoleBinding" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "subjects" msg(SUBJECT) list omit;
    3 "roleRef" msg(ROLE_REF);
}}
message! { ROLE_REF = "RoleRef" {
    1 "apiGroup" str; 2 "kind" str; 3 "name" str;
}}
message! { SUBJECT = "Subject" {
    1 "kind" str; 2 "apiGroup" str omit; 3 "name" str; 4 "namespace" str omit;
}}
