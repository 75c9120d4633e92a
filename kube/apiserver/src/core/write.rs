//! Create, update and patch: metadata rules, defaulting, validation, field management, and
//! optimistic concurrency, as kube-apiserver's generic registry applies them.

use std::sync::Arc;

use cceone_kube_store::StoreError;
use serde_json::{Value, json};

use super::Core;
use crate::error::{ApiError, ApiResult, Cause};
use crate::meta;
use crate::resource::ResourceInfo;

/// How many times a write without a client-given `resourceVersion` retries after losing a race.
const WRITE_RETRIES: usize = 16;

/// Options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, but store nothing.
    pub dry_run: bool,
    /// `fieldManager` (defaults from the caller's user agent).
    pub field_manager: Option<String>,
    /// `force` for server-side apply.
    pub force: bool,
    /// `fieldValidation=Strict`: unknown fields are errors instead of being dropped.
    pub strict: bool,
}

impl WriteOptions {
    fn manager(&self) -> &str {
        self.field_manager.as_deref().unwrap_or("unknown")
    }
}

/// The patch flavours of `PATCH`, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind for a request `Content-Type`.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(PatchKind::Apply),
            _ => None,
        }
    }
}

fn check_type(res: &ResourceInfo, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest(
            "the body of the request is not a JSON object".into(),
        ));
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && kind != res.kind
    {
        return Err(ApiError::BadRequest(format!(
            "the kind of the object ({kind}) does not match the kind of the resource ({})",
            res.kind
        )));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
        let (group, _) = av.rsplit_once('/').unwrap_or(("", av));
        if group != res.group {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                res.api_version()
            )));
        }
    }
    Ok(())
}

fn store_version(res: &ResourceInfo, obj: &mut Value) {
    let av = if res.storage_group.is_empty() {
        res.storage_version.clone()
    } else {
        format!("{}/{}", res.storage_group, res.storage_version)
    };
    obj["apiVersion"] = Value::String(av);
    obj["kind"] = Value::String(res.kind.clone());
}

/// An object as a write left it, with the JSON the store holds of it when that is exactly the
/// answer to give (no version conversion, not a dry run): an HTTP answer need not serialize
/// the object again.
pub struct Written {
    /// The object written.
    pub object: Value,
    /// `object` as JSON, when the store's bytes are that.
    pub json: Option<bytes::Bytes>,
}

impl Written {
    fn unstored(object: Value) -> Self {
        Self { object, json: None }
    }
}

impl Core {
    /// Create an object of `res` in namespace `ns`.
    pub async fn create(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        self.create_written(res, ns, obj, opts)
            .await
            .map(|w| w.object)
    }

