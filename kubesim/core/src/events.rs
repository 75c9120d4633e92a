//! core/v1 Events as the controllers, the scheduler and the kubelet record them, and the
//! recorder's aggregation: a repeat of the same event (same source, object, type, reason and
//! message) bumps `count` and `lastTimestamp` of the stored one instead of adding another, and a
//! per-object token bucket drops what a crash loop would otherwise write without end.
//! Follows client-go's `tools/record/events_cache.go` (`EventCorrelator`: the LRU of 4096
//! entries, `eventKey`, the spam filter's burst of 25 refilled once per 5 minutes) and
//! `tools/record/event.go` (`makeEvent`: the name `<object>.<unix nanos in hex>`).
//! Pure: time is passed in.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::json::{array_at, format_time, name, namespace, nonempty_str_at, str_at};

/// The object an event is about (`involvedObject`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// `apiVersion` of the object.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// A part of it (`spec.containers{name}`), or empty.
    pub field_path: String,
}

impl ObjectRef {
    /// The reference to `obj` (its own `apiVersion` and `kind`, or the given defaults).
    pub fn to(obj: &Value, api_version: &str, kind: &str) -> ObjectRef {
        let cluster_scoped = matches!(kind, "Node" | "Namespace");
        ObjectRef {
            api_version: nonempty_str_at(obj, &["apiVersion"])
                .unwrap_or(api_version)
                .to_owned(),
            kind: nonempty_str_at(obj, &["kind"]).unwrap_or(kind).to_owned(),
            namespace: if cluster_scoped {
                String::new()
            } else {
                namespace(obj).to_owned()
            },
            name: name(obj).to_owned(),
            uid: str_at(obj, &["metadata", "uid"]).unwrap_or("").to_owned(),
            field_path: String::new(),
        }
    }

    /// The same object, narrowed to a container (`spec.containers{name}`).
    pub fn container(&self, container: &str) -> ObjectRef {
        ObjectRef {
            field_path: format!("spec.containers{{{container}}}"),
            ..self.clone()
        }
    }
}

/// One occurrence to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What it is about.
    pub regarding: ObjectRef,
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// Upstream's reason (`Scheduled`, `ScalingReplicaSet`, …).
    pub reason: &'static str,
    /// Upstream's message.
    pub message: String,
    /// `source.component` (`deployment-controller`, `default-scheduler`, `kubelet`, …).
    pub component: &'static str,
    /// `source.host` (the kubelet's node), or empty.
    pub host: String,
}

impl Event {
    /// A `Normal` event.
    pub fn normal(
        regarding: ObjectRef,
        component: &'static str,
        reason: &'static str,
        message: String,
    ) -> Event {
        Event {
            regarding,
            warning: false,
            reason,
            message,
            component,
            host: String::new(),
        }
    }

    /// A `Warning` event.
    pub fn warning(
        regarding: ObjectRef,
        component: &'static str,
        reason: &'static str,
        message: String,
    ) -> Event {
        Event {
            warning: true,
            ..Event::normal(regarding, component, reason, message)
        }
    }

    /// Recorded by the kubelet of `node`.
    pub fn on_host(mut self, node: &str) -> Event {
        self.host = node.to_owned();
        self
    }

    fn kind(&self) -> &'static str {
        if self.warning { "Warning" } else { "Normal" }
    }

    /// The namespace the event is stored in: its object's, `default` for cluster-scoped ones.
    pub fn namespace(&self) -> &str {
        if self.regarding.namespace.is_empty() {
            "default"
        } else {
            &self.regarding.namespace
        }
    }
}

/// What the driver writes for one recorded event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventWrite {
    /// Create this core/v1 Event.
    Create(Value),
    /// Merge-patch the stored event `name` in `namespace` (a repeat).
    Patch {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// `{count, lastTimestamp}`.
        patch: Value,
    },
}

/// Entries kept for aggregation (client-go's `maxLruCacheEntries`).
const CACHE_ENTRIES: usize = 4096;
/// Events an object may get at once (client-go's `defaultSpamBurst`).
const SPAM_BURST: f64 = 25.0;
/// Seconds to earn one more (client-go's `defaultSpamQPS` of 1/300).
const SPAM_REFILL_SECS: f64 = 300.0;

/// What makes two events the same (client-go's `getEventKey`): source, object (with field
/// path), type, reason, message.
type EventKey = (String, ObjectRef, String, &'static str, String);

/// The aggregating recorder; one per simulated cluster.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Stored events by identity: name, count.
    seen: HashMap<EventKey, (String, i64)>,
    /// Token buckets by source and object: tokens, last refill.
    buckets: HashMap<(String, ObjectRef), (f64, Timestamp)>,
    /// Added to the time in new events' names: one pass records many at the same `now`.
    sequence: u32,
}

