//! Resource templates: every kind the federation API serves that an admin may propagate,
//! found in the API server's registry (what discovery serves) and cached by one in-process
//! watch per kind. Discovery runs again whenever a
//! CustomResourceDefinition changes, so instances of a CRD created later are templates too.
//!
//! Left out: the federation's own groups (`cluster.karmada.io`, `policy.karmada.io`,
//! `work.karmada.io`), the platform's (`platform.cceone.io`), and kinds that describe the
//! control plane rather than workloads (events, leases, nodes, endpoints, controller
//! revisions, API registration, certificates, flow control).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use cceone_kube_apiserver::LocalClient;
use cceone_kube_apiserver::resource::ResourceInfo;
use kube::api::ApiResource;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::Notify;

use crate::error::Error;
use crate::resources::TemplateKey;
use crate::runtime::{Cache, Handler, Writer};

/// Groups whose kinds are never templates.
const SKIPPED_GROUPS: &[&str] = &[
    "cluster.karmada.io",
    "policy.karmada.io",
    "work.karmada.io",
    "apps.karmada.io",
    "platform.cceone.io",
    "coordination.k8s.io",
    "events.k8s.io",
    "apiregistration.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "certificates.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "metrics.k8s.io",
];

/// Kinds (group, plural) that are never templates.
const SKIPPED_RESOURCES: &[(&str, &str)] = &[
    ("", "events"),
    // The same Events, served again in events.k8s.io/v1 (one storage, as kube-apiserver).
    ("events.k8s.io", "events"),
    ("", "nodes"),
    ("", "endpoints"),
    ("", "componentstatuses"),
    ("", "bindings"),
    ("apps", "controllerrevisions"),
    ("discovery.k8s.io", "endpointslices"),
];

/// How often discovery runs even without a CRD change (CRDs may also come and go while a
/// watch is down).
const REDISCOVER_EVERY: Duration = Duration::from_secs(60);
/// Changes to CRDs within this window are handled by one discovery.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Whether a served resource is a template kind.
fn propagatable(res: &ResourceInfo) -> bool {
    let verbs = res.verbs();
    verbs.contains(&"list")
        && verbs.contains(&"watch")
        && !SKIPPED_GROUPS.contains(&res.group.as_str())
        && !SKIPPED_RESOURCES.contains(&(res.group.as_str(), res.plural.as_str()))
}

/// Every served resource in the version discovery recommends: its storage version where that
/// is served, else the first served.
fn recommended(all: Vec<Arc<ResourceInfo>>) -> Vec<Arc<ResourceInfo>> {
    let mut chosen: HashMap<(String, String), Arc<ResourceInfo>> = HashMap::new();
    for r in all {
        let key = (r.group.clone(), r.plural.clone());
        let better = chosen
            .get(&key)
            .is_none_or(|c| c.version != c.storage_version && r.version == r.storage_version);
        if better {
            chosen.insert(key, r);
        }
    }
    chosen.into_values().collect()
}

fn api_resource(r: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: r.group.clone(),
        version: r.version.clone(),
        api_version: r.api_version(),
        kind: r.kind.clone(),
        plural: r.plural.clone(),
    }
}

/// What a template lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The kind is not (yet) watched.
    UnknownKind,
    /// The kind is watched but no such object exists.
    Missing,
    /// The template.
    Found(Arc<Value>),
}

type KindKey = (String, String);

struct Watched {
    cache: Arc<Cache>,
    namespaced: bool,
    task: tokio::task::JoinHandle<()>,
}

/// The caches of every template kind.
pub(crate) struct Templates {
    local: LocalClient,
    writer: Writer,
    kinds: RwLock<HashMap<KindKey, Arc<Cache>>>,
    watched: Mutex<HashMap<KindKey, Watched>>,
    handlers: RwLock<Vec<Handler>>,
    rescan: Notify,
    discovered: tokio::sync::watch::Sender<bool>,
}

