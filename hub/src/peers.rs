//! The hubs of one federation and which of them are alive. Each hub keeps a
//! `coordination.k8s.io/v1` Lease of its own in [`SYSTEM_NAMESPACE`] (`cceone-hub-<id>`,
//! holder = its id, the address other hubs reach it at in an annotation), renewed every third
//! of its duration, and lists the others' about every second.
//!
//! A hub is alive while its Lease keeps changing: one whose resourceVersion has not moved for
//! its duration, *as observed here*, is taken for dead (client-go's leaderelection judges
//! expiry the same way, so clocks that differ between machines do not matter). A Lease seen for
//! the first time is judged by its renewTime instead. A hub shutting down deletes its Lease.
//! A hub that has not listed the Leases lately (cut off from the federation API) cannot tell,
//! and takes every other hub for alive: it then takes no tunnel and records nothing for a
//! cluster another hub holds, which is what a hub coming back from a partition must not do on
//! what it saw before. Listing again after such a gap gives every other hub a whole duration
//! from then (they may not have reached the API either, as when etcd was down for all).
//!
//! Which hub holds a cluster's tunnel is recorded in the cluster's status (`status.hub`, written
//! with the connection itself), so holding thousands of tunnels costs one Lease renewal, not one
//! per cluster; see [`crate::owner`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cceone_platform::SYSTEM_NAMESPACE;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use parking_lot::RwLock;
use serde_json::json;

/// The annotation with the `host:port` other hubs reach this one at.
pub const ENDPOINT_ANNOTATION: &str = "hub.cceone.io/peer-endpoint";
/// The label every hub Lease carries (and the others are listed by).
pub const LEASE_LABEL: &str = "hub.cceone.io/lease";
const MANAGER: &str = "cceone-hub-lease";

/// A hub as last seen.
#[derive(Debug, Clone)]
struct Seen {
    endpoint: String,
    resource_version: String,
    /// When its Lease was last seen to change (or, first seen, when it was renewed).
    changed_at: Instant,
    duration: Duration,
}

/// This hub's Lease and the others'.
pub struct Peers {
    me: String,
    endpoint: String,
    duration: Duration,
    api: Api<Lease>,
    seen: RwLock<HashMap<String, Seen>>,
    /// When the Leases were last listed: until then, and when that is not recent, every hub is
    /// taken for alive (a hub that cannot tell must not take tunnels from others).
    observed: parking_lot::Mutex<Option<Instant>>,
    /// When the last successful renewal of this hub's Lease was sent.
    renewed: parking_lot::Mutex<Option<Instant>>,
    /// How many times this hub's Lease lapsed (see the module's header).
    term: AtomicU64,
}

impl Peers {
    /// The peers of hub `me`, reachable at `endpoint`, with Leases of `duration`.
    pub(crate) fn new(
        client: &kube::Client,
        me: &str,
        endpoint: &str,
        duration: Duration,
    ) -> Arc<Peers> {
        Arc::new(Peers {
            me: me.to_string(),
            endpoint: endpoint.to_string(),
            duration,
            api: Api::namespaced(client.clone(), SYSTEM_NAMESPACE),
            seen: RwLock::default(),
            observed: parking_lot::Mutex::new(None),
            renewed: parking_lot::Mutex::new(None),
            term: AtomicU64::new(0),
        })
    }

    /// Whether this hub holds its Lease: renewed (the renewal sent) less than its duration ago,
    /// less a second for writes on their way.
    pub fn holds_lease(&self) -> bool {
        self.renewed
            .lock()
            .is_some_and(|sent| !self.lapsed(sent.elapsed()))
    }

    /// Whether `since` the last renewal was sent is too long to count as holding the Lease.
    fn lapsed(&self, since: Duration) -> bool {
        let margin = Duration::from_secs(1).min(self.duration / 4);
        since + margin >= self.duration
    }

