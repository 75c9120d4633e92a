//! The simulated kubelet: how a bound pod's status moves from Pending to
//! Running and Ready after a start delay, how Job pods complete, how Ready
//! follows node readiness, and the status of pods the scheduler rejected.
//! Time is an input; nothing here reads a clock.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::json::{
    array_at, condition, condition_true, fnv64a, format_time, is_terminating, label, name,
    namespace, nonempty_str_at, parse_time, set, str_at,
};
use crate::nodes::node_is_ready;
use crate::pods::{controller_kind, is_ready, node_name, phase};
use crate::resources::qos_class;

/// A pod condition with `lastProbeTime: null`.
fn pod_condition(kind: &str, status: &str, time: &str, reason: Option<&str>) -> Value {
    let mut c = json!({
        "type": kind,
        "status": status,
        "lastProbeTime": null,
        "lastTransitionTime": time,
    });
    if let Some(r) = reason {
        set(&mut c, &["reason"], json!(r));
    }
    c
}

/// Whether the pod belongs to a Job (and so runs to completion).
fn is_job_pod(pod: &Value) -> bool {
    controller_kind(pod) == Some("Job") || label(pod, "batch.kubernetes.io/job-name").is_some()
}

/// A stable 64-bit hash of the pod's identity plus a salt.
fn pod_hash(pod: &Value, salt: &str) -> u64 {
    let id = nonempty_str_at(pod, &["metadata", "uid"])
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}/{}", namespace(pod), name(pod)));
    fnv64a(format!("{id}#{salt}").as_bytes())
}

/// Parses `a.b.c.d/p` into a base address and prefix length.
fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (addr, prefix) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    (prefix <= 30).then_some((u32::from(ip), prefix))
}

/// A deterministic pod IP: inside the node's `spec.podCIDR` when it is an
/// IPv4 range, else in 10.0.0.0/8.
fn pod_ip(pod: &Value, node: &Value) -> String {
    let h = pod_hash(pod, "ip");
    if let Some((base, prefix)) = str_at(node, &["spec", "podCIDR"]).and_then(parse_cidr) {
        let size = 1u64 << (32 - prefix);
        let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
        let offset = 2 + h % (size - 3);
        let ip = (base & mask) | u32::try_from(offset).unwrap_or(2);
        return std::net::Ipv4Addr::from(ip).to_string();
    }
    format!(
        "10.{}.{}.{}",
        (h >> 16) & 0xff,
        (h >> 8) & 0xff,
        h % 254 + 1
    )
}

/// The node's address for `hostIP`: its InternalIP, else its first address,
/// else one derived from its name.
fn host_ip(node: &Value) -> String {
    let addresses = array_at(node, &["status", "addresses"]);
    addresses
        .iter()
        .find(|a| str_at(a, &["type"]) == Some("InternalIP"))
        .or_else(|| addresses.first())
        .and_then(|a| str_at(a, &["address"]))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let h = fnv64a(name(node).as_bytes());
            format!("172.18.{}.{}", (h >> 8) & 0xff, h % 254 + 1)
        })
}

/// A containerd-style container ID.
fn container_id(pod: &Value, container: &str) -> String {
    let hex: String = (0..4)
        .map(|i| format!("{:016x}", pod_hash(pod, &format!("{container}/{i}"))))
        .collect();
    format!("containerd://{hex}")
}

/// The status of one container that is running.
fn running_container(pod: &Value, c: &Value, started: &str) -> Value {
    let cname = str_at(c, &["name"]).unwrap_or("");
    let image = str_at(c, &["image"]).unwrap_or("");
    json!({
        "name": cname,
        "image": image,
        "imageID": image,
        "containerID": container_id(pod, cname),
        "ready": true,
        "started": true,
        "restartCount": 0,
        "state": { "running": { "startedAt": started } },
        "lastState": {},
    })
}

/// The status of one container that exited successfully.
fn completed_container(pod: &Value, c: &Value, started: &str, finished: &str) -> Value {
    let cname = str_at(c, &["name"]).unwrap_or("");
    let image = str_at(c, &["image"]).unwrap_or("");
    let id = container_id(pod, cname);
    json!({
        "name": cname,
        "image": image,
        "imageID": image,
        "containerID": id,
        "ready": false,
        "started": false,
        "restartCount": 0,
        "state": { "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": started,
            "finishedAt": finished,
            "containerID": id,
        }},
        "lastState": {},
    })
}

