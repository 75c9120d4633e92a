//! The pure half of the status collector: slim views of Nodes and Pods (deserialized straight
//! from their JSON, skipping every field the status does not need), their compact summaries, and
//! the arithmetic of the snapshot, including the metering rule for vCPUs. No I/O here.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cceone_kube_quantity::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

/// The label that marks a virtual-kubelet node, and its value.
pub const VIRTUAL_NODE_LABEL: (&str, &str) = ("type", "virtual-kubelet");

/// The resources the status reports.
pub const RESOURCES: [&str; 3] = ["cpu", "memory", "pods"];

/// cpu, memory and pods as exact quantities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// CPU cores.
    pub cpu: Quantity,
    /// Memory bytes.
    pub memory: Quantity,
    /// Pod count.
    pub pods: Quantity,
}

impl Resources {
    fn add(&mut self, other: &Resources) {
        self.cpu += other.cpu;
        self.memory += other.memory;
        self.pods += other.pods;
    }

    fn max(&mut self, other: &Resources) {
        self.cpu = self.cpu.max(other.cpu);
        self.memory = self.memory.max(other.memory);
        self.pods = self.pods.max(other.pods);
    }

    /// As the snapshot's map (`cpu`, `memory`, `pods`).
    pub fn to_map(&self) -> BTreeMap<String, Quantity> {
        RESOURCES
            .iter()
            .zip([self.cpu, self.memory, self.pods])
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// What the status keeps of one Node (a few dozen bytes instead of the whole object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSummary {
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// Labelled `type: virtual-kubelet`.
    pub is_virtual: bool,
    /// `status.capacity`.
    pub capacity: Resources,
    /// `status.allocatable`.
    pub allocatable: Resources,
}

/// What the status keeps of one Pod that counts toward allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodUsage {
    /// Effective CPU request.
    pub cpu: Quantity,
    /// Effective memory request.
    pub memory: Quantity,
}

/// Cluster-wide sums over node summaries and pod usages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    /// All nodes.
    pub nodes_total: u32,
    /// Nodes whose `Ready` condition is `True`.
    pub nodes_ready: u32,
    /// Sum of capacity.
    pub capacity: Resources,
    /// Sum of allocatable.
    pub allocatable: Resources,
    /// Sum of requests of bound, non-terminal pods (pods = their count).
    pub allocated: Resources,
    /// The metering rule's vCPU count.
    pub vcpus: Quantity,
}

/// The metering rule: the sum of `status.capacity.cpu` over nodes whose `Ready` condition is
/// `True`, leaving out virtual-kubelet nodes. Exact for fractional CPUs.
pub fn vcpus<'a>(nodes: impl IntoIterator<Item = &'a NodeSummary>) -> Quantity {
    nodes
        .into_iter()
        .filter(|n| n.ready && !n.is_virtual)
        .map(|n| n.capacity.cpu)
        .sum()
}

/// Sum everything the snapshot reports. Capacity and allocatable cover every node (virtual and
/// NotReady included), as `kubectl describe nodes` would add them up.
pub fn totals<'a>(
    nodes: impl IntoIterator<Item = &'a NodeSummary> + Clone,
    pods: impl IntoIterator<Item = &'a PodUsage>,
) -> Totals {
    let mut t = Totals {
        vcpus: vcpus(nodes.clone()),
        ..Totals::default()
    };
    for n in nodes {
        t.nodes_total = t.nodes_total.saturating_add(1);
        t.nodes_ready = t.nodes_ready.saturating_add(u32::from(n.ready));
        t.capacity.add(&n.capacity);
        t.allocatable.add(&n.allocatable);
    }
    for p in pods {
        t.allocated.cpu += p.cpu;
        t.allocated.memory += p.memory;
        t.allocated.pods += Quantity::from_units(1);
    }
    t
}

/// Metadata reduced to what a watcher needs (name, namespace, resourceVersion) plus the
/// virtual-kubelet label; managed fields, annotations and the rest are skipped unparsed.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        name: Option<String>,
        namespace: Option<String>,
        resource_version: Option<String>,
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
    }
    let f = Fields::deserialize(d)?;
    let labels = f.labels.and_then(|mut l| {
        let v = l.remove(VIRTUAL_NODE_LABEL.0)?;
        Some(BTreeMap::from([(VIRTUAL_NODE_LABEL.0.to_string(), v)]))
    });
    Ok(ObjectMeta {
        name: f.name,
        namespace: f.namespace,
        resource_version: f.resource_version,
        labels,
        ..ObjectMeta::default()
    })
}

