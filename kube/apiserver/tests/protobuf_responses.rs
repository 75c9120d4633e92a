//! Content negotiation of responses as kube-apiserver does it: a client that prefers protobuf
//! (client-go's `Accept: application/vnd.kubernetes.protobuf, application/json`) gets the
//! built-in kinds as protobuf (objects, lists and write answers) and JSON for kinds without a
//! protobuf form; a client that accepts only protobuf for such a kind gets 406 with
//! apimachinery's message.

#![allow(clippy::unwrap_used)]

use cceone_kube_apiserver::{ApiServer, ServerConfig};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const CLIENT_GO: &str = "application/vnd.kubernetes.protobuf, application/json";

async fn client(server: &ApiServer) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&server.admin_kubeconfig("t")).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// Status, content type and body of a request.
async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    accept: &str,
    body: Option<&Value>,
) -> (u16, String, Vec<u8>) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("accept", accept)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(
            body.map(|b| serde_json::to_vec(b).unwrap())
                .unwrap_or_default(),
        ))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, bytes.to_vec())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn protobuf_clients_get_protobuf_for_built_in_kinds() {
    let server = ApiServer::start(ServerConfig {
        fsync: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = client(&server).await;
    const CMS: &str = "/api/v1/namespaces/default/configmaps";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "labels": {"app": "web"}},
                    "data": {"mode": "fast"}});
    // A create answered in protobuf.
    let (code, ct, body) = send(&client, "POST", CMS, CLIENT_GO, Some(&cm)).await;
    assert_eq!((code, ct.as_str()), (201, PROTOBUF));
    let created = cceone_kube_protobuf::decode(&body).unwrap();
    assert_eq!(created["data"], cm["data"]);

    // The object read as protobuf is the object read as JSON.
    let path = format!("{CMS}/settings");
    let (code, ct, body) = send(&client, "GET", &path, CLIENT_GO, None).await;
    assert_eq!((code, ct.as_str()), (200, PROTOBUF));
    let got = cceone_kube_protobuf::decode(&body).unwrap();
    let (_, ct, json_body) = send(&client, "GET", &path, "application/json", None).await;
    assert_eq!(ct, "application/json");
    let as_json: Value = serde_json::from_slice(&json_body).unwrap();
    for p in [
        "/metadata/name",
        "/metadata/uid",
        "/metadata/resourceVersion",
        "/metadata/labels",
        "/data",
    ] {
        assert_eq!(got.pointer(p), as_json.pointer(p), "{p}");
    }

    // A list: the ConfigMapList envelope with the item in it.
    let (code, ct, body) = send(&client, "GET", CMS, PROTOBUF, None).await;
    assert_eq!((code, ct.as_str()), (200, PROTOBUF));
    assert!(body.starts_with(b"k8s\0"));
    assert!(contains(&body, "ConfigMapList") && contains(&body, "settings"));

    // Tables stay JSON whatever else the client lists.
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";
    let (_, ct, _) = send(&client, "GET", CMS, table, None).await;
    assert!(ct.starts_with("application/json"), "{ct}");

    // A kind without a protobuf form: JSON when JSON is acceptable too, else 406.
    const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, ct, _) = send(&client, "GET", CRDS, CLIENT_GO, None).await;
    assert_eq!((code, ct.as_str()), (200, "application/json"));
    let (code, _, body) = send(&client, "GET", CRDS, PROTOBUF, None).await;
    assert_eq!(code, 406);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["reason"], "NotAcceptable");
    assert_eq!(
        status["message"],
        "only the following media types are accepted: application/json, application/yaml"
    );
}
