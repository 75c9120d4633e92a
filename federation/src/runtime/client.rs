//! The writes the controllers make, through the API server's in-process client (the same
//! admission, validation and `resourceVersion` rules as HTTPS, without the round trip): create,
//! JSON merge patches of an object or its `status` (carrying `metadata.resourceVersion` when
//! the caller wants optimistic concurrency) and deletes that treat "already gone" as done.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use cceone_kube_apiserver::core::{DeleteOptions, PatchKind};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, LocalClient};
use kube::api::ApiResource;
use serde_json::Value;

use parking_lot::RwLock;

use crate::error::Error;
use crate::runtime::{Cache, ObjKey};

/// A client for the controllers' writes. What the API answers a write goes straight into the
/// cache of that resource ([`Cache::observe`]), so the controllers never read back something
/// older than what they wrote.
#[derive(Clone)]
pub(crate) struct Writer {
    local: LocalClient,
    caches: Arc<RwLock<Caches>>,
}

/// The caches written through, by resource (group, plural).
type Caches = HashMap<(String, String), Weak<Cache>>;

impl Writer {
    /// Writes through `local`.
    pub(crate) fn new(local: LocalClient) -> Writer {
        Writer {
            local,
            caches: Arc::default(),
        }
    }

    /// Send the answers to writes of `cache`'s resource into it.
    pub(crate) fn write_through(&self, cache: &Arc<Cache>) {
        let ar = cache.resource();
        self.caches
            .write()
            .insert((ar.group.clone(), ar.plural.clone()), Arc::downgrade(cache));
    }

    /// The written object as its cache keeps it (it goes in there too), or as the API
    /// answered it when no cache follows its resource.
    fn observe(&self, ar: &ApiResource, written: Value) -> Arc<Value> {
        let cache = self
            .caches
            .read()
            .get(&(ar.group.clone(), ar.plural.clone()))
            .and_then(Weak::upgrade);
        match cache {
            Some(cache) => cache.observe(written),
            None => Arc::new(written),
        }
    }

    fn resource(&self, ar: &ApiResource) -> Result<Arc<ResourceInfo>, Error> {
        Ok(self.local.resource(&ar.group, &ar.version, &ar.plural)?)
    }

    /// Create an object (its namespace taken from its metadata).
    pub(crate) async fn create(&self, ar: &ApiResource, obj: Value) -> Result<Arc<Value>, Error> {
        let res = self.resource(ar)?;
        let created = self.local.create(&res, obj).await?;
        Ok(self.observe(ar, created))
    }

    /// Merge-patch an object (`status` false) or its status subresource (`status` true).
    pub(crate) async fn merge_patch(
        &self,
        ar: &ApiResource,
        key: &ObjKey,
        patch: &Value,
        status: bool,
    ) -> Result<Arc<Value>, Error> {
        let res = self.resource(ar)?;
        let sub = status.then_some("status");
        let patched = self
            .local
            .patch(
                &res,
                key.namespace.as_deref(),
                &key.name,
                sub,
                PatchKind::Merge,
                patch,
            )
            .await?;
        Ok(self.observe(ar, patched))
    }

    /// Delete an object; one already gone counts as deleted.
    pub(crate) async fn delete(&self, ar: &ApiResource, key: &ObjKey) -> Result<(), Error> {
        let res = self.resource(ar)?;
        let opts = DeleteOptions {
            propagation: Some("Background".into()),
            ..DeleteOptions::default()
        };
        match self
            .local
            .delete(&res, key.namespace.as_deref(), &key.name, &opts)
            .await
        {
            Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
