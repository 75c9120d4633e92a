//! The `cluster` commands: each is a few calls to the federation API through
//! `cceone-platform`, with errors worded for the admin.

use std::time::Duration;

use anyhow::{Context as _, bail};
use cceone_platform::phase::{Operation, Phase, rfc3339};
use cceone_platform::render::{AgentSettings, agent_env, agent_yaml, default_image};
use cceone_platform::{
    KIND, RegisteredClusterSpec, hubinfo, proxytoken, registered_cluster_crd, registered_clusters,
    token,
};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::args::{EndpointArg, FormatArg, KubeconfigArgs, ListArgs, ListFormat, RegisterArgs};
use crate::emit;

/// Field manager for our writes.
const MANAGER: &str = "cceonectl";

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

fn not_found(name: &str) -> impl FnOnce(kube::Error) -> anyhow::Error + '_ {
    move |e| {
        if is_status(&e, 404) {
            anyhow::anyhow!("registered cluster {name:?} not found")
        } else {
            anyhow::Error::new(e).context(format!("reading registered cluster {name}"))
        }
    }
}

async fn get(client: &kube::Client, name: &str) -> anyhow::Result<Value> {
    cceone_platform::validate_cluster_name(name)?;
    let obj = registered_clusters(client)
        .get(name)
        .await
        .map_err(not_found(name))?;
    Ok(serde_json::to_value(obj)?)
}

async fn hub_endpoint(
    client: &kube::Client,
    endpoint: EndpointArg,
) -> anyhow::Result<hubinfo::HubInfo> {
    let hub = hubinfo::read(client)
        .await
        .context("reading the hub's connection info")?;
    if endpoint == EndpointArg::Private && hub.private_endpoint.is_none() {
        bail!("the hub published no private endpoint; use --endpoint public");
    }
    Ok(hub)
}

/// `cluster register`.
pub(crate) async fn register(client: &kube::Client, a: RegisterArgs) -> anyhow::Result<()> {
    cceone_platform::validate_cluster_name(&a.name)?;
    cceone_platform::ensure_crds(client, MANAGER).await?;
    cceone_platform::ensure_system_namespace(client).await?;
    // Read the hub's info first, so a missing hub leaves nothing half-registered.
    let hub = hub_endpoint(client, a.endpoint).await?;
    // Who registers it, for its operation log (as the API authenticates the caller).
    let (who, _) = crate::get::whoami(client).await?;

    let mut spec = json!({"type": a.cluster_type.as_str()});
    for (key, value) in [
        ("provider", &a.provider),
        ("region", &a.region),
        ("zone", &a.zone),
        ("fleet", &a.fleet),
    ] {
        if let Some(v) = value {
            spec[key] = json!(v);
        }
    }
    if a.delete_protection {
        spec["deleteProtection"] = json!(true);
    }
    let labels: serde_json::Map<String, Value> = a
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", cceone_platform::GROUP, cceone_platform::VERSION),
        "kind": KIND,
        "metadata": {"name": a.name, "labels": labels},
        "spec": spec,
    }))?;
    let api = registered_clusters(client);
    match api
        .create(
            &PostParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            },
            &obj,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if is_status(&e, 409) => bail!(
            "cluster {:?} is already registered; `cceonectl cluster token {}` issues a fresh bootstrap token",
            a.name,
            a.name
        ),
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("creating registered cluster {}", a.name))
            );
        }
    }
    let op = Operation::new(
        jiff::Timestamp::now(),
        "Register",
        "Registered",
        "registered; waiting for its agent",
    )
    .by(who);
    let status =
        json!({"status": {"phase": Phase::Pending.as_str(), "operations": [op.to_json()]}});
    api.patch_status(&a.name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .with_context(|| format!("setting the status of registered cluster {}", a.name))?;
    let bootstrap = token::issue(client, &a.name, a.token_ttl)
        .await
        .with_context(|| {
            format!(
                "issuing a bootstrap token (retry with `cceonectl cluster token {}`)",
                a.name
            )
        })?;
    let settings = AgentSettings {
        hub_endpoint: hub.agent_endpoints(&a.name),
        hub_private_endpoint: if a.endpoint == EndpointArg::Private {
            hub.private_endpoint
        } else {
            None
        },
        cluster_name: a.name.clone(),
        ca_bundle: hub.ca_bundle,
        bootstrap_token: bootstrap,
        transport: a.transport.as_str().to_string(),
    };
    let out = match a.format {
        FormatArg::Yaml => agent_yaml(&settings, &a.image.unwrap_or_else(default_image)),
        FormatArg::Env => agent_env(&settings),
    };
    emit(&out)?;
    eprintln!(
        "registeredcluster/{} registered (Pending); its bootstrap token is valid for {}",
        a.name,
        human(a.token_ttl)
    );
    Ok(())
}

