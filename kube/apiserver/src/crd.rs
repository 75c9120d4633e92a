//! CustomResourceDefinitions: validation, the status kube-apiserver sets (accepted names,
//! `Established`), and serving their kinds at runtime.

use serde_json::{Value, json};

use crate::error::Cause;
use crate::resource::{Registry, ResourceInfo, ScaleSpec};

fn s<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
}

/// Validate a CRD.
pub fn validate(crd: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    if group.is_none() {
        causes.push(Cause::required("spec.group"));
    }
    if plural.is_none() {
        causes.push(Cause::required("spec.names.plural"));
    }
    if s(crd, "/spec/names/kind").is_none() {
        causes.push(Cause::required("spec.names.kind"));
    }
    match s(crd, "/spec/scope") {
        Some("Namespaced" | "Cluster") => {}
        Some(other) => causes.push(Cause::not_supported(
            "spec.scope",
            &json!(other),
            &["Cluster", "Namespaced"],
        )),
        None => causes.push(Cause::required("spec.scope")),
    }
    if let (Some(g), Some(p)) = (group, plural) {
        let name = s(crd, "/metadata/name").unwrap_or_default();
        if name != format!("{p}.{g}") {
            causes.push(Cause::invalid(
                "metadata.name",
                &json!(name),
                "must be spec.names.plural+\".\"+spec.group",
            ));
        }
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    match versions {
        None => causes.push(Cause::required("spec.versions")),
        Some(vs) if vs.is_empty() => causes.push(Cause::required("spec.versions")),
        Some(vs) => {
            let storage = vs
                .iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .count();
            if storage != 1 {
                causes.push(Cause::invalid(
                    "spec.versions",
                    &json!(storage),
                    "must have exactly one version marked as storage version",
                ));
            }
            for (i, v) in vs.iter().enumerate() {
                if s(v, "/name").is_none() {
                    causes.push(Cause::required(format!("spec.versions[{i}].name")));
                }
                if v.get("served").and_then(Value::as_bool).is_none() {
                    causes.push(Cause::required(format!("spec.versions[{i}].served")));
                }
            }
        }
    }
    if let Some(old) = old {
        for p in ["/spec/group", "/spec/names/plural"] {
            if old.pointer(p) != crd.pointer(p) {
                causes.push(Cause::invalid(
                    p.trim_start_matches('/').replace('/', "."),
                    crd.pointer(p).unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
    }
}

/// Set the status kube-apiserver would (names accepted, established).
pub fn set_status(crd: &mut Value) {
    let mut names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if names.get("singular").is_none()
        && let Some(k) = names.get("kind").and_then(Value::as_str)
    {
        names["singular"] = json!(k.to_lowercase());
    }
    if names.get("listKind").is_none()
        && let Some(k) = names.get("kind").and_then(Value::as_str)
    {
        names["listKind"] = json!(format!("{k}List"));
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let now = crate::meta::now_rfc3339();
    let keep = |t: &str| {
        crd.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("type") == Some(&json!(t))))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or(json!(now))
    };
    crd["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": keep("NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": keep("Established")},
        ],
    });
}

/// Serve every served version of `crd`.
pub fn register(registry: &Registry, crd: &Value) {
    let (Some(group), Some(plural), Some(kind)) = (
        s(crd, "/spec/group"),
        s(crd, "/spec/names/plural"),
        s(crd, "/spec/names/kind"),
    ) else {
        return;
    };
    registry.remove(group, plural);
    if crate::meta::is_deleting(crd) {
        return;
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage") == Some(&json!(true)))
        .and_then(|v| s(v, "/name"))
        .unwrap_or("v1")
        .to_string();
    let list = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for v in versions
        .iter()
        .filter(|v| v.get("served") == Some(&json!(true)))
    {
        let Some(version) = s(v, "/name") else {
            continue;
        };
        let scale = v.pointer("/subresources/scale").map(|sc| ScaleSpec {
            spec_replicas: s(sc, "/specReplicasPath")
                .unwrap_or(".spec.replicas")
                .to_string(),
            status_replicas: s(sc, "/statusReplicasPath")
                .unwrap_or(".status.replicas")
                .to_string(),
            label_selector: s(sc, "/labelSelectorPath").map(String::from),
        });
        registry.insert(ResourceInfo {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: s(crd, "/spec/names/singular")
                .map(String::from)
                .unwrap_or_else(|| kind.to_lowercase()),
            namespaced: s(crd, "/spec/scope") == Some("Namespaced"),
            short_names: list("/spec/names/shortNames"),
            categories: list("/spec/names/categories"),
            has_status: v.pointer("/subresources/status").is_some(),
            scale,
            printer: cceone_kube_printers::crd_printer(
                v.get("additionalPrinterColumns").unwrap_or(&Value::Null),
            ),
            storage_version: storage_version.clone(),
            storage_group: group.into(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            custom: true,
        });
    }
}

/// Stop serving a deleted CRD's kinds.
pub fn unregister(registry: &Registry, crd: &Value) {
    if let (Some(group), Some(plural)) = (s(crd, "/spec/group"), s(crd, "/spec/names/plural")) {
        registry.remove(group, plural);
    }
}

/// Keep `core`'s registry in step with the CRDs in its store as other API servers on the same
/// store (etcd replicas) write them: list them, then follow their watch, listing again when the
/// watch breaks or falls behind compaction. A server's own writes register at once
/// ([`register`] after the write); this is how a CRD created through another replica is served
/// here, as kube-apiserver's apiextensions controllers follow the CRD informer. Ends when the
/// core is dropped.
pub async fn follow(core: std::sync::Weak<crate::Core>) {
    use futures::StreamExt as _;
    // The CRDs this follower has registered, by name, to unregister those gone on a relist.
    let mut known: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        let Some(c) = core.upgrade() else { return };
        let Ok(res) = c.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions") else {
            return;
        };
        let prefix = res.prefix(None);
        let listed = c.store.list(&prefix, None, None, None).await;
        let watch = listed
            .as_ref()
            .ok()
            .map(|page| c.store.watch(&prefix, page.revision));
        let (page, mut events) = match (listed, watch) {
            (Ok(page), Some(Ok(events))) => (page, events),
            (Err(e), _) | (_, Some(Err(e))) => {
                drop(c);
                tracing::warn!(error = %e, "following CRDs: listing again shortly");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
                continue;
            }
            (Ok(_), None) => continue,
        };
        delay = std::time::Duration::from_millis(100);
        let mut seen = std::collections::HashMap::new();
        for kv in page.items {
            if let Ok(crd) = serde_json::from_slice::<Value>(&kv.value) {
                register(&c.registry, &crd);
                seen.insert(kv.key, crd);
            }
        }
        for (key, gone) in known.drain() {
            if !seen.contains_key(&key) {
                unregister(&c.registry, &gone);
            }
        }
        known = seen;
        drop(c);
        while let Some(item) = events.next().await {
            let Some(c) = core.upgrade() else { return };
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    tracing::info!(error = %e, "following CRDs: the watch ended; listing again");
                    break;
                }
            };
            let Ok(crd) = serde_json::from_slice::<Value>(&event.kv.value) else {
                continue;
            };
            if event.event_type == cceone_kube_store::EventType::Deleted {
                unregister(&c.registry, &crd);
                known.remove(&event.kv.key);
            } else {
                // A status write, or this server's own write registered already: re-registering
                // would briefly take the kinds away.
                let same = known.get(&event.kv.key).is_some_and(|k| {
                    k.get("spec") == crd.get("spec")
                        && k.pointer("/metadata/deletionTimestamp")
                            == crd.pointer("/metadata/deletionTimestamp")
                });
                if !same {
                    register(&c.registry, &crd);
                }
                known.insert(event.kv.key, crd);
            }
        }
    }
}
