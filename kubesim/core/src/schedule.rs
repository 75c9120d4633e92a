//! Pod placement: filters every node like the default scheduler profile
//! (readiness, cordon, node name, taints, node selector/affinity, resource
//! fit) and scores the feasible ones by least allocation so load spreads.
//! Failure messages follow the scheduler's `FitError` text.

use std::collections::{BTreeMap, HashMap};

use cceone_kube_quantity::Quantity;
use serde_json::Value;

use crate::json::{name, namespace, nonempty_str_at};
use crate::nodes::node_filter_failure;
use crate::pods::is_terminal;
use crate::resources::{ResourceMap, node_allocatable, node_allocatable_map, pod_request_map};

/// Why no node could take a pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unschedulable {
    /// Kubernetes-style explanation, e.g. `0/3 nodes are available: 1
    /// node(s) were not ready, 2 Insufficient cpu.`
    pub message: String,
}

/// What the pods already bound to one node use.
#[derive(Default)]
struct Usage {
    /// Exact requests.
    requested: ResourceMap,
    /// Requests with the scheduler's non-zero defaults, for scoring.
    nonzero: ResourceMap,
    /// Number of pods.
    pods: i64,
}

/// Whether two pod objects denote the same pod (by uid, else namespace/name).
fn same_pod(a: &Value, b: &Value) -> bool {
    match (
        nonempty_str_at(a, &["metadata", "uid"]),
        nonempty_str_at(b, &["metadata", "uid"]),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => !name(a).is_empty() && name(a) == name(b) && namespace(a) == namespace(b),
    }
}

/// What the non-terminal bound pods use on each node: summed once, then kept up to date as a
/// pass binds pods ([`NodeUsage::add`]), so placing P pods among B bound ones costs O(P + B)
/// rather than O(P × B).
#[derive(Default)]
pub struct NodeUsage(HashMap<String, Usage>);

impl NodeUsage {
    /// The usage of `bound_pods`.
    pub fn of(bound_pods: &[Value]) -> NodeUsage {
        let mut usage = NodeUsage::default();
        for pod in bound_pods {
            usage.add(pod);
        }
        usage
    }

    /// Count `pod` (a pod bound to a node and not terminal; others are ignored).
    pub fn add(&mut self, pod: &Value) {
        if let Some(usage) = PodUsage::of(pod) {
            self.add_usage(&usage);
        }
    }

    /// Count what one pod uses (see [`PodUsage::of`]).
    pub fn add_usage(&mut self, usage: &PodUsage) {
        let entry = self.0.entry(usage.node.clone()).or_default();
        for (k, q) in &usage.requested {
            *entry.requested.entry(k.clone()).or_default() += *q;
        }
        for (k, q) in &usage.nonzero {
            *entry.nonzero.entry(k.clone()).or_default() += *q;
        }
        entry.pods += 1;
    }
}

/// What one bound pod uses on its node, kept apart from the pod so a driver that holds many
/// pods can sum their usage without holding or re-reading the pods themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    node: String,
    requested: Vec<(String, Quantity)>,
    nonzero: Vec<(String, Quantity)>,
}

impl PodUsage {
    /// The usage of `pod` when it counts against a node: bound (`spec.nodeName`) and not
    /// Succeeded or Failed.
    pub fn of(pod: &Value) -> Option<PodUsage> {
        let node = nonempty_str_at(pod, &["spec", "nodeName"])?;
        if is_terminal(pod) {
            return None;
        }
        Some(PodUsage {
            node: node.to_owned(),
            requested: pod_request_map(pod, false).into_iter().collect(),
            nonzero: pod_request_map(pod, true).into_iter().collect(),
        })
    }
}

/// Place `pod` on the best node given `bound_pods` (`pod` itself, if among them, not counted).
pub fn schedule(
    pod: &Value,
    nodes: &[Value],
    bound_pods: &[Value],
) -> Result<String, Unschedulable> {
    let mut usage = NodeUsage::default();
    for other in bound_pods.iter().filter(|other| !same_pod(pod, other)) {
        usage.add(other);
    }
    schedule_with(pod, nodes, &usage)
}

