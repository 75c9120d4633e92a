//! The federation end to end through `cceone up`: real kubectl against the federation API, Works
//! relayed by the hub over the agents' tunnels into simulated member clusters. The seed's
//! walk-through (nginx, OverridePolicy, PropagationPolicy 1:2), scaling, a policy edit, deletion,
//! creation in either order, and no churn (each Work applied once per change).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Proc, eventually, free_port, ok, root, run};

struct Up {
    _proc: Proc,
    dir: tempfile::TempDir,
}

impl Up {
    fn start(clusters: usize) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = vec![
            "up".into(),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
            "--clusters".into(),
            clusters.to_string(),
            "--hub-listen".into(),
            format!("127.0.0.1:{}", free_port()),
            "--federation-listen".into(),
            format!("127.0.0.1:{}", free_port()),
        ];
        let proc = Proc::start("cceone", "cceone", &args, &Default::default(), dir.path());
        let up = Up { _proc: proc, dir };
        let kc = up.kubeconfig();
        eventually(
            "cceone up ready (admin.kubeconfig)",
            Duration::from_secs(120),
            || kc.exists().then_some(()),
        );
        up
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("data").join("admin.kubeconfig")
    }

    fn member(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("data")
            .join("members")
            .join(format!("{name}.kubeconfig"))
    }

    fn kubectl_at(kc: &Path, args: &[&str]) -> (bool, String) {
        let kc = kc.display().to_string();
        let mut all = vec!["--kubeconfig", kc.as_str()];
        all.extend_from_slice(args);
        let out = run("kubectl", &all);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn fed(&self, args: &[&str]) -> String {
        let (ok, out) = Self::kubectl_at(&self.kubeconfig(), args);
        assert!(ok, "kubectl {args:?}: {out}");
        out
    }

    fn fed_get(&self, args: &[&str]) -> String {
        Self::kubectl_at(&self.kubeconfig(), args).1
    }

    /// `kubectl apply -f` of `yaml`, written to `file` in the test's directory.
    fn apply_yaml(&self, file: &str, yaml: &str) -> String {
        let path = self.dir.path().join(file);
        std::fs::write(&path, yaml).unwrap();
        self.fed(&["apply", "-f", path.to_str().unwrap()])
    }

    /// A ResourceBinding's `spec.clusters` as `name=replicas` words.
    fn placement(&self, binding: &str) -> String {
        self.fed_get(&[
            "get",
            "rb",
            binding,
            "-o",
            "jsonpath={range .spec.clusters[*]}{.name}={.replicas} {end}",
        ])
    }

    fn on_member(&self, member: &str, args: &[&str]) -> String {
        Self::kubectl_at(&self.member(member), args).1
    }

    /// `cceone_agent_works_applied_total` of a member's agent.
    fn applies(&self, member: &str) -> u64 {
        let url = std::fs::read_to_string(
            self.dir
                .path()
                .join("data")
                .join("members")
                .join(format!("{member}.agent")),
        )
        .unwrap();
        let addr = url.trim().trim_start_matches("http://").to_string();
        let text = http_get(&addr, "/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix("cceone_agent_works_applied_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn member_deploy(up: &Up, member: &str) -> String {
    up.on_member(member, &["get", "deploy", "nginx", "-o", "jsonpath={.spec.replicas} {.metadata.labels.cceone\\.propagationto} {.status.readyReplicas}"])
}

#[test]
fn seed_walkthrough_scale_edit_delete_without_churn() {
    let up = Up::start(3);
    let clusters = up.fed(&["get", "cluster"]);
    let header: Vec<&str> = clusters
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "VERSION", "MODE", "READY", "AGE"]);
    for m in ["member1", "member2", "member3"] {
        let row = clusters
            .lines()
            .find(|l| l.starts_with(m))
            .unwrap_or_else(|| panic!("{m} missing:\n{clusters}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..4], [m, "v1.32.0", "Pull", "True"]);
    }

    let manifest = root().join("examples").join("nginx.yaml");
    let applied = up.fed(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        applied.contains("deployment.apps/nginx created"),
        "{applied}"
    );
    assert!(
        applied.contains("overridepolicy.policy.karmada.io/example created"),
        "{applied}"
    );
    assert!(
        applied.contains("propagationpolicy.policy.karmada.io/example-policy created"),
        "{applied}"
    );

    let clusters_of_rb = || up.placement("nginx-deployment");
    eventually("binding scheduled 1:2", Duration::from_secs(30), || {
        (clusters_of_rb().trim() == "member1=1 member2=2").then_some(())
    });
    eventually("template 3/3", Duration::from_secs(60), || {
        let t = up.fed_get(&["get", "deployment", "nginx"]);
        t.lines()
            .nth(1)
            .is_some_and(|r| r.split_whitespace().nth(1) == Some("3/3"))
            .then_some(())
    });
    let rb = up.fed(&["get", "rb"]);
    let row: Vec<&str> = rb.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["nginx-deployment", "True", "True"], "{rb}");
    assert_eq!(member_deploy(&up, "member1"), "1 member1 1");
    assert_eq!(member_deploy(&up, "member2"), "2 member2 2");
    assert!(
        up.on_member("member3", &["get", "deploy", "nginx"])
            .contains("NotFound")
    );
    let works = up.fed(&["get", "works", "-A"]);
    assert_eq!(
        works.lines().filter(|l| l.contains("nginx-")).count(),
        2,
        "{works}"
    );
    // Once per change: one apply each, and status updates do not cause more.
    eventually("one apply per member", Duration::from_secs(10), || {
        (up.applies("member1") == 1 && up.applies("member2") == 1).then_some(())
    });

    // Scale the template: 6 replicas at 1:2.
    up.fed(&["scale", "deployment", "nginx", "--replicas=6"]);
    eventually("members at 2 and 4", Duration::from_secs(60), || {
        (member_deploy(&up, "member1") == "2 member1 2"
            && member_deploy(&up, "member2") == "4 member2 4")
            .then_some(())
    });
    eventually("template 6/6", Duration::from_secs(60), || {
        up.fed_get(&[
            "get",
            "deployment",
            "nginx",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ])
        .trim()
        .eq("6")
        .then_some(())
    });
    assert_eq!((up.applies("member1"), up.applies("member2")), (2, 2));

    // Edit the policy: move everything to member3.
    up.fed(&["patch", "pp", "example-policy", "--type=merge", "-p", r#"{"spec":{"placement":{"clusterAffinity":{"clusterNames":["member3"]},"replicaScheduling":{"replicaSchedulingType":"Divided","replicaDivisionPreference":"Weighted","weightPreference":{"staticWeightList":[{"targetCluster":{"clusterNames":["member3"]},"weight":1}]}}}}}"#]);
    eventually("workload moved to member3", Duration::from_secs(60), || {
        let m3 = up.on_member(
            "member3",
            &["get", "deploy", "nginx", "-o", "jsonpath={.spec.replicas}"],
        );
        let gone1 = up
            .on_member("member1", &["get", "deploy", "nginx"])
            .contains("NotFound");
        let gone2 = up
            .on_member("member2", &["get", "deploy", "nginx"])
            .contains("NotFound");
        (m3.trim() == "6" && gone1 && gone2).then_some(())
    });

    // Works hold Karmada's execution finalizer: the hub lets one go only after the agent says
    // the member removed its objects.
    let finalizers = up.fed(&[
        "get",
        "works",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.finalizers[*]} {end}",
    ]);
    assert_eq!(
        finalizers.split_whitespace().collect::<Vec<_>>(),
        ["karmada.io/execution-controller"],
        "{finalizers}"
    );

    // Delete the template: its binding, Works and member objects go.
    up.fed(&["delete", "deployment", "nginx"]);
    eventually(
        "works and member objects gone",
        Duration::from_secs(60),
        || {
            let works = up.fed_get(&["get", "works", "-A"]);
            let m3 = up.on_member("member3", &["get", "deploy", "nginx"]);
            (!works.contains("nginx-") && m3.contains("NotFound")).then_some(())
        },
    );
}

#[test]
fn policy_first_then_template_and_invalid_policy_is_refused() {
    let up = Up::start(2);
    let pp = r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: web
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
  placement:
    clusterAffinity:
      clusterNames: [member1, member2]
    replicaScheduling:
      replicaSchedulingType: Duplicated
"#;
    let pp_file = up.dir.path().join("pp.yaml");
    std::fs::write(&pp_file, pp).unwrap();
    up.fed(&["apply", "-f", pp_file.to_str().unwrap()]);
    up.fed(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    eventually(
        "duplicated to both members",
        Duration::from_secs(60),
        || {
            let a = up.on_member(
                "member1",
                &[
                    "get",
                    "deploy",
                    "web",
                    "-o",
                    "jsonpath={.status.readyReplicas}",
                ],
            );
            let b = up.on_member(
                "member2",
                &[
                    "get",
                    "deploy",
                    "web",
                    "-o",
                    "jsonpath={.status.readyReplicas}",
                ],
            );
            (a.trim() == "2" && b.trim() == "2").then_some(())
        },
    );

    let bad = pp.replace("name: web\nspec:", "name: bad\nspec:").replace(
        "replicaSchedulingType: Duplicated",
        "replicaSchedulingType: Divided\n      replicaDivisionPreference: Weighted\n      weightPreference:\n        staticWeightList:\n          - targetCluster:\n              clusterNames: [member1]\n            weight: 0",
    );
    let bad_file = up.dir.path().join("bad.yaml");
    std::fs::write(&bad_file, bad).unwrap();
    let (ok, out) = Up::kubectl_at(
        &up.kubeconfig(),
        &["apply", "-f", bad_file.to_str().unwrap()],
    );
    assert!(!ok, "an invalid policy must be refused: {out}");
    assert!(
        out.contains("staticWeightList[0].weight"),
        "the error must name the field: {out}"
    );
}

/// `conflictResolution: Abort` (Karmada's default) leaves an object that already exists in a
/// member and is not the federation's as it is, and the binding says why; `Overwrite` then
/// takes it over (issue 16, item 2).
#[test]
fn abort_leaves_a_foreign_object_alone_and_overwrite_takes_it_over() {
    let up = Up::start(1);
    // Someone made `nginx` in member1 by hand before the federation knew of it.
    let (ok, out) = Up::kubectl_at(
        &up.member("member1"),
        &["create", "deployment", "nginx", "--image=nginx:by-hand"],
    );
    assert!(ok, "{out}");
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers: [{name: nginx, image: "nginx:federated"}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: nginx-propagation
spec:
  resourceSelectors:
    - {apiVersion: apps/v1, kind: Deployment, name: nginx}
  placement:
    clusterAffinity: {clusterNames: [member1]}
"#;
    up.apply_yaml("nginx.yaml", yaml);

    let item = || {
        up.fed_get(&[
            "get",
            "rb",
            "nginx-deployment",
            "-o",
            "jsonpath={.status.aggregatedStatus[0].applied}|{.status.aggregatedStatus[0].appliedMessage}",
        ])
    };
    let message = eventually(
        "the binding reports the conflict",
        Duration::from_secs(60),
        || {
            // Before the member reports, the item is `false` without a message.
            let v = item();
            (v.starts_with("false|") && v.len() > "false|".len()).then_some(v)
        },
    );
    assert!(
        message.contains("kind=Deployment, default/nginx")
            && message.contains("already exists in the cluster member1"),
        "{message}"
    );
    let image = || {
        up.on_member(
            "member1",
            &[
                "get",
                "deploy",
                "nginx",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas} {.metadata.labels.cceone\\.io/managed-by}",
            ],
        )
    };
    assert_eq!(
        image().trim(),
        "nginx:by-hand 1",
        "the member's own object was touched"
    );
    let (_, fully) = Up::kubectl_at(
        &up.kubeconfig(),
        &[
            "get",
            "rb",
            "nginx-deployment",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"FullyApplied\")].status}",
        ],
    );
    assert_eq!(fully.trim(), "False");

    up.fed(&[
        "patch",
        "propagationpolicy",
        "nginx-propagation",
        "--type=merge",
        "-p",
        r#"{"spec":{"conflictResolution":"Overwrite"}}"#,
    ]);
    eventually(
        "Overwrite takes the object over",
        Duration::from_secs(60),
        || {
            (image().trim() == "nginx:federated 2 cceone-cluster-agent"
                && item().starts_with("true|"))
            .then_some(())
        },
    );
}

/// Deletion as Karmada does it (issue 16, item 5): deleting the policy leaves what the members run
/// (the binding stays, unclaimed); deleting the template removes it from the members, unless the
/// policy said `preserveResourcesOnDeletion`, when the member keeps its copy.
#[test]
fn deleting_a_policy_keeps_workloads_and_preserve_resources_on_deletion_keeps_them_in_members() {
    let up = Up::start(1);
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: kept}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: dropped}
data: {k: v}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: keep}
spec:
  preserveResourcesOnDeletion: true
  resourceSelectors: [{apiVersion: v1, kind: ConfigMap, name: kept}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: drop}
spec:
  resourceSelectors: [{apiVersion: v1, kind: ConfigMap, name: dropped}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
"#;
    up.apply_yaml("cms.yaml", yaml);
    let in_member = |name: &str| {
        up.on_member(
            "member1",
            &["get", "configmap", name, "-o", "jsonpath={.data.k}"],
        )
        .trim()
            == "v"
    };
    eventually(
        "both ConfigMaps in member1",
        Duration::from_secs(60),
        || (in_member("kept") && in_member("dropped")).then_some(()),
    );

    // Karmada's bookkeeping: the policy carries its controller's finalizer, and each Work its
    // permanent id, which the object in the member carries too.
    assert!(
        up.fed_get(&["get", "pp", "drop", "-o", "jsonpath={.metadata.finalizers}"])
            .contains("karmada.io/propagation-policy-controller"),
        "the policy has no finalizer"
    );
    let work_ids = up.fed_get(&[
        "get",
        "works",
        "-n",
        "karmada-es-member1",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.work\\.karmada\\.io/permanent-id} {end}",
    ]);
    let member_id = up.on_member(
        "member1",
        &[
            "get",
            "configmap",
            "dropped",
            "-o",
            "jsonpath={.metadata.labels.work\\.karmada\\.io/permanent-id}",
        ],
    );
    assert!(
        !member_id.trim().is_empty()
            && work_ids.split_whitespace().any(|id| id == member_id.trim()),
        "member object's work permanent id {member_id:?} is not one of the Works' {work_ids:?}"
    );

    // The policy goes (`kubectl delete` waits for the finalizer to come off, which it does once
    // no template is claimed by it): the binding stays, without the policy's claim, and so
    // does the copy.
    up.fed(&["delete", "propagationpolicy", "drop"]);
    assert!(
        up.fed_get(&["get", "pp", "drop"]).contains("NotFound"),
        "the policy is still there after kubectl delete returned"
    );
    assert_eq!(
        up.fed_get(&[
            "get",
            "configmap",
            "dropped",
            "-o",
            "jsonpath={.metadata.labels.propagationpolicy\\.karmada\\.io/permanent-id}",
        ])
        .trim(),
        "",
        "the template still carries the deleted policy's claim"
    );
    eventually("the binding released", Duration::from_secs(30), || {
        let claim = up.fed_get(&[
            "get",
            "rb",
            "dropped-configmap",
            "-o",
            "jsonpath={.metadata.annotations.propagationpolicy\\.karmada\\.io/name}|{.metadata.name}",
        ]);
        (claim.trim() == "|dropped-configmap").then_some(())
    });
    assert!(
        in_member("dropped"),
        "deleting the policy withdrew the workload"
    );

    // The templates go: `dropped` leaves the member, `kept` stays there.
    up.fed(&["delete", "configmap", "dropped", "kept"]);
    eventually(
        "dropped removed from member1",
        Duration::from_secs(60),
        || {
            up.on_member("member1", &["get", "configmap", "dropped"])
                .contains("NotFound")
                .then_some(())
        },
    );
    eventually("the kept binding gone", Duration::from_secs(30), || {
        up.fed_get(&["get", "rb", "kept-configmap"])
            .contains("NotFound")
            .then_some(())
    });
    assert!(
        in_member("kept"),
        "preserveResourcesOnDeletion did not keep the member's copy"
    );

    // A CRD created in the member is in its Cluster's apiEnablements long before the agent's
    // five-minute discovery resync, so custom resources can be scheduled there.
    let crd = up.dir.path().join("crd.yaml");
    std::fs::write(
        &crd,
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.cceone.io}
spec:
  group: example.cceone.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
    )
    .unwrap();
    let out = up.on_member("member1", &["apply", "-f", crd.to_str().unwrap()]);
    assert!(out.contains("created"), "{out}");
    eventually(
        "example.cceone.io/v1 in member1's apiEnablements",
        Duration::from_secs(60),
        || {
            up.fed_get(&[
                "get",
                "cluster",
                "member1",
                "-o",
                "jsonpath={.status.apiEnablements[*].groupVersion}",
            ])
            .split_whitespace()
            .any(|gv| gv == "example.cceone.io/v1")
            .then_some(())
        },
    );
}

