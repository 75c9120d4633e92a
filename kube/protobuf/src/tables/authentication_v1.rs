//! Descriptors of the `authentication.k8s.io/v1` requests clients send: SelfSubjectReview
//! (`kubectl auth whoami`) and TokenReview. A `status` in a request is skipped.
//!
//! Field numbers are those of k8s.io/api's `authentication/v1` protobuf definitions; the flags
//! follow the Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { SELF_SUBJECT_REVIEW = "SelfSubjectReview" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit;
}}
message! { TOKEN_REVIEW = "TokenReview" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(TOKEN_REVIEW_SPEC);
}}
message! { TOKEN_REVIEW_SPEC = "TokenReviewSpec" {
    1 "token" str omit; 2 "audiences" str list omit;
}}
message! { TOKEN_REQUEST = "TokenRequest" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(TOKEN_REQUEST_SPEC);
}}
message! { TOKEN_REQUEST_SPEC = "TokenRequestSpec" {
    1 "audiences" str list; 3 "boundObjectRef" msg(BOUND_OBJECT_REFERENCE) ptr;
    4 "expirationSeconds" i64 ptr;
}}
message! { BOUND_OBJECT_REFERENCE = "BoundObjectReference" {
    1 "kind" str omit; 2 "apiVersion" str omit; 3 "name" str omit; 4 "uid" str omit;
}}