/// Free fraction of a resource after placing the pod, in millionths.
fn free_ppm(allocatable: Quantity, requested: Quantity) -> i128 {
    let alloc = allocatable.nanos();
    let req = requested.nanos();
    if alloc <= 0 || req > alloc {
        return 0;
    }
    (alloc - req).saturating_mul(1_000_000) / alloc
}

/// Chooses a node for `pod` among `nodes`, given what the pods already bound
/// use (`usage`: any pod with `spec.nodeName` that is not Succeeded/Failed
/// counts against its node). Honors allocatable cpu, memory, other requested resources and pod
/// count, readiness, cordoning, taints/tolerations, `spec.nodeSelector`,
/// required node affinity and a preset `spec.nodeName`. Among feasible nodes
/// the least allocated (by cpu and memory, counting unset requests as
/// 100m/200Mi like the scheduler) wins; ties go to the smaller name.
pub fn schedule_with(
    pod: &Value,
    nodes: &[Value],
    usage: &NodeUsage,
) -> Result<String, Unschedulable> {
    if nodes.is_empty() {
        return Err(Unschedulable {
            message: "no nodes available to schedule pods".into(),
        });
    }
    let usage = &usage.0;
    let empty = Usage::default();
    let wanted_node = nonempty_str_at(pod, &["spec", "nodeName"]);
    let requests = pod_request_map(pod, false);
    let nonzero_requests = pod_request_map(pod, true);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut best: Option<(i128, &str)> = None;
    for node in nodes {
        let node_name = name(node);
        let failures = if wanted_node.is_some_and(|w| w != node_name) {
            vec!["node(s) didn't match the requested node name".to_owned()]
        } else if let Some(reason) = node_filter_failure(node, pod) {
            vec![reason]
        } else {
            let used = usage.get(node_name).unwrap_or(&empty);
            resource_failures(node, used, &requests)
        };
        if !failures.is_empty() {
            for reason in failures {
                *reasons.entry(reason).or_default() += 1;
            }
            continue;
        }
        let used = usage.get(node_name).unwrap_or(&empty);
        let alloc = node_allocatable(node);
        let after = |k: &str| {
            used.nonzero.get(k).copied().unwrap_or_default()
                + nonzero_requests.get(k).copied().unwrap_or_default()
        };
        let score = free_ppm(alloc.cpu, after("cpu")) + free_ppm(alloc.memory, after("memory"));
        let better = match best {
            None => true,
            Some((s, n)) => score > s || (score == s && node_name < n),
        };
        if better {
            best = Some((score, node_name));
        }
    }
    if let Some((_, chosen)) = best {
        return Ok(chosen.to_owned());
    }
    let mut parts: Vec<String> = reasons
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    parts.sort();
    Err(Unschedulable {
        message: format!(
            "0/{} nodes are available: {}.",
            nodes.len(),
            parts.join(", ")
        ),
    })
}

/// The `NodeResourcesFit` failures of placing a pod with `requests` on a node
/// already using `used`.
fn resource_failures(node: &Value, used: &Usage, requests: &ResourceMap) -> Vec<String> {
    let mut failures = Vec::new();
    if used.pods + 1 > node_allocatable(node).pods {
        failures.push("Too many pods".to_owned());
    }
    let allocatable = node_allocatable_map(node);
    for (resource, wanted) in requests {
        if resource == "pods" || wanted.nanos() <= 0 {
            continue;
        }
        let have = allocatable.get(resource).copied().unwrap_or_default();
        let in_use = used.requested.get(resource).copied().unwrap_or_default();
        if in_use + *wanted > have {
            failures.push(format!("Insufficient {resource}"));
        }
    }
    failures
}

#[cfg(test)]
mod tests;