/// `cceonectl taint cluster` (issue 16, item 10, as `karmadactl taint`): a NoSchedule taint keeps
/// new placements off the cluster; removing it lets them back.
#[test]
fn tainting_a_cluster_keeps_workloads_off_it_until_untainted() {
    let up = Up::start(2);
    let kc = up.kubeconfig();
    let kc = kc.to_str().unwrap();
    let out = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            kc,
            "taint",
            "cluster",
            "member1",
            "dedicated=ops:NoSchedule",
        ],
    );
    assert_eq!(out.trim(), "cluster/member1 tainted");
    let taints = up.fed(&[
        "get",
        "cluster",
        "member1",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(taints.contains("dedicated"), "{taints}");
    // A bad taint is refused with the reason.
    let bad = run(
        "cceonectl",
        &[
            "--kubeconfig",
            kc,
            "taint",
            "cluster",
            "member1",
            "dedicated=ops:Sometimes",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid taint effect"));

    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {k: v}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: settings}
spec:
  resourceSelectors: [{apiVersion: v1, kind: ConfigMap, name: settings}]
  placement: {clusterAffinity: {clusterNames: [member1, member2]}}
"#;
    up.apply_yaml("settings.yaml", yaml);
    let targets = || {
        up.fed_get(&[
            "get",
            "rb",
            "settings-configmap",
            "-o",
            "jsonpath={.spec.clusters[*].name}",
        ])
    };
    eventually("scheduled to member2 only", Duration::from_secs(60), || {
        (targets().trim() == "member2").then_some(())
    });

    let out = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            kc,
            "taint",
            "cluster",
            "member1",
            "dedicated:NoSchedule-",
        ],
    );
    assert_eq!(out.trim(), "cluster/member1 untainted");
    eventually("back on both clusters", Duration::from_secs(60), || {
        (targets().trim() == "member1 member2").then_some(())
    });
    // Cordon (as karmadactl): the unschedulable NoSchedule taint on, then off; twice says so.
    let cordon = |verb: &str| ok("cceonectl", &["--kubeconfig", kc, verb, "member2"]);
    assert_eq!(cordon("cordon").trim(), "cluster/member2 cordoned");
    assert_eq!(cordon("cordon").trim(), "cluster/member2 already cordoned");
    let taints = up.fed(&[
        "get",
        "cluster",
        "member2",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(
        taints.contains("cluster.karmada.io/unschedulable"),
        "{taints}"
    );
    assert_eq!(cordon("uncordon").trim(), "cluster/member2 uncordoned");
    let taints = up.fed(&[
        "get",
        "cluster",
        "member2",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(
        !taints.contains("cluster.karmada.io/unschedulable"),
        "{taints}"
    );
    eventually("the member has it", Duration::from_secs(60), || {
        (up.on_member(
            "member1",
            &["get", "configmap", "settings", "-o", "jsonpath={.data.k}"],
        )
        .trim()
            == "v")
            .then_some(())
    });
}

/// Application failover (issue 16 item 6): a workload that a member reports Unhealthy for
/// longer than `decisionConditions.tolerationSeconds` leaves it for the healthy members, the
/// binding recording why, and the old copy goes once the new placement is healthy.
#[test]
fn an_application_unhealthy_past_its_toleration_moves_to_a_healthy_cluster() {
    let up = Up::start(2);
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  propagateDeps: true
  failover:
    application:
      decisionConditions: {tolerationSeconds: 5}
      purgeMode: Gracefully
      gracePeriodSeconds: 600
  placement:
    clusterAffinity: {clusterNames: [member1, member2]}
    replicaScheduling:
      replicaSchedulingType: Divided
      replicaDivisionPreference: Weighted
      weightPreference:
        staticWeightList:
        - {targetCluster: {clusterNames: [member1]}, weight: 1}
        - {targetCluster: {clusterNames: [member2]}, weight: 1}
---
apiVersion: policy.karmada.io/v1alpha1
kind: OverridePolicy
metadata: {name: web-too-big-for-member1}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  overrideRules:
  - targetCluster: {clusterNames: [member1]}
    overriders:
      plaintext:
      - {path: /spec/template/spec/containers/0/resources, operator: add, value: {requests: {cpu: "100000"}}}
"#;
    up.apply_yaml("web.yaml", yaml);
    let placement = || up.placement("web-deployment");
    eventually("first placement 1:1", Duration::from_secs(30), || {
        (placement().trim() == "member1=1 member2=1").then_some(())
    });
    // member1 cannot run its replica (no node has the CPU it asks for): Unhealthy there.
    eventually(
        "member1 reported unhealthy",
        Duration::from_secs(60),
        || {
            let health = up.fed_get(&[
                "get",
                "rb",
                "web-deployment",
                "-o",
                "jsonpath={.status.aggregatedStatus[?(@.clusterName==\"member1\")].health}",
            ]);
            (health.trim() == "Unhealthy").then_some(())
        },
    );
    eventually(
        "both replicas moved to member2",
        Duration::from_secs(60),
        || (placement().trim() == "member2=2").then_some(()),
    );
    let task = up.fed(&[
        "get",
        "rb",
        "web-deployment",
        "-o",
        "jsonpath={range .spec.gracefulEvictionTasks[*]}{.fromCluster} {.reason} {.producer}{end}",
    ]);
    // The task may already be over if member2 reported healthy at once; while it exists it
    // says why.
    assert!(
        task.is_empty()
            || task.trim()
                == "member1 ApplicationFailure resource-binding-application-failover-controller",
        "{task}"
    );
    eventually("template 2/2 from member2", Duration::from_secs(60), || {
        let t = up.fed_get(&["get", "deployment", "web"]);
        t.lines()
            .nth(1)
            .is_some_and(|r| r.split_whitespace().nth(1) == Some("2/2"))
            .then_some(())
    });
    eventually(
        "member1's copy gone once member2 is healthy",
        Duration::from_secs(60),
        || {
            up.on_member("member1", &["get", "deploy", "web"])
                .contains("NotFound")
                .then_some(())
        },
    );
    assert_eq!(
        up.on_member(
            "member2",
            &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]
        )
        .trim(),
        "2"
    );
}

/// `propagateDeps` (issue 16, item 1; Karmada's "Propagate dependencies" walk-through): the
/// ConfigMap and Secret a Deployment references follow it to its clusters through attached
/// bindings, move with it, stop following when no longer referenced, and one created after the
/// workload still follows.
#[test]
fn dependencies_follow_their_workload_and_stop_when_no_longer_referenced() {
    let up = Up::start(2);
    let deployment = |volumes: &str, env: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: my-nginx, labels: {{app: my-nginx}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: my-nginx}}}}
  template:
    metadata: {{labels: {{app: my-nginx}}}}
    spec:
      containers:
      - image: nginx
        name: my-nginx
        env: [{env}]
      volumes: [{volumes}]
"#
        )
    };
    let policy = |cluster: &str| {
        format!(
            r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {{name: my-nginx-propagation}}
spec:
  propagateDeps: true
  resourceSelectors: [{{apiVersion: apps/v1, kind: Deployment, name: my-nginx}}]
  placement: {{clusterAffinity: {{clusterNames: [{cluster}]}}}}
"#
        )
    };
    let config = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: my-nginx-config}
