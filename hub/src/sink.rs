//! A session's writes to the federation API, off the session's control loop.
//!
//! The control loop must answer heartbeats whatever the federation API is doing: when it awaited
//! each status write itself, a burst of Work statuses (an agent applying hundreds of Works) or a
//! slow API server held back the heartbeat echoes until the agent gave the tunnel up. Here the
//! loop only records what is to be written; a writer task writes it. Writes coalesce: a newer
//! status of the same Work replaces one not yet written, and cluster status fields merge, so
//! what is pending stays bounded by the number of Works whatever the agent sends.
//!
//! The writer task runs only while something is pending: an idle session (most of 10,000)
//! then holds no task for it, which was 2.2 KiB of an idle tunnel by heap profile.

use std::collections::HashMap;
use std::sync::Arc;

use cceone_proto::v1;
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;

use crate::Hub;

/// Work status writes in flight at once per session.
const WORK_WRITES: usize = 16;

/// How often held-back writes are tried again while this hub's Lease is lapsed.
const FENCED_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Default)]
struct Pending {
    /// Cluster status fields to merge into the RegisteredCluster's status.
    cluster: serde_json::Map<String, Value>,
    /// Work name → its latest status.
    works: HashMap<String, v1::WorkStatus>,
    /// A writer task is running (it takes what is pending before it stops).
    writing: bool,
}

/// The control loop's side.
pub(crate) struct Sink {
    hub: Arc<Hub>,
    cluster: String,
    pending: Mutex<Pending>,
    /// The Applied condition last written per Work.
    applied: crate::works::AppliedMemory,
    /// The hub's lease term the session writes in (see `owner::may_write`).
    term: std::sync::atomic::AtomicU64,
}

impl Sink {
    /// A sink for `cluster`'s session.
    pub(crate) fn start(hub: &Arc<Hub>, cluster: &str) -> Arc<Sink> {
        Arc::new(Sink {
            hub: Arc::clone(hub),
            cluster: cluster.to_string(),
            pending: Mutex::default(),
            applied: Mutex::default(),
            term: hub.peers.term().into(),
        })
    }

    /// Merge `fields` into the cluster's status (later values win).
    pub(crate) fn cluster(self: &Arc<Self>, fields: Value) {
        if let Value::Object(m) = fields {
            let mut p = self.pending.lock();
            p.cluster.extend(m);
            self.wake(&mut p);
        }
    }

    /// Write a Work's status (replacing one of the same Work not yet written).
    pub(crate) fn work(self: &Arc<Self>, s: v1::WorkStatus) {
        let mut p = self.pending.lock();
        p.works.insert(s.name.clone(), s);
        self.wake(&mut p);
    }

    /// Put back writes taken but not made; anything newer pending meanwhile wins.
    fn keep(&self, fields: serde_json::Map<String, Value>, works: HashMap<String, v1::WorkStatus>) {
        let mut p = self.pending.lock();
        for (k, v) in fields {
            p.cluster.entry(k).or_insert(v);
        }
        for (k, v) in works {
            p.works.entry(k).or_insert(v);
        }
    }

    /// Start a writer unless one is running (called with the lock held, so a writer that is
    /// just stopping has seen everything pending before this).
    fn wake(self: &Arc<Self>, p: &mut Pending) {
        if !p.writing {
            p.writing = true;
            tokio::spawn(write_loop(Arc::clone(self)));
        }
    }
}

async fn write_loop(sink: Arc<Sink>) {
    let (hub, cluster) = (&sink.hub, sink.cluster.as_str());
    loop {
        let (fields, works) = {
            let mut p = sink.pending.lock();
            if p.cluster.is_empty() && p.works.is_empty() {
                p.writing = false;
                return;
            }
            (std::mem::take(&mut p.cluster), std::mem::take(&mut p.works))
        };
        // Several hubs: nothing is written for a cluster this hub may have lost.
        if !crate::owner::may_write(hub, cluster, &sink.term).await {
            let n = works.len() as u64 + u64::from(!fields.is_empty());
            hub.metrics
                .fenced_writes
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            // While only this hub's own Lease has lapsed (an overloaded machine can miss a
            // renewal: one hub under the 500 x 50 benchmark did, three times), the reports are
            // kept for when it holds it again and `may_write` has checked the cluster is still
            // its own; dropping them left those Works without a status for good (their
            // templates never ready). A session whose cluster is held elsewhere, or that has
            // ended, writes nothing more.
            let session_open = Arc::strong_count(&sink) > 1;
            if session_open && !hub.peers.holds_lease() {
                sink.keep(fields, works);
                tracing::debug!(
                    cluster,
                    writes = n,
                    "status writes held back until the lease is held again"
                );
                tokio::time::sleep(FENCED_RETRY).await;
            } else {
                tracing::debug!(cluster, writes = n, "status writes fenced");
            }
            continue;
        }
        if !fields.is_empty() {
            hub.clusters
                .patch_status(cluster, Value::Object(fields))
                .await;
        }
        futures::stream::iter(works.into_values())
            .for_each_concurrent(WORK_WRITES, |s| {
                let memory = &sink.applied;
                async move { crate::works::write_status(&hub.client, cluster, &s, memory).await }
            })
            .await;
    }
}
