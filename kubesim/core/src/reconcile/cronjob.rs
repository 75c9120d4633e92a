//! CronJob reconciliation, following kube-controller-manager 1.32's
//! `pkg/controller/cronjob/cronjob_controllerv2.go` (`syncCronJob`,
//! `cleanupFinishedJobs`) and `utils.go` (`mostRecentScheduleTime`,
//! `getJobFromTemplate2`, `nextScheduleTime`): at each schedule time a Job
//! `<cronjob>-<minutes since the epoch>` from the job template, honouring
//! `suspend`, `startingDeadlineSeconds`, `concurrencyPolicy` and the history
//! limits; and when to look again. Time is an input.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::cron::Schedule;
use super::{Action, Target};
use crate::events::{Event, ObjectRef};
use crate::json::{
    array_at, at, bool_at, condition_true, format_time, i64_at, is_terminating, name, namespace,
    parse_time, str_at,
};

/// The annotation carrying a Job's scheduled time.
const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const COMPONENT: &str = "cronjob-controller";
/// Missed start times past which upstream warns (`TooManyMissedTimes`).
const MANY_MISSED: usize = 100;

fn finished(job: &Value) -> Option<&'static str> {
    if condition_true(job, "Complete") {
        Some("Complete")
    } else if condition_true(job, "Failed") {
        Some("Failed")
    } else {
        None
    }
}

fn event(cj: &Value, warning: bool, reason: &'static str, message: String) -> Event {
    let r = ObjectRef::to(cj, "batch/v1", "CronJob");
    if warning {
        Event::warning(r, COMPONENT, reason, message)
    } else {
        Event::normal(r, COMPONENT, reason, message)
    }
}

/// Deletes a Job of the CronJob, recording `SuccessfulDelete` ("Deleted job x").
fn delete_job(cj: &Value, job: &Value) -> Action {
    Action::Delete {
        target: Target::of("Job", job),
        event: Some(event(
            cj,
            false,
            "SuccessfulDelete",
            format!("Deleted job {}", name(job)),
        )),
    }
}

/// The CronJob's time zone: `spec.timeZone`, else UTC (the controller's local zone).
fn time_zone(cj: &Value) -> Result<TimeZone, String> {
    match str_at(cj, &["spec", "timeZone"]) {
        None | Some("") => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| name.to_owned()),
    }
}

/// One step for a CronJob given its Jobs at `now`: the actions, and when to
/// look again (the next schedule time), if ever.
pub fn reconcile_cronjob(
    cj: &Value,
    jobs: &[Value],
    now: Timestamp,
) -> (Vec<Action>, Option<Timestamp>) {
    let mut actions = Vec::new();
    // Jobs the status listed as active that have finished since.
    for r in array_at(cj, &["status", "active"]) {
        let uid = str_at(r, &["uid"]);
        if let Some(job) = jobs.iter().find(|j| str_at(j, &["metadata", "uid"]) == uid)
            && let Some(cond) = finished(job)
        {
            let message = format!("Saw completed job: {}, condition: {cond}", name(job));
            actions.push(Action::Record(event(cj, false, "SawCompletedJob", message)));
        }
    }
    cleanup_finished(cj, jobs, &mut actions);
    if is_terminating(cj) {
        return (actions, None);
    }
    let tz = match time_zone(cj) {
        Ok(tz) => tz,
        Err(zone) => {
            let message = format!("invalid timeZone: {zone:?}: unknown time zone {zone}");
            actions.push(Action::Record(event(cj, true, "UnknownTimeZone", message)));
            return (actions, None);
        }
    };
    let schedule_text = str_at(cj, &["spec", "schedule"]).unwrap_or("");
    let schedule = match Schedule::parse(schedule_text) {
        Ok(s) => s,
        Err(e) => {
            let message = format!("unparseable schedule: {schedule_text:?} : {e}");
            actions.push(Action::Record(event(
                cj,
                true,
                "UnparseableSchedule",
                message,
            )));
            return (actions, None);
        }
    };
    if bool_at(cj, &["spec", "suspend"]) {
        return (actions, None);
    }
    let next = schedule.next(now, &tz);
    let earliest = parse_time(at(cj, &["status", "lastScheduleTime"]))
        .or_else(|| parse_time(at(cj, &["metadata", "creationTimestamp"])))
        .unwrap_or(now);
    // mostRecentScheduleTime: the last activation in (earliest, now].
    let mut missed = 0usize;
    let mut scheduled = None;
    let mut t = earliest;
    while let Some(n) = schedule.next(t, &tz).filter(|n| *n <= now) {
        scheduled = Some(n);
        missed += 1;
        t = n;
        if missed > MANY_MISSED * 10 {
            // Only the most recent matters; jump close to now.
            t = now
                .checked_sub(SignedDuration::from_hours(1))
                .unwrap_or(now)
                .max(t);
        }
    }
    let Some(scheduled) = scheduled else {
        return (actions, next);
    };
    if missed > MANY_MISSED {
        actions.push(Action::Record(event(
            cj,
            true,
            "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
                .to_owned(),
        )));
    }
    if let Some(deadline) = i64_at(cj, &["spec", "startingDeadlineSeconds"])
        && scheduled
            .checked_add(SignedDuration::from_secs(deadline))
            .is_ok_and(|due| due < now)
    {
        let message = format!(
            "Missed scheduled time to start a job: {}",
            scheduled
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
        );
        actions.push(Action::Record(event(cj, true, "MissSchedule", message)));
        return (actions, next);
    }
    let job_name = format!("{}-{}", name(cj), scheduled.as_second() / 60);
    if jobs.iter().any(|j| name(j) == job_name) {
        return (actions, next);
    }
    let active: Vec<&Value> = jobs
        .iter()
        .filter(|j| finished(j).is_none() && !is_terminating(j))
        .collect();
    match str_at(cj, &["spec", "concurrencyPolicy"]) {
        Some("Forbid") if !active.is_empty() => {
            // Upstream logs and waits for the next time; so do we.
            return (actions, next);
        }
        Some("Replace") => {
            actions.extend(active.iter().map(|job| delete_job(cj, job)));
        }
        _ => {}
    }
    let job = job_from_template(cj, &job_name, scheduled, &tz);
    actions.push(Action::Create {
        object: job,
        event: Some(event(
            cj,
            false,
            "SuccessfulCreate",
            format!("Created job {job_name}"),
        )),
    });
    (actions, next)
}

