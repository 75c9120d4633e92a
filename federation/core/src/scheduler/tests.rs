use super::*;
use crate::testutil::{cluster, plain, seed_clusters, seed_pp, with_capacity};
use proptest::prelude::*;
use serde_json::json;

// The fixtures are JSON, as users and the API write them; these read them into the typed API
// and call the scheduler with that.
fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap()
}

fn typed_clusters(clusters: &[Value]) -> Vec<Cluster> {
    clusters.iter().map(typed).collect()
}

fn schedule(spec: &Value, clusters: &[Value]) -> Result<Vec<TargetCluster>, ScheduleError> {
    super::schedule(&typed(spec), &typed_clusters(clusters))
}

fn schedule_binding(binding: &Value, clusters: &[Value]) -> Result<ScheduleOutcome, ScheduleError> {
    super::schedule_binding(&typed(binding), &typed_clusters(clusters))
}

fn needs_schedule(binding: &Value, clusters: &[Value]) -> bool {
    super::needs_schedule(&typed(binding), &typed_clusters(clusters))
}

fn scheduled_condition<T>(result: &Result<T, ScheduleError>, now: Timestamp) -> Value {
    serde_json::to_value(super::scheduled_condition(result, now)).unwrap()
}

fn applied_placement(placement: &Value) -> String {
    super::applied_placement(Some(&typed(placement)))
}

fn tc(name: &str, r: i32) -> TargetCluster {
    TargetCluster::new(name, Some(r))
}

fn spec(replicas: i64, placement: Value) -> Value {
    json!({
        "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "nginx"},
        "replicas": replicas,
        "placement": placement,
    })
}

fn weighted(weights: &[(&str, i64)]) -> Value {
    let list: Vec<Value> = weights
        .iter()
        .map(|(n, w)| json!({"targetCluster": {"clusterNames": [n]}, "weight": w}))
        .collect();
    json!({"replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
        "weightPreference": {"staticWeightList": list}}})
}

#[test]
fn seed_scenario_three_replicas_at_one_to_two() {
    let binding = crate::testutil::seed_binding();
    let result = schedule(&binding["spec"], &seed_clusters()).unwrap();
    // Karmada's current Webster division returns clusters by name.
    assert_eq!(
        result,
        vec![tc("cce-cceone-demo1", 1), tc("cce-cceone-demo2", 2)]
    );
    let cond = scheduled_condition(&Ok::<_, ScheduleError>(()), Timestamp::UNIX_EPOCH);
    assert_eq!(cond["reason"], "Success");
    assert_eq!(cond["message"], "Binding has been scheduled successfully.");
}

#[test]
fn two_replicas_at_two_to_one_give_one_each() {
    let clusters = [plain("member1"), plain("member2")];
    let s = spec(2, weighted(&[("member1", 2), ("member2", 1)]));
    assert_eq!(
        schedule(&s, &clusters).unwrap(),
        vec![tc("member1", 1), tc("member2", 1)]
    );
}

#[test]
fn weights_cover_clusters_matched_by_label_and_unmatched_clusters_get_nothing() {
    let clusters = [
        cluster("a", json!({"tier": "gold"}), "", "", &[]),
        cluster("b", json!({"tier": "gold"}), "", "", &[]),
        plain("c"),
    ];
    let placement = json!({"replicaScheduling": {"replicaSchedulingType": "Divided",
        "replicaDivisionPreference": "Weighted", "weightPreference": {"staticWeightList": [
            {"targetCluster": {"labelSelector": {"matchLabels": {"tier": "gold"}}}, "weight": 1}]}}});
    assert_eq!(
        schedule(&spec(4, placement), &clusters).unwrap(),
        vec![tc("a", 2), tc("b", 2)]
    );
    // No weight list: every cluster weighs 1.
    let even = json!({"replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted"}});
    assert_eq!(
        schedule(&spec(3, even), &clusters).unwrap(),
        vec![tc("a", 1), tc("b", 1), tc("c", 1)]
    );
}

#[test]
fn duplicated_gives_every_cluster_all_replicas() {
    let clusters = [plain("m2"), plain("m1")];
    let placement = json!({"replicaScheduling": {"replicaSchedulingType": "Duplicated"}});
    assert_eq!(
        schedule(&spec(3, placement), &clusters).unwrap(),
        vec![tc("m1", 3), tc("m2", 3)]
    );
    // No replicaScheduling at all is Duplicated too.
    assert_eq!(
        schedule(&spec(2, json!({})), &clusters).unwrap(),
        vec![tc("m1", 2), tc("m2", 2)]
    );
}

