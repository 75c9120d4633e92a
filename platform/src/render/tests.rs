//! The rendered agent YAML parses into the expected objects, and env lines round-trip.

use serde::Deserialize as _;
use serde_json::Value;

use super::*;

const PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nAbC+/=\n-----END CERTIFICATE-----\n";

fn settings() -> AgentSettings {
    AgentSettings {
        hub_endpoint: "hub.example.com:9443".into(),
        hub_private_endpoint: None,
        cluster_name: "demo".into(),
        ca_bundle: PEM.into(),
        bootstrap_token: "abcdef.0123456789abcdef".into(),
        transport: "auto".into(),
    }
}

/// Parse a multi-document YAML stream.
pub(crate) fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter().find(|d| d["kind"] == kind).unwrap()
}

#[test]
fn yaml_has_the_expected_objects() {
    let yaml = agent_yaml(&settings(), "registry.local/agent:1");
    let docs = docs(&yaml);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
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

    let deploy = kind(&docs, "Deployment");
    assert_eq!(deploy["metadata"]["name"], AGENT_NAME);
    assert_eq!(deploy["metadata"]["namespace"], "kube-system");
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["app"], AGENT_NAME);
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["app"],
        AGENT_NAME
    );
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.local/agent:1");
    assert_eq!(c["envFrom"][0]["secretRef"]["name"], CONFIG_SECRET);
    assert_eq!(c["env"][0]["name"], ENV_AGENT_ID);
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["resources"]["requests"]["cpu"], "50m");
    assert_eq!(c["resources"]["requests"]["memory"], "32Mi");
    assert_eq!(c["resources"]["limits"]["memory"], "128Mi");

    let role = kind(&docs, "ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    let verbs: Vec<&Value> = rules
        .iter()
        .flat_map(|r| r["verbs"].as_array().unwrap())
        .collect();
    assert!(
        verbs.contains(&&Value::from("delete")),
        "Works carry any kind"
    );
    for never in ["impersonate", "escalate", "bind", "*"] {
        assert!(!verbs.contains(&&Value::from(never)), "{never} in {role}");
    }
    // Impersonation: any user, but only listed groups, never system:masters by default.
    let imp = docs
        .iter()
        .find(|d| d["metadata"]["name"] == IMPERSONATOR)
        .unwrap();
    let text = imp.to_string();
    assert!(text.contains("\"users\"") && !text.contains("serviceaccounts"));
    assert!(!text.contains("system:masters"));
    for d in &docs {
        assert!(!d.to_string().contains("system:masters"), "{d}");
    }
    // The opt-in is there, commented out; uncommented it is one ClusterRole and its binding.
    let opt_in = uncommented_opt_in(&yaml);
    let opt = super::tests::docs(&opt_in);
    assert_eq!(opt.len(), 2);
    assert_eq!(opt[0]["rules"][0]["resourceNames"][0], "system:masters");
    assert_eq!(opt[1]["roleRef"]["name"], MASTERS_OPT_IN);
    let binding = kind(&docs, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["namespace"], "kube-system");

    let secret = kind(&docs, "Secret");
    let data = secret["stringData"].as_object().unwrap();
    assert_eq!(data[ENV_CLUSTER_NAME], "demo");
    assert_eq!(data[ENV_BOOTSTRAP_TOKEN], "abcdef.0123456789abcdef");
    assert_eq!(data[ENV_IDENTITY_SECRET], DEFAULT_IDENTITY_SECRET);
    assert_eq!(data[ENV_HEALTH_ADDR], DEFAULT_HEALTH_ADDR);
    assert!(
        !data.contains_key(ENV_HUB_PRIVATE_ENDPOINT),
        "public variant"
    );
    let ca = data[ENV_HUB_CA].as_str().unwrap();
    assert!(!ca.contains('\n'));
    assert_eq!(unescape_env_value(ca), PEM);
}

#[test]
fn private_variant_carries_the_private_endpoint() {
    let s = AgentSettings {
        hub_private_endpoint: Some("10.0.0.1:9443".into()),
        ..settings()
    };
    let docs = docs(&agent_yaml(&s, "i"));
    assert_eq!(
        kind(&docs, "Secret")["stringData"][ENV_HUB_PRIVATE_ENDPOINT],
        "10.0.0.1:9443"
    );
    assert!(agent_env(&s).contains("CCEONE_HUB_PRIVATE_ENDPOINT=10.0.0.1:9443\n"));
}

#[test]
fn awkward_values_survive_yaml() {
    let s = AgentSettings {
        cluster_name: "yes".into(),
        transport: "'\": #{}[]".into(),
        ca_bundle: "a: b\n- c\n\\n".into(),
        ..settings()
    };
    let docs = docs(&agent_yaml(&s, "img: with colon"));
    let data = &kind(&docs, "Secret")["stringData"];
    assert_eq!(
        data[ENV_CLUSTER_NAME], "yes",
        "stays a string, not a YAML bool"
    );
    assert_eq!(data[ENV_TRANSPORT], "'\": #{}[]");
    assert_eq!(
        unescape_env_value(data[ENV_HUB_CA].as_str().unwrap()),
        "a: b\n- c\n\\n"
    );
}

#[test]
fn env_lines_parse_and_round_trip() {
    let env = agent_env(&settings());
    let pairs: Vec<(&str, &str)> = env.lines().map(|l| l.split_once('=').unwrap()).collect();
    let keys: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(
        keys,
        [
            ENV_HUB_ENDPOINT,
            ENV_CLUSTER_NAME,
            ENV_HUB_CA_BASE64,
            ENV_BOOTSTRAP_TOKEN,
            ENV_TRANSPORT
        ]
    );
    let ca = pairs.iter().find(|p| p.0 == ENV_HUB_CA_BASE64).unwrap().1;
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(ca)
        .unwrap();
    assert_eq!(String::from_utf8(pem).unwrap(), PEM);
    // One shell word per value: nothing a shell splits, expands, quotes or escapes, so
    // `env $(cat file)` and `set -a; . file` both read every value as written.
    for (k, v) in pairs {
        assert!(
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=.:-_".contains(c)),
            "{k}={v}"
        );
    }
}

#[test]
fn escaping_round_trips() {
    for v in [
        "",
        "plain",
        "a\nb",
        "back\\slash",
        "\\n literal",
        "x\\\ny",
        "\n\n",
        "é\n",
    ] {
        let e = escape_env_value(v);
        assert!(!e.contains('\n'), "{e}");
        assert_eq!(unescape_env_value(&e), v, "{v:?}");
    }
    assert_eq!(escape_env_value("a\r\nb"), "a\\nb");
    // Unescaped PEM (real newlines) passes through unchanged.
    assert_eq!(unescape_env_value(PEM), PEM);
    assert_eq!(unescape_env_value("trailing\\"), "trailing\\");
}

#[test]
fn debug_masks_the_token_and_validate_checks() {
    let s = settings();
    let dbg = format!("{s:?}");
    assert!(
        !dbg.contains("0123456789abcdef") && dbg.contains("<masked>"),
        "{dbg}"
    );
    assert!(s.validate().is_ok());
    for bad in [
        AgentSettings {
            transport: "udp".into(),
            ..settings()
        },
        AgentSettings {
            hub_endpoint: "nohost".into(),
            ..settings()
        },
        AgentSettings {
            hub_private_endpoint: Some("x".into()),
            ..settings()
        },
        AgentSettings {
            cluster_name: "Bad".into(),
            ..settings()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    assert!(default_image().starts_with("cceone/cluster-agent:"));
}