/// `getJobFromTemplate2`: the job template's labels, annotations and spec, the
/// scheduled-time annotation and the controller reference.
fn job_from_template(cj: &Value, job_name: &str, scheduled: Timestamp, tz: &TimeZone) -> Value {
    let template = at(cj, &["spec", "jobTemplate"]);
    let mut annotations = template
        .and_then(|t| at(t, &["metadata", "annotations"]))
        .cloned()
        .unwrap_or_else(|| json!({}));
    annotations[SCHEDULED_TIMESTAMP] = json!(
        scheduled
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
            .replace("+00:00", "Z")
    );
    let labels = template
        .and_then(|t| at(t, &["metadata", "labels"]))
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": namespace(cj),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": name(cj),
                "uid": str_at(cj, &["metadata", "uid"]).unwrap_or(""),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": template.and_then(|t| t.get("spec")).cloned().unwrap_or_else(|| json!({})),
    })
}

/// `cleanupFinishedJobs`: the oldest finished Jobs beyond
/// `successfulJobsHistoryLimit` (default 3) and `failedJobsHistoryLimit` (default 1).
fn cleanup_finished(cj: &Value, jobs: &[Value], actions: &mut Vec<Action>) {
    for (kind, key, default) in [
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ] {
        let limit = i64_at(cj, &["spec", key]).unwrap_or(default).max(0);
        let mut done: Vec<&Value> = jobs
            .iter()
            .filter(|j| finished(j) == Some(kind) && !is_terminating(j))
            .collect();
        let surplus = usize::try_from(i64::try_from(done.len()).unwrap_or(0) - limit).unwrap_or(0);
        if surplus == 0 {
            continue;
        }
        done.sort_by_key(|j| {
            (
                parse_time(at(j, &["status", "startTime"]))
                    .or_else(|| parse_time(at(j, &["metadata", "creationTimestamp"]))),
                name(j).to_owned(),
            )
        });
        actions.extend(
            done.into_iter()
                .take(surplus)
                .map(|job| delete_job(cj, job)),
        );
    }
}

