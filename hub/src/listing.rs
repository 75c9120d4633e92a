//! This hub's entry in the hub info (`publicEndpoint.<hub id>` of `cceone-hub-info`, see
//! `cceone_platform::hubinfo`), kept there while the hub runs, and the entries of hubs that are
//! gone taken out, so that an agent's rendered configuration lists every live hub. Before, each
//! hub applied the one `publicEndpoint` at start and the last to start won: agents registered
//! then knew of one hub only.
//!
//! Checked every half lease. A hub is taken out once it was seen dead at two checks in a row
//! (one that just started may have listed itself before this hub saw its Lease); a hub that
//! cannot tell who is alive (cut off from the API) takes every other for alive and removes
//! nothing, and one that does not hold its own Lease changes nothing until it does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cceone_platform::SYSTEM_NAMESPACE;
use cceone_platform::hubinfo::{self, CONFIGMAP_NAME};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

use crate::peers::Peers;

/// What to change in the listed entries (hub id → endpoint): `(id, Some(endpoint))` to set,
/// `(id, None)` to remove. `dead` is told which hubs are not alive now; `suspects` holds those
/// found dead at the last check and is updated.
pub(crate) fn changes(
    listed: &BTreeMap<String, String>,
    me: &str,
    endpoint: &str,
    dead: impl Fn(&str) -> bool,
    suspects: &mut BTreeSet<String>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    if listed.get(me).map(String::as_str) != Some(endpoint) {
        out.push((me.to_string(), Some(endpoint.to_string())));
    }
    let now: BTreeSet<String> = listed
        .keys()
        .filter(|id| *id != me && dead(id))
        .cloned()
        .collect();
    let gone: BTreeSet<String> = now.intersection(suspects).cloned().collect();
    out.extend(gone.iter().map(|id| (id.clone(), None)));
    // One taken out starts over: back at once, it needs two more dead checks.
    *suspects = now.difference(&gone).cloned().collect();
    out
}

/// Keep this hub listed at `endpoint` (and the dead ones out) until aborted.
pub(crate) async fn run(
    client: kube::Client,
    peers: Arc<Peers>,
    endpoint: String,
    every: Duration,
) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let mut suspects = BTreeSet::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !peers.holds_lease() {
            continue;
        }
        let cm = match api.get_opt(CONFIGMAP_NAME).await {
            Ok(Some(cm)) => cm,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "reading the hub info failed");
                continue;
            }
        };
        let listed = hubinfo::hub_endpoints(&cm);
        let todo = changes(
            &listed,
            peers.me(),
            &endpoint,
            |id| !peers.is_live(id),
            &mut suspects,
        );
        for (id, value) in todo {
            match hubinfo::set_hub_endpoint(&client, &id, value.as_deref()).await {
                Ok(()) if value.is_none() => {
                    tracing::info!(hub = id, "a hub that is gone taken out of the hub info")
                }
                Ok(()) => tracing::info!(endpoint = value, "this hub listed in the hub info"),
                Err(e) => tracing::debug!(hub = id, error = %e, "updating the hub info failed"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_itself_and_drops_hubs_dead_twice() {
        let listed: BTreeMap<String, String> = [("a", "a:1"), ("b", "b:1"), ("c", "c:1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut suspects = BTreeSet::new();
        // Listed already, everyone alive: nothing.
        assert!(changes(&listed, "a", "a:1", |_| false, &mut suspects).is_empty());
        // A new endpoint for this hub; c seen dead once: only the endpoint.
        let dead_c = |id: &str| id == "c";
        assert_eq!(
            changes(&listed, "a", "a:2", dead_c, &mut suspects),
            vec![("a".to_string(), Some("a:2".to_string()))]
        );
        // Dead again: out. This hub is never taken out, whatever `dead` says of it.
        assert_eq!(
            changes(&listed, "a", "a:1", |_| true, &mut suspects),
            vec![("c".to_string(), None)]
        );
        // c listed itself again before it was seen alive: a first strike only.
        assert!(changes(&listed, "a", "a:1", dead_c, &mut suspects).is_empty());
        // b was dead once only, then alive again: kept.
        assert!(changes(&listed, "a", "a:1", |_| false, &mut suspects).is_empty());
        assert!(suspects.is_empty());
        assert!(changes(&listed, "a", "a:1", |id| id == "b", &mut suspects).is_empty());
        // Not listed at all: listed.
        assert_eq!(
            changes(&BTreeMap::new(), "a", "a:1", |_| false, &mut suspects),
            vec![("a".to_string(), Some("a:1".to_string()))]
        );
    }
}
