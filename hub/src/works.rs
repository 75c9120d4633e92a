//! The Work relay (protocol version 2): the hub holds one watch of every Work in the federation
//! and routes each event to the session of the cluster whose execution space
//! (`karmada-es-<cluster>`) it is in; that session pushes each new spec generation down the
//! tunnel, tells the agent when a Work goes, and the agent's reports come back as Work status.
//! Deliveries are keyed on the Work's uid and generation, so status writes never cause a
//! re-apply, and after a reconnect only what differs from the agent's inventory is resent.
//!
//! A session starting (or the hub's watch starting over) lists its own namespace once; events
//! at or below that list's resourceVersion are already in it and are skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cceone_karmada_api::WorkSpec;
use cceone_proto::v1::{self, hub_message};
use futures::StreamExt;
use kube::api::{Api, ApiResource, GroupVersionKind, ListParams, WatchEvent, WatchParams};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::session::ControlTx;

/// Namespace holding a cluster's Works (Karmada's execution space).
pub(crate) fn execution_namespace(cluster: &str) -> String {
    cceone_karmada_api::execution_space(cluster)
}

/// A Work as the hub reads it: its metadata and typed spec; the status (the hub's own writes)
/// is skipped unparsed.
pub(crate) type WorkObject = kube::core::Object<WorkSpec, Unread>;

/// A part of an object read past without being parsed into anything.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Unread;

impl<'de> serde::Deserialize<'de> for Unread {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Unread)
    }
}

fn work_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("work.karmada.io", "v1alpha1", "Work"),
        "works",
    )
}

fn delivery(w: &WorkObject) -> Option<v1::WorkDelivery> {
    if suspended(w) {
        return None;
    }
    let manifests = w.spec.workload.as_ref()?.manifests.as_ref()?;
    Some(v1::WorkDelivery {
        namespace: w.metadata.namespace.clone().unwrap_or_default(),
        name: w.metadata.name.clone()?,
        uid: w.metadata.uid.clone().unwrap_or_default(),
        resource_version: w.metadata.resource_version.clone().unwrap_or_default(),
        generation: w.metadata.generation.unwrap_or(0),
        manifests: manifests
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap_or_default())
            .collect(),
        preserve_resources_on_deletion: w.spec.preserve_resources_on_deletion == Some(true),
    })
}

/// Whether dispatching the Work is suspended (`spec.suspendDispatching`, set by the federation
/// from its binding's `spec.suspension`): nothing new of it goes to the agent — what the agent
/// holds stays as it is — until the suspension is lifted, which is a new generation and goes
/// out then (Karmada's execution controller and agent do the same).
fn suspended(w: &WorkObject) -> bool {
    w.spec.suspend_dispatching == Some(true)
}

/// Queue a message for the agent, waiting while its queue is full (a Work recorded as held
/// must really go out); false once the session is gone. An agent that stops reading misses its
/// heartbeat deadline and the session ends, which ends this relay too.
async fn send(control: &ControlTx, m: hub_message::Msg) -> bool {
    control
        .send(Box::new(v1::HubMessage { msg: Some(m) }))
        .await
        .is_ok()
}

/// The resourceVersion of an object as a number (our API's are revisions; anything else
/// counts as newest, so it is never skipped).
fn revision(w: &WorkObject) -> u64 {
    w.metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Whether the API does not serve Works at all (a bare platform API without the federation).
fn not_served(e: &kube::Error) -> bool {
    e.to_string()
        .contains("could not find the requested resource")
}

/// What the hub's watch hands a session: small, already what goes down the tunnel.
#[derive(Debug)]
pub(crate) enum Routed {
    /// A Work of the session's namespace was created or got a new spec generation.
    Applied {
        /// What the agent is sent.
        delivery: v1::WorkDelivery,
        /// The event's resourceVersion as a number.
        revision: u64,
    },
    /// A Work of the session's namespace was deleted, or is being deleted (`release`: it holds
    /// the execution finalizer until the member has let its objects go).
    Deleted {
        name: String,
        uid: String,
        preserve: bool,
        revision: u64,
        release: bool,
    },
}

/// Karmada's finalizer on a Work: the Work stays (terminating) until what it put in the member
/// is removed. The federation writes it on every Work; the hub removes it.
const EXECUTION_FINALIZER: &str = cceone_karmada_api::names::EXECUTION_FINALIZER;

/// The Work is being deleted and waits on the hub (its execution finalizer).
fn terminating(w: &WorkObject) -> bool {
    w.metadata.deletion_timestamp.is_some()
        && w.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == EXECUTION_FINALIZER))
}

