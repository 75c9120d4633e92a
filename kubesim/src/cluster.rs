//! The simulator's cluster-service controllers, each one of kube-controller-manager's (or the
//! apiserver's own) driven through the API: the `kubernetes` Service and its endpoints (the
//! apiserver's endpoint reconciler), Endpoints and EndpointSlices of selector Services
//! (`pkg/controller/endpoint`, `pkg/controller/endpointslice`), each namespace's `default`
//! ServiceAccount and `kube-root-ca.crt` ConfigMap (`pkg/controller/serviceaccount`,
//! `pkg/controller/certificates/rootcacertpublisher`), PodDisruptionBudget status
//! (`pkg/controller/disruption`), ResourceQuota status (`cluster/quota.rs`) and the
//! `node.kubernetes.io/unschedulable` taint of cordoned nodes (`pkg/controller/nodelifecycle`).
//!
//! Kept out of the workload pass (`controller.rs`) so a cluster without Services, budgets or
//! quotas pays one list of each per pass and nothing more: pods are only listed when some
//! Service with a selector, budget or quota needs them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::{DeleteOptions, ListOptions, WatchOptions, WriteOptions};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::selector::LabelSelector;
use cceone_kube_apiserver::{ApiError, Core, meta};
use cceone_kubesim_core::{disruption, endpoints};
use serde_json::{Value, json};
use tokio::sync::Notify;

mod quota;

/// Where the API server serves, for the `kubernetes` Service's endpoints.
#[derive(Debug, Clone)]
pub struct ApiEndpoint {
    /// Its address.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// The cluster CA (PEM) published in every namespace's `kube-root-ca.crt`.
    pub ca_pem: String,
}

/// The description upstream's root CA publisher puts on `kube-root-ca.crt`.
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
/// Passes between re-checks of namespace defaults already made (they may have been deleted).
const RECHECK_EVERY: u32 = 30;
/// Least time between passes; changes within it are handled together.
const GAP: Duration = Duration::from_millis(100);
/// Pass interval when nothing changes.
const RESYNC: Duration = Duration::from_secs(5);

const WATCHED: &[(&str, &str, &str)] = &[
    ("", "v1", "services"),
    ("", "v1", "pods"),
    ("", "v1", "namespaces"),
    ("", "v1", "nodes"),
    ("", "v1", "resourcequotas"),
    ("policy", "v1", "poddisruptionbudgets"),
];

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    }
}

