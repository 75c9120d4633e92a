//! The seed's walk-through (seed `000_*`) with the real `kubectl`: two joined clusters show in
//! `kubectl get cluster`; the nginx Deployment, its OverridePolicy and its PropagationPolicy
//! (weights 1:2) give a ResourceBinding with member1:1 / member2:2 and Works carrying the
//! overridden label; reported Work status makes the binding FullyApplied and the template
//! `3/3`; nothing changes after convergence; scaling to 6 gives 2/4; deleting the template
//! removes its binding and Works.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Fed, cluster, condition, deployment, eventually, rb, targets, work, works_of};

const WAIT: Duration = Duration::from_secs(30);

const OVERRIDE_POLICY: &str = r#"
apiVersion: policy.karmada.io/v1alpha1
kind: OverridePolicy
metadata:
  name: example
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: nginx
  overrideRules:
    - targetCluster:
        clusterNames:
          - member1
      overriders:
        labelsOverrider:
          - operator: add
            value:
              cceone.propagationto: member1
    - targetCluster:
        clusterNames:
          - member2
      overriders:
        labelsOverrider:
          - operator: add
            value:
              cceone.propagationto: member2
"#;

const PROPAGATION_POLICY: &str = r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: example-policy
spec:
  propagateDeps: true
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: nginx
  placement:
    clusterAffinity:
      clusterNames:
        - member1
        - member2
    clusterTolerations:
      - key: cluster.karmada.io/not-ready
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 300
      - key: cluster.karmada.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 300
    replicaScheduling:
      replicaSchedulingType: Divided
      replicaDivisionPreference: Weighted
      weightPreference:
        staticWeightList:
          - targetCluster:
              clusterNames:
                - member1
            weight: 1
          - targetCluster:
              clusterNames:
                - member2
            weight: 2
"#;

async fn two_clusters() -> Fed {
    let fed = Fed::start().await;
    fed.join_cluster("member1", "cn-east", serde_json::json!({"env": "prod"}))
        .await;
    fed.join_cluster("member2", "cn-north", serde_json::json!({"env": "prod"}))
        .await;
    fed
}

/// Wait until the binding of `nginx` targets exactly `want`.
async fn wait_targets(fed: &Fed, want: &[(&str, i64)]) -> Value {
    let want: Vec<(String, i64)> = want.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    eventually(
        &format!("nginx-deployment targets {want:?}"),
        WAIT,
        || async {
            let b = fed.get(&rb(), Some("default"), "nginx-deployment").await?;
            (targets(&b) == want && condition(&b, "Scheduled").as_deref() == Some("True"))
                .then_some(b)
        },
    )
    .await
}

