//! Metering in vCPU-hours (seed `003_*` §2): the `UsageRecord` CustomResourceDefinition, one
//! object per registered cluster and billing hour, and the pure rules that fill them.
//!
//! The rules, as the seed states them and where it leaves a choice:
//! - usage is vCPUs × hours while the cluster is connected (Running, or Updating: an agent
//!   upgrade keeps the tunnel), from when it first turns Running until it is unsubscribed;
//!   nothing is charged while Disconnected or in any other phase;
//! - billing hours run on the hour in UTC+8; an hour in which the cluster was connected at any
//!   moment counts as a whole hour ("不足一小时将按一小时计费");
//! - the vCPUs of an hour are the **maximum** the cluster reported during it (the seed bills
//!   "集群规模 × 规格单价 × 运行中时长": the size an hour is billed at is the largest the cluster
//!   had in it, so growing for part of an hour is not free);
//! - unit prices by cluster type (CNY per vCPU-hour): ctyun 0.0556, third-party 0.0556,
//!   local 0.1668; the federation itself is free (and has no records);
//! - one record per (cluster, hour), named after both, so a restart of the meter (or of the
//!   hub) mid-hour finds the hour's record and raises it at most: never two records, never a
//!   lost hour. Hours a connected cluster spent while the meter was not running are filled in
//!   when the record before them was written in the same tunnel session (`spec.session`, the
//!   cluster's `connectedSince`): the tunnel never dropped, so the cluster ran throughout.
//!
//! Amounts are exact: vCPUs in thousandths, prices in ten-thousandths of a yuan.

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ClusterType;
use crate::crd::{column, string};
use crate::{GROUP, VERSION};

/// The kind of a usage record.
pub const KIND: &str = "UsageRecord";
/// Its plural resource name.
pub const PLURAL: &str = "usagerecords";
/// The CRD's name.
pub const CRD_NAME: &str = "usagerecords.platform.cceone.io";
/// Label on a record naming the fleet its cluster was in when it was charged.
pub const FLEET_LABEL: &str = "platform.cceone.io/fleet";
/// Seconds in a billing hour.
const HOUR: i64 = 3600;
/// Billing hours are hours of UTC+8.
const BILLING_OFFSET_HOURS: i8 = 8;

/// The zone billing hours are counted in.
fn billing_zone() -> TimeZone {
    TimeZone::fixed(Offset::constant(BILLING_OFFSET_HOURS))
}

/// Unit price of a cluster type, in ten-thousandths of a yuan per vCPU-hour.
pub fn unit_price_e4(t: ClusterType) -> i64 {
    match t {
        ClusterType::Ctyun | ClusterType::ThirdParty => 556,
        ClusterType::Local => 1668,
    }
}

/// The start of the billing hour `ts` falls in (UTC+8 is a whole number of hours from UTC, so
/// this is also the UTC hour).
pub fn hour_of(ts: Timestamp) -> Timestamp {
    let s = ts.as_second().div_euclid(HOUR) * HOUR;
    Timestamp::from_second(s).unwrap_or(ts)
}

/// An hour as the CSV and records show it: `2026-12-07T09:00+08:00`.
pub fn format_hour(hour: Timestamp) -> String {
    hour.to_zoned(billing_zone())
        .strftime("%Y-%m-%dT%H:%M%:z")
        .to_string()
}

/// Parse [`format_hour`]'s form (or any RFC 3339 time) back.
pub fn parse_hour(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    // `2026-12-07T09:00+08:00` has no seconds, which RFC 3339 requires.
    let (date_time, offset) = s.split_at(s.len().checked_sub(6)?);
    format!("{date_time}:00{offset}").parse().ok()
}

/// The record name of a cluster's hour: `<cluster>.<YYYYMMDDHH in UTC+8>`.
pub fn record_name(cluster: &str, hour: Timestamp) -> String {
    let h = hour
        .to_zoned(billing_zone())
        .strftime("%Y%m%d%H")
        .to_string();
    format!("{cluster}.{h}")
}

