//! `cceonectl taint cluster NAME KEY[=VALUE]:EFFECT` (and `KEY[:EFFECT]-` to remove), as
//! `karmadactl taint` and `kubectl taint` spell it: taints on a federation Cluster keep the
//! scheduler from placing workloads there (NoSchedule), or move them away (NoExecute).

use anyhow::{Context as _, bail};
use cceone_karmada_api::Cluster;
use cceone_karmada_api::cluster::Taint;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::json;

use crate::emit;

const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// What one argument asks for.
#[derive(Debug, PartialEq)]
enum Change {
    /// Add (or, with `--overwrite`, replace) a taint.
    Add(Taint),
    /// Remove the taints of a key (of one effect, when given).
    Remove { key: String, effect: Option<String> },
}

/// Parses `KEY[=VALUE]:EFFECT` or `KEY[:EFFECT]-`.
fn parse(spec: &str) -> anyhow::Result<Change> {
    let effect_ok = |e: &str| {
        if EFFECTS.contains(&e) {
            Ok(e.to_string())
        } else {
            bail!("invalid taint effect {e:?}: one of {}", EFFECTS.join(", "))
        }
    };
    let key_ok = |k: &str| {
        if k.is_empty() || k.len() > 316 || k.chars().any(|c| c.is_whitespace() || c == ',') {
            bail!("invalid taint key {k:?}");
        }
        Ok(k.to_string())
    };
    if let Some(rest) = spec.strip_suffix('-') {
        return Ok(match rest.split_once(':') {
            Some((key, effect)) => Change::Remove {
                key: key_ok(key)?,
                effect: Some(effect_ok(effect)?),
            },
            None => Change::Remove {
                key: key_ok(rest)?,
                effect: None,
            },
        });
    }
    let Some((kv, effect)) = spec.rsplit_once(':') else {
        bail!("invalid taint {spec:?}: expected KEY[=VALUE]:EFFECT, or KEY[:EFFECT]- to remove");
    };
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string()).filter(|v| !v.is_empty())),
        None => (kv, None),
    };
    Ok(Change::Add(Taint {
        key: key_ok(key)?,
        value,
        effect: effect_ok(effect)?,
        ..Taint::default()
    }))
}

/// The taints after the changes, and what to say; an error for a removal that finds nothing or
/// a changed value without `overwrite`.
fn apply(
    mut taints: Vec<Taint>,
    changes: &[Change],
    overwrite: bool,
    now: &str,
) -> anyhow::Result<Vec<Taint>> {
    for change in changes {
        match change {
            Change::Add(t) => {
                match taints
                    .iter_mut()
                    .find(|x| x.key == t.key && x.effect == t.effect)
                {
                    Some(x) if x.value == t.value => {}
                    Some(x) if overwrite => x.value = t.value.clone(),
                    Some(_) => bail!(
                        "taint {}:{} already exists with a different value; use --overwrite",
                        t.key,
                        t.effect
                    ),
                    None => {
                        let mut t = t.clone();
                        // As kubectl: only NoExecute taints record when they were added.
                        if t.effect == "NoExecute" {
                            t.time_added = Some(now.to_string());
                        }
                        taints.push(t);
                    }
                }
            }
            Change::Remove { key, effect } => {
                let before = taints.len();
                taints
                    .retain(|x| !(x.key == *key && effect.as_ref().is_none_or(|e| x.effect == *e)));
                if taints.len() == before {
                    bail!("taint {key:?} not found");
                }
            }
        }
    }
    Ok(taints)
}

/// The key of the taint `cordon` puts on a cluster (Karmada's `TaintClusterUnscheduler`).
pub(crate) const UNSCHEDULABLE: &str = "cluster.karmada.io/unschedulable";

/// Read a federation Cluster, compute its new taints with `change` (`None`: nothing to do) and
/// write them back (conditional on the cluster not having changed meanwhile).
async fn patch_taints(
    client: &kube::Client,
    name: &str,
    change: impl FnOnce(Vec<Taint>) -> anyhow::Result<Option<Vec<Taint>>>,
) -> anyhow::Result<bool> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.karmada.io", "v1alpha1", "Cluster"),
        "clusters",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let live = api
        .get(name)
        .await
        .with_context(|| format!("reading cluster {name}"))?;
    let cluster = Cluster::from_value(&serde_json::to_value(&live)?)
        .with_context(|| format!("reading cluster {name}"))?;
    let Some(taints) = change(cluster.taints().to_vec())? else {
        return Ok(false);
    };
    let taints = if taints.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(&taints)?
    };
    let patch = json!({
        "metadata": {"resourceVersion": cluster.metadata.resource_version()},
        "spec": {"taints": taints},
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("writing the taints of cluster {name}"))?;
    Ok(true)
}

fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// Taint (or untaint) a federation Cluster.
pub(crate) async fn cluster(
    client: &kube::Client,
    name: &str,
    specs: &[String],
    overwrite: bool,
) -> anyhow::Result<()> {
    let changes = specs
        .iter()
        .map(|s| parse(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if changes.is_empty() {
        bail!("at least one taint is required (KEY[=VALUE]:EFFECT, or KEY[:EFFECT]- to remove)");
    }
    let now = now();
    patch_taints(client, name, |taints| {
        apply(taints, &changes, overwrite, &now).map(Some)
    })
    .await?;
    let removing = changes.iter().all(|c| matches!(c, Change::Remove { .. }));
    emit(&format!(
        "cluster/{name} {}\n",
        if removing { "untainted" } else { "tainted" }
    ))
}

/// `cordon` / `uncordon`, as `karmadactl cordon`: the `cluster.karmada.io/unschedulable`
/// NoSchedule taint on or off, so the scheduler places nothing new there while it is on.
pub(crate) async fn cordon(client: &kube::Client, name: &str, on: bool) -> anyhow::Result<()> {
    let changed = patch_taints(client, name, |taints| {
        let has = taints
            .iter()
            .any(|t| t.key == UNSCHEDULABLE && t.effect == "NoSchedule");
        if has == on {
            return Ok(None);
        }
        let change = if on {
            Change::Add(Taint {
                key: UNSCHEDULABLE.into(),
                effect: "NoSchedule".into(),
                ..Taint::default()
            })
        } else {
            Change::Remove {
                key: UNSCHEDULABLE.into(),
                effect: Some("NoSchedule".into()),
            }
        };
        apply(taints, &[change], false, &now()).map(Some)
    })
    .await?;
    let what = if on { "cordoned" } else { "uncordoned" };
    let already = if changed { "" } else { "already " };
    emit(&format!("cluster/{name} {already}{what}\n"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(String::from),
            effect: effect.into(),
            ..Taint::default()
        }
    }

    #[test]
    fn parses_like_kubectl() {
        assert_eq!(
            parse("dedicated=ops:NoSchedule").unwrap(),
            Change::Add(taint("dedicated", Some("ops"), "NoSchedule"))
        );
        assert_eq!(
            parse("gpu:NoExecute").unwrap(),
            Change::Add(taint("gpu", None, "NoExecute"))
        );
        assert_eq!(
            parse("dedicated-").unwrap(),
            Change::Remove {
                key: "dedicated".into(),
                effect: None
            }
        );
        assert_eq!(
            parse("dedicated:NoSchedule-").unwrap(),
            Change::Remove {
                key: "dedicated".into(),
                effect: Some("NoSchedule".into())
            }
        );
        assert!(parse("dedicated=ops").is_err());
        assert!(parse("dedicated=ops:Sometimes").is_err());
        assert!(parse("=x:NoSchedule").is_err());
    }

    #[test]
    fn adds_replaces_only_with_overwrite_and_removes() {
        let now = "2026-01-01T00:00:00Z";
        let t = apply(vec![], &[parse("a=1:NoSchedule").unwrap()], false, now).unwrap();
        assert_eq!(t, vec![taint("a", Some("1"), "NoSchedule")]);
        // The same again changes nothing; another value needs --overwrite.
        let again = apply(t.clone(), &[parse("a=1:NoSchedule").unwrap()], false, now).unwrap();
        assert_eq!(again, t);
        assert!(apply(t.clone(), &[parse("a=2:NoSchedule").unwrap()], false, now).is_err());
        let over = apply(t.clone(), &[parse("a=2:NoSchedule").unwrap()], true, now).unwrap();
        assert_eq!(over, vec![taint("a", Some("2"), "NoSchedule")]);
        // NoExecute records when it was added.
        let ne = apply(vec![], &[parse("b:NoExecute").unwrap()], false, now).unwrap();
        assert_eq!(ne[0].time_added.as_deref(), Some(now));
        // Removal by key, or by key and effect; nothing to remove is an error.
        let gone = apply(over, &[parse("a-").unwrap()], false, now).unwrap();
        assert!(gone.is_empty());
        assert!(apply(gone, &[parse("a-").unwrap()], false, now).is_err());
    }
}