/// Generation recorded in a route for a Work whose deletion has been routed already.
const ROUTED_DELETION: i64 = i64::MIN;

/// One session's events waiting for its relay, at most one per Work (a newer event of a Work
/// replaces the one waiting), so a slow agent holds the hub to one delivery per Work rather than
/// a queue of every change, and nothing has to be dropped and listed again.
///
/// The relay runs as a task only while something waits: idle, its state is parked here (a
/// task per idle session was ~2 KiB of every tunnel, by heap profile; most clusters get a Work
/// now and then, not all the time).
#[derive(Default)]
struct Pending {
    /// Keys (`name`, uid) in the order their first waiting event came.
    order: std::collections::VecDeque<(String, String)>,
    events: HashMap<(String, String), Routed>,
    /// The watch started over and may have missed events: list the namespace again.
    resync: bool,
    /// The relay while no task runs it.
    parked: Option<Box<Relay>>,
    /// The task running the relay now, if any.
    task: Option<tokio::task::AbortHandle>,
    /// The session ended: no relay runs again.
    closed: bool,
}

/// A session's side of the router: its waiting events, and its relay when idle.
#[derive(Default)]
pub(crate) struct Inbox {
    pending: Mutex<Pending>,
}

/// What the relay takes next.
enum Next {
    Resync,
    Event(Routed),
}

impl Pending {
    fn take(&mut self) -> Option<Next> {
        if std::mem::take(&mut self.resync) {
            return Some(Next::Resync);
        }
        while let Some(key) = self.order.pop_front() {
            if let Some(ev) = self.events.remove(&key) {
                return Some(Next::Event(ev));
            }
        }
        // An idle session keeps no buffer from a burst.
        if self.order.capacity() > 0 {
            self.order = Default::default();
        }
        if self.events.capacity() > 0 {
            self.events = HashMap::new();
        }
        None
    }
}

impl Inbox {
    fn push(self: &Arc<Self>, key: (String, String), ev: Routed) {
        let mut p = self.pending.lock();
        if p.events.insert(key.clone(), ev).is_none() {
            p.order.push_back(key);
        }
        self.wake(&mut p);
    }

    fn resync(self: &Arc<Self>) {
        let mut p = self.pending.lock();
        // A fresh list covers whatever was waiting.
        p.order.clear();
        p.events.clear();
        p.resync = true;
        self.wake(&mut p);
    }

    /// Start a task for the parked relay (something waits for it).
    fn wake(self: &Arc<Self>, p: &mut Pending) {
        if p.closed || p.task.is_some() {
            return;
        }
        let Some(relay) = p.parked.take() else {
            return;
        };
        // Spawned under the lock: the task's first look at the inbox waits for it, and the
        // abort handle is in place before anything can stop the session.
        let task = tokio::spawn(relay_while_pending(Arc::clone(self), relay));
        p.task = Some(task.abort_handle());
    }

    #[cfg(test)]
    fn take(&self) -> Option<Next> {
        self.pending.lock().take()
    }

    /// The next thing to relay; None (the relay parked) when nothing waits.
    fn next_or_park(&self, relay: &mut Option<Box<Relay>>) -> Option<Next> {
        let mut p = self.pending.lock();
        let next = p.take();
        if next.is_none() {
            p.parked = relay.take();
            p.task = None;
        }
        next
    }

