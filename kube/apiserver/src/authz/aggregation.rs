//! The ClusterRole aggregation controller: a ClusterRole with an `aggregationRule` has as its
//! `rules` the rules of every other ClusterRole its selectors match, kept up to date as those
//! change (kube's `clusterrole-aggregation` controller). Authorization aggregates again at
//! decision time, so this only keeps what `kubectl get clusterrole view -o yaml` shows true.

use std::sync::Arc;

use futures::{FutureExt as _, StreamExt as _};
use serde_json::json;

use super::RBAC_GROUP;
use super::rules::{PolicyRule, Role};
use crate::core::{Core, ListOptions, PatchKind, WriteOptions};
use crate::local::LocalClient;

const MANAGER: &str = "clusterrole-aggregation-controller";

/// The aggregated roles whose stored rules are not what their selectors give:
/// `(name, rules)` to write (pure).
pub fn stale(roles: &[Role]) -> Vec<(String, Vec<PolicyRule>)> {
    roles
        .iter()
        .filter_map(|r| {
            let agg = r.aggregation_rule.as_ref()?;
            let want = super::aggregate(r, &agg.cluster_role_selectors, roles);
            (want != r.rules).then(|| (r.metadata.name.clone(), want))
        })
        .collect()
}

/// Run until the server stops: after every change to a ClusterRole, bring the aggregated ones
/// up to date (a change to one aggregated role is itself a change, so nesting settles).
pub async fn run(core: Arc<Core>) {
    let local = LocalClient::new(Arc::clone(&core), MANAGER);
    let mut changes = Box::pin(local.reflect(RBAC_GROUP, "v1", "clusterroles"));
    while changes.next().await.is_some() {
        // Whatever else already arrived is covered by the one pass below.
        while let Some(Some(_)) = changes.next().now_or_never() {}
        if let Err(e) = reconcile(&core).await {
            tracing::warn!(error = %e, "aggregating ClusterRoles failed");
        }
    }
}

async fn reconcile(core: &Arc<Core>) -> crate::ApiResult<()> {
    let res = core.resource(RBAC_GROUP, "v1", "clusterroles")?;
    let page = core.list(&res, None, &ListOptions::default()).await?;
    let roles: Vec<Role> = page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect();
    let opts = WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..WriteOptions::default()
    };
    for (name, rules) in stale(&roles) {
        let patch = json!({"rules": rules});
        core.patch(&res, None, &name, None, PatchKind::Merge, &patch, &opts)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn role(v: serde_json::Value) -> Role {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn aggregated_rules_follow_their_selectors() {
        let sel = json!({"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]});
        let roles = vec![
            role(json!({"metadata": {"name": "all"}, "aggregationRule": sel,
                        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["stale"]}]})),
            role(json!({"metadata": {"name": "a", "labels": {"agg": "yes"}},
                        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]})),
            role(json!({"metadata": {"name": "b"},
                        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]})),
        ];
        let out = stale(&roles);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "all");
        // Its own (stale) rules go: they are the controller's to write.
        assert_eq!(out[0].1.len(), 1);
        assert_eq!(out[0].1[0].resources, vec!["pods".to_string()]);
        let mut settled = roles.clone();
        settled[0].rules = out[0].1.clone();
        assert!(stale(&settled).is_empty());
    }
}