/// `cluster list`: the CRD's own printer columns, like `kubectl get registeredclusters`.
pub(crate) async fn list(client: &kube::Client, a: ListArgs) -> anyhow::Result<()> {
    let items = registered_clusters(client)
        .list(&ListParams::default())
        .await
        .context("listing registered clusters")?;
    let mut objs: Vec<Value> = items
        .items
        .into_iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    objs.sort_by(|x, y| {
        x.pointer("/metadata/name")
            .map(Value::to_string)
            .cmp(&y.pointer("/metadata/name").map(Value::to_string))
    });
    match a.output {
        Some(ListFormat::Json) => {
            return emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({"items": objs}))?
            ));
        }
        Some(ListFormat::Yaml) => return emit(&serde_yaml::to_string(&json!({"items": objs}))?),
        _ => {}
    }
    if objs.is_empty() {
        eprintln!("No registered clusters found.");
        return Ok(());
    }
    let wide = a.output == Some(ListFormat::Wide);
    let crd = registered_cluster_crd();
    let columns = crd
        .pointer("/spec/versions/0/additionalPrinterColumns")
        .cloned()
        .unwrap_or(Value::Null);
    let printer = cceone_kube_printers::crd_printer(&columns);
    let shown: Vec<usize> = printer
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c.priority == 0)
        .map(|(i, _)| i)
        .collect();
    let mut rows = vec![
        shown
            .iter()
            .map(|&i| printer.columns()[i].name.to_uppercase())
            .collect::<Vec<_>>(),
    ];
    let now = jiff::Timestamp::now();
    for obj in &objs {
        let cells = printer.cells(obj, now);
        rows.push(shown.iter().map(|&i| cell_text(cells.get(i))).collect());
    }
    emit(&tabulate(&rows))
}