/// Run the controllers until the task is dropped.
pub async fn run(core: Arc<Core>, api: ApiEndpoint) {
    let wake = Arc::new(Notify::new());
    for (g, v, p) in WATCHED {
        if let Ok(res) = core.resource(g, v, p) {
            tokio::spawn(watch(Arc::clone(&core), res, Arc::clone(&wake)));
        }
    }
    let mut state = State::default();
    loop {
        if let Err(e) = pass(&core, &api, &mut state, &wake).await {
            tracing::debug!(error = %e, "cluster controllers pass failed");
        }
        tokio::select! {
            _ = wake.notified() => tokio::time::sleep(GAP).await,
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }
}

async fn watch(core: Arc<Core>, res: Arc<ResourceInfo>, wake: Arc<Notify>) {
    loop {
        let opts = WatchOptions {
            resource_version: Some(core.store.current_revision().to_string()),
            ..Default::default()
        };
        if let Ok(mut rx) = core.watch(&res, None, opts).await {
            while rx.recv().await.is_some() {
                wake.notify_one();
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Default)]
struct State {
    /// Namespaces (by uid) whose defaults were made.
    defaulted: HashSet<String>,
    /// Selector Services of the last pass, whose Endpoints go when they go.
    selected: HashSet<(String, String)>,
    /// The slices each selector Service had after the last pass, by (namespace, name); a
    /// Service missing here (first pass, restart) has its slices listed once.
    slices: HashMap<(String, String), Vec<String>>,
    passes: u32,
    /// The quota controller's.
    quotas: quota::QuotaState,
}

async fn list(
    core: &Core,
    g: &str,
    v: &str,
    p: &str,
    ns: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let res = core.resource(g, v, p)?;
    let page = core.list(&res, ns, &ListOptions::default()).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect())
}

fn key(obj: &Value) -> (String, String) {
    (
        meta::namespace(obj).unwrap_or_default().to_string(),
        meta::name(obj).unwrap_or_default().to_string(),
    )
}

async fn pass(
    core: &Arc<Core>,
    api: &ApiEndpoint,
    state: &mut State,
    wake: &Arc<Notify>,
) -> Result<(), ApiError> {
    state.passes += 1;
    if state.passes.is_multiple_of(RECHECK_EVERY) {
        state.defaulted.clear();
    }
    // Each controller on its own: one failing leaves the others their pass.
    if let Err(e) = cordon_taints(core).await {
        tracing::debug!(error = %e, "cordon taints");
    }
    if let Err(e) = namespace_defaults(core, api, state).await {
        tracing::debug!(error = %e, "namespace defaults");
    }
    let services = list(core, "", "v1", "services", None).await?;
    let pdbs = list(core, "policy", "v1", "poddisruptionbudgets", None).await?;
    let quotas = list(core, "", "v1", "resourcequotas", None).await?;
    let selecting: Vec<&Value> = services
        .iter()
        .filter(|s| endpoints::has_selector(s) && !meta::is_deleting(s))
        .collect();
    let pods = if selecting.is_empty() && pdbs.is_empty() {
        Vec::new()
    } else {
        list(core, "", "v1", "pods", None).await?
    };
    let mut by_ns: HashMap<&str, Vec<&Value>> = HashMap::new();
    for p in &pods {
        by_ns
            .entry(meta::namespace(p).unwrap_or_default())
            .or_default()
            .push(p);
    }
    if let Err(e) = service_endpoints(core, api, &services, &selecting, &by_ns, state).await {
        tracing::debug!(error = %e, "service endpoints");
    }
    for pdb in &pdbs {
        if let Err(e) = budget_status(core, pdb, &by_ns).await {
            tracing::debug!(error = %e, "disruption budget status");
        }
    }
    quota::sync(core, &quotas, &mut state.quotas, wake).await;
    Ok(())
}

/// Cordoned nodes carry `node.kubernetes.io/unschedulable:NoSchedule`; uncordoned ones not.
async fn cordon_taints(core: &Arc<Core>) -> Result<(), ApiError> {
    const KEY: &str = "node.kubernetes.io/unschedulable";
    let res = core.resource("", "v1", "nodes")?;
    for node in list(core, "", "v1", "nodes", None).await? {
        let cordoned = node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true);
        let taints: Vec<Value> = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has = taints
            .iter()
            .any(|t| t.get("key").and_then(Value::as_str) == Some(KEY));
        if cordoned == has {
            continue;
        }
        let mut new: Vec<Value> = taints
            .into_iter()
            .filter(|t| t.get("key").and_then(Value::as_str) != Some(KEY))
            .collect();
        if cordoned {
            new.push(json!({"key": KEY, "effect": "NoSchedule"}));
        }
        let mut updated = node.clone();
        updated["spec"]["taints"] = json!(new);
        let name = meta::name(&node).unwrap_or_default().to_string();
        match core.update(&res, None, &name, None, updated, &opts()).await {
            Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Create `obj` unless it exists.
async fn ensure(core: &Arc<Core>, plural: &str, ns: &str, obj: Value) -> Result<(), ApiError> {
    let res = core.resource("", "v1", plural)?;
    let name = meta::name(&obj).unwrap_or_default().to_string();
    match core.get(&res, Some(ns), &name).await {
        Ok(_) => Ok(()),
        Err(ApiError::NotFound { .. }) => match core.create(&res, Some(ns), obj, &opts()).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
            // A namespace being deleted refuses new objects.
            Err(ApiError::Forbidden(_)) | Err(ApiError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

async fn namespace_defaults(
    core: &Arc<Core>,
    api: &ApiEndpoint,
    state: &mut State,
) -> Result<(), ApiError> {
    for ns in list(core, "", "v1", "namespaces", None).await? {
        let Some(uid) = meta::uid(&ns).map(String::from) else {
            continue;
        };
        if meta::is_deleting(&ns) || state.defaulted.contains(&uid) {
            continue;
        }
        let name = meta::name(&ns).unwrap_or_default().to_string();
        ensure(
            core,
            "serviceaccounts",
            &name,
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": name}}),
        )
        .await?;
        ensure(
            core,
            "configmaps",
            &name,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": name,
                         "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
            "data": {"ca.crt": api.ca_pem}}),
        )
        .await?;
        if name == "default" {
            kubernetes_service(core, api).await?;
        }
        state.defaulted.insert(uid);
    }
    Ok(())
}

/// The `default/kubernetes` Service (the range's first IP, 443 to the apiserver's port), its
/// Endpoints and EndpointSlice, as the apiserver's own reconcilers keep them.
async fn kubernetes_service(core: &Arc<Core>, api: &ApiEndpoint) -> Result<(), ApiError> {
    let ip = core.builtin_admission.apiserver_service_ip().to_string();
    ensure(core, "services", "default", json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": ip, "type": "ClusterIP", "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.port}]}})).await?;
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": api.ip}],
                     "ports": [{"name": "https", "port": api.port, "protocol": "TCP"}]}]});
    put(core, "", "endpoints", ep).await?;
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {endpoints::SERVICE_NAME_LABEL: "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [api.ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": api.port, "protocol": "TCP"}]});
    put(core, "discovery.k8s.io", "endpointslices", slice).await
}