impl Recorder {
    /// A recorder remembering nothing yet.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The write that records `ev` at `now`, or `None` when the spam filter drops it.
    pub fn record(&mut self, ev: Event, now: Timestamp) -> Option<EventWrite> {
        let mut object = ev.regarding.clone();
        object.field_path.clear();
        let source = format!("{}/{}", ev.component, ev.host);
        if self.buckets.len() >= CACHE_ENTRIES {
            self.buckets.clear();
        }
        let bucket = self
            .buckets
            .entry((source.clone(), object))
            .or_insert((SPAM_BURST, now));
        let earned = now.duration_since(bucket.1).as_secs_f64() / SPAM_REFILL_SECS;
        bucket.0 = (bucket.0 + earned.max(0.0)).min(SPAM_BURST);
        bucket.1 = now;
        if bucket.0 < 1.0 {
            return None;
        }
        bucket.0 -= 1.0;
        let key = (
            source,
            ev.regarding.clone(),
            ev.kind().to_owned(),
            ev.reason,
            ev.message.clone(),
        );
        let stamp = format_time(now);
        if let Some((name, count)) = self.seen.get_mut(&key) {
            *count += 1;
            return Some(EventWrite::Patch {
                namespace: ev.namespace().to_owned(),
                name: name.clone(),
                patch: json!({"count": *count, "lastTimestamp": stamp}),
            });
        }
        if self.seen.len() >= CACHE_ENTRIES {
            self.seen.clear();
        }
        self.sequence = self.sequence.wrapping_add(1);
        let nanos = now.as_nanosecond() + i128::from(self.sequence);
        let name = format!("{}.{nanos:x}", ev.regarding.name);
        self.seen.insert(key, (name.clone(), 1));
        Some(EventWrite::Create(event_object(&ev, &name, &stamp)))
    }

    /// Forgets a stored event (it expired or a patch found it gone), so a repeat creates it anew.
    pub fn forget(&mut self, name: &str) {
        self.seen.retain(|_, (n, _)| n != name);
    }
}

/// The core/v1 Event object for the first occurrence of `ev`.
fn event_object(ev: &Event, name: &str, stamp: &str) -> Value {
    let r = &ev.regarding;
    let mut involved = json!({
        "apiVersion": r.api_version,
        "kind": r.kind,
        "name": r.name,
    });
    for (k, v) in [
        ("namespace", &r.namespace),
        ("uid", &r.uid),
        ("fieldPath", &r.field_path),
    ] {
        if !v.is_empty() {
            involved[k] = json!(v);
        }
    }
    let mut source = json!({"component": ev.component});
    if !ev.host.is_empty() {
        source["host"] = json!(ev.host);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ev.namespace()},
        "involvedObject": involved,
        "reason": ev.reason,
        "message": ev.message,
        "source": source,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": ev.kind(),
        "eventTime": null,
        "reportingComponent": ev.component,
        "reportingInstance": ev.host,
    })
}

/// Whether a stored event is older than `ttl_secs` at `now` (by `lastTimestamp`, else
/// `eventTime`, else its creation): kube-apiserver keeps events for `--event-ttl`, 1 h.
pub fn expired(event: &Value, now: Timestamp, ttl_secs: i64) -> bool {
    let last = ["lastTimestamp", "eventTime"]
        .iter()
        .find_map(|k| str_at(event, &[k]))
        .or_else(|| str_at(event, &["metadata", "creationTimestamp"]))
        .and_then(|s| s.parse::<Timestamp>().ok());
    last.is_some_and(|t| now.duration_since(t).as_secs() >= ttl_secs)
}

