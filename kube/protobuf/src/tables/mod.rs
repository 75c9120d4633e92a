//! The descriptor tables, one module per API group and version (core/v1 split in three).
//!
//! Every table is written with [`message!`](crate::descriptor) from facts of the published
//! protobuf definitions (field numbers) and Go types (JSON names, `omitempty`, pointers, embedded
//! structs) of Kubernetes 1.36 — a superset of the fields older clients send.

pub(crate) mod apps_v1;
pub(crate) mod authentication_v1;
pub(crate) mod authorization_v1;
pub(crate) mod batch_v1;
pub(crate) mod certificates_v1;
pub(crate) mod coordination_v1;
pub(crate) mod core_v1;
pub(crate) mod core_v1_pod;
pub(crate) mod core_v1_volume;
pub(crate) mod meta_v1;
pub(crate) mod networking_v1;
pub(crate) mod policy_v1;
pub(crate) mod rbac_v1;
pub(crate) mod scheduling_v1;
