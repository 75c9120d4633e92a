//! The API logic every transport shares: object semantics on top of a [`Store`] (what
//! kube-apiserver's generic registry does). The HTTP layer and in-process controllers both call
//! [`Core`], so they see the same validation, metadata rules and watch events.

mod delete;
mod eviction;
mod watch;
mod write;

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use cceone_kube_store::{KeyValue, Store};
use serde_json::{Value, json};

pub use delete::DeleteOptions;
pub use eviction::set_disruption_allowed;
pub use watch::{WatchItem, WatchOptions};
pub use write::{PatchKind, WriteOptions, Written};

use crate::error::{ApiError, ApiResult};
use crate::resource::{Registry, ResourceInfo};
use crate::selector::{FieldSelector, LabelSelector};

/// Options of a list call.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label: Option<LabelSelector>,
    /// `fieldSelector`.
    pub field: Option<FieldSelector>,
    /// `limit` (0 or None = no limit).
    pub limit: Option<usize>,
    /// `continue` token from a previous page.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// Matching objects, serialized, in key order.
    pub items: Vec<Bytes>,
    /// The revision the list is consistent at.
    pub resource_version: u64,
    /// Token for the next page, when there is one.
    pub continue_token: Option<String>,
    /// Objects after this page (`metadata.remainingItemCount`), counted when the list has no
    /// selector, as the etcd3 store does.
    pub remaining_item_count: Option<u64>,
}

/// The shared API logic: a store, the registry of served kinds, and the server's identity.
pub struct Core {
    /// The storage backend.
    pub store: Arc<dyn Store>,
    /// Served kinds (built-ins and CRDs).
    pub registry: Arc<Registry>,
    /// Admission hooks run on every create and update after schema validation and defaulting.
    pub admission: parking_lot::RwLock<Vec<Admission>>,
    /// Admission hooks run on every delete, with the object as stored.
    pub delete_admission: parking_lot::RwLock<Vec<DeleteAdmission>>,
    /// Request counters of every transport (HTTP and the in-process client).
    pub metrics: crate::metrics::Metrics,
    /// Service IP and port allocation, LimitRange and ResourceQuota admission.
    pub builtin_admission: crate::admission::BuiltinAdmission,
}

/// An admission hook, like a mutating plus validating webhook in one: it may default fields of
/// `obj` (given the object before the write, if any) and returns the field causes that refuse
/// the write (an empty list admits it).
pub type Admission = Arc<
    dyn Fn(&ResourceInfo, Option<&Value>, &mut Value) -> Vec<crate::error::Cause> + Send + Sync,
>;

/// A delete admission hook, like a validating webhook on DELETE: given the object about to be
/// deleted, an error refuses the delete with that status.
pub type DeleteAdmission =
    Arc<dyn Fn(&ResourceInfo, &Value) -> Result<(), crate::error::ApiError> + Send + Sync>;

impl Core {
    /// A core over `store` with the built-in kinds registered, plus every CRD found in the store.
    pub async fn new(store: Arc<dyn Store>) -> ApiResult<Arc<Self>> {
        let registry = Arc::new(Registry::default());
        crate::builtin::register_builtins(&registry);
        let core = Arc::new(Core {
            store,
            registry,
            admission: parking_lot::RwLock::new(Vec::new()),
            delete_admission: parking_lot::RwLock::new(Vec::new()),
            metrics: crate::metrics::Metrics::default(),
            builtin_admission: Default::default(),
        });
        let crds = core
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions");
        if let Some(crd_res) = crds {
            let page = core.list(&crd_res, None, &ListOptions::default()).await?;
            for item in page.items {
                if let Ok(crd) = serde_json::from_slice::<Value>(&item) {
                    crate::crd::register(&core.registry, &crd);
                }
            }
        }
        Ok(core)
    }

    /// Add an admission hook (see [`Admission`]).
    pub fn add_admission(&self, hook: Admission) {
        self.admission.write().push(hook);
    }

    /// Add a delete admission hook (see [`DeleteAdmission`]).
    pub fn add_delete_admission(&self, hook: DeleteAdmission) {
        self.delete_admission.write().push(hook);
    }