    /// The session ended: stop its relay, running or parked.
    fn close(&self) {
        let mut p = self.pending.lock();
        p.closed = true;
        p.parked = None;
        if let Some(task) = p.task.take() {
            task.abort();
        }
    }
}

/// One session's way in.
struct RouteTx {
    id: u64,
    inbox: Arc<Inbox>,
    /// The (uid, generation) last routed per Work name: a status-only change of a Work (the
    /// hub's own report coming back) is not routed at all.
    routed: HashMap<String, (String, i64)>,
}

/// The hub's one watch of all Works, and where each namespace's events go.
#[derive(Default)]
pub(crate) struct Router {
    routes: Mutex<HashMap<String, RouteTx>>,
    next_id: AtomicU64,
    /// Events routed to a session (for the metrics).
    pub(crate) routed: AtomicU64,
}

/// A session's registration with the router; dropping it unregisters.
pub(crate) struct Route {
    router: Arc<Router>,
    namespace: String,
    id: u64,
}

impl Drop for Route {
    fn drop(&mut self) {
        let mut routes = self.router.routes.lock();
        if routes.get(&self.namespace).is_some_and(|r| r.id == self.id) {
            routes.remove(&self.namespace);
        }
    }
}

impl Router {
    /// Route `namespace`'s events to the returned inbox (replacing an older session's).
    fn register(self: &Arc<Self>, namespace: &str) -> (Route, Arc<Inbox>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inbox = Arc::new(Inbox::default());
        let entry = RouteTx {
            id,
            inbox: Arc::clone(&inbox),
            routed: HashMap::new(),
        };
        self.routes.lock().insert(namespace.to_string(), entry);
        let route = Route {
            router: Arc::clone(self),
            namespace: namespace.to_string(),
            id,
        };
        (route, inbox)
    }

    fn route(&self, w: WorkObject, deleted: bool) {
        let (Some(ns), Some(name)) = (w.metadata.namespace.as_deref(), w.metadata.name.clone())
        else {
            return;
        };
        let mut routes = self.routes.lock();
        let Some(r) = routes.get_mut(ns) else {
            return;
        };
        let uid = w.metadata.uid.clone().unwrap_or_default();
        let revision = revision(&w);
        let preserve = w.spec.preserve_resources_on_deletion == Some(true);
        let ev = if deleted {
            // A Work that held the finalizer had its deletion routed while terminating.
            if r.routed.remove(&name) == Some((uid.clone(), ROUTED_DELETION)) {
                return;
            }
            Routed::Deleted {
                name: name.clone(),
                uid: uid.clone(),
                preserve,
                revision,
                release: false,
            }
        } else if terminating(&w) {
            let marker = (uid.clone(), ROUTED_DELETION);
            if r.routed.get(&name) == Some(&marker) {
                return;
            }
            r.routed.insert(name.clone(), marker);
            Routed::Deleted {
                name: name.clone(),
                uid: uid.clone(),
                preserve,
                revision,
                release: true,
            }
        } else {
            let generation = w.metadata.generation.unwrap_or(0);
            if r.routed.get(&name) == Some(&(uid.clone(), generation)) {
                return;
            }
            let Some(delivery) = delivery(&w) else { return };
            r.routed.insert(name.clone(), (uid.clone(), generation));
            Routed::Applied { delivery, revision }
        };
        self.routed.fetch_add(1, Ordering::Relaxed);
        r.inbox.push((name, uid), ev);
    }

    fn resync_all(&self) {
        for r in self.routes.lock().values_mut() {
            r.routed.clear();
            r.inbox.resync();
        }
    }

