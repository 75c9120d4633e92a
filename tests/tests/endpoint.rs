//! The endpoint agents are told to dial, when `cceone up` listens on one specific address: the
//! hub on the root namespace's end of a link to a NAT'd member namespace. `cceone up`'s own
//! agents reach it there (it does not listen on loopback), `cceonectl cluster register` renders
//! that address, and an agent behind the NAT started from the rendered env file (`--env-file`)
//! joins, which it can only do if the hub's certificate names that address.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::netlab::NetLab;
use support::{
    Proc, cceone_up, eventually, free_port, kubectl, kubesim_in, parse_env, register_env,
};

#[test]
fn cceone_up_on_a_specific_address_renders_it_for_agents_behind_nat() {
    let Some(lab) = NetLab::nat("cceone_up_on_a_specific_address_renders_it_for_agents_behind_nat")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = format!("{}:{}", lab.hub_ip, free_port());
    // Ready means member1, whose agent runs inside `cceone up`, joined: it dialled the specific
    // address, not loopback (where nothing listens).
    let (up, admin) = cceone_up(d, 1, &hub);
    let log = up.log_text();
    assert!(
        log.contains(&format!("public_endpoint=\"{hub}\"")),
        "the hub did not publish {hub}:\n{log}"
    );
    assert!(
        !log.contains("agents are told to dial"),
        "a specific listen address needs no warning:\n{log}"
    );

    let (_member, member_kc) = kubesim_in(Some(&lab.member), "0.0.0.0:0", "edge", d, &[]);
    let text = register_env(&admin, "edge");
    assert_eq!(parse_env(&text)["CCEONE_HUB_ENDPOINT"], hub, "{text}");
    let env_file = d.join("edge.env");
    std::fs::write(&env_file, &text).unwrap();
    let env: BTreeMap<String, String> =
        [("CCEONE_HEALTH_ADDR".to_string(), "127.0.0.1:0".to_string())].into();
    let agent = Proc::start_in(
        &lab.member,
        "edge-agent",
        "cceone-cluster-agent",
        &[
            "--env-file".into(),
            env_file.display().to_string(),
            "--kubeconfig".into(),
            member_kc.display().to_string(),
        ],
        &env,
        d,
    );
    eventually("edge Running", Duration::from_secs(60), || {
        let phase = kubectl(
            &admin,
            &[
                "get",
                "registeredcluster",
                "edge",
                "-o",
                "jsonpath={.status.phase}",
            ],
        );
        (phase == "Running").then_some(())
    });
    // It came through the NAT (the hub saw the router), over the address it was given.
    let hub_log = up.log_text();
    assert!(
        hub_log.contains(&format!("peer={}:", lab.uplink_ip)),
        "{hub_log}"
    );
    assert!(
        agent.log_text().contains("tunnel established"),
        "{}",
        agent.log_text()
    );
}
