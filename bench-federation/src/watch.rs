//! What the benchmark observes, with local timestamps: kube-rs watchers on the federation
//! (bindings, Works, templates) and, with kubesim members, on every member's Deployments. Light
//! members record their deliveries into the same place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::NS;

/// Everything the watchers saw, with local timestamps.
#[derive(Default)]
pub(crate) struct Observed {
    /// Template name → when its create request was sent.
    pub(crate) written: HashMap<String, Instant>,
    /// (cluster, name) → when its Work first appeared in the federation.
    pub(crate) work: HashMap<(String, String), Instant>,
    /// (cluster, name) → when the Work was first applied in that member: the Deployment first
    /// appeared there (kubesim), or the Work's delivery reached the light member.
    pub(crate) in_member: HashMap<(String, String), Instant>,
    /// Binding name → first seen.
    pub(crate) rb_seen: HashMap<String, Instant>,
    /// Binding name → first seen with `Scheduled=True`.
    pub(crate) rb_scheduled: HashMap<String, Instant>,
    /// Template name → first seen with `readyReplicas == replicas`.
    pub(crate) ready: HashMap<String, Instant>,
}

pub(crate) type Shared = Arc<Mutex<Observed>>;

/// The watchers' tasks: stopped before the platform shuts down, so they do not log its going.
pub(crate) type Watchers = tokio::task::JoinSet<()>;

/// Record that `(cluster, name)` reached its member at `at` (the first time counts).
pub(crate) fn record_in_member(obs: &Shared, cluster: &str, name: &str, at: Instant) {
    if let Ok(mut o) = obs.lock() {
        o.in_member
            .entry((cluster.to_string(), name.to_string()))
            .or_insert(at);
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub(crate) fn rb_resource() -> ApiResource {
    resource(
        "work.karmada.io",
        "v1alpha2",
        "ResourceBinding",
        "resourcebindings",
    )
}

pub(crate) fn work_resource() -> ApiResource {
    resource("work.karmada.io", "v1alpha1", "Work", "works")
}

pub(crate) fn pp_resource() -> ApiResource {
    resource(
        "policy.karmada.io",
        "v1alpha1",
        "PropagationPolicy",
        "propagationpolicies",
    )
}

fn scheduled(rb: &DynamicObject) -> bool {
    rb.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Scheduled" && c["status"] == "True")
        })
}

fn template_ready(d: &Deployment) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    want > 0 && ready == want
}

/// Watch one member's Deployments, recording when each first appears.
pub(crate) fn watch_member(set: &mut Watchers, obs: Shared, cluster: String, client: kube::Client) {
    set.spawn(async move {
        let api: Api<Deployment> = Api::namespaced(client, NS);
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(d) = ev else { continue };
            let now = Instant::now();
            if let Some(name) = d.metadata.name {
                record_in_member(&obs, &cluster, &name, now);
            }
        }
    });
}

/// Watch the federation's bindings, Works and templates.
pub(crate) fn watch_federation(set: &mut Watchers, obs: &Shared, fed: &kube::Client) {
    let (o, api) = (
        Arc::clone(obs),
        Api::<DynamicObject>::namespaced_with(fed.clone(), NS, &rb_resource()),
    );
    set.spawn(async move {
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(rb) = ev else { continue };
            let now = Instant::now();
            let Some(name) = rb.metadata.name.clone() else {
                continue;
            };
            let mut o = o.lock().unwrap();
            o.rb_seen.entry(name.clone()).or_insert(now);
            if scheduled(&rb) {
                o.rb_scheduled.entry(name).or_insert(now);
            }
        }
    });
    let (o, api) = (
        Arc::clone(obs),
        Api::<DynamicObject>::all_with(fed.clone(), &work_resource()),
    );
    set.spawn(async move {
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(w) = ev else { continue };
            let now = Instant::now();
            let cluster = w.metadata.namespace.as_deref().unwrap_or_default();
            let Some(cluster) = cluster.strip_prefix("karmada-es-") else {
                continue;
            };
            let name = w
                .data
                .pointer("/spec/workload/manifests/0/metadata/name")
                .and_then(Value::as_str);
            if let Some(name) = name {
                let key = (cluster.to_string(), name.to_string());
                o.lock().unwrap().work.entry(key).or_insert(now);
            }
        }
    });
    let (o, api) = (
        Arc::clone(obs),
        Api::<Deployment>::namespaced(fed.clone(), NS),
    );
    set.spawn(async move {
        let mut s = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            let Ok(d) = ev else { continue };
            let now = Instant::now();
            if template_ready(&d)
                && let Some(name) = d.metadata.name
            {
                o.lock().unwrap().ready.entry(name).or_insert(now);
            }
        }
    });
}
