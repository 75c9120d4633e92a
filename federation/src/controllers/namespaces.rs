//! Namespace sync (Karmada's `pkg/controllers/namespace/namespace_sync_controller.go`): every
//! namespace created in the federation goes to every member cluster as a Work, so workloads
//! placed there later find it, and it leaves them when deleted in the federation.
//!
//! Skipped as Karmada skips them: `default`, `kube-*`, `karmada-system`, `karmada-cluster`,
//! the execution spaces `karmada-es-*`, namespaces labelled
//! `namespace.karmada.io/skip-auto-propagation: "true"`; and (ours) the platform's own
//! namespace and a namespace a ClusterPropagationPolicy claims, whose binding places it.

use std::sync::Arc;

use cceone_federation_core::names;
use cceone_federation_core::work::{execution_space, work_name};
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::error::Error;
use crate::json::{deleting, merge_diff, s, set};
use crate::resources;
use crate::runtime::{ObjKey, Requeue};

/// The label on a namespace that keeps it out of the members.
pub(crate) const SKIP_LABEL: &str = "namespace.karmada.io/skip-auto-propagation";
/// The label on the Works of a synced namespace, naming it.
pub(crate) const SYNC_LABEL: &str = "namespace.cceone.io/sync";

/// Whether a namespace is one Karmada never syncs (`namespaceShouldBeSynced`).
pub(crate) fn reserved(name: &str) -> bool {
    name == "default"
        || name == cceone_platform::SYSTEM_NAMESPACE
        || name == cceone_platform::usertoken::NAMESPACE
        || cceone_federation_core::detector::is_skipped_namespace(name)
}

/// The manifest a member receives: the namespace's name, labels and annotations.
fn manifest(ns: &Value) -> Value {
    let mut labels: Map<String, Value> = ns
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // The member's API server sets this one itself.
    labels.remove("kubernetes.io/metadata.name");
    labels.insert(names::MANAGED_BY_KARMADA_LABEL.into(), json!("true"));
    let mut annotations: Map<String, Value> = ns
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(
        names::CONFLICT_RESOLUTION_ANNOTATION.into(),
        json!("overwrite"),
    );
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": s(ns, "/metadata/name"),
            "labels": labels,
            "annotations": annotations,
        },
    })
}

/// The Work carrying a namespace to one cluster (without the execution finalizer, as the
/// binding controller writes Works: the hub relays a Work's deletion when it disappears).
fn work(ns: &Value, cluster: &str) -> Value {
    let name = s(ns, "/metadata/name");
    json!({
        "apiVersion": "work.karmada.io/v1alpha1",
        "kind": "Work",
        "metadata": {
            "name": work_name("Namespace", name, ""),
            "namespace": execution_space(cluster),
            "labels": {SYNC_LABEL: name},
            "annotations": {names::CONFLICT_RESOLUTION_ANNOTATION: "overwrite"},
        },
        "spec": {"workload": {"manifests": [manifest(ns)]}},
    })
}

/// Bring one namespace's Works in line with whether and where it should be.
pub(crate) async fn reconcile(ctx: Arc<Ctx>, name: String) -> Result<Requeue, Error> {
    let key = ObjKey::cluster(name.clone());
    let ns = ctx.namespaces.get(&key).filter(|ns| {
        !deleting(ns)
            && !reserved(&name)
            && ns
                .pointer("/metadata/labels")
                .and_then(|l| l.get(SKIP_LABEL))
                .and_then(Value::as_str)
                != Some("true")
    });
    let claimed = ctx
        .crbs
        .get(&ObjKey::cluster(cceone_federation_core::binding_name(
            "Namespace",
            &name,
        )))
        .is_some();
    let war = resources::work();
    let wname = work_name("Namespace", &name, "");
    let mut wanted = Vec::new();
    if let Some(ns) = ns.filter(|_| !claimed) {
        for cluster in ctx.cluster_values().iter().filter(|c| !c.deleting()) {
            wanted.push(execution_space(cluster.name()));
            let desired = work(&ns, cluster.name());
            let wkey = ObjKey::new(&execution_space(cluster.name()), wname.clone());
            match ctx.works.get(&wkey) {
                None => match ctx.writer.create(&war, desired).await {
                    Err(e) if e.is_already_exists() => {}
                    other => {
                        other?;
                    }
                },
                Some(live) if deleting(&live) => {}
                Some(live) => {
                    // The cache keeps Works projected: compare like with like.
                    let mut want = desired.clone();
                    resources::project_work(&mut want);
                    let project = |w: &Value| json!({"labels": w.pointer("/metadata/labels"), "workload": w.pointer("/spec/workload")});
                    if merge_diff(&project(&live), &project(&want)).is_some() {
                        let mut patch = json!({
                            "metadata": {"labels": {SYNC_LABEL: name}},
                            "spec": {"workload": desired.pointer("/spec/workload")},
                        });
                        set(
                            &mut patch,
                            &["metadata", "resourceVersion"],
                            json!(s(&live, "/metadata/resourceVersion")),
                        );
                        ctx.writer.merge_patch(&war, &wkey, &patch, false).await?;
                    }
                }
            }
        }
    }
    // Works of this namespace no longer wanted (it went, is skipped now, is claimed by a
    // policy, or its cluster left).
    for key in ctx.works.keys() {
        if key.name != wname || wanted.iter().any(|w| key.ns() == w) {
            continue;
        }
        let ours = ctx.works.get(&key).is_some_and(|w| {
            w.pointer("/metadata/labels")
                .and_then(|l| l.get(SYNC_LABEL))
                .and_then(Value::as_str)
                == Some(name.as_str())
        });
        if ours {
            tracing::info!(namespace = %name, work = %key, "namespace no longer synced there; removing its work");
            ctx.writer.delete(&war, &key).await?;
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reserved_namespaces_and_the_work_shape() {
        for n in [
            "default",
            "kube-system",
            "kube-public",
            "karmada-system",
            "karmada-es-m1",
        ] {
            assert!(reserved(n), "{n}");
        }
        assert!(!reserved("shop"));
        let ns = json!({"metadata": {"name": "shop", "labels": {"team": "a",
            "kubernetes.io/metadata.name": "shop"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}});
        let w = work(&ns, "m1");
        assert_eq!(w["metadata"]["namespace"], "karmada-es-m1");
        assert_eq!(w["metadata"]["labels"][SYNC_LABEL], "shop");
        let m = &w["spec"]["workload"]["manifests"][0];
        assert_eq!(
            m["metadata"]["labels"],
            json!({"team": "a", "karmada.io/managed": "true"})
        );
        assert!(
            m["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
    }
}