/// The controller owning `pod` as an event reference, with the component that records for it.
fn pod_owner(pod: &Value) -> Option<(ObjectRef, &'static str)> {
    let owner = array_at(pod, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    let kind = str_at(owner, &["kind"])?;
    let component = match kind {
        "ReplicaSet" => "replicaset-controller",
        "StatefulSet" => "statefulset-controller",
        "DaemonSet" => "daemonset-controller",
        "Job" => "job-controller",
        _ => return None,
    };
    let r = ObjectRef {
        api_version: str_at(owner, &["apiVersion"]).unwrap_or("").to_owned(),
        kind: kind.to_owned(),
        namespace: namespace(pod).to_owned(),
        name: str_at(owner, &["name"]).unwrap_or("").to_owned(),
        uid: str_at(owner, &["uid"]).unwrap_or("").to_owned(),
        field_path: String::new(),
    };
    Some((r, component))
}

/// `SuccessfulCreate` on the controller of a pod it created (`replica_set.go`,
/// `job_controller.go`, `daemon_controller.go`: "Created pod: x"; `stateful_pod_control.go`:
/// "create Pod x in StatefulSet y successful").
pub fn pod_created(pod: &Value) -> Option<Event> {
    pod_written(pod, "SuccessfulCreate", "create", "Created")
}

/// `SuccessfulDelete` on the controller of a pod it deleted.
pub fn pod_deleted(pod: &Value) -> Option<Event> {
    pod_written(pod, "SuccessfulDelete", "delete", "Deleted")
}

fn pod_written(pod: &Value, reason: &'static str, verb: &str, done: &str) -> Option<Event> {
    let (owner, component) = pod_owner(pod)?;
    let message = if owner.kind == "StatefulSet" {
        format!(
            "{verb} Pod {} in StatefulSet {} successful",
            name(pod),
            owner.name
        )
    } else {
        format!("{done} pod: {}", name(pod))
    };
    Some(Event::normal(owner, component, reason, message))
}

/// `FailedCreate` on the controller of a pod the API server refused (`controller_utils.go`
/// `CreatePods`: "Error creating: <error>"; `stateful_pod_control.go`: "create Pod x in
/// StatefulSet y failed error: <error>").
pub fn pod_create_failed(pod: &Value, error: &str) -> Option<Event> {
    let (owner, component) = pod_owner(pod)?;
    let message = if owner.kind == "StatefulSet" {
        format!(
            "create Pod {} in StatefulSet {} failed error: {error}",
            name(pod),
            owner.name
        )
    } else {
        format!("Error creating: {error}")
    };
    Some(Event::warning(owner, component, "FailedCreate", message))
}

/// The scheduler's `Scheduled` ("Successfully assigned ns/pod to node", `schedule_one.go`).
pub fn scheduled(pod: &Value, node: &str) -> Event {
    let message = format!(
        "Successfully assigned {}/{} to {node}",
        namespace(pod),
        name(pod)
    );
    Event::normal(
        ObjectRef::to(pod, "v1", "Pod"),
        "default-scheduler",
        "Scheduled",
        message,
    )
}

/// The scheduler's `FailedScheduling` with the fit error ("0/3 nodes are available: …").
pub fn failed_scheduling(pod: &Value, message: &str) -> Event {
    Event::warning(
        ObjectRef::to(pod, "v1", "Pod"),
        "default-scheduler",
        "FailedScheduling",
        message.to_owned(),
    )
}

/// Whether the kubelet pulls `image` every time: policy `Always`, or unset with no tag or
/// `:latest` (the apiserver's default).
fn pulls_always(container: &Value) -> bool {
    match str_at(container, &["imagePullPolicy"]) {
        Some(p) => p == "Always",
        None => {
            let image = str_at(container, &["image"]).unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or(image);
            !last.contains(':') && !last.contains('@') || last.ends_with(":latest")
        }
    }
}

/// The kubelet's events for containers starting (`kuberuntime_container.go`,
/// `images/image_manager.go`): `Pulling`/`Pulled` (or `Pulled` "already present on machine"),
/// `Created`, `Started`, per container, init containers first.
pub fn containers_started(pod: &Value, node: &str, pull_took: &str) -> Vec<Event> {
    let pod_ref = ObjectRef::to(pod, "v1", "Pod");
    let mut out = Vec::new();
    for key in ["initContainers", "containers"] {
        for c in array_at(pod, &["spec", key]) {
            let cname = str_at(c, &["name"]).unwrap_or("");
            let image = str_at(c, &["image"]).unwrap_or("");
            let r = pod_ref.clone();
            let r = ObjectRef {
                field_path: format!("spec.{key}{{{cname}}}"),
                ..r
            };
            let ev = |reason, message: String| {
                Event::normal(r.clone(), "kubelet", reason, message).on_host(node)
            };
            if pulls_always(c) {
                out.push(ev("Pulling", format!("Pulling image \"{image}\"")));
                out.push(ev(
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {pull_took} ({pull_took} including waiting)"
                    ),
                ));
            } else {
                out.push(ev(
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                ));
            }
            out.push(ev("Created", format!("Created container {cname}")));
            out.push(ev("Started", format!("Started container {cname}")));
        }
    }
    out
}

/// The kubelet's `Killing` ("Stopping container x") for each container of a pod being deleted.
pub fn containers_killed(pod: &Value, node: &str) -> Vec<Event> {
    let pod_ref = ObjectRef::to(pod, "v1", "Pod");
    array_at(pod, &["spec", "containers"])
        .iter()
        .map(|c| {
            let cname = str_at(c, &["name"]).unwrap_or("");
            Event::normal(
                pod_ref.container(cname),
                "kubelet",
                "Killing",
                format!("Stopping container {cname}"),
            )
            .on_host(node)
        })
        .collect()
}