#[test]
fn non_workloads_go_whole_to_every_cluster() {
    let s = json!({"resource": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default", "name": "c"},
        "placement": {"clusterAffinity": {"exclude": ["m3"]}}});
    let r = schedule(&s, &[plain("m1"), plain("m2"), plain("m3")]).unwrap();
    assert_eq!(
        r,
        vec![
            TargetCluster::new("m1", None),
            TargetCluster::new("m2", None),
        ]
    );
}

#[test]
fn affinity_by_labels_and_fields() {
    let clusters = [
        cluster(
            "hw-north",
            json!({"location": "us"}),
            "huaweicloud",
            "cn-north-1",
            &["z1"],
        ),
        cluster(
            "hw-south",
            json!({"location": "us"}),
            "huaweicloud",
            "cn-south-1",
            &["z2"],
        ),
        cluster(
            "ali",
            json!({"location": "eu"}),
            "aliyun",
            "cn-north-1",
            &["z1", "z3"],
        ),
    ];
    let run = |affinity: Value| -> Vec<String> {
        let s = spec(
            1,
            json!({"clusterAffinity": affinity, "replicaScheduling": {"replicaSchedulingType": "Duplicated"}}),
        );
        schedule(&s, &clusters)
            .map(|r| r.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        run(json!({"labelSelector": {"matchLabels": {"location": "us"}}})),
        ["hw-north", "hw-south"]
    );
    assert_eq!(
        run(
            json!({"labelSelector": {"matchExpressions": [{"key": "location", "operator": "In", "values": ["eu"]}]}})
        ),
        ["ali"]
    );
    assert_eq!(
        run(json!({"fieldSelector": {"matchExpressions": [
            {"key": "provider", "operator": "In", "values": ["huaweicloud"]},
            {"key": "region", "operator": "NotIn", "values": ["cn-south-1"]}]}})),
        ["hw-north"]
    );
    assert_eq!(
        run(
            json!({"fieldSelector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z3"]}]}})
        ),
        ["ali"]
    );
    assert_eq!(
        run(
            json!({"fieldSelector": {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}})
        ),
        ["hw-south"]
    );
    assert_eq!(
        run(json!({"clusterNames": ["ali", "hw-south"], "exclude": ["ali"]})),
        ["hw-south"]
    );
}

#[test]
fn taints_exclude_unless_tolerated() {
    let mut sick = plain("sick");
    sick["spec"]["taints"] =
        json!([{"key": "cluster.karmada.io/unreachable", "effect": "NoSchedule"}]);
    let clusters = [sick, plain("well")];
    let dup = json!({"replicaScheduling": {"replicaSchedulingType": "Duplicated"}});
    assert_eq!(
        schedule(&spec(1, dup.clone()), &clusters).unwrap(),
        vec![tc("well", 1)]
    );
    // The seed's tolerations are for NoExecute and do not cover a NoSchedule taint.
    let mut with_seed = dup.clone();
    with_seed["clusterTolerations"] = seed_pp()["spec"]["placement"]["clusterTolerations"].clone();
    assert_eq!(
        schedule(&spec(1, with_seed), &clusters).unwrap(),
        vec![tc("well", 1)]
    );
    let mut tolerant = dup.clone();
    tolerant["clusterTolerations"] =
        json!([{"key": "cluster.karmada.io/unreachable", "operator": "Exists"}]);
    assert_eq!(
        schedule(&spec(1, tolerant), &clusters).unwrap(),
        vec![tc("sick", 1), tc("well", 1)]
    );
    // A cluster already targeted keeps passing the taint filter (Karmada's TaintToleration).
    let mut s = spec(1, dup);
    s["clusters"] = json!([{"name": "sick", "replicas": 1}]);
    let names: Vec<String> = schedule(&s, &clusters)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["sick", "well"]);
}

#[test]
fn no_cluster_fit_explains_why() {
    let mut sick = plain("sick");
    sick["spec"]["taints"] = json!([{"key": "k", "value": "v", "effect": "NoSchedule"}]);
    let s = spec(
        1,
        json!({"clusterAffinity": {"clusterNames": ["sick", "gone"]}}),
    );
    let err = schedule(&s, &[sick, plain("other")]).unwrap_err();
    assert_eq!(
        err,
        ScheduleError::NoClusterFit("0/2 clusters are available: 1 cluster(s) did not match the placement cluster affinity constraint, 1 cluster(s) had untolerated taint {k=v:NoSchedule}.".into())
    );
    assert_eq!(
        scheduled_condition(&Err::<(), _>(err), Timestamp::UNIX_EPOCH)["reason"],
        "NoClusterFit"
    );
    assert_eq!(
        schedule(&s, &[]).unwrap_err().to_string(),
        "0/0 clusters are available: no cluster exists."
    );
}

