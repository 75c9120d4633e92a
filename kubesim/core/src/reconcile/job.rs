//! Job reconciliation: keeps `min(parallelism, completions - succeeded)`
//! pods active until enough have succeeded, never recreating Succeeded
//! pods; stops on completion, on exceeding `backoffLimit` and while
//! suspended. `Indexed` jobs run one pod per missing completion index.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Action, NameGen, PodExtras, delete_preferred, new_pod};
use crate::json::{
    array_at, at, bool_at, condition_true, i64_at, is_terminating, label, name, namespace, set,
    str_at,
};
use crate::pods::{is_active, is_ready, phase};

/// Label and annotation holding an Indexed job pod's completion index.
pub(crate) const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Where a Job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Pods are being run.
    Running,
    /// Enough pods succeeded.
    Complete,
    /// More pods failed than `backoffLimit` allows.
    Failed,
    /// `spec.suspend` is true.
    Suspended,
}

/// Pod counts of a Job.
pub(crate) struct JobCounts<'a> {
    /// Active (not finished, not terminating) pods.
    pub(crate) active: Vec<&'a Value>,
    /// Active pods that are Ready.
    pub(crate) ready: i64,
    /// Succeeded completions (distinct indexes for Indexed jobs).
    pub(crate) succeeded: i64,
    /// Failed pods.
    pub(crate) failed: i64,
    /// Terminating pods not yet finished.
    pub(crate) terminating: i64,
    /// Succeeded indexes (Indexed jobs).
    pub(crate) completed_indexes: BTreeSet<i64>,
}

/// `spec.completions`, defaulting to 1.
pub(crate) fn completions(job: &Value) -> i64 {
    i64_at(job, &["spec", "completions"]).unwrap_or(1).max(0)
}

/// `spec.parallelism`, defaulting to 1.
fn parallelism(job: &Value) -> i64 {
    i64_at(job, &["spec", "parallelism"]).unwrap_or(1).max(0)
}

/// Whether the Job uses `completionMode: Indexed`.
pub(crate) fn is_indexed(job: &Value) -> bool {
    str_at(job, &["spec", "completionMode"]) == Some("Indexed")
}

/// An Indexed job pod's completion index.
fn pod_index(pod: &Value) -> Option<i64> {
    label(pod, COMPLETION_INDEX)
        .or_else(|| at(pod, &["metadata", "annotations", COMPLETION_INDEX]).and_then(Value::as_str))
        .and_then(|s| s.parse().ok())
}

/// Counts the Job's pods; succeeded and failed never drop below what the
/// Job's status already records (pods may have been garbage collected).
pub(crate) fn counts<'a>(job: &Value, pods: &'a [Value]) -> JobCounts<'a> {
    let active: Vec<&Value> = pods.iter().filter(|p| is_active(p)).collect();
    let ready = i64::try_from(active.iter().filter(|p| is_ready(p)).count()).unwrap_or(0);
    let terminating = pods
        .iter()
        .filter(|p| is_terminating(p) && !matches!(phase(p), "Succeeded" | "Failed"))
        .count();
    let by_phase = |ph: &str| pods.iter().filter(|p| phase(p) == ph).count();
    let recorded = |k: &str| i64_at(job, &["status", k]).unwrap_or(0);
    let completed_indexes: BTreeSet<i64> = if is_indexed(job) {
        pods.iter()
            .filter(|p| phase(p) == "Succeeded")
            .filter_map(pod_index)
            .filter(|i| (0..completions(job)).contains(i))
            .collect()
    } else {
        BTreeSet::new()
    };
    let succeeded = if is_indexed(job) {
        i64::try_from(completed_indexes.len()).unwrap_or(0)
    } else {
        i64::try_from(by_phase("Succeeded")).unwrap_or(0)
    };
    JobCounts {
        active,
        ready,
        succeeded: succeeded.max(recorded("succeeded")),
        failed: i64::try_from(by_phase("Failed"))
            .unwrap_or(0)
            .max(recorded("failed")),
        terminating: i64::try_from(terminating).unwrap_or(0),
        completed_indexes,
    }
}