/// The Job controller's event when `new_status` finishes a Job that was not finished
/// (`job_controller.go`: `Completed` "Job completed", or the failure's reason and message,
/// e.g. `BackoffLimitExceeded` "Job has reached the specified backoff limit").
pub fn job_finished(job: &Value, new_status: &Value) -> Option<Event> {
    let true_cond = |status: &Value, kind: &str| {
        array_at(status, &["conditions"])
            .iter()
            .find(|c| str_at(c, &["type"]) == Some(kind) && str_at(c, &["status"]) == Some("True"))
            .cloned()
    };
    let old = job.get("status").unwrap_or(&Value::Null);
    let r = ObjectRef::to(job, "batch/v1", "Job");
    if true_cond(new_status, "Complete").is_some() && true_cond(old, "Complete").is_none() {
        return Some(Event::normal(
            r,
            "job-controller",
            "Completed",
            "Job completed".into(),
        ));
    }
    let failed = true_cond(new_status, "Failed")?;
    if true_cond(old, "Failed").is_some() {
        return None;
    }
    let reason = match str_at(&failed, &["reason"]) {
        Some("DeadlineExceeded") => "DeadlineExceeded",
        _ => "BackoffLimitExceeded",
    };
    let message = str_at(&failed, &["message"])
        .unwrap_or("Job has reached the specified backoff limit")
        .to_owned();
    Some(Event::warning(r, "job-controller", reason, message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod_ref() -> ObjectRef {
        ObjectRef::to(
            &json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}),
            "v1",
            "Pod",
        )
    }

    #[test]
    fn repeats_are_counted_not_added() {
        let mut r = Recorder::new();
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let ev = Event::warning(pod_ref(), "kubelet", "BackOff", "Back-off".into());
        let Some(EventWrite::Create(obj)) = r.record(ev.clone(), t0) else {
            panic!("first occurrence creates");
        };
        assert_eq!(obj["involvedObject"]["uid"], "u1");
        assert_eq!(obj["type"], "Warning");
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        assert!(name.starts_with("p."));
        // Another event at the same instant gets another name.
        let other = Event::normal(pod_ref(), "kubelet", "Started", "Started".into());
        let Some(EventWrite::Create(second)) = r.record(other, t0) else {
            panic!("a different event creates");
        };
        assert_ne!(second["metadata"]["name"], name.as_str());
        match r.record(ev, t0) {
            Some(EventWrite::Patch { name: n, patch, .. }) => {
                assert_eq!(n, name);
                assert_eq!(patch["count"], 2);
            }
            other => panic!("repeat patches: {other:?}"),
        }
    }

    #[test]
    fn spam_filter_bounds_a_crash_loop() {
        let mut r = Recorder::new();
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let writes = (0..100)
            .filter_map(|i| {
                let ev = Event::warning(pod_ref(), "kubelet", "BackOff", format!("try {i}"));
                r.record(ev, t0)
            })
            .count();
        assert_eq!(writes, 25);
        let later = t0
            .checked_add(jiff::SignedDuration::from_secs(300))
            .unwrap();
        let ev = Event::warning(pod_ref(), "kubelet", "BackOff", "again".into());
        assert!(r.record(ev.clone(), later).is_some());
        assert!(r.record(ev, later).is_none());
    }

    #[test]
    fn a_job_is_reported_finished_once() {
        let job = json!({"metadata": {"name": "j", "namespace": "ns"}, "status": {}});
        let done = json!({"conditions": [{"type": "Complete", "status": "True"}]});
        let ev = job_finished(&job, &done).unwrap();
        assert_eq!(
            (ev.reason, ev.message.as_str()),
            ("Completed", "Job completed")
        );
        let mut finished = job.clone();
        finished["status"] = done.clone();
        assert!(job_finished(&finished, &done).is_none());
        let failed = json!({"conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]});
        assert!(job_finished(&job, &failed).unwrap().warning);
    }

    #[test]
    fn expiry_follows_last_timestamp() {
        let now: Timestamp = "2024-01-01T02:00:00Z".parse().unwrap();
        assert!(expired(
            &json!({"lastTimestamp": "2024-01-01T00:59:59Z"}),
            now,
            3600
        ));
        assert!(!expired(
            &json!({"lastTimestamp": "2024-01-01T01:30:00Z"}),
            now,
            3600
        ));
    }
}
