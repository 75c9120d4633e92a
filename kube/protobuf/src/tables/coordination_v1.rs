//! Descriptors of the `coordination.k8s.io/v1` messages: Lease and their parts.
//!
//! Field numbers are those of k8s.io/api's `coordination/v1` protobuf definitions; the flags follow
//! the Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { LEASE = "Lease" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(LEASE_SPEC) omit;
}}
message! { LEASE_SPEC = "LeaseSpec" {
    1 "holderIdentity" str omit ptr; 2 "leaseDurationSeconds" i32 omit ptr;
    3 "acquireTime" mtime omit ptr; 4 "renewTime" mtime omit ptr;
    5 "leaseTransitions" i32 omit ptr; 6 "strategy" str omit ptr;
    7 "preferredHolder" str omit ptr;
}}
