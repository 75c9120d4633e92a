use super::*;
use crate::testutil::nginx;

// The fixtures are JSON; these read them into the typed API and give the status back as JSON.
fn aggregate<W: std::borrow::Borrow<Value>>(binding: &Value, works: &[W], now: Timestamp) -> Value {
    let works: Vec<Work> = works
        .iter()
        .map(|w| serde_json::from_value(w.borrow().clone()).unwrap())
        .collect();
    let binding: ResourceBinding = serde_json::from_value(binding.clone()).unwrap();
    serde_json::to_value(super::aggregate(&binding, &works, now)).unwrap()
}

fn template_status(template: &Value, items: &[Value], now: Timestamp) -> Option<Value> {
    let items: Vec<AggregatedStatusItem> = items
        .iter()
        .map(|i| serde_json::from_value(i.clone()).unwrap())
        .collect();
    super::template_status(template, &items, now)
}

fn now() -> Timestamp {
    "2025-05-30T09:52:51Z".parse().unwrap()
}

/// A Work for one seed cluster, applied, reporting `replicas` ready replicas.
fn work(cluster: &str, replicas: i64, applied: Option<&str>) -> Value {
    let mut manifest = nginx();
    manifest["spec"]["replicas"] = json!(replicas);
    let mut w = json!({
        "apiVersion": "work.karmada.io/v1alpha1",
        "kind": "Work",
        "metadata": {"name": "nginx-687f7fb96f", "namespace": format!("karmada-es-{cluster}")},
        "spec": {"workload": {"manifests": [manifest]}},
        "status": {"manifestStatuses": [{
            "identifier": {"ordinal": 0, "group": "apps", "version": "v1", "kind": "Deployment",
                "resource": "deployments", "namespace": "default", "name": "nginx"},
            "status": {"availableReplicas": replicas, "generation": 1, "observedGeneration": 1,
                "readyReplicas": replicas, "replicas": replicas, "resourceTemplateGeneration": 2,
                "updatedReplicas": replicas},
            "health": "Healthy",
        }]},
    });
    if let Some(status) = applied {
        w["status"]["conditions"] = json!([{"type": "Applied", "status": status, "reason": "AppliedSuccessful",
            "message": if status == "True" { "Manifest has been successfully applied" } else { "boom" },
            "lastTransitionTime": "2025-05-30T09:52:51Z"}]);
    }
    w
}

fn seed_binding() -> Value {
    let mut rb = crate::testutil::seed_binding();
    rb["spec"]["clusters"] = json!([{"name": "cce-cceone-demo2", "replicas": 2}, {"name": "cce-cceone-demo1", "replicas": 1}]);
    rb["status"] = json!({
        "conditions": [{"type": "Scheduled", "status": "True", "reason": "Success",
            "message": "Binding has been scheduled successfully.", "lastTransitionTime": "2025-05-30T09:52:51Z"}],
        "schedulerObservedGeneration": 2,
    });
    rb
}

#[test]
fn seed_aggregation_matches_the_seed() {
    let works = [
        work("cce-cceone-demo2", 2, Some("True")),
        work("cce-cceone-demo1", 1, Some("True")),
    ];
    let status = aggregate(&seed_binding(), &works, now());
    assert_eq!(
        status["aggregatedStatus"],
        json!([
            {"applied": true, "clusterName": "cce-cceone-demo1", "health": "Healthy",
             "status": {"availableReplicas": 1, "generation": 1, "observedGeneration": 1, "readyReplicas": 1,
                        "replicas": 1, "resourceTemplateGeneration": 2, "updatedReplicas": 1}},
            {"applied": true, "clusterName": "cce-cceone-demo2", "health": "Healthy",
             "status": {"availableReplicas": 2, "generation": 1, "observedGeneration": 1, "readyReplicas": 2,
                        "replicas": 2, "resourceTemplateGeneration": 2, "updatedReplicas": 2}},
        ])
    );
    assert_eq!(
        status["conditions"],
        json!([
            {"lastTransitionTime": "2025-05-30T09:52:51Z", "message": "Binding has been scheduled successfully.",
             "reason": "Success", "status": "True", "type": "Scheduled"},
            {"lastTransitionTime": "2025-05-30T09:52:51Z", "message": "All works have been successfully applied",
             "reason": "FullyAppliedSuccess", "status": "True", "type": "FullyApplied"},
        ])
    );
    assert_eq!(status["schedulerObservedGeneration"], 2);

    // ... and the template reads 3/3.
    let mut t = nginx();
    t["status"] =
        json!({"observedGeneration": 1, "conditions": [{"type": "Available", "status": "True"}]});
    let st = template_status(&t, crate::json::arr(&status, "/aggregatedStatus"), now()).unwrap();
    assert_eq!(st["replicas"], 3);
    assert_eq!(st["readyReplicas"], 3);
    assert_eq!(st["updatedReplicas"], 3);
    assert_eq!(st["availableReplicas"], 3);
    assert_eq!(st["observedGeneration"], 2);
    assert_eq!(st["conditions"][0]["type"], "Available");
}