    /// [`Core::create`], with the stored JSON when it is the answer.
    pub async fn create_written(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        check_type(res, &obj)?;
        store_version(res, &mut obj);
        let ns = self.place_namespace(res, ns, &mut obj)?;
        if let Some(ns) = ns.as_deref() {
            self.check_namespace_open(ns).await?;
        }
        let now = meta::now_rfc3339();
        {
            let md = meta::metadata_mut(&mut obj);
            let has_name = md
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            if !has_name {
                match md.get("generateName").and_then(Value::as_str) {
                    Some(g) if !g.is_empty() => {
                        let name = format!("{g}{}", meta::random_suffix(5));
                        md.insert("name".into(), Value::String(name));
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            &res.kind,
                            "",
                            vec![Cause {
                                reason: "FieldValueRequired".into(),
                                message: "Required value: name or generateName is required".into(),
                                field: "metadata.name".into(),
                            }],
                        ));
                    }
                }
            }
            md.insert(
                "uid".into(),
                Value::String(uuid::Uuid::new_v4().to_string()),
            );
            md.insert("creationTimestamp".into(), Value::String(now.clone()));
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
                "managedFields",
            ] {
                md.remove(k);
            }
        }
        if obj.get("spec").is_some() || res.custom {
            meta::metadata_mut(&mut obj).insert("generation".into(), json!(1));
        }
        if res.has_status
            && !matches!(
                res.kind.as_str(),
                "Node" | "PersistentVolume" | "CustomResourceDefinition"
            )
            && !(res.group.is_empty() && res.kind == "Namespace")
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        self.prepare_common(res, None, &mut obj, opts)?;
        cceone_kube_fieldmanager::record_update(None, &mut obj, opts.manager(), &now, None);
        self.commit_create(res, ns.as_deref(), obj, opts).await
    }

    async fn commit_create(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        crate::admission::admit(self, res, None, &mut obj, opts.dry_run).await?;
        let name = meta::name(&obj).unwrap_or_default().to_string();
        if opts.dry_run {
            return Ok(Written::unstored(obj));
        }
        let (kv, obj) = match self.store.create_kept(&res.key(ns, &name), obj).await {
            Ok(written) => written,
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(ApiError::already_exists(&res.qualified(), &name));
            }
            Err(e) => return Err(e.into()),
        };
        let out = self.as_stored(res, obj, kv.mod_revision);
        self.after_write(res, &out);
        Ok(self.written(res, out, kv.value))
    }

    /// `object` with the store's `json` of it when the answer is that JSON.
    fn written(&self, res: &ResourceInfo, object: Value, json: bytes::Bytes) -> Written {
        let json = (!res.converts()).then_some(json);
        Written { object, json }
    }

    /// Replace an object (or its `status` subresource when `sub` is `Some("status")`).
    pub async fn update(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        check_type(res, &obj)?;
        store_version(res, &mut obj);
        if let Some(body_name) = meta::name(&obj)
            && body_name != name
        {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        self.place_namespace(res, ns, &mut obj)?;
        let wanted_rv = parse_rv(meta::resource_version(&obj))?;
        for _ in 0..WRITE_RETRIES {
            let kv = self.get_kv(res, ns, name).await?;
            if wanted_rv.is_some_and(|rv| rv != kv.mod_revision) {
                return Err(ApiError::conflict(&res.qualified(), name));
            }
            let old = self.decode(res, &kv.value)?;
            let mut new = obj.clone();
            self.merge_for_update(res, &old, &mut new, sub, opts, true)?;
            match self
                .commit_update(res, ns, name, &old, new, kv.mod_revision, opts)
                .await
            {
                Err(ApiError::Conflict { .. }) if wanted_rv.is_none() => continue,
                other => return other.map(|w| w.object),
            }
        }
        Err(ApiError::conflict(&res.qualified(), name))
    }

    /// Patch an object (or a subresource) with one of the four patch kinds.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        self.patch_written(res, ns, name, sub, kind, patch, opts)
            .await
            .map(|w| w.object)
    }

    /// [`Core::patch`], with the stored JSON when it is the answer.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch_written(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if kind == PatchKind::Strategic && res.custom {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for custom resources like {})",
                res.qualified()
            )));
        }
        if sub == Some("scale") {
            return Box::pin(self.patch_scale(res, ns, name, kind, patch, opts))
                .await
                .map(Written::unstored);
        }
        self.patch_object(res, ns, name, sub, kind, patch, opts)
            .await
    }

    /// [`Core::patch`] on the object itself; `sub` is `Some("scale")` when a `scale` write
    /// lands here, so its managed-fields entry names that subresource as kube's does.
    #[allow(clippy::too_many_arguments)]
    async fn patch_object(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if kind == PatchKind::Apply {
            check_type(res, patch)?;
            if meta::name(patch).is_some_and(|n| n != name) {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta::name(patch).unwrap_or_default()
                )));
            }
            if opts.field_manager.is_none() {
                return Err(ApiError::BadRequest(
                    "PATCH, application/apply-patch+yaml requires fieldManager to be set".into(),
                ));
            }
        }
        let wanted_rv = match kind {
            PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply => {
                parse_rv(meta::resource_version(patch))?
            }
            PatchKind::Json => None,
        };
        let now = meta::now_rfc3339();
        for _ in 0..WRITE_RETRIES {
            let kv = match self.store.get(&res.key(ns, name)).await? {
                Some(kv) => kv,
                None if kind == PatchKind::Apply && sub.is_none() => {
                    return self.apply_create(res, ns, name, patch, opts, &now).await;
                }
                None => return Err(ApiError::not_found(&res.qualified(), name)),
            };
            if wanted_rv.is_some_and(|rv| rv != kv.mod_revision) {
                return Err(ApiError::conflict(&res.qualified(), name));
            }
            let old = self.decode(res, &kv.value)?;
            let mut new = match kind {
                PatchKind::Json => {
                    cceone_kube_patch::json_patch(&old, patch).map_err(patch_error)?
                }
                PatchKind::Merge => {
                    cceone_kube_patch::merge_patch(&old, patch).map_err(patch_error)?
                }
                PatchKind::Strategic => {
                    cceone_kube_patch::strategic_merge_patch(&old, patch).map_err(patch_error)?
                }
                PatchKind::Apply => {
                    let mut applied = patch.clone();
                    store_version(res, &mut applied);
                    cceone_kube_fieldmanager::apply(
                        Some(&old),
                        &applied,
                        opts.manager(),
                        opts.force,
                        &now,
                        sub,
                    )
                    .map_err(|e| apply_error(res, name, e))?
                }
            };
            check_type(res, &new)?;
            store_version(res, &mut new);
            self.merge_for_update(res, &old, &mut new, sub, opts, kind != PatchKind::Apply)?;
            match self
                .commit_update(res, ns, name, &old, new, kv.mod_revision, opts)
                .await
            {
                Err(ApiError::Conflict { .. }) if wanted_rv.is_none() => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(&res.qualified(), name))
    }

    async fn apply_create(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
        opts: &WriteOptions,
        now: &str,
    ) -> ApiResult<Written> {
        let mut applied = patch.clone();
        store_version(res, &mut applied);
        meta::metadata_mut(&mut applied).insert("name".into(), Value::String(name.into()));
        let mut obj =
            cceone_kube_fieldmanager::apply(None, &applied, opts.manager(), opts.force, now, None)
                .map_err(|e| apply_error(res, name, e))?;
        let managed = obj.pointer("/metadata/managedFields").cloned();
        let ns = self.place_namespace(res, ns, &mut obj)?;
        if let Some(ns) = ns.as_deref() {
            self.check_namespace_open(ns).await?;
        }
        let md = meta::metadata_mut(&mut obj);
        md.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        md.insert("creationTimestamp".into(), Value::String(now.to_string()));
        if obj.get("spec").is_some() || res.custom {
            meta::metadata_mut(&mut obj).insert("generation".into(), json!(1));
        }
        if res.has_status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        self.prepare_common(res, None, &mut obj, opts)?;
        if let Some(m) = managed {
            meta::metadata_mut(&mut obj).insert("managedFields".into(), m);
        }
        self.commit_create(res, ns.as_deref(), obj, opts).await
    }

    /// Carry over what an update may not change, split spec from status, bump generation,
    /// default, validate and record field ownership.
    fn merge_for_update(
        &self,
        res: &ResourceInfo,
        old: &Value,
        new: &mut Value,
        sub: Option<&str>,
        opts: &WriteOptions,
        record: bool,
    ) -> ApiResult<()> {
        match sub {
            // A status write that changed nothing but the status (the usual case) is kept as it
            // is; otherwise the other fields come back from `old`.
            Some("status") if same_but_status(old, new) => {}
            Some("status") => {
                let status = new.get("status").cloned();
                let managed = new.pointer("/metadata/managedFields").cloned();
                *new = old.clone();
                match status {
                    Some(s) => new["status"] = s,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                if !record && let Some(m) = managed {
                    meta::metadata_mut(new).insert("managedFields".into(), m);
                }
            }
            None | Some("scale") => {
                if res.has_status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
            }
            Some(other) => {
                return Err(ApiError::NotFound {
                    resource: res.qualified(),
                    name: other.into(),
                    message: format!("the server could not find the requested resource ({other})"),
                });
            }
        }
        let no_md = Value::Null;
        let old_md = old.get("metadata").unwrap_or(&no_md);
        {
            let md = meta::metadata_mut(new);
            for k in [
                "uid",
                "creationTimestamp",
                "name",
                "namespace",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_md.get(k) {
                    Some(v) => md.insert(k.into(), v.clone()),
                    None => md.remove(k),
                };
            }
            md.remove("resourceVersion");
            if record || !md.contains_key("managedFields") {
                match old_md.get("managedFields") {
                    Some(v) => md.insert("managedFields".into(), v.clone()),
                    None => md.remove("managedFields"),
                };
            }
        }
        self.prepare_common(res, Some(old), new, opts)?;
        if meta::spec_changed(old, new) {
            let gen_now = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::metadata_mut(new).insert("generation".into(), json!(gen_now + 1));
        }
        if record {
            cceone_kube_fieldmanager::record_update(
                Some(old),
                new,
                opts.manager(),
                &meta::now_rfc3339(),
                sub,
            );
        }
        Ok(())
    }

    /// Defaults, validation (built-in rules, CRD schema) shared by create and update.
    fn prepare_common(
        &self,
        res: &ResourceInfo,
        old: Option<&Value>,
        obj: &mut Value,
        opts: &WriteOptions,
    ) -> ApiResult<()> {
        let name = meta::name(obj).unwrap_or_default().to_string();
        let mut causes = Vec::new();
        crate::openapi::check(res, obj, opts.strict)?;
        if let Some(schema) = &res.schema {
            crate::schema::prune_and_validate(obj, schema, opts.strict, &mut causes);
        }
        crate::defaults::apply_defaults(&res.group, &res.kind, obj);
        if causes.is_empty() {
            let hooks: Vec<super::Admission> = self.admission.read().clone();
            for hook in hooks {
                causes.extend(hook(res, old, obj));
            }
        }
        let dns_label =
            res.group.is_empty() && matches!(res.kind.as_str(), "Namespace" | "Service");
        // RBAC names are path segments (`system:basic-user`), as in kube's ValidateRBACName.
        let checked = if res.group == crate::authz::RBAC_GROUP {
            meta::validate_path_segment_name("metadata.name", &name)
        } else {
            meta::validate_name("metadata.name", &name, dns_label)
        };
        if let Some(c) = checked
            && old.is_none()
        {
            causes.push(c);
        }
        meta::validate_labels(obj, &mut causes);
        crate::validation::validate(res, old, obj, &mut causes);
        if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
            crate::crd::validate(obj, old, &mut causes);
            crate::crd::set_status(obj);
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&res.kind, &name, causes));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_update(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        old: &Value,
        mut new: Value,
        expected: u64,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if same_but_rv(old, &new) {
            return Ok(Written::unstored(old.clone()));
        }
        crate::admission::admit(self, res, Some(old), &mut new, opts.dry_run).await?;
        if opts.dry_run {
            return Ok(Written::unstored(new));
        }
        let key = res.key(ns, name);
        let finalized = meta::is_deleting(&new) && meta::finalizers(&new).is_empty();
        let result = if finalized {
            self.store
                .delete(&key, Some(expected))
                .await
                .map(|kv| (kv, None))
        } else {
            self.store
                .update_kept(&key, new, Some(expected))
                .await
                .map(|(kv, kept)| (kv, Some(kept)))
        };
        let (kv, kept) = match result {
            Ok(written) => written,
            Err(StoreError::Conflict { .. }) => {
                return Err(ApiError::conflict(&res.qualified(), name));
            }
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::not_found(&res.qualified(), name));
            }
            Err(e) => return Err(e.into()),
        };
        let out = match kept {
            Some(new) => self.as_stored(res, new, kv.mod_revision),
            None => self.decode(res, &kv.value)?,
        };
        self.after_write(res, &out);
        Ok(self.written(res, out, kv.value))
    }

    /// The object just written as [`Core::decode`] would read it back from the store (which
    /// stamps `metadata.resourceVersion` with the write's revision), without parsing the bytes
    /// the store made of it.
    fn as_stored(&self, res: &ResourceInfo, mut obj: Value, revision: u64) -> Value {
        meta::metadata_mut(&mut obj).insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
        if res.converts() {
            obj["apiVersion"] = Value::String(res.api_version());
            crate::convert::to_served(res, &mut obj);
        }
        obj
    }

    /// Keep the registry in step with CRDs.
    fn after_write(&self, res: &ResourceInfo, obj: &Value) {
        if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
            crate::crd::register(&self.registry, obj);
        }
    }

    /// Settle `metadata.namespace` for the resource's scope; returns the namespace to store under.
    fn place_namespace(
        &self,
        res: &ResourceInfo,
        url_ns: Option<&str>,
        obj: &mut Value,
    ) -> ApiResult<Option<String>> {
        let md = meta::metadata_mut(obj);
        if !res.namespaced {
            md.remove("namespace");
            return Ok(None);
        }
        let body_ns = md
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let ns = match (url_ns, body_ns) {
            (Some(u), Some(b)) if u != b => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            (Some(u), _) => u.to_string(),
            (None, Some(b)) => b,
            (None, None) => "default".to_string(),
        };
        md.insert("namespace".into(), Value::String(ns.clone()));
        Ok(Some(ns))
    }

    async fn check_namespace_open(&self, ns: &str) -> ApiResult<()> {
        let nss = self.resource("", "v1", "namespaces")?;
        match self.store.get(&nss.key(None, ns)).await? {
            None => Err(ApiError::not_found("namespaces", ns)),
            Some(kv) => {
                // Only whether it is terminating: read that field alone rather than decode
                // the whole Namespace for every create in it.
                #[derive(serde::Deserialize)]
                struct Terminating {
                    metadata: Option<TerminatingMeta>,
                }
                #[derive(serde::Deserialize)]
                struct TerminatingMeta {
                    #[serde(rename = "deletionTimestamp")]
                    deletion_timestamp: Option<serde::de::IgnoredAny>,
                }
                let deleting = match serde_json::from_slice::<Terminating>(&kv.value) {
                    Ok(t) => t.metadata.is_some_and(|m| m.deletion_timestamp.is_some()),
                    Err(_) => meta::is_deleting(&self.decode(&nss, &kv.value)?),
                };
                if deleting {
                    Err(ApiError::Forbidden(format!(
                        "unable to create new content in namespace {ns} because it is being terminated"
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The `Scale` object of a scalable resource.
    pub async fn get_scale(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        let obj = self.get(res, ns, name).await?;
        scale_of(res, &obj)
    }

    async fn patch_scale(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let current = self.get_scale(res, ns, name).await?;
        let new_scale = match kind {
            PatchKind::Json => {
                cceone_kube_patch::json_patch(&current, patch).map_err(patch_error)?
            }
            _ => cceone_kube_patch::merge_patch(&current, patch).map_err(patch_error)?,
        };
        self.update_scale(res, ns, name, new_scale, opts).await
    }

    /// Write the `scale` subresource: set the owner's desired replicas.
    pub async fn update_scale(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        scale: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let spec = res.scale.as_ref().ok_or_else(|| ApiError::NotFound {
            resource: res.qualified(),
            name: name.into(),
            message: "the server could not find the requested resource".into(),
        })?;
        let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        if replicas.as_i64().is_none_or(|n| n < 0) {
            return Err(ApiError::invalid(
                "Scale",
                name,
                vec![Cause::invalid(
                    "spec.replicas",
                    &replicas,
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let patch = nested_patch(&spec.spec_replicas, replicas);
        let updated = Box::pin(self.patch_object(
            res,
            ns,
            name,
            Some("scale"),
            PatchKind::Merge,
            &patch,
            opts,
        ))
        .await?;
        scale_of(res, &updated.object)
    }
}

/// `{"spec":{"replicas": v}}` from `.spec.replicas`.
fn nested_patch(path: &str, value: Value) -> Value {
    path.trim_start_matches('.')
        .split('.')
        .rev()
        .fold(value, |acc, seg| json!({ seg: acc }))
}

fn scale_of(res: &ResourceInfo, obj: &Value) -> ApiResult<Value> {
    let spec = res.scale.as_ref().ok_or_else(|| ApiError::NotFound {
        resource: res.qualified(),
        name: meta::name(obj).unwrap_or_default().into(),
        message: "the server could not find the requested resource".into(),
    })?;
    let at = |p: &str| obj.pointer(&p.replace('.', "/")).cloned();
    let selector = spec
        .label_selector
        .as_deref()
        .and_then(at)
        .map(|s| match s {
            Value::String(s) => s,
            other => crate::selector::LabelSelector::from_object(&other)
                .map(|l| l.to_string_form())
                .unwrap_or_default(),
        });
    let md = obj.get("metadata").cloned().unwrap_or_default();
    let mut status = json!({"replicas": at(&spec.status_replicas).unwrap_or(json!(0))});
    if let Some(s) = selector {
        status["selector"] = Value::String(s);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md.get("name"), "namespace": md.get("namespace"), "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion"), "creationTimestamp": md.get("creationTimestamp"),
        },
        "spec": {"replicas": at(&spec.spec_replicas).unwrap_or(json!(0))},
        "status": status,
    }))
}

/// Whether two versions of an object differ in nothing but their `status`,
/// `metadata.resourceVersion` and `metadata.managedFields`.
fn same_but_status(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return false;
    };
    same_metadata(a.get("metadata"), b.get("metadata"))
        && others(a, Some("status")).eq(others(b, Some("status")))
}

/// Whether two versions of an object differ in nothing but `metadata.resourceVersion` and
/// `metadata.managedFields` (a write that would change nothing else is not made).
fn same_but_rv(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    same_metadata(a.get("metadata"), b.get("metadata")) && others(a, None).eq(others(b, None))
}

/// The top-level fields of an object other than `metadata` and `skip`, in key order.
fn others<'a>(
    m: &'a serde_json::Map<String, Value>,
    skip: Option<&'a str>,
) -> impl Iterator<Item = (&'a String, &'a Value)> {
    m.iter()
        .filter(move |(k, _)| *k != "metadata" && Some(k.as_str()) != skip)
}

/// Whether two `metadata` values are the same but for `resourceVersion` and `managedFields`.
fn same_metadata(a: Option<&Value>, b: Option<&Value>) -> bool {
    const IGNORED: [&str; 2] = ["resourceVersion", "managedFields"];
    match (a.and_then(Value::as_object), b.and_then(Value::as_object)) {
        (Some(a), Some(b)) => {
            let a = a.iter().filter(|(k, _)| !IGNORED.contains(&k.as_str()));
            let b = b.iter().filter(|(k, _)| !IGNORED.contains(&k.as_str()));
            a.eq(b)
        }
        _ => a == b,
    }
}

fn parse_rv(rv: Option<&str>) -> ApiResult<Option<u64>> {
    rv.map(|s| {
        s.parse::<u64>()
            .map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion \"{s}\"")))
    })
    .transpose()
}

fn patch_error(e: cceone_kube_patch::PatchError) -> ApiError {
    match e {
        cceone_kube_patch::PatchError::Invalid(m) => ApiError::BadRequest(m),
        cceone_kube_patch::PatchError::Failed(m) => ApiError::Invalid {
            kind: String::new(),
            name: String::new(),
            message: format!("the server rejected our request due to an error in our request: {m}"),
            causes: vec![],
        },
    }
}

fn apply_error(
    res: &ResourceInfo,
    name: &str,
    e: cceone_kube_fieldmanager::ApplyError,
) -> ApiError {
    match e {
        cceone_kube_fieldmanager::ApplyError::Conflicts(conflicts) => {
            let message =
                cceone_kube_fieldmanager::ApplyError::Conflicts(conflicts.clone()).to_string();
            ApiError::Conflict {
                resource: res.qualified(),
                name: name.into(),
                message,
                causes: conflicts
                    .into_iter()
                    .map(|c| Cause {
                        reason: "FieldManagerConflict".into(),
                        message: c.message(),
                        field: c.field,
                    })
                    .collect(),
            }
        }
        cceone_kube_fieldmanager::ApplyError::Invalid(m) => ApiError::invalid(
            &res.kind,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: m,
                field: String::new(),
            }],
        ),
    }
}
