//! Fault injection is off unless asked for: a production server answers 404 on `/admin/faults`
//! and `/admin/compact` even to the admin, and pausing it is impossible; with
//! `fault_injection` (the simulator's setting) the same calls work.

#![allow(clippy::unwrap_used)]

use cceone_kube_apiserver::{ApiServer, ServerConfig};
use http_body_util::BodyExt as _;

async fn call(server: &ApiServer, method: &str, path: &str, body: &str) -> (u16, String) {
    let kc = kube::config::Kubeconfig::from_yaml(&server.admin_kubeconfig("t")).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn admin_endpoints_only_behind_the_flag() {
    for enabled in [false, true] {
        let server = ApiServer::start(ServerConfig {
            fsync: false,
            fault_injection: enabled,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let (faults, text) = call(&server, "PUT", "/admin/faults", r#"{"paused": true}"#).await;
        let (compact, _) = call(&server, "POST", "/admin/compact", "").await;
        if enabled {
            assert_eq!((faults, compact), (200, 200), "{text}");
            assert!(text.contains(r#""paused":true"#), "{text}");
            call(&server, "PUT", "/admin/faults", r#"{"paused": false}"#).await;
        } else {
            assert_eq!((faults, compact), (404, 404), "{text}");
            assert!(text.contains("off on this server"), "{text}");
        }
        // Not paused either way (a paused server answers 503).
        let (get, _) = call(&server, "GET", "/api/v1/namespaces/default", "").await;
        assert_eq!(get, 200);
        let (ready, _) = call(&server, "GET", "/readyz", "").await;
        assert_eq!(ready, 200);
        server.shutdown().await;
    }
}