/// Create or replace `obj` so it says what it says (no write when it already does).
async fn put(core: &Arc<Core>, group: &str, plural: &str, obj: Value) -> Result<(), ApiError> {
    let res = core.resource(group, "v1", plural)?;
    let (ns, name) = key(&obj);
    match core.get(&res, Some(&ns), &name).await {
        Ok(stored) if endpoints::same_content(&stored, &obj) => Ok(()),
        Ok(stored) => {
            let mut new = obj;
            new["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"].clone();
            match core
                .update(&res, Some(&ns), &name, None, new, &opts())
                .await
            {
                Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(ApiError::NotFound { .. }) => match core.create(&res, Some(&ns), obj, &opts()).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) | Err(ApiError::Forbidden(_)) => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The names of the slices the controller made for a Service.
async fn managed_slices(
    core: &Arc<Core>,
    (ns, svc): &(String, String),
) -> Result<Vec<String>, ApiError> {
    let res = core.resource("discovery.k8s.io", "v1", "endpointslices")?;
    let label = LabelSelector::parse(&format!(
        "{}={svc},endpointslice.kubernetes.io/managed-by={}",
        endpoints::SERVICE_NAME_LABEL,
        endpoints::SLICE_MANAGER
    ))?;
    let opts = ListOptions {
        label: Some(label),
        ..Default::default()
    };
    let page = core.list(&res, Some(ns), &opts).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .filter_map(|s| meta::name(&s).map(String::from))
        .collect())
}

/// Delete the slices in `before` that are not in `now` (the Service needs fewer).
async fn drop_slices(core: &Arc<Core>, ns: &str, before: &[String], now: &[String]) {
    let Ok(res) = core.resource("discovery.k8s.io", "v1", "endpointslices") else {
        return;
    };
    for name in before.iter().filter(|n| !now.contains(n)) {
        if let Err(e) = core
            .delete(&res, Some(ns), name, &DeleteOptions::default())
            .await
            && e.code() != 404
        {
            tracing::debug!(error = %e, "deleting a surplus EndpointSlice");
        }
    }
}

fn select<'a>(pods: Option<&Vec<&'a Value>>, selector: &LabelSelector) -> Vec<&'a Value> {
    pods.map(|ps| {
        ps.iter()
            .copied()
            .filter(|p| selector.matches_labels(p.pointer("/metadata/labels")))
            .collect()
    })
    .unwrap_or_default()
}