/// A resource list reduced to cpu, memory and pods.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimResourceList {
    /// `cpu`.
    pub cpu: Option<String>,
    /// `memory`.
    pub memory: Option<String>,
    /// `pods`.
    pub pods: Option<String>,
}

impl SlimResourceList {
    /// Parsed; malformed or absent quantities count as zero.
    pub fn resources(&self) -> Resources {
        let q = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| Quantity::parse(s).ok())
                .unwrap_or_default()
        };
        Resources {
            cpu: q(&self.cpu),
            memory: q(&self.memory),
            pods: q(&self.pods),
        }
    }
}

/// A condition's type and status.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimCondition {
    /// e.g. `Ready`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
}

/// `status` of a [`SlimNode`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlimNodeStatus {
    /// `status.capacity`.
    pub capacity: SlimResourceList,
    /// `status.allocatable`.
    pub allocatable: SlimResourceList,
    /// `status.conditions`.
    pub conditions: Vec<SlimCondition>,
}

/// A Node as the collector reads it off the wire: only metadata, capacity, allocatable and
/// conditions are parsed.
#[derive(Debug, Clone, Deserialize)]
pub struct SlimNode {
    /// Reduced metadata.
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    /// Reduced status.
    #[serde(default)]
    pub status: SlimNodeStatus,
}

impl SlimNode {
    /// The compact summary the collector keeps.
    pub fn summary(&self) -> NodeSummary {
        let ready = self
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let is_virtual = self
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(VIRTUAL_NODE_LABEL.0))
            .is_some_and(|v| v == VIRTUAL_NODE_LABEL.1);
        NodeSummary {
            ready,
            is_virtual,
            capacity: self.status.capacity.resources(),
            allocatable: self.status.allocatable.resources(),
        }
    }
}

/// A container's requests (and, for init containers, its restart policy).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlimContainer {
    /// `resources.requests` (other resource fields skipped).
    pub resources: SlimRequirements,
    /// `Always` marks a sidecar init container.
    pub restart_policy: Option<String>,
}

/// `resources` of a container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlimRequirements {
    /// `requests`.
    pub requests: SlimResourceList,
}

/// `spec` of a [`SlimPod`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlimPodSpec {
    /// The node the pod is bound to.
    pub node_name: Option<String>,
    /// Containers.
    pub containers: Vec<SlimContainer>,
    /// Init containers.
    pub init_containers: Vec<SlimContainer>,
    /// RuntimeClass overhead.
    pub overhead: SlimResourceList,
}

/// `status` of a [`SlimPod`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlimPodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: Option<String>,
}

/// A Pod as the collector reads it off the wire: node binding, requests and phase.
#[derive(Debug, Clone, Deserialize)]
pub struct SlimPod {
    /// Reduced metadata.
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    /// Reduced spec.
    #[serde(default)]
    pub spec: SlimPodSpec,
    /// Reduced status.
    #[serde(default)]
    pub status: SlimPodStatus,
}

impl SlimPod {
    /// The pod's effective requests when it counts toward allocation: bound to a node and not
    /// terminal (`Succeeded`/`Failed`); `None` otherwise.
    pub fn usage(&self) -> Option<PodUsage> {
        let bound = self
            .spec
            .node_name
            .as_deref()
            .is_some_and(|n| !n.is_empty());
        let terminal = matches!(self.status.phase.as_deref(), Some("Succeeded" | "Failed"));
        if !bound || terminal {
            return None;
        }
        let r = pod_requests(&self.spec);
        Some(PodUsage {
            cpu: r.cpu,
            memory: r.memory,
        })
    }

    /// `namespace/name`, the key the collector files the pod under.
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}

/// Effective pod requests the way the scheduler computes them: the larger of the sum over
/// containers (plus sidecars) and the peak of the init phase, where each regular init container
/// runs alongside the sidecars started before it; plus the pod overhead.
pub fn pod_requests(spec: &SlimPodSpec) -> Resources {
    let mut sum = Resources::default();
    for c in &spec.containers {
        sum.add(&c.resources.requests.resources());
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in &spec.init_containers {
        let r = c.resources.requests.resources();
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            init_peak.max(&sidecars);
        } else {
            let mut during = sidecars;
            during.add(&r);
            init_peak.max(&during);
        }
    }
    sum.add(&sidecars);
    sum.max(&init_peak);
    sum.add(&spec.overhead.resources());
    sum.pods = Quantity::ZERO;
    sum
}

macro_rules! slim_resource {
    ($ty:ty, $kind:literal, $plural:literal, $scope:ty) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("")
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

slim_resource!(SlimNode, "Node", "nodes", k8s_openapi::ClusterResourceScope);
slim_resource!(SlimPod, "Pod", "pods", k8s_openapi::NamespaceResourceScope);
