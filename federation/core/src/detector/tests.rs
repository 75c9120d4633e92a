use super::*;
use crate::testutil::{nginx, seed_pp};

// The fixtures are JSON, as users write them; these read them into the typed API for the
// detector and give back JSON.
fn typed_all(policies: &[Value]) -> Vec<PropagationPolicy> {
    policies
        .iter()
        .map(|p| serde_json::from_value(p.clone()).unwrap())
        .collect()
}

fn select_policy<'a>(template: &Value, pps: &'a [Value], cpps: &'a [Value]) -> Option<&'a Value> {
    let (tp, tc) = (typed_all(pps), typed_all(cpps));
    let chosen = super::select_policy(template, &tp, &tc)?;
    let find = |typed: &[PropagationPolicy], values: &'a [Value]| {
        typed
            .iter()
            .position(|p| std::ptr::eq(p, chosen))
            .map(|i| &values[i])
    };
    find(&tp, pps).or_else(|| find(&tc, cpps))
}

fn build_binding(template: &Value, policy: &Value) -> Value {
    let policy: PropagationPolicy = serde_json::from_value(policy.clone()).unwrap();
    super::build_binding(template, &policy).to_value()
}

fn pp(name: &str, ns: &str, priority: Option<i64>, selector: Value) -> Value {
    let mut p = json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"resourceSelectors": [selector]},
    });
    if let Some(prio) = priority {
        p["spec"]["priority"] = json!(prio);
    }
    p
}

fn cpp(name: &str, priority: Option<i64>, selector: Value) -> Value {
    let mut p = pp(name, "", priority, selector);
    p["kind"] = json!("ClusterPropagationPolicy");
    p["metadata"].as_object_mut().unwrap().remove("namespace");
    p
}

fn all() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment"})
}

fn by_label() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "nginx"}}})
}

fn by_name() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"})
}

fn chosen<'a>(pps: &'a [Value], cpps: &'a [Value]) -> Option<&'a str> {
    select_policy(&nginx(), pps, cpps).map(|p| s(p, "/metadata/name"))
}

#[test]
fn explicit_priority_wins() {
    // The guide's example: priority 2 beats 1 and the default 0.
    let pps = [
        pp(
            "propagation-high-explicit-priority",
            "default",
            Some(2),
            by_label(),
        ),
        pp(
            "propagation-low-explicit-priority",
            "default",
            Some(1),
            by_label(),
        ),
        pp("propagation-default", "default", None, by_name()),
    ];
    assert_eq!(
        chosen(&pps, &[]),
        Some("propagation-high-explicit-priority")
    );
}

#[test]
fn implicit_priority_name_over_labels_over_match_all() {
    let pps = [
        pp("propagation-emptymatch", "default", None, all()),
        pp(
            "propagation-labelselectormatch",
            "default",
            None,
            by_label(),
        ),
        pp("propagation-namematch", "default", None, by_name()),
    ];
    assert_eq!(chosen(&pps, &[]), Some("propagation-namematch"));
    assert_eq!(
        chosen(&pps[..2], &[]),
        Some("propagation-labelselectormatch")
    );
    // Same explicit priority: the implicit priority decides.
    let pps = [
        pp(
            "propagation-explicit-labelselectormatch",
            "default",
            Some(3),
            by_label(),
        ),
        pp(
            "propagation-explicit-namematch",
            "default",
            Some(3),
            by_name(),
        ),
    ];
    assert_eq!(chosen(&pps, &[]), Some("propagation-explicit-namematch"));
}

#[test]
fn alphabetical_tie_break() {
    let pps = [
        pp(
            "propagation-b-higher-alphabetical",
            "default",
            Some(3),
            by_name(),
        ),
        pp(
            "propagation-a-lower-alphabetical",
            "default",
            Some(3),
            by_name(),
        ),
    ];
    assert_eq!(chosen(&pps, &[]), Some("propagation-a-lower-alphabetical"));
}

#[test]
fn propagation_policy_beats_cluster_propagation_policy() {
    let pps = [pp("weak", "default", Some(-5), all())];
    let cpps = [cpp("strong", Some(100), by_name())];
    assert_eq!(chosen(&pps, &cpps), Some("weak"));
    // PropagationPolicies of other namespaces do not count.
    let other = [pp("elsewhere", "other", Some(100), by_name())];
    assert_eq!(chosen(&other, &cpps), Some("strong"));
    // A ClusterPropagationPolicy selector may pin the namespace.
    let pinned = [cpp(
        "pinned",
        None,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "kube-system"}),
    )];
    assert_eq!(chosen(&[], &pinned), None);
}

