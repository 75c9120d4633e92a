//! The writes the controllers make, through the API server's in-process client (the same
//! admission, validation and `resourceVersion` rules as HTTPS, without the round trip): create,
//! JSON merge patches of an object or its `status` (carrying `metadata.resourceVersion` when
//! the caller wants optimistic concurrency) and deletes that treat "already gone" as done.

use std::sync::Arc;

use cceone_kube_apiserver::core::{DeleteOptions, PatchKind};
use cceone_kube_apiserver::resource::ResourceInfo;
use cceone_kube_apiserver::{ApiError, LocalClient};
use kube::api::ApiResource;
use serde_json::Value;

use crate::error::Error;
use crate::runtime::ObjKey;

/// A client for the controllers' writes.
#[derive(Clone)]
pub(crate) struct Writer {
    local: LocalClient,
}

impl Writer {
    /// Writes through `local`.
    pub(crate) fn new(local: LocalClient) -> Writer {
        Writer { local }
    }

    fn resource(&self, ar: &ApiResource) -> Result<Arc<ResourceInfo>, Error> {
        Ok(self.local.resource(&ar.group, &ar.version, &ar.plural)?)
    }

    /// Create an object (its namespace taken from its metadata).
    pub(crate) async fn create(&self, ar: &ApiResource, obj: &Value) -> Result<Value, Error> {
        let res = self.resource(ar)?;
        Ok(self.local.create(&res, obj.clone()).await?)
    }

    /// Merge-patch an object (`status` false) or its status subresource (`status` true).
    pub(crate) async fn merge_patch(
        &self,
        ar: &ApiResource,
        key: &ObjKey,
        patch: &Value,
        status: bool,
    ) -> Result<Value, Error> {
        let res = self.resource(ar)?;
        let sub = status.then_some("status");
        Ok(self
            .local
            .patch(
                &res,
                key.namespace.as_deref(),
                &key.name,
                sub,
                PatchKind::Merge,
                patch,
            )
            .await?)
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
