//! Hostile request bodies against a real server over HTTPS: a 100,000-deep JSON body is refused
//! with a fast 400 Status (the depth scan runs before any parser), YAML sent as JSON is not
//! re-parsed as YAML, and GETs made while four such bodies are in flight stay fast. Timings are
//! printed as a ratio to the same GET without the attack; the asserts use generous deadlines.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cceone_kube_apiserver::{ApiServer, ServerConfig};
use http_body_util::BodyExt as _;
use serde_json::Value;

/// Far above any normal latency on a loaded 2-core machine, far below the 35 s a deep body
/// used to take.
const DEADLINE: Duration = Duration::from_secs(5);

async fn client(server: &ApiServer) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&server.admin_kubeconfig("t")).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> (u16, Value, Duration) {
    let started = Instant::now();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE * 4, client.send(req))
        .await
        .expect("an answer in time")
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v, started.elapsed())
}

async fn get_default(client: &kube::Client) -> Duration {
    let (status, _, took) = send(client, "GET", "/api/v1/namespaces/default", "", vec![]).await;
    assert_eq!(status, 200);
    took
}

fn deep_configmap(depth: usize) -> Vec<u8> {
    let mut b =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":"#.to_vec();
    b.extend(std::iter::repeat_n(b'[', depth));
    b.extend(std::iter::repeat_n(b']', depth));
    b.push(b'}');
    b
}

const CM: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_bodies_get_a_fast_400_and_do_not_stall_reads() {
    let server = ApiServer::start(ServerConfig {
        fsync: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = client(&server).await;
    let mut base = Duration::ZERO;
    for _ in 0..5 {
        base = base.max(get_default(&client).await);
    }

    // Four 200 KiB bodies nested 100,000 deep, and GETs while they are in flight.
    let deep = deep_configmap(100_000);
    let attacks: Vec<_> = (0..4)
        .map(|_| {
            let (client, body) = (client.clone(), deep.clone());
            tokio::spawn(async move { send(&client, "POST", CM, "application/json", body).await })
        })
        .collect();
    let mut during = Duration::ZERO;
    for _ in 0..5 {
        during = during.max(get_default(&client).await);
    }
    for attack in attacks {
        let (status, v, took) = attack.await.unwrap();
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["kind"], "Status", "{v}");
        assert!(v["message"].as_str().unwrap().contains("nested"), "{v}");
        assert!(took < DEADLINE, "a deep body took {took:?}");
    }
    println!(
        "GET max {base:?} alone, {during:?} during 4 deep bodies (ratio {:.1})",
        during.as_secs_f64() / base.as_secs_f64().max(1e-6)
    );
    assert!(during < DEADLINE, "a GET took {during:?} during the attack");

    // YAML declared as JSON is refused as JSON, never re-parsed as YAML.
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n".to_vec();
    let (status, v, _) = send(&client, "POST", CM, "application/json", yaml.clone()).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("not valid JSON"),
        "{v}"
    );
    let (status, v, _) = send(&client, "POST", CM, "application/yaml", yaml).await;
    assert_eq!(status, 201, "{v}");
    // Deep YAML is refused before the YAML parser sees it.
    let deep_yaml = [
        b"apiVersion: v1\nkind: ConfigMap\ndata: ".to_vec(),
        "- ".repeat(50_000).into_bytes(),
    ]
    .concat();
    let (status, v, took) = send(&client, "POST", CM, "application/yaml", deep_yaml).await;
    assert_eq!((status, took < DEADLINE), (400, true), "{v} {took:?}");
    // An unknown media type is 415.
    let (status, _, _) = send(&client, "POST", CM, "text/html", b"{}".to_vec()).await;
    assert_eq!(status, 415);

    // A large, shallow body still works (parsed on the blocking pool).
    let big = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"blob": "x".repeat(1 << 20)},
    });
    let (status, v, _) = send(
        &client,
        "POST",
        CM,
        "application/json",
        big.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{}", v["message"]);
    server.shutdown().await;
}
