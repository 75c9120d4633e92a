//! Matching as Karmada does it: label selectors, resource selectors with their implicit
//! priority (`pkg/util/selector.go`), cluster affinity (clusterNames, exclude, labelSelector,
//! fieldSelector on provider / region / zone) and taint tolerations.

use std::collections::BTreeMap;

use cceone_karmada_api::cluster::Taint;
use cceone_karmada_api::{
    Cluster, ClusterAffinity, LabelSelector, Requirement, ResourceSelector, Toleration,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::json::s;

/// How closely a resource selector matches a resource (Karmada's `ImplicitPriority`); the
/// derived order is the priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImplicitPriority {
    /// The selector does not match.
    MisMatch,
    /// Matched by apiVersion and kind only (name and labelSelector empty).
    MatchAll,
    /// Matched by the label selector.
    MatchLabelSelector,
    /// Matched by name.
    MatchName,
}

/// A set of labels to match a selector against: a typed object's, or an untyped template's.
pub trait Labels {
    /// The value of a label.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl Labels for Option<BTreeMap<String, String>> {
    fn label(&self, key: &str) -> Option<&str> {
        self.as_ref()?.get(key).map(String::as_str)
    }
}

/// Whether a `metav1.LabelSelector` matches a label set. An empty selector matches
/// everything; an invalid one (unknown operator, wrong number of values) matches nothing, as
/// `metav1.LabelSelectorAsSelector` failing does in Karmada.
pub fn label_selector_matches(selector: &LabelSelector, labels: &impl Labels) -> bool {
    if let Some(ml) = &selector.match_labels {
        for (k, v) in ml {
            if labels.label(k) != Some(v.as_str()) {
                return false;
            }
        }
    }
    selector.match_expressions.iter().flatten().all(|e| {
        let have = labels.label(&e.key);
        let values = e.values();
        let contains = |v: &str| values.iter().any(|x| x == v);
        match e.operator.as_str() {
            "In" => !values.is_empty() && have.is_some_and(contains),
            "NotIn" => !values.is_empty() && have.is_none_or(|v| !contains(v)),
            "Exists" => values.is_empty() && have.is_some(),
            "DoesNotExist" => values.is_empty() && have.is_none(),
            _ => false,
        }
    })
}

/// [`label_selector_matches`] for a selector still in its JSON form (templates' policies);
/// one that does not parse matches nothing.
pub fn label_selector_value_matches(selector: &Value, labels: &impl Labels) -> bool {
    LabelSelector::deserialize(selector).is_ok_and(|sel| label_selector_matches(&sel, labels))
}

/// The priority with which one `ResourceSelector` matches a resource
/// (`util.ResourceSelectorPriority`): apiVersion and kind must be equal, the namespace too when
/// the selector names one; a name wins over the label selector, which is ignored then.
pub fn resource_selector_priority(resource: &Value, rs: &ResourceSelector) -> ImplicitPriority {
    if s(resource, "/apiVersion") != rs.api_version || s(resource, "/kind") != rs.kind {
        return ImplicitPriority::MisMatch;
    }
    let ns = rs.namespace();
    if !ns.is_empty() && s(resource, "/metadata/namespace") != ns {
        return ImplicitPriority::MisMatch;
    }
    let name = rs.name();
    if !name.is_empty() {
        return if name == s(resource, "/metadata/name") {
            ImplicitPriority::MatchName
        } else {
            ImplicitPriority::MisMatch
        };
    }
    match &rs.label_selector {
        None => ImplicitPriority::MatchAll,
        Some(sel) => {
            if label_selector_matches(sel, &crate::json::labels(resource)) {
                ImplicitPriority::MatchLabelSelector
            } else {
                ImplicitPriority::MisMatch
            }
        }
    }
}

