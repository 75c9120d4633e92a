//! The checked-in manifests: `manifests/agent.yaml` is exactly what `render::agent_yaml`
//! produces with placeholders (`CCEONE_BLESS=1` rewrites it), and `manifests/hub.yaml` holds
//! the hub's Namespace, ServiceAccount, Deployment and a Service on 9443 over TCP and UDP.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use cceone_platform::render::{self, AgentSettings};
use serde::Deserialize as _;
use serde_json::Value;

const AGENT_HEADER: &str = r"# cceone-cluster-agent: the manifests that join one member cluster to the hub.
#
# Render them for a registered cluster with
#   cceonectl cluster register NAME --type local|ctyun|third-party [--endpoint public|private] > agent.yaml
# (`cceonectl cluster token NAME` issues a fresh bootstrap token later), then in the member cluster:
#   kubectl apply -f agent.yaml
#
# This file is that output with placeholders, for envsubst or another templating tool:
#   ${HUB_ENDPOINT}          the hub's public host:port, e.g. hub.example.com:9443
#   ${HUB_PRIVATE_ENDPOINT}  the hub's private host:port (the agent then dials it);
#                            for the public-endpoint variant delete that line
#   ${CLUSTER_NAME}          the registered cluster's name
#   ${HUB_CA}                the hub CA bundle (PEM) on one line, each newline written as \n
#   ${BOOTSTRAP_TOKEN}       a one-time bootstrap token
#   ${TRANSPORT}             auto (QUIC, falling back to TCP), grpc or quic
#   ${IMAGE}                 the agent image, by default cceone/cluster-agent:<version>
# The agent reads every config value unescaped (\n -> newline, \\ -> \).
# platform/tests/manifests.rs keeps this file equal to cceone_platform::render::agent_yaml
# (CCEONE_BLESS=1 cargo test -p cceone-platform --test manifests rewrites it).
";

fn manifests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn placeholders() -> AgentSettings {
    AgentSettings {
        hub_endpoint: "${HUB_ENDPOINT}".into(),
        hub_private_endpoint: Some("${HUB_PRIVATE_ENDPOINT}".into()),
        cluster_name: "${CLUSTER_NAME}".into(),
        ca_bundle: "${HUB_CA}".into(),
        bootstrap_token: "${BOOTSTRAP_TOKEN}".into(),
        transport: "${TRANSPORT}".into(),
    }
}

#[test]
fn agent_template_matches_the_renderer() {
    let rendered = render::agent_yaml(&placeholders(), "${IMAGE}");
    let path = manifests().join("agent.yaml");
    if std::env::var_os("CCEONE_BLESS").is_some() {
        std::fs::write(&path, format!("{AGENT_HEADER}---\n{rendered}")).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(AGENT_HEADER),
        "header of {} changed",
        path.display()
    );
    // Compared as data, so key order and quoting style do not matter.
    assert_eq!(
        docs(&text),
        docs(&rendered),
        "run with CCEONE_BLESS=1 to regenerate"
    );
    let parsed = docs(&text);
    let agent = parsed.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(
        agent["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let kinds: Vec<&str> = parsed.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Secret",
            "Deployment"
        ]
    );
    // The system:masters opt-in is there, commented out.
    assert!(
        text.contains("#   resourceNames:\n#   - system:masters\n"),
        "{text}"
    );
}

#[test]
fn hub_manifest_exposes_9443_over_tcp_and_udp() {
    let text = std::fs::read_to_string(manifests().join("hub.yaml")).unwrap();
    let docs = docs(&text);
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap();
    assert_eq!(find("Namespace")["metadata"]["name"], "cceone-system");
    assert_eq!(
        find("ServiceAccount")["metadata"]["namespace"],
        "cceone-system"
    );
    let deploy = find("Deployment");
    assert_eq!(deploy["metadata"]["name"], "cceone-hub");
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "the hub uses no token"
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    // Probes use the plain-HTTP health port the hub is told to serve.
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "health");
    let health = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "health")
        .unwrap();
    assert!(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| *a == format!("--health-listen=0.0.0.0:{}", health["containerPort"])),
        "{c}"
    );
    let ports = find("Service")["spec"]["ports"].as_array().unwrap().clone();
    let has = |proto: &str| {
        ports
            .iter()
            .any(|p| p["port"] == 9443 && p["protocol"] == proto)
    };
    assert!(has("TCP") && has("UDP"), "{ports:?}");
    let selector = &find("Service")["spec"]["selector"];
    let labels = &deploy["spec"]["template"]["metadata"]["labels"];
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(&labels[k], v, "the Service selects the hub's pods");
    }
    // Three replicas, spread over nodes, at most one away at a time (issue 13).
    assert_eq!(deploy["spec"]["replicas"], 3);
    let anti = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    let pdb = find("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the budget covers the hub's pods");
        assert_eq!(&anti["labelSelector"]["matchLabels"][k], v);
    }
    assert!(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--peer-endpoint=$(POD_IP):9443"),
        "{c}"
    );
}