    /// Watch every Work forever, routing events to the sessions; after any break in the watch,
    /// every session lists its namespace again.
    pub(crate) async fn run(self: Arc<Self>, client: kube::Client) {
        let api: Api<WorkObject> = Api::all_with(client, &work_resource());
        let mut rv: Option<String> = None;
        loop {
            let from = match &rv {
                Some(rv) => rv.clone(),
                None => match api.list_metadata(&ListParams::default().limit(1)).await {
                    Ok(l) => {
                        self.resync_all();
                        l.metadata.resource_version.unwrap_or_default()
                    }
                    Err(e) => {
                        // Without the federation's Work CRD (a bare platform API) this keeps
                        // failing; say so once in a while, not every second.
                        let not_served = not_served(&e);
                        if not_served {
                            tracing::debug!("works are not served by this API; the relay waits");
                        } else {
                            tracing::warn!(error = %e, "listing works failed; retrying");
                        }
                        let pause = if not_served { 10 } else { 1 };
                        tokio::time::sleep(Duration::from_secs(pause)).await;
                        continue;
                    }
                },
            };
            let wp = WatchParams::default().timeout(290);
            let mut stream = match api.watch(&wp, &from).await {
                Ok(s) => s.boxed(),
                Err(e) => {
                    tracing::warn!(error = %e, "watching works failed; retrying");
                    rv = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            rv = Some(from);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(WatchEvent::Added(w)) | Ok(WatchEvent::Modified(w)) => {
                        rv = w.metadata.resource_version.clone().or(rv);
                        self.route(w, false);
                    }
                    Ok(WatchEvent::Deleted(w)) => {
                        rv = w.metadata.resource_version.clone().or(rv);
                        self.route(w, true);
                    }
                    Ok(WatchEvent::Bookmark(b)) => rv = Some(b.metadata.resource_version),
                    Ok(WatchEvent::Error(e)) => {
                        tracing::debug!(code = e.code, message = %e.message, "work watch ended; starting over");
                        rv = None;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "work watch broke; starting over");
                        rv = None;
                        break;
                    }
                }
            }
        }
    }
}

/// Every Work of one namespace, and the resourceVersion the list is consistent at.
async fn list_namespace(api: &Api<WorkObject>) -> Result<(Vec<WorkObject>, u64), kube::Error> {
    let mut items = Vec::new();
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = api.list(&lp).await?;
        let rv = page
            .metadata
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0);
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return Ok((items, rv)),
        }
    }
}

/// One session's relay: what the agent holds, and the Works of its namespace.
struct Relay {
    ns: String,
    cluster: String,
    /// What the agent holds: name -> (uid, generation).
    held: HashMap<String, (String, i64)>,
    control: ControlTx,
    /// The resourceVersion of the last list: events at or below it are already accounted for.
    listed_at: u64,
    /// The agent answers each deletion with WorkRemoved once the member let go of the Work's
    /// objects; an older agent does not, and the hub releases a Work when it sends the deletion.
    confirms: bool,
    client: kube::Client,
}

impl Relay {
    /// Deliver `d` unless the agent holds its generation already; false once the tunnel is gone.
    async fn apply(&mut self, d: v1::WorkDelivery) -> bool {
        if self.held.get(&d.name) == Some(&(d.uid.clone(), d.generation)) {
            return true;
        }
        tracing::debug!(cluster = %self.cluster, work = %d.name, generation = d.generation, "delivering work");
        self.held
            .insert(d.name.clone(), (d.uid.clone(), d.generation));
        send(&self.control, hub_message::Msg::Work(d)).await
    }

    /// Tell the agent a Work goes; `release`: the Work waits on its execution finalizer, which
    /// goes when the agent confirms (or now, for an agent that never does).
    async fn delete(&mut self, name: String, uid: String, preserve: bool, release: bool) -> bool {
        self.held.remove(&name);
        if release && !self.confirms {
            tokio::spawn(release_work(
                self.client.clone(),
                self.ns.clone(),
                name.clone(),
                uid.clone(),
            ));
        }
        let del = v1::WorkDeletion {
            namespace: self.ns.clone(),
            name,
            uid,
            preserve_resources_on_deletion: preserve,
        };
        send(&self.control, hub_message::Msg::WorkDeleted(del)).await
    }

