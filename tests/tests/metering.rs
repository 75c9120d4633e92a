//! Metering in vCPU-hours end to end (issue 15): `cceone up` with the meter's clock shifted by
//! a file the test writes, a cluster registered with `cceonectl` whose agent runs as its own
//! process against a simulated member. The cluster is Running in one billing hour,
//! Disconnected through the next, Running again in the one after, and `cceone up` is killed
//! and restarted in the middle of that hour: `cceonectl usage` has exactly the two hours the
//! seed's rules give (a started hour counts whole, nothing while Disconnected), each once, at
//! the local-cluster price, in UTC+8 — and after a further hour of running, three.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cceone_platform::usage::{format_hour, hour_of};
use jiff::Timestamp;
use support::{
    Proc, eventually, free_port, kubesim, parse_env, register_env, run, step, throughout,
};

const WAIT: Duration = Duration::from_secs(90);

fn ctl(kc: &Path, args: &[&str]) -> String {
    let kc = kc.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str()];
    all.extend_from_slice(args);
    let out = run("cceonectl", &all);
    assert!(
        out.status.success(),
        "cceonectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn phase(kc: &Path, name: &str) -> String {
    let kc = kc.display().to_string();
    let out = run(
        "kubectl",
        &[
            "--kubeconfig",
            &kc,
            "get",
            "regc",
            name,
            "-o",
            "jsonpath={.status.phase}",
        ],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The CSV rows (without the header) of the edge cluster's usage.
fn rows(kc: &Path) -> Vec<String> {
    let csv = ctl(kc, &["usage", "--cluster", "edge", "-o", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("hour,cluster,type,vcpus,vcpu_hours,unit_price,amount")
    );
    lines.map(String::from).collect()
}

/// Point the meter's clock `hours` billing hours after `base` plus ten minutes.
fn set_clock(file: &Path, base: Timestamp, hours: i64) -> Timestamp {
    let target = base.as_second() + hours * 3600 + 600;
    let offset = target - Timestamp::now().as_second();
    std::fs::write(file, offset.to_string()).unwrap();
    Timestamp::from_second(target).unwrap()
}

fn agent(dir: &Path, member_kc: &Path, env: &BTreeMap<String, String>) -> Proc {
    let mut env = env.clone();
    env.insert("CCEONE_HEALTH_ADDR".into(), "127.0.0.1:0".into());
    env.insert("CCEONE_AGENT_ID".into(), "edge-agent".into());
    let args = vec!["--kubeconfig".to_string(), member_kc.display().to_string()];
    Proc::start("edge-agent", "cceone-cluster-agent", &args, &env, dir)
}

#[test]
fn running_disconnected_running_across_hours_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock-offset");
    let base = hour_of(Timestamp::now());
    let hour_a = set_clock(&clock, base, 0);
    let data: PathBuf = dir.path().join("data");
    let args: Vec<String> = vec![
        "up".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--clusters".into(),
        "1".into(),
        "--hub-listen".into(),
        format!("127.0.0.1:{}", free_port()),
        "--federation-listen".into(),
        format!("127.0.0.1:{}", free_port()),
        "--clock-offset-file".into(),
        clock.display().to_string(),
    ];
    let mut up = Proc::start("cceone", "cceone", &args, &BTreeMap::new(), dir.path());
    let kc = data.join("admin.kubeconfig");
    eventually("cceone up ready", Duration::from_secs(120), || {
        kc.exists().then_some(())
    });

    step("register edge (a local cluster) and run its agent");
    let env = parse_env(&register_env(&kc, "edge"));
    let (_member, member_kc) = kubesim("edge-member", dir.path(), &["--nodes", "2"]);
    let mut edge = agent(dir.path(), &member_kc, &env);
    eventually("edge Running", WAIT, || {
        (phase(&kc, "edge") == "Running").then_some(())
    });
    let vcpus = eventually("edge reports vCPUs", WAIT, || {
        let kcs = kc.display().to_string();
        let out = run(
            "kubectl",
            &[
                "--kubeconfig",
                &kcs,
                "get",
                "regc",
                "edge",
                "-o",
                "jsonpath={.status.vcpus}",
            ],
        );
        let v = String::from_utf8_lossy(&out.stdout).into_owned();
        (!v.is_empty() && v != "0").then_some(v)
    });
    let milli = cceone_platform::usage::milli_vcpus(&vcpus);
    let vc = cceone_platform::usage::format_milli(milli);
    let amount = cceone_platform::usage::format_e4(cceone_platform::usage::amount_e4(milli, 1668));
    let row = |hour: Timestamp| {
        format!(
            "{},edge,local,{vc},{vc},0.1668,{amount}",
            format_hour(hour_of(hour))
        )
    };
    eventually("hour A charged", WAIT, || {
        (rows(&kc) == [row(hour_a)]).then_some(())
    });

    step("disconnect edge, and let a whole billing hour pass while it is Disconnected");
    edge.kill();
    eventually("edge Disconnected", WAIT, || {
        (phase(&kc, "edge") == "Disconnected").then_some(())
    });
    let _hour_b = set_clock(&clock, base, 1);
    throughout(
        "nothing charged while Disconnected",
        Duration::from_secs(4),
        || rows(&kc) == [row(hour_a)],
    );

    step("reconnect in the hour after: charged from the moment it is Running");
    let hour_c = set_clock(&clock, base, 2);
    edge = agent(dir.path(), &member_kc, &env);
    eventually("edge Running again", WAIT, || {
        (phase(&kc, "edge") == "Running").then_some(())
    });
    eventually("hour C charged", WAIT, || {
        (rows(&kc) == [row(hour_a), row(hour_c)]).then_some(())
    });

    step("kill -9 cceone up in the middle of hour C and start it again");
    up.restart();
    eventually("cceone up ready again", Duration::from_secs(120), || {
        (phase(&kc, "edge") == "Running"
            && run(
                "kubectl",
                &[
                    "--kubeconfig",
                    &kc.display().to_string(),
                    "get",
                    "--raw",
                    "/readyz",
                ],
            )
            .status
            .success())
        .then_some(())
    });
    throughout(
        "hour C is still charged once",
        Duration::from_secs(4),
        || rows(&kc) == [row(hour_a), row(hour_c)],
    );

    step("the next hour while Running is charged too");
    let hour_d = set_clock(&clock, base, 3);
    eventually("hour D charged", WAIT, || {
        (rows(&kc) == [row(hour_a), row(hour_c), row(hour_d)]).then_some(())
    });

    step("totals, the fleet filter and the JSON form agree");
    let json: serde_json::Value =
        serde_json::from_str(&ctl(&kc, &["usage", "--cluster", "edge", "-o", "json"])).unwrap();
    assert_eq!(json["records"].as_array().unwrap().len(), 3);
    assert_eq!(
        json["totals"]["amount"],
        cceone_platform::usage::format_e4(3 * cceone_platform::usage::amount_e4(milli, 1668))
    );
    let table = ctl(
        &kc,
        &[
            "usage",
            "--cluster",
            "edge",
            "--from",
            &format_hour(hour_of(hour_c)),
        ],
    );
    assert_eq!(table.lines().count(), 4, "{table}");
    drop(edge);
}
