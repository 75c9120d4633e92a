use std::collections::BTreeMap;

use super::*;

fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("self-signed").pem()
}

fn base(ca: &str) -> BTreeMap<String, String> {
    [
        (HUB_ENDPOINT, "hub.example.com:9443"),
        (CLUSTER_NAME, "member1"),
        (HUB_CA, ca),
        (BOOTSTRAP_TOKEN, "abcdef.0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with(mut env: BTreeMap<String, String>, k: &str, v: &str) -> BTreeMap<String, String> {
    env.insert(k.to_string(), v.to_string());
    env
}

fn without(mut env: BTreeMap<String, String>, k: &str) -> BTreeMap<String, String> {
    env.remove(k);
    env
}

fn err_of(env: &BTreeMap<String, String>) -> ConfigError {
    match Config::from_env(env) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults() {
    let ca = ca_pem();
    let env = with(base(&ca), "HOSTNAME", "cceone-cluster-agent-7d9f-abcde");
    let cfg = Config::from_env(&env).expect("valid");
    assert_eq!(
        cfg.hub_endpoint,
        HubEndpoint {
            host: "hub.example.com".into(),
            port: 9443
        }
    );
    assert_eq!(cfg.hub_private_endpoint, None);
    assert_eq!(cfg.cluster_name, "member1");
    assert_eq!(cfg.transport, Transport::Auto);
    assert_eq!(cfg.agent_id, "cceone-cluster-agent-7d9f-abcde");
    assert_eq!(cfg.identity_secret, "cceone-agent-identity");
    assert_eq!(cfg.namespace, "kube-system");
    assert_eq!(cfg.health_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(cfg.protocol_max, None);
    assert_eq!(
        cfg.bootstrap_token.as_ref().map(MaskedString::expose),
        Some("abcdef.0123456789abcdef")
    );
    assert_eq!(cfg.hub_endpoints().count(), 1);
}

#[test]
fn every_option() {
    let ca = ca_pem();
    let env = base(&ca);
    let env = with(env, HUB_PRIVATE_ENDPOINT, "[fd00::1]:9443");
    let env = with(env, TRANSPORT, "QUIC");
    let env = with(env, AGENT_ID, "agent-a");
    let env = with(env, IDENTITY_SECRET, "my-identity");
    let env = with(env, NAMESPACE, "cceone-system");
    let env = with(env, HEALTH_ADDR, "127.0.0.1:0");
    let env = with(env, AGENT_PROTOCOL_MAX, "1");
    let cfg = Config::from_env(&env).expect("valid");
    let private = cfg.hub_private_endpoint.clone().expect("private endpoint");
    assert_eq!(private.host, "fd00::1");
    assert_eq!(private.authority(), "[fd00::1]:9443");
    assert_eq!(cfg.transport, Transport::Quic);
    assert_eq!(cfg.agent_id, "agent-a");
    assert_eq!(cfg.identity_secret, "my-identity");
    assert_eq!(cfg.namespace, "cceone-system");
    assert_eq!(cfg.health_addr.port(), 0);
    assert_eq!(cfg.protocol_max, Some(1));
    let order: Vec<String> = cfg.hub_endpoints().map(|e| e.to_string()).collect();
    assert_eq!(order, ["hub.example.com:9443", "[fd00::1]:9443"]);
}

#[test]
fn random_agent_id_without_hostname() {
    let ca = ca_pem();
    let a = Config::from_env(&base(&ca)).expect("valid");
    let b = Config::from_env(&base(&ca)).expect("valid");
    assert!(a.agent_id.starts_with("cceone-agent-"));
    assert_ne!(a.agent_id, b.agent_id);
}

#[test]
fn missing_required_variables_are_named() {
    let ca = ca_pem();
    // Without either form of the CA the error names the one cceonectl writes.
    for (var, named) in [
        (HUB_ENDPOINT, HUB_ENDPOINT),
        (CLUSTER_NAME, CLUSTER_NAME),
        (HUB_CA, HUB_CA_BASE64),
    ] {
        let e = err_of(&without(base(&ca), var));
        assert!(
            matches!(e, ConfigError::Missing { var: v } if v == named),
            "{e}"
        );
        assert!(e.to_string().contains(var), "{e}");
        let e = err_of(&with(base(&ca), var, "   "));
        assert!(e.to_string().contains(var), "blank {var}: {e}");
    }
}

#[test]
fn bootstrap_token_is_optional() {
    let ca = ca_pem();
    let cfg = Config::from_env(&without(base(&ca), BOOTSTRAP_TOKEN)).expect("valid");
    assert!(cfg.bootstrap_token.is_none());
}

#[test]
fn invalid_values_name_the_variable() {
    let ca = ca_pem();
    let cases = [
        (HUB_ENDPOINT, "hub.example.com"),
        (HUB_ENDPOINT, "hub.example.com:http"),
        (HUB_ENDPOINT, "https://hub:9443/x"),
        (HUB_ENDPOINT, "hub:0"),
        (HUB_PRIVATE_ENDPOINT, "10.0.0.1"),
        (CLUSTER_NAME, "Member_1"),
        (HUB_CA, "not a certificate"),
        (HUB_CA_BASE64, "not base64!"),
        (HUB_CA_BASE64, "bm90IGEgY2VydGlmaWNhdGU="),
        (HUB_CA_BASE64, "//79"),
        (TRANSPORT, "carrier-pigeon"),
        (NAMESPACE, "Kube System"),
        (IDENTITY_SECRET, "-bad"),
        (HEALTH_ADDR, "localhost"),
        (AGENT_PROTOCOL_MAX, "two"),
    ];
    for (var, value) in cases {
        let e = err_of(&with(base(&ca), var, value));
        assert!(
            matches!(&e, ConfigError::Invalid { var: v, .. } if *v == var),
            "{var}={value:?}: {e}"
        );
        assert!(e.to_string().starts_with(var), "{e}");
    }
}

#[test]
fn ca_with_literal_newline_escapes() {
    let ca = ca_pem();
    let escaped = ca.trim().replace('\n', "\\n");
    assert!(!escaped.contains('\n'));
    let cfg = Config::from_env(&with(base(&ca), HUB_CA, &escaped)).expect("valid");
    assert_eq!(cfg.hub_ca_pem.trim(), ca.trim());
    let crlf = ca.trim().replace('\n', "\\r\\n");
    let cfg = Config::from_env(&with(base(&ca), HUB_CA, &crlf)).expect("valid");
    assert_eq!(cfg.hub_ca_pem.trim(), ca.trim());
    let real = Config::from_env(&base(&ca)).expect("valid");
    assert_eq!(real.hub_ca_pem.trim(), ca.trim());
    assert!(real.hub_ca_pem.ends_with('\n'));
}

#[test]
fn ca_as_base64_wins_over_the_escaped_form() {
    use base64::Engine as _;
    let ca = ca_pem();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ca);
    assert!(!b64.contains(char::is_whitespace));
    let only_b64 = with(without(base(&ca), HUB_CA), HUB_CA_BASE64, &b64);
    let cfg = Config::from_env(&only_b64).expect("valid");
    assert_eq!(cfg.hub_ca_pem.trim(), ca.trim());
    // Wrapped at 76 columns (`base64` without -w0) reads the same.
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect();
    assert!(wrapped.lines().count() > 1);
    let cfg = Config::from_env(&with(base(&ca), HUB_CA_BASE64, &wrapped)).expect("valid");
    assert_eq!(cfg.hub_ca_pem.trim(), ca.trim());
    // Both set: the base64 one is used, so a stale escaped CA cannot shadow it.
    let both = with(
        with(base(&ca), HUB_CA, "garbage that would not parse"),
        HUB_CA_BASE64,
        &b64,
    );
    assert_eq!(
        Config::from_env(&both).expect("valid").hub_ca_pem.trim(),
        ca.trim()
    );
}

#[test]
fn an_env_file_under_the_environment() {
    use base64::Engine as _;
    let ca = ca_pem();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ca);
    let file = EnvFile::parse(&format!(
        "{HUB_ENDPOINT}=hub.example.com:9443\n{CLUSTER_NAME}=edge\n{HUB_CA_BASE64}={b64}\n{TRANSPORT}=grpc\n"
    ))
    .expect("parses");
    let over: BTreeMap<String, String> = [(TRANSPORT.to_string(), "quic".to_string())].into();
    let cfg = Config::from_env(&Layered { over, under: file }).expect("valid");
    assert_eq!(cfg.cluster_name, "edge");
    assert_eq!(cfg.transport, Transport::Quic, "the environment wins");
    assert_eq!(cfg.hub_ca_pem.trim(), ca.trim());
}

#[test]
fn token_is_masked_in_debug() {
    let ca = ca_pem();
    let cfg = Config::from_env(&base(&ca)).expect("valid");
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(shown.contains("***"));
    assert_eq!(
        MaskedString::new("s3cret").to_string(),
        "***",
        "Display is masked too"
    );
}

#[test]
fn transports() {
    for (s, t) in [
        ("auto", Transport::Auto),
        ("grpc", Transport::Grpc),
        ("GRPC", Transport::Grpc),
        ("quic", Transport::Quic),
    ] {
        assert_eq!(s.parse::<Transport>(), Ok(t));
    }
}

#[test]
fn several_hub_endpoints() {
    let ca = ca_pem();
    let env = with(
        base(&ca),
        HUB_ENDPOINT,
        " hub-a.example.com:9443, 10.0.0.2:9443,,[fd00::3]:9443,hub-a.example.com:9443 ",
    );
    let env = with(env, HUB_PRIVATE_ENDPOINT, "10.1.0.1:9443");
    let cfg = Config::from_env(&env).expect("valid");
    assert_eq!(cfg.hub_endpoint.host, "hub-a.example.com");
    let order: Vec<String> = cfg.hub_endpoints().map(|e| e.to_string()).collect();
    assert_eq!(
        order,
        [
            "hub-a.example.com:9443",
            "10.0.0.2:9443",
            "[fd00::3]:9443",
            "10.1.0.1:9443"
        ]
    );
    // One bad item names the variable.
    let bad = with(base(&ca), HUB_ENDPOINT, "hub-a:9443,hub-b");
    assert!(matches!(
        err_of(&bad),
        ConfigError::Invalid {
            var: HUB_ENDPOINT,
            ..
        }
    ));
    let empty = with(base(&ca), HUB_ENDPOINT, " , ");
    assert!(matches!(
        err_of(&empty),
        ConfigError::Missing { var: HUB_ENDPOINT }
    ));
}
