//! What nodes offer and what pods ask for: `status.allocatable` of nodes and
//! the effective requests of pods (containers summed, init containers taken as
//! a maximum, sidecars and overhead added), following Kubernetes'
//! `resourcehelper.PodRequests`.

use std::collections::BTreeMap;

use cceone_kube_quantity::Quantity;
use serde_json::Value;

use crate::json::{array_at, at, str_at};

/// Pods a node accepts when its `status` does not say (the kubelet default).
pub const DEFAULT_MAX_PODS: i64 = 110;

/// CPU assumed for a container without a CPU request when spreading load
/// (Kubernetes' `DefaultMilliCPURequest`).
const NONZERO_CPU_MILLI: i128 = 100;

/// Memory assumed for a container without a memory request when spreading
/// load (Kubernetes' `DefaultMemoryRequest`, 200Mi).
const NONZERO_MEMORY_BYTES: i128 = 200 * 1024 * 1024;

/// Resources a node offers or a pod requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// CPU cores.
    pub cpu: Quantity,
    /// Memory in bytes.
    pub memory: Quantity,
    /// Number of pods (a pod requests 1).
    pub pods: i64,
}

/// A resource name to quantity map.
pub(crate) type ResourceMap = BTreeMap<String, Quantity>;

/// Parses a quantity held as a JSON string (or, leniently, a number).
pub(crate) fn quantity_of(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => Quantity::parse(s).ok(),
        Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// Reads a `ResourceList` object into a map, skipping unparsable entries.
fn resource_list(v: Option<&Value>) -> ResourceMap {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| quantity_of(v).map(|q| (k.clone(), q)))
                .collect()
        })
        .unwrap_or_default()
}

/// The node's allocatable resources per name: `status.allocatable`, with
/// `status.capacity` filling in names allocatable lacks.
pub(crate) fn node_allocatable_map(node: &Value) -> ResourceMap {
    let mut map = resource_list(at(node, &["status", "capacity"]));
    map.extend(resource_list(at(node, &["status", "allocatable"])));
    map
}

/// The node's allocatable cpu, memory and pod count: `status.allocatable`,
/// falling back to `status.capacity`, and to [`DEFAULT_MAX_PODS`] pods.
pub fn node_allocatable(node: &Value) -> Resources {
    let map = node_allocatable_map(node);
    Resources {
        cpu: map.get("cpu").copied().unwrap_or_default(),
        memory: map.get("memory").copied().unwrap_or_default(),
        pods: map
            .get("pods")
            .map(|q| i64::try_from(q.value()).unwrap_or(i64::MAX))
            .unwrap_or(DEFAULT_MAX_PODS),
    }
}

/// One container's requests; a resource with only a limit requests the
/// limit (API defaulting). With `nonzero`, missing cpu/memory requests count
/// as the scheduler's spreading defaults.
fn container_requests(container: &Value, nonzero: bool) -> ResourceMap {
    let mut reqs = resource_list(at(container, &["resources", "limits"]));
    reqs.extend(resource_list(at(container, &["resources", "requests"])));
    if nonzero {
        reqs.entry("cpu".into())
            .or_insert(Quantity::from_milli(NONZERO_CPU_MILLI));
        reqs.entry("memory".into())
            .or_insert(Quantity::from_units(NONZERO_MEMORY_BYTES));
    }
    reqs
}

/// `into[k] += add[k]` for every k.
fn add_into(into: &mut ResourceMap, add: &ResourceMap) {
    for (k, q) in add {
        *into.entry(k.clone()).or_default() += *q;
    }
}

/// `into[k] = max(into[k], other[k])` for every k.
fn max_into(into: &mut ResourceMap, other: &ResourceMap) {
    for (k, q) in other {
        let slot = into.entry(k.clone()).or_default();
        if *q > *slot {
            *slot = *q;
        }
    }
}

/// The pod's effective requests per resource name (without the pod count).
pub(crate) fn pod_request_map(pod: &Value, nonzero: bool) -> ResourceMap {
    let mut reqs = ResourceMap::new();
    for c in array_at(pod, &["spec", "containers"]) {
        add_into(&mut reqs, &container_requests(c, nonzero));
    }
    let mut sidecars = ResourceMap::new();
    let mut init_peak = ResourceMap::new();
    for c in array_at(pod, &["spec", "initContainers"]) {
        let own = container_requests(c, nonzero);
        let needed = if str_at(c, &["restartPolicy"]) == Some("Always") {
            add_into(&mut reqs, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            add_into(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max_into(&mut init_peak, &needed);
    }
    max_into(&mut reqs, &init_peak);
    add_into(&mut reqs, &resource_list(at(pod, &["spec", "overhead"])));
    reqs
}

/// The pod's effective cpu and memory requests (containers summed, the
/// largest init container step taken if larger, sidecars and overhead
/// added); `pods` is 1.
pub fn pod_requests(pod: &Value) -> Resources {
    let map = pod_request_map(pod, false);
    Resources {
        cpu: map.get("cpu").copied().unwrap_or_default(),
        memory: map.get("memory").copied().unwrap_or_default(),
        pods: 1,
    }
}

/// The pod's QoS class as the API server computes it: `BestEffort` without
/// any cpu/memory request or limit, `Guaranteed` when every container limits
/// cpu and memory with equal requests, else `Burstable`.
pub(crate) fn qos_class(pod: &Value) -> &'static str {
    let containers = array_at(pod, &["spec", "containers"])
        .iter()
        .chain(array_at(pod, &["spec", "initContainers"]));
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let limits = resource_list(at(c, &["resources", "limits"]));
        let mut requests = limits.clone();
        requests.extend(resource_list(at(c, &["resources", "requests"])));
        for name in ["cpu", "memory"] {
            let req = requests.get(name).filter(|q| !q.is_zero());
            let lim = limits.get(name).filter(|q| !q.is_zero());
            any |= req.is_some() || lim.is_some();
            if lim.is_none() || req != lim {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}
