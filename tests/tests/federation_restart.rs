//! The federation, the hub, the members and their agents as separate processes: kill -9 the hub
//! in the middle of propagation, change the template while it is down, restart it, and nothing
//! is lost — the members converge and each Work generation is applied exactly once.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::{Proc, eventually, free_port, kubesim, parse_env, register_env, root, run};

fn kubectl(kc: &Path, args: &[&str]) -> String {
    let kc = kc.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str()];
    all.extend_from_slice(args);
    let out = run("kubectl", &all);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn applies(health_port: u16) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", health_port)).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("cceone_agent_works_applied_total "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn hub_restart_mid_propagation_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_fed, fed_kc) = support::federation(dir.path());
    let hub_port = free_port();
    let hub_args: Vec<String> = vec![
        "--kubeconfig".into(),
        fed_kc.display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{hub_port}"),
        "--data-dir".into(),
        dir.path().join("hub").display().to_string(),
        "--heartbeat-interval-secs".into(),
        "1".into(),
        "--heartbeat-grace-secs".into(),
        "4".into(),
    ];
    let mut hub = Proc::start("hub", "cceone-hub", &hub_args, &BTreeMap::new(), dir.path());
    eventually("hub serving", Duration::from_secs(60), || {
        hub.log_text().contains("hub serving").then_some(())
    });

    let mut agents = Vec::new();
    let mut members = Vec::new();
    let mut health = Vec::new();
    for name in ["member1", "member2"] {
        let (sim, kc) = kubesim(name, dir.path(), &["--nodes", "2"]);
        let mut env = parse_env(&register_env(&fed_kc, name));
        let port = free_port();
        env.insert("CCEONE_HEALTH_ADDR".into(), format!("127.0.0.1:{port}"));
        env.insert("CCEONE_AGENT_ID".into(), format!("{name}-agent"));
        let args = vec!["--kubeconfig".to_string(), kc.display().to_string()];
        agents.push(Proc::start(
            &format!("{name}-agent"),
            "cceone-cluster-agent",
            &args,
            &env,
            dir.path(),
        ));
        members.push((sim, kc));
        health.push(port);
    }
    eventually(
        "both clusters Ready in the federation",
        Duration::from_secs(90),
        || {
            let out = kubectl(&fed_kc, &["get", "cluster"]);
            (out.lines()
                .filter(|l| l.contains(" Pull ") && l.contains(" True "))
                .count()
                == 2)
                .then_some(())
        },
    );

    let manifest = root().join("examples").join("nginx.yaml");
    kubectl(&fed_kc, &["apply", "-f", manifest.to_str().unwrap()]);
    // Kill the hub as soon as the binding is scheduled: propagation is in flight.
    eventually("binding scheduled", Duration::from_secs(30), || {
        kubectl(
            &fed_kc,
            &[
                "get",
                "rb",
                "nginx-deployment",
                "-o",
                "jsonpath={.spec.clusters[*].name}",
            ],
        )
        .contains("member2")
        .then_some(())
    });
    hub.kill();
    let scaled = kubectl(&fed_kc, &["scale", "deployment", "nginx", "--replicas=6"]);
    assert!(scaled.contains("scaled"), "{scaled}");
    hub.restart();

    let member_replicas = |i: usize| {
        kubectl(
            &members[i].1,
            &[
                "get",
                "deploy",
                "nginx",
                "-o",
                "jsonpath={.spec.replicas}/{.status.readyReplicas}",
            ],
        )
    };
    eventually(
        "members converge to 2 and 4 after the hub restart",
        Duration::from_secs(90),
        || (member_replicas(0).trim() == "2/2" && member_replicas(1).trim() == "4/4").then_some(()),
    );
    eventually("template 6/6", Duration::from_secs(60), || {
        kubectl(
            &fed_kc,
            &[
                "get",
                "deployment",
                "nginx",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ],
        )
        .trim()
        .eq("6")
        .then_some(())
    });
    // Each member applied its Work at most once per generation it saw: the first generation (if it
    // arrived before the kill) and the scaled one — never again on reconnect.
    for (i, port) in health.iter().enumerate() {
        let n = applies(*port).unwrap_or(0);
        assert!((1..=2).contains(&n), "member{} applied {n} times", i + 1);
    }
    let phases = kubectl(&fed_kc, &["get", "registeredclusters"]);
    assert_eq!(
        phases.lines().filter(|l| l.contains("Running")).count(),
        2,
        "{phases}"
    );
}
