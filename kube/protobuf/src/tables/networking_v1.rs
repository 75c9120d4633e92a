//! Descriptors of the `networking.k8s.io/v1` messages: Ingress, IngressClass, NetworkPolicy,
//! IPAddress, ServiceCIDR and their parts.
//!
//! Field numbers are those of k8s.io/api's `networking/v1` protobuf definitions; the flags follow
//! the Go struct tags (see [`crate::descriptor`]).

use super::{core_v1, meta_v1};

message! { HTTP_INGRESS_PATH = "HTTPIngressPath" {
    1 "path" str omit; 2 "backend" msg(INGRESS_BACKEND); 3 "pathType" str ptr;
}}
message! { HTTP_INGRESS_RULE_VALUE = "HTTPIngressRuleValue" {
    1 "paths" msg(HTTP_INGRESS_PATH) list;
}}
message! { IP_ADDRESS = "IPAddress" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(IP_ADDRESS_SPEC) omit;
}}
message! { IP_ADDRESS_SPEC = "IPAddressSpec" {
    1 "parentRef" msg(PARENT_REFERENCE) omit ptr;
}}
message! { IP_BLOCK = "IPBlock" {
    1 "cidr" str; 2 "except" str list omit;
}}
message! { INGRESS = "Ingress" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(INGRESS_SPEC) omit;
    3 "status" msg(INGRESS_STATUS) omit;
}}
message! { INGRESS_BACKEND = "IngressBackend" {
    3 "resource" msg(core_v1::TYPED_LOCAL_OBJECT_REFERENCE) omit ptr;
    4 "service" msg(INGRESS_SERVICE_BACKEND) omit ptr;
}}
message! { INGRESS_CLASS = "IngressClass" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(INGRESS_CLASS_SPEC) omit;
}}
message! { INGRESS_CLASS_PARAMETERS_REFERENCE = "IngressClassParametersReference" {
    1 "apiGroup" str omit ptr; 2 "kind" str; 3 "name" str; 4 "scope" str ptr;
    5 "namespace" str omit ptr;
}}
message! { INGRESS_CLASS_SPEC = "IngressClassSpec" {
    1 "controller" str omit; 2 "parameters" msg(INGRESS_CLASS_PARAMETERS_REFERENCE) omit ptr;
}}
message! { INGRESS_LOAD_BALANCER_INGRESS = "IngressLoadBalancerIngress" {
    1 "ip" str omit; 2 "hostname" str omit; 4 "ports" msg(INGRESS_PORT_STATUS) list omit;
}}
message! { INGRESS_LOAD_BALANCER_STATUS = "IngressLoadBalancerStatus" {
    1 "ingress" msg(INGRESS_LOAD_BALANCER_INGRESS) list omit;
}}
message! { INGRESS_PORT_STATUS = "IngressPortStatus" {
    1 "port" i32; 2 "protocol" str; 3 "error" str omit ptr;
}}
message! { INGRESS_RULE = "IngressRule" {
    1 "host" str omit; 2 "ingressRuleValue" msg(INGRESS_RULE_VALUE) inline;
}}
message! { INGRESS_RULE_VALUE = "IngressRuleValue" {
    1 "http" msg(HTTP_INGRESS_RULE_VALUE) omit ptr;
}}
message! { INGRESS_SERVICE_BACKEND = "IngressServiceBackend" {
    1 "name" str; 2 "port" msg(SERVICE_BACKEND_PORT) omit;
}}
message! { INGRESS_SPEC = "IngressSpec" {
    1 "defaultBackend" msg(INGRESS_BACKEND) omit ptr; 2 "tls" msg(INGRESS_TLS) list omit;
    3 "rules" msg(INGRESS_RULE) list omit; 4 "ingressClassName" str omit ptr;
}}
message! { INGRESS_STATUS = "IngressStatus" {
    1 "loadBalancer" msg(INGRESS_LOAD_BALANCER_STATUS) omit;
}}
message! { INGRESS_TLS = "IngressTLS" {
    1 "hosts" str list omit; 2 "secretName" str omit;
}}
message! { NETWORK_POLICY = "NetworkPolicy" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(NETWORK_POLICY_SPEC) omit;
}}
message! { NETWORK_POLICY_EGRESS_RULE = "NetworkPolicyEgressRule" {
    1 "ports" msg(NETWORK_POLICY_PORT) list omit; 2 "to" msg(NETWORK_POLICY_PEER) list omit;
}}
message! { NETWORK_POLICY_INGRESS_RULE = "NetworkPolicyIngressRule" {
    1 "ports" msg(NETWORK_POLICY_PORT) list omit; 2 "from" msg(NETWORK_POLICY_PEER) list omit;
}}
message! { NETWORK_POLICY_PEER = "NetworkPolicyPeer" {
    1 "podSelector" msg(meta_v1::LABEL_SELECTOR) omit ptr;
    2 "namespaceSelector" msg(meta_v1::LABEL_SELECTOR) omit ptr;
    3 "ipBlock" msg(IP_BLOCK) omit ptr;
}}
message! { NETWORK_POLICY_PORT = "NetworkPolicyPort" {
    1 "protocol" str omit ptr; 2 "port" ios omit ptr; 3 "endPort" i32 omit ptr;
}}
message! { NETWORK_POLICY_SPEC = "NetworkPolicySpec" {
    1 "podSelector" msg(meta_v1::LABEL_SELECTOR);
    2 "ingress" msg(NETWORK_POLICY_INGRESS_RULE) list omit;
    3 "egress" msg(NETWORK_POLICY_EGRESS_RULE) list omit; 4 "policyTypes" str list omit;
}}
message! { PARENT_REFERENCE = "ParentReference" {
    1 "group" str omit; 2 "resource" str omit; 3 "namespace" str omit; 4 "name" str omit;
}}
message! { SERVICE_BACKEND_PORT = "ServiceBackendPort" {
    1 "name" str omit; 2 "number" i32 omit;
}}
message! { SERVICE_CIDR = "ServiceCIDR" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(SERVICE_CIDR_SPEC) omit;
    3 "status" msg(SERVICE_CIDR_STATUS) omit;
}}
message! { SERVICE_CIDR_SPEC = "ServiceCIDRSpec" {
    1 "cidrs" str list omit;
}}
message! { SERVICE_CIDR_STATUS = "ServiceCIDRStatus" {
    1 "conditions" msg(meta_v1::CONDITION) list omit;
}}
