//! Test support: a federation started in-process on `127.0.0.1:0`, the real `kubectl` against
//! it, registered clusters written as the hub writes them, Work status reported as the hub
//! reports it, and waiting on conditions with deadlines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cceone_federation::{Federation, FederationConfig};
use futures::StreamExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// A running federation and a kubeconfig file for `kubectl`.
pub struct Fed {
    pub fed: Federation,
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

/// What `kubectl` printed.
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Fed {
    /// Start with test timings: a 1 s grace and eviction timeout.
    pub async fn start() -> Fed {
        Fed::start_with(|_| {}).await
    }

    /// Start with adjusted settings.
    pub async fn start_with(adjust: impl FnOnce(&mut FederationConfig)) -> Fed {
        if std::env::var("RUST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = FederationConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            Some(dir.path().join("data")),
        );
        cfg.cluster_grace = Duration::from_secs(1);
        cfg.eviction_timeout = Duration::from_secs(1);
        adjust(&mut cfg);
        let fed = cceone_federation::start(cfg).await.unwrap();
        let kubeconfig = dir.path().join("fed.kubeconfig");
        std::fs::write(&kubeconfig, fed.admin_kubeconfig()).unwrap();
        let client = fed.client().await.unwrap();
        Fed {
            fed,
            client,
            kubeconfig,
            _dir: dir,
        }
    }

    /// Run `kubectl` with `stdin`, off the async runtime.
    pub async fn kubectl_with(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let mut cmd = std::process::Command::new(kubectl);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--request-timeout=20s")
            .args(args);
        let stdin = stdin.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::process::Stdio;
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl must be on PATH");
            if let Some(input) = stdin {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            let out = child.wait_with_output().unwrap();
            Out {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    /// `kubectl` that must succeed; returns stdout.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_with(args, None).await;
        assert!(out.ok, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// `kubectl apply -f -` of a YAML document.
    pub async fn apply(&self, yaml: &str) -> String {
        let out = self.kubectl_with(&["apply", "-f", "-"], Some(yaml)).await;
        assert!(out.ok, "kubectl apply failed: {}\n{yaml}", out.stderr);
        out.stdout
    }

    /// A dynamic API handle.
    pub fn api(&self, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    /// An object as JSON, if it exists.
    pub async fn get(&self, ar: &ApiResource, ns: Option<&str>, name: &str) -> Option<Value> {
        self.api(ar, ns)
            .get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Every object of a resource in a namespace (or all).
    pub async fn list(&self, ar: &ApiResource, ns: Option<&str>) -> Vec<Value> {
        self.api(ar, ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect()
    }

    /// Register a cluster and mark it Running with a status, as the hub does when its agent
    /// connects and reports.
    pub async fn join_cluster(&self, name: &str, region: &str, labels: Value) {
        let api = cceone_platform::registered_clusters(&self.client);
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "platform.cceone.io/v1alpha1",
            "kind": "RegisteredCluster",
            "metadata": {"name": name, "labels": labels},
            "spec": {"type": "ctyun", "provider": "ctyun", "region": region, "zone": format!("{region}-a")},
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
        self.set_connected(name, true).await;
    }

    /// Write the hub's view of a cluster's tunnel: Running with a fresh report, or
    /// Disconnected since now.
    pub async fn set_connected(&self, name: &str, up: bool) {
        let api = cceone_platform::registered_clusters(&self.client);
        let now = jiff::Timestamp::now();
        let now = jiff::Timestamp::from_second(now.as_second())
            .unwrap()
            .to_string();
        let status = if up {
            json!({
                "phase": "Running",
                "kubernetesVersion": "v1.32.0",
                "connectedSince": now,
                "lastHeartbeatTime": now,
                "vcpus": "8",
                "nodeSummary": {"total": 3, "ready": 3},
                "resourceSummary": {
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "330"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "330"},
                    "allocated": {"cpu": "1", "memory": "1Gi", "pods": "10"},
                },
                "apiEnablements": [
                    {"groupVersion": "apps/v1", "resources": [
                        {"name": "deployments", "kind": "Deployment"},
                        {"name": "statefulsets", "kind": "StatefulSet"}]},
                    {"groupVersion": "v1", "resources": [
                        {"name": "configmaps", "kind": "ConfigMap"},
                        {"name": "services", "kind": "Service"}]},
                    {"groupVersion": "rbac.authorization.k8s.io/v1", "resources": [
                        {"name": "clusterroles", "kind": "ClusterRole"}]},
                    {"groupVersion": "example.com/v1", "resources": [
                        {"name": "widgets", "kind": "Widget"}]},
                ],
                "conditions": [{"type": "Ready", "status": "True", "reason": "AgentConnected",
                    "message": "agent connected", "lastTransitionTime": now}],
            })
        } else {
            json!({
                "phase": "Disconnected",
                "conditions": [{"type": "Ready", "status": "False", "reason": "HeartbeatMissed",
                    "message": "no heartbeat within the grace period", "lastTransitionTime": now}],
            })
        };
        let pp = PatchParams {
            field_manager: Some("cceone-hub".into()),
            ..Default::default()
        };
        api.patch_status(name, &pp, &Patch::Merge(&json!({ "status": status })))
            .await
            .unwrap();
    }

    /// Report every Work of a cluster applied and its Deployments fully ready, as the hub
    /// writes what the agent reports. Returns how many Works were reported.
    pub async fn report_works(&self, cluster: &str) -> usize {
        let ns = format!("karmada-es-{cluster}");
        let api = self.api(&work(), Some(&ns));
        let works = self.list(&work(), Some(&ns)).await;
        for w in &works {
            let name = w["metadata"]["name"].as_str().unwrap();
            let generation = w["metadata"]["generation"].as_i64().unwrap_or(1);
            let manifests = w["spec"]["workload"]["manifests"].as_array().unwrap();
            let statuses: Vec<Value> = manifests
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let (group, version) = match m["apiVersion"].as_str().unwrap().split_once('/') {
                        Some((g, v)) => (g.to_string(), v.to_string()),
                        None => (String::new(), m["apiVersion"].as_str().unwrap().to_string()),
                    };
                    let r = m["spec"]["replicas"].as_i64().unwrap_or(1);
                    let tgen: i64 =
                        m["metadata"]["annotations"]["resourcetemplate.karmada.io/generation"]
                            .as_str()
                            .and_then(|g| g.parse().ok())
                            .unwrap_or(0);
                    json!({
                        "identifier": {"ordinal": i, "group": group, "version": version,
                            "kind": m["kind"], "resource": "deployments",
                            "namespace": m["metadata"]["namespace"], "name": m["metadata"]["name"]},
                        "status": {"replicas": r, "readyReplicas": r, "availableReplicas": r,
                            "updatedReplicas": r, "generation": 1, "observedGeneration": 1,
                            "resourceTemplateGeneration": tgen},
                        "health": "Healthy",
                    })
                })
                .collect();
            let status = json!({"status": {
                "conditions": [{"type": "Applied", "status": "True", "reason": "AppliedSuccessful",
                    "message": "", "lastTransitionTime": "2025-05-30T09:52:51Z",
                    "observedGeneration": generation}],
                "manifestStatuses": statuses,
            }});
            let pp = PatchParams {
                field_manager: Some("cceone-hub".into()),
                ..Default::default()
            };
            api.patch_status(name, &pp, &Patch::Merge(&status))
                .await
                .unwrap();
        }
        works.len()
    }

    /// Assert that no object of `ar` in `ns` changes for `quiet` (a watch from now).
    pub async fn assert_still(&self, ar: &ApiResource, ns: Option<&str>, quiet: Duration) {
        let api = self.api(ar, ns);
        let rv = api
            .list(&Default::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let wp = kube::api::WatchParams::default().timeout(10);
        let watch = tokio::time::timeout(Duration::from_secs(10), api.watch(&wp, &rv));
        let mut stream = watch.await.expect("the watch answers").unwrap().boxed();
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return,
                Ok(None) => panic!("watch ended early"),
                Ok(Some(Ok(kube::api::WatchEvent::Bookmark(_)))) => {}
                Ok(Some(ev)) => panic!("{} changed after convergence: {ev:?}", ar.plural),
            }
        }
    }

    /// Stop the federation.
    pub async fn stop(self) {
        self.fed.shutdown().await;
    }
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// `work.karmada.io/v1alpha1` Work.
pub fn work() -> ApiResource {
    ar("work.karmada.io", "v1alpha1", "Work", "works")
}

/// `work.karmada.io/v1alpha2` ResourceBinding.
pub fn rb() -> ApiResource {
    ar(
        "work.karmada.io",
        "v1alpha2",
        "ResourceBinding",
        "resourcebindings",
    )
}

/// `cluster.karmada.io/v1alpha1` Cluster.
pub fn cluster() -> ApiResource {
    ar("cluster.karmada.io", "v1alpha1", "Cluster", "clusters")
}

/// `apps/v1` Deployment.
pub fn deployment() -> ApiResource {
    ar("apps", "v1", "Deployment", "deployments")
}

/// Wait until `f` yields `Some`, polling every 50 ms; panic with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(cluster, replicas, labels)` of each Work of a template, sorted by cluster. A Work being
/// deleted is not counted: it only waits (its execution finalizer) for the hub to hear that the
/// member let go of its objects, and these tests run no hub.
pub async fn works_of(fed: &Fed, name: &str) -> Vec<(String, i64, Value)> {
    let mut out = Vec::new();
    for w in fed.list(&work(), None).await {
        if !w["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let ns = w["metadata"]["namespace"].as_str().unwrap_or("");
        let Some(cluster) = ns.strip_prefix("karmada-es-") else {
            continue;
        };
        let m = &w["spec"]["workload"]["manifests"][0];
        if m["metadata"]["name"] == name {
            out.push((
                cluster.to_string(),
                m["spec"]["replicas"].as_i64().unwrap_or(-1),
                m["metadata"]["labels"].clone(),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `(name, replicas)` of a binding's `spec.clusters`, sorted.
pub fn targets(rb: &Value) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = rb["spec"]["clusters"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("").to_string(),
                        c["replicas"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The status of a condition of an object.
pub fn condition(obj: &Value, kind: &str) -> Option<String> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}
