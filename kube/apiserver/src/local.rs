//! The in-process client: what a controller living in the API server's own process uses
//! instead of HTTPS. Every call goes through [`Core`], so it gets the admission, defaulting,
//! validation, field management and `resourceVersion` rules of the HTTP path, but no TLS, no
//! HTTP framing and no JSON round trip of the request; calls are counted in the server's
//! request metrics with `origin="local"`.
//!
//! [`LocalClient::reflect`] is the list-then-watch loop of an informer: the full state first,
//! then every change, listing again (and saying so) whenever the watch ends or falls behind
//! the compacted history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::core::{
    Core, DeleteOptions, ListOptions, PatchKind, WatchItem, WatchOptions, WriteOptions,
};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Origin;
use crate::resource::ResourceInfo;

/// How long a reflector waits before listing again after a failure, at most.
const RELIST_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a reflector sees: objects as the store holds them (JSON), for the consumer to decode
/// one at a time into whatever it keeps — a relist of 100,000 objects is not parsed into one
/// vector of trees first.
#[derive(Debug, Clone)]
pub enum Reflected {
    /// Every object, after a (re)list: this replaces whatever the consumer knew.
    Listed {
        /// The objects.
        items: Vec<Bytes>,
        /// The revision the list is consistent at.
        resource_version: u64,
    },
    /// An object created or changed.
    Applied(Bytes),
    /// An object deleted (as last seen).
    Deleted(Bytes),
}

/// A client of the API in the server's own process, writing as one field manager.
#[derive(Clone)]
pub struct LocalClient {
    core: Arc<Core>,
    manager: String,
}

impl std::fmt::Debug for LocalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalClient")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl LocalClient {
    /// A client of `core` whose writes are recorded as `field_manager`'s.
    pub fn new(core: Arc<Core>, field_manager: impl Into<String>) -> LocalClient {
        LocalClient {
            core,
            manager: field_manager.into(),
        }
    }

    /// The API logic underneath.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The resource served at group/version/plural, or 404 as kube-apiserver answers it.
    pub fn resource(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> ApiResult<Arc<ResourceInfo>> {
        self.core.resource(group, version, plural)
    }

    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            field_manager: Some(self.manager.clone()),
            ..WriteOptions::default()
        }
    }

    fn observe<T>(
        &self,
        verb: &'static str,
        res: &ResourceInfo,
        sub: Option<&str>,
        started: Instant,
        out: &ApiResult<T>,
    ) {
        let code = match out {
            Ok(_) if verb == "create" => 201,
            Ok(_) => 200,
            Err(e) => e.code(),
        };
        let mut resource = res.qualified();
        if let Some(sub) = sub {
            resource.push('/');
            resource.push_str(sub);
        }
        self.core
            .metrics
            .observe(Origin::Local, verb, &resource, code, started.elapsed());
    }

    /// Get one object.
    pub async fn get(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let started = Instant::now();
        let out = self.core.get(res, ns, name).await;
        self.observe("get", res, None, started, &out);
        out
    }

    /// Create an object in the namespace its metadata names.
    pub async fn create(&self, res: &Arc<ResourceInfo>, obj: Value) -> ApiResult<Value> {
        let started = Instant::now();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty() && res.namespaced)
            .map(str::to_string);
        let out = self
            .core
            .create(res, ns.as_deref(), obj, &self.write_options())
            .await;
        self.observe("create", res, None, started, &out);
        out
    }

    /// Patch an object, or its subresource `sub` (`status`).
    pub async fn patch(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        patch: &Value,
    ) -> ApiResult<Value> {
        let started = Instant::now();
        let out = self
            .core
            .patch(res, ns, name, sub, kind, patch, &self.write_options())
            .await;
        self.observe("patch", res, sub, started, &out);
        out
    }

    /// Delete an object.
    pub async fn delete(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let started = Instant::now();
        let out = self.core.delete(res, ns, name, opts).await;
        self.observe("delete", res, None, started, &out);
        out
    }

    /// List every object of group/version/plural, then follow every change, listing again
    /// after any interruption (the resource not served yet, a compacted history, a closed
    /// store). The stream ends when it is dropped.
    pub fn reflect(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> impl Stream<Item = Reflected> + Send + 'static {
        let (tx, rx) = mpsc::channel(256);
        let core = Arc::clone(&self.core);
        let (group, version, plural) = (group.to_string(), version.to_string(), plural.to_string());
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let err = reflect_once(&core, &group, &version, &plural, &tx).await;
                if tx.is_closed() {
                    return;
                }
                failures = failures.saturating_add(1);
                let backoff =
                    Duration::from_millis(50u64 << failures.min(7)).min(RELIST_MAX_BACKOFF);
                match &err {
                    ApiError::NotFound { .. } => {
                        tracing::debug!(%group, %version, %plural, "not served yet; listing again later");
                    }
                    e => {
                        tracing::debug!(%group, %version, %plural, error = %e, "watch ended; listing again");
                        failures = failures.min(1);
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// One list and the watch after it; returns why it ended.
async fn reflect_once(
    core: &Arc<Core>,
    group: &str,
    version: &str,
    plural: &str,
    tx: &mpsc::Sender<Reflected>,
) -> ApiError {
    let res = match core.resource(group, version, plural) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let started = Instant::now();
    let listed = core.list(&res, None, &ListOptions::default()).await;
    // Counted like the client's calls: a reflector that keeps listing again (its watch fell
    // behind the store's history) shows in /metrics.
    let code = listed.as_ref().map_or_else(ApiError::code, |_| 200);
    core.metrics.observe(
        Origin::Local,
        "list",
        &res.qualified(),
        code,
        started.elapsed(),
    );
    let page = match listed {
        Ok(p) => p,
        Err(e) => return e,
    };
    let listed = Reflected::Listed {
        items: page.items,
        resource_version: page.resource_version,
    };
    if tx.send(listed).await.is_err() {
        return ApiError::Unavailable("the reflector's consumer is gone".into());
    }
    let opts = WatchOptions {
        resource_version: Some(page.resource_version.to_string()),
        ..WatchOptions::default()
    };
    let mut events = match core.watch(&res, None, opts).await {
        Ok(rx) => rx,
        Err(e) => return e,
    };
    loop {
        let item = tokio::select! {
            item = events.recv() => item,
            _ = tx.closed() => None,
        };
        let out = match item {
            None => return ApiError::Unavailable("the watch closed".into()),
            Some(WatchItem::Error(e)) => return e,
            Some(WatchItem::Bookmark { .. }) => continue,
            Some(WatchItem::Added(b)) | Some(WatchItem::Modified(b)) => Reflected::Applied(b),
            Some(WatchItem::Deleted(b)) => Reflected::Deleted(b),
        };
        if tx.send(out).await.is_err() {
            return ApiError::Unavailable("the reflector's consumer is gone".into());
        }
    }
}
