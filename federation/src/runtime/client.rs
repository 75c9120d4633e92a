//! The writes the controllers make, as kube-rs calls on dynamic objects: create, JSON merge
//! patches of an object or its `status` (carrying `metadata.resourceVersion` when the caller
//! wants optimistic concurrency) and deletes that treat "already gone" as done.

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use crate::error::Error;
use crate::runtime::ObjKey;

/// The field manager of every write the controllers make.
pub(crate) const MANAGER: &str = "cceone-federation";

/// A client for the controllers' writes.
#[derive(Clone)]
pub(crate) struct Writer {
    client: kube::Client,
}

impl Writer {
    /// Writes through `client`.
    pub(crate) fn new(client: kube::Client) -> Writer {
        Writer { client }
    }

    fn api(&self, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    /// Create an object (its namespace taken from its metadata).
    pub(crate) async fn create(&self, ar: &ApiResource, obj: &Value) -> Result<Value, Error> {
        let key = ObjKey::of(obj).unwrap_or_else(|| ObjKey::cluster(""));
        let dynamic: DynamicObject = serde_json::from_value(obj.clone())?;
        let pp = PostParams {
            field_manager: Some(MANAGER.into()),
            ..PostParams::default()
        };
        let created = self
            .api(ar, key.namespace.as_deref())
            .create(&pp, &dynamic)
            .await?;
        Ok(serde_json::to_value(created)?)
    }

    /// Merge-patch an object (`status` false) or its status subresource (`status` true).
    pub(crate) async fn merge_patch(
        &self,
        ar: &ApiResource,
        key: &ObjKey,
        patch: &Value,
        status: bool,
    ) -> Result<Value, Error> {
        let api = self.api(ar, key.namespace.as_deref());
        let pp = PatchParams {
            field_manager: Some(MANAGER.into()),
            ..PatchParams::default()
        };
        let out = if status {
            api.patch_status(&key.name, &pp, &Patch::Merge(patch))
                .await?
        } else {
            api.patch(&key.name, &pp, &Patch::Merge(patch)).await?
        };
        Ok(serde_json::to_value(out)?)
    }

    /// Delete an object; one already gone counts as deleted.
    pub(crate) async fn delete(&self, ar: &ApiResource, key: &ObjKey) -> Result<(), Error> {
        match self
            .api(ar, key.namespace.as_deref())
            .delete(&key.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