#[test]
fn not_fully_applied_until_every_target_is() {
    let later: Timestamp = "2025-05-30T10:00:00Z".parse().unwrap();
    let missing = aggregate(
        &seed_binding(),
        &[work("cce-cceone-demo1", 1, Some("True"))],
        now(),
    );
    assert_eq!(missing["conditions"][1]["status"], "False");
    assert_eq!(missing["conditions"][1]["reason"], "FullyAppliedFailed");
    let failed = aggregate(
        &seed_binding(),
        &[
            work("cce-cceone-demo1", 1, Some("True")),
            work("cce-cceone-demo2", 2, Some("False")),
        ],
        now(),
    );
    assert_eq!(
        failed["aggregatedStatus"][1],
        json!({"applied": false, "appliedMessage": "boom",
        "clusterName": "cce-cceone-demo2", "health": "Unknown"})
    );
    let pending = aggregate(
        &seed_binding(),
        &[
            work("cce-cceone-demo1", 1, Some("True")),
            work("cce-cceone-demo2", 2, None),
        ],
        now(),
    );
    assert_eq!(pending["aggregatedStatus"][1]["applied"], false);
    // The transition time moves only when the status flips.
    let mut b = seed_binding();
    b["status"] = failed.clone();
    let again = aggregate(&b, &[work("cce-cceone-demo1", 1, Some("True"))], later);
    assert_eq!(
        again["conditions"][1]["lastTransitionTime"],
        "2025-05-30T09:52:51Z"
    );
    let ok = aggregate(
        &b,
        &[
            work("cce-cceone-demo1", 1, Some("True")),
            work("cce-cceone-demo2", 2, Some("True")),
        ],
        later,
    );
    assert_eq!(
        ok["conditions"][1]["lastTransitionTime"],
        "2025-05-30T10:00:00Z"
    );
}

#[test]
fn works_outside_execution_spaces_or_without_the_resource_are_skipped() {
    let mut stray = work("x", 1, Some("True"));
    stray["metadata"]["namespace"] = json!("default");
    let mut other = work("cce-cceone-demo1", 1, Some("True"));
    other["spec"]["workload"]["manifests"][0]["metadata"]["name"] = json!("other");
    let mut deleting = work("cce-cceone-demo2", 2, Some("True"));
    deleting["metadata"]["deletionTimestamp"] = json!("2025-05-30T09:52:51Z");
    let st = aggregate(&seed_binding(), &[stray, other, deleting], now());
    assert_eq!(st["aggregatedStatus"], json!([]));
}

#[test]
fn observed_generation_waits_for_every_member() {
    let mut t = nginx();
    t["status"] = json!({"observedGeneration": 1});
    let stale = json!([
        {"clusterName": "a", "applied": true, "status": {"replicas": 1, "generation": 2, "observedGeneration": 2, "resourceTemplateGeneration": 2}},
        {"clusterName": "b", "applied": true, "status": {"replicas": 1, "generation": 2, "observedGeneration": 1, "resourceTemplateGeneration": 2}},
    ]);
    let st = template_status(&t, stale.as_array().unwrap(), now()).unwrap();
    assert_eq!(st["replicas"], 2);
    assert_eq!(st["readyReplicas"], 0);
    assert_eq!(st["observedGeneration"], 1);
}