data: {nginx.properties: "proxy-read-timeout: 10s"}
---
apiVersion: v1
kind: Secret
metadata: {name: my-nginx-secret}
stringData: {password: s3cret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
data: {k: v}
"#;
    let cm_volume = "{name: config, configMap: {name: my-nginx-config}}";
    let secret_env =
        "{name: PASSWORD, valueFrom: {secretKeyRef: {name: my-nginx-secret, key: password}}}";
    up.apply_yaml("config.yaml", config);
    up.apply_yaml(
        "app.yaml",
        &format!(
            "{}---{}",
            deployment(cm_volume, secret_env),
            policy("member1")
        ),
    );
    let has = |member: &str, what: &str| {
        !up.on_member(member, &["get", what, "-o", "name"])
            .contains("NotFound")
    };
    eventually(
        "the Deployment, its ConfigMap and Secret in member1",
        Duration::from_secs(60),
        || {
            (has("member1", "deploy/my-nginx")
                && has("member1", "configmap/my-nginx-config")
                && has("member1", "secret/my-nginx-secret"))
            .then_some(())
        },
    );
    assert!(!has("member2", "configmap/my-nginx-config"));
    assert!(
        !has("member1", "configmap/unrelated"),
        "an unreferenced ConfigMap was propagated"
    );
    let required_by = up.fed(&[
        "get",
        "rb",
        "my-nginx-config-configmap",
        "-o",
        "jsonpath={.spec.requiredBy[0].name}:{.spec.requiredBy[0].clusters[*].name}",
    ]);
    assert_eq!(required_by.trim(), "my-nginx-deployment:member1");
    let recorded = up.fed(&[
        "get",
        "rb",
        "my-nginx-deployment",
        "-o",
        "jsonpath={.metadata.annotations.resourcebinding\\.karmada\\.io/dependencies}",
    ]);
    assert!(recorded.contains("my-nginx-secret"), "{recorded}");

    // The workload moves to member2: its dependencies go with it and leave member1.
    up.apply_yaml("policy.yaml", &policy("member2"));
    eventually(
        "the dependencies moved to member2",
        Duration::from_secs(60),
        || {
            (has("member2", "configmap/my-nginx-config")
                && has("member2", "secret/my-nginx-secret")
                && !has("member1", "configmap/my-nginx-config")
                && !has("member1", "secret/my-nginx-secret"))
            .then_some(())
        },
    );

    // The Secret is no longer referenced, and a new ConfigMap is, before it exists.
    let late_env = "{name: LATE, valueFrom: {configMapKeyRef: {name: late-config, key: k}}}";
    up.apply_yaml("app2.yaml", &deployment(cm_volume, late_env));
    eventually(
        "the Secret withdrawn from member2",
        Duration::from_secs(60),
        || (!has("member2", "secret/my-nginx-secret")).then_some(()),
    );
    assert!(has("member2", "configmap/my-nginx-config"));
    let left = up.fed(&[
        "get",
        "rb",
        "my-nginx-secret-secret",
        "-o",
        "jsonpath={.spec.requiredBy}",
    ]);
    assert!(left.trim().is_empty(), "requiredBy kept: {left}");
    up.apply_yaml(
        "late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late-config}\ndata: {k: v}\n",
    );
    eventually(
        "a dependency created later follows too",
        Duration::from_secs(60),
        || has("member2", "configmap/late-config").then_some(()),
    );
}