/// The Job's state given its counts; a Job already marked Complete or
/// Failed stays so.
pub(crate) fn state(job: &Value, counts: &JobCounts<'_>) -> JobState {
    let backoff_limit = i64_at(job, &["spec", "backoffLimit"]).unwrap_or(6);
    if condition_true(job, "Complete") || counts.succeeded >= completions(job) {
        JobState::Complete
    } else if condition_true(job, "Failed") || counts.failed > backoff_limit {
        JobState::Failed
    } else if bool_at(job, &["spec", "suspend"]) {
        JobState::Suspended
    } else {
        JobState::Running
    }
}

/// One reconciliation step for a Job.
pub(super) fn reconcile(job: &Value, owned: &[Value]) -> Vec<Action> {
    let counts = counts(job, owned);
    let mut actions = Vec::new();
    if state(job, &counts) != JobState::Running {
        actions.extend(counts.active.iter().map(|p| Action::delete(p)));
        return actions;
    }
    let active = i64::try_from(counts.active.len()).unwrap_or(i64::MAX);
    let remaining = completions(job) - counts.succeeded;
    let want = parallelism(job).min(remaining);
    if active > want {
        let excess = usize::try_from(active - want).unwrap_or(0);
        delete_preferred(&counts.active, excess, &mut actions);
        return actions;
    }
    let mut to_create = want - active;
    if is_indexed(job) {
        let busy: BTreeSet<i64> = counts.active.iter().filter_map(|p| pod_index(p)).collect();
        for index in 0..completions(job) {
            if to_create <= 0 {
                break;
            }
            if counts.completed_indexes.contains(&index) || busy.contains(&index) {
                continue;
            }
            let prefix = format!("{}-{index}-", name(job));
            let seed = format!("{}/{prefix}", namespace(job));
            let pod_name = NameGen::new(seed, prefix, owned).next_name();
            actions.push(Action::CreatePod(job_pod(job, &pod_name, Some(index))));
            to_create -= 1;
        }
    } else {
        let prefix = format!("{}-", name(job));
        let seed = format!("{}/{prefix}", namespace(job));
        let mut names = NameGen::new(seed, prefix, owned);
        for _ in 0..to_create {
            actions.push(Action::CreatePod(job_pod(job, &names.next_name(), None)));
        }
    }
    actions
}

/// A pod for the Job, with the job labels and, for Indexed jobs, the
/// completion index label, annotation, hostname and environment variable.
fn job_pod(job: &Value, pod_name: &str, index: Option<i64>) -> Value {
    let uid = str_at(job, &["metadata", "uid"]).unwrap_or("").to_owned();
    let job_name = name(job).to_owned();
    let mut labels = vec![
        ("batch.kubernetes.io/controller-uid".to_owned(), uid.clone()),
        ("batch.kubernetes.io/job-name".to_owned(), job_name.clone()),
        ("controller-uid".to_owned(), uid),
        ("job-name".to_owned(), job_name.clone()),
    ];
    let mut annotations = Vec::new();
    if let Some(i) = index {
        labels.push((COMPLETION_INDEX.to_owned(), i.to_string()));
        annotations.push((COMPLETION_INDEX.to_owned(), i.to_string()));
    }
    let mut pod = new_pod(
        job,
        pod_name,
        PodExtras {
            labels,
            annotations,
        },
    );
    if let Some(i) = index {
        set(
            &mut pod,
            &["spec", "hostname"],
            json!(format!("{job_name}-{i}")),
        );
        let env = json!({
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": { "fieldRef": {
                "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX}']"),
            }},
        });
        for key in ["initContainers", "containers"] {
            let mut containers = array_at(&pod, &["spec", key]).to_vec();
            if containers.is_empty() {
                continue;
            }
            for c in &mut containers {
                let mut vars = array_at(c, &["env"]).to_vec();
                vars.push(env.clone());
                set(c, &["env"], Value::Array(vars));
            }
            set(&mut pod, &["spec", key], Value::Array(containers));
        }
    }
    pod
}