#[test]
fn cluster_affinities_fall_back_in_order() {
    let mut primary = plain("local1");
    primary["spec"]["taints"] =
        json!([{"key": "cluster.karmada.io/not-ready", "effect": "NoSchedule"}]);
    let clusters = [primary, plain("cloud1"), plain("cloud2")];
    let placement = json!({
        "clusterAffinities": [
            {"affinityName": "local", "clusterNames": ["local1"]},
            {"affinityName": "cloud", "clusterNames": ["cloud1", "cloud2"]},
        ],
        "replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted"},
    });
    let binding = json!({"spec": spec(4, placement)});
    let out = schedule_binding(&binding, &clusters).unwrap();
    assert_eq!(out.affinity_name.as_deref(), Some("cloud"));
    assert_eq!(out.clusters, vec![tc("cloud1", 2), tc("cloud2", 2)]);
    // Once the binding sits in "cloud" it starts there even when "local" recovers.
    let mut later = binding.clone();
    later["status"] = json!({"schedulerObservingAffinityName": "cloud"});
    let healthy = [plain("local1"), plain("cloud1"), plain("cloud2")];
    assert_eq!(
        schedule_binding(&later, &healthy)
            .unwrap()
            .affinity_name
            .as_deref(),
        Some("cloud")
    );
    assert_eq!(
        schedule_binding(&binding, &healthy)
            .unwrap()
            .affinity_name
            .as_deref(),
        Some("local")
    );
}