/// `cceonectl get` (issue 16, item 10, as `karmadactl get`): one row per member cluster with a
/// CLUSTER column, the member's own columns and ADOPTION, read through the hub as the caller.
#[test]
fn cceonectl_get_shows_an_object_in_every_member() {
    let up = Up::start(2);
    up.apply_yaml(
        "nginx.yaml",
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, labels: {app: nginx}}
spec:
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec: {containers: [{name: nginx, image: nginx}]}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: nginx}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: nginx}]
  placement: {clusterAffinity: {clusterNames: [member1, member2]}}
"#,
    );
    // An object of the member's own, not the federation's.
    let kc = up.member("member2");
    Up::kubectl_at(
        &kc,
        &["create", "deployment", "local-only", "--image=busybox"],
    );
    let kc = up.kubeconfig();
    let kc = kc.to_str().unwrap();
    let get = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kc, "get"];
        all.extend_from_slice(args);
        let out = run("cceonectl", &all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let table = eventually(
        "nginx ready in both members",
        Duration::from_secs(90),
        || {
            let (ok, out, _) = get(&["deployment", "nginx"]);
            (ok && out.matches("2/2").count() == 2).then_some(out)
        },
    );
    let lines: Vec<&str> = table.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CLUSTER",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "ADOPTION"
        ],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(
        (rows[0][0], rows[0][1], rows[0][6]),
        ("nginx", "member1", "Y")
    );
    assert_eq!(
        (rows[1][0], rows[1][1], rows[1][6]),
        ("nginx", "member2", "Y")
    );

    // Every deployment of one member, by short name, the member's own marked N.
    let (ok, out, err) = get(&["deploy", "--clusters", "member2"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("local-only") && l.ends_with('N')),
        "{out}"
    );
    assert!(!out.contains("member1"), "{out}");

    // Pods by label, across namespaces.
    let (ok, out, err) = get(&["pods", "-A", "-l", "app=nginx"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("NAMESPACE"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("member1")).count(),
        2,
        "{out}"
    );

    // Nothing there, and a kind nobody serves.
    let (ok, _, err) = get(&["deployment", "missing"]);
    assert!(
        !ok && (err.contains("NotFound") || err.contains("not found")),
        "{err}"
    );
    let (ok, _, err) = get(&["nosuchkind"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("doesn't have a resource type \"nosuchkind\""),
        "{err}"
    );
    // The proxy tokens made for each command are gone.
    let left = up.fed(&[
        "get",
        "secrets",
        "-A",
        "-l",
        "cceone.io/kind=proxy-token",
        "-o",
        "name",
    ]);
    assert!(left.trim().is_empty(), "tokens left: {left}");
}

/// `suspension` (issue 16, item 3): dispatching suspended everywhere delivers nothing until
/// lifted; suspended on one cluster, an update reaches the others only, and the latest
/// generation reaches it once lifted; the binding's Suspended condition says which.
#[test]
fn suspended_dispatching_holds_delivery_back_until_lifted() {
    let up = Up::start(2);
    let app = |image: &str, suspension: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, labels: {{app: web}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: "{image}"}}]}}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {{name: web}}
