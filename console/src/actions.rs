//! The console's server-side actions: the few things that are more than one API call. Each runs
//! as a kube-rs client of the federation API with the signed-in user's bearer token, so the
//! API's authorization decides exactly as it would for `cceonectl` (whose steps these mirror).

use std::time::Duration;

use cceone_kube_apiserver::tls::{Credential, kubeconfig};
use cceone_platform::phase::{Operation, Phase};
use cceone_platform::render::{AgentSettings, agent_env, agent_yaml, default_image};
use cceone_platform::{PlatformError, hubinfo, proxytoken, registered_clusters, token};
use http::StatusCode;
use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::routes::status_value;

/// The field manager of the console's writes.
const MANAGER: &str = "cceone-console";
/// How long a bootstrap token the console hands out stays valid.
const BOOTSTRAP_TTL: Duration = Duration::from_secs(3600);
/// Documents one apply takes at most.
const MAX_DOCUMENTS: usize = 100;

/// How to reach the API as the user.
pub(crate) struct Api<'a> {
    pub(crate) url: &'a str,
    pub(crate) ca_pem: &'a str,
    pub(crate) token: &'a str,
    /// The signed-in user's name, as the API reported it at sign-in.
    pub(crate) user: &'a str,
}

/// An action's failure: the HTTP status and a Kubernetes `Status` to show.
type Failure = (StatusCode, Value);

fn failure(code: StatusCode, message: impl std::fmt::Display) -> Failure {
    (code, status_value(code, &message.to_string()))
}

/// The API's own refusal, worded as the API worded it.
fn kube_failure(e: kube::Error) -> Failure {
    match e {
        kube::Error::Api(s) => {
            let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::BAD_GATEWAY);
            failure(code, s.message)
        }
        other => failure(StatusCode::BAD_GATEWAY, format!("calling the API: {other}")),
    }
}

fn platform_failure(e: PlatformError) -> Failure {
    match e {
        PlatformError::Api { what, source } => {
            let (code, v) = kube_failure(source);
            let msg = v.get("message").and_then(Value::as_str).unwrap_or_default();
            failure(code, format!("{what}: {msg}"))
        }
        PlatformError::InvalidInput(m) => failure(StatusCode::BAD_REQUEST, m),
        PlatformError::NotFound(m) => failure(StatusCode::NOT_FOUND, format!("{m} not found")),
        other => failure(StatusCode::INTERNAL_SERVER_ERROR, other),
    }
}

impl Api<'_> {
    async fn client(&self) -> Result<kube::Client, Failure> {
        let text = kubeconfig(
            "cceone",
            self.url,
            self.ca_pem,
            "console",
            &Credential::Token(self.token.to_string()),
        );
        let internal = |e: &dyn std::fmt::Display| failure(StatusCode::INTERNAL_SERVER_ERROR, e);
        let kc = kube::config::Kubeconfig::from_yaml(&text).map_err(|e| internal(&e))?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| internal(&e))?;
        kube::Client::try_from(cfg).map_err(|e| internal(&e))
    }
}

/// The user the API sees for the token (a SelfSubjectReview); refusals as the API words them.
pub(crate) async fn who_am_i(api: &Api<'_>) -> Result<String, Failure> {
    let client = api.client().await?;
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let v: Value = client.request(req).await.map_err(kube_failure)?;
    Ok(v.pointer("/status/userInfo/username")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string())
}

/// Whether the API lets the user `verb` `resource` in `group` at the cluster scope (a
/// SelfSubjectAccessReview as the user).
pub(crate) async fn may(
    api: &Api<'_>,
    group: &str,
    resource: &str,
    verb: &str,
) -> Result<bool, Failure> {
    let client = api.client().await?;
    let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"group": group, "resource": resource, "verb": verb}}});
    let req = http::Request::post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let v: Value = client.request(req).await.map_err(kube_failure)?;
    Ok(v.pointer("/status/allowed") == Some(&Value::Bool(true)))
}

/// Run action `name` with its JSON `body`: (HTTP status, answer).
pub(crate) async fn run(api: &Api<'_>, name: &str, body: Value) -> (StatusCode, Value) {
    let out = match name {
        "register" => register(api, &body).await,
        "agent" => agent(api, &body).await,
        "kubeconfig" => proxy_kubeconfig(api, &body).await,
        "apply" => apply(api, &body).await,
        _ => Err(failure(StatusCode::NOT_FOUND, "no such action")),
    };
    match out {
        Ok(v) => (StatusCode::OK, v),
        Err(f) => f,
    }
}

fn field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, Failure> {
    field(body, key).ok_or_else(|| failure(StatusCode::BAD_REQUEST, format!("{key} is required")))
}

/// `register`: create the RegisteredCluster (Pending, with its Register operation), then
/// render its agent settings, as `cceonectl cluster register` does.
async fn register(api: &Api<'_>, body: &Value) -> Result<Value, Failure> {
    let name = required(body, "name")?;
    cceone_platform::validate_cluster_name(name).map_err(platform_failure)?;
    let client = api.client().await?;
    // Read the hub's info first, so a missing hub leaves nothing half-registered.
    hubinfo::read(&client).await.map_err(platform_failure)?;
    let mut spec = json!({"type": required(body, "type")?});
    for key in ["provider", "region", "zone", "fleet"] {
        if let Some(v) = field(body, key) {
            spec[key] = json!(v);
        }
    }
    if body.get("deleteProtection") == Some(&Value::Bool(true)) {
        spec["deleteProtection"] = json!(true);
    }
    let labels = body
        .get("labels")
        .filter(|l| l.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", cceone_platform::GROUP, cceone_platform::VERSION),
        "kind": cceone_platform::KIND,
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))
    .map_err(|e| failure(StatusCode::BAD_REQUEST, e))?;
    let regc = registered_clusters(&client);
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    regc.create(&pp, &obj).await.map_err(kube_failure)?;
    let op = Operation::new(
        jiff::Timestamp::now(),
        "Register",
        "Registered",
        "registered from the console; waiting for its agent",
    )
    .by(api.user);
    let status =
        json!({"status": {"phase": Phase::Pending.as_str(), "operations": [op.to_json()]}});
    regc.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .map_err(kube_failure)?;
    agent_settings(&client, name, body).await
}

