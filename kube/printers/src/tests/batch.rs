//! batch: Job (STATUS / COMPLETIONS / DURATION) and CronJob.

use serde_json::{Value, json};

use super::{ago, cells, cols, columns};

fn job(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}});
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}});
    json!({"metadata": {"name": "pi", "creationTimestamp": ago(600)}, "spec": spec, "status": status})
}

#[test]
fn job_columns() {
    assert_eq!(
        columns("batch", "Job"),
        cols(&[
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers*",
            "Images*",
            "Selector*"
        ])
    );
}

#[test]
fn job_complete() {
    let j = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({
            "succeeded": 1,
            "startTime": ago(600),
            "completionTime": ago(600 - 75),
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"}
            ]
        }),
    );
    assert_eq!(
        cells("batch", "Job", &j),
        vec![
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("75s"),
            json!("10m"),
            json!("pi"),
            json!("perl:5.34"),
            json!("batch.kubernetes.io/controller-uid=abc")
        ]
    );
}

#[test]
fn job_running_failed_suspended_terminating() {
    let running = job(
        json!({"completions": 5, "parallelism": 2}),
        json!({"succeeded": 2, "active": 2, "startTime": ago(200)}),
    );
    assert_eq!(
        cells("batch", "Job", &running)[1..4],
        [json!("Running"), json!("2/5"), json!("3m20s")]
    );

    let parallel = job(json!({"parallelism": 3}), json!({}));
    assert_eq!(
        cells("batch", "Job", &parallel)[1..4],
        [json!("Running"), json!("0/1 of 3"), json!("")]
    );

    let failed = job(
        json!({"completions": 1}),
        json!({"failed": 1, "startTime": ago(100), "conditions": [
            {"type": "FailureTarget", "status": "True"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
        ]}),
    );
    assert_eq!(
        cells("batch", "Job", &failed)[1..4],
        [json!("Failed"), json!("0/1"), json!("100s")]
    );

    let suspended = job(
        json!({"suspend": true}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    assert_eq!(cells("batch", "Job", &suspended)[1], json!("Suspended"));

    let target = job(
        json!({}),
        json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
    );
    assert_eq!(cells("batch", "Job", &target)[1], json!("FailureTarget"));

    let mut deleting = job(
        json!({}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(cells("batch", "Job", &deleting)[1], json!("Terminating"));
}

#[test]
fn cron_job() {
    assert_eq!(
        columns("batch", "CronJob"),
        cols(&[
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers*",
            "Images*",
            "Selector*"
        ])
    );
    let cj = json!({
        "metadata": {"name": "backup", "creationTimestamp": ago(5 * 86400)},
        "spec": {
            "schedule": "*/5 * * * *",
            "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "backup", "image": "busybox:1.36"}]}}}}
        },
        "status": {"active": [{"name": "backup-28630000"}], "lastScheduleTime": ago(62)}
    });
    assert_eq!(
        cells("batch", "CronJob", &cj),
        vec![
            json!("backup"),
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("62s"),
            json!("5d"),
            json!("backup"),
            json!("busybox:1.36"),
            json!("<none>")
        ]
    );
    let never = json!({
        "metadata": {"name": "nightly", "creationTimestamp": ago(30)},
        "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Paris", "suspend": true, "jobTemplate": {"spec": {}}}
    });
    assert_eq!(
        cells("batch", "CronJob", &never)[1..6],
        [
            json!("0 3 * * *"),
            json!("Europe/Paris"),
            json!("True"),
            json!(0),
            json!("<none>")
        ]
    );
}
