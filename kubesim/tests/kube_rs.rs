//! The simulator's API through kube-rs, as controllers use it: typed and dynamic clients,
//! discovery, server-side apply, watch order and resume under concurrent writers, 410 Gone after
//! compaction, a `watcher` that misses nothing across a server restart, and no acknowledged
//! write lost to `kill -9`.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::discovery::Discovery;
use kube::runtime::watcher;
use serde_json::json;
use support::{Sim, eventually_async};

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}})).unwrap()
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_client_crud_and_errors() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let created = deploys
        .create(&PostParams::default(), &deployment("web", 3))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let again = deploys
        .create(&PostParams::default(), &deployment("web", 3))
        .await
        .unwrap_err();
    assert!(
        matches!(&again, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{again:?}"
    );

    // Status-only writes do not bump generation; spec writes do.
    let patched = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let ready = eventually_async("web 4/4", Duration::from_secs(30), || async {
        let d = deploys.get("web").await.ok()?;
        (d.status.as_ref()?.ready_replicas == Some(4)).then_some(d)
    })
    .await;
    assert_eq!(ready.metadata.generation, Some(2));
    assert_eq!(ready.status.unwrap().observed_generation, Some(2));

    // Optimistic concurrency: a stale resourceVersion is refused with 409.
    let mut stale = patched.clone();
    stale.spec.replicas = Some(1);
    let err = deploys
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );

    // Invalid objects name the field.
    let mut bad = deployment("bad", 1);
    bad.spec.template.spec.as_mut().unwrap().containers[0].image = None;
    let err = deploys
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message
                    .contains("spec.template.spec.containers[0].image: Required value"),
                "{}",
                s.message
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let missing = deploys.get("nosuch").await.unwrap_err();
    assert!(
        matches!(&missing, kube::Error::Api(s) if s.code == 404),
        "{missing:?}"
    );

    // Paging with limit/continue returns every object once.
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..25 {
        cms.create(&PostParams::default(), &cm(&format!("page-{i:02}"), "x"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(10);
    loop {
        let page = cms.list(&lp).await.unwrap();
        seen.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    let pages: Vec<_> = seen.iter().filter(|n| n.starts_with("page-")).collect();
    assert_eq!(pages.len(), 25);
    assert_eq!(pages.iter().collect::<BTreeSet<_>>().len(), 25);
    deploys
        .delete("web", &DeleteParams::background())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_client_discovery_and_server_side_apply() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.kind == "Deployment")
        .unwrap();
    assert_eq!(
        (ar.group.as_str(), ar.version.as_str(), ar.plural.as_str()),
        ("apps", "v1", "deployments")
    );
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        discovery
            .groups()
            .any(|g| g.name() == "rbac.authorization.k8s.io")
    );

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ssa", "labels": {"a": "1", "b": "2"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ssa"}},
            "template": {"metadata": {"labels": {"app": "ssa"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    let pp = PatchParams::apply("tester");
    let applied = api.patch("ssa", &pp, &Patch::Apply(&obj)).await.unwrap();
    let mf = applied.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("tester"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // Another manager takes replicas; re-applying a different value conflicts, force wins.
    let typed: Api<Deployment> = Api::namespaced(client, "default");
    typed
        .patch(
            "ssa",
            &PatchParams {
                field_manager: Some("scaler".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    let mut changed = obj.clone();
    changed.data["spec"]["replicas"] = json!(3);
    let err = api
        .patch("ssa", &pp, &Patch::Apply(&changed))
        .await
        .unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("conflict with \"scaler\"")
                    && s.message.contains(".spec.replicas"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = api
        .patch("ssa", &pp.clone().force(), &Patch::Apply(&changed))
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 3);

    // Dropping a field from the applied config removes it (no one else owns it).
    let mut fewer = changed.clone();
    fewer.metadata.labels.as_mut().unwrap().remove("b");
    let after = api
        .patch("ssa", &pp.force(), &Patch::Apply(&fewer))
        .await
        .unwrap();
    let labels = after.metadata.labels.unwrap();
    assert!(
        labels.contains_key("a") && !labels.contains_key("b"),
        "{labels:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_order_resume_and_gone_under_concurrent_writers() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start_rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(60), &start_rv)
        .await
        .unwrap()
        .boxed();

    let writers: Vec<_> = (0..4)
        .map(|w| {
            let cms = cms.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let name = format!("w{w}-{i}");
                    cms.create(&PostParams::default(), &cm(&name, "0"))
                        .await
                        .unwrap();
                    cms.patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"data": {"v": "1"}})),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let mut events = Vec::new();
    while events.len() < 200 {
        let ev = tokio::time::timeout(Duration::from_secs(20), stream.try_next())
            .await
            .expect("watch stalled")
            .unwrap()
            .unwrap();
        match ev {
            WatchEvent::Added(o) => events.push((
                "ADDED",
                o.metadata.name.unwrap(),
                o.metadata.resource_version.unwrap(),
            )),
            WatchEvent::Modified(o) => events.push((
                "MODIFIED",
                o.metadata.name.unwrap(),
                o.metadata.resource_version.unwrap(),
            )),
            other => panic!("unexpected {other:?}"),
        }
    }
    let rvs: Vec<u64> = events.iter().map(|e| e.2.parse().unwrap()).collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "resourceVersions must strictly increase"
    );
    // Each object: ADDED before MODIFIED.
    for (kind, name, rv) in &events {
        if *kind == "MODIFIED" {
            let added = events
                .iter()
                .find(|e| e.0 == "ADDED" && &e.1 == name)
                .unwrap();
            assert!(added.2.parse::<u64>().unwrap() < rv.parse::<u64>().unwrap());
        }
    }
    // Resuming from the middle replays exactly the tail.
    let mid = &events[99].2;
    let mut resumed = cms
        .watch(&WatchParams::default().timeout(30), mid)
        .await
        .unwrap()
        .boxed();
    let mut tail = Vec::new();
    while tail.len() < 100 {
        match tokio::time::timeout(Duration::from_secs(20), resumed.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                tail.push(o.metadata.resource_version.unwrap())
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<String> = events[100..].iter().map(|e| e.2.clone()).collect();
    assert_eq!(tail, expected);

    // After compaction, resuming from an old version is 410 Gone.
    let req = http::Request::post("/admin/compact")
        .body(Vec::new())
        .unwrap();
    client.request_text(req).await.unwrap();
    let mut gone = cms
        .watch(&WatchParams::default(), &start_rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), gone.try_next())
        .await
        .unwrap()
    {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_misses_nothing_across_a_restart() {
    let mut sim = Sim::start(&[]);
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_api = cms.clone();
    let task = tokio::spawn(async move {
        let mut s = watcher(watch_api, watcher::Config::default()).boxed();
        while let Some(ev) = s.next().await {
            if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = ev {
                let _ = tx.send((
                    o.metadata.name.unwrap(),
                    o.data
                        .unwrap_or_default()
                        .get("v")
                        .cloned()
                        .unwrap_or_default(),
                ));
            }
        }
    });
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("before-{i}"), "1"))
            .await
            .unwrap();
    }
    sim.restart();
    // The same kube client reconnects to the restarted server (same port, same CA and token).
    let client2 = sim.client().await;
    let cms2: Api<ConfigMap> = Api::namespaced(client2, "default");
    for i in 0..10 {
        cms2.create(&PostParams::default(), &cm(&format!("after-{i}"), "1"))
            .await
            .unwrap();
    }
    cms2.patch(
        "before-3",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    let mut seen = BTreeSet::new();
    let mut before3_updated = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 20 || !before3_updated {
        let (name, v) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("watcher missed events")
            .unwrap();
        if name == "before-3" && v == "2" {
            before3_updated = true;
        }
        if name.starts_with("before-") || name.starts_with("after-") {
            seen.insert(name);
        }
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_lost_on_kill_9() {
    let mut sim = Sim::start(&[]);
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let cms = cms.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("ack-{w}-{i}");
                    match cms.create(&PostParams::default(), &cm(&name, "x")).await {
                        Ok(_) => {
                            if tx.send(name).is_err() {
                                return;
                            }
                        }
                        Err(_) => return, // the server died under us: unacknowledged
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < 300 {
        acked.push(
            tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    sim.kill9();
    for w in writers {
        let _ = w.await;
    }
    while let Ok(name) = rx.try_recv() {
        acked.push(name);
    }
    sim.start_again();
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let names: BTreeSet<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    let lost: Vec<_> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}
