use super::*;
use crate::json::s;
use crate::testutil::plain;
use serde_json::{Value, json};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn keys(taints: &[Value]) -> Vec<String> {
    taints
        .iter()
        .map(|t| format!("{}:{}", s(t, "/key"), s(t, "/effect")))
        .collect()
}

// The fixtures are JSON; these read the cluster into the typed API and give JSON back.
fn cluster_conditions(
    c: &Value,
    last: Option<Timestamp>,
    now: Timestamp,
    grace: SignedDuration,
) -> (Value, Vec<Value>) {
    let (ready, taints) = super::cluster_conditions(
        &serde_json::from_value(c.clone()).unwrap(),
        last,
        now,
        grace,
    );
    (
        serde_json::to_value(ready).unwrap(),
        taints
            .iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect(),
    )
}

fn assess_eviction_tasks(
    binding: &Value,
    now: Timestamp,
    timeout: SignedDuration,
) -> (Vec<GracefulEvictionTask>, Vec<String>) {
    super::assess_eviction_tasks(
        &serde_json::from_value(binding.clone()).unwrap(),
        now,
        timeout,
    )
}

fn failover_taints(c: &Value, now: Timestamp, timeout: SignedDuration) -> Vec<Value> {
    super::failover_taints(&serde_json::from_value(c.clone()).unwrap(), now, timeout)
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect()
}

const GRACE: SignedDuration = SignedDuration::from_secs(40);

#[test]
fn ready_while_reporting_unknown_after_grace_and_back() {
    let mut c = plain("m1");
    let now = t("2025-06-01T00:00:30Z");
    let (ready, taints) = cluster_conditions(&c, Some(t("2025-06-01T00:00:00Z")), now, GRACE);
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["reason"], "ClusterReady");
    // Unchanged status keeps its transition time.
    assert_eq!(ready["lastTransitionTime"], "2025-05-01T00:00:00Z");
    assert!(taints.is_empty());

    let late = t("2025-06-01T00:01:00Z");
    let (ready, taints) = cluster_conditions(&c, Some(t("2025-06-01T00:00:00Z")), late, GRACE);
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "ClusterStatusUnknown");
    assert_eq!(ready["lastTransitionTime"], "2025-06-01T00:01:00Z");
    assert_eq!(keys(&taints), ["cluster.karmada.io/unreachable:NoSchedule"]);
    assert_eq!(taints[0]["timeAdded"], "2025-06-01T00:01:00Z");

    // Stays Unknown without moving; the taint is not added twice.
    c["status"]["conditions"] = json!([ready]);
    c["spec"]["taints"] = json!(taints);
    let (again, taints2) = cluster_conditions(
        &c,
        Some(t("2025-06-01T00:00:00Z")),
        t("2025-06-01T00:05:00Z"),
        GRACE,
    );
    assert_eq!(again["lastTransitionTime"], "2025-06-01T00:01:00Z");
    assert_eq!(taints2, taints);

    // Recovery removes it.
    let (back, taints3) = cluster_conditions(
        &c,
        Some(t("2025-06-01T00:05:00Z")),
        t("2025-06-01T00:05:01Z"),
        GRACE,
    );
    assert_eq!(back["status"], "True");
    assert_eq!(back["lastTransitionTime"], "2025-06-01T00:05:01Z");
    assert!(taints3.is_empty());
}

#[test]
fn reporter_false_stands_and_never_reported_clusters() {
    let mut c = plain("m1");
    c["status"]["conditions"][0]["status"] = json!("False");
    c["spec"]["taints"] = json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]);
    let now = t("2025-06-01T00:00:10Z");
    let (ready, taints) = cluster_conditions(&c, Some(t("2025-06-01T00:00:00Z")), now, GRACE);
    assert_eq!(ready["status"], "False");
    assert_eq!(
        keys(&taints),
        [
            "dedicated:NoSchedule",
            "cluster.karmada.io/not-ready:NoSchedule"
        ]
    );

    let mut fresh = plain("new");
    fresh["status"] = json!({});
    fresh["metadata"]["creationTimestamp"] = json!("2025-06-01T00:00:00Z");
    let (ready, taints) = cluster_conditions(&fresh, None, now, GRACE);
    assert_eq!(ready["reason"], "ClusterStatusNeverUpdated");
    assert_eq!(keys(&taints), ["cluster.karmada.io/not-ready:NoSchedule"]);
    let (ready, taints) = cluster_conditions(&fresh, None, t("2025-06-01T00:10:00Z"), GRACE);
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(keys(&taints), ["cluster.karmada.io/unreachable:NoSchedule"]);
}

