//! Writing the events the controllers, the scheduler and the kubelet record: through the
//! aggregating [`Recorder`] (a repeat patches `count`, a crash loop is throttled), and a sweep
//! that deletes events past kube-apiserver's default `--event-ttl` of one hour (the store has
//! no TTL of its own).

use std::sync::Arc;
use std::time::Duration;

use cceone_kube_apiserver::core::{DeleteOptions, ListOptions, PatchKind, WriteOptions};
use cceone_kube_apiserver::{ApiError, Core, meta};
use cceone_kubesim_core::events::{Event, EventWrite, Recorder, expired};
use serde_json::Value;

/// kube-apiserver's `--event-ttl` default.
const EVENT_TTL_SECS: i64 = 3600;
/// How often expired events are looked for.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(300);

fn opts(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// Record `events` at `now`: create the new ones, patch the repeats (recreating those that
/// expired meanwhile).
pub(super) async fn write(
    core: &Arc<Core>,
    recorder: &mut Recorder,
    events: Vec<Event>,
    now: jiff::Timestamp,
) {
    if events.is_empty() {
        return;
    }
    let Ok(res) = core.resource("", "v1", "events") else {
        return;
    };
    let mut writes = Vec::new();
    for ev in events {
        if let Some(w) = recorder.record(ev.clone(), now) {
            writes.push((ev, w));
        }
    }
    let answers = futures::future::join_all(writes.into_iter().map(|(ev, w)| {
        let res = &res;
        async move {
            let out = match &w {
                EventWrite::Create(obj) => {
                    let ns = meta::namespace(obj).map(String::from);
                    let o = opts(ev.component);
                    core.create(res, ns.as_deref(), obj.clone(), &o)
                        .await
                        .map(|_| ())
                }
                EventWrite::Patch {
                    namespace,
                    name,
                    patch,
                } => core
                    .patch(
                        res,
                        Some(namespace),
                        name,
                        None,
                        PatchKind::Merge,
                        patch,
                        &opts(ev.component),
                    )
                    .await
                    .map(|_| ()),
            };
            (ev, w, out)
        }
    }))
    .await;
    for (ev, w, out) in answers {
        match (w, out) {
            (EventWrite::Patch { name, .. }, Err(ApiError::NotFound { .. })) => {
                // Expired or deleted meanwhile: start a new one.
                recorder.forget(&name);
                if let Some(EventWrite::Create(obj)) = recorder.record(ev.clone(), now) {
                    let ns = meta::namespace(&obj).map(String::from);
                    let _ = core
                        .create(&res, ns.as_deref(), obj, &opts(ev.component))
                        .await;
                }
            }
            (_, Err(e)) => tracing::debug!(error = %e, "recording an event failed"),
            _ => {}
        }
    }
}

/// Delete the events older than the TTL.
pub(super) async fn sweep(core: &Arc<Core>, recorder: &mut Recorder, now: jiff::Timestamp) {
    let Ok(res) = core.resource("", "v1", "events") else {
        return;
    };
    let Ok(page) = core.list(&res, None, &ListOptions::default()).await else {
        return;
    };
    for item in page.items {
        let Ok(ev) = serde_json::from_slice::<Value>(&item) else {
            continue;
        };
        if !expired(&ev, now, EVENT_TTL_SECS) {
            continue;
        }
        let (Some(name), ns) = (meta::name(&ev), meta::namespace(&ev)) else {
            continue;
        };
        recorder.forget(name);
        if let Err(e) = core.delete(&res, ns, name, &DeleteOptions::default()).await
            && e.code() != 404
        {
            tracing::debug!(error = %e, "deleting an expired event failed");
        }
    }
}