    /// Bring the agent in line with a fresh list of the namespace.
    async fn sync(&mut self, items: &[WorkObject], rv: u64) -> bool {
        self.listed_at = rv;
        let mut present = std::collections::HashSet::new();
        for w in items {
            let Some(name) = &w.metadata.name else {
                continue;
            };
            if terminating(w) {
                let uid = w.metadata.uid.clone().unwrap_or_default();
                let preserve = w.spec.preserve_resources_on_deletion == Some(true);
                if !self.delete(name.clone(), uid, preserve, true).await {
                    return false;
                }
                continue;
            }
            present.insert(name.clone());
            let Some(d) = delivery(w) else { continue };
            if !self.apply(d).await {
                return false;
            }
        }
        let gone: Vec<(String, String)> = self
            .held
            .iter()
            .filter(|(name, _)| !present.contains(*name))
            .map(|(name, (uid, _))| (name.clone(), uid.clone()))
            .collect();
        for (name, uid) in gone {
            if !self.delete(name, uid, false, false).await {
                return false;
            }
        }
        true
    }
}

/// Relay what waits in a session's inbox, then park the relay there and end (the task is
/// aborted when the session ends).
async fn relay_while_pending(inbox: Arc<Inbox>, relay: Box<Relay>) {
    let mut slot = Some(relay);
    while let Some(next) = inbox.next_or_park(&mut slot) {
        let Some(r) = slot.as_deref_mut() else {
            return;
        };
        let alive = match next {
            Next::Resync => Box::pin(r.list_and_sync()).await,
            Next::Event(Routed::Applied { delivery, revision }) if revision > r.listed_at => {
                r.apply(delivery).await
            }
            Next::Event(Routed::Deleted {
                name,
                uid,
                preserve,
                revision,
                release,
            }) if revision > r.listed_at => r.delete(name, uid, preserve, release).await,
            // Already accounted for by the last list.
            Next::Event(_) => true,
        };
        if !alive {
            // The session is gone; its end closes the inbox.
            return;
        }
    }
}

impl Relay {
    /// List the namespace (until the API answers) and bring the agent in line with it; false
    /// once the tunnel is gone.
    async fn list_and_sync(&mut self) -> bool {
        let api: Api<WorkObject> =
            Api::namespaced_with(self.client.clone(), &self.ns, &work_resource());
        loop {
            match list_namespace(&api).await {
                Ok((items, rv)) => return self.sync(&items, rv).await,
                Err(e) => {
                    if self.control.is_closed() {
                        return false;
                    }
                    let not_served = not_served(&e);
                    if !not_served {
                        tracing::warn!(cluster = %self.cluster, error = %e, "listing works failed; retrying");
                    }
                    let pause = if not_served { 10 } else { 1 };
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                }
            }
        }
    }
}

/// What a session last wrote of each Work's Applied condition: (uid, applied, since), so that
/// a report keeps `lastTransitionTime` unless Applied flips, without reading the Work first.
pub(crate) type AppliedMemory = parking_lot::Mutex<HashMap<String, (String, bool, String)>>;