    /// How many times this hub's Lease lapsed since it started.
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }

    /// This hub's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Whether hub `id` is alive (this hub always is).
    pub fn is_live(&self, id: &str) -> bool {
        if id == self.me {
            return true;
        }
        if !self.sees_now() {
            return true;
        }
        match self.seen.read().get(id) {
            Some(s) => s.changed_at.elapsed() < s.duration,
            None => false,
        }
    }

    /// Whether the Leases were listed recently enough to judge who is alive: within half a
    /// lease duration (at least 1.5 s; they are listed every second).
    fn sees_now(&self) -> bool {
        self.observed
            .lock()
            .is_some_and(|t| t.elapsed() < self.fresh())
    }

    /// How recent a listing of the Leases must be to judge by.
    fn fresh(&self) -> Duration {
        (self.duration / 2).max(Duration::from_millis(1500))
    }

    /// Where a live hub `id` takes requests from other hubs.
    pub fn endpoint_of(&self, id: &str) -> Option<String> {
        if !self.is_live(id) || id == self.me {
            return None;
        }
        self.seen
            .read()
            .get(id)
            .map(|s| s.endpoint.clone())
            .filter(|e| !e.is_empty())
    }

    /// The ids of the live hubs, this one included, sorted.
    pub fn live(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .seen
            .read()
            .iter()
            .filter(|(_, s)| s.changed_at.elapsed() < s.duration)
            .map(|(id, _)| id.clone())
            .collect();
        if !ids.contains(&self.me) {
            ids.push(self.me.clone());
        }
        ids.sort();
        ids
    }

    /// Take this hub's Lease and read the others' once (a few tries), before serving.
    pub(crate) async fn start(&self) {
        if let Err(e) = self.renew().await {
            tracing::warn!(error = %e, "taking the hub lease failed; retrying in the background");
        }
        for _ in 0..5 {
            match self.observe().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "listing the hub leases failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Renew this hub's Lease and read the others' forever.
    pub(crate) async fn run(self: Arc<Self>) {
        let renew_every = (self.duration / 3).max(Duration::from_millis(500));
        let mut last_renewal: Option<Instant> = None;
        let mut failing = false;
        let mut holding = true;
        let mut tick = tokio::time::interval(Duration::from_millis(1000).min(renew_every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if last_renewal.is_none_or(|t| t.elapsed() >= renew_every) {
                // A renewal that takes longer than the interval has failed (client-go's renew
                // deadline); one hanging on a partition must not stop the loop.
                let renewal = tokio::time::timeout(renew_every, self.renew()).await;
                match renewal {
                    Ok(Ok(())) => {
                        last_renewal = Some(Instant::now());
                        failing = false;
                    }
                    // Retried at the next tick; said once per run of failures.
                    Ok(Err(e)) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "renewing the hub lease failed; the other hubs will take this one for dead");
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "renewing the hub lease failed"),
                    Err(_) => tracing::debug!("renewing the hub lease timed out"),
                }
            }
            let holds = self.holds_lease();
            if holding && !holds {
                tracing::warn!(
                    "this hub no longer holds its lease: it writes nothing for its clusters until it renews it"
                );
            }
            holding = holds;
            match tokio::time::timeout(Duration::from_secs(2), self.observe()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "listing the hub leases failed"),
                Err(_) => tracing::debug!("listing the hub leases timed out"),
            }
        }
    }

    /// Delete this hub's Lease (shutting down: the others stop taking it for alive at once).
    pub async fn release(&self) {
        if let Err(e) = self
            .api
            .delete(&lease_name(&self.me), &DeleteParams::default())
            .await
        {
            tracing::debug!(error = %e, "deleting the hub lease failed");
        }
    }

    async fn renew(&self) -> Result<(), kube::Error> {
        let sent = Instant::now();
        self.send_renewal().await?;
        let mut renewed = self.renewed.lock();
        if let Some(last) = *renewed
            && self.lapsed(sent.duration_since(last))
        {
            let term = self.term.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                term,
                lapsed_for = ?sent.duration_since(last),
                "this hub's lease had lapsed (the other hubs may have taken its clusters): each session writes again only once its cluster's status still names this hub"
            );
        }
        *renewed = Some(sent);
        Ok(())
    }

    async fn send_renewal(&self) -> Result<(), kube::Error> {
        let now = jiff::Timestamp::now();
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": lease_name(&self.me),
                "namespace": SYSTEM_NAMESPACE,
                "labels": {LEASE_LABEL: "true", "app.kubernetes.io/part-of": "cceone"},
                "annotations": {ENDPOINT_ANNOTATION: self.endpoint},
            },
            "spec": {
                "holderIdentity": self.me,
                "leaseDurationSeconds": self.duration.as_secs().max(1),
                "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            },
        });
        self.api
            .patch(
                &lease_name(&self.me),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&lease),
            )
            .await?;
        Ok(())
    }

    async fn observe(&self) -> Result<(), kube::Error> {
        let list = self
            .api
            .list(&ListParams::default().labels(&format!("{LEASE_LABEL}=true")))
            .await?;
        let now = Instant::now();
        let wall = jiff::Timestamp::now();
        let mut seen = self.seen.write();
        // Listing again after a gap (this hub or the federation API was away): what did not
        // change meanwhile says nothing of the others, who may not have reached the API either.
        // Each gets a whole duration from now.
        if self
            .observed
            .lock()
            .is_some_and(|t| now.duration_since(t) >= self.fresh())
        {
            for s in seen.values_mut() {
                s.changed_at = now;
            }
        }
        let mut present = std::collections::HashSet::new();
        for lease in list.items {
            let Some(spec) = lease.spec.as_ref() else {
                continue;
            };
            let Some(id) = spec.holder_identity.clone().filter(|h| !h.is_empty()) else {
                continue;
            };
            let rv = lease.metadata.resource_version.clone().unwrap_or_default();
            let duration = Duration::from_secs(
                spec.lease_duration_seconds
                    .and_then(|d| u64::try_from(d).ok())
                    .unwrap_or(15)
                    .clamp(1, 3600),
            );
            let endpoint = lease
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ENDPOINT_ANNOTATION))
                .cloned()
                .unwrap_or_default();
            present.insert(id.clone());
            match seen.get_mut(&id) {
                Some(s) if s.resource_version == rv => {
                    s.endpoint = endpoint;
                }
                Some(s) => {
                    s.resource_version = rv;
                    s.changed_at = now;
                    s.duration = duration;
                    s.endpoint = endpoint;
                }
                None => {
                    // First sight: as old as its renewTime says (by our clock, at most a whole
                    // duration, so a hub restarted after a crash does not wait for nothing).
                    let age = spec
                        .renew_time
                        .as_ref()
                        .and_then(|t| t.0.to_string().parse::<jiff::Timestamp>().ok())
                        .map(|t| wall.duration_since(t).unsigned_abs())
                        .unwrap_or_default()
                        .min(duration);
                    seen.insert(
                        id,
                        Seen {
                            endpoint,
                            resource_version: rv,
                            changed_at: now.checked_sub(age).unwrap_or(now),
                            duration,
                        },
                    );
                }
            }
        }
        // A deleted Lease: the hub shut down.
        seen.retain(|id, _| present.contains(id));
        *self.observed.lock() = Some(now);
        Ok(())
    }
}

/// The Lease of hub `id`.
pub fn lease_name(id: &str) -> String {
    format!("cceone-hub-{}", sanitize(id))
}

/// `id` as a DNS label part: lowercase letters, digits and '-', at most 50 characters.
pub fn sanitize(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(50);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "hub".into() } else { out }
}

/// The default id of a hub: the host's name (a pod's name in Kubernetes) and the port it
/// listens on, so several hubs on one machine differ.
pub fn default_id(port: u16) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hub".into());
    sanitize(&format!("{host}-{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(sanitize("Hub_A.example:9443"), "hub-a-example-9443");
        assert_eq!(sanitize("---"), "hub");
        assert_eq!(lease_name("hub-a"), "cceone-hub-hub-a");
        assert!(sanitize(&"x".repeat(80)).len() <= 50);
        assert!(default_id(9443).ends_with("-9443"));
    }
}
