//! Descriptors of the core (`v1`) messages not under a PodSpec or a volume source: Namespace,
//! ConfigMap, Secret, Service, ServiceAccount, ResourceQuota, Node, Event, PersistentVolume(Claim),
//! LimitRange, Endpoints, ReplicationController and their parts.
//!
//! The messages of [`super::core_v1_pod`] and [`super::core_v1_volume`] are re-exported here, so
//! `core_v1::X` names every core message. Field numbers are those of k8s.io/api's `core/v1`
//! protobuf definitions; the flags follow the Go struct tags (see [`crate::descriptor`]).

pub(crate) use super::core_v1_pod::*;
pub(crate) use super::core_v1_volume::*;
use super::{core_v1, meta_v1};

message! { ATTACHED_VOLUME = "AttachedVolume" {
    1 "name" str; 2 "devicePath" str;
}}
message! { BINDING = "Binding" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "target" msg(core_v1::OBJECT_REFERENCE);
}}
message! { CLIENT_IP_CONFIG = "ClientIPConfig" {
    1 "timeoutSeconds" i32 omit ptr;
}}
message! { COMPONENT_CONDITION = "ComponentCondition" {
    1 "type" str; 2 "status" str; 3 "message" str omit; 4 "error" str omit;
}}
message! { COMPONENT_STATUS = "ComponentStatus" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit;
    2 "conditions" msg(COMPONENT_CONDITION) list omit;
}}
message! { CONFIG_MAP = "ConfigMap" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "data" str map omit;
    3 "binaryData" bytes map omit; 4 "immutable" bool omit ptr;
}}
message! { CONFIG_MAP_NODE_CONFIG_SOURCE = "ConfigMapNodeConfigSource" {
    1 "namespace" str; 2 "name" str; 3 "uid" str omit; 4 "resourceVersion" str omit;
    5 "kubeletConfigKey" str;
}}
message! { CONTAINER_EXTENDED_RESOURCE_REQUEST = "ContainerExtendedResourceRequest" {
    1 "containerName" str; 2 "resourceName" str; 3 "requestName" str;
}}
message! { CONTAINER_IMAGE = "ContainerImage" {
    1 "names" str list; 2 "sizeBytes" i64 omit;
}}
message! { CONTAINER_STATE = "ContainerState" {
    1 "waiting" msg(CONTAINER_STATE_WAITING) omit ptr;
    2 "running" msg(CONTAINER_STATE_RUNNING) omit ptr;
    3 "terminated" msg(CONTAINER_STATE_TERMINATED) omit ptr;
}}
message! { CONTAINER_STATE_RUNNING = "ContainerStateRunning" {
    1 "startedAt" time omit;
}}
message! { CONTAINER_STATE_TERMINATED = "ContainerStateTerminated" {
    1 "exitCode" i32; 2 "signal" i32 omit; 3 "reason" str omit; 4 "message" str omit;
    5 "startedAt" time omit; 6 "finishedAt" time omit; 7 "containerID" str omit;
}}
message! { CONTAINER_STATE_WAITING = "ContainerStateWaiting" {
    1 "reason" str omit; 2 "message" str omit;
}}
message! { CONTAINER_STATUS = "ContainerStatus" {
    1 "name" str; 2 "state" msg(CONTAINER_STATE) omit; 3 "lastState" msg(CONTAINER_STATE) omit;
    4 "ready" bool; 5 "restartCount" i32; 6 "image" str; 7 "imageID" str;
    8 "containerID" str omit; 9 "started" bool omit ptr; 10 "allocatedResources" qty map omit;
    11 "resources" msg(core_v1::RESOURCE_REQUIREMENTS) omit ptr;
    12 "volumeMounts" msg(VOLUME_MOUNT_STATUS) list omit;
    13 "user" msg(CONTAINER_USER) omit ptr;
    14 "allocatedResourcesStatus" msg(RESOURCE_STATUS) list omit; 15 "stopSignal" str omit ptr;
}}
message! { CONTAINER_USER = "ContainerUser" {
    1 "linux" msg(LINUX_CONTAINER_USER) omit ptr;
}}
message! { DAEMON_ENDPOINT = "DaemonEndpoint" {
    1 "Port" i32;
}}
message! { ENDPOINT_ADDRESS = "EndpointAddress" {
    1 "ip" str; 2 "targetRef" msg(core_v1::OBJECT_REFERENCE) omit ptr; 3 "hostname" str omit;
    4 "nodeName" str omit ptr;
}}
message! { ENDPOINT_PORT = "EndpointPort" {
    1 "name" str omit; 2 "port" i32; 3 "protocol" str omit; 4 "appProtocol" str omit ptr;
}}
message! { ENDPOINT_SUBSET = "EndpointSubset" {
    1 "addresses" msg(ENDPOINT_ADDRESS) list omit;
    2 "notReadyAddresses" msg(ENDPOINT_ADDRESS) list omit;
    3 "ports" msg(ENDPOINT_PORT) list omit;
}}
message! { ENDPOINTS = "Endpoints" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "subsets" msg(ENDPOINT_SUBSET) list omit;
}}
message! { EVENT = "Event" {
    1 "metadata" msg(meta_v1::OBJECT_META); 2 "involvedObject" msg(core_v1::OBJECT_REFERENCE);
    3 "reason" str omit; 4 "message" str omit; 5 "source" msg(EVENT_SOURCE) omit;
    6 "firstTimestamp" time omit; 7 "lastTimestamp" time omit; 8 "count" i32 omit;
    9 "type" str omit; 10 "eventTime" mtime omit; 11 "series" msg(EVENT_SERIES) omit ptr;
    12 "action" str omit; 13 "related" msg(core_v1::OBJECT_REFERENCE) omit ptr;
    14 "reportingComponent" str; 15 "reportingInstance" str;
}}
message! { EVENT_SERIES = "EventSeries" {
    1 "count" i32 omit; 2 "lastObservedTime" mtime omit;
}}
message! { EVENT_SOURCE = "EventSource" {
    1 "component" str omit; 2 "host" str omit;
}}
message! { HOST_IP = "HostIP" {
    1 "ip" str;
}}
message! { IMAGE_VOLUME_STATUS = "ImageVolumeStatus" {
    1 "imageRef" str omit;
}}
message! { LIMIT_RANGE = "LimitRange" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(LIMIT_RANGE_SPEC) omit;
}}
message! { LIMIT_RANGE_ITEM = "LimitRangeItem" {
    1 "type" str; 2 "max" qty map omit; 3 "min" qty map omit; 4 "default" qty map omit;
    5 "defaultRequest" qty map omit; 6 "maxLimitRequestRatio" qty map omit;
}}
message! { LIMIT_RANGE_SPEC = "LimitRangeSpec" {
    1 "limits" msg(LIMIT_RANGE_ITEM) list;
}}
message! { LINUX_CONTAINER_USER = "LinuxContainerUser" {
    1 "uid" i64; 2 "gid" i64; 3 "supplementalGroups" i64 list omit;
}}
message! { LOAD_BALANCER_INGRESS = "LoadBalancerIngress" {
    1 "ip" str omit; 2 "hostname" str omit; 3 "ipMode" str omit ptr;
    4 "ports" msg(PORT_STATUS) list omit;
}}
message! { LOAD_BALANCER_STATUS = "LoadBalancerStatus" {
    1 "ingress" msg(LOAD_BALANCER_INGRESS) list omit;
}}
message! { MODIFY_VOLUME_STATUS = "ModifyVolumeStatus" {
    1 "targetVolumeAttributesClassName" str omit; 2 "status" str;
}}
message! { NAMESPACE = "Namespace" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(NAMESPACE_SPEC) omit;
    3 "status" msg(NAMESPACE_STATUS) omit;
}}
message! { NAMESPACE_CONDITION = "NamespaceCondition" {
    1 "type" str; 2 "status" str; 4 "lastTransitionTime" time omit; 5 "reason" str omit;
    6 "message" str omit;
}}
message! { NAMESPACE_SPEC = "NamespaceSpec" {
    1 "finalizers" str list omit;
}}
message! { NAMESPACE_STATUS = "NamespaceStatus" {
    1 "phase" str omit; 2 "conditions" msg(NAMESPACE_CONDITION) list omit;
}}
message! { NODE = "Node" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(NODE_SPEC) omit;
    3 "status" msg(NODE_STATUS) omit;
}}
message! { NODE_ADDRESS = "NodeAddress" {
    1 "type" str; 2 "address" str;
}}
message! { NODE_ALLOCATABLE_RESOURCE_CLAIM_STATUS = "NodeAllocatableResourceClaimStatus" {
    1 "resourceClaimName" str; 2 "containers" str list omit; 3 "resources" qty map;
}}
message! { NODE_CONDITION = "NodeCondition" {
    1 "type" str; 2 "status" str; 3 "lastHeartbeatTime" time omit;
    4 "lastTransitionTime" time omit; 5 "reason" str omit; 6 "message" str omit;
}}
message! { NODE_CONFIG_SOURCE = "NodeConfigSource" {
    2 "configMap" msg(CONFIG_MAP_NODE_CONFIG_SOURCE) omit ptr;
}}
message! { NODE_CONFIG_STATUS = "NodeConfigStatus" {
    1 "assigned" msg(NODE_CONFIG_SOURCE) omit ptr; 2 "active" msg(NODE_CONFIG_SOURCE) omit ptr;
    3 "lastKnownGood" msg(NODE_CONFIG_SOURCE) omit ptr; 4 "error" str omit;
}}
message! { NODE_DAEMON_ENDPOINTS = "NodeDaemonEndpoints" {
    1 "kubeletEndpoint" msg(DAEMON_ENDPOINT) omit;
}}
message! { NODE_FEATURES = "NodeFeatures" {
    1 "supplementalGroupsPolicy" bool omit ptr;
}}
message! { NODE_PROXY_OPTIONS = "NodeProxyOptions" {
    1 "path" str omit;
}}
message! { NODE_RUNTIME_HANDLER = "NodeRuntimeHandler" {
    1 "name" str; 2 "features" msg(NODE_RUNTIME_HANDLER_FEATURES) omit ptr;
}}
message! { NODE_RUNTIME_HANDLER_FEATURES = "NodeRuntimeHandlerFeatures" {
    1 "recursiveReadOnlyMounts" bool omit ptr; 2 "userNamespaces" bool omit ptr;
}}
message! { NODE_SPEC = "NodeSpec" {
    1 "podCIDR" str omit; 2 "externalID" str omit; 3 "providerID" str omit;
    4 "unschedulable" bool omit; 5 "taints" msg(TAINT) list omit;
    6 "configSource" msg(NODE_CONFIG_SOURCE) omit ptr; 7 "podCIDRs" str list omit;
}}
message! { NODE_STATUS = "NodeStatus" {
    1 "capacity" qty map omit; 2 "allocatable" qty map omit; 3 "phase" str omit;
    4 "conditions" msg(NODE_CONDITION) list omit; 5 "addresses" msg(NODE_ADDRESS) list omit;
    6 "daemonEndpoints" msg(NODE_DAEMON_ENDPOINTS) omit;
    7 "nodeInfo" msg(NODE_SYSTEM_INFO) omit; 8 "images" msg(CONTAINER_IMAGE) list omit;
    9 "volumesInUse" str list omit; 10 "volumesAttached" msg(ATTACHED_VOLUME) list omit;
    11 "config" msg(NODE_CONFIG_STATUS) omit ptr;
    12 "runtimeHandlers" msg(NODE_RUNTIME_HANDLER) list omit;
    13 "features" msg(NODE_FEATURES) omit ptr; 14 "declaredFeatures" str list omit;
}}
message! { NODE_SWAP_STATUS = "NodeSwapStatus" {
    1 "capacity" i64 omit ptr;
}}
message! { NODE_SYSTEM_INFO = "NodeSystemInfo" {
    1 "machineID" str; 2 "systemUUID" str; 3 "bootID" str; 4 "kernelVersion" str;
    5 "osImage" str; 6 "containerRuntimeVersion" str; 7 "kubeletVersion" str;
    8 "kubeProxyVersion" str; 9 "operatingSystem" str; 10 "architecture" str;
    11 "swap" msg(NODE_SWAP_STATUS) omit ptr;
}}
message! { PERSISTENT_VOLUME = "PersistentVolume" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(PERSISTENT_VOLUME_SPEC) omit;
    3 "status" msg(PERSISTENT_VOLUME_STATUS) omit;
}}
message! { PERSISTENT_VOLUME_CLAIM = "PersistentVolumeClaim" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit;
    2 "spec" msg(core_v1::PERSISTENT_VOLUME_CLAIM_SPEC) omit;
    3 "status" msg(PERSISTENT_VOLUME_CLAIM_STATUS) omit;
}}
message! { PERSISTENT_VOLUME_CLAIM_CONDITION = "PersistentVolumeClaimCondition" {
    1 "type" str; 2 "status" str; 3 "lastProbeTime" time omit; 4 "lastTransitionTime" time omit;
    5 "reason" str omit; 6 "message" str omit;
}}
message! { PERSISTENT_VOLUME_CLAIM_STATUS = "PersistentVolumeClaimStatus" {
    1 "phase" str omit; 2 "accessModes" str list omit; 3 "capacity" qty map omit;
    4 "conditions" msg(PERSISTENT_VOLUME_CLAIM_CONDITION) list omit;
    5 "allocatedResources" qty map omit; 7 "allocatedResourceStatuses" str map omit;
    8 "currentVolumeAttributesClassName" str omit ptr;
    9 "modifyVolumeStatus" msg(MODIFY_VOLUME_STATUS) omit ptr;
}}
message! { PERSISTENT_VOLUME_SPEC = "PersistentVolumeSpec" {
    1 "capacity" qty map omit;
    2 "persistentVolumeSource" msg(core_v1::PERSISTENT_VOLUME_SOURCE) inline;
    3 "accessModes" str list omit; 4 "claimRef" msg(core_v1::OBJECT_REFERENCE) omit ptr;
    5 "persistentVolumeReclaimPolicy" str omit; 6 "storageClassName" str omit;
    7 "mountOptions" str list omit; 8 "volumeMode" str omit ptr;
    9 "nodeAffinity" msg(VOLUME_NODE_AFFINITY) omit ptr;
    10 "volumeAttributesClassName" str omit ptr;
}}
message! { PERSISTENT_VOLUME_STATUS = "PersistentVolumeStatus" {
    1 "phase" str omit; 2 "message" str omit; 3 "reason" str omit;
    4 "lastPhaseTransitionTime" time omit ptr;
}}
message! { POD = "Pod" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(core_v1::POD_SPEC) omit;
    3 "status" msg(POD_STATUS) omit;
}}
message! { POD_ATTACH_OPTIONS = "PodAttachOptions" {
    1 "stdin" bool omit; 2 "stdout" bool omit; 3 "stderr" bool omit; 4 "tty" bool omit;
    5 "container" str omit;
}}
message! { POD_CONDITION = "PodCondition" {
    1 "type" str; 2 "status" str; 3 "lastProbeTime" time omit; 4 "lastTransitionTime" time omit;
    5 "reason" str omit; 6 "message" str omit; 7 "observedGeneration" i64 omit;
}}
message! { POD_EXEC_OPTIONS = "PodExecOptions" {
    1 "stdin" bool omit; 2 "stdout" bool omit; 3 "stderr" bool omit; 4 "tty" bool omit;
    5 "container" str omit; 6 "command" str list;
}}
message! { POD_EXTENDED_RESOURCE_CLAIM_STATUS = "PodExtendedResourceClaimStatus" {
    1 "requestMappings" msg(CONTAINER_EXTENDED_RESOURCE_REQUEST) list;
    2 "resourceClaimName" str;
}}
message! { POD_IP = "PodIP" {
    1 "ip" str;
}}
message! { POD_LOG_OPTIONS = "PodLogOptions" {
    1 "container" str omit; 2 "follow" bool omit; 3 "previous" bool omit;
    4 "sinceSeconds" i64 omit ptr; 5 "sinceTime" time omit ptr; 6 "timestamps" bool omit;
    7 "tailLines" i64 omit ptr; 8 "limitBytes" i64 omit ptr;
    9 "insecureSkipTLSVerifyBackend" bool omit; 10 "stream" str omit ptr;
}}
message! { POD_PORT_FORWARD_OPTIONS = "PodPortForwardOptions" {
    1 "ports" i32 list omit;
}}
message! { POD_PROXY_OPTIONS = "PodProxyOptions" {
    1 "path" str omit;
}}
message! { POD_RESOURCE_CLAIM_STATUS = "PodResourceClaimStatus" {
    1 "name" str; 2 "resourceClaimName" str omit ptr;
}}
message! { POD_STATUS = "PodStatus" {
    1 "phase" str omit; 2 "conditions" msg(POD_CONDITION) list omit; 3 "message" str omit;
    4 "reason" str omit; 5 "hostIP" str omit; 6 "podIP" str omit; 7 "startTime" time omit ptr;
    8 "containerStatuses" msg(CONTAINER_STATUS) list omit; 9 "qosClass" str omit;
    10 "initContainerStatuses" msg(CONTAINER_STATUS) list omit; 11 "nominatedNodeName" str omit;
    12 "podIPs" msg(POD_IP) list omit;
    13 "ephemeralContainerStatuses" msg(CONTAINER_STATUS) list omit; 14 "resize" str omit;
    15 "resourceClaimStatuses" msg(POD_RESOURCE_CLAIM_STATUS) list omit;
    16 "hostIPs" msg(HOST_IP) list omit; 17 "observedGeneration" i64 omit;
    18 "extendedResourceClaimStatus" msg(POD_EXTENDED_RESOURCE_CLAIM_STATUS) omit ptr;
    19 "allocatedResources" qty map omit;
    20 "resources" msg(core_v1::RESOURCE_REQUIREMENTS) omit ptr;
    21 "nodeAllocatableResourceClaimStatuses" msg(NODE_ALLOCATABLE_RESOURCE_CLAIM_STATUS) list omit;
}}
message! { POD_STATUS_RESULT = "PodStatusResult" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "status" msg(POD_STATUS) omit;
}}
message! { POD_TEMPLATE = "PodTemplate" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "template" msg(POD_TEMPLATE_SPEC) omit;
}}
message! { POD_TEMPLATE_SPEC = "PodTemplateSpec" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(core_v1::POD_SPEC) omit;
}}
message! { PORT_STATUS = "PortStatus" {
    1 "port" i32; 2 "protocol" str; 3 "error" str omit ptr;
}}
message! { RANGE_ALLOCATION = "RangeAllocation" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "range" str; 3 "data" bytes;
}}
message! { REPLICATION_CONTROLLER = "ReplicationController" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(REPLICATION_CONTROLLER_SPEC) omit;
    3 "status" msg(REPLICATION_CONTROLLER_STATUS) omit;
}}
message! { REPLICATION_CONTROLLER_CONDITION = "ReplicationControllerCondition" {
    1 "type" str; 2 "status" str; 3 "lastTransitionTime" time omit; 4 "reason" str omit;
    5 "message" str omit;
}}
message! { REPLICATION_CONTROLLER_SPEC = "ReplicationControllerSpec" {
    1 "replicas" i32 omit ptr; 2 "selector" str map omit;
    3 "template" msg(POD_TEMPLATE_SPEC) omit ptr; 4 "minReadySeconds" i32 omit;
}}
message! { REPLICATION_CONTROLLER_STATUS = "ReplicationControllerStatus" {
    1 "replicas" i32; 2 "fullyLabeledReplicas" i32 omit; 3 "observedGeneration" i64 omit;
    4 "readyReplicas" i32 omit; 5 "availableReplicas" i32 omit;
    6 "conditions" msg(REPLICATION_CONTROLLER_CONDITION) list omit;
}}
message! { RESOURCE_HEALTH = "ResourceHealth" {
    1 "resourceID" str; 2 "health" str omit; 6 "message" str omit ptr;
}}
message! { RESOURCE_QUOTA = "ResourceQuota" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(RESOURCE_QUOTA_SPEC) omit;
    3 "status" msg(RESOURCE_QUOTA_STATUS) omit;
}}
message! { RESOURCE_QUOTA_SPEC = "ResourceQuotaSpec" {
    1 "hard" qty map omit; 2 "scopes" str list omit;
    3 "scopeSelector" msg(SCOPE_SELECTOR) omit ptr;
}}
message! { RESOURCE_QUOTA_STATUS = "ResourceQuotaStatus" {
    1 "hard" qty map omit; 2 "used" qty map omit;
}}
message! { RESOURCE_STATUS = "ResourceStatus" {
    1 "name" str; 2 "resources" msg(RESOURCE_HEALTH) list omit;
}}
message! { SCOPE_SELECTOR = "ScopeSelector" {
    1 "matchExpressions" msg(SCOPED_RESOURCE_SELECTOR_REQUIREMENT) list omit;
}}
message! { SCOPED_RESOURCE_SELECTOR_REQUIREMENT = "ScopedResourceSelectorRequirement" {
    1 "scopeName" str; 2 "operator" str; 3 "values" str list omit;
}}
message! { SECRET = "Secret" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "data" bytes map omit; 3 "type" str omit;
    4 "stringData" str map omit; 5 "immutable" bool omit ptr;
}}
message! { SERIALIZED_REFERENCE = "SerializedReference" {
    1 "reference" msg(core_v1::OBJECT_REFERENCE) omit;
}}
message! { SERVICE = "Service" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(SERVICE_SPEC) omit;
    3 "status" msg(SERVICE_STATUS) omit;
}}
message! { SERVICE_ACCOUNT = "ServiceAccount" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit;
    2 "secrets" msg(core_v1::OBJECT_REFERENCE) list omit;
    3 "imagePullSecrets" msg(core_v1::LOCAL_OBJECT_REFERENCE) list omit;
    4 "automountServiceAccountToken" bool omit ptr;
}}
message! { SERVICE_PORT = "ServicePort" {
    1 "name" str omit; 2 "protocol" str omit; 3 "port" i32; 4 "targetPort" ios omit;
    5 "nodePort" i32 omit; 6 "appProtocol" str omit ptr;
}}
message! { SERVICE_PROXY_OPTIONS = "ServiceProxyOptions" {
    1 "path" str omit;
}}
message! { SERVICE_SPEC = "ServiceSpec" {
    1 "ports" msg(SERVICE_PORT) list omit; 2 "selector" str map omit; 3 "clusterIP" str omit;
    4 "type" str omit; 5 "externalIPs" str list omit; 7 "sessionAffinity" str omit;
    8 "loadBalancerIP" str omit; 9 "loadBalancerSourceRanges" str list omit;
    10 "externalName" str omit; 11 "externalTrafficPolicy" str omit;
    12 "healthCheckNodePort" i32 omit; 13 "publishNotReadyAddresses" bool omit;
    14 "sessionAffinityConfig" msg(SESSION_AFFINITY_CONFIG) omit ptr;
    17 "ipFamilyPolicy" str omit ptr; 18 "clusterIPs" str list omit;
    19 "ipFamilies" str list omit; 20 "allocateLoadBalancerNodePorts" bool omit ptr;
    21 "loadBalancerClass" str omit ptr; 22 "internalTrafficPolicy" str omit ptr;
    23 "trafficDistribution" str omit ptr;
}}
message! { SERVICE_STATUS = "ServiceStatus" {
    1 "loadBalancer" msg(LOAD_BALANCER_STATUS) omit;
    2 "conditions" msg(meta_v1::CONDITION) list omit;
}}
message! { SESSION_AFFINITY_CONFIG = "SessionAffinityConfig" {
    1 "clientIP" msg(CLIENT_IP_CONFIG) omit ptr;
}}
message! { TAINT = "Taint" {
    1 "key" str; 2 "value" str omit; 3 "effect" str; 4 "timeAdded" time omit ptr;
}}
message! { VOLUME_MOUNT_STATUS = "VolumeMountStatus" {
    1 "name" str; 2 "mountPath" str; 3 "readOnly" bool omit; 4 "recursiveReadOnly" str omit ptr;
    5 "volumeStatus" msg(VOLUME_STATUS) omit ptr;
}}
message! { VOLUME_NODE_AFFINITY = "VolumeNodeAffinity" {
    1 "required" msg(core_v1::NODE_SELECTOR) omit ptr;
}}
message! { VOLUME_STATUS = "VolumeStatus" {
    1 "image" msg(IMAGE_VOLUME_STATUS) omit ptr;
}}
