//! A session's writes to the federation API, off the session's control loop.
//!
//! The control loop must answer heartbeats whatever the federation API is doing: when it awaited
//! each status write itself, a burst of Work statuses (an agent applying hundreds of Works) or a
//! slow API server held back the heartbeat echoes until the agent gave the tunnel up. Here the
//! loop only records what is to be written; a writer task writes it. Writes coalesce: a newer
//! status of the same Work replaces one not yet written, and cluster status fields merge, so
//! what is pending stays bounded by the number of Works whatever the agent sends.

use std::collections::HashMap;
use std::sync::Arc;

use cceone_proto::v1;
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::Notify;

use crate::Hub;

/// Work status writes in flight at once per session.
const WORK_WRITES: usize = 16;

#[derive(Default)]
struct Pending {
    /// Cluster status fields to merge into the RegisteredCluster's status.
    cluster: serde_json::Map<String, Value>,
    /// Work name → its latest status.
    works: HashMap<String, v1::WorkStatus>,
    /// The session ended: write what is pending, then stop.
    closing: bool,
}

/// The control loop's side.
pub(crate) struct Sink {
    pending: Mutex<Pending>,
    wake: Notify,
    /// The Applied condition last written per Work.
    applied: crate::works::AppliedMemory,
}

impl Sink {
    /// A sink for `cluster`'s session, with its writer task.
    pub(crate) fn start(hub: &Arc<Hub>, cluster: &str) -> Arc<Sink> {
        let sink = Arc::new(Sink {
            pending: Mutex::default(),
            wake: Notify::new(),
            applied: Mutex::default(),
        });
        tokio::spawn(write_loop(
            Arc::clone(hub),
            cluster.to_string(),
            Arc::clone(&sink),
        ));
        sink
    }

    /// Merge `fields` into the cluster's status (later values win).
    pub(crate) fn cluster(&self, fields: Value) {
        if let Value::Object(m) = fields {
            self.pending.lock().cluster.extend(m);
            self.wake.notify_one();
        }
    }

    /// Write a Work's status (replacing one of the same Work not yet written).
    pub(crate) fn work(&self, s: v1::WorkStatus) {
        self.pending.lock().works.insert(s.name.clone(), s);
        self.wake.notify_one();
    }

    /// Write what is pending, then stop the writer.
    pub(crate) fn close(&self) {
        self.pending.lock().closing = true;
        self.wake.notify_one();
    }
}

async fn write_loop(hub: Arc<Hub>, cluster: String, sink: Arc<Sink>) {
    loop {
        sink.wake.notified().await;
        loop {
            let (fields, works, closing) = {
                let mut p = sink.pending.lock();
                (
                    std::mem::take(&mut p.cluster),
                    std::mem::take(&mut p.works),
                    p.closing,
                )
            };
            if fields.is_empty() && works.is_empty() {
                if closing {
                    return;
                }
                break;
            }
            if !fields.is_empty() {
                hub.clusters
                    .patch_status(&cluster, Value::Object(fields))
                    .await;
            }
            futures::stream::iter(works.into_values())
                .for_each_concurrent(WORK_WRITES, |s| {
                    let (client, cluster, memory) = (&hub.client, cluster.as_str(), &sink.applied);
                    async move { crate::works::write_status(client, cluster, &s, memory).await }
                })
                .await;
        }
    }
}