    /// Look up a resource by group, version and plural, or answer 404 like kube-apiserver.
    pub fn resource(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> ApiResult<Arc<ResourceInfo>> {
        self.registry
            .get(group, version, plural)
            .ok_or_else(|| ApiError::NotFound {
                resource: plural.into(),
                name: String::new(),
                message: "the server could not find the requested resource".into(),
            })
    }

    /// Decode a stored object for `res`, relabelling `apiVersion` when served in another version.
    pub fn decode(&self, res: &ResourceInfo, bytes: &[u8]) -> ApiResult<Value> {
        let mut v: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::Internal(format!("stored object does not decode: {e}")))?;
        if res.converts() {
            v["apiVersion"] = Value::String(res.api_version());
            crate::convert::to_served(res, &mut v);
        }
        Ok(v)
    }

    /// Serialized object as served by `res` (only re-encoded when the version differs).
    pub fn present(&self, res: &ResourceInfo, bytes: Bytes) -> ApiResult<Bytes> {
        if !res.converts() {
            return Ok(bytes);
        }
        let v = self.decode(res, &bytes)?;
        serde_json::to_vec(&v)
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Get one object.
    pub async fn get(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let kv = self.get_kv(res, ns, name).await?;
        self.decode(res, &kv.value)
    }

    pub(crate) async fn get_kv(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<KeyValue> {
        self.store
            .get(&res.key(ns, name))
            .await?
            .ok_or_else(|| ApiError::not_found(&res.qualified(), name))
    }

    /// List objects (one namespace, or all when `ns` is None), filtered and paged.
    pub async fn list(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListResult> {
        let prefix = res.prefix(ns);
        let start_after = match &opts.continue_token {
            Some(t) if !t.is_empty() => {
                let (rv, key) = decode_continue(t)?;
                if rv < self.store.compacted_revision() {
                    return Err(ApiError::Gone(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                    ));
                }
                if !key.starts_with(&prefix) {
                    return Err(ApiError::BadRequest(
                        "continue key is not valid for this list".into(),
                    ));
                }
                Some(key)
            }
            _ => None,
        };
        let label = opts.label.as_ref().filter(|l| !l.is_empty());
        let field = opts.field.as_ref().filter(|f| !f.is_empty());
        let filter = move |kv: &KeyValue| -> bool {
            match (label, field) {
                (None, None) => true,
                (Some(l), None) => l.matches_bytes(&kv.value),
                _ => serde_json::from_slice::<Value>(&kv.value).is_ok_and(|obj| {
                    label.is_none_or(|l| l.matches(&obj)) && field.is_none_or(|f| f.matches(&obj))
                }),
            }
        };
        let limit = opts.limit.filter(|l| *l > 0);
        let page = self
            .store
            .list(
                &prefix,
                start_after.as_deref(),
                limit,
                (label.is_some() || field.is_some())
                    .then_some(&filter as cceone_kube_store::Filter<'_>),
            )
            .await?;
        let continue_token = match (page.more, page.items.last()) {
            (true, Some(last)) => Some(encode_continue(page.revision, &last.key)),
            _ => None,
        };
        let remaining_item_count = match (page.more, page.items.last()) {
            (true, Some(last)) if label.is_none() && field.is_none() => {
                Some(self.count_after(&prefix, &last.key).await?)
            }
            _ => None,
        };
        let items = page
            .items
            .into_iter()
            .map(|kv| self.present(res, kv.value))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(ListResult {
            items,
            resource_version: page.revision,
            continue_token,
            remaining_item_count,
        })
    }

    /// Keys under `prefix` after `key`: a pass whose filter counts and keeps nothing.
    async fn count_after(&self, prefix: &str, key: &str) -> ApiResult<u64> {
        let count = std::sync::atomic::AtomicU64::new(0);
        let counter = |_: &KeyValue| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        };
        self.store
            .list(prefix, Some(key), None, Some(&counter))
            .await?;
        Ok(count.into_inner())
    }

    /// A `List` object (`DeploymentList` ...) from a page, as JSON text.
    pub fn list_body(&self, res: &ResourceInfo, page: &ListResult) -> Vec<u8> {
        let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
        if let Some(c) = &page.continue_token {
            meta["continue"] = Value::String(c.clone());
        }
        if let Some(n) = page.remaining_item_count {
            meta["remainingItemCount"] = json!(n);
        }
        let head = json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": meta});
        let mut out = serde_json::to_vec(&head).unwrap_or_default();
        out.pop(); // reopen the object to splice items in without re-encoding them
        out.extend_from_slice(b",\"items\":[");
        for (i, item) in page.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

fn encode_continue(rv: u64, key: &str) -> String {
    let raw = json!({"rv": rv, "start": key}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<(u64, String)> {
    let bad = || ApiError::BadRequest(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let key = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, key.to_string()))
}
