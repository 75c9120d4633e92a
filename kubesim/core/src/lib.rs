//! The pure core of a simulated Kubernetes member cluster, in the spirit of
//! KWOK: no sockets and no clocks, only functions over objects in their
//! Kubernetes JSON form (`serde_json::Value`) and a caller-supplied time.
//!
//! * [`schedule`] places a pod on a node within allocatable capacity,
//!   honoring readiness, cordons, taints, tolerations and node selectors.
//! * [`reconcile`] plans the pod creations and deletions that move a
//!   ReplicaSet, StatefulSet, DaemonSet or Job toward its spec;
//!   [`reconcile_deployment`] the ReplicaSets of a Deployment's rollout and
//!   [`reconcile_cronjob`] the Jobs of a CronJob's schedule.
//! * [`events`] records core/v1 Events with upstream's aggregation.
//! * [`advance_pod`] plays the kubelet: bound pods start after a delay and
//!   Job pods complete after a run time.
//! * [`workload_status`] computes workload status the way the controllers
//!   write it.
//! * [`streams`] holds what the simulated kubelet's logs, exec, attach, port-forward and cp
//!   are made of: the SPDY framer, container files, tar, the shell language, log lines.

pub mod disruption;
pub mod endpoints;
pub mod events;
mod json;
mod nodes;
mod pod_state;
mod pods;
mod reconcile;
mod resources;
mod schedule;
mod status;
pub mod streams;
#[cfg(test)]
mod test_support;

pub use cceone_kube_quantity::Quantity;
pub use nodes::{node_is_ready, node_schedulable, node_schedulable_for};
pub use pod_state::{
    advance_pod, next_transition, pod_unschedulable_status, termination_done, unschedulable_status,
};
pub use reconcile::{Action, Target, reconcile, reconcile_cronjob, reconcile_deployment};
pub use resources::{DEFAULT_MAX_PODS, Resources, node_allocatable, pod_requests};
pub use schedule::{NodeUsage, PodUsage, Unschedulable, schedule, schedule_with};
pub use status::{status_changes_at, workload_status};