#[test]
fn mismatches_and_deleting_policies_are_ignored() {
    let mut deleting = pp("a-deleting", "default", Some(9), by_name());
    deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    let pps = [
        deleting,
        pp(
            "wrong-kind",
            "default",
            Some(9),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet"}),
        ),
        pp(
            "wrong-version",
            "default",
            Some(9),
            json!({"apiVersion": "apps/v1beta1", "kind": "Deployment"}),
        ),
        pp(
            "wrong-label",
            "default",
            Some(9),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "labelSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["nginx"]}]}}),
        ),
        pp("z-fallback", "default", None, all()),
    ];
    assert_eq!(chosen(&pps, &[]), Some("z-fallback"));
}

#[test]
fn cluster_scoped_templates_only_match_cluster_policies() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    let sel = json!({"apiVersion": "v1", "kind": "Namespace"});
    let pps = [pp("p", "default", None, sel.clone())];
    let cpps = [cpp("c", None, sel)];
    assert_eq!(
        select_policy(&ns, &pps, &cpps).map(|p| s(p, "/metadata/name")),
        Some("c")
    );
    let crb = build_binding(&ns, &cpps[0]);
    assert_eq!(crb["kind"], "ClusterResourceBinding");
    assert_eq!(crb["metadata"]["name"], "team-namespace");
    assert!(crb["metadata"].get("namespace").is_none());
    assert_eq!(
        crb["metadata"]["finalizers"],
        json!(["karmada.io/cluster-resource-binding-controller"])
    );
    assert_eq!(
        crb["metadata"]["annotations"]["clusterpropagationpolicy.karmada.io/name"],
        "c"
    );
    assert!(crb["spec"].get("replicas").is_none());
}

#[test]
fn binding_names() {
    assert_eq!(binding_name("Deployment", "nginx"), "nginx-deployment");
    assert_eq!(
        binding_name("ClusterRole", "system:Admin"),
        "system.admin-clusterrole"
    );
}

#[test]
fn seed_binding() {
    let rb = build_binding(&nginx(), &seed_pp());
    assert_eq!(rb["apiVersion"], "work.karmada.io/v1alpha2");
    assert_eq!(rb["kind"], "ResourceBinding");
    assert_eq!(rb["metadata"]["name"], "nginx-deployment");
    assert_eq!(rb["metadata"]["namespace"], "default");
    assert_eq!(
        rb["metadata"]["annotations"],
        json!({
            "propagationpolicy.karmada.io/name": "example-policy",
            "propagationpolicy.karmada.io/namespace": "default",
        })
    );
    assert_eq!(
        rb["metadata"]["labels"],
        json!({
            "propagationpolicy.karmada.io/permanent-id": "bb4b469a-6c93-4ed7-8465-e91564eb33eb",
        })
    );
    assert_eq!(
        rb["metadata"]["finalizers"],
        json!(["karmada.io/binding-controller"])
    );
    assert_eq!(
        rb["metadata"]["ownerReferences"],
        json!([{
            "apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true,
            "kind": "Deployment", "name": "nginx", "uid": "86da5387-b36b-40c4-99a2-462cbc832c99",
        }])
    );
    // The seed's `spec`, less the scheduler's `clusters`.
    assert_eq!(
        rb["spec"],
        json!({
            "conflictResolution": "Abort",
            "placement": seed_pp()["spec"]["placement"],
            "propagateDeps": true,
            "replicas": 3,
            "resource": {
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx", "namespace": "default",
                "resourceVersion": "44338446", "uid": "86da5387-b36b-40c4-99a2-462cbc832c99",
            },
            "schedulerName": "default-scheduler",
        })
    );
}

#[test]
fn binding_carries_requirements_and_policy_options() {
    let mut t = nginx();
    t["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}});
    t["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "ssd"});
    let mut p = seed_pp();
    p["spec"]["conflictResolution"] = json!("Overwrite");
    p["spec"]["preserveResourcesOnDeletion"] = json!(true);
    p["spec"]["suspension"] = json!({"dispatching": true});
    p["spec"]["failover"] = json!({"application": {"decisionConditions": {"tolerationSeconds": 60}, "purgeMode": "Never"}});
    let rb = build_binding(&t, &p);
    assert_eq!(
        rb["spec"]["replicaRequirements"],
        json!({
            "nodeClaim": {"nodeSelector": {"disk": "ssd"}},
            "resourceRequest": {"cpu": "250m", "memory": "1Gi"},
        })
    );
    assert_eq!(rb["spec"]["conflictResolution"], "Overwrite");
    assert_eq!(rb["spec"]["preserveResourcesOnDeletion"], true);
    assert_eq!(rb["spec"]["suspension"], json!({"dispatching": true}));
    assert_eq!(rb["spec"]["failover"]["application"]["purgeMode"], "Never");
}

#[test]
fn skipped_namespaces() {
    for ns in [
        "kube-system",
        "karmada-system",
        "karmada-cluster",
        "karmada-es-member1",
    ] {
        assert!(is_skipped_namespace(ns), "{ns}");
    }
    assert!(!is_skipped_namespace("default"));
}
