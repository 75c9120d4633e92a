//! Delete and deletecollection: preconditions, finalizers, `deletionTimestamp`, and the
//! propagation policies (the garbage collector finishes the work in the background).

use std::sync::Arc;

use cceone_kube_store::StoreError;
use serde_json::{Value, json};

use super::{Core, ListOptions};
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resource::ResourceInfo;

/// `DeleteOptions` of a delete call.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `Orphan`, `Background` (default) or `Foreground`.
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `gracePeriodSeconds` (pods only; None: the pod's own).
    pub grace_period_seconds: Option<i64>,
}

impl DeleteOptions {
    /// Read the options from a `DeleteOptions` body and query parameters (query wins).
    pub fn from_body(
        body: Option<&Value>,
        propagation_q: Option<&str>,
        dry_run: bool,
    ) -> ApiResult<Self> {
        let mut o = DeleteOptions {
            dry_run,
            ..Default::default()
        };
        if let Some(b) = body {
            o.propagation = b
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(String::from);
            if b.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation = Some("Orphan".into());
            }
            o.uid = b
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from);
            o.resource_version = b
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
            o.grace_period_seconds = b.get("gracePeriodSeconds").and_then(Value::as_i64);
            if b.get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                o.dry_run = true;
            }
        }
        if let Some(p) = propagation_q {
            o.propagation = Some(p.to_string());
        }
        if let Some(p) = &o.propagation
            && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::BadRequest(format!(
                "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        Ok(o)
    }
}

impl Core {
    /// Delete one object. Objects with finalizers (or a Foreground/Orphan policy, or namespaces)
    /// get a `deletionTimestamp` and go once their finalizers are gone.
    pub async fn delete(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let key = res.key(ns, name);
        for _ in 0..16 {
            let kv = self.get_kv(res, ns, name).await?;
            let obj = self.decode(res, &kv.value)?;
            if opts
                .uid
                .as_deref()
                .is_some_and(|u| Some(u) != meta::uid(&obj))
            {
                return Err(precondition(res, name, "UID"));
            }
            if opts
                .resource_version
                .as_deref()
                .is_some_and(|rv| rv != kv.mod_revision.to_string())
            {
                return Err(precondition(res, name, "ResourceVersion"));
            }
            if !meta::is_deleting(&obj) {
                let hooks: Vec<super::DeleteAdmission> = self.delete_admission.read().clone();
                for hook in hooks {
                    hook(res, &obj)?;
                }
            }
            if let Some(grace) = pod_grace(res, &obj, opts) {
                // Graceful: the kubelet stops the pod, then deletes it with grace 0.
                let Some(new) = start_grace(&obj, grace) else {
                    return Ok(obj);
                };
                if opts.dry_run {
                    return Ok(new);
                }
                match self.store.update(&key, new, Some(kv.mod_revision)).await {
                    Ok(kv) => return self.decode(res, &kv.value),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let mut finalizers = meta::finalizers(&obj);
            match opts.propagation.as_deref() {
                Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    finalizers.push("foregroundDeletion".into());
                }
                Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.push("orphan".into())
                }
                _ => {}
            }
            let is_namespace = res.group.is_empty() && res.kind == "Namespace";
            if is_namespace || !finalizers.is_empty() {
                if meta::is_deleting(&obj) && finalizers == meta::finalizers(&obj) {
                    return Ok(obj);
                }
                let mut new = obj.clone();
                let md = meta::metadata_mut(&mut new);
                if !md.contains_key("deletionTimestamp") {
                    md.insert(
                        "deletionTimestamp".into(),
                        Value::String(meta::now_rfc3339()),
                    );
                    md.insert("deletionGracePeriodSeconds".into(), json!(0));
                }
                if !finalizers.is_empty() {
                    md.insert("finalizers".into(), json!(finalizers));
                }
                if is_namespace {
                    new["status"] = json!({"phase": "Terminating"});
                }
                if opts.dry_run {
                    return Ok(new);
                }
                match self.store.update(&key, new, Some(kv.mod_revision)).await {
                    Ok(kv) => return self.decode(res, &kv.value),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            if opts.dry_run {
                return Ok(obj);
            }
            match self.store.delete(&key, Some(kv.mod_revision)).await {
                Ok(kv) => {
                    let out = self.decode(res, &kv.value)?;
                    crate::admission::deleted(self, res, &out);
                    if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition"
                    {
                        crate::crd::unregister(&self.registry, &out);
                    }
                    return Ok(out);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::not_found(&res.qualified(), name));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(&res.qualified(), name))
    }

    /// Delete every object a list with `list_opts` selects; returns them.
    pub async fn delete_collection(
        self: &Arc<Self>,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        list_opts: &ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<Vec<Value>> {
        let page = self
            .list(
                res,
                ns,
                &ListOptions {
                    limit: None,
                    continue_token: None,
                    ..list_opts.clone()
                },
            )
            .await?;
        let mut out = Vec::new();
        for item in page.items {
            let obj = self.decode(res, &item)?;
            let (Some(name), item_ns) = (meta::name(&obj), meta::namespace(&obj)) else {
                continue;
            };
            match self.delete(res, item_ns, name, opts).await {
                Ok(v) => out.push(v),
                Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// The grace period of a pod's deletion when it is graceful (positive), following
/// kube-apiserver's `pkg/registry/core/pod/strategy.go` (`CheckGracefulDelete`: the request's
/// `gracePeriodSeconds`, else `spec.terminationGracePeriodSeconds`, else 30; 0 for a pod never
/// scheduled or already finished). Other kinds are deleted at once.
fn pod_grace(res: &ResourceInfo, obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    if !(res.group.is_empty() && res.kind == "Pod") {
        return None;
    }
    let unscheduled = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let grace = if unscheduled || finished {
        0
    } else {
        opts.grace_period_seconds
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
    };
    (grace > 0).then_some(grace)
}

/// The pod with `deletionTimestamp` now plus `grace` (`staging/src/k8s.io/apiserver/pkg/registry/
/// rest/delete.go`, `BeforeDelete`); `None` when it is already being deleted as soon or sooner.
fn start_grace(obj: &Value, grace: i64) -> Option<Value> {
    let current = obj
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if meta::is_deleting(obj) && current.is_some_and(|c| c <= grace) {
        return None;
    }
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(grace))
        .ok()?;
    let mut new = obj.clone();
    let md = meta::metadata_mut(&mut new);
    md.insert(
        "deletionTimestamp".into(),
        json!(
            jiff::Timestamp::from_second(at.as_second())
                .unwrap_or(at)
                .to_string()
        ),
    );
    md.insert("deletionGracePeriodSeconds".into(), json!(grace));
    Some(new)
}

fn precondition(res: &ResourceInfo, name: &str, what: &str) -> ApiError {
    ApiError::Conflict {
        resource: res.qualified(),
        name: name.into(),
        message: format!(
            "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {what} in precondition does not match the current object",
            res.qualified()
        ),
        causes: vec![],
    }
}