fn cell_text(v: Option<&Value>) -> String {
    match v {
        // kubectl prints missing CRD column values as empty cells.
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Columns padded to their widest cell plus three spaces, as kubectl's tabwriter.
pub(crate) fn tabulate(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c] + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `cluster revoke`.
pub(crate) async fn revoke(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    get(client, name).await?;
    let patch = Patch::Merge(json!({"spec": {"revoked": true}}));
    registered_clusters(client)
        .patch(name, &PatchParams::default(), &patch)
        .await
        .map_err(not_found(name))?;
    emit(&format!("registeredcluster/{name} revoked\n"))
}

/// `cluster unsubscribe`: refused while delete protection is on. The patch carries the
/// resourceVersion we checked, so protection turned on meanwhile is not overridden. Another
/// write in between (the hub records status all the time) means reading and checking again,
/// as client-go's `RetryOnConflict` does (five tries).
pub(crate) async fn unsubscribe(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    for _ in 0..5 {
        let obj = get(client, name).await?;
        let spec = RegisteredClusterSpec::of(&obj)
            .with_context(|| format!("registered cluster {name} has an invalid spec"))?;
        if spec.delete_protection {
            bail!(
                "registered cluster {name:?} has delete protection; turn it off first with `cceonectl cluster protect {name} --off`"
            );
        }
        if spec.unsubscribed {
            return emit(&format!(
                "registeredcluster/{name} already unsubscribing (see its status.phase)\n"
            ));
        }
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let patch = Patch::Merge(
            json!({"metadata": {"resourceVersion": rv}, "spec": {"unsubscribed": true}}),
        );
        match registered_clusters(client)
            .patch(name, &PatchParams::default(), &patch)
            .await
        {
            // The federation takes it out and cleans the member, then records Unsubscribed.
            Ok(_) => {
                return emit(&format!(
                    "registeredcluster/{name} unsubscribing: it becomes Unsubscribed once the federation has taken it out and cleaned the member (status.phase)\n"
                ));
            }
            Err(e) if is_status(&e, 409) => continue,
            Err(e) => return Err(not_found(name)(e)),
        }
    }
    bail!("registered cluster {name:?} kept changing meanwhile; check it and retry")
}

/// `cluster protect`.
pub(crate) async fn protect(client: &kube::Client, name: &str, on: bool) -> anyhow::Result<()> {
    get(client, name).await?;
    let patch = Patch::Merge(json!({"spec": {"deleteProtection": on}}));
    registered_clusters(client)
        .patch(name, &PatchParams::default(), &patch)
        .await
        .map_err(not_found(name))?;
    let state = if on { "on" } else { "off" };
    emit(&format!(
        "registeredcluster/{name} delete protection {state}\n"
    ))
}

/// `cluster token`: a fresh bootstrap token for an existing, usable cluster.
pub(crate) async fn token(client: &kube::Client, name: &str, ttl: Duration) -> anyhow::Result<()> {
    let obj = get(client, name).await?;
    let spec = RegisteredClusterSpec::of(&obj)
        .with_context(|| format!("registered cluster {name} has an invalid spec"))?;
    if spec.revoked || spec.unsubscribed {
        bail!("registered cluster {name:?} is revoked or unsubscribed; it cannot join again");
    }
    let t = token::issue(client, name, ttl)
        .await
        .context("issuing a bootstrap token")?;
    emit(&format!("{t}\n"))?;
    eprintln!(
        "bootstrap token for {name}, valid for {} (until {})",
        human(ttl),
        expiry(ttl)
    );
    Ok(())
}

/// `cluster kubeconfig`.
pub(crate) async fn kubeconfig(client: &kube::Client, a: KubeconfigArgs) -> anyhow::Result<()> {
    get(client, &a.name).await?;
    let hub = hub_endpoint(client, a.endpoint).await?;
    let groups = proxytoken::groups_for(&a.user, a.groups);
    if groups.is_empty() {
        eprintln!(
            "{} gets no groups: the member's RBAC decides what they may do (bind them, or pass --group)",
            a.user
        );
    }
    let (id, bearer) = proxytoken::issue(client, &a.name, &a.user, &groups, a.ttl)
        .await
        .context("issuing a proxy token")?;
    let endpoint = a.endpoint.of(&hub);
    let yaml = proxytoken::kubeconfig_yaml(endpoint, &a.name, &hub.ca_bundle, &a.user, &bearer);
    let validity = a.ttl.map_or("does not expire".to_string(), |t| {
        format!("expires {}", expiry(t))
    });
    emit(&format!(
        "# cceone proxy kubeconfig {id} for {} on cluster {}; {validity}.\n# Revoke: cceonectl cluster revoke-kubeconfig {id}\n{yaml}",
        a.user, a.name
    ))
}

/// `cluster revoke-kubeconfig`.
pub(crate) async fn revoke_kubeconfig(client: &kube::Client, id: &str) -> anyhow::Result<()> {
    proxytoken::revoke(client, id).await?;
    emit(&format!("kubeconfig {id} revoked\n"))
}

fn human(d: Duration) -> String {
    jiff::SignedDuration::try_from(d).map_or_else(|_| format!("{d:?}"), |s| format!("{s:#}"))
}

fn expiry(d: Duration) -> String {
    jiff::Timestamp::now()
        .checked_add(d)
        .map_or_else(|_| "far in the future".into(), rfc3339)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_layout() {
        let rows = vec![
            vec!["NAME".to_string(), "TYPE".into(), "AGE".into()],
            vec!["demo".to_string(), "third-party".into(), "5s".into()],
        ];
        assert_eq!(
            tabulate(&rows),
            "NAME   TYPE          AGE\ndemo   third-party   5s\n"
        );
        assert_eq!(cell_text(None), "");
        assert_eq!(cell_text(Some(&json!(3))), "3");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
    }
}
