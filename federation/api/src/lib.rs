//! Karmada's API as typed Rust, shared by the federation's controllers, the hub and the agent:
//! [`cluster::Cluster`], [`policy::PropagationPolicy`] and [`policy::OverridePolicy`] (each
//! also its cluster-wide kind), [`binding::ResourceBinding`] (and ClusterResourceBinding) and
//! [`work::Work`], plus the vocabulary they share: well-known [`names`], execution spaces and
//! Work names ([`work`]), conditions ([`meta`]) and the status interpreter ([`interpret`]).
//!
//! Every struct keeps the fields it does not name, so objects round-trip unchanged; optional
//! fields stay `Option`s so that absent and empty are told apart. Resource templates (the
//! user's Deployments, ConfigMaps, ...) stay untyped `serde_json::Value`s.

pub mod binding;
pub mod cluster;
pub mod interpret;
pub mod meta;
pub mod names;
pub mod policy;
mod value;
pub mod work;

pub use binding::{
    AggregatedStatusItem, BindingSpec, BindingStatus, GracefulEvictionTask, ResourceBinding,
    TargetCluster,
};
pub use cluster::{Cluster, ClusterSpec, ClusterStatus, Taint};
pub use meta::{Condition, LabelSelector, ObjectMeta, Requirement, find_condition, set_condition};
pub use policy::{
    ClusterAffinity, OverridePolicy, OverrideSpec, Placement, PropagationPolicy, PropagationSpec,
    ResourceSelector, Toleration,
};
pub use work::{
    ManifestStatus, Work, WorkSpec, WorkStatus, cluster_of, execution_space, work_name,
};
