//! `cceonectl get KIND [NAME]`: an object (or every object of a kind) in each member cluster,
//! one row per cluster with a CLUSTER column, as `karmadactl get` shows it
//! (pkg/karmadactl/get/get.go: NAME, CLUSTER, the member's own columns, ADOPTION — whether the
//! federation manages the object).
//!
//! Each member is read through the hub's proxy, as the caller: the caller's user and groups
//! (from a SelfSubjectReview against the federation) ride on a proxy token that lives only as
//! long as the command (revoked at the end, expiring in minutes if the command dies), so the
//! member's RBAC decides what each person sees. The member answers in its own Table form, so
//! the columns are the member's.

use std::time::Duration;

use anyhow::{Context as _, bail};
use cceone_platform::{hubinfo, proxytoken};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use crate::args::{EndpointArg, GetArgs};
use crate::emit;

/// How long a proxy token made for one `get` lives at most.
const TOKEN_TTL: Duration = Duration::from_secs(300);
/// How long one member may take to answer.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(30);
/// Karmada's label on the objects it manages in members.
const MANAGED_LABEL: &str = "karmada.io/managed";

/// A served resource, as discovery names it.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) plural: String,
    pub(crate) kind: String,
    pub(crate) namespaced: bool,
}

impl Resource {
    /// The collection path (in `namespace` for a namespaced resource, `None` for all).
    pub(crate) fn path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }
}

/// Whether `word` (`deploy`, `deployment`, `deployments`, `Deployment`, `deployments.apps`)
/// names a resource listed in a group's discovery.
fn names_resource(
    word: &str,
    group: &str,
    r: &k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource,
) -> bool {
    let (name, wanted_group) = match word.split_once('.') {
        Some((n, g)) => (n, Some(g)),
        None => (word, None),
    };
    if wanted_group.is_some_and(|g| g != group) || r.name.contains('/') {
        return false;
    }
    let name = name.to_lowercase();
    r.name == name
        || r.singular_name == name
        || r.kind.to_lowercase() == name
        || r.short_names.iter().flatten().any(|s| *s == name)
}

/// Find the resource a word names in the federation's discovery (members serve the same
/// built-in kinds; a CRD's kind must be served by the federation too).
pub(crate) async fn resolve(client: &kube::Client, word: &str) -> anyhow::Result<Resource> {
    let core = client
        .list_core_api_resources("v1")
        .await
        .context("reading discovery")?;
    let mut candidates = vec![(String::new(), "v1".to_string(), core.resources)];
    let groups = client
        .list_api_groups()
        .await
        .context("reading discovery")?;
    for g in groups.groups {
        let Some(pref) = g.preferred_version.or_else(|| g.versions.first().cloned()) else {
            continue;
        };
        if let Ok(list) = client.list_api_group_resources(&pref.group_version).await {
            candidates.push((g.name.clone(), pref.version.clone(), list.resources));
        }
    }
    for (group, version, resources) in &candidates {
        if let Some(r) = resources.iter().find(|r| names_resource(word, group, r)) {
            return Ok(Resource {
                group: group.clone(),
                version: version.clone(),
                plural: r.name.clone(),
                kind: r.kind.clone(),
                namespaced: r.namespaced,
            });
        }
    }
    bail!("the server doesn't have a resource type \"{word}\"")
}

/// The caller's user and groups as the federation sees them.
pub(crate) async fn whoami(client: &kube::Client) -> anyhow::Result<(String, Vec<String>)> {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
    });
    let req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body)?)?;
    let review: Value = client
        .request(req)
        .await
        .context("asking the federation who the caller is (SelfSubjectReview)")?;
    let user = review
        .pointer("/status/userInfo/username")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if user.is_empty() {
        bail!("the federation did not say who the caller is");
    }
    let groups = review
        .pointer("/status/userInfo/groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        // Every authenticated caller has it; the member adds it itself.
        .filter(|g| *g != "system:authenticated")
        .map(str::to_string)
        .collect();
    Ok((user, groups))
}

