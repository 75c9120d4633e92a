//! The vCPU-hour meter: on every change of a registered cluster and every few seconds, each
//! connected cluster's current billing hour (UTC+8) gets its UsageRecord, raised to the most
//! vCPUs seen in it; a cluster seen to stop being connected is charged the hour it stopped
//! in. The rules themselves are pure, in `cceone_platform::usage`. Records are objects in the
//! store: a restart finds them (one per cluster and hour, by name), so nothing is counted
//! twice, and hours a cluster stayed connected while the meter was down are filled in when
//! the tunnel session never changed. Once an hour, records older than the retention go
//! (each cluster's latest stays: the meter continues from it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cceone_platform::ClusterType;
use cceone_platform::clock::Clock;
use cceone_platform::phase::Phase;
use cceone_platform::usage::{
    Kept, LastRecord, Observation, UsageSpec, expired, hour_of, hours_to_charge, milli_vcpus,
    parse_hour, record_name, usage_record_resource,
};
use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::Shared;
use crate::json::s;
use crate::runtime::{ObjKey, Writer};

fn connected(regc: &Value) -> bool {
    Phase::parse(s(regc, "/status/phase")).is_some_and(Phase::is_connected)
}

/// Whether a change took a cluster from connected to not (or away).
pub(super) fn stopped_running(old: Option<&Value>, new: Option<&Value>) -> bool {
    old.is_some_and(connected) && !new.is_some_and(connected)
}

/// What of a registered cluster the meter charges.
#[derive(Debug, Clone)]
pub(super) struct Stopped {
    name: String,
    cluster_type: Option<ClusterType>,
    fleet: Option<String>,
    milli: i64,
    session: String,
}

impl Stopped {
    /// The cluster as `regc` describes it.
    pub(super) fn of(regc: &Value) -> Stopped {
        Stopped {
            name: s(regc, "/metadata/name").to_string(),
            cluster_type: ClusterType::parse(s(regc, "/spec/type")),
            fleet: cceone_platform::fleet::fleet_of(regc).map(String::from),
            milli: milli_vcpus(s(regc, "/status/vcpus")),
            session: s(regc, "/status/connectedSince").to_string(),
        }
    }
}

/// The meter's state.
pub(super) struct Meter {
    pub(super) shared: Arc<Shared>,
    pub(super) writer: Writer,
    pub(super) clock: Clock,
    pub(super) interval: Duration,
    /// How long records are kept.
    pub(super) retention: Duration,
    pub(super) wake: Arc<tokio::sync::Notify>,
    pub(super) stopped: Arc<Mutex<Vec<Stopped>>>,
}

/// The latest record of every cluster charged so far (read from the records once per cluster).
type Latest = HashMap<String, Option<LastRecord>>;

impl Meter {
    fn latest(&self, latest: &mut Latest, cluster: &str) -> Option<LastRecord> {
        latest
            .entry(cluster.to_string())
            .or_insert_with(|| {
                self.shared
                    .usage
                    .by_index_as::<Value>(cluster)
                    .iter()
                    .filter_map(|r| {
                        let spec = UsageSpec::of(r)?;
                        Some(LastRecord {
                            hour: parse_hour(&spec.hour)?,
                            milli: spec.milli_vcpus,
                            session: spec.session,
                        })
                    })
                    .max_by_key(|r| r.hour)
            })
            .clone()
    }

    /// Charge `hours` of a cluster: create each hour's record, or raise it to `milli`.
    async fn charge(&self, latest: &mut Latest, c: &Stopped, hours: Vec<(Timestamp, i64)>) {
        let Some(cluster_type) = c.cluster_type else {
            return;
        };
        let ar = usage_record_resource();
        for (hour, milli) in hours {
            if milli == 0 {
                // Nothing to charge (no report yet, or no Ready node).
                continue;
            }
            let name = record_name(&c.name, hour);
            let key = ObjKey::cluster(&name);
            let existing = self.shared.usage.get(&key).and_then(|r| UsageSpec::of(&r));
            let result = match existing {
                Some(e) if e.milli_vcpus >= milli => Ok(()),
                Some(e) => {
                    let raised = UsageSpec::new(
                        &c.name,
                        cluster_type,
                        e.fleet.as_deref(),
                        hour,
                        milli,
                        &e.session,
                    );
                    tracing::info!(record = %name, vcpus = %raised.vcpus, "usage hour raised");
                    self.writer
                        .merge_patch(&ar, &key, &json!({"spec": raised}), false)
                        .await
                        .map(drop)
                }
                None => {
                    let spec = UsageSpec::new(
                        &c.name,
                        cluster_type,
                        c.fleet.as_deref(),
                        hour,
                        milli,
                        &c.session,
                    );
                    tracing::info!(record = %name, cluster = %c.name, vcpus = %spec.vcpus, amount = %spec.amount, "usage hour charged");
                    match self.writer.create(&ar, spec.to_object(hour)).await {
                        Err(e) if e.is_already_exists() => Ok(()),
                        r => r.map(drop),
                    }
                }
            };
            match result {
                Ok(()) => {
                    let last = latest.entry(c.name.clone()).or_insert(None);
                    if last.as_ref().is_none_or(|l| l.hour <= hour) {
                        *last = Some(LastRecord {
                            hour,
                            milli,
                            session: c.session.clone(),
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(record = %name, error = %e, "writing a usage record failed; the next pass retries");
                }
            }
        }
    }

    async fn pass(&self, latest: &mut Latest) {
        let now = self.clock.now();
        let stopped: Vec<Stopped> = std::mem::take(&mut *self.stopped.lock());
        for c in stopped {
            // Connected until a moment ago: that hour was used.
            self.charge(latest, &c, vec![(hour_of(now), c.milli)]).await;
        }
        for regc in self.shared.registered.list_as::<Value>() {
            if !connected(&regc) {
                continue;
            }
            let c = Stopped::of(&regc);
            let obs = Observation {
                connected: true,
                milli: c.milli,
                session: &c.session,
            };
            let last = self.latest(latest, &c.name);
            let hours = hours_to_charge(&obs, last.as_ref(), now);
            self.charge(latest, &c, hours).await;
        }
    }
}

impl Meter {
    /// Delete the records past retention.
    async fn prune(&self, now: Timestamp) {
        let records = self.shared.usage.list_as::<Value>();
        let kept: Vec<Kept<'_>> = records
            .iter()
            .filter_map(|r| {
                Some(Kept {
                    name: s(r, "/metadata/name"),
                    cluster: s(r, "/spec/cluster"),
                    hour: parse_hour(s(r, "/spec/hour"))?,
                })
            })
            .collect();
        let ar = usage_record_resource();
        for name in expired(&kept, now, self.retention) {
            tracing::info!(record = %name, "usage record past retention; deleting it");
            if let Err(e) = self.writer.delete(&ar, &ObjKey::cluster(name)).await {
                tracing::warn!(record = %name, error = %e, "deleting a usage record failed; the next hour retries");
            }
        }
    }
}

/// Meter until aborted.
pub(super) async fn run(meter: Meter) {
    meter.shared.wait_synced().await;
    tracing::info!(offset_secs = meter.clock.offset_secs(), "meter started");
    let mut latest = Latest::new();
    let mut pruned: Option<Timestamp> = None;
    loop {
        meter.pass(&mut latest).await;
        let hour = hour_of(meter.clock.now());
        if pruned != Some(hour) {
            meter.prune(meter.clock.now()).await;
            pruned = Some(hour);
        }
        tokio::select! {
            () = tokio::time::sleep(meter.interval) => {}
            () = meter.wake.notified() => {}
        }
    }
}
