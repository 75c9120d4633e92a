//! Delete protection (seed §4.2, §6.1) holds whoever writes: a `kubectl delete` of a protected
//! RegisteredCluster is refused with the reason, and so is setting `spec.unsubscribed`, until
//! protection is turned off.
#![allow(clippy::unwrap_used)]

mod support;

use support::Fed;

const CLUSTER: &str = r#"
apiVersion: platform.cceone.io/v1alpha1
kind: RegisteredCluster
metadata:
  name: edge7
spec:
  type: third-party
  region: r1
  deleteProtection: true
"#;

/// `kubectl patch registeredcluster edge7` with a merge patch of its spec.
async fn patch_spec(fed: &Fed, spec: &str) -> support::Out {
    let patch = format!(r#"{{"spec":{spec}}}"#);
    fed.kubectl_with(
        &[
            "patch",
            "registeredcluster",
            "edge7",
            "--type=merge",
            "-p",
            &patch,
        ],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_cluster_is_neither_deleted_nor_unsubscribed_by_kubectl() {
    let fed = Fed::start().await;
    fed.apply(CLUSTER).await;

    let del = fed
        .kubectl_with(&["delete", "registeredcluster", "edge7"], None)
        .await;
    assert!(!del.ok, "a protected cluster was deleted: {}", del.stdout);
    assert!(
        del.stderr.contains("Forbidden") && del.stderr.contains("spec.deleteProtection"),
        "{}",
        del.stderr
    );

    let unsub = patch_spec(&fed, r#"{"unsubscribed":true}"#).await;
    assert!(!unsub.ok, "a protected cluster was unsubscribed");
    assert!(
        unsub.stderr.contains("spec.unsubscribed"),
        "{}",
        unsub.stderr
    );
    let still = fed
        .kubectl(&[
            "get",
            "registeredcluster",
            "edge7",
            "-o",
            "jsonpath={.spec.unsubscribed}",
        ])
        .await;
    assert_ne!(still.trim(), "true");

    // Protection off: both go through.
    for spec in [r#"{"deleteProtection":false}"#, r#"{"unsubscribed":true}"#] {
        let out = patch_spec(&fed, spec).await;
        assert!(out.ok, "{spec}: {}", out.stderr);
    }
    fed.kubectl(&["delete", "registeredcluster", "edge7"]).await;
    let gone = fed
        .kubectl_with(&["get", "registeredcluster", "edge7"], None)
        .await;
    assert!(
        !gone.ok && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );
    fed.stop().await;
}