/// Wait until the Works of `nginx` are exactly `want` (cluster, replicas).
async fn wait_works(fed: &Fed, want: &[(&str, i64)]) -> Vec<(String, i64, Value)> {
    let want: Vec<(String, i64)> = want.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    eventually(&format!("nginx works {want:?}"), WAIT, || async {
        let works = works_of(fed, "nginx").await;
        let got: Vec<(String, i64)> = works.iter().map(|(c, r, _)| (c.clone(), *r)).collect();
        (got == want).then_some(works)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_walkthrough() {
    let fed = two_clusters().await;

    let clusters = eventually("both clusters Ready in kubectl", WAIT, || async {
        let out = fed.kubectl(&["get", "cluster"]).await;
        let ready = out
            .lines()
            .filter(|l| l.contains("v1.32.0") && l.contains("Pull") && l.contains("True"))
            .count();
        (ready == 2).then_some(out)
    })
    .await;
    println!("$ kubectl get cluster\n{clusters}");
    let header: Vec<&str> = clusters
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "VERSION", "MODE", "READY", "AGE"]);

    fed.kubectl(&[
        "create",
        "deployment",
        "nginx",
        "--image",
        "nginx",
        "--replicas=3",
    ])
    .await;
    let before = fed.kubectl(&["get", "deployment", "nginx"]).await;
    assert!(before.contains("0/3"), "{before}");
    fed.apply(OVERRIDE_POLICY).await;
    fed.apply(PROPAGATION_POLICY).await;
    let pp = fed
        .kubectl(&["get", "propagationpolicy", "example-policy"])
        .await;
    assert!(
        pp.contains("Abort") && pp.contains("CONFLICT-RESOLUTION"),
        "{pp}"
    );

    wait_targets(&fed, &[("member1", 1), ("member2", 2)]).await;
    let works = wait_works(&fed, &[("member1", 1), ("member2", 2)]).await;
    for (cluster, _, labels) in &works {
        assert_eq!(labels["cceone.propagationto"], cluster.as_str(), "{labels}");
        assert_eq!(labels["app"], "nginx");
    }

    assert_eq!(fed.report_works("member1").await, 1);
    assert_eq!(fed.report_works("member2").await, 1);
    eventually(
        "binding FullyApplied with both clusters aggregated",
        WAIT,
        || async {
            let b = fed.get(&rb(), Some("default"), "nginx-deployment").await?;
            let items = b["status"]["aggregatedStatus"].as_array()?.len();
            (condition(&b, "FullyApplied").as_deref() == Some("True") && items == 2).then_some(())
        },
    )
    .await;
    let deploy = eventually("the template shows 3/3", WAIT, || async {
        let out = fed.kubectl(&["get", "deployment", "nginx"]).await;
        out.contains("3/3").then_some(out)
    })
    .await;
    let rb_yaml = fed
        .kubectl(&["get", "rb", "nginx-deployment", "-o", "yaml"])
        .await;
    println!("$ kubectl get rb nginx-deployment -o yaml\n{rb_yaml}");
    println!("$ kubectl get deployment nginx\n{deploy}");
    let rbs = fed.kubectl(&["get", "rb"]).await;
    assert!(
        rbs.contains("SCHEDULED") && rbs.contains("FULLYAPPLIED"),
        "{rbs}"
    );

    // Converged: nothing keeps writing.
    fed.assert_still(&work(), None, Duration::from_secs(2))
        .await;
    fed.assert_still(&rb(), None, Duration::from_secs(1)).await;
    fed.assert_still(&deployment(), None, Duration::from_secs(1))
        .await;
    fed.assert_still(&cluster(), None, Duration::from_secs(1))
        .await;

    fed.kubectl(&["scale", "deployment", "nginx", "--replicas=6"])
        .await;
    wait_targets(&fed, &[("member1", 2), ("member2", 4)]).await;
    wait_works(&fed, &[("member1", 2), ("member2", 4)]).await;

    fed.kubectl(&["delete", "deployment", "nginx"]).await;
    wait_works(&fed, &[]).await;
    eventually("the binding is gone", WAIT, || async {
        fed.get(&rb(), Some("default"), "nginx-deployment")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    fed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_first_then_template_and_policy_edits_move_workloads() {
    let fed = two_clusters().await;
    fed.apply(OVERRIDE_POLICY).await;
    fed.apply(PROPAGATION_POLICY).await;
    fed.kubectl(&[
        "create",
        "deployment",
        "nginx",
        "--image",
        "nginx",
        "--replicas=3",
    ])
    .await;
    wait_targets(&fed, &[("member1", 1), ("member2", 2)]).await;
    wait_works(&fed, &[("member1", 1), ("member2", 2)]).await;

    // Only member2 now: everything moves there and member1's Work goes.
    let edited = PROPAGATION_POLICY.replace(
        "        - member1\n        - member2\n",
        "        - member2\n",
    );
    assert_ne!(edited, PROPAGATION_POLICY);
    fed.apply(&edited).await;
    wait_targets(&fed, &[("member2", 3)]).await;
    wait_works(&fed, &[("member2", 3)]).await;

    // An override edited after dispatch re-renders the Works.
    fed.apply(&OVERRIDE_POLICY.replace(
        "cceone.propagationto: member2",
        "cceone.propagationto: elsewhere",
    ))
    .await;
    eventually("the override change reaches the Work", WAIT, || async {
        let works = works_of(&fed, "nginx").await;
        (works.len() == 1 && works[0].2["cceone.propagationto"] == "elsewhere").then_some(())
    })
    .await;

    // The policy goes: as in Karmada, the claim comes off the template and the binding, but the
    // binding and what the members run stay (deleting a policy is not deleting workloads).
    fed.kubectl(&["delete", "propagationpolicy", "example-policy"])
        .await;
    eventually("the binding released by the policy", WAIT, || async {
        let b = fed.get(&rb(), Some("default"), "nginx-deployment").await?;
        b["metadata"]["annotations"]
            .get("propagationpolicy.karmada.io/name")
            .is_none()
            .then_some(())
    })
    .await;
    eventually("the template released by the policy", WAIT, || async {
        let t = fed.get(&deployment(), Some("default"), "nginx").await?;
        t["metadata"]["annotations"]
            .get("propagationpolicy.karmada.io/name")
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        works_of(&fed, "nginx")
            .await
            .iter()
            .map(|(c, r, _)| (c.as_str(), *r))
            .collect::<Vec<_>>(),
        [("member2", 3)],
        "the Works must stay when the policy goes"
    );
    // The template goes: its binding and Works go with it.
    fed.kubectl(&["delete", "deployment", "nginx"]).await;
    wait_works(&fed, &[]).await;
    eventually("the binding gone with its template", WAIT, || async {
        fed.get(&rb(), Some("default"), "nginx-deployment")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    fed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policies_are_refused_naming_the_field() {
    let fed = Fed::start().await;
    let bad = PROPAGATION_POLICY.replace("weight: 1", "weight: 0");
    let out = fed.kubectl_with(&["apply", "-f", "-"], Some(&bad)).await;
    assert!(!out.ok, "a zero weight must be refused");
    println!("{}", out.stderr);
    assert!(
        out.stderr.contains(
            "spec.placement.replicaScheduling.weightPreference.staticWeightList[0].weight"
        ),
        "{}",
        out.stderr
    );

    let no_selectors = "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata:\n  name: empty\nspec:\n  resourceSelectors: []\n  placement: {}\n";
    let out = fed
        .kubectl_with(&["apply", "-f", "-"], Some(no_selectors))
        .await;
    assert!(
        !out.ok && out.stderr.contains("spec.resourceSelectors"),
        "{}",
        out.stderr
    );

    // The Status carries the field as a cause for API clients.
    let api = fed.api(
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("policy.karmada.io", "v1alpha1", "PropagationPolicy"),
            "propagationpolicies",
        ),
        Some("default"),
    );
    let obj: kube::api::DynamicObject = serde_yaml::from_str(&bad).unwrap();
    let err = api.create(&Default::default(), &obj).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            let causes = s.details.map(|d| d.causes).unwrap_or_default();
            assert!(
                causes
                    .iter()
                    .any(|c| c.field.contains("staticWeightList[0].weight")),
                "{causes:?}"
            );
        }
        other => panic!("expected a Status, got {other}"),
    }
    fed.stop().await;
}

const CLUSTER_WIDE: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  mode: fast
---
apiVersion: policy.karmada.io/v1alpha1
kind: ClusterPropagationPolicy
metadata:
  name: everywhere
spec:
  resourceSelectors:
    - apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      name: reader
    - apiVersion: v1
      kind: ConfigMap
      name: settings
    - apiVersion: example.com/v1
      kind: Widget
  placement:
    clusterAffinity:
      clusterNames: [member1, member2]
"#;

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

/// The clusters holding a Work of a template named `name`.
async fn clusters_holding(fed: &Fed, name: &str) -> Vec<String> {
    works_of(fed, name)
        .await
        .into_iter()
        .map(|(c, _, _)| c)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_policies_duplicate_cluster_scoped_templates_and_crd_instances() {
    let fed = two_clusters().await;
    let both = vec!["member1".to_string(), "member2".to_string()];
    fed.apply(CLUSTER_WIDE).await;
    for name in ["reader", "settings"] {
        eventually(&format!("{name} on both clusters"), WAIT, || async {
            (clusters_holding(&fed, name).await == both).then_some(())
        })
        .await;
    }
    let crb = fed
        .kubectl(&["get", "crb", "reader-clusterrole", "-o", "json"])
        .await;
    let crb: Value = serde_json::from_str(&crb).unwrap();
    assert_eq!(
        targets(&crb),
        [("member1".into(), 0), ("member2".into(), 0)]
    );
    assert_eq!(condition(&crb, "Scheduled").as_deref(), Some("True"));

    // A kind that did not exist when the federation started is a template too.
    fed.apply(WIDGET_CRD).await;
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gizmo\n  namespace: default\nspec:\n  size: 3\n";
    eventually("the Widget kind is served", WAIT, || async {
        fed.kubectl_with(&["apply", "-f", "-"], Some(widget))
            .await
            .ok
            .then_some(())
    })
    .await;
    eventually("gizmo on both clusters", WAIT, || async {
        (clusters_holding(&fed, "gizmo").await == both).then_some(())
    })
    .await;

    // The policy goes: the bindings stay, unclaimed, and so does what the members run.
    fed.kubectl(&["delete", "clusterpropagationpolicy", "everywhere"])
        .await;
    eventually("the cluster binding released", WAIT, || async {
        let crb = fed
            .kubectl(&["get", "crb", "reader-clusterrole", "-o", "json"])
            .await;
        let crb: Value = serde_json::from_str(&crb).ok()?;
        crb["metadata"]["annotations"]
            .get("clusterpropagationpolicy.karmada.io/name")
            .is_none()
            .then_some(())
    })
    .await;
    for name in ["reader", "settings", "gizmo"] {
        assert_eq!(clusters_holding(&fed, name).await, both, "{name} withdrawn");
    }
    // The templates go: so do their bindings and Works.
    fed.kubectl(&["delete", "clusterrole", "reader"]).await;
    eventually("reader withdrawn with its template", WAIT, || async {
        clusters_holding(&fed, "reader")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        !fed.kubectl(&["get", "crb", "-o", "name"])
            .await
            .contains("reader-clusterrole")
    );
    fed.stop().await;
}

/// The detector's finished reconciles, from the API's `/metrics`.
async fn detector_reconciles(fed: &Fed) -> u64 {
    let metrics = fed.kubectl(&["get", "--raw", "/metrics"]).await;
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"federation_reconciles_total{controller="detector",result="ok"} "#)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `dependentOverrides` (issue 16 item 4): a template claimed by a policy that names
/// OverridePolicies waits, without a binding, until they exist; the first Works then already
/// carry the overrides (generation 1: never dispatched without them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependent_overrides_hold_propagation_until_they_exist() {
    let fed = two_clusters().await;
    let pp = PROPAGATION_POLICY.replace(
        "spec:\n  propagateDeps: true",
        "spec:\n  dependentOverrides: [example]\n  propagateDeps: true",
    );
    fed.apply(&pp).await;
    let before = detector_reconciles(&fed).await;
    fed.kubectl(&[
        "create",
        "deployment",
        "nginx",
        "--image=nginx",
        "--replicas=3",
    ])
    .await;
    // The detector looks at the template, finds the override missing and looks again a second
    // later: after a few of its reconciles there is still no binding.
    eventually("the detector looked again", WAIT, || async {
        (detector_reconciles(&fed).await >= before + 3).then_some(())
    })
    .await;
    assert!(
        fed.get(&rb(), Some("default"), "nginx-deployment")
            .await
            .is_none(),
        "a binding was made before the dependent override existed"
    );
    assert!(works_of(&fed, "nginx").await.is_empty());

    fed.apply(OVERRIDE_POLICY).await;
    let works = wait_works(&fed, &[("member1", 1), ("member2", 2)]).await;
    for (cluster, _, labels) in &works {
        assert_eq!(labels["cceone.propagationto"], cluster.as_str(), "{labels}");
    }
    for w in fed.list(&work(), None).await {
        assert_eq!(w["metadata"]["generation"], 1, "a Work was rewritten: {w}");
    }
}