/// The Running and Ready status of a pod scheduled at `scheduled`.
fn running_status(pod: &Value, node: &Value, scheduled: &str, now: &str) -> Value {
    let ip = pod_ip(pod, node);
    let host = host_ip(node);
    let containers: Vec<Value> = array_at(pod, &["spec", "containers"])
        .iter()
        .map(|c| running_container(pod, c, now))
        .collect();
    let inits: Vec<Value> = array_at(pod, &["spec", "initContainers"])
        .iter()
        .map(|c| {
            if str_at(c, &["restartPolicy"]) == Some("Always") {
                running_container(pod, c, now)
            } else {
                completed_container(pod, c, now, now)
            }
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": [
            pod_condition("PodReadyToStartContainers", "True", now, None),
            pod_condition("Initialized", "True", now, None),
            pod_condition("Ready", "True", now, None),
            pod_condition("ContainersReady", "True", now, None),
            pod_condition("PodScheduled", "True", scheduled, None),
        ],
        "hostIP": host,
        "hostIPs": [{ "ip": host }],
        "podIP": ip,
        "podIPs": [{ "ip": ip }],
        "startTime": now,
        "containerStatuses": containers,
        "qosClass": qos_class(pod),
    });
    if !inits.is_empty() {
        set(&mut status, &["initContainerStatuses"], Value::Array(inits));
    }
    status
}

/// The status of a Running pod whose containers all exited with code 0.
fn succeeded_status(pod: &Value, now: &str) -> Value {
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let since = |kind: &str| {
        condition(pod, kind)
            .and_then(|c| str_at(c, &["lastTransitionTime"]))
            .unwrap_or(now)
            .to_owned()
    };
    let conditions = json!([
        pod_condition("PodReadyToStartContainers", "False", now, None),
        pod_condition(
            "Initialized",
            "True",
            &since("Initialized"),
            Some("PodCompleted")
        ),
        pod_condition("Ready", "False", now, Some("PodCompleted")),
        pod_condition("ContainersReady", "False", now, Some("PodCompleted")),
        pod_condition("PodScheduled", "True", &since("PodScheduled"), None),
    ]);
    let containers: Vec<Value> = array_at(pod, &["spec", "containers"])
        .iter()
        .map(|c| {
            let started = array_at(pod, &["status", "containerStatuses"])
                .iter()
                .find(|s| str_at(s, &["name"]) == str_at(c, &["name"]))
                .and_then(|s| str_at(s, &["state", "running", "startedAt"]))
                .unwrap_or(now)
                .to_owned();
            completed_container(pod, c, &started, now)
        })
        .collect();
    set(&mut status, &["phase"], json!("Succeeded"));
    set(&mut status, &["conditions"], conditions);
    set(
        &mut status,
        &["containerStatuses"],
        Value::Array(containers),
    );
    status
}

/// When the pod started running: its first container's `startedAt`, else
/// `status.startTime`.
fn running_since(pod: &Value) -> Option<Timestamp> {
    array_at(pod, &["status", "containerStatuses"])
        .iter()
        .find_map(|s| parse_time(s.pointer("/state/running/startedAt")))
        .or_else(|| parse_time(pod.pointer("/status/startTime")))
}

/// The pod's next simulated status, or `None` if nothing changes.
///
/// A bound Pending pod first gets `PodScheduled=True` (at `now`, unless the
/// condition is already there); once `now` reaches that time plus
/// `start_delay` and the node is Ready, it becomes Running and Ready with
/// container statuses, a deterministic pod IP and the node's host IP. Job
/// pods then turn Succeeded (exit code 0, reason Completed) after running for
/// `job_run_duration`. A Running pod's Ready condition follows its node's
/// readiness. Unbound or terminating pods, pods whose `node` is missing and
/// finished pods do not change.
pub fn advance_pod(
    pod: &Value,
    node: Option<&Value>,
    now: Timestamp,
    start_delay: SignedDuration,
    job_run_duration: SignedDuration,
) -> Option<Value> {
    if is_terminating(pod) {
        return None;
    }
    let bound_to = node_name(pod)?;
    let node = node.filter(|n| name(n) == bound_to)?;
    let now_s = format_time(now);
    let node_ready = node_is_ready(node);
    let reached = |since: Timestamp, delay: SignedDuration| {
        since.checked_add(delay).map_or(true, |due| now >= due)
    };
    match phase(pod) {
        "Pending" => {
            let scheduled = condition_true(pod, "PodScheduled")
                .then(|| condition(pod, "PodScheduled"))
                .flatten()
                .and_then(|c| parse_time(c.get("lastTransitionTime")));
            let scheduled_at = scheduled.unwrap_or(now);
            if node_ready && reached(scheduled_at, start_delay) {
                return Some(running_status(
                    pod,
                    node,
                    &format_time(scheduled_at),
                    &now_s,
                ));
            }
            if scheduled.is_some() {
                return None;
            }
            let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
            set(&mut status, &["phase"], json!("Pending"));
            set(&mut status, &["qosClass"], json!(qos_class(pod)));
            let conditions = vec![pod_condition("PodScheduled", "True", &now_s, None)];
            set(&mut status, &["conditions"], Value::Array(conditions));
            Some(status)
        }
        "Running" => {
            if node_ready && is_job_pod(pod) {
                let since = running_since(pod).unwrap_or(now);
                if reached(since, job_run_duration) {
                    return Some(succeeded_status(pod, &now_s));
                }
            }
            if is_ready(pod) == node_ready {
                return None;
            }
            let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
            let wanted = if node_ready { "True" } else { "False" };
            let mut conditions = array_at(pod, &["status", "conditions"]).to_vec();
            conditions.retain(|c| str_at(c, &["type"]) != Some("Ready"));
            conditions.push(pod_condition("Ready", wanted, &now_s, None));
            set(&mut status, &["conditions"], Value::Array(conditions));
            Some(status)
        }
        _ => None,
    }
}