/// The highest priority among several selectors (`util.ResourceMatchSelectorsPriority`).
pub fn resource_selectors_priority(
    resource: &Value,
    selectors: &[ResourceSelector],
) -> ImplicitPriority {
    selectors
        .iter()
        .map(|rs| resource_selector_priority(resource, rs))
        .max()
        .unwrap_or(ImplicitPriority::MisMatch)
}

/// Whether a Cluster matches a `ClusterAffinity` (`util.ClusterMatches`): not excluded,
/// label selector, field selector and cluster names all satisfied (an absent part matches).
pub fn cluster_matches(cluster: &Cluster, affinity: &ClusterAffinity) -> bool {
    let name = cluster.name();
    if affinity.exclude().iter().any(|n| n == name) {
        return false;
    }
    if let Some(sel) = &affinity.label_selector
        && !label_selector_matches(sel, &cluster.metadata.labels)
    {
        return false;
    }
    if let Some(fs) = &affinity.field_selector
        && !field_selector_matches(cluster, fs.match_expressions.as_deref().unwrap_or(&[]))
    {
        return false;
    }
    let names = affinity.cluster_names();
    names.is_empty() || names.iter().any(|n| n == name)
}

/// The field selector part of [`cluster_matches`]: `zone` against `spec.zones`, `provider` and
/// `region` as node-selector requirements over `spec.provider` / `spec.region`.
fn field_selector_matches(cluster: &Cluster, exprs: &[Requirement]) -> bool {
    let spec = cluster.spec.as_ref();
    let zones: &[String] = spec.and_then(|s| s.zones.as_deref()).unwrap_or(&[]);
    let field = |key: &str| {
        let v = match key {
            "provider" => spec.map_or("", |s| s.provider()),
            "region" => spec.map_or("", |s| s.region()),
            _ => "",
        };
        (!v.is_empty()).then_some(v)
    };
    exprs.iter().all(|e| {
        let values: Vec<&str> = e.values().iter().map(String::as_str).collect();
        let op = e.operator.as_str();
        if e.key == "zone" {
            return match op {
                "In" => zones.iter().any(|z| values.contains(&z.as_str())),
                "NotIn" => !zones.iter().any(|z| values.contains(&z.as_str())),
                "Exists" => !zones.is_empty(),
                "DoesNotExist" => zones.is_empty(),
                _ => false,
            };
        }
        node_requirement_matches(field(&e.key), op, &values)
    })
}

/// One `NodeSelectorRequirement` turned into a label requirement and matched, with
/// `labels.NewRequirement`'s checks on the number of values.
fn node_requirement_matches(have: Option<&str>, op: &str, values: &[&str]) -> bool {
    match op {
        "In" => !values.is_empty() && have.is_some_and(|v| values.contains(&v)),
        "NotIn" => !values.is_empty() && have.is_none_or(|v| !values.contains(&v)),
        "Exists" => values.is_empty() && have.is_some(),
        "DoesNotExist" => values.is_empty() && have.is_none(),
        "Gt" | "Lt" => {
            let [bound] = values else { return false };
            let (Ok(bound), Some(Ok(v))) = (bound.parse::<i64>(), have.map(str::parse::<i64>))
            else {
                return false;
            };
            if op == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// `corev1.Toleration.ToleratesTaint` (without the Lt/Gt operators Karmada disables).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let effect = text(&toleration.effect);
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = text(&toleration.key);
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => text(&toleration.value) == taint.value(),
        "Exists" => true,
        _ => false,
    }
}

/// The first taint (among those `filter` keeps) that no toleration tolerates
/// (`v1helper.FindMatchingUntoleratedTaint`).
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// `Taint.ToString`: `key=value:effect`, eliding empty parts as Kubernetes does.
pub(crate) fn taint_string(taint: &Taint) -> String {
    let (k, v, e) = (&taint.key, taint.value(), &taint.effect);
    match (v.is_empty(), e.is_empty()) {
        (true, true) => k.to_string(),
        (true, false) => format!("{k}:{e}"),
        (false, true) => format!("{k}={v}:"),
        (false, false) => format!("{k}={v}:{e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
