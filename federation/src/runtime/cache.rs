//! Watch-backed caches of API objects (an informer, in client-go's words): the API server's
//! in-process reflector keeps a map of one resource's objects as JSON (and the controllers'
//! own writes go in as soon as the API has answered them, see [`Cache::observe`]), an optional secondary index answers "which
//! objects point at X", and handlers hear about every change with the object before and after.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cceone_kube_apiserver::{LocalClient, Reflected};
use futures::StreamExt;
use kube::api::ApiResource;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::json::{revision, s};

/// Where an object lives: its namespace (none for cluster-scoped objects) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub(crate) namespace: Option<String>,
    /// The name.
    pub(crate) name: String,
}

impl ObjKey {
    /// A cluster-scoped object's key.
    pub(crate) fn cluster(name: impl Into<String>) -> ObjKey {
        ObjKey {
            namespace: None,
            name: name.into(),
        }
    }

    /// A key from an optional namespace (empty means none) and a name.
    pub(crate) fn new(namespace: &str, name: impl Into<String>) -> ObjKey {
        ObjKey {
            namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
            name: name.into(),
        }
    }

    /// The key of an object, from its metadata.
    pub(crate) fn of(obj: &Value) -> Option<ObjKey> {
        let name = s(obj, "/metadata/name");
        (!name.is_empty()).then(|| ObjKey::new(s(obj, "/metadata/namespace"), name))
    }

    /// The namespace as a string (empty for cluster-scoped objects).
    pub(crate) fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

impl std::fmt::Display for ObjKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Called with the object before and after a change (`None` before a create, after a delete).
pub(crate) type Handler = Arc<dyn Fn(Option<&Value>, Option<&Value>) + Send + Sync>;

/// Maps an object to the index values it is found under.
pub(crate) type Indexer = Box<dyn Fn(&Value) -> Vec<String> + Send + Sync>;

/// Trims an object to what the controllers read before it is cached (see
/// [`crate::resources::project_work`]).
pub(crate) type Projection = fn(&mut Value);

/// How a cache holds an object.
/// Cloning copies a reference count, so a body is taken out of the lock and parsed outside it.
#[derive(Clone, PartialEq)]
enum Body {
    /// Parsed, ready to read.
    Tree(Arc<Value>),
    /// As compact JSON, parsed when read: a small JSON object parsed is a tree of maps of
    /// several hundred bytes each, eight to ten times the text; a cache of 100,000 Works
    /// holds them this way (see [`Cache::build`]).
    Packed(Arc<[u8]>),
}

impl Body {
    /// The object read into a typed model: straight from the bytes when packed. `None` if it
    /// does not fit the model (the API server checked its shape, so that is a bug; logged).
    fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        let out = match self {
            Body::Tree(v) => T::deserialize(&**v),
            Body::Packed(b) => serde_json::from_slice(b),
        };
        out.map_err(|e| tracing::warn!(error = %e, "a cached object does not read as its kind"))
            .ok()
    }

    fn value(&self) -> Arc<Value> {
        match self {
            Body::Tree(v) => Arc::clone(v),
            // The cache wrote these bytes itself from a value, so they parse.
            Body::Packed(b) => Arc::new(serde_json::from_slice(b).unwrap_or(Value::Null)),
        }
    }
}

/// One cached object: its body, its revision and the index values it is found under.
struct Entry {
    body: Body,
    revision: u64,
    index: Vec<String>,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<ObjKey, Entry>,
    index: HashMap<String, BTreeSet<ObjKey>>,
    /// The newest revision the watch has delivered: a write answered at or below it is
    /// already reflected (or superseded, or deleted).
    watched: u64,
}