spec:
  resourceSelectors: [{{apiVersion: apps/v1, kind: Deployment, name: web}}]
  placement: {{clusterAffinity: {{clusterNames: [member1, member2]}}}}
  suspension: {suspension}
"#
        )
    };
    let image = |member: &str| {
        up.on_member(
            member,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        )
        .trim()
        .to_string()
    };
    let condition = || {
        up.fed_get(&[
            "get",
            "rb",
            "web-deployment",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Suspended")].status}|{.status.conditions[?(@.type=="Suspended")].message}"#,
        ])
        .trim()
        .to_string()
    };
    up.apply_yaml("web.yaml", &app("nginx:1", "{dispatching: true}"));
    eventually(
        "the binding says dispatching is suspended",
        Duration::from_secs(60),
        || condition().starts_with("True|").then_some(()),
    );
    let works = up.fed(&["get", "works", "-A", "-o", "name"]);
    assert_eq!(works.matches("/web-").count(), 2, "{works}");
    assert!(
        up.on_member("member1", &["get", "deploy", "web"])
            .contains("NotFound")
            && up
                .on_member("member2", &["get", "deploy", "web"])
                .contains("NotFound"),
        "a suspended Work was delivered"
    );

    up.apply_yaml("web.yaml", &app("nginx:1", "null"));
    eventually("delivered once lifted", Duration::from_secs(60), || {
        (image("member1") == "nginx:1" && image("member2") == "nginx:1").then_some(())
    });
    eventually("Suspended False", Duration::from_secs(30), || {
        condition().starts_with("False|").then_some(())
    });

    // Suspend member2 first (within one file kubectl applies the Deployment before the
    // policy, so an update in the same apply would go out before the suspension).
    up.apply_yaml(
        "web.yaml",
        &app(
            "nginx:1",
            "{dispatchingOnClusters: {clusterNames: [member2]}}",
        ),
    );
    eventually(
        "the binding says member2 is suspended",
        Duration::from_secs(60),
        || {
            let c = condition();
            (c.starts_with("True|") && c.contains("member2")).then_some(())
        },
    );
    up.apply_yaml(
        "web.yaml",
        &app(
            "nginx:2",
            "{dispatchingOnClusters: {clusterNames: [member2]}}",
        ),
    );
    eventually(
        "the update reaches member1",
        Duration::from_secs(60),
        || (image("member1") == "nginx:2").then_some(()),
    );
    assert_eq!(
        image("member2"),
        "nginx:1",
        "member2's dispatching was not held"
    );

    up.apply_yaml("web.yaml", &app("nginx:2", "null"));
    eventually("member2 gets the latest", Duration::from_secs(60), || {
        (image("member2") == "nginx:2").then_some(())
    });
}