async fn service_endpoints(
    core: &Arc<Core>,
    api: &ApiEndpoint,
    services: &[Value],
    selecting: &[&Value],
    by_ns: &HashMap<&str, Vec<&Value>>,
    state: &mut State,
) -> Result<(), ApiError> {
    let mut now_selected = HashSet::new();
    for svc in selecting {
        let Some(sel) = svc.pointer("/spec/selector") else {
            continue;
        };
        let Ok(selector) = LabelSelector::from_object(&json!({"matchLabels": sel})) else {
            continue;
        };
        let (ns, _) = key(svc);
        let pods = select(by_ns.get(ns.as_str()), &selector);
        put(core, "", "endpoints", endpoints::endpoints(svc, &pods)).await?;
        let slices = endpoints::endpoint_slices(svc, &pods);
        let names: Vec<String> = slices.iter().map(|s| key(s).1).collect();
        for slice in slices {
            put(core, "discovery.k8s.io", "endpointslices", slice).await?;
        }
        let svc_key = key(svc);
        let before = match state.slices.get(&svc_key) {
            Some(names) => names.clone(),
            None => managed_slices(core, &svc_key).await?,
        };
        drop_slices(core, &svc_key.0, &before, &names).await;
        state.slices.insert(svc_key.clone(), names);
        now_selected.insert(svc_key);
    }
    // Endpoints of selector Services that went (their slices go with them: owner references).
    let present: HashSet<(String, String)> = services.iter().map(key).collect();
    let eps = core.resource("", "v1", "endpoints")?;
    for (ns, name) in state.selected.difference(&now_selected) {
        if !present.contains(&(ns.clone(), name.clone())) {
            let _ = core
                .delete(&eps, Some(ns), name, &DeleteOptions::default())
                .await;
        }
    }
    state.slices.retain(|k, _| now_selected.contains(k));
    state.selected = now_selected;
    if !present.contains(&("default".to_string(), "kubernetes".to_string())) {
        kubernetes_service(core, api).await?;
    }
    Ok(())
}

/// The summed `spec.replicas` of the controllers of `pods` (a ReplicaSet of a Deployment
/// counts as its Deployment, once), as the disruption controller's `getExpectedScale`.
async fn controller_scale(core: &Arc<Core>, ns: &str, pods: &[&Value]) -> i64 {
    let mut seen: BTreeMap<(String, String), i64> = BTreeMap::new();
    for pod in pods {
        let Some(owner) = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|o| o.iter().find(|r| r.get("controller") == Some(&json!(true))))
        else {
            continue;
        };
        let kind = owner
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = owner
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if seen.contains_key(&(kind.clone(), name.clone())) {
            continue;
        }
        let (mut k, mut n) = (kind.clone(), name.clone());
        let mut obj = get_controller(core, ns, &k, &n).await;
        if k == "ReplicaSet"
            && let Some(d) = obj.as_ref().and_then(|rs| {
                rs.pointer("/metadata/ownerReferences")?
                    .as_array()?
                    .iter()
                    .find(|r| r.get("kind").and_then(Value::as_str) == Some("Deployment"))
                    .and_then(|r| r.get("name")?.as_str().map(String::from))
            })
        {
            seen.insert((kind, name), 0);
            (k, n) = ("Deployment".into(), d);
            if seen.contains_key(&(k.clone(), n.clone())) {
                continue;
            }
            obj = get_controller(core, ns, &k, &n).await;
        }
        let replicas = obj
            .and_then(|o| o.pointer("/spec/replicas").and_then(Value::as_i64))
            .unwrap_or(0);
        seen.insert((k, n), replicas);
    }
    seen.values().sum()
}

async fn get_controller(core: &Arc<Core>, ns: &str, kind: &str, name: &str) -> Option<Value> {
    let (g, p) = match kind {
        "Deployment" => ("apps", "deployments"),
        "ReplicaSet" => ("apps", "replicasets"),
        "StatefulSet" => ("apps", "statefulsets"),
        "ReplicationController" => ("", "replicationcontrollers"),
        _ => return None,
    };
    let res = core.resource(g, "v1", p).ok()?;
    core.get(&res, Some(ns), name).await.ok()
}

async fn budget_status(
    core: &Arc<Core>,
    pdb: &Value,
    by_ns: &HashMap<&str, Vec<&Value>>,
) -> Result<(), ApiError> {
    let (ns, name) = key(pdb);
    let pods = match pdb.pointer("/spec/selector").filter(|s| !s.is_null()) {
        Some(sel) => match LabelSelector::from_object(sel) {
            Ok(selector) => select(by_ns.get(ns.as_str()), &selector),
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    let scale = if disruption::needs_controller_scale(pdb) {
        controller_scale(core, &ns, &pods).await
    } else {
        0
    };
    let status = disruption::pdb_status(pdb, &pods, scale, jiff::Timestamp::now());
    if pdb.get("status") == Some(&status) {
        return Ok(());
    }
    let mut new = pdb.clone();
    new["status"] = status;
    let res = core.resource("policy", "v1", "poddisruptionbudgets")?;
    match core
        .update(&res, Some(&ns), &name, Some("status"), new, &opts())
        .await
    {
        Ok(_) | Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