/// An object as the store holds it (JSON written by the API server itself).
fn parse(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// The cached objects of one resource.
pub(crate) struct Cache {
    resource: ApiResource,
    inner: RwLock<Inner>,
    indexer: Option<Indexer>,
    projection: Option<Projection>,
    /// Objects are held as compact JSON ([`Body::Packed`]).
    packed: bool,
    handlers: RwLock<Vec<Handler>>,
    synced: tokio::sync::watch::Sender<bool>,
}

impl Cache {
    /// An empty cache of `resource`, indexed by `indexer` when given.
    pub(crate) fn new(resource: ApiResource, indexer: Option<Indexer>) -> Arc<Cache> {
        Cache::build(resource, indexer, None, false)
    }

    /// An empty cache of `resource` that keeps each object as `projection` trims it, as
    /// compact JSON parsed when read if `packed` ([`Body::Packed`]: for a resource with many
    /// objects read a few at a time, such as Works, memory over CPU).
    pub(crate) fn build(
        resource: ApiResource,
        indexer: Option<Indexer>,
        projection: Option<Projection>,
        packed: bool,
    ) -> Arc<Cache> {
        Arc::new(Cache {
            resource,
            inner: RwLock::default(),
            indexer,
            projection,
            packed,
            handlers: RwLock::default(),
            synced: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The resource cached.
    pub(crate) fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// Add a change handler (before [`Cache::run`] starts, to hear the initial list).
    pub(crate) fn on_change(&self, handler: Handler) {
        self.handlers.write().push(handler);
    }

    /// One object.
    pub(crate) fn get(&self, key: &ObjKey) -> Option<Arc<Value>> {
        let body = self.inner.read().objects.get(key).map(|e| e.body.clone());
        body.map(|b| b.value())
    }

    /// One object, typed.
    pub(crate) fn get_as<T: DeserializeOwned>(&self, key: &ObjKey) -> Option<T> {
        let body = self.inner.read().objects.get(key).map(|e| e.body.clone());
        body.and_then(|b| b.typed())
    }

    /// Every object, typed.
    pub(crate) fn list_as<T: DeserializeOwned>(&self) -> Vec<T> {
        let bodies: Vec<Body> = self
            .inner
            .read()
            .objects
            .values()
            .map(|e| e.body.clone())
            .collect();
        bodies.iter().filter_map(Body::typed).collect()
    }

    /// The objects of one namespace, typed.
    pub(crate) fn list_ns_as<T: DeserializeOwned>(&self, namespace: &str) -> Vec<T> {
        let bodies: Vec<Body> = self
            .inner
            .read()
            .objects
            .iter()
            .filter(|(k, _)| k.ns() == namespace)
            .map(|(_, e)| e.body.clone())
            .collect();
        bodies.iter().filter_map(Body::typed).collect()
    }

    /// The objects found under an index value, typed.
    pub(crate) fn by_index_as<T: DeserializeOwned>(&self, value: &str) -> Vec<T> {
        self.index_bodies(value)
            .iter()
            .filter_map(Body::typed)
            .collect()
    }

    fn index_bodies(&self, value: &str) -> Vec<Body> {
        let inner = self.inner.read();
        inner
            .index
            .get(value)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| inner.objects.get(k).map(|e| e.body.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Feed the key and revision of every object under an index value, in key order, to `h`,
    /// without reading the objects themselves (see the binding controller's fingerprint).
    pub(crate) fn hash_index_revisions(&self, value: &str, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let inner = self.inner.read();
        for key in inner.index.get(value).into_iter().flatten() {
            if let Some(e) = inner.objects.get(key) {
                key.hash(h);
                e.revision.hash(h);
            }
        }
    }

    /// Feed the key and revision of every object (of one namespace when given), in key
    /// order, to `h`.
    pub(crate) fn hash_revisions(&self, namespace: Option<&str>, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let inner = self.inner.read();
        for (key, e) in &inner.objects {
            if namespace.is_none_or(|ns| key.ns() == ns) {
                key.hash(h);
                e.revision.hash(h);
            }
        }
    }

    /// Every key.
    pub(crate) fn keys(&self) -> Vec<ObjKey> {
        self.inner.read().objects.keys().cloned().collect()
    }

    /// Wait until the first list has been loaded.
    pub(crate) async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives as long as `self`, so this only ends once synced.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// Follow the resource through `local` forever, keeping the cache current.
    pub(crate) async fn run(self: Arc<Self>, local: LocalClient) {
        let ar = &self.resource;
        let mut stream = Box::pin(local.reflect(&ar.group, &ar.version, &ar.plural));
        while let Some(event) = stream.next().await {
            match event {
                Reflected::Listed {
                    items,
                    resource_version,
                } => {
                    // One object at a time, each trimmed as soon as it is parsed.
                    let fresh = items
                        .iter()
                        .filter_map(|b| self.decode(parse(b)?))
                        .collect();
                    drop(items);
                    self.replace(fresh, resource_version);
                    self.synced.send_replace(true);
                }
                Reflected::Applied(obj) => {
                    // Most events bring back what a controller of this process wrote and
                    // the cache took in from the API's answer ([`Cache::observe`]): those
                    // are known from their key and revision alone, without parsing them.
                    if self.already_has(&obj) {
                        continue;
                    }
                    if let Some((key, value)) = parse(&obj).and_then(|v| self.decode(v)) {
                        self.upsert(key, value, true);
                    }
                }
                Reflected::Deleted(obj) => {
                    if let Some((key, value)) = parse(&obj).and_then(|v| self.decode(v)) {
                        self.remove(&key, revision(&value));
                    }
                }
            }
        }
    }

    /// Take in an object a controller just wrote, as the API answered it, ahead of its watch
    /// event, so that the next reconcile reads what was written rather than conflicting with
    /// it. Ignored when the watch has already delivered that revision or a later one.
    /// Returns the object as the cache keeps it.
    pub(crate) fn observe(&self, obj: Value) -> Arc<Value> {
        if ObjKey::of(&obj).is_none() {
            return Arc::new(obj);
        }
        match self.decode(obj) {
            Some((key, value)) => {
                self.upsert(key, Arc::clone(&value), false);
                value
            }
            None => Arc::new(Value::Null),
        }
    }

    /// Whether the cache holds `bytes`' object at its revision or later already (it was
    /// written by this process and observed). Counts the revision as watched either way.
    fn already_has(&self, bytes: &[u8]) -> bool {
        let Some(meta) = cceone_kube_apiserver::meta::identity(bytes) else {
            return false;
        };
        let Ok(rv) = meta.resource_version.parse::<u64>() else {
            return false;
        };
        if meta.name.is_empty() || rv == 0 {
            return false;
        }
        let key = ObjKey::new(&meta.namespace, meta.name.into_owned());
        let mut inner = self.inner.write();
        inner.watched = inner.watched.max(rv);
        inner.objects.get(&key).is_some_and(|e| e.revision >= rv)
    }

    /// An event's object with its `apiVersion` and `kind` filled in, and without
    /// `metadata.managedFields`, which no controller reads (often the largest part of an
    /// object; the cache holds every object of its resource).
    fn decode(&self, mut value: Value) -> Option<(ObjKey, Arc<Value>)> {
        if let Some(map) = value.as_object_mut() {
            map.entry("apiVersion")
                .or_insert_with(|| Value::String(self.resource.api_version.clone()));
            map.entry("kind")
                .or_insert_with(|| Value::String(self.resource.kind.clone()));
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                meta.remove("managedFields");
            }
        }
        if let Some(project) = self.projection {
            project(&mut value);
        }
        let key = ObjKey::of(&value)?;
        Some((key, Arc::new(value)))
    }

    fn index_values(&self, value: &Value) -> Vec<String> {
        self.indexer.as_ref().map(|f| f(value)).unwrap_or_default()
    }

    fn unindex(inner: &mut Inner, key: &ObjKey, old: &Entry) {
        for v in &old.index {
            if let Some(set) = inner.index.get_mut(v) {
                set.remove(key);
                if set.is_empty() {
                    inner.index.remove(v);
                }
            }
        }
    }

    /// Store a newer version of an object (`watched`: it came from the watch).
    fn upsert(&self, key: ObjKey, value: Arc<Value>, watched: bool) {
        let rv = revision(&value);
        // Made before taking the lock: the index values and, for a packed cache, the JSON.
        let entry = Entry {
            body: if self.packed {
                Body::Packed(serde_json::to_vec(&*value).unwrap_or_default().into())
            } else {
                Body::Tree(Arc::clone(&value))
            },
            revision: rv,
            index: self.index_values(&value),
        };
        let new_body = entry.body.clone();
        let old = {
            let mut inner = self.inner.write();
            if watched {
                inner.watched = inner.watched.max(rv);
            } else if rv <= inner.watched {
                return;
            }
            if let Some(current) = inner.objects.get(&key)
                && rv != 0
                && current.revision >= rv
            {
                return;
            }
            let old = inner.objects.remove(&key);
            if let Some(old) = &old {
                Self::unindex(&mut inner, &key, old);
            }
            for v in &entry.index {
                inner
                    .index
                    .entry(v.clone())
                    .or_default()
                    .insert(key.clone());
            }
            inner.objects.insert(key.clone(), entry);
            old
        };
        if old.as_ref().is_none_or(|old| old.body != new_body) {
            let old = old.map(|e| e.body.value());
            self.notify(old.as_deref(), Some(&value));
        }
    }

    fn remove(&self, key: &ObjKey, rv: u64) {
        let old = {
            let mut inner = self.inner.write();
            inner.watched = inner.watched.max(rv);
            let old = inner.objects.remove(key);
            if let Some(old) = &old {
                Self::unindex(&mut inner, key, old);
            }
            old
        };
        if let Some(old) = old {
            self.notify(Some(&old.body.value()), None);
        }
    }

    /// Swap in a fresh list taken at revision `rv`, telling the handlers what changed since
    /// the last one.
    fn replace(&self, fresh: BTreeMap<ObjKey, Arc<Value>>, rv: u64) {
        let gone: Vec<ObjKey> = {
            let mut inner = self.inner.write();
            inner.watched = inner.watched.max(rv);
            // What a controller wrote after the list was taken is not gone.
            inner
                .objects
                .iter()
                .filter(|(k, e)| !fresh.contains_key(*k) && e.revision <= rv)
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in gone {
            self.remove(&key, rv);
        }
        for (key, value) in fresh {
            self.upsert(key, value, true);
        }
    }

    fn notify(&self, old: Option<&Value>, new: Option<&Value>) {
        let handlers: Vec<Handler> = self.handlers.read().clone();
        for h in handlers {
            h(old, new);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube::api::GroupVersionKind;
    use serde_json::json;

    use super::*;

    fn obj(name: &str, rv: u64, tag: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "a", "resourceVersion": rv.to_string(),
                "managedFields": [{"manager": "x"}]},
            "data": {"tag": tag}})
    }

    fn cache_of(packed: bool) -> (Arc<Cache>, Arc<AtomicUsize>) {
        let c = Cache::build(
            ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "ConfigMap"),
                "configmaps",
            ),
            Some(Box::new(|v: &Value| vec![s(v, "/data/tag").to_string()])),
            None,
            packed,
        );
        let calls = Arc::new(AtomicUsize::new(0));
        let n = Arc::clone(&calls);
        c.on_change(Arc::new(move |_, _| {
            n.fetch_add(1, Ordering::Relaxed);
        }));
        (c, calls)
    }

    fn tag(c: &Cache, name: &str) -> Option<String> {
        c.get(&ObjKey::new("a", name))
            .map(|v| v["data"]["tag"].as_str().unwrap().to_string())
    }

    #[test]
    fn writes_go_in_ahead_of_the_watch_and_are_never_rolled_back() {
        for packed in [false, true] {
            writes_go_in_ahead(packed);
        }
    }

    fn writes_go_in_ahead(packed: bool) {
        let (c, calls) = cache_of(packed);
        let (k, v) = c.decode(obj("x", 5, "watched")).unwrap();
        c.upsert(k, v, true);
        // A controller's write answered at revision 7 goes in at once...
        c.observe(obj("x", 7, "written"));
        assert_eq!(tag(&c, "x").as_deref(), Some("written"));
        // ...an older event still in flight does not roll it back, and the event of the write
        // itself changes nothing (no second notification).
        let (k, v) = c.decode(obj("x", 6, "stale")).unwrap();
        c.upsert(k, v, true);
        assert_eq!(tag(&c, "x").as_deref(), Some("written"));
        let before = calls.load(Ordering::Relaxed);
        let (k, v) = c.decode(obj("x", 7, "written")).unwrap();
        c.upsert(k, v, true);
        assert_eq!(calls.load(Ordering::Relaxed), before);
        // A write answered before something the watch already delivered is ignored: the object
        // was deleted at 9, and a late answer at 8 must not bring it back.
        c.remove(&ObjKey::new("a", "x"), 9);
        c.observe(obj("x", 8, "ghost"));
        assert_eq!(tag(&c, "x"), None);
        // managedFields are not kept.
        c.observe(obj("y", 10, "y"));
        assert!(
            c.get(&ObjKey::new("a", "y"))
                .unwrap()
                .pointer("/metadata/managedFields")
                .is_none()
        );
    }

    #[test]
    fn a_relist_keeps_writes_newer_than_the_list() {
        for packed in [false, true] {
            relist_keeps_newer(packed);
        }
    }

    fn relist_keeps_newer(packed: bool) {
        let (c, _) = cache_of(packed);
        c.observe(obj("new", 12, "written after the list"));
        let mut fresh = BTreeMap::new();
        let (k, v) = c.decode(obj("old", 3, "listed")).unwrap();
        fresh.insert(k, v);
        c.replace(fresh, 10);
        assert_eq!(tag(&c, "old").as_deref(), Some("listed"));
        assert_eq!(tag(&c, "new").as_deref(), Some("written after the list"));
        // Gone from a later list that covers its revision: removed.
        c.replace(BTreeMap::new(), 20);
        assert_eq!(tag(&c, "new"), None);
        assert_eq!(tag(&c, "old"), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod packed_tests {
    use std::sync::Mutex;

    use kube::api::GroupVersionKind;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_packed_cache_reads_back_what_it_was_given_and_keeps_its_index() {
        let c = Cache::build(
            ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "ConfigMap"),
                "configmaps",
            ),
            Some(Box::new(|v: &Value| vec![s(v, "/data/owner").to_string()])),
            None,
            true,
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        c.on_change(Arc::new(move |old, new| {
            let tag = |v: Option<&Value>| v.map(|v| s(v, "/data/owner").to_string());
            log.lock().unwrap().push((tag(old), tag(new)));
        }));
        let cm = |rv: u64, owner: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": "a", "resourceVersion": rv.to_string()},
                "data": {"owner": owner}})
        };
        c.observe(cm(1, "p"));
        assert_eq!(c.get(&ObjKey::new("a", "x")).unwrap()["data"]["owner"], "p");
        assert_eq!(c.by_index_as::<Value>("p").len(), 1);
        // The same object again is no change; a new owner moves it in the index.
        c.observe(cm(2, "p"));
        c.observe(cm(3, "q"));
        assert!(c.by_index_as::<Value>("p").is_empty());
        assert_eq!(
            c.by_index_as::<Value>("q")[0]["metadata"]["resourceVersion"],
            "3"
        );
        c.remove(&ObjKey::new("a", "x"), 4);
        assert!(c.by_index_as::<Value>("q").is_empty() && c.list_as::<Value>().is_empty());
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (None, Some("p".into())),
                (Some("p".into()), Some("p".into())),
                (Some("p".into()), Some("q".into())),
                (Some("q".into()), None),
            ]
        );
    }
}
