//! `batch` kinds: Job (with the STATUS column added in 1.30) and CronJob.

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::duration::human_duration;
use crate::util::{
    CONTAINERS_DESC, IMAGES_DESC, age, age_column, arr_at, at, col, container_cells, deleting,
    format_label_selector, int_at, name, name_column, opt_int, opt_str, parse_time, since, str_at,
    translate, wide,
};

/// Job: Name, Status, Completions, Duration, Age; wide Containers, Images,
/// Selector.
pub(crate) fn job_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Status", "string", "Status of the job."),
        col("Completions", "string", d::JOB_SUCCEEDED),
        col("Duration", "string", "Time required to complete the job."),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide("Selector", "string", d::JOB_SELECTOR),
    ]
}

/// Upstream `hasJobCondition`: the first condition of the type decides.
fn has_condition(obj: &Value, type_: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// Job cells, as upstream `printJob` (1.32) with wide output.
pub(crate) fn job_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match opt_int(obj, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match opt_int(obj, &["spec", "parallelism"]).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse_time(at(obj, &["status", "startTime"]));
    let end = parse_time(at(obj, &["status", "completionTime"]));
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => since(s, now),
        (Some(s), Some(e)) => human_duration(e.duration_since(s)),
    };
    let status = if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if deleting(obj) {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let [names, images] = container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]));
    vec![
        name(obj),
        Value::from(status),
        Value::from(completions),
        Value::from(duration),
        age(obj, now),
        names,
        images,
        Value::from(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

/// CronJob: Name, Schedule, Timezone, Suspend, Active, Last Schedule, Age;
/// wide Containers, Images, Selector.
pub(crate) fn cron_job_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Schedule", "string", d::CRONJOB_SCHEDULE),
        col("Timezone", "string", d::CRONJOB_TIME_ZONE),
        col("Suspend", "boolean", d::CRONJOB_SUSPEND),
        col("Active", "integer", d::CRONJOB_ACTIVE),
        col("Last Schedule", "string", d::CRONJOB_LAST_SCHEDULE),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide("Selector", "string", d::JOB_SELECTOR),
    ]
}

/// CronJob cells. Suspend prints as the string `True`/`False` like upstream
/// `printBoolPtr` (unset defaults to false, as the API does).
pub(crate) fn cron_job_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let suspend = match at(obj, &["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        _ => "False",
    };
    let last_schedule = match at(obj, &["status", "lastScheduleTime"]) {
        Some(v) if !v.is_null() => translate(Some(v), now),
        _ => "<none>".to_owned(),
    };
    let job_spec = at(obj, &["spec", "jobTemplate", "spec"]).unwrap_or(&Value::Null);
    let [names, images] = container_cells(arr_at(job_spec, &["template", "spec", "containers"]));
    vec![
        name(obj),
        Value::from(str_at(obj, &["spec", "schedule"])),
        Value::from(opt_str(obj, &["spec", "timeZone"]).unwrap_or("<none>")),
        Value::from(suspend),
        Value::from(arr_at(obj, &["status", "active"]).len()),
        Value::from(last_schedule),
        age(obj, now),
        names,
        images,
        Value::from(format_label_selector(at(job_spec, &["selector"]))),
    ]
}