/// The status for a pod no node can take: phase Pending and condition
/// `PodScheduled=False`, reason `Unschedulable`, with `message`.
pub fn unschedulable_status(message: &str, now: Timestamp) -> Value {
    let mut cond = pod_condition(
        "PodScheduled",
        "False",
        &format_time(now),
        Some("Unschedulable"),
    );
    set(&mut cond, &["message"], json!(message));
    json!({ "phase": "Pending", "conditions": [cond] })
}

/// Like [`unschedulable_status`] for a particular pod, but `None` when the
/// pod already carries that exact condition; otherwise the pod's status with
/// the condition replaced (keeping `lastTransitionTime` if it was already
/// unschedulable), so the driver writes only real changes.
pub fn pod_unschedulable_status(pod: &Value, message: &str, now: Timestamp) -> Option<Value> {
    let old = condition(pod, "PodScheduled");
    let field = |k: &str| old.and_then(|c| str_at(c, &[k]));
    let already_false = field("status") == Some("False");
    if already_false
        && field("reason") == Some("Unschedulable")
        && field("message") == Some(message)
    {
        return None;
    }
    let since = match field("lastTransitionTime") {
        Some(t) if already_false => t.to_owned(),
        _ => format_time(now),
    };
    let mut cond = pod_condition("PodScheduled", "False", &since, Some("Unschedulable"));
    set(&mut cond, &["message"], json!(message));
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conditions = array_at(pod, &["status", "conditions"]).to_vec();
    conditions.retain(|c| str_at(c, &["type"]) != Some("PodScheduled"));
    conditions.push(cond);
    set(&mut status, &["phase"], json!("Pending"));
    set(&mut status, &["qosClass"], json!(qos_class(pod)));
    set(&mut status, &["conditions"], Value::Array(conditions));
    Some(status)
}

/// Whether the simulated kubelet is done stopping a pod being deleted gracefully, so it
/// removes the pod (upstream's kubelet deletes it with grace period 0 once its containers have
/// stopped, `status_manager.go`). The deletion was asked at `deletionTimestamp` minus
/// `deletionGracePeriodSeconds`; the containers take the grace period, or `stop_delay` when
/// shorter (a simulator need not wait 30 seconds). `None` for a pod not being deleted.
pub fn termination_done(pod: &Value, now: Timestamp, stop_delay: SignedDuration) -> Option<bool> {
    termination_due(pod, stop_delay).map(|due| now >= due)
}

/// When the containers of a pod being deleted have stopped (see [`termination_done`]).
fn termination_due(pod: &Value, stop_delay: SignedDuration) -> Option<Timestamp> {
    let deadline = parse_time(pod.pointer("/metadata/deletionTimestamp"))?;
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0);
    let asked = deadline
        .checked_sub(SignedDuration::from_secs(grace))
        .unwrap_or(deadline);
    let due = asked
        .checked_add(stop_delay.min(SignedDuration::from_secs(grace)))
        .unwrap_or(deadline);
    Some(due)
}

/// When [`advance_pod`] or [`termination_done`] may next answer otherwise for `pod` with only
/// time passing: a bound pod starting, a Job pod completing, a deleted pod's containers
/// stopping. `None` when only a change of the pod or of its node can move it on (or it moves
/// on at once). A driver sleeps until then rather than re-reading every pod on a timer.
pub fn next_transition(
    pod: &Value,
    now: Timestamp,
    start_delay: SignedDuration,
    job_run_duration: SignedDuration,
    stop_delay: SignedDuration,
) -> Option<Timestamp> {
    let later = |due: Option<Timestamp>| due.filter(|d| *d > now);
    if is_terminating(pod) {
        return later(termination_due(pod, stop_delay));
    }
    node_name(pod)?;
    match phase(pod) {
        "Pending" => {
            let scheduled = condition_true(pod, "PodScheduled")
                .then(|| condition(pod, "PodScheduled"))
                .flatten()
                .and_then(|c| parse_time(c.get("lastTransitionTime")))?;
            later(scheduled.checked_add(start_delay).ok())
        }
        "Running" if is_job_pod(pod) => {
            let since = running_since(pod).unwrap_or(now);
            later(since.checked_add(job_run_duration).ok())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