/// The names of the federation's member clusters.
async fn member_names(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let req = http::Request::get("/apis/cluster.karmada.io/v1alpha1/clusters").body(Vec::new())?;
    let list: Value = client.request(req).await.context("listing clusters")?;
    let mut names: Vec<String> = list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    names.sort();
    Ok(names)
}

/// One member's answer: its Table, or why there is none.
struct MemberTable {
    cluster: String,
    table: anyhow::Result<Value>,
}

/// The query string of the member request.
fn query(a: &GetArgs) -> String {
    let mut q = vec!["includeObject=Metadata".to_string()];
    if let Some(sel) = &a.selector {
        q.push(format!("labelSelector={}", encode(sel)));
    }
    format!("?{}", q.join("&"))
}

/// Percent-encode a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A client of one member cluster through the hub's proxy, as the caller, on a proxy token
/// made for this command; [`MemberClient::close`] revokes it.
pub(crate) struct MemberClient {
    pub(crate) client: kube::Client,
    token_id: String,
}

impl MemberClient {
    /// Issue a short-lived proxy token for `who` on `cluster` and make a client with it.
    pub(crate) async fn open(
        fed: &kube::Client,
        hub: &hubinfo::HubInfo,
        endpoint: EndpointArg,
        who: &(String, Vec<String>),
        cluster: &str,
    ) -> anyhow::Result<MemberClient> {
        let (id, bearer) = proxytoken::issue(fed, cluster, &who.0, &who.1, Some(TOKEN_TTL))
            .await
            .context("issuing a proxy token (only platform admins may)")?;
        let made = async {
            let endpoint = endpoint.of(hub);
            let yaml =
                proxytoken::kubeconfig_yaml(endpoint, cluster, &hub.ca_bundle, &who.0, &bearer);
            let kc = Kubeconfig::from_yaml(&yaml)?;
            let mut config =
                kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
            config.read_timeout = Some(MEMBER_TIMEOUT);
            config.connect_timeout = Some(MEMBER_TIMEOUT);
            anyhow::Ok(kube::Client::try_from(config)?)
        }
        .await;
        match made {
            Ok(client) => Ok(MemberClient {
                client,
                token_id: id,
            }),
            Err(e) => {
                revoke(fed, &id).await;
                Err(e)
            }
        }
    }

    /// Revoke the token (it expires in minutes anyway if this is never reached).
    pub(crate) async fn close(self, fed: &kube::Client) {
        revoke(fed, &self.token_id).await;
    }
}

/// Revoke a proxy token made for this command, warning when that fails.
async fn revoke(fed: &kube::Client, id: &str) {
    if let Err(e) = proxytoken::revoke(fed, id).await {
        eprintln!("warning: proxy token {id} not revoked (it expires in minutes): {e}");
    }
}

/// Ask one member for its Table, through the hub as the caller.
async fn member_table(
    client: &kube::Client,
    hub: &hubinfo::HubInfo,
    endpoint: EndpointArg,
    who: &(String, Vec<String>),
    cluster: &str,
    path: &str,
) -> anyhow::Result<Value> {
    let member = MemberClient::open(client, hub, endpoint, who, cluster).await?;
    let result = async {
        let req = http::Request::get(path)
            .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new())?;
        let table: Value =
            tokio::time::timeout(MEMBER_TIMEOUT, member.client.request(req)).await??;
        anyhow::Ok(table)
    }
    .await;
    member.close(client).await;
    result
}

