//! The resource registry: which kinds the server serves, under which group, version and plural,
//! with which scope, subresources and printer. Built-ins are registered at start-up; CRDs add
//! and remove entries at runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use cceone_kube_printers::Printer;
use parking_lot::RwLock;
use serde_json::Value;

/// Where a kind's `scale` subresource reads and writes replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSpec {
    /// Dotted path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// Dotted path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas: String,
    /// Dotted path of the label selector string or object, if any.
    pub label_selector: Option<String>,
}

/// One served resource (a group/version/plural).
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    /// Served version.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Singular, e.g. `deployment`.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for kubectl, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether the `status` subresource exists (status changes only through it).
    pub has_status: bool,
    /// The `scale` subresource, if any.
    pub scale: Option<ScaleSpec>,
    /// Table printer.
    pub printer: Box<dyn Printer>,
    /// The version objects are stored in (others are served by relabelling `apiVersion`).
    pub storage_version: String,
    /// The group objects are stored under: `group` itself, but for a kind served as a view of
    /// another group's storage (events.k8s.io Events are core/v1 Events, one storage for both,
    /// as kube-apiserver's `pkg/registry/core/event` serves the two groups).
    pub storage_group: String,
    /// The CRD's `openAPIV3Schema` for this version, used to validate and prune.
    pub schema: Option<Value>,
    /// True for kinds added by a CustomResourceDefinition.
    pub custom: bool,
}

impl std::fmt::Debug for ResourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceInfo")
            .field("group", &self.group)
            .field("version", &self.version)
            .field("plural", &self.plural)
            .finish_non_exhaustive()
    }
}

impl ResourceInfo {
    /// `apiVersion` of objects of this resource as served.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (or just `plural` in the core group), as Kubernetes names a resource in
    /// messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether objects are stored in another group or version than this one serves them in
    /// (so reads convert them and writes convert back).
    pub fn converts(&self) -> bool {
        self.version != self.storage_version || self.group != self.storage_group
    }

    /// The storage key prefix of this resource, optionally within one namespace.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        let group = if self.storage_group.is_empty() {
            "core"
        } else {
            &self.storage_group
        };
        match namespace {
            Some(ns) if self.namespaced => format!("/{group}/{}/{ns}/", self.plural),
            _ => format!("/{group}/{}/", self.plural),
        }
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.prefix(namespace))
    }

    /// The verbs advertised in discovery.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// All served resources, looked up by group, version and plural (or kind).
#[derive(Default)]
pub struct Registry {
    entries: RwLock<BTreeMap<(String, String, String), Arc<ResourceInfo>>>,
}

impl Registry {
    /// Add or replace a resource.
    pub fn insert(&self, info: ResourceInfo) {
        let key = (
            info.group.clone(),
            info.version.clone(),
            info.plural.clone(),
        );
        self.entries.write().insert(key, Arc::new(info));
    }

    /// Remove every version of `plural` in `group` (a deleted CRD).
    pub fn remove(&self, group: &str, plural: &str) {
        self.entries
            .write()
            .retain(|(g, _, p), _| !(g == group && p == plural));
    }

    /// The resource served at group/version/plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.entries
            .read()
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource for a kind in group/version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.entries
            .read()
            .values()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Every served resource, ordered by group, version, plural.
    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.entries.read().values().cloned().collect()
    }

    /// Groups with their served versions, the preferred (first registered as storage) first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.entries.read().values() {
            let preferred = r.storage_version == r.version;
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        if preferred {
                            versions.insert(0, r.version.clone())
                        } else {
                            versions.push(r.version.clone())
                        }
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }
}
