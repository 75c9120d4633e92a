//! The federation with its store on etcd (`cceone-federation --etcd-servers URL`): objects
//! applied with kubectl live in etcd (not in the data directory), survive a kill -9 and restart
//! of the federation with their resourceVersions, and the federation serves again after etcd
//! itself is killed and restarted.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cceone_kube_store::Store;
use cceone_kube_store_etcd::testing::TestEtcd;
use cceone_kube_store_etcd::{EtcdConfig, EtcdStore};
use support::{Proc, eventually, kubectl, root, run, step};

/// kubectl's stdout when it succeeds, None otherwise (for waiting on a server coming back).
fn try_kubectl(kc: &Path, args: &[&str]) -> Option<String> {
    let kc = kc.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str(), "--request-timeout=5s"];
    all.extend_from_slice(args);
    let out = run("kubectl", &all);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The configmap's `color` and resourceVersion, as kubectl shows them.
fn settings(kc: &Path) -> Option<String> {
    try_kubectl(
        kc,
        &[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.color}:{.metadata.resourceVersion}",
        ],
    )
}

/// What etcd itself holds for the configmap: its resourceVersion.
fn in_etcd(url: &str) -> Option<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EtcdStore::connect(EtcdConfig {
            compaction_interval: None,
            ..EtcdConfig::new(vec![url.to_string()])
        })
        .await
        .unwrap();
        let kv = store
            .get("/core/configmaps/default/settings")
            .await
            .unwrap()?;
        Some(kv.mod_revision)
    })
}

#[test]
fn federation_on_etcd_keeps_objects_across_restarts() {
    let mut etcd = TestEtcd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("federation");
    let kc: PathBuf = dir.path().join("fed.kubeconfig");
    let args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--kubeconfig-out".into(),
        kc.display().to_string(),
        "--etcd-servers".into(),
        etcd.url(),
    ];
    let mut fed = Proc::start(
        "federation",
        "cceone-federation",
        &args,
        &BTreeMap::new(),
        dir.path(),
    );
    eventually(
        "federation serving on etcd",
        Duration::from_secs(90),
        || kc.exists().then_some(()),
    );

    let manifest = root().join("examples").join("nginx.yaml");
    let applied = kubectl(&kc, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        applied.contains("deployment.apps/nginx created"),
        "{applied}"
    );
    kubectl(
        &kc,
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=color=blue",
        ],
    );
    let before = settings(&kc).unwrap();
    let rv1: u64 = before.strip_prefix("blue:").unwrap().parse().unwrap();
    eventually(
        "the policy binds the deployment",
        Duration::from_secs(30),
        || try_kubectl(&kc, &["get", "rb", "nginx-deployment", "-o", "name"]),
    );

    // The objects are in etcd, under the resourceVersion kubectl saw; none in the data dir.
    assert_eq!(in_etcd(&etcd.url()), Some(rv1));
    assert!(
        !data.join("store").exists(),
        "the embedded store was opened"
    );

    step("kill -9 the federation and start it again");
    std::fs::remove_file(&kc).unwrap();
    fed.kill();
    fed.restart();
    eventually("federation serving again", Duration::from_secs(90), || {
        kc.exists().then_some(())
    });
    assert_eq!(
        settings(&kc).unwrap(),
        format!("blue:{rv1}"),
        "same object, same resourceVersion"
    );
    for (kind, name) in [
        ("deployment", "nginx"),
        ("propagationpolicy", "example-policy"),
        ("overridepolicy", "example"),
        ("resourcebinding", "nginx-deployment"),
    ] {
        let got = kubectl(&kc, &["get", kind, name, "-o", "name"]);
        assert!(got.contains(name), "{kind}/{name} after the restart: {got}");
    }
    kubectl(
        &kc,
        &[
            "patch",
            "configmap",
            "settings",
            "-p",
            r#"{"data":{"color":"green"}}"#,
        ],
    );
    let after = settings(&kc).unwrap();
    let rv2: u64 = after.strip_prefix("green:").unwrap().parse().unwrap();
    assert!(
        rv2 > rv1,
        "resourceVersions go on increasing: {rv1} then {rv2}"
    );
    // An update with the old resourceVersion is a conflict.
    let stale = run(
        "kubectl",
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            &format!(r#"{{"metadata":{{"resourceVersion":"{rv1}"}},"data":{{"color":"red"}}}}"#),
        ],
    );
    assert!(
        !stale.status.success(),
        "a stale resourceVersion was accepted"
    );
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("modified"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );

    step("kill -9 etcd and start it again");
    etcd.kill();
    etcd.restart().unwrap();
    eventually(
        "the federation serves from etcd again",
        Duration::from_secs(60),
        || {
            settings(&kc)
                .filter(|s| *s == format!("green:{rv2}"))
                .and_then(|_| try_kubectl(&kc, &["create", "configmap", "after-etcd-restart"]))
        },
    );
    assert!(fed.running(), "the federation outlived etcd's restart");
}

#[test]
fn cceone_up_on_etcd() {
    let etcd = TestEtcd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hub_port = support::free_port();
    let args: Vec<String> = vec![
        "up".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--clusters".into(),
        "1".into(),
        "--nodes-per-cluster".into(),
        "1".into(),
        "--hub-listen".into(),
        format!("127.0.0.1:{hub_port}"),
        "--federation-listen".into(),
        "127.0.0.1:0".into(),
        "--etcd-servers".into(),
        etcd.url(),
    ];
    let _up = Proc::start("cceone", "cceone", &args, &BTreeMap::new(), dir.path());
    let kc = data.join("admin.kubeconfig");
    eventually("cceone up ready on etcd", Duration::from_secs(120), || {
        kc.exists().then_some(())
    });
    let clusters = kubectl(&kc, &["get", "cluster"]);
    assert!(clusters.contains("member1"), "{clusters}");
    // The federation's objects are in etcd (the Cluster the platform made for member1); its
    // data directory has certificates but no store.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster = rt.block_on(async {
        let store = EtcdStore::connect(EtcdConfig {
            compaction_interval: None,
            ..EtcdConfig::new(vec![etcd.url()])
        })
        .await
        .unwrap();
        store
            .get("/cluster.karmada.io/clusters/member1")
            .await
            .unwrap()
    });
    assert!(cluster.is_some(), "member1's Cluster is not in etcd");
    assert!(!data.join("federation").join("store").exists());
}