/// A vCPU quantity (`7`, `3500m`) in thousandths; 0 when absent or unreadable.
pub fn milli_vcpus(q: &str) -> i64 {
    cceone_kube_quantity::Quantity::parse(q)
        .ok()
        .and_then(|q| i64::try_from(q.milli()).ok())
        .unwrap_or(0)
        .max(0)
}

/// Thousandths as a decimal (`7500` → `7.5`, `7000` → `7`).
pub fn format_milli(m: i64) -> String {
    let (whole, frac) = (m / 1000, m % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

/// Ten-thousandths of a yuan as a decimal with four places (`3892` → `0.3892`).
pub fn format_e4(v: i64) -> String {
    format!("{}.{:04}", v / 10_000, v % 10_000)
}

/// The amount of one hour: vCPUs (thousandths) × unit price (ten-thousandths), in
/// ten-thousandths of a yuan, rounded half up.
pub fn amount_e4(milli: i64, price_e4: i64) -> i64 {
    (milli * price_e4 + 500) / 1000
}

/// One billed hour of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSpec {
    /// The registered cluster.
    pub cluster: String,
    /// Its type (decides the price).
    #[serde(rename = "type")]
    pub cluster_type: ClusterType,
    /// The fleet it was in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<String>,
    /// The hour's start, `2026-12-07T09:00+08:00`.
    pub hour: String,
    /// The largest vCPU count the cluster reported in the hour, in thousandths.
    pub milli_vcpus: i64,
    /// The same as a quantity, for people (`7`, `7500m`).
    pub vcpus: String,
    /// vCPU-hours (one hour × vCPUs), a decimal.
    pub vcpu_hours: String,
    /// CNY per vCPU-hour, a decimal.
    pub unit_price: String,
    /// CNY for the hour, a decimal with four places.
    pub amount: String,
    /// The tunnel session the hour was charged in (the cluster's `connectedSince`).
    #[serde(default)]
    pub session: String,
}

impl UsageSpec {
    /// The record of `cluster`'s `hour` at `milli` vCPUs.
    pub fn new(
        cluster: &str,
        cluster_type: ClusterType,
        fleet: Option<&str>,
        hour: Timestamp,
        milli: i64,
        session: &str,
    ) -> UsageSpec {
        let price = unit_price_e4(cluster_type);
        UsageSpec {
            cluster: cluster.into(),
            cluster_type,
            fleet: fleet.map(String::from),
            hour: format_hour(hour),
            milli_vcpus: milli,
            vcpus: cceone_kube_quantity::Quantity::from_milli(i128::from(milli)).to_string(),
            vcpu_hours: format_milli(milli),
            unit_price: format_e4(price),
            amount: format_e4(amount_e4(milli, price)),
            session: session.into(),
        }
    }

    /// The spec of a UsageRecord object.
    pub fn of(obj: &Value) -> Option<UsageSpec> {
        serde_json::from_value(obj.get("spec")?.clone()).ok()
    }

    /// The amount in ten-thousandths of a yuan.
    pub fn amount_e4(&self) -> i64 {
        amount_e4(self.milli_vcpus, unit_price_e4(self.cluster_type))
    }

    /// The whole object, labelled with its cluster and fleet.
    pub fn to_object(&self, hour: Timestamp) -> Value {
        let mut labels = json!({crate::CLUSTER_LABEL: self.cluster});
        if let Some(f) = &self.fleet {
            labels[FLEET_LABEL] = json!(f);
        }
        json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": KIND,
            "metadata": {"name": record_name(&self.cluster, hour), "labels": labels},
            "spec": self,
        })
    }
}

/// What the meter knows of one registered cluster at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<'a> {
    /// Connected now (or, for the moment it stopped: up to now).
    pub connected: bool,
    /// The vCPUs it reports, in thousandths.
    pub milli: i64,
    /// Its tunnel session (`connectedSince`).
    pub session: &'a str,
}

/// The latest record of a cluster, as far as the meter needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRecord {
    /// Its hour.
    pub hour: Timestamp,
    /// Its vCPUs (thousandths).
    pub milli: i64,
    /// The session it was charged in.
    pub session: String,
}

