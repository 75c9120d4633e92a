//! Job status: pod counts, start and completion times, `completedIndexes`
//! for Indexed jobs, and the `Suspended`, `SuccessCriteriaMet`/`Complete`
//! and `FailureTarget`/`Failed` conditions.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::count;
use crate::json::{Cond, CondStyle, array_at, format_time, merge_condition, put_nonzero, str_at};
use crate::reconcile::{JobState, is_indexed, job_counts, job_state};

/// Condition types this module manages; others are carried over.
const MANAGED: [&str; 5] = [
    "Suspended",
    "SuccessCriteriaMet",
    "Complete",
    "FailureTarget",
    "Failed",
];

/// Formats indexes as Kubernetes' interval list, e.g. `1,3-5,7`.
fn format_indexes(indexes: &BTreeSet<i64>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    parts.join(",")
}

/// Job status as the job controller writes it.
pub(super) fn job_status(job: &Value, owned: &[Value], now: Timestamp) -> Value {
    let counts = job_counts(job, owned);
    let state = job_state(job, &counts);
    let previous = job.get("status");
    let prev_str = |k: &str| previous.and_then(|s| s.get(k)).cloned();

    let mut conditions: Vec<Value> = array_at(job, &["status", "conditions"])
        .iter()
        .filter(|c| !MANAGED.contains(&str_at(c, &["type"]).unwrap_or("")))
        .cloned()
        .collect();
    let mut add = |kind: &str, status: &str, reason: &str, message: &str| {
        let cond = Cond {
            kind,
            status,
            reason,
            message,
        };
        conditions.push(merge_condition(previous, &cond, CondStyle::Probe, now));
    };
    let was_suspended = array_at(job, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == Some("Suspended"));
    match state {
        JobState::Suspended => add("Suspended", "True", "JobSuspended", "Job suspended"),
        _ if was_suspended => add("Suspended", "False", "JobResumed", "Job resumed"),
        _ => {}
    }
    match state {
        JobState::Complete => {
            let message = "Reached expected number of succeeded pods";
            add("SuccessCriteriaMet", "True", "CompletionsReached", message);
            add("Complete", "True", "CompletionsReached", message);
        }
        JobState::Failed => {
            let message = "Job has reached the specified backoff limit";
            add("FailureTarget", "True", "BackoffLimitExceeded", message);
            add("Failed", "True", "BackoffLimitExceeded", message);
        }
        _ => {}
    }

    let mut status = Map::new();
    if !conditions.is_empty() {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    if state != JobState::Suspended {
        let start = prev_str("startTime").unwrap_or_else(|| json!(format_time(now)));
        status.insert("startTime".into(), start);
    }
    if state == JobState::Complete {
        let done = prev_str("completionTime").unwrap_or_else(|| json!(format_time(now)));
        status.insert("completionTime".into(), done);
    }
    put_nonzero(&mut status, "active", count(counts.active.len()));
    put_nonzero(&mut status, "succeeded", counts.succeeded);
    put_nonzero(&mut status, "failed", counts.failed);
    if is_indexed(job) && !counts.completed_indexes.is_empty() {
        status.insert(
            "completedIndexes".into(),
            json!(format_indexes(&counts.completed_indexes)),
        );
    }
    status.insert("ready".into(), json!(counts.ready));
    status.insert("terminating".into(), json!(counts.terminating));
    status.insert("uncountedTerminatedPods".into(), json!({}));
    Value::Object(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_index_intervals() {
        let set: BTreeSet<i64> = [0, 1, 2, 4, 6, 7].into_iter().collect();
        assert_eq!(format_indexes(&set), "0-2,4,6-7");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }
}