/// Write an agent's report as the Work's status: one JSON patch that first tests the Work's
/// uid (a Work deleted and made again under the same name is left alone) and generation (a
/// report of a generation since replaced is not written) and then replaces its status, which
/// the hub alone writes.
pub(crate) async fn write_status(
    client: &kube::Client,
    cluster: &str,
    s: &v1::WorkStatus,
    memory: &AppliedMemory,
) {
    if s.namespace != execution_namespace(cluster) {
        tracing::warn!(cluster, namespace = %s.namespace, "work status for another cluster's namespace ignored");
        return;
    }
    let (status, reason) = if s.applied {
        ("True", "AppliedSuccessful")
    } else {
        ("False", "AppliedFailed")
    };
    let since = {
        let mut m = memory.lock();
        match m.get(&s.name) {
            Some((uid, applied, since)) if *uid == s.uid && *applied == s.applied => since.clone(),
            _ => {
                let t = now();
                m.insert(s.name.clone(), (s.uid.clone(), s.applied, t.clone()));
                t
            }
        }
    };
    let manifests: Vec<Value> = s
        .manifests
        .iter()
        .map(|m| {
            let mut v = json!({
                "identifier": serde_json::from_slice::<Value>(&m.identifier).unwrap_or(Value::Null),
                "health": m.health,
            });
            if let Ok(st) = serde_json::from_slice::<Value>(&m.status)
                && !st.is_null()
            {
                v["status"] = st;
            }
            v
        })
        .collect();
    // The generation test keeps a report about an older generation from overwriting the
    // status of a newer one: such as a write a hub sent before it was cut off, arriving after
    // another hub took the cluster and wrote the next generation's status (see
    // `owner::may_write`).
    let body = json!([
        {"op": "test", "path": "/metadata/uid", "value": s.uid},
        {"op": "test", "path": "/metadata/generation", "value": s.generation},
        {"op": "add", "path": "/status", "value": {
            "conditions": [{"type": "Applied", "status": status, "reason": reason, "message": s.message, "lastTransitionTime": since, "observedGeneration": s.generation}],
            "manifestStatuses": manifests,
        }},
    ]);
    let path = format!(
        "/namespaces/{}/works/{}/status?fieldManager=cceone-hub",
        s.namespace, s.name
    );
    match json_patch(client, &path, &body).await {
        Ok(()) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 || e.code == 409 => {
            // Gone, another Work of that name now, or a newer generation: nothing of this
            // report applies.
            tracing::debug!(cluster, work = %s.name, code = e.code, "work gone or replaced before its status arrived");
            memory.lock().remove(&s.name);
        }
        Err(e) => tracing::warn!(cluster, work = %s.name, error = %e, "writing work status failed"),
    }
}

/// Send JSON patch `ops` to `path` under the Work API (`/namespaces/NS/works/NAME...`).
async fn json_patch(client: &kube::Client, path: &str, ops: &Value) -> Result<(), kube::Error> {
    let ar = work_resource();
    let request = http::Request::patch(format!("/apis/{}{path}", ar.api_version))
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(serde_json::to_vec(ops).unwrap_or_default())
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await.map(drop)
}

fn now() -> String {
    cceone_platform::phase::rfc3339(jiff::Timestamp::now())
}

/// The agent says the member no longer holds what Work `r` put there: let the Work go.
pub(crate) fn removed(hub: &crate::Hub, cluster: &str, r: v1::WorkRemoved) {
    if r.namespace != execution_namespace(cluster) {
        tracing::warn!(cluster, namespace = %r.namespace, "work removal for another cluster's namespace ignored");
        return;
    }
    tokio::spawn(release_work(hub.client.clone(), r.namespace, r.name, r.uid));
}

