//! How many more replicas of a binding fit in a cluster, from the cluster's
//! `status.resourceSummary` (Karmada's general estimator, `pkg/estimator/client/general.go`,
//! and `calAvailableReplicas` in `pkg/scheduler/core/util.go`).

use cceone_karmada_api::cluster::ResourceSummary;
use cceone_karmada_api::interpret::quantity;
use cceone_karmada_api::{BindingSpec, Cluster};
use cceone_kube_quantity::Quantity;

/// A resource's `allocatable - allocated - allocating`, if the cluster reports it allocatable.
fn free(summary: &ResourceSummary, resource: &str) -> Option<Quantity> {
    let get = |part: &Option<std::collections::BTreeMap<String, serde_json::Value>>| {
        part.as_ref()?.get(resource).and_then(quantity)
    };
    let mut q = get(&summary.allocatable)?;
    for part in [&summary.allocated, &summary.allocating] {
        if let Some(used) = get(part) {
            q -= used;
        }
    }
    Some(q)
}

/// The replicas of the binding that still fit in the cluster. Non-workloads (no replicas) get
/// their replica count, 0; a cluster without a resource summary fits none; otherwise the free
/// pod count bounds the answer, and each requested resource divides its free amount (cpu in
/// milli-cores, the rest in whole units rounded up, as `Quantity.Value` does).
pub(super) fn available_replicas(cluster: &Cluster, spec: &BindingSpec, replicas: i32) -> i32 {
    if replicas == 0 {
        return 0;
    }
    let Some(summary) = cluster
        .status
        .as_ref()
        .and_then(|s| s.resource_summary.as_ref())
    else {
        return 0;
    };
    let pods = free(summary, "pods").map_or(0, |q| q.value());
    if pods <= 0 {
        return 0;
    }
    let mut max = pods;
    if let Some(requests) = spec
        .replica_requirements
        .as_ref()
        .and_then(|r| r.resource_request.as_ref())
    {
        for (name, v) in requests {
            let Some(req) = quantity(v) else { continue };
            if req.value() <= 0 {
                continue;
            }
            let Some(avail) = free(summary, name) else {
                return 0;
            };
            if avail.value() <= 0 {
                return 0;
            }
            let (have, want) = if name == "cpu" {
                (avail.milli(), req.milli())
            } else {
                (avail.value(), req.value())
            };
            if want > 0 {
                max = max.min(have / want);
            }
        }
    }
    i32::try_from(max).unwrap_or(i32::MAX)
}