impl Templates {
    /// No kinds yet; [`Templates::run`] discovers them.
    pub(crate) fn new(local: LocalClient, writer: Writer) -> Arc<Templates> {
        Arc::new(Templates {
            local,
            writer,
            kinds: RwLock::default(),
            watched: Mutex::default(),
            handlers: RwLock::default(),
            rescan: Notify::new(),
            discovered: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Add a handler every template cache calls on changes (before [`Templates::run`]).
    pub(crate) fn on_change(&self, handler: Handler) {
        self.handlers.write().push(handler);
    }

    /// The cache of one kind.
    pub(crate) fn cache(&self, api_version: &str, kind: &str) -> Option<Arc<Cache>> {
        self.kinds
            .read()
            .get(&(api_version.to_string(), kind.to_string()))
            .cloned()
    }

    /// Every template cache.
    pub(crate) fn caches(&self) -> Vec<Arc<Cache>> {
        self.kinds.read().values().cloned().collect()
    }

    /// Look a template up.
    pub(crate) fn get(&self, key: &TemplateKey) -> Lookup {
        match self.cache(&key.api_version, &key.kind) {
            None => Lookup::UnknownKind,
            Some(c) => c.get(&key.key).map_or(Lookup::Missing, Lookup::Found),
        }
    }

    /// Wait until the first discovery ran and every cache it started has loaded.
    pub(crate) async fn wait_synced(&self) {
        let mut rx = self.discovered.subscribe();
        let _ = rx.wait_for(|d| *d).await;
        for cache in self.caches() {
            cache.wait_synced().await;
        }
    }

    /// Discover template kinds now and again whenever a CRD changes, until aborted.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            match self.discover().await {
                Ok(()) => {
                    failures = 0;
                    self.discovered.send_replace(true);
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "discovering template kinds failed");
                    let delay = Duration::from_millis(100 * u64::from(failures.min(50)));
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            let _ = tokio::time::timeout(REDISCOVER_EVERY, self.rescan.notified()).await;
            tokio::time::sleep(DEBOUNCE).await;
        }
    }

    async fn discover(self: &Arc<Self>) -> Result<(), Error> {
        let mut found: HashMap<KindKey, (ApiResource, bool)> = HashMap::new();
        for res in recommended(self.local.core().registry.all()) {
            if propagatable(&res) {
                let ar = api_resource(&res);
                let key = (ar.api_version.clone(), ar.kind.clone());
                found.insert(key, (ar, res.namespaced));
            }
        }
        let mut watched = self.watched.lock();
        watched.retain(|key, w| {
            let keep = found.contains_key(key);
            if !keep {
                tracing::info!(api_version = %key.0, kind = %key.1, "template kind gone");
                w.task.abort();
            }
            keep
        });
        for (key, (ar, namespaced)) in found {
            if watched
                .get(&key)
                .is_some_and(|w| w.namespaced == namespaced)
            {
                continue;
            }
            if let Some(old) = watched.remove(&key) {
                old.task.abort();
            }
            // Templates grow with the workloads: held as compact JSON, parsed when read.
            let cache = Cache::build(ar.clone(), None, None, true);
            for h in self.handlers.read().iter() {
                cache.on_change(Arc::clone(h));
            }
            if ar.group == "apiextensions.k8s.io" && ar.kind == "CustomResourceDefinition" {
                let weak: Weak<Templates> = Arc::downgrade(self);
                cache.on_change(Arc::new(move |_, _| {
                    if let Some(t) = weak.upgrade() {
                        t.rescan.notify_one();
                    }
                }));
            }
            self.writer.write_through(&cache);
            let task = tokio::spawn(Arc::clone(&cache).run(self.local.clone()));
            tracing::debug!(api_version = %key.0, kind = %key.1, "watching template kind");
            watched.insert(
                key,
                Watched {
                    cache,
                    namespaced,
                    task,
                },
            );
        }
        *self.kinds.write() = watched
            .iter()
            .map(|(k, w)| (k.clone(), Arc::clone(&w.cache)))
            .collect();
        Ok(())
    }

    /// Stop every watch.
    pub(crate) fn stop(&self) {
        for (_, w) in self.watched.lock().drain() {
            w.task.abort();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use cceone_kube_apiserver::resource::Registry;

    use super::*;

    #[test]
    fn workloads_are_templates_and_control_plane_kinds_are_not() {
        let registry = Registry::default();
        cceone_kube_apiserver::builtin::register_builtins(&registry);
        let all = recommended(registry.all());
        let find = |group: &str, plural: &str| {
            all.iter()
                .find(|r| r.group == group && r.plural == plural)
                .unwrap()
        };
        assert!(propagatable(find("apps", "deployments")));
        assert!(propagatable(find("", "configmaps")));
        assert!(propagatable(find("", "namespaces")));
        assert!(!propagatable(find("", "events")));
        assert!(!propagatable(find("", "nodes")));
        assert!(!propagatable(find("coordination.k8s.io", "leases")));
        assert!(!propagatable(find("apps", "controllerrevisions")));
        // One version per kind, as discovery recommends.
        let deployments = all
            .iter()
            .filter(|r| r.group == "apps" && r.plural == "deployments")
            .count();
        assert_eq!(deployments, 1);
    }
}