#[test]
fn failover_taints_after_the_eviction_timeout() {
    let mut c = plain("m1");
    c["status"]["conditions"][0] = json!({"type": "Ready", "status": "Unknown", "reason": "ClusterStatusUnknown",
        "message": "", "lastTransitionTime": "2025-06-01T00:00:00Z"});
    let timeout = SignedDuration::from_secs(60);
    assert!(failover_taints(&c, t("2025-06-01T00:00:30Z"), timeout).is_empty());
    let taints = failover_taints(&c, t("2025-06-01T00:01:00Z"), timeout);
    assert_eq!(keys(&taints), ["cluster.karmada.io/unreachable:NoExecute"]);
    c["spec"]["taints"] = json!(taints);
    c["status"]["conditions"][0]["status"] = json!("True");
    assert!(failover_taints(&c, t("2025-06-01T00:02:00Z"), timeout).is_empty());
}

#[test]
fn eviction_follows_tolerations() {
    let tolerations: Vec<Toleration> = serde_json::from_value(
        crate::testutil::seed_pp()["spec"]["placement"]["clusterTolerations"].clone(),
    )
    .unwrap();
    let tolerations = tolerations.as_slice();
    let taints: Vec<Taint> = serde_json::from_value(json!([{"key": "cluster.karmada.io/unreachable", "effect": "NoExecute", "timeAdded": "2025-06-01T00:00:00Z"}])).unwrap();
    let taints = taints.as_slice();
    assert_eq!(
        eviction(tolerations, &[], t("2025-06-01T00:00:00Z")),
        Eviction::Never
    );
    assert_eq!(
        eviction(tolerations, taints, t("2025-06-01T00:01:00Z")),
        Eviction::At(t("2025-06-01T00:05:00Z"))
    );
    assert_eq!(
        eviction(tolerations, taints, t("2025-06-01T00:06:00Z")),
        Eviction::Now
    );
    assert_eq!(
        eviction(&[], taints, t("2025-06-01T00:01:00Z")),
        Eviction::Now
    );
    let forever: [Toleration; 1] = [serde_json::from_value(
        json!({"key": "cluster.karmada.io/unreachable", "operator": "Exists"}),
    )
    .unwrap()];
    assert_eq!(
        eviction(&forever, taints, t("2025-06-01T00:06:00Z")),
        Eviction::Never
    );
    // NoSchedule taints never evict.
    let soft: [Taint; 1] = [serde_json::from_value(
        json!({"key": "cluster.karmada.io/unreachable", "effect": "NoSchedule"}),
    )
    .unwrap()];
    assert_eq!(
        eviction(&[], &soft, t("2025-06-01T00:06:00Z")),
        Eviction::Never
    );
}

#[test]
fn evict_and_assess_tasks() {
    let now = t("2025-06-01T00:00:00Z");
    let mut typed: BindingSpec = serde_json::from_value(
        json!({"clusters": [{"name": "m1", "replicas": 1}, {"name": "m2", "replicas": 2}]}),
    )
    .unwrap();
    assert!(evict_cluster(&mut typed, "m2", now));
    assert!(!evict_cluster(&mut typed, "m3", now));
    let spec = serde_json::to_value(&typed).unwrap();
    assert_eq!(spec["clusters"], json!([{"name": "m1", "replicas": 1}]));
    assert_eq!(
        spec["gracefulEvictionTasks"],
        json!([{"fromCluster": "m2", "purgeMode": "Gracefully",
        "reason": "TaintUntolerated", "producer": "TaintManager", "creationTimestamp": "2025-06-01T00:00:00Z", "replicas": 2}])
    );

    let mut binding = json!({"spec": spec, "status": {"conditions": [{"type": "Scheduled", "status": "True"}],
        "aggregatedStatus": [{"clusterName": "m1", "health": "Unhealthy"}]}});
    let ten = SignedDuration::from_secs(600);
    let (kept, done) = assess_eviction_tasks(&binding, t("2025-06-01T00:01:00Z"), ten);
    assert_eq!((kept.len(), done.len()), (1, 0));
    binding["status"]["aggregatedStatus"][0]["health"] = json!("Healthy");
    let (kept, done) = assess_eviction_tasks(&binding, t("2025-06-01T00:01:00Z"), ten);
    assert_eq!((kept.len(), done), (0, vec!["m2".to_string()]));
    binding["status"]["aggregatedStatus"][0]["health"] = json!("Unhealthy");
    let (_, done) = assess_eviction_tasks(&binding, t("2025-06-01T00:11:00Z"), ten);
    assert_eq!(done, ["m2"]);
}