#[test]
fn spread_by_cluster_limits_the_count() {
    let clusters = [plain("c"), plain("a"), plain("b")];
    let placement = json!({"replicaScheduling": {"replicaSchedulingType": "Duplicated"},
        "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 2, "minGroups": 1}]});
    assert_eq!(
        schedule(&spec(1, placement), &clusters).unwrap(),
        vec![tc("a", 1), tc("b", 1)]
    );
    let too_many = json!({"spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 5, "minGroups": 4}]});
    assert!(matches!(
        schedule(&spec(1, too_many), &clusters),
        Err(ScheduleError::Scheduler(_))
    ));
}

#[test]
fn spread_by_region_picks_one_cluster_per_region() {
    let clusters = [
        cluster("r1a", json!({}), "", "r1", &[]),
        cluster("r1b", json!({}), "", "r1", &[]),
        cluster("r2a", json!({}), "", "r2", &[]),
        cluster("none", json!({}), "", "", &[]),
    ];
    let placement = json!({"replicaScheduling": {"replicaSchedulingType": "Duplicated"},
        "spreadConstraints": [
            {"spreadByField": "region", "maxGroups": 2, "minGroups": 2},
            {"spreadByField": "cluster", "maxGroups": 2, "minGroups": 2}]});
    let names: Vec<String> = schedule(&spec(1, placement), &clusters)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["r1a", "r2a"]);
}

#[test]
fn dynamic_weights_follow_available_replicas() {
    // The propagation guide's example: available 6, 12, 18 over 12 replicas gives 2, 4, 6.
    let clusters = [
        with_capacity("A", 6, "100"),
        with_capacity("B", 12, "100"),
        with_capacity("C", 18, "100"),
    ];
    let placement = json!({"replicaScheduling": {"replicaSchedulingType": "Divided",
        "replicaDivisionPreference": "Weighted", "weightPreference": {"dynamicWeight": "AvailableReplicas"}}});
    let s = spec(12, placement.clone());
    assert_eq!(
        schedule(&s, &clusters).unwrap(),
        vec![tc("A", 2), tc("B", 4), tc("C", 6)]
    );
    // CPU requests bound the estimate too: 1 core each leaves A room for 2.
    let mut cpu = spec(6, placement.clone());
    cpu["replicaRequirements"] = json!({"resourceRequest": {"cpu": "1"}});
    let tight = [with_capacity("A", 6, "2"), with_capacity("B", 6, "4")];
    assert_eq!(
        schedule(&cpu, &tight).unwrap(),
        vec![tc("A", 2), tc("B", 4)]
    );
    // Scaling up keeps the previous result and places only the difference.
    let mut up = spec(15, placement.clone());
    up["clusters"] = json!([{"name": "A", "replicas": 2}, {"name": "B", "replicas": 4}, {"name": "C", "replicas": 6}]);
    let r = schedule(&up, &clusters).unwrap();
    assert_eq!(r.iter().filter_map(|t| t.replicas).sum::<i32>(), 15);
    assert!(r.iter().all(|t| t.replicas.unwrap() >= 2));
    // Not enough room anywhere.
    let err = schedule(&spec(100, placement), &clusters).unwrap_err();
    assert_eq!(
        err,
        ScheduleError::Unschedulable(
            "Clusters available replicas 36 are not enough to schedule.".into()
        )
    );
}

#[test]
fn aggregated_uses_the_fewest_clusters() {
    let clusters = [
        with_capacity("A", 6, "100"),
        with_capacity("B", 12, "100"),
        with_capacity("C", 18, "100"),
    ];
    let placement = json!({"replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Aggregated"}});
    assert_eq!(
        schedule(&spec(10, placement.clone()), &clusters).unwrap(),
        vec![tc("C", 10)]
    );
    assert_eq!(
        schedule(&spec(20, placement), &clusters).unwrap(),
        vec![tc("B", 8), tc("C", 12)]
    );
}

#[test]
fn evicted_clusters_are_not_rescheduled_to() {
    let mut s = spec(2, weighted(&[("m1", 1), ("m2", 1)]));
    s["gracefulEvictionTasks"] = json!([{"fromCluster": "m1", "purgeMode": "Gracefully"}]);
    assert_eq!(
        schedule(&s, &[plain("m1"), plain("m2")]).unwrap(),
        vec![tc("m2", 2)]
    );
}

#[test]
fn needs_schedule_when_placement_or_replicas_change() {
    let clusters = [plain("m1"), plain("m2")];
    let placement = weighted(&[("m1", 1), ("m2", 1)]);
    let mut b = json!({"metadata": {"annotations": {}}, "spec": spec(2, placement.clone())});
    assert!(needs_schedule(&b, &clusters));
    b["metadata"]["annotations"]["policy.karmada.io/applied-placement"] =
        json!(applied_placement(&placement));
    b["spec"]["clusters"] = json!([{"name": "m1", "replicas": 1}, {"name": "m2", "replicas": 1}]);
    assert!(!needs_schedule(&b, &clusters));
    b["spec"]["replicas"] = json!(4);
    assert!(needs_schedule(&b, &clusters));
    b["spec"]["replicas"] = json!(2);
    assert!(needs_schedule(&b, &[plain("m1")]));
}

proptest! {
    #[test]
    fn static_division_always_sums_to_replicas(
        weights in proptest::collection::vec(1_i64..1000, 1..10),
        replicas in 1_i64..2000,
        uid in "[a-f0-9-]{0,36}",
    ) {
        let names: Vec<String> = (0..weights.len()).map(|i| format!("member{i}")).collect();
        let clusters: Vec<Value> = names.iter().map(|n| plain(n)).collect();
        let pairs: Vec<(&str, i64)> = names.iter().map(String::as_str).zip(weights.iter().copied()).collect();
        let mut s = spec(replicas, weighted(&pairs));
        s["resource"]["uid"] = json!(uid);
        let r = schedule(&s, &clusters).unwrap();
        prop_assert_eq!(r.iter().filter_map(|t| t.replicas).sum::<i32>() as i64, replicas);
        prop_assert!(r.iter().all(|t| t.replicas.unwrap_or(0) > 0));
        prop_assert!(r.windows(2).all(|w| w[0].name < w[1].name));
        // Webster (Sainte-Laguë) is a divisor method: no cluster's last seat was worth less
        // than any cluster's next one, i.e. (2a_i - 1) / w_i <= (2a_j + 1) / w_j for every pair.
        // (It is not quota-bound: [88, 11, 795, 78, 252] sharing 157 gives the 795 more than one
        // seat above its exact quota, as Karmada's division does too.)
        let seats = |i: usize| {
            r.iter()
                .find(|t| t.name == names[i])
                .and_then(|t| t.replicas)
                .map_or(0, i64::from)
        };
        for i in 0..weights.len() {
            for j in 0..weights.len() {
                let (ai, aj) = (seats(i), seats(j));
                if ai > 0 {
                    prop_assert!(
                        (2 * ai - 1) as f64 / weights[i] as f64
                            <= (2 * aj + 1) as f64 / weights[j] as f64 + 1e-12
                    );
                }
            }
        }
        prop_assert_eq!(schedule(&s, &clusters).unwrap(), r);
    }

    #[test]
    fn webster_sums_for_any_votes(
        votes in proptest::collection::vec(0_i64..1_000_000, 1..20),
        seats in 0_i32..5000,
    ) {
        let v: Vec<(String, i64)> = votes.iter().enumerate().map(|(i, x)| (format!("c{i:02}"), *x)).collect();
        let out = allocate_webster(seats, &v, &[], "uid");
        prop_assert_eq!(out.iter().map(|(_, s)| i64::from(*s)).sum::<i64>(), i64::from(seats));
    }
}