/// `cceonectl promote` (issue 16, item 8, as `karmadactl promote`): a Deployment and its
/// ConfigMap running in member1 come under federation control without their pods restarting,
/// then a policy edit spreads them to member2.
#[test]
fn promote_takes_a_running_workload_under_control_without_restarting_it() {
    let up = Up::start(2);
    let m1 = up.member("member1");
    let member_yaml = up.dir.path().join("member-web.yaml");
    std::fs::write(
        &member_yaml,
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        envFrom: [{configMapRef: {name: web-config}}]
"#,
    )
    .unwrap();
    let (applied, out) = Up::kubectl_at(&m1, &["apply", "-f", member_yaml.to_str().unwrap()]);
    assert!(applied, "{out}");
    let uids = || {
        up.on_member(
            "member1",
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={range .items[*]}{.metadata.uid}{\" \"}{.status.phase}{\"\\n\"}{end}",
            ],
        )
    };
    let before = eventually(
        "web's pods running in member1",
        Duration::from_secs(60),
        || {
            let out = uids();
            (out.lines().filter(|l| l.ends_with("Running")).count() == 2).then_some(out)
        },
    );

    let kc = up.kubeconfig();
    let out = ok(
        "cceonectl",
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "promote",
            "deployment",
            "web",
            "-n",
            "default",
            "-c",
            "member1",
            "--dependencies",
        ],
    );
    assert!(out.contains("promoted successfully"), "{out}");
    assert!(out.contains("configmaps(default/web-config)"), "{out}");

    let managed = |member: &str, what: &str| {
        up.on_member(
            member,
            &[
                "get",
                what,
                "-o",
                "jsonpath={.metadata.labels.karmada\\.io/managed}",
            ],
        )
        .trim()
            == "true"
    };
    eventually(
        "the federation manages web and its ConfigMap in member1, and reports it ready",
        Duration::from_secs(60),
        || {
            let ready = up.fed_get(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ]);
            (managed("member1", "deploy/web")
                && managed("member1", "configmap/web-config")
                && ready.trim() == "2")
                .then_some(())
        },
    );
    assert_eq!(uids(), before, "promoting restarted the pods");

    // A policy edit spreads it.
    let policy = up.fed(&["get", "pp", "-o", "name"]);
    let policy = policy.trim();
    assert!(policy.contains("/web-"), "{policy}");
    up.fed(&[
        "patch",
        policy,
        "--type=merge",
        "-p",
        r#"{"spec":{"placement":{"clusterAffinity":{"clusterNames":["member1","member2"]}}}}"#,
    ]);
    eventually(
        "web and its ConfigMap in member2",
        Duration::from_secs(60),
        || {
            (managed("member2", "deploy/web") && managed("member2", "configmap/web-config"))
                .then_some(())
        },
    );
    assert_eq!(uids(), before, "spreading restarted member1's pods");
}

