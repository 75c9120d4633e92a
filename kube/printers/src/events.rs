//! Event, both `v1` core events and `events.k8s.io/v1` (which kube-apiserver
//! serves from the same storage and prints with the same columns).

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{at, col, int_at, name_column, opt_int, parse_time, since, str_at, wide};

/// Event: Last Seen, Type, Reason, Object, Message; wide Subobject, Source,
/// First Seen, Count, Name (in kube's column order).
pub(crate) fn event_columns() -> Vec<Column> {
    let mut name = name_column();
    name.priority = 1;
    vec![
        col("Last Seen", "string", d::EVENT_LAST_TIMESTAMP),
        col("Type", "string", d::EVENT_TYPE),
        col("Reason", "string", d::EVENT_REASON),
        col("Object", "string", d::EVENT_INVOLVED_OBJECT),
        wide("Subobject", "string", d::EVENT_FIELD_PATH),
        wide("Source", "string", d::EVENT_SOURCE),
        col("Message", "string", d::EVENT_MESSAGE),
        wide("First Seen", "string", d::EVENT_FIRST_TIMESTAMP),
        wide("Count", "string", d::EVENT_COUNT),
        name,
    ]
}

/// The fields of an event the printer needs, whichever API it came from.
struct EventView<'a> {
    name: &'a str,
    type_: &'a str,
    reason: &'a str,
    message: &'a str,
    involved: Option<&'a Value>,
    source: Option<&'a Value>,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    first_timestamp: Option<&'a Value>,
    last_timestamp: Option<&'a Value>,
    event_time: Option<&'a Value>,
    count: i64,
    series: Option<&'a Value>,
}

/// Core `v1` Event cells.
pub(crate) fn core_event_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    event_cells(
        &EventView {
            name: str_at(obj, &["metadata", "name"]),
            type_: str_at(obj, &["type"]),
            reason: str_at(obj, &["reason"]),
            message: str_at(obj, &["message"]),
            involved: at(obj, &["involvedObject"]),
            source: at(obj, &["source"]),
            reporting_controller: str_at(obj, &["reportingComponent"]),
            reporting_instance: str_at(obj, &["reportingInstance"]),
            first_timestamp: at(obj, &["firstTimestamp"]),
            last_timestamp: at(obj, &["lastTimestamp"]),
            event_time: at(obj, &["eventTime"]),
            count: int_at(obj, &["count"]),
            series: at(obj, &["series"]).filter(|s| s.is_object()),
        },
        now,
    )
}

/// `events.k8s.io/v1` Event cells (fields renamed: regarding, note,
/// deprecatedSource, deprecated*Timestamp, deprecatedCount).
pub(crate) fn events_v1_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    event_cells(
        &EventView {
            name: str_at(obj, &["metadata", "name"]),
            type_: str_at(obj, &["type"]),
            reason: str_at(obj, &["reason"]),
            message: str_at(obj, &["note"]),
            involved: at(obj, &["regarding"]),
            source: at(obj, &["deprecatedSource"]),
            reporting_controller: str_at(obj, &["reportingController"]),
            reporting_instance: str_at(obj, &["reportingInstance"]),
            first_timestamp: at(obj, &["deprecatedFirstTimestamp"]),
            last_timestamp: at(obj, &["deprecatedLastTimestamp"]),
            event_time: at(obj, &["eventTime"]),
            count: int_at(obj, &["deprecatedCount"]),
            series: at(obj, &["series"]).filter(|s| s.is_object()),
        },
        now,
    )
}

/// Upstream `printEvent` with wide output.
fn event_cells(e: &EventView<'_>, now: Timestamp) -> Vec<Value> {
    let translate = |v: Option<&Value>| parse_time(v).map(|t| since(t, now));
    let first = translate(e.first_timestamp)
        .or_else(|| translate(e.event_time))
        .unwrap_or_else(|| "<unknown>".to_owned());
    let mut last = translate(e.last_timestamp).unwrap_or_else(|| first.clone());
    let mut count = e.count;
    if let Some(series) = e.series {
        last =
            translate(at(series, &["lastObservedTime"])).unwrap_or_else(|| "<unknown>".to_owned());
        count = opt_int(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = e
        .involved
        .map_or("", |o| str_at(o, &["kind"]))
        .to_lowercase();
    let involved_name = e.involved.map_or("", |o| str_at(o, &["name"]));
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let component = e
        .source
        .map(|s| str_at(s, &["component"]))
        .filter(|s| !s.is_empty())
        .unwrap_or(e.reporting_controller);
    let host = e
        .source
        .map(|s| str_at(s, &["host"]))
        .filter(|s| !s.is_empty())
        .unwrap_or(e.reporting_instance);
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    vec![
        Value::from(last),
        Value::from(e.type_),
        Value::from(e.reason),
        Value::from(target),
        Value::from(e.involved.map_or("", |o| str_at(o, &["fieldPath"]))),
        Value::from(source),
        Value::from(e.message.trim()),
        Value::from(first),
        Value::from(count),
        Value::from(e.name),
    ]
}
