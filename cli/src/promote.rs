//! `cceonectl promote KIND NAME -n NS -c CLUSTER`: take an object that already runs in a member
//! under federation control without touching it, as `karmadactl promote` does
//! (pkg/karmadactl/promote/promote.go): the member's object, stripped of what its API server
//! set (`prune.RemoveIrrelevantField`), becomes a resource template in the federation with the
//! `work.karmada.io/conflict-resolution: overwrite` annotation, and a PropagationPolicy (a
//! ClusterPropagationPolicy for a cluster-scoped object) places it on that cluster alone. The
//! Work then carries back what the member already runs, so nothing restarts; a policy edit can
//! spread it to other clusters afterwards.
//!
//! With `--dependencies` the ConfigMaps, Secrets, ServiceAccounts and claims the workload
//! references are promoted the same way and the policy asks for `propagateDeps`.

use anyhow::{Context as _, bail};
use cceone_federation_core::dependencies::dependencies;
use cceone_federation_core::names;
use cceone_platform::hubinfo;
use serde_json::{Map, Value, json};

use crate::args::PromoteArgs;
use crate::emit;
use crate::get::{MemberClient, Resource, resolve, whoami};

/// Metadata the member's API server set, which a template must not carry.
const SERVER_SET: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "selfLink",
    "finalizers",
];

/// The member's object as a template (`RemoveIrrelevantField` and `addOverwriteAnnotation`).
fn as_template(mut obj: Value) -> Value {
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_SET {
            meta.remove(*k);
        }
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = annotations.as_object_mut() {
            // What the member's controllers keep; it would only be written back.
            a.remove("deployment.kubernetes.io/revision");
            a.entry(names::CONFLICT_RESOLUTION_ANNOTATION)
                .or_insert_with(|| json!("overwrite"));
        }
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    match kind {
        // Allocated by each member: leave them to it (`removeServiceIrrelevantField`).
        "Service" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
                if !headless {
                    spec.remove("clusterIP");
                    spec.remove("clusterIPs");
                }
            }
        }
        // The controller's uid selector and labels (`removeJobIrrelevantField`).
        "Job" => {
            const JOB_LABELS: &[&str] = &[
                "controller-uid",
                "batch.kubernetes.io/controller-uid",
                "job-name",
                "batch.kubernetes.io/job-name",
            ];
            for path in [
                "/spec/selector/matchLabels",
                "/spec/template/metadata/labels",
            ] {
                if let Some(labels) = obj.pointer_mut(path).and_then(Value::as_object_mut) {
                    labels.retain(|k, _| !JOB_LABELS.contains(&k.as_str()));
                }
            }
            let empty_selector = obj
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty);
            if empty_selector && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.remove("selector");
            }
        }
        _ => {}
    }
    obj
}

/// Karmada's `names.GeneratePolicyName`: `<name>-<hash of namespace, name and kind>`.
fn policy_name(namespace: &str, name: &str, gvk: &str) -> String {
    let key = format!("{namespace}/{name}/{gvk}");
    let hash = cceone_federation_core::fnv32a(key.as_bytes());
    format!("{name}-{hash:x}")
}

/// The policy placing a promoted object on its cluster.
fn policy(
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    cluster: &str,
    with_deps: bool,
) -> Value {
    let api_version = if resource.group.is_empty() {
        resource.version.clone()
    } else {
        format!("{}/{}", resource.group, resource.version)
    };
    let gvk = format!("{api_version}, Kind={}", resource.kind);
    let pname = policy_name(namespace.unwrap_or(""), name, &gvk);
    let mut metadata = json!({"name": pname});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    let mut spec = json!({
        "resourceSelectors": [{"apiVersion": api_version, "kind": resource.kind, "name": name}],
        "placement": {"clusterAffinity": {"clusterNames": [cluster]}},
    });
    if with_deps {
        spec["propagateDeps"] = json!(true);
    }
    json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": if namespace.is_some() { "PropagationPolicy" } else { "ClusterPropagationPolicy" },
        "metadata": metadata,
        "spec": spec,
    })
}

/// GET a path as JSON; `None` when 404.
async fn get_json(client: &kube::Client, path: &str) -> anyhow::Result<Option<Value>> {
    let req = http::Request::get(path).body(Vec::new())?;
    match client.request::<Value>(req).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// POST an object to a collection.
async fn create(client: &kube::Client, path: &str, obj: &Value) -> anyhow::Result<()> {
    let req = http::Request::post(path)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(obj)?)?;
    client.request::<Value>(req).await?;
    Ok(())
}

/// Create the template in the federation unless one is there; false when it was.
async fn promote_object(
    fed: &kube::Client,
    resource: &Resource,
    namespace: Option<&str>,
    obj: Value,
) -> anyhow::Result<bool> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let collection = resource.path(namespace);
    if get_json(fed, &format!("{collection}/{name}"))
        .await?
        .is_some()
    {
        return Ok(false);
    }
    if let Some(ns) = namespace
        && get_json(fed, &format!("/api/v1/namespaces/{ns}"))
            .await?
            .is_none()
    {
        create(
            fed,
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await
        .with_context(|| format!("creating namespace {ns} in the federation"))?;
    }
    create(fed, &collection, &as_template(obj))
        .await
        .with_context(|| format!("creating {}/{name} in the federation", resource.plural))?;
    Ok(true)
}