/// The printed table: NAMESPACE (with -A), NAME, CLUSTER, the member's other columns (those
/// of priority 0 unless wide), ADOPTION.
fn render(tables: &[MemberTable], all_namespaces: bool, wide: bool) -> (Vec<Vec<String>>, usize) {
    let Some(first) = tables.iter().find_map(|t| t.table.as_ref().ok()) else {
        return (Vec::new(), 0);
    };
    let defs: Vec<&Value> = first
        .get("columnDefinitions")
        .and_then(Value::as_array)
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    // Column 0 is the name in every Table kube-apiserver serves.
    let shown: Vec<usize> = (1..defs.len())
        .filter(|&i| wide || defs[i].get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .collect();
    let mut header = Vec::new();
    if all_namespaces {
        header.push("NAMESPACE".to_string());
    }
    header.extend(["NAME".to_string(), "CLUSTER".to_string()]);
    for &i in &shown {
        header.push(
            defs[i]
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_uppercase(),
        );
    }
    header.push("ADOPTION".into());
    let mut body = Vec::new();
    for t in tables {
        let Ok(table) = &t.table else { continue };
        for row in table
            .get("rows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cells = row.get("cells").and_then(Value::as_array);
            let cell = |i: usize| match cells.and_then(|c| c.get(i)) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let meta = row.pointer("/object/metadata");
            let text = |p: &str| {
                meta.and_then(|m| m.pointer(p))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let mut out = Vec::new();
            if all_namespaces {
                out.push(text("/namespace"));
            }
            out.push(cell(0));
            out.push(t.cluster.clone());
            out.extend(shown.iter().map(|&i| cell(i)));
            let managed = meta
                .and_then(|m| m.pointer("/labels"))
                .and_then(|l| l.get(MANAGED_LABEL))
                .and_then(Value::as_str)
                == Some("true");
            out.push(if managed { "Y" } else { "N" }.into());
            body.push(out);
        }
    }
    // By name, then cluster, as one reads a fleet.
    let name_col = usize::from(all_namespaces);
    body.sort_by(|a, b| {
        (&a[..name_col], &a[name_col], &a[name_col + 1]).cmp(&(
            &b[..name_col],
            &b[name_col],
            &b[name_col + 1],
        ))
    });
    let rows = body.len();
    let mut all = vec![header];
    all.extend(body);
    (all, rows)
}

/// `cceonectl get`.
pub(crate) async fn run(client: &kube::Client, a: GetArgs) -> anyhow::Result<()> {
    let resource = resolve(client, &a.kind).await?;
    let namespace = (!a.all_namespaces).then(|| a.namespace.clone());
    let mut path = resource.path(namespace.as_deref());
    if let Some(name) = &a.name {
        path = format!("{path}/{name}");
    }
    path.push_str(&query(&a));
    let clusters = match &a.clusters {
        Some(c) => c.clone(),
        None => member_names(client).await?,
    };
    if clusters.is_empty() {
        bail!("the federation has no member clusters");
    }
    let who = whoami(client).await?;
    let hub = hubinfo::read(client)
        .await
        .context("reading the hub's connection info")?;
    let tables: Vec<MemberTable> = futures::future::join_all(clusters.iter().map(|cluster| {
        let (hub, who, path) = (&hub, &who, &path);
        async move {
            MemberTable {
                cluster: cluster.clone(),
                table: member_table(client, hub, a.endpoint, who, cluster, path).await,
            }
        }
    }))
    .await;
    let mut failed = 0;
    for t in &tables {
        if let Err(e) = &t.table {
            failed += 1;
            eprintln!("error: cluster {}: {e:#}", t.cluster);
        }
    }
    let wide = a.output.as_deref() == Some("wide");
    let (rows, count) = render(&tables, a.all_namespaces, wide);
    if count == 0 {
        if failed == tables.len() {
            bail!("no member cluster answered");
        }
        match (&namespace, resource.namespaced) {
            (Some(ns), true) => eprintln!("No resources found in {ns} namespace."),
            _ => eprintln!("No resources found"),
        }
        return Ok(());
    }
    emit(&crate::cluster::tabulate(&rows))?;
    if failed > 0 {
        bail!("{failed} of {} clusters did not answer", tables.len());
    }
    Ok(())
}