/// CronJob status from its Jobs: the unfinished ones it scheduled (or already
/// listed) as `active`, `lastScheduleTime` and `lastSuccessfulTime` never
/// moving back.
pub(crate) fn cronjob_status(cj: &Value, jobs: &[Value]) -> Value {
    let listed: Vec<&str> = array_at(cj, &["status", "active"])
        .iter()
        .filter_map(|r| str_at(r, &["uid"]))
        .collect();
    let mut active: Vec<Value> = jobs
        .iter()
        .filter(|j| finished(j).is_none() && !is_terminating(j))
        .filter(|j| {
            at(j, &["metadata", "annotations", SCHEDULED_TIMESTAMP]).is_some()
                || str_at(j, &["metadata", "uid"]).is_some_and(|u| listed.contains(&u))
        })
        .map(|j| {
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": name(j),
                "namespace": namespace(j),
                "uid": str_at(j, &["metadata", "uid"]).unwrap_or(""),
                "resourceVersion": str_at(j, &["metadata", "resourceVersion"]).unwrap_or(""),
            })
        })
        .collect();
    active.sort_by(|a, b| str_at(a, &["name"]).cmp(&str_at(b, &["name"])));
    let latest = |prev: Option<Timestamp>, found: Option<Timestamp>| match (prev, found) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let scheduled = jobs
        .iter()
        .filter_map(|j| parse_time(at(j, &["metadata", "annotations", SCHEDULED_TIMESTAMP])))
        .max();
    let succeeded = jobs
        .iter()
        .filter(|j| finished(j) == Some("Complete"))
        .filter_map(|j| parse_time(at(j, &["status", "completionTime"])))
        .max();
    let mut status = serde_json::Map::new();
    if !active.is_empty() {
        status.insert("active".into(), Value::Array(active));
    }
    if let Some(t) = latest(
        parse_time(at(cj, &["status", "lastScheduleTime"])),
        scheduled,
    ) {
        status.insert("lastScheduleTime".into(), json!(format_time(t)));
    }
    if let Some(t) = latest(
        parse_time(at(cj, &["status", "lastSuccessfulTime"])),
        succeeded,
    ) {
        status.insert("lastSuccessfulTime".into(), json!(format_time(t)));
    }
    Value::Object(status)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cronjob(spec: Value) -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u-c",
                         "creationTimestamp": "2024-03-01T10:00:10Z"},
            "spec": spec,
        })
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn creates_the_job_of_the_most_recent_time_and_wakes_at_the_next() {
        let cj = cronjob(json!({"schedule": "*/5 * * * *",
            "jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"template": {}}}}));
        let (actions, next) = reconcile_cronjob(&cj, &[], ts("2024-03-01T10:11:00Z"));
        assert_eq!(next, Some(ts("2024-03-01T10:15:00Z")));
        let Some(Action::Create { object, event }) = actions.last() else {
            panic!("{actions:?}");
        };
        // 10:10 is 28488130 minutes after the epoch.
        assert_eq!(object["metadata"]["name"], "c-28488130");
        assert_eq!(
            object["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
            "2024-03-01T10:10:00Z"
        );
        assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "u-c");
        assert_eq!(event.as_ref().unwrap().message, "Created job c-28488130");
        // Later in the same period the same Job is planned (its name makes that idempotent).
        let (actions, next) = reconcile_cronjob(&cj, &[], ts("2024-03-01T10:14:00Z"));
        assert!(actions.iter().any(|a| matches!(a, Action::Create { .. })));
        assert_eq!(next, Some(ts("2024-03-01T10:15:00Z")));
        let mut later = cj.clone();
        later["status"] = json!({"lastScheduleTime": "2024-03-01T10:10:00Z"});
        let (actions, _) = reconcile_cronjob(&later, &[], ts("2024-03-01T10:14:00Z"));
        assert!(actions.is_empty());
    }

    #[test]
    fn forbid_waits_replace_deletes_suspend_stops() {
        let running = json!({"metadata": {"name": "c-1", "namespace": "ns", "uid": "j1"}});
        let now = ts("2024-03-01T10:11:00Z");
        let forbid = cronjob(json!({"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid"}));
        let (actions, _) = reconcile_cronjob(&forbid, std::slice::from_ref(&running), now);
        assert!(actions.is_empty());
        let replace = cronjob(json!({"schedule": "*/5 * * * *", "concurrencyPolicy": "Replace"}));
        let (actions, _) = reconcile_cronjob(&replace, std::slice::from_ref(&running), now);
        assert!(matches!(&actions[0], Action::Delete { target, .. } if target.name == "c-1"));
        assert!(matches!(&actions[1], Action::Create { .. }));
        let suspended = cronjob(json!({"schedule": "*/5 * * * *", "suspend": true}));
        assert_eq!(reconcile_cronjob(&suspended, &[], now), (vec![], None));
    }

    #[test]
    fn history_limits_and_status() {
        let done = |n: &str, t: &str, kind: &str| {
            json!({"metadata": {"name": n, "namespace": "ns", "uid": n,
                    "annotations": {SCHEDULED_TIMESTAMP: t}},
                   "status": {"startTime": t, "completionTime": t,
                              "conditions": [{"type": kind, "status": "True"}]}})
        };
        let jobs = vec![
            done("a", "2024-03-01T10:00:00Z", "Complete"),
            done("b", "2024-03-01T10:05:00Z", "Complete"),
            done("c", "2024-03-01T10:06:00Z", "Failed"),
            done("d", "2024-03-01T10:07:00Z", "Failed"),
        ];
        let mut cj = cronjob(json!({"schedule": "@hourly", "successfulJobsHistoryLimit": 1}));
        cj["status"] = json!({"active": [{"uid": "b"}]});
        let (actions, _) = reconcile_cronjob(&cj, &jobs, ts("2024-03-01T10:08:00Z"));
        let deleted: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { target, .. } => Some(target.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, ["a", "c"]);
        assert!(actions.iter().any(|a| matches!(a, Action::Record(e)
            if e.message == "Saw completed job: b, condition: Complete")));
        let status = cronjob_status(&cj, &jobs);
        assert_eq!(status["lastScheduleTime"], "2024-03-01T10:07:00Z");
        assert_eq!(status["lastSuccessfulTime"], "2024-03-01T10:05:00Z");
        assert!(status.get("active").is_none());
    }
}