/// `cceonectl promote`.
pub(crate) async fn run(fed: &kube::Client, a: PromoteArgs) -> anyhow::Result<()> {
    let resource = resolve(fed, &a.kind).await?;
    let namespace = resource.namespaced.then_some(a.namespace.as_str());
    let who = whoami(fed).await?;
    let hub = hubinfo::read(fed)
        .await
        .context("reading the hub's connection info")?;
    let member = MemberClient::open(fed, &hub, a.endpoint, &who, &a.cluster).await?;
    let read = async {
        let obj = get_json(
            &member.client,
            &format!("{}/{}", resource.path(namespace), a.name),
        )
        .await?;
        let Some(obj) = obj else {
            bail!(
                "{} {} does not exist in cluster {}",
                resource.plural,
                a.name,
                a.cluster
            );
        };
        let mut deps = Vec::new();
        if a.dependencies {
            for d in dependencies(&obj) {
                let dres = resolve(fed, &d.kind).await?;
                let path = format!("{}/{}", dres.path(Some(&d.namespace)), d.name);
                match get_json(&member.client, &path).await? {
                    Some(v) => deps.push((dres, v)),
                    None => eprintln!(
                        "warning: {} {}/{} is referenced but not in cluster {}",
                        d.kind, d.namespace, d.name, a.cluster
                    ),
                }
            }
        }
        anyhow::Ok((obj, deps))
    }
    .await;
    member.close(fed).await;
    let (obj, deps) = read?;

    let shown = match namespace {
        Some(ns) => format!("{}({ns}/{})", resource.plural, a.name),
        None => format!("{}({})", resource.plural, a.name),
    };
    if !promote_object(fed, &resource, namespace, obj).await? {
        emit(&format!(
            "Resource {shown} already exists in the federation; edit its PropagationPolicy and OverridePolicy to propagate it\n"
        ))?;
        return Ok(());
    }
    for (dres, dobj) in deps {
        let dname = dobj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if promote_object(fed, &dres, namespace, dobj).await? {
            emit(&format!(
                "Dependency {}({}/{dname}) is promoted\n",
                dres.plural,
                namespace.unwrap_or("")
            ))?;
        }
    }
    let pp = policy(&resource, namespace, &a.name, &a.cluster, a.dependencies);
    let path = match namespace {
        Some(ns) => format!("/apis/policy.karmada.io/v1alpha1/namespaces/{ns}/propagationpolicies"),
        None => "/apis/policy.karmada.io/v1alpha1/clusterpropagationpolicies".to_string(),
    };
    create(fed, &path, &pp).await.with_context(|| {
        format!(
            "creating the policy {} (if it exists, edit it to propagate the resource)",
            pp["metadata"]["name"]
        )
    })?;
    emit(&format!(
        "Resource {shown} is promoted successfully (policy {})\n",
        pp["metadata"]["name"].as_str().unwrap_or("")
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_lose_what_the_member_set_and_ask_to_overwrite() {
        let member = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "9",
                "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [],
                "labels": {"app": "web"},
                "annotations": {"deployment.kubernetes.io/revision": "2", "team": "a"}},
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2},
        });
        let t = as_template(member);
        assert_eq!(
            t,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                    "annotations": {"team": "a", "work.karmada.io/conflict-resolution": "overwrite"}},
                "spec": {"replicas": 2},
            })
        );
        let svc = as_template(json!({"kind": "Service", "metadata": {"name": "s"},
            "spec": {"clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"], "ports": []}}));
        assert!(svc["spec"].get("clusterIP").is_none() && svc["spec"].get("ports").is_some());
        let headless = as_template(json!({"kind": "Service", "metadata": {"name": "s"},
            "spec": {"clusterIP": "None"}}));
        assert_eq!(headless["spec"]["clusterIP"], "None");
        let job = as_template(json!({"kind": "Job", "metadata": {"name": "j"}, "spec": {
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "x"}},
            "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "x",
                "batch.kubernetes.io/job-name": "j", "app": "j"}}}}}));
        assert!(job["spec"].get("selector").is_none(), "{job}");
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"],
            json!({"app": "j"})
        );
    }

    #[test]
    fn policies_place_the_object_on_its_cluster() {
        let r = Resource {
            group: "apps".into(),
            version: "v1".into(),
            plural: "deployments".into(),
            kind: "Deployment".into(),
            namespaced: true,
        };
        let p = policy(&r, Some("shop"), "web", "member1", true);
        assert_eq!(p["kind"], "PropagationPolicy");
        assert!(p["metadata"]["name"].as_str().unwrap().starts_with("web-"));
        assert_eq!(
            p["spec"]["placement"]["clusterAffinity"]["clusterNames"],
            json!(["member1"])
        );
        assert_eq!(p["spec"]["resourceSelectors"][0]["apiVersion"], "apps/v1");
        assert_eq!(p["spec"]["propagateDeps"], true);
        let cp = policy(&r, None, "web", "member1", false);
        assert_eq!(cp["kind"], "ClusterPropagationPolicy");
        assert!(cp["spec"].get("propagateDeps").is_none());
        assert_ne!(policy_name("a", "web", "x"), policy_name("b", "web", "x"));
    }
}
