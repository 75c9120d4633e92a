//! Grants into members: each federation member's grants (its fleet's, or its own when in no
//! fleet; `cceone_platform::grant`), and read-only access for the platform's users with no
//! grant there (seed §4.5: with no permission configured a user may only read), rendered as
//! RBAC objects in one Work, `cceone-access`, in
//! its execution space, which the hub relays through the tunnel like any other Work. The agent
//! applies it and prunes what a new version no longer holds, so a revoked grant's binding goes;
//! a cluster with no grant has no such Work (deleting it removes the RBAC from the member), and
//! a cluster leaving the federation loses its execution space and with it the Work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cceone_federation_core::work::execution_space;
use cceone_kube_apiserver::ApiError;
use cceone_platform::fleet::fleet_of;
use cceone_platform::grant::{ACCESS_WORK, GrantSpec, applies, default_readers, member_rbac};
use serde_json::{Value, json};

use super::lifecycle::Ctx;
use crate::error::Error;
use crate::json::{deleting, s};
use crate::resources;
use crate::runtime::{ObjKey, Requeue};

/// How soon a member whose execution space is not there yet is looked at again.
const RECHECK_SPACE: Duration = Duration::from_secs(1);

/// The grants that apply to a cluster, by grant name.
fn effective(ctx: &Ctx, cluster: &str, fleet: Option<&str>) -> BTreeMap<String, GrantSpec> {
    ctx.shared
        .grants
        .list_as::<Value>()
        .iter()
        .filter(|g| !deleting(g))
        .filter_map(|g| Some((s(g, "/metadata/name").to_string(), GrantSpec::of(g)?)))
        .filter(|(_, g)| applies(g, cluster, fleet))
        .collect()
}

/// Whether the cluster is (to be) a federation member, so its execution space will exist.
fn expected_member(regc: &Value) -> bool {
    !super::withdrawn(regc)
        && regc.pointer("/spec/unsubscribed") != Some(&Value::Bool(true))
        && (regc.pointer("/status/connectedSince").is_some()
            || matches!(
                s(regc, "/status/phase"),
                "Running" | "Disconnected" | "Updating"
            ))
}

/// Keep cluster `name`'s access Work what its grants say.
pub(super) async fn reconcile(ctx: Arc<Ctx>, name: String) -> Result<Requeue, Error> {
    let Some(regc) = ctx.shared.registered.get(&ObjKey::cluster(&name)) else {
        return Ok(None);
    };
    let space = execution_space(&name);
    let key = ObjKey::new(&space, ACCESS_WORK);
    let work_ar = resources::work();
    let (grants, readers) = if deleting(&regc) {
        (BTreeMap::new(), Default::default())
    } else {
        let grants = effective(&ctx, &name, fleet_of(&regc));
        let users = ctx.shared.users();
        let readers = default_readers(users.iter().map(String::as_str), &grants);
        (grants, readers)
    };
    let manifests = member_rbac(&grants, &readers);
    let res = ctx
        .local
        .resource(&work_ar.group, &work_ar.version, &work_ar.plural)?;
    let live = match ctx.local.get(&res, Some(&space), ACCESS_WORK).await {
        Ok(w) => Some(w),
        Err(ApiError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if manifests.is_empty() {
        if live.is_some() {
            tracing::info!(cluster = %name, "no grant applies any more; removing the access work");
            ctx.writer.delete(&work_ar, &key).await?;
        }
        return Ok(None);
    }
    match live {
        Some(w) => {
            if w.pointer("/spec/workload/manifests") != Some(&Value::Array(manifests.clone())) {
                tracing::info!(cluster = %name, grants = grants.len(), "grants changed; updating the access work");
                ctx.writer
                    .merge_patch(
                        &work_ar,
                        &key,
                        &json!({"spec": {"workload": {"manifests": manifests}}}),
                        false,
                    )
                    .await?;
            }
            Ok(None)
        }
        None => {
            let ns_ar = resources::namespace();
            let ns_res = ctx
                .local
                .resource(&ns_ar.group, &ns_ar.version, &ns_ar.plural)?;
            match ctx.local.get(&ns_res, None, &space).await {
                Ok(ns) if !deleting(&ns) => {}
                Ok(_) | Err(ApiError::NotFound { .. }) => {
                    return Ok(expected_member(&regc).then_some(RECHECK_SPACE));
                }
                Err(e) => return Err(e.into()),
            }
            tracing::info!(cluster = %name, grants = grants.len(), "delivering grants as RBAC");
            let work = json!({
                "apiVersion": format!("{}/{}", work_ar.group, work_ar.version),
                "kind": "Work",
                "metadata": {"name": ACCESS_WORK, "namespace": space,
                    "labels": {"app.kubernetes.io/part-of": "cceone"}},
                "spec": {"workload": {"manifests": manifests}},
            });
            match ctx.writer.create(&work_ar, work).await {
                Err(e) if e.is_already_exists() => Ok(Some(RECHECK_SPACE)),
                r => r.map(|_| None),
            }
        }
    }
}

/// A grant's status: where it applies now and in which namespaces.
pub(super) async fn reconcile_grant(ctx: Arc<Ctx>, name: String) -> Result<Requeue, Error> {
    let key = ObjKey::cluster(&name);
    let Some(grant) = ctx.shared.grants.get(&key) else {
        return Ok(None);
    };
    let Some(spec) = GrantSpec::of(&grant) else {
        return Ok(None);
    };
    let mut clusters: Vec<String> = ctx
        .shared
        .registered
        .list_as::<Value>()
        .iter()
        .filter(|r| applies(&spec, s(r, "/metadata/name"), fleet_of(r)))
        .map(|r| s(r, "/metadata/name").to_string())
        .collect();
    clusters.sort();
    let namespaces = if spec.namespaces.is_empty() {
        "*".to_string()
    } else {
        spec.namespaces.join(",")
    };
    let want = json!({"clusters": clusters.join(","), "namespaces": namespaces});
    if grant.get("status") != Some(&want) {
        ctx.writer
            .merge_patch(
                &cceone_platform::grant::grant_resource(),
                &key,
                &json!({"status": want}),
                true,
            )
            .await?;
    }
    Ok(None)
}
