//! `cceonectl user`: kubeconfigs that reach the federation API as a named person, and their
//! revocation. The kubeconfig points at the same server, trusting the same CA, as the
//! kubeconfig `cceonectl` itself runs with.

use std::path::Path;

use anyhow::{Context as _, bail};
use cceone_platform::usertoken;
use kube::config::Kubeconfig;

use crate::args::UserCommand;
use crate::emit;

/// The API server the issued kubeconfig reaches: its URL and CA data.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    server: String,
    ca_data: Option<String>,
}

/// The server and CA of the current (or given) context of the kubeconfig in use.
pub(crate) fn target(kubeconfig: Option<&Path>, context: Option<&str>) -> anyhow::Result<Target> {
    let kc = match kubeconfig {
        Some(p) => Kubeconfig::read_from(p)
            .with_context(|| format!("reading kubeconfig {}", p.display()))?,
        None => {
            Kubeconfig::read().context("reading the kubeconfig ($KUBECONFIG or ~/.kube/config)")?
        }
    };
    let ctx_name = context
        .map(str::to_string)
        .or(kc.current_context.clone())
        .context("the kubeconfig has no current context")?;
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .with_context(|| format!("no context {ctx_name:?} in the kubeconfig"))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .with_context(|| format!("no cluster {cluster_name:?} in the kubeconfig"))?;
    let Some(server) = cluster.server.clone() else {
        bail!("cluster {cluster_name:?} in the kubeconfig has no server");
    };
    Ok(Target {
        server,
        ca_data: cluster.certificate_authority_data.clone(),
    })
}

/// Run a `user` subcommand.
pub(crate) async fn run(
    client: &kube::Client,
    target: &Target,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Kubeconfig { name, groups, ttl } => {
            let (id, token) = usertoken::issue(client, &name, &groups, ttl)
                .await
                .context("issuing a user token")?;
            let yaml = usertoken::kubeconfig_yaml(
                &target.server,
                target.ca_data.as_deref(),
                &name,
                &token,
            );
            let validity = match ttl {
                Some(t) => format!(
                    "expires {}",
                    jiff::Timestamp::now()
                        .checked_add(t)
                        .map_or_else(|_| "far in the future".into(), |ts| ts.to_string())
                ),
                None => "does not expire".into(),
            };
            emit(&format!(
                "# cceone user kubeconfig {id} for {name}; {validity}.\n# Revoke: cceonectl user revoke {id}\n{yaml}"
            ))
        }
        UserCommand::Revoke { id } => {
            usertoken::revoke(client, &id).await?;
            emit(&format!("user kubeconfig {id} revoked\n"))
        }
    }
}
