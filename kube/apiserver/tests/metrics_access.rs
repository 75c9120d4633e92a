//! `/metrics` is served as kube-apiserver serves it: to authenticated callers authorized for the
//! non-resource URL (cluster-admin, or the `system:monitoring` group's role), never anonymously;
//! `/healthz`, `/readyz` and `/version` stay public (issue 9, item 6).

#![allow(clippy::unwrap_used)]

use cceone_kube_apiserver::{ApiServer, ServerConfig};
use http_body_util::BodyExt as _;

/// A GET with a bearer token (none: anonymous), through a client that trusts the server's CA.
async fn get(server: &ApiServer, token: Option<&str>, path: &str) -> (u16, String) {
    let mut kc = kube::config::Kubeconfig::from_yaml(&server.admin_kubeconfig("t")).unwrap();
    for user in &mut kc.auth_infos {
        if let Some(info) = user.auth_info.as_mut() {
            info.token = token.map(|t| t.to_string().into());
            info.token_file = None;
            info.client_certificate_data = None;
            info.client_key_data = None;
        }
    }
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let req = http::Request::get(path)
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn metrics_need_credentials_and_the_right_role() {
    let server = ApiServer::start(ServerConfig {
        fsync: false,
        tokens: vec![
            ("plain-token".into(), "alice".into(), vec![]),
            (
                "monitor-token".into(),
                "prometheus".into(),
                vec!["system:monitoring".into()],
            ),
        ],
        ..ServerConfig::default()
    })
    .await
    .unwrap();

    let (anonymous, body) = get(&server, None, "/metrics").await;
    assert_eq!(anonymous, 401, "{body}");
    let (plain, body) = get(&server, Some("plain-token"), "/metrics").await;
    assert_eq!(plain, 403, "{body}");
    assert!(
        body.contains(r#"User \"alice\" cannot get path \"/metrics\""#),
        "{body}"
    );
    let (monitor, body) = get(&server, Some("monitor-token"), "/metrics").await;
    assert_eq!(monitor, 200, "{body}");
    assert!(body.contains("apiserver_request_total"), "{body}");

    let kc = kube::config::Kubeconfig::from_yaml(&server.admin_kubeconfig("t")).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let admin = kube::Client::try_from(cfg).unwrap();
    let text = admin
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert!(text.contains("apiserver_request_total"));

    for public in ["/healthz", "/readyz", "/version"] {
        let (code, body) = get(&server, None, public).await;
        assert_eq!(code, 200, "{public}: {body}");
    }
    server.shutdown().await;
}
