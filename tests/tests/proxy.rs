//! The cluster proxy: a proxied `kubectl get pods -A -w` streams events as they happen; a
//! revoked proxy kubeconfig gets 401; large proxied lists, several at once, do not hold back
//! heartbeats (1 s heartbeats, 3 s grace: the cluster stays Running throughout).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use support::{Platform, Proc, eventually, kubectl, kubectl_bin, kubesim, metric, step};

/// The bearer token in a proxy kubeconfig.
fn bearer(kc: &std::path::Path) -> String {
    let text = std::fs::read_to_string(kc).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().trim_matches('"').to_string())
        .unwrap()
}

#[test]
fn proxied_watch_streams_events_and_revoked_kubeconfig_is_refused() {
    let p = Platform::start(&[]);
    let (_member, member_kc) = kubesim(
        "member",
        p.dir.path(),
        &["--nodes", "2", "--pod-start-delay-ms", "100"],
    );
    let env = p.register("demo", &[]);
    let _agent = p.agent("demo", &member_kc, env);
    p.wait_phase("demo", "Running", Duration::from_secs(40));
    kubectl(
        &member_kc,
        &[
            "create",
            "deployment",
            "before",
            "--image=nginx",
            "--replicas=1",
        ],
    );

    let (proxy_kc, id) = p.proxy_kubeconfig("demo", "proxy.kubeconfig");
    let kc = proxy_kc.display().to_string();
    let watch = Proc::start_program(
        "watch",
        kubectl_bin(),
        &["--kubeconfig", kc.as_str(), "get", "pods", "-A", "-w"],
        p.dir.path(),
    );
    // The initial list has arrived (and the watch is open) once the first pod shows.
    eventually(
        "the watch lists the first pod",
        Duration::from_secs(30),
        || watch.log_text().contains("before-").then_some(()),
    );
    kubectl(
        &member_kc,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=2",
        ],
    );
    // New pods can only reach the output through the open watch stream.
    eventually(
        "the watch streams the new pods",
        Duration::from_secs(30),
        || {
            let log = watch.log_text();
            let web: std::collections::BTreeSet<&str> = log
                .split_whitespace()
                .filter(|w| w.starts_with("web-"))
                .collect();
            (web.len() >= 2
                && log
                    .lines()
                    .any(|l| l.contains("web-") && l.contains("Running")))
            .then_some(())
        },
    );
    drop(watch);

    // Revoking the kubeconfig: the hub refuses its token at once.
    let token = bearer(&proxy_kc);
    let auth = format!("Bearer {token}");
    let nodes_status = || {
        p.https(
            "GET",
            "/clusters/demo/proxy/api/v1/nodes",
            &[("authorization", &auth)],
            b"",
        )
        .unwrap()
        .0
    };
    assert_eq!(nodes_status(), 200);
    p.cceonectl(&["cluster", "revoke-kubeconfig", &id]);
    eventually(
        "the revoked token gets 401",
        Duration::from_secs(10),
        || (nodes_status() == 401).then_some(()),
    );
    let out = support::run("kubectl", &["--kubeconfig", &kc, "get", "nodes"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthorized"), "{err}");
    assert!(p.refusals("bad_proxy_token") >= 1);
    // Another kubeconfig still works.
    let (fresh, _) = p.proxy_kubeconfig("demo", "fresh.kubeconfig");
    let nodes = kubectl(&fresh, &["get", "nodes"]);
    assert!(nodes.contains("sim-node-1"), "{nodes}");
}

const CONFIGMAPS: usize = 3000;

/// Create `CONFIGMAPS` ConfigMaps of about 2 KiB each directly in the member.
async fn fill(member_kc: &std::path::Path) {
    let kc = kube::config::Kubeconfig::read_from(member_kc).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
    let filler = "x".repeat(2048);
    futures::stream::iter(0..CONFIGMAPS)
        .map(|i| {
            let api = api.clone();
            let cm = ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(format!("bulk-{i:05}")),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([("blob".to_string(), filler.clone())])),
                ..Default::default()
            };
            async move { api.create(&Default::default(), &cm).await.map(|_| ()) }
        })
        .buffer_unordered(16)
        .for_each(|r| {
            r.unwrap();
            async {}
        })
        .await;
}

#[test]
fn large_proxied_lists_do_not_hold_back_heartbeats() {
    let p = Platform::start(&["--heartbeat-grace-secs", "3"]);
    let (_member, member_kc) = kubesim("member", p.dir.path(), &["--nodes", "1", "--no-fsync"]);
    let env = p.register("bulk", &[]);
    let _agent = p.agent("bulk", &member_kc, env);
    p.wait_phase("bulk", "Running", Duration::from_secs(40));
    let since = p.cluster_field("bulk", ".status.connectedSince");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(fill(&member_kc));
    step("configmaps created");

    let (proxy_kc, _) = p.proxy_kubeconfig("bulk", "bulk.kubeconfig");
    let auth = format!("Bearer {}", bearer(&proxy_kc));
    let (endpoint, host, ca) = (p.hub_endpoint(), p.hub_host.clone(), p.ca_pem());
    // Four lists at a time, round after round for longer than several grace periods (at least
    // three rounds, at most 40), while the phase is checked every 100 ms.
    let lists = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let headers = [("authorization", auth.as_str())];
        rt.block_on(async {
            let mut bytes = 0usize;
            let started = std::time::Instant::now();
            let mut rounds = 0;
            while rounds < 3 || (started.elapsed() < Duration::from_secs(10) && rounds < 40) {
                rounds += 1;
                let all = futures::future::join_all((0..4).map(|_| {
                    support::https::request_async(
                        &endpoint,
                        &host,
                        &ca,
                        "GET",
                        "/clusters/bulk/proxy/api/v1/configmaps",
                        &headers,
                        b"",
                    )
                }))
                .await;
                for r in all {
                    let (status, body) = r.unwrap();
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let items = list["items"].as_array().unwrap().len();
                    assert!(items >= CONFIGMAPS, "{items} items");
                    bytes += body.len();
                }
            }
            (rounds, bytes)
        })
    });
    while !lists.is_finished() {
        assert_eq!(
            p.cluster_field("bulk", ".status.phase"),
            "Running",
            "the cluster dropped out during the lists"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (rounds, bytes) = lists.join().unwrap();
    step(&format!(
        "{} proxied lists, {} MiB in all",
        rounds * 4,
        bytes >> 20
    ));
    assert!(bytes > rounds * 4 * CONFIGMAPS * 2048, "{bytes} bytes");
    assert_eq!(p.cluster_field("bulk", ".status.phase"), "Running");
    assert_eq!(p.cluster_field("bulk", ".status.connectedSince"), since);
    let ops = p.operation_reasons("bulk");
    assert!(!ops.iter().any(|r| r == "HeartbeatMissed"), "{ops:?}");
    let metrics = p.metrics();
    assert!(metric(&metrics, "cceone_hub_proxy_bytes_total") >= bytes as u64);
}
