//! Descriptors of the `authorization.k8s.io/v1` review requests `kubectl auth can-i` and
//! client-go send: SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview and
//! LocalSubjectAccessReview. Only what a client sends is described (metadata and spec); a
//! `status` in a request is skipped like any unknown field.
//!
//! Field numbers are those of k8s.io/api's `authorization/v1` protobuf definitions; the flags
//! follow the Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { LOCAL_SUBJECT_ACCESS_REVIEW = "LocalSubjectAccessReview" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(SUBJECT_ACCESS_REVIEW_SPEC);
}}
message! { NON_RESOURCE_ATTRIBUTES = "NonResourceAttributes" {
    1 "path" str omit; 2 "verb" str omit;
}}
message! { RESOURCE_ATTRIBUTES = "ResourceAttributes" {
    1 "namespace" str omit; 2 "verb" str omit; 3 "group" str omit; 4 "version" str omit;
    5 "resource" str omit; 6 "subresource" str omit; 7 "name" str omit;
}}
message! { SELF_SUBJECT_ACCESS_REVIEW = "SelfSubjectAccessReview" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(SELF_SUBJECT_ACCESS_REVIEW_SPEC);
}}
message! { SELF_SUBJECT_ACCESS_REVIEW_SPEC = "SelfSubjectAccessReviewSpec" {
    1 "resourceAttributes" msg(RESOURCE_ATTRIBUTES) omit ptr;
    2 "nonResourceAttributes" msg(NON_RESOURCE_ATTRIBUTES) omit ptr;
}}
message! { SELF_SUBJECT_RULES_REVIEW = "SelfSubjectRulesReview" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(SELF_SUBJECT_RULES_REVIEW_SPEC);
}}
message! { SELF_SUBJECT_RULES_REVIEW_SPEC = "SelfSubjectRulesReviewSpec" {
    1 "namespace" str omit;
}}
message! { SUBJECT_ACCESS_REVIEW = "SubjectAccessReview" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(SUBJECT_ACCESS_REVIEW_SPEC);
}}
message! { SUBJECT_ACCESS_REVIEW_SPEC = "SubjectAccessReviewSpec" {
    1 "resourceAttributes" msg(RESOURCE_ATTRIBUTES) omit ptr;
    2 "nonResourceAttributes" msg(NON_RESOURCE_ATTRIBUTES) omit ptr;
    3 "user" str omit; 4 "groups" str list omit; 6 "uid" str omit;
}}
