//! Descriptors of the `scheduling.k8s.io/v1` messages: PriorityClass and their parts.
//!
//! Field numbers are those of k8s.io/api's `scheduling/v1` protobuf definitions; the flags follow
//! the Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { PRIORITY_CLASS = "PriorityClass" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "value" i32; 3 "globalDefault" bool omit;
    4 "description" str omit; 5 "preemptionPolicy" str omit ptr;
}}