#[test]
fn statefulset_daemonset_and_unknown_kinds() {
    let items = json!([{"clusterName": "a", "status": {"replicas": 2, "readyReplicas": 2, "currentReplicas": 2}},
                       {"clusterName": "b", "status": {"replicas": 1, "readyReplicas": 0}}]);
    let items = items.as_array().unwrap();
    let sts =
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"generation": 1}});
    let st = template_status(&sts, items, now()).unwrap();
    assert_eq!(
        (st["replicas"].clone(), st["readyReplicas"].clone()),
        (json!(3), json!(2))
    );
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"generation": 1}});
    let dsi = json!([{"clusterName": "a", "status": {"desiredNumberScheduled": 3, "numberReady": 3}},
                     {"clusterName": "b", "status": {"desiredNumberScheduled": 2, "numberReady": 1}}]);
    let st = template_status(&ds, dsi.as_array().unwrap(), now()).unwrap();
    assert_eq!(
        (
            st["desiredNumberScheduled"].clone(),
            st["numberReady"].clone()
        ),
        (json!(5), json!(4))
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
    assert!(template_status(&cm, items, now()).is_none());
}

#[test]
fn jobs_complete_when_every_member_does() {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generation": 1}});
    let done = |c: &str, start: &str, end: &str| {
        json!({"clusterName": c, "status": {"succeeded": 1,
        "startTime": start, "completionTime": end,
        "conditions": [{"type": "Complete", "status": "True"}]}})
    };
    let items = [
        done("a", "2025-01-01T00:00:05Z", "2025-01-01T00:01:00Z"),
        done("b", "2025-01-01T00:00:01Z", "2025-01-01T00:02:00Z"),
    ];
    let st = template_status(&job, &items, now()).unwrap();
    assert_eq!(st["succeeded"], 2);
    assert_eq!(st["conditions"][0]["type"], "Complete");
    assert_eq!(st["startTime"], "2025-01-01T00:00:01Z");
    assert_eq!(st["completionTime"], "2025-01-01T00:02:00Z");
    let running = [
        done("a", "2025-01-01T00:00:05Z", "2025-01-01T00:01:00Z"),
        json!({"clusterName": "b", "status": {"active": 1, "startTime": "2025-01-01T00:00:01Z"}}),
    ];
    let st = template_status(&job, &running, now()).unwrap();
    assert_eq!(st["active"], 1);
    assert!(st.get("conditions").is_none());
    assert!(st.get("completionTime").is_none());
    let mut finished = job.clone();
    finished["status"] = json!({"conditions": [{"type": "Failed", "status": "True"}]});
    assert!(template_status(&finished, &items, now()).is_none());
}

#[test]
fn suspended_condition_follows_the_suspension_and_only_bindings_ever_suspended_carry_it() {
    let suspended = |status: &Value| {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Suspended")
            .cloned()
    };
    let mut rb = seed_binding();
    let plain = aggregate(&rb, &[work("cce-cceone-demo1", 1, Some("True"))], now());
    assert!(suspended(&plain).is_none(), "{plain}");

    rb["spec"]["suspension"] =
        json!({"dispatchingOnClusters": {"clusterNames": ["cce-cceone-demo2"]}});
    let on = aggregate(&rb, &[work("cce-cceone-demo1", 1, Some("True"))], now());
    let c = suspended(&on).unwrap();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("True"), Some("SuspendDispatching"))
    );
    assert!(
        c["message"].as_str().unwrap().contains("cce-cceone-demo2"),
        "{c}"
    );

    rb["spec"]["suspension"] = json!({"dispatching": true, "scheduling": true});
    let all = aggregate(&rb, &[] as &[Value], now());
    let c = suspended(&all).unwrap();
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("scheduling; dispatching to every cluster"),
        "{c}"
    );

    // Lifted: False, kept on the binding that was suspended.
    rb["spec"].as_object_mut().unwrap().remove("suspension");
    rb["status"] = all;
    let lifted = aggregate(&rb, &[] as &[Value], now());
    let c = suspended(&lifted).unwrap();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("Resumed"))
    );
}
