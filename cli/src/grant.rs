//! The `grant` commands: a `Grant` object per grant; the federation turns each into RBAC in
//! the member clusters it applies to (see `cceone_platform::grant`).

use anyhow::{Context as _, bail};
use cceone_platform::grant::{GrantSpec, KIND, Permission, Role, grants};
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};

use crate::args::{GrantCommand, RoleArg};
use crate::emit;

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Administrator => Role::Administrator,
        RoleArg::Operations => Role::Operations,
        RoleArg::Developer => Role::Developer,
        RoleArg::Restricted => Role::Restricted,
        RoleArg::Custom => Role::Custom,
    }
}

/// `<user>-<target>-<role>` made a DNS-1123 subdomain.
fn default_name(user: &str, target: &str, role: Role) -> String {
    let raw = format!("{user}-{target}-{}", role.as_str()).to_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(253);
    name.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Run one `grant` command.
pub(crate) async fn run(client: &kube::Client, cmd: GrantCommand) -> anyhow::Result<()> {
    match cmd {
        GrantCommand::Create {
            user,
            role: r,
            clusters,
            fleet,
            namespaces,
            rules,
            name,
        } => {
            let r = role(r);
            if (r == Role::Custom) == rules.is_empty() {
                bail!(
                    "--rule goes with --role custom, and --role custom needs at least one --rule"
                );
            }
            let rules = rules
                .iter()
                .map(|s| Permission::parse(s).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            cceone_platform::ensure_crds(client, "cceonectl").await?;
            let target = fleet.clone().unwrap_or_else(|| clusters.join("-"));
            let name = name.unwrap_or_else(|| default_name(&user, &target, r));
            let spec = GrantSpec {
                user,
                role: r,
                clusters,
                fleet,
                namespaces,
                rules,
            };
            let obj: DynamicObject = serde_json::from_value(json!({
                "apiVersion": format!("{}/{}", cceone_platform::GROUP, cceone_platform::VERSION),
                "kind": KIND,
                "metadata": {"name": name},
                "spec": spec,
            }))?;
            match grants(client).create(&PostParams::default(), &obj).await {
                Ok(_) => emit(&format!("grant/{name} created\n")),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    bail!("grant {name:?} already exists; name another with --name")
                }
                Err(kube::Error::Api(s)) => bail!("creating grant {name}: {}", s.message),
                Err(e) => Err(e).context(format!("creating grant {name}")),
            }
        }
        GrantCommand::List => {
            let list = grants(client)
                .list(&ListParams::default())
                .await
                .context("listing grants")?;
            let mut out = String::from("NAME\tUSER\tROLE\tTARGET\tCLUSTERS\tNAMESPACES\n");
            for g in list.items {
                let v = serde_json::to_value(&g)?;
                let Some(spec) = GrantSpec::of(&v) else {
                    continue;
                };
                let target = spec
                    .fleet
                    .map_or_else(|| spec.clusters.join(","), |f| format!("fleet/{f}"));
                let st = |p: &str| {
                    v.pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{target}\t{}\t{}\n",
                    g.metadata.name.unwrap_or_default(),
                    spec.user,
                    spec.role.as_str(),
                    st("/status/clusters"),
                    st("/status/namespaces"),
                ));
            }
            emit(&out)
        }
        GrantCommand::Delete { name } => {
            match grants(client).delete(&name, &DeleteParams::default()).await {
                Ok(_) => emit(&format!("grant/{name} deleted\n")),
                Err(kube::Error::Api(s)) if s.code == 404 => bail!("grant {name:?} not found"),
                Err(e) => Err(e).context(format!("deleting grant {name}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid() {
        assert_eq!(
            default_name("Alice@corp", "prod", Role::Developer),
            "alice-corp-prod-developer"
        );
    }
}
