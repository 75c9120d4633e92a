//! Descriptors of the core (`v1`) messages reachable from PodSpec, except volume sources: Pod,
//! PodTemplate(Spec), Container, probes, security contexts, affinity, tolerations, ...
//!
//! Field numbers are those of k8s.io/api's `core/v1` protobuf definitions; the flags follow the
//! Go struct tags (see [`crate::descriptor`]).

use super::{core_v1, meta_v1};

message! { AFFINITY = "Affinity" {
    1 "nodeAffinity" msg(NODE_AFFINITY) omit ptr; 2 "podAffinity" msg(POD_AFFINITY) omit ptr;
    3 "podAntiAffinity" msg(POD_ANTI_AFFINITY) omit ptr;
}}
message! { APP_ARMOR_PROFILE = "AppArmorProfile" {
    1 "type" str; 2 "localhostProfile" str omit ptr;
}}
message! { CAPABILITIES = "Capabilities" {
    1 "add" str list omit; 2 "drop" str list omit;
}}
message! { CONFIG_MAP_ENV_SOURCE = "ConfigMapEnvSource" {
    1 "localObjectReference" msg(core_v1::LOCAL_OBJECT_REFERENCE) inline;
    2 "optional" bool omit ptr;
}}
message! { CONFIG_MAP_KEY_SELECTOR = "ConfigMapKeySelector" {
    1 "localObjectReference" msg(core_v1::LOCAL_OBJECT_REFERENCE) inline; 2 "key" str;
    3 "optional" bool omit ptr;
}}
message! { CONTAINER = "Container" {
    1 "name" str; 2 "image" str omit; 3 "command" str list omit; 4 "args" str list omit;
    5 "workingDir" str omit; 6 "ports" msg(CONTAINER_PORT) list omit;
    7 "env" msg(ENV_VAR) list omit; 8 "resources" msg(RESOURCE_REQUIREMENTS) omit;
    9 "volumeMounts" msg(VOLUME_MOUNT) list omit; 10 "livenessProbe" msg(PROBE) omit ptr;
    11 "readinessProbe" msg(PROBE) omit ptr; 12 "lifecycle" msg(LIFECYCLE) omit ptr;
    13 "terminationMessagePath" str omit; 14 "imagePullPolicy" str omit;
    15 "securityContext" msg(SECURITY_CONTEXT) omit ptr; 16 "stdin" bool omit;
    17 "stdinOnce" bool omit; 18 "tty" bool omit; 19 "envFrom" msg(ENV_FROM_SOURCE) list omit;
    20 "terminationMessagePolicy" str omit; 21 "volumeDevices" msg(VOLUME_DEVICE) list omit;
    22 "startupProbe" msg(PROBE) omit ptr;
    23 "resizePolicy" msg(CONTAINER_RESIZE_POLICY) list omit; 24 "restartPolicy" str omit ptr;
    25 "restartPolicyRules" msg(CONTAINER_RESTART_RULE) list omit;
}}
message! { CONTAINER_PORT = "ContainerPort" {
    1 "name" str omit; 2 "hostPort" i32 omit; 3 "containerPort" i32; 4 "protocol" str omit;
    5 "hostIP" str omit;
}}
message! { CONTAINER_RESIZE_POLICY = "ContainerResizePolicy" {
    1 "resourceName" str; 2 "restartPolicy" str;
}}
message! { CONTAINER_RESTART_RULE = "ContainerRestartRule" {
    1 "action" str omit; 2 "exitCodes" msg(CONTAINER_RESTART_RULE_ON_EXIT_CODES) omit ptr;
}}
message! { CONTAINER_RESTART_RULE_ON_EXIT_CODES = "ContainerRestartRuleOnExitCodes" {
    1 "operator" str omit; 2 "values" i32 list omit;
}}
message! { ENV_FROM_SOURCE = "EnvFromSource" {
    1 "prefix" str omit; 2 "configMapRef" msg(CONFIG_MAP_ENV_SOURCE) omit ptr;
    3 "secretRef" msg(SECRET_ENV_SOURCE) omit ptr;
}}
message! { ENV_VAR = "EnvVar" {
    1 "name" str; 2 "value" str omit; 3 "valueFrom" msg(ENV_VAR_SOURCE) omit ptr;
}}
message! { ENV_VAR_SOURCE = "EnvVarSource" {
    1 "fieldRef" msg(core_v1::OBJECT_FIELD_SELECTOR) omit ptr;
    2 "resourceFieldRef" msg(core_v1::RESOURCE_FIELD_SELECTOR) omit ptr;
    3 "configMapKeyRef" msg(CONFIG_MAP_KEY_SELECTOR) omit ptr;
    4 "secretKeyRef" msg(SECRET_KEY_SELECTOR) omit ptr;
    5 "fileKeyRef" msg(FILE_KEY_SELECTOR) omit ptr;
}}
message! { EPHEMERAL_CONTAINER = "EphemeralContainer" {
    1 "ephemeralContainerCommon" msg(EPHEMERAL_CONTAINER_COMMON) inline;
    2 "targetContainerName" str omit;
}}
message! { EPHEMERAL_CONTAINER_COMMON = "EphemeralContainerCommon" {
    1 "name" str; 2 "image" str omit; 3 "command" str list omit; 4 "args" str list omit;
    5 "workingDir" str omit; 6 "ports" msg(CONTAINER_PORT) list omit;
    7 "env" msg(ENV_VAR) list omit; 8 "resources" msg(RESOURCE_REQUIREMENTS) omit;
    9 "volumeMounts" msg(VOLUME_MOUNT) list omit; 10 "livenessProbe" msg(PROBE) omit ptr;
    11 "readinessProbe" msg(PROBE) omit ptr; 12 "lifecycle" msg(LIFECYCLE) omit ptr;
    13 "terminationMessagePath" str omit; 14 "imagePullPolicy" str omit;
    15 "securityContext" msg(SECURITY_CONTEXT) omit ptr; 16 "stdin" bool omit;
    17 "stdinOnce" bool omit; 18 "tty" bool omit; 19 "envFrom" msg(ENV_FROM_SOURCE) list omit;
    20 "terminationMessagePolicy" str omit; 21 "volumeDevices" msg(VOLUME_DEVICE) list omit;
    22 "startupProbe" msg(PROBE) omit ptr;
    23 "resizePolicy" msg(CONTAINER_RESIZE_POLICY) list omit; 24 "restartPolicy" str omit ptr;
    25 "restartPolicyRules" msg(CONTAINER_RESTART_RULE) list omit;
}}
message! { EXEC_ACTION = "ExecAction" {
    1 "command" str list omit;
}}
message! { FILE_KEY_SELECTOR = "FileKeySelector" {
    1 "volumeName" str; 2 "path" str; 3 "key" str; 4 "optional" bool omit ptr;
}}
message! { GRPC_ACTION = "GRPCAction" {
    1 "port" i32; 2 "service" str ptr;
}}
message! { HTTP_GET_ACTION = "HTTPGetAction" {
    1 "path" str omit; 2 "port" ios; 3 "host" str omit; 4 "scheme" str omit;
    5 "httpHeaders" msg(HTTP_HEADER) list omit;
}}
message! { HTTP_HEADER = "HTTPHeader" {
    1 "name" str; 2 "value" str;
}}
message! { HOST_ALIAS = "HostAlias" {
    1 "ip" str; 2 "hostnames" str list omit;
}}
message! { LIFECYCLE = "Lifecycle" {
    1 "postStart" msg(LIFECYCLE_HANDLER) omit ptr; 2 "preStop" msg(LIFECYCLE_HANDLER) omit ptr;
    3 "stopSignal" str omit ptr;
}}
message! { LIFECYCLE_HANDLER = "LifecycleHandler" {
    1 "exec" msg(EXEC_ACTION) omit ptr; 2 "httpGet" msg(HTTP_GET_ACTION) omit ptr;
    3 "tcpSocket" msg(TCP_SOCKET_ACTION) omit ptr; 4 "sleep" msg(SLEEP_ACTION) omit ptr;
}}
message! { NODE_AFFINITY = "NodeAffinity" {
    1 "requiredDuringSchedulingIgnoredDuringExecution" msg(NODE_SELECTOR) omit ptr;
    2 "preferredDuringSchedulingIgnoredDuringExecution" msg(PREFERRED_SCHEDULING_TERM) list omit;
}}
message! { NODE_SELECTOR = "NodeSelector" {
    1 "nodeSelectorTerms" msg(NODE_SELECTOR_TERM) list;
}}
message! { NODE_SELECTOR_REQUIREMENT = "NodeSelectorRequirement" {
    1 "key" str; 2 "operator" str; 3 "values" str list omit;
}}
message! { NODE_SELECTOR_TERM = "NodeSelectorTerm" {
    1 "matchExpressions" msg(NODE_SELECTOR_REQUIREMENT) list omit;
    2 "matchFields" msg(NODE_SELECTOR_REQUIREMENT) list omit;
}}
message! { POD_AFFINITY = "PodAffinity" {
    1 "requiredDuringSchedulingIgnoredDuringExecution" msg(POD_AFFINITY_TERM) list omit;
    2 "preferredDuringSchedulingIgnoredDuringExecution" msg(WEIGHTED_POD_AFFINITY_TERM) list omit;
}}
message! { POD_AFFINITY_TERM = "PodAffinityTerm" {
    1 "labelSelector" msg(meta_v1::LABEL_SELECTOR) omit ptr; 2 "namespaces" str list omit;
    3 "topologyKey" str; 4 "namespaceSelector" msg(meta_v1::LABEL_SELECTOR) omit ptr;
    5 "matchLabelKeys" str list omit; 6 "mismatchLabelKeys" str list omit;
}}
message! { POD_ANTI_AFFINITY = "PodAntiAffinity" {
    1 "requiredDuringSchedulingIgnoredDuringExecution" msg(POD_AFFINITY_TERM) list omit;
    2 "preferredDuringSchedulingIgnoredDuringExecution" msg(WEIGHTED_POD_AFFINITY_TERM) list omit;
}}
message! { POD_DNS_CONFIG = "PodDNSConfig" {
    1 "nameservers" str list omit; 2 "searches" str list omit;
    3 "options" msg(POD_DNS_CONFIG_OPTION) list omit;
}}
message! { POD_DNS_CONFIG_OPTION = "PodDNSConfigOption" {
    1 "name" str omit; 2 "value" str omit ptr;
}}
message! { POD_OS = "PodOS" {
    1 "name" str;
}}
message! { POD_READINESS_GATE = "PodReadinessGate" {
    1 "conditionType" str;
}}
message! { POD_RESOURCE_CLAIM = "PodResourceClaim" {
    1 "name" str; 3 "resourceClaimName" str omit ptr;
    4 "resourceClaimTemplateName" str omit ptr;
}}
message! { POD_SCHEDULING_GATE = "PodSchedulingGate" {
    1 "name" str;
}}
message! { POD_SCHEDULING_GROUP = "PodSchedulingGroup" {
    1 "podGroupName" str omit ptr;
}}
message! { POD_SECURITY_CONTEXT = "PodSecurityContext" {
    1 "seLinuxOptions" msg(SE_LINUX_OPTIONS) omit ptr; 2 "runAsUser" i64 omit ptr;
    3 "runAsNonRoot" bool omit ptr; 4 "supplementalGroups" i64 list omit;
    5 "fsGroup" i64 omit ptr; 6 "runAsGroup" i64 omit ptr; 7 "sysctls" msg(SYSCTL) list omit;
    8 "windowsOptions" msg(WINDOWS_SECURITY_CONTEXT_OPTIONS) omit ptr;
    9 "fsGroupChangePolicy" str omit ptr; 10 "seccompProfile" msg(SECCOMP_PROFILE) omit ptr;
    11 "appArmorProfile" msg(APP_ARMOR_PROFILE) omit ptr;
    12 "supplementalGroupsPolicy" str omit ptr; 13 "seLinuxChangePolicy" str omit ptr;
}}
message! { POD_SPEC = "PodSpec" {
    1 "volumes" msg(VOLUME) list omit; 2 "containers" msg(CONTAINER) list;
    3 "restartPolicy" str omit; 4 "terminationGracePeriodSeconds" i64 omit ptr;
    5 "activeDeadlineSeconds" i64 omit ptr; 6 "dnsPolicy" str omit;
    7 "nodeSelector" str map omit; 8 "serviceAccountName" str omit; 9 "serviceAccount" str omit;
    10 "nodeName" str omit; 11 "hostNetwork" bool omit; 12 "hostPID" bool omit;
    13 "hostIPC" bool omit; 14 "securityContext" msg(POD_SECURITY_CONTEXT) omit ptr;
    15 "imagePullSecrets" msg(core_v1::LOCAL_OBJECT_REFERENCE) list omit;
    16 "hostname" str omit; 17 "subdomain" str omit; 18 "affinity" msg(AFFINITY) omit ptr;
    19 "schedulerName" str omit; 20 "initContainers" msg(CONTAINER) list omit;
    21 "automountServiceAccountToken" bool omit ptr; 22 "tolerations" msg(TOLERATION) list omit;
    23 "hostAliases" msg(HOST_ALIAS) list omit; 24 "priorityClassName" str omit;
    25 "priority" i32 omit ptr; 26 "dnsConfig" msg(POD_DNS_CONFIG) omit ptr;
    27 "shareProcessNamespace" bool omit ptr;
    28 "readinessGates" msg(POD_READINESS_GATE) list omit; 29 "runtimeClassName" str omit ptr;
    30 "enableServiceLinks" bool omit ptr; 31 "preemptionPolicy" str omit ptr;
    32 "overhead" qty map omit;
    33 "topologySpreadConstraints" msg(TOPOLOGY_SPREAD_CONSTRAINT) list omit;
    34 "ephemeralContainers" msg(EPHEMERAL_CONTAINER) list omit;
    35 "setHostnameAsFQDN" bool omit ptr; 36 "os" msg(POD_OS) omit ptr;
    37 "hostUsers" bool omit ptr; 38 "schedulingGates" msg(POD_SCHEDULING_GATE) list omit;
    39 "resourceClaims" msg(POD_RESOURCE_CLAIM) list omit;
    40 "resources" msg(RESOURCE_REQUIREMENTS) omit ptr; 41 "hostnameOverride" str omit ptr;
    43 "schedulingGroup" msg(POD_SCHEDULING_GROUP) omit ptr;
}}
message! { PREFERRED_SCHEDULING_TERM = "PreferredSchedulingTerm" {
    1 "weight" i32; 2 "preference" msg(NODE_SELECTOR_TERM);
}}
message! { PROBE = "Probe" {
    1 "handler" msg(PROBE_HANDLER) inline; 2 "initialDelaySeconds" i32 omit;
    3 "timeoutSeconds" i32 omit; 4 "periodSeconds" i32 omit; 5 "successThreshold" i32 omit;
    6 "failureThreshold" i32 omit; 7 "terminationGracePeriodSeconds" i64 omit ptr;
}}
message! { PROBE_HANDLER = "ProbeHandler" {
    1 "exec" msg(EXEC_ACTION) omit ptr; 2 "httpGet" msg(HTTP_GET_ACTION) omit ptr;
    3 "tcpSocket" msg(TCP_SOCKET_ACTION) omit ptr; 4 "grpc" msg(GRPC_ACTION) omit ptr;
}}
message! { RESOURCE_CLAIM = "ResourceClaim" {
    1 "name" str; 2 "request" str omit;
}}
message! { RESOURCE_REQUIREMENTS = "ResourceRequirements" {
    1 "limits" qty map omit; 2 "requests" qty map omit;
    3 "claims" msg(RESOURCE_CLAIM) list omit;
}}
message! { SE_LINUX_OPTIONS = "SELinuxOptions" {
    1 "user" str omit; 2 "role" str omit; 3 "type" str omit; 4 "level" str omit;
}}
message! { SECCOMP_PROFILE = "SeccompProfile" {
    1 "type" str; 2 "localhostProfile" str omit ptr;
}}
message! { SECRET_ENV_SOURCE = "SecretEnvSource" {
    1 "localObjectReference" msg(core_v1::LOCAL_OBJECT_REFERENCE) inline;
    2 "optional" bool omit ptr;
}}
message! { SECRET_KEY_SELECTOR = "SecretKeySelector" {
    1 "localObjectReference" msg(core_v1::LOCAL_OBJECT_REFERENCE) inline; 2 "key" str;
    3 "optional" bool omit ptr;
}}
message! { SECURITY_CONTEXT = "SecurityContext" {
    1 "capabilities" msg(CAPABILITIES) omit ptr; 2 "privileged" bool omit ptr;
    3 "seLinuxOptions" msg(SE_LINUX_OPTIONS) omit ptr; 4 "runAsUser" i64 omit ptr;
    5 "runAsNonRoot" bool omit ptr; 6 "readOnlyRootFilesystem" bool omit ptr;
    7 "allowPrivilegeEscalation" bool omit ptr; 8 "runAsGroup" i64 omit ptr;
    9 "procMount" str omit ptr;
    10 "windowsOptions" msg(WINDOWS_SECURITY_CONTEXT_OPTIONS) omit ptr;
    11 "seccompProfile" msg(SECCOMP_PROFILE) omit ptr;
    12 "appArmorProfile" msg(APP_ARMOR_PROFILE) omit ptr;
}}
message! { SLEEP_ACTION = "SleepAction" {
    1 "seconds" i64;
}}
message! { SYSCTL = "Sysctl" {
    1 "name" str; 2 "value" str;
}}
message! { TCP_SOCKET_ACTION = "TCPSocketAction" {
    1 "port" ios; 2 "host" str omit;
}}
message! { TOLERATION = "Toleration" {
    1 "key" str omit; 2 "operator" str omit; 3 "value" str omit; 4 "effect" str omit;
    5 "tolerationSeconds" i64 omit ptr;
}}
message! { TOPOLOGY_SPREAD_CONSTRAINT = "TopologySpreadConstraint" {
    1 "maxSkew" i32; 2 "topologyKey" str; 3 "whenUnsatisfiable" str;
    4 "labelSelector" msg(meta_v1::LABEL_SELECTOR) omit ptr; 5 "minDomains" i32 omit ptr;
    6 "nodeAffinityPolicy" str omit ptr; 7 "nodeTaintsPolicy" str omit ptr;
    8 "matchLabelKeys" str list omit;
}}
message! { VOLUME = "Volume" {
    1 "name" str; 2 "volumeSource" msg(core_v1::VOLUME_SOURCE) inline;
}}
message! { VOLUME_DEVICE = "VolumeDevice" {
    1 "name" str; 2 "devicePath" str;
}}
message! { VOLUME_MOUNT = "VolumeMount" {
    1 "name" str; 2 "readOnly" bool omit; 3 "mountPath" str; 4 "subPath" str omit;
    5 "mountPropagation" str omit ptr; 6 "subPathExpr" str omit;
    7 "recursiveReadOnly" str omit ptr;
}}
message! { WEIGHTED_POD_AFFINITY_TERM = "WeightedPodAffinityTerm" {
    1 "weight" i32; 2 "podAffinityTerm" msg(POD_AFFINITY_TERM);
}}
message! { WINDOWS_SECURITY_CONTEXT_OPTIONS = "WindowsSecurityContextOptions" {
    1 "gmsaCredentialSpecName" str omit ptr; 2 "gmsaCredentialSpec" str omit ptr;
    3 "runAsUserName" str omit ptr; 4 "hostProcess" bool omit ptr;
}}
