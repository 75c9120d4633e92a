//! Bootstrap tokens: a wrong, an expired and a reused token are refused. Each refused agent
//! logs the hub's message and stops, its cluster never turns Running, and the hub counts each
//! refusal by reason in `/metrics`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::{Platform, eventually, kubectl, kubesim};

#[test]
fn wrong_expired_and_reused_tokens_are_refused() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "1"]);
    // One member, one namespace per agent: each has its own Lease and identity Secret.
    for ns in ["wrong", "expired", "reuse-1", "reuse-2"] {
        kubectl(&member_kc, &["create", "namespace", ns]);
    }

    // The right id with the wrong secret.
    let mut wrong = p.register("wrong", &[]);
    let token = wrong["CCEONE_BOOTSTRAP_TOKEN"].clone();
    let (id, secret) = token.split_once('.').unwrap();
    let forged = if secret == "z".repeat(16) { "y" } else { "z" }.repeat(16);
    wrong.insert("CCEONE_BOOTSTRAP_TOKEN".into(), format!("{id}.{forged}"));
    wrong.insert("CCEONE_NAMESPACE".into(), "wrong".into());

    // A token that expires (the expiry is kept to whole seconds) before the agent uses it.
    let mut expired = p.register("expired", &["--token-ttl", "1s"]);
    let issued = Instant::now();
    expired.insert("CCEONE_NAMESPACE".into(), "expired".into());

    // A token used once by a first agent, then presented again by an agent on another
    // identity Secret.
    let mut reuse = p.register("reuse", &[]);
    reuse.insert("CCEONE_NAMESPACE".into(), "reuse-1".into());
    let _first = p.agent("reuse-first", &member_kc, reuse.clone());
    p.wait_phase("reuse", "Running", Duration::from_secs(40));
    assert_eq!(
        p.cluster_field("reuse", ".status.agentId"),
        "reuse-first-agent"
    );

    eventually("the expired token's expiry", Duration::from_secs(5), || {
        (issued.elapsed() > Duration::from_millis(1500)).then_some(())
    });
    let mut refused = vec![
        (
            p.agent("wrong", &member_kc, wrong),
            "wrong",
            "unknown token or wrong secret",
        ),
        (
            p.agent("expired", &member_kc, expired),
            "expired",
            "bootstrap token expired",
        ),
    ];
    reuse.insert("CCEONE_NAMESPACE".into(), "reuse-2".into());
    refused.push((
        p.agent("reuse-second", &member_kc, reuse),
        "reuse",
        "bootstrap token already used",
    ));

    for (agent, cluster, message) in &mut refused {
        // A refused token is final: the agent says why (in the hub's words) and stops.
        agent.wait_exit(Duration::from_secs(40));
        let log = agent.log_text();
        assert!(
            log.contains("the hub refused registration (401)") && log.contains(*message),
            "{cluster}: the agent's log lacks the hub's message {message:?}:\n{log}"
        );
        assert!(
            !log.contains("tunnel established"),
            "{cluster}: a refused agent opened a tunnel:\n{log}"
        );
        if *cluster != "reuse" {
            assert_eq!(p.cluster_field(cluster, ".status.phase"), "Pending");
            let ops = p.operation_reasons(cluster);
            assert!(
                !ops.iter()
                    .any(|r| r == "AgentRegistered" || r == "AgentConnected"),
                "{cluster}: {ops:?}"
            );
        }
    }
    // The reused token changed nothing: the first agent still holds the cluster.
    assert_eq!(p.cluster_field("reuse", ".status.phase"), "Running");
    assert_eq!(
        p.cluster_field("reuse", ".status.agentId"),
        "reuse-first-agent"
    );

    let metrics = p.metrics();
    for reason in ["wrong_secret", "expired", "used"] {
        assert!(
            p.refusals(reason) >= 1,
            "no refusal counted for {reason}:\n{metrics}"
        );
    }
    assert_eq!(
        support::metric(&metrics, "cceone_hub_registrations_total"),
        1,
        "{metrics}"
    );
}

#[test]
fn a_refused_csr_does_not_spend_the_token() {
    let p = Platform::start(&[]);
    let env = p.register("careful", &[]);
    let token = &env["CCEONE_BOOTSTRAP_TOKEN"];
    let (status, answer) = p.redeem(token, "-----BEGIN CERTIFICATE REQUEST-----\nnope\n");
    assert_eq!(status, 400, "{answer}");
    assert!(p.refusals("bad_csr") >= 1);
    // The token is still good for a proper CSR, once.
    let (_, csr) = support::fake::new_key_and_csr("careful");
    let (status, answer) = p.redeem(token, &csr);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["clusterName"], "careful");
    let (status, answer) = p.redeem(token, &csr);
    assert_eq!(status, 401, "{answer}");
    assert!(p.refusals("used") >= 1);
    // Not JSON, or JSON without the fields: refused as malformed.
    let (status, _) = p
        .https("POST", "/v1/register", &[], b"\xff not json")
        .unwrap();
    assert_eq!(status, 400);
    let (status, _) = p
        .https("POST", "/v1/register", &[], br#"{"token": 7}"#)
        .unwrap();
    assert_eq!(status, 400);
    assert!(p.refusals("malformed_registration") >= 2);
}
