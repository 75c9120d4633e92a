//! Cluster health and disaster recovery (PRODUCT journey 10): a cluster whose tunnel goes
//! down turns `Ready: Unknown` with the `unreachable` taints after the grace period, the
//! replicas it held move to the healthy cluster, its old Work stays until the new placement
//! reports healthy, and on recovery the cluster turns Ready again with its taints gone.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Fed, cluster, condition, eventually, rb, targets, work, works_of};

const WAIT: Duration = Duration::from_secs(30);

const WORKLOAD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: web
  namespace: default
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
  placement:
    clusterAffinity:
      clusterNames: [member1, member2]
    replicaScheduling:
      replicaSchedulingType: Divided
      replicaDivisionPreference: Weighted
      weightPreference:
        staticWeightList:
          - targetCluster: {clusterNames: [member1]}
            weight: 1
          - targetCluster: {clusterNames: [member2]}
            weight: 1
"#;

fn taints(c: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = c["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["key"].as_str().unwrap_or("").to_string(),
                        t["effect"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn web_targets(fed: &Fed) -> Vec<(String, i64)> {
    fed.get(&rb(), Some("default"), "web-deployment")
        .await
        .map(|b| targets(&b))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_cluster_turns_unknown_and_its_replicas_move_to_the_healthy_one() {
    let fed = Fed::start().await;
    fed.join_cluster("member1", "cn-east", json!({})).await;
    fed.join_cluster("member2", "cn-north", json!({})).await;
    fed.apply(WORKLOAD).await;
    let split = vec![("member1".to_string(), 2), ("member2".to_string(), 2)];
    eventually("web split 2/2", WAIT, || async {
        (web_targets(&fed).await == split && works_of(&fed, "web").await.len() == 2).then_some(())
    })
    .await;
    fed.report_works("member1").await;
    fed.report_works("member2").await;

    // member1 powers off: the hub marks it Disconnected.
    fed.set_connected("member1", false).await;
    let c = eventually(
        "member1 Unknown with the unreachable taints",
        WAIT,
        || async {
            let c = fed.get(&cluster(), None, "member1").await?;
            let t = taints(&c);
            (condition(&c, "Ready").as_deref() == Some("Unknown")
                && t.contains(&("cluster.karmada.io/unreachable".into(), "NoSchedule".into()))
                && t.contains(&("cluster.karmada.io/unreachable".into(), "NoExecute".into())))
            .then_some(c)
        },
    )
    .await;
    assert_eq!(taints(&c).len(), 2, "{c}");
    let out = fed.kubectl(&["get", "cluster"]).await;
    println!("$ kubectl get cluster\n{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("member1") && l.contains("Unknown")),
        "{out}"
    );

    // All replicas move to member2; member1's Work stays while the move is in flight.
    eventually("all 4 replicas on member2", WAIT, || async {
        (web_targets(&fed).await == vec![("member2".to_string(), 4)]).then_some(())
    })
    .await;
    let works = eventually("member2's Work holds 4", WAIT, || async {
        let w = works_of(&fed, "web").await;
        w.iter()
            .any(|(c, r, _)| c == "member2" && *r == 4)
            .then_some(w)
    })
    .await;
    assert!(
        works.iter().any(|(c, _, _)| c == "member1"),
        "graceful: {works:?}"
    );

    // Once member2 reports the new placement healthy, the eviction ends and member1's Work goes.
    fed.report_works("member2").await;
    eventually(
        "member1's Work removed after the graceful eviction",
        WAIT,
        || async {
            let w = works_of(&fed, "web").await;
            let b = fed.get(&rb(), Some("default"), "web-deployment").await?;
            (w.len() == 1 && b["spec"]["gracefulEvictionTasks"].is_null()).then_some(())
        },
    )
    .await;
    // member1 is unreachable, so its Work waits, terminating, on the execution finalizer until
    // the member confirms (Karmada's execution controller keeps it while the cluster is not
    // ready and not leaving).
    let left = fed.list(&work(), Some("karmada-es-member1")).await;
    let [old] = left.as_slice() else {
        panic!("member1's Work stays until the member confirms: {left:?}")
    };
    assert!(!old["metadata"]["deletionTimestamp"].is_null(), "{old}");
    assert_eq!(
        old["metadata"]["finalizers"],
        json!(["karmada.io/execution-controller"])
    );

    // member1 comes back: Ready again, no taints; the replicas stay where they run.
    fed.set_connected("member1", true).await;
    eventually("member1 Ready without taints", WAIT, || async {
        let c = fed.get(&cluster(), None, "member1").await?;
        (condition(&c, "Ready").as_deref() == Some("True") && taints(&c).is_empty()).then_some(())
    })
    .await;
    assert_eq!(web_targets(&fed).await, vec![("member2".to_string(), 4)]);
    fed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_mirror_their_registration_and_go_with_it() {
    let fed = Fed::start().await;
    // Pending registrations are not federation members.
    let api = cceone_platform::registered_clusters(&fed.client);
    let pending: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.cceone.io/v1alpha1", "kind": "RegisteredCluster",
        "metadata": {"name": "waiting"}, "spec": {"type": "local"}}))
    .unwrap();
    api.create(&Default::default(), &pending).await.unwrap();
    fed.join_cluster("member1", "cn-east", json!({"env": "prod"}))
        .await;

    let c = eventually("member1 mirrored", WAIT, || async {
        let c = fed.get(&cluster(), None, "member1").await?;
        (c["status"]["nodeSummary"]["readyNum"] == 3).then_some(c)
    })
    .await;
    assert_eq!(c["spec"]["syncMode"], "Pull");
    assert_eq!(c["spec"]["region"], "cn-east");
    assert_eq!(c["spec"]["zones"], json!(["cn-east-a"]));
    assert_eq!(c["spec"]["provider"], "ctyun");
    assert_eq!(c["metadata"]["labels"]["env"], "prod");
    assert_eq!(c["status"]["kubernetesVersion"], "v1.32.0");
    assert_eq!(c["status"]["resourceSummary"]["allocatable"]["cpu"], "8");
    assert!(fed.get(&cluster(), None, "waiting").await.is_none());
    let ns = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("", "v1", "Namespace"),
        "namespaces",
    );
    assert!(fed.get(&ns, None, "karmada-es-member1").await.is_some());

    // Unregistering removes the member.
    api.delete("member1", &Default::default()).await.unwrap();
    eventually("member1 removed", WAIT, || async {
        fed.get(&cluster(), None, "member1")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    fed.stop().await;
}
