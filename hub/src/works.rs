//! The Work relay (protocol version 2): the hub watches the Works of each cluster whose tunnel it
//! holds (namespace `karmada-es-<cluster>`), pushes each new spec generation down the tunnel,
//! tells the agent when a Work goes, and writes the agent's reports back as Work status.
//! Deliveries are keyed on the Work's uid and generation, so status writes never cause a
//! re-apply, and after a reconnect only what differs from the agent's inventory is resent.

use std::collections::HashMap;

use cceone_proto::v1::{self, hub_message};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Namespace holding a cluster's Works (Karmada's execution space).
pub(crate) fn execution_namespace(cluster: &str) -> String {
    format!("karmada-es-{cluster}")
}

fn work_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("work.karmada.io", "v1alpha1", "Work"),
        "works",
    )
}

fn delivery(w: &DynamicObject) -> Option<v1::WorkDelivery> {
    let manifests = w
        .data
        .pointer("/spec/workload/manifests")
        .and_then(Value::as_array)?;
    Some(v1::WorkDelivery {
        namespace: w.metadata.namespace.clone().unwrap_or_default(),
        name: w.metadata.name.clone()?,
        uid: w.metadata.uid.clone().unwrap_or_default(),
        resource_version: w.metadata.resource_version.clone().unwrap_or_default(),
        generation: w.metadata.generation.unwrap_or(0),
        manifests: manifests
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap_or_default())
            .collect(),
        preserve_resources_on_deletion: w
            .data
            .pointer("/spec/preserveResourcesOnDeletion")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn send(control: &mpsc::Sender<v1::HubMessage>, m: hub_message::Msg) -> bool {
    // A full queue means the agent is not reading; the session's heartbeat deadline will end it.
    control.try_send(v1::HubMessage { msg: Some(m) }).is_ok() || !control.is_closed()
}

/// Relay a cluster's Works until the session ends (the task is aborted then).
pub(crate) async fn relay(
    client: kube::Client,
    cluster: String,
    inventory: v1::WorkInventory,
    control: mpsc::Sender<v1::HubMessage>,
) {
    let ns = execution_namespace(&cluster);
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &work_resource());
    // What the agent holds: name -> (uid, generation).
    let mut held: HashMap<String, (String, i64)> = inventory
        .works
        .into_iter()
        .filter(|w| w.namespace == ns)
        .map(|w| (w.name, (w.uid, w.generation)))
        .collect();
    let mut seen_in_init: Vec<String> = Vec::new();
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                // Without the federation's Work CRD (a bare platform API) this keeps failing;
                // say so once in a while, not every second.
                let not_served = e
                    .to_string()
                    .contains("could not find the requested resource");
                if not_served {
                    tracing::debug!(cluster, "works are not served by this API; the relay waits");
                } else {
                    tracing::warn!(cluster, error = %e, "watching works failed; retrying");
                }
                let pause = if not_served { 10 } else { 1 };
                tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
                continue;
            }
        };
        match ev {
            watcher::Event::Init => seen_in_init.clear(),
            watcher::Event::InitApply(w) | watcher::Event::Apply(w) => {
                let Some(d) = delivery(&w) else { continue };
                seen_in_init.push(d.name.clone());
                if held.get(&d.name) == Some(&(d.uid.clone(), d.generation)) {
                    continue;
                }
                tracing::debug!(cluster, work = %d.name, generation = d.generation, "delivering work");
                held.insert(d.name.clone(), (d.uid.clone(), d.generation));
                if !send(&control, hub_message::Msg::Work(d)) {
                    return;
                }
            }
            watcher::Event::InitDone => {
                let gone: Vec<(String, String)> = held
                    .iter()
                    .filter(|(name, _)| !seen_in_init.contains(name))
                    .map(|(name, (uid, _))| (name.clone(), uid.clone()))
                    .collect();
                for (name, uid) in gone {
                    held.remove(&name);
                    let del = v1::WorkDeletion {
                        namespace: ns.clone(),
                        name,
                        uid,
                        preserve_resources_on_deletion: false,
                    };
                    if !send(&control, hub_message::Msg::WorkDeleted(del)) {
                        return;
                    }
                }
            }
            watcher::Event::Delete(w) => {
                let Some(name) = w.metadata.name.clone() else {
                    continue;
                };
                held.remove(&name);
                let del = v1::WorkDeletion {
                    namespace: ns.clone(),
                    name,
                    uid: w.metadata.uid.clone().unwrap_or_default(),
                    preserve_resources_on_deletion: w
                        .data
                        .pointer("/spec/preserveResourcesOnDeletion")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
                if !send(&control, hub_message::Msg::WorkDeleted(del)) {
                    return;
                }
            }
        }
    }
}

/// Write an agent's report as the Work's status.
pub(crate) async fn write_status(client: &kube::Client, cluster: &str, s: &v1::WorkStatus) {
    if s.namespace != execution_namespace(cluster) {
        tracing::warn!(cluster, namespace = %s.namespace, "work status for another cluster's namespace ignored");
        return;
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &s.namespace, &work_resource());
    let current = match api.get_status(&s.name).await {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!(cluster, work = %s.name, error = %e, "work gone before its status arrived");
            return;
        }
    };
    if current.metadata.uid.as_deref() != Some(s.uid.as_str()) {
        return;
    }
    let (status, reason) = if s.applied {
        ("True", "AppliedSuccessful")
    } else {
        ("False", "AppliedFailed")
    };
    let previous = current
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type") == Some(&json!("Applied"))))
        .cloned();
    let since = match &previous {
        Some(p) if p.get("status") == Some(&json!(status)) => {
            p.get("lastTransitionTime").cloned().unwrap_or(json!(now()))
        }
        _ => json!(now()),
    };
    let manifests: Vec<Value> = s
        .manifests
        .iter()
        .map(|m| {
            let mut v = json!({
                "identifier": serde_json::from_slice::<Value>(&m.identifier).unwrap_or(Value::Null),
                "health": m.health,
            });
            if let Ok(st) = serde_json::from_slice::<Value>(&m.status)
                && !st.is_null()
            {
                v["status"] = st;
            }
            v
        })
        .collect();
    let body = json!({"status": {
        "conditions": [{"type": "Applied", "status": status, "reason": reason, "message": s.message, "lastTransitionTime": since, "observedGeneration": s.generation}],
        "manifestStatuses": manifests,
    }});
    let pp = PatchParams {
        field_manager: Some("cceone-hub".into()),
        ..Default::default()
    };
    if let Err(e) = api.patch_status(&s.name, &pp, &Patch::Merge(&body)).await {
        tracing::warn!(cluster, work = %s.name, error = %e, "writing work status failed");
    }
}

fn now() -> String {
    cceone_platform::phase::rfc3339(jiff::Timestamp::now())
}

/// Keep the relay task of a session.
pub(crate) type RelayHandle = Option<tokio::task::JoinHandle<()>>;

/// Start the relay for a session once the agent's inventory is in (only once per session).
pub(crate) fn start(
    client: &kube::Client,
    cluster: &str,
    inventory: v1::WorkInventory,
    control: &mpsc::Sender<v1::HubMessage>,
    slot: &mut RelayHandle,
) {
    if slot.is_some() {
        return;
    }
    *slot = Some(tokio::spawn(relay(
        client.clone(),
        cluster.to_string(),
        inventory,
        control.clone(),
    )));
}

/// Stop a session's relay.
pub(crate) fn stop(slot: &mut RelayHandle) {
    if let Some(h) = slot.take() {
        h.abort();
    }
}
