//! The `fleet` commands: a fleet is a `Fleet` object; which fleet a cluster is in is the
//! cluster's `spec.fleet`, which these commands set and clear (admission refuses a second fleet
//! and an unknown one, whoever writes). Binding sets the fleet's `spec.federation`.

use anyhow::{Context as _, bail};
use cceone_platform::fleet::{FEDERATION, FleetSpec, KIND, fleet_of, fleets};
use cceone_platform::registered_clusters;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::args::FleetCommand;
use crate::emit;

/// Field manager for our writes.
const MANAGER: &str = "cceonectl";

/// The API's own message for a refused request (it names the field), else the error.
fn api_error(e: kube::Error, what: String) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow::anyhow!("{what}: {}", s.message),
        e => anyhow::Error::new(e).context(what),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    }
}

async fn get_fleet(client: &kube::Client, name: &str) -> anyhow::Result<Value> {
    match fleets(client).get(name).await {
        Ok(f) => Ok(serde_json::to_value(f)?),
        Err(e) if is_status(&e, 404) => bail!("fleet {name:?} not found"),
        Err(e) => Err(api_error(e, format!("reading fleet {name}"))),
    }
}

async fn get_cluster(client: &kube::Client, name: &str) -> anyhow::Result<Value> {
    cceone_platform::validate_cluster_name(name)?;
    match registered_clusters(client).get(name).await {
        Ok(c) => Ok(serde_json::to_value(c)?),
        Err(e) if is_status(&e, 404) => bail!("registered cluster {name:?} not found"),
        Err(e) => Err(api_error(e, format!("reading registered cluster {name}"))),
    }
}

/// Set (or clear) a cluster's fleet, guarded by the resourceVersion we read. Another write in
/// between (the hub records status all the time) is read again: if the cluster's fleet is
/// still what we checked, the patch is retried on the new resourceVersion (five tries, as
/// client-go's `RetryOnConflict`); if its fleet changed, we stop.
async fn set_fleet(
    client: &kube::Client,
    cluster: &Value,
    fleet: Option<&str>,
) -> anyhow::Result<()> {
    let name = cluster
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let checked = fleet_of(cluster).map(str::to_string);
    let mut rv = cluster
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    for _ in 0..5 {
        let patch = json!({"metadata": {"resourceVersion": rv}, "spec": {"fleet": fleet}});
        match registered_clusters(client)
            .patch(name, &params(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 409) => {
                let now = get_cluster(client, name).await?;
                if fleet_of(&now).map(str::to_string) != checked {
                    break;
                }
                rv = now
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
            }
            Err(e) => return Err(api_error(e, format!("updating registered cluster {name}"))),
        }
    }
    bail!("registered cluster {name:?} changed meanwhile; check it and retry")
}

/// Run one `fleet` command.
pub(crate) async fn run(client: &kube::Client, cmd: FleetCommand) -> anyhow::Result<()> {
    match cmd {
        FleetCommand::Create { name, description } => create(client, &name, description).await,
        FleetCommand::Add { name, clusters } => add(client, &name, &clusters).await,
        FleetCommand::Remove { name, clusters } => remove(client, &name, &clusters).await,
        FleetCommand::Bind { name } => bind(client, &name, true).await,
        FleetCommand::Unbind { name } => bind(client, &name, false).await,
        FleetCommand::Delete { name } => delete(client, &name).await,
    }
}

async fn create(
    client: &kube::Client,
    name: &str,
    description: Option<String>,
) -> anyhow::Result<()> {
    cceone_platform::ensure_crds(client, MANAGER).await?;
    let spec = FleetSpec {
        description,
        federation: None,
    };
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", cceone_platform::GROUP, cceone_platform::VERSION),
        "kind": KIND,
        "metadata": {"name": name},
        "spec": spec,
    }))?;
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    };
    match fleets(client).create(&pp, &obj).await {
        Ok(_) => emit(&format!("fleet/{name} created\n")),
        Err(e) if is_status(&e, 409) => bail!("fleet {name:?} already exists"),
        Err(e) => Err(api_error(e, format!("creating fleet {name}"))),
    }
}

async fn add(client: &kube::Client, name: &str, clusters: &[String]) -> anyhow::Result<()> {
    get_fleet(client, name).await?;
    // Check every cluster before changing any, so a refusal leaves nothing half done.
    let mut todo = Vec::new();
    for c in clusters {
        let obj = get_cluster(client, c).await?;
        match fleet_of(&obj) {
            Some(f) if f == name => {
                emit(&format!("registeredcluster/{c} already in fleet {name}\n"))?
            }
            Some(other) => bail!(
                "registered cluster {c:?} is already in fleet {other:?}; a cluster belongs to at most one fleet: `cceonectl fleet remove {other} {c}` first"
            ),
            None => todo.push(obj),
        }
    }
    for obj in todo {
        set_fleet(client, &obj, Some(name)).await?;
        let c = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        emit(&format!("registeredcluster/{c} added to fleet {name}\n"))?;
    }
    Ok(())
}

async fn remove(client: &kube::Client, name: &str, clusters: &[String]) -> anyhow::Result<()> {
    get_fleet(client, name).await?;
    let mut todo = Vec::new();
    for c in clusters {
        let obj = get_cluster(client, c).await?;
        if fleet_of(&obj) != Some(name) {
            bail!("registered cluster {c:?} is not in fleet {name:?}");
        }
        todo.push(obj);
    }
    for obj in todo {
        set_fleet(client, &obj, None).await?;
        let c = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        emit(&format!(
            "registeredcluster/{c} removed from fleet {name}\n"
        ))?;
    }
    Ok(())
}

async fn bind(client: &kube::Client, name: &str, on: bool) -> anyhow::Result<()> {
    let fleet = get_fleet(client, name).await?;
    let bound = FleetSpec::of(&fleet).is_some_and(|s| s.bound());
    if bound == on {
        let state = if on {
            "already bound to"
        } else {
            "not bound to"
        };
        return emit(&format!("fleet/{name} {state} federation {FEDERATION}\n"));
    }
    let federation = on.then_some(FEDERATION);
    fleets(client)
        .patch(
            name,
            &params(),
            &Patch::Merge(json!({"spec": {"federation": federation}})),
        )
        .await
        .map_err(|e| api_error(e, format!("updating fleet {name}")))?;
    let what = if on { "bound to" } else { "unbound from" };
    emit(&format!("fleet/{name} {what} federation {FEDERATION}\n"))
}

async fn delete(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    match fleets(client).delete(name, &DeleteParams::default()).await {
        Ok(_) => emit(&format!("fleet/{name} deleted\n")),
        Err(e) if is_status(&e, 404) => bail!("fleet {name:?} not found"),
        Err(kube::Error::Api(s)) if s.code == 403 => bail!("{}", s.message),
        Err(e) => Err(e).context(format!("deleting fleet {name}")),
    }
}