/// Remove the execution finalizer from Work `ns/name` if it is still the one with `uid` and
/// being deleted: one JSON patch that tests the uid and resourceVersion it read, read again
/// and retried when another writer came between.
async fn release_work(client: kube::Client, ns: String, name: String, uid: String) {
    let api: Api<WorkObject> = Api::namespaced_with(client.clone(), &ns, &work_resource());
    let mut pause = Duration::from_millis(200);
    for _ in 0..8 {
        let w = match api.get_opt(&name).await {
            Ok(Some(w)) => w,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(work = %name, namespace = %ns, error = %e, "reading a deleted work failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if w.metadata.uid.as_deref() != Some(uid.as_str()) || !terminating(&w) {
            return;
        }
        let rest: Vec<&String> = w
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != EXECUTION_FINALIZER)
            .collect();
        let ops = json!([
            {"op": "test", "path": "/metadata/uid", "value": uid},
            {"op": "test", "path": "/metadata/resourceVersion", "value": w.metadata.resource_version},
            {"op": "replace", "path": "/metadata/finalizers", "value": rest},
        ]);
        let path = format!("/namespaces/{ns}/works/{name}?fieldManager=cceone-hub");
        match json_patch(&client, &path, &ops).await {
            Ok(_) => {
                tracing::debug!(work = %name, namespace = %ns, "work released");
                return;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => return,
            Err(kube::Error::Api(s)) if matches!(s.code, 409 | 422) => {}
            Err(e) => {
                tracing::warn!(work = %name, namespace = %ns, error = %e, "releasing a deleted work failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::warn!(work = %name, namespace = %ns, "gave up releasing a deleted work; it is released when the cluster reconnects");
}

/// A session's relay: its route in the hub's watch and its inbox (where the relay waits,
/// parked, while nothing is pending).
pub(crate) struct Relaying {
    _route: Route,
    inbox: Arc<Inbox>,
}

/// Keep the relay of a session.
pub(crate) type RelayHandle = Option<Relaying>;

/// Start the relay for a session once the agent's inventory is in (only once per session): it
/// lists the namespace first, to bring the agent in line with what it holds.
pub(crate) fn start(
    hub: &crate::Hub,
    cluster: &str,
    inventory: v1::WorkInventory,
    confirms: bool,
    control: &ControlTx,
    slot: &mut RelayHandle,
) {
    if slot.is_some() {
        return;
    }
    let ns = execution_namespace(cluster);
    let (route, inbox) = hub.works.register(&ns);
    let relay = Relay {
        confirms,
        client: hub.client.clone(),
        held: inventory
            .works
            .into_iter()
            .filter(|w| w.namespace == ns)
            .map(|w| (w.name, (w.uid, w.generation)))
            .collect(),
        ns,
        cluster: cluster.to_string(),
        control: control.clone(),
        listed_at: 0,
    };
    {
        let mut p = inbox.pending.lock();
        p.parked = Some(Box::new(relay));
        p.resync = true;
        inbox.wake(&mut p);
    }
    *slot = Some(Relaying {
        _route: route,
        inbox,
    });
}

/// Stop a session's relay.
pub(crate) fn stop(slot: &mut RelayHandle) {
    if let Some(r) = slot.take() {
        r.inbox.close();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn work(generation: i64, suspend: bool) -> WorkObject {
        serde_json::from_value(json!({
            "apiVersion": "work.karmada.io/v1alpha1", "kind": "Work",
            "metadata": {"name": "w", "namespace": "karmada-es-a", "uid": "u1",
                "generation": generation, "resourceVersion": (10 + generation).to_string()},
            "spec": {"suspendDispatching": suspend, "workload": {"manifests": [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
            ]}},
        }))
        .unwrap()
    }

    #[test]
    fn a_suspended_work_is_not_relayed_until_resumed_and_status_changes_are_not_routed() {
        let router = Arc::new(Router::default());
        let (_route, inbox) = router.register("karmada-es-a");
        router.route(work(1, true), false);
        assert!(inbox.take().is_none(), "a suspended Work was routed");
        router.route(work(2, false), false);
        match inbox.take() {
            Some(Next::Event(Routed::Applied { delivery, .. })) => {
                assert_eq!((delivery.generation, delivery.manifests.len()), (2, 1));
            }
            _ => panic!("the resumed Work was not routed"),
        }
        // The same generation again (its status written back) is not routed.
        router.route(work(2, false), false);
        assert!(inbox.take().is_none());
        // Deleted: routed whatever its suspension.
        router.route(work(3, true), true);
        assert!(matches!(
            inbox.take(),
            Some(Next::Event(Routed::Deleted { release: false, .. }))
        ));
    }

    #[test]
    fn a_terminating_work_is_routed_once_for_removal_and_its_final_deletion_not_again() {
        let router = Arc::new(Router::default());
        let (_route, inbox) = router.register("karmada-es-a");
        router.route(work(1, false), false);
        assert!(matches!(
            inbox.take(),
            Some(Next::Event(Routed::Applied { .. }))
        ));
        let mut dying = work(1, false);
        dying.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        dying.metadata.finalizers = Some(vec![EXECUTION_FINALIZER.into()]);
        router.route(dying.clone(), false);
        assert!(matches!(
            inbox.take(),
            Some(Next::Event(Routed::Deleted { release: true, .. }))
        ));
        // Its status written while it waits, then the finalizer gone: nothing more to send.
        router.route(dying.clone(), false);
        router.route(dying, true);
        assert!(inbox.take().is_none());
    }
}