/// Failback and WorkloadRebalancer (issue 16, item 7): a NoExecute taint moves divided
/// replicas off member2; once it is lifted, the workload whose policy says
/// `failover.cluster.failback: Always` gets its share back by itself, while the other (Karmada's
/// default) stays put until a WorkloadRebalancer asks for a fresh schedule.
#[test]
fn failback_returns_replicas_and_a_rebalancer_does_it_once() {
    let up = Up::start(2);
    let app = |name: &str, failback: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: nginx}}]}}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {{name: {name}}}
spec:
  resourceSelectors: [{{apiVersion: apps/v1, kind: Deployment, name: {name}}}]
  failover: {{cluster: {{purgeMode: Directly{failback}}}}}
  placement:
    clusterAffinity: {{clusterNames: [member1, member2]}}
    replicaScheduling:
      replicaSchedulingType: Divided
      replicaDivisionPreference: Weighted
      weightPreference:
        staticWeightList:
        - {{targetCluster: {{clusterNames: [member1]}}, weight: 1}}
        - {{targetCluster: {{clusterNames: [member2]}}, weight: 1}}
"#
        )
    };
    up.apply_yaml("back.yaml", &app("back", ", failback: Always"));
    up.apply_yaml("stay.yaml", &app("stay", ""));
    let split = "member1=2 member2=2";
    for b in ["back-deployment", "stay-deployment"] {
        eventually(&format!("{b} split 2/2"), Duration::from_secs(60), || {
            (up.placement(b).trim() == split).then_some(())
        });
    }
    let kc = up.kubeconfig();
    let kc = kc.to_str().unwrap();
    ok(
        "cceonectl",
        &[
            "--kubeconfig",
            kc,
            "taint",
            "cluster",
            "member2",
            "outage=yes:NoExecute",
        ],
    );
    for b in ["back-deployment", "stay-deployment"] {
        eventually(
            &format!("{b} all on member1"),
            Duration::from_secs(60),
            || (up.placement(b).trim() == "member1=4").then_some(()),
        );
    }
    ok(
        "cceonectl",
        &["--kubeconfig", kc, "taint", "cluster", "member2", "outage-"],
    );
    eventually("back fails back by itself", Duration::from_secs(60), || {
        (up.placement("back-deployment").trim() == split).then_some(())
    });
    // While member2's share is not ready, member1 keeps all four: the move never drops the
    // workload below its total. (member1 is read first: once member2 reads ready it stays so.)
    let field = |member: &str, path: &str| {
        up.on_member(
            member,
            &[
                "get",
                "deploy",
                "back",
                "-o",
                &format!("jsonpath={{{path}}}"),
            ],
        )
        .trim()
        .to_string()
    };
    let mut held = Vec::new();
    eventually(
        "back runs 2 replicas in member2",
        Duration::from_secs(60),
        || {
            let member1 = field("member1", ".spec.replicas");
            if field("member2", ".status.readyReplicas") == "2" {
                return Some(());
            }
            held.push(member1);
            None
        },
    );
    eprintln!("member1's replicas while member2's share was not ready: {held:?}");
    assert!(
        held.iter().all(|r| r == "4"),
        "member1 shrank before member2 was ready: {held:?}"
    );
    eventually("member1 back to its share", Duration::from_secs(60), || {
        (field("member1", ".spec.replicas") == "2").then_some(())
    });
    assert_eq!(
        up.placement("stay-deployment").trim(),
        "member1=4",
        "a workload without failback moved back"
    );

    up.apply_yaml(
        "rebalance.yaml",
        r#"
apiVersion: apps.karmada.io/v1alpha1
kind: WorkloadRebalancer
metadata: {name: once}
spec:
  workloads:
  - {apiVersion: apps/v1, kind: Deployment, name: stay, namespace: default}
  - {apiVersion: apps/v1, kind: Deployment, name: missing, namespace: default}
"#,
    );
    eventually("stay rebalanced", Duration::from_secs(60), || {
        (up.placement("stay-deployment").trim() == split).then_some(())
    });
    let results = eventually("the rebalancer finished", Duration::from_secs(30), || {
        let out = up.fed_get(&[
            "get",
            "workloadrebalancer",
            "once",
            "-o",
            "jsonpath={range .status.observedWorkloads[*]}{.workload.name}={.result}/{.reason} {end}|{.status.finishTime}",
        ]);
        let (results, finished) = out.trim().split_once('|')?;
        (!finished.is_empty()).then(|| results.to_string())
    });
    assert_eq!(
        results.trim(),
        "stay=Successful/ missing=Failed/ReferencedBindingNotFound",
        "{results}"
    );
}