/// The hours to charge (hour, vCPUs in thousandths) after observing a cluster at `now`:
/// nothing unless connected; else the current hour and, when the latest record was written
/// in this same session, every hour between it and now (the tunnel never dropped). The
/// caller raises an existing record to the maximum of both counts.
pub fn hours_to_charge(
    obs: &Observation<'_>,
    last: Option<&LastRecord>,
    now: Timestamp,
) -> Vec<(Timestamp, i64)> {
    if !obs.connected {
        return Vec::new();
    }
    let current = hour_of(now);
    let mut out = Vec::new();
    if let Some(last) = last
        && !obs.session.is_empty()
        && last.session == obs.session
    {
        let mut h = last.hour.as_second() + HOUR;
        while h < current.as_second() {
            if let Ok(t) = Timestamp::from_second(h) {
                out.push((t, last.milli.max(obs.milli)));
            }
            h += HOUR;
        }
    }
    out.push((current, obs.milli));
    out
}

/// How long usage records are kept by default: 400 days, a year of bills and the month
/// after it in which they are settled.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(400 * 24 * 3600);

/// One stored record, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept<'a> {
    /// The record's name.
    pub name: &'a str,
    /// Its cluster.
    pub cluster: &'a str,
    /// Its billing hour.
    pub hour: Timestamp,
}

/// The records past retention: those whose hour ended more than `retention` before `now`,
/// except each cluster's latest, which the meter continues from (so a cluster running through
/// the whole retention is never charged again for hours it was charged for).
pub fn expired<'a>(
    records: &[Kept<'a>],
    now: Timestamp,
    retention: std::time::Duration,
) -> Vec<&'a str> {
    let cutoff = now
        .as_second()
        .saturating_sub(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
    let mut latest: std::collections::HashMap<&str, Timestamp> = std::collections::HashMap::new();
    for r in records {
        let l = latest.entry(r.cluster).or_insert(r.hour);
        if r.hour > *l {
            *l = r.hour;
        }
    }
    records
        .iter()
        .filter(|r| r.hour.as_second() + HOUR <= cutoff && latest.get(r.cluster) != Some(&r.hour))
        .map(|r| r.name)
        .collect()
}

/// The UsageRecord CRD: cluster-scoped, short name `usage`, printer columns CLUSTER HOUR TYPE
/// VCPUS AMOUNT AGE.
pub fn usage_record_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "cceone"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": KIND,
                "listKind": format!("{KIND}List"),
                "plural": PLURAL,
                "singular": "usagerecord",
                "shortNames": ["usage"],
                "categories": ["cceone"],
            },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": string(),
                        "kind": string(),
                        "metadata": {"type": "object"},
                        "spec": {"type": "object",
                            "required": ["cluster", "type", "hour", "milliVcpus"],
                            "properties": {
                            "cluster": string(),
                            "type": {"type": "string", "enum": ClusterType::ALL.map(ClusterType::as_str)},
                            "fleet": string(),
                            "hour": {"type": "string", "description": "The billing hour's start in UTC+8."},
                            "milliVcpus": {"type": "integer"},
                            "vcpus": string(),
                            "vcpuHours": string(),
                            "unitPrice": string(),
                            "amount": string(),
                            "session": string(),
                        }},
                    },
                }},
                "additionalPrinterColumns": [
                    column("Cluster", "string", ".spec.cluster", 0),
                    column("Hour", "string", ".spec.hour", 0),
                    column("Type", "string", ".spec.type", 0),
                    column("vCPUs", "string", ".spec.vcpus", 0),
                    column("Amount", "string", ".spec.amount", 0),
                    column("Fleet", "string", ".spec.fleet", 1),
                    column("Age", "date", ".metadata.creationTimestamp", 0),
                ],
            }],
        },
    })
}

/// The kube-rs resource description of UsageRecords.
pub fn usage_record_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// A dynamic API handle on UsageRecords (cluster-scoped).
pub fn usage_records(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &usage_record_resource())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