/// `agent`: a fresh bootstrap token for an existing cluster, rendered as the agent YAML or env.
async fn agent(api: &Api<'_>, body: &Value) -> Result<Value, Failure> {
    let name = required(body, "cluster")?;
    let client = api.client().await?;
    agent_settings(&client, name, body).await
}

async fn agent_settings(client: &kube::Client, name: &str, body: &Value) -> Result<Value, Failure> {
    let hub = hubinfo::read(client).await.map_err(platform_failure)?;
    let private = field(body, "endpoint") == Some("private");
    if private && hub.private_endpoint.is_none() {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "the hub published no private endpoint; use the public one",
        ));
    }
    let bootstrap = token::issue(client, name, BOOTSTRAP_TTL)
        .await
        .map_err(platform_failure)?;
    let settings = AgentSettings {
        hub_endpoint: hub.agent_endpoints(name),
        hub_private_endpoint: if private { hub.private_endpoint } else { None },
        cluster_name: name.to_string(),
        ca_bundle: hub.ca_bundle,
        bootstrap_token: bootstrap,
        transport: field(body, "transport").unwrap_or("auto").to_string(),
    };
    let env = field(body, "format") == Some("env");
    let text = if env {
        agent_env(&settings)
    } else {
        agent_yaml(&settings, &default_image())
    };
    Ok(
        json!({"cluster": name, "format": if env {"env"} else {"yaml"}, "text": text,
        "expiresInSeconds": BOOTSTRAP_TTL.as_secs()}),
    )
}

/// `kubeconfig`: a kubeconfig reaching the member through the hub's proxy, as
/// `cceonectl cluster kubeconfig` issues it.
async fn proxy_kubeconfig(api: &Api<'_>, body: &Value) -> Result<Value, Failure> {
    let name = required(body, "cluster")?;
    let user = field(body, "user").unwrap_or(proxytoken::DEFAULT_USER);
    let asked: Vec<String> = body
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let groups = proxytoken::groups_for(user, asked);
    let ttl = body
        .get("ttlHours")
        .and_then(Value::as_u64)
        .filter(|h| *h > 0)
        .map(|h| Duration::from_secs(h.min(24 * 365) * 3600));
    let client = api.client().await?;
    registered_clusters(&client)
        .get(name)
        .await
        .map_err(kube_failure)?;
    let hub = hubinfo::read(&client).await.map_err(platform_failure)?;
    let (id, bearer) = proxytoken::issue(&client, name, user, &groups, ttl)
        .await
        .map_err(platform_failure)?;
    let yaml =
        proxytoken::kubeconfig_yaml(&hub.public_endpoint, name, &hub.ca_bundle, user, &bearer);
    let text = format!(
        "# cceone proxy kubeconfig {id} for {user} on cluster {name}.\n# Revoke: cceonectl cluster revoke-kubeconfig {id}\n{yaml}"
    );
    Ok(json!({"id": id, "text": text}))
}

/// `apply`: every document of a YAML text, server-side applied (as `kubectl apply
/// --server-side --force-conflicts`), each answered on its own.
async fn apply(api: &Api<'_>, body: &Value) -> Result<Value, Failure> {
    use serde::Deserialize as _;
    let text = required(body, "yaml")?;
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(d).map_err(|e| {
            failure(
                StatusCode::BAD_REQUEST,
                format!("the YAML does not parse: {e}"),
            )
        })?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    if docs.is_empty() || docs.len() > MAX_DOCUMENTS {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            format!("give between 1 and {MAX_DOCUMENTS} YAML documents"),
        ));
    }
    let client = api.client().await?;
    let mut results = Vec::new();
    for doc in docs {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let outcome = apply_one(&client, doc).await;
        results.push(match outcome {
            Ok(ns) => json!({"kind": kind, "name": name, "namespace": ns, "ok": true}),
            Err((code, v)) => {
                json!({"kind": kind, "name": name, "ok": false, "code": code.as_u16(),
                "message": v.get("message").cloned().unwrap_or(Value::Null)})
            }
        });
    }
    Ok(json!({"results": results}))
}

/// Apply one object; its namespace (empty for cluster-scoped kinds).
async fn apply_one(client: &kube::Client, doc: Value) -> Result<String, Failure> {
    let bad = |m: &str| failure(StatusCode::BAD_REQUEST, m);
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("apiVersion is required"))?;
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("kind is required"))?;
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("metadata.name is required"))?
        .to_string();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(kube_failure)?;
    let (api, ns) = if caps.scope == kube::discovery::Scope::Namespaced {
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        (
            kube::Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar),
            ns,
        )
    } else {
        (
            kube::Api::<DynamicObject>::all_with(client.clone(), &ar),
            String::new(),
        )
    };
    let pp = PatchParams::apply(MANAGER).force();
    api.patch(&name, &pp, &Patch::Apply(&doc))
        .await
        .map_err(kube_failure)?;
    Ok(ns)
}