/// Namespace sync (issue 16, item 1, as Karmada's namespace sync controller): a namespace
/// created in the federation reaches every member, one labelled
/// `namespace.karmada.io/skip-auto-propagation: "true"` does not, and deleting it in the
/// federation removes it from the members.
#[test]
fn namespaces_created_in_the_federation_reach_every_member() {
    let up = Up::start(2);
    up.fed(&["create", "namespace", "shop"]);
    up.apply_yaml(
        "private.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: private\n  labels: {namespace.karmada.io/skip-auto-propagation: \"true\"}\n",
    );
    let has = |member: &str, ns: &str| {
        !up.on_member(member, &["get", "namespace", ns, "-o", "name"])
            .contains("NotFound")
    };
    eventually("shop in both members", Duration::from_secs(60), || {
        (has("member1", "shop") && has("member2", "shop")).then_some(())
    });
    let managed = up.on_member(
        "member1",
        &[
            "get",
            "namespace",
            "shop",
            "-o",
            "jsonpath={.metadata.labels.karmada\\.io/managed}",
        ],
    );
    assert_eq!(managed.trim(), "true");
    assert!(
        !has("member1", "private") && !has("member2", "private"),
        "a namespace marked skip-auto-propagation was synced"
    );
    up.fed(&["delete", "namespace", "shop"]);
    eventually(
        "shop gone from the members",
        Duration::from_secs(60),
        || (!has("member1", "shop") && !has("member2", "shop")).then_some(()),
    );
}
