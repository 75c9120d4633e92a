//! Matching as Karmada does it: label selectors, resource selectors with their implicit
//! priority (`pkg/util/selector.go`), cluster affinity (clusterNames, exclude, labelSelector,
//! fieldSelector on provider / region / zone) and taint tolerations.

use serde_json::{Map, Value};

use crate::json::{arr, s, strings};

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

/// Whether a `metav1.LabelSelector` object matches a label set. An empty selector matches
/// everything; an invalid one (unknown operator, wrong number of values) matches nothing, as
/// `metav1.LabelSelectorAsSelector` failing does in Karmada.
pub fn label_selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    if !selector.is_object() {
        return false;
    }
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if v.as_str().is_none() || label(k) != v.as_str() {
                return false;
            }
        }
    }
    arr(selector, "/matchExpressions").iter().all(|e| {
        let key = s(e, "/key");
        let values = strings(e, "/values");
        match s(e, "/operator") {
            "In" => !values.is_empty() && label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => !values.is_empty() && label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => values.is_empty() && label(key).is_some(),
            "DoesNotExist" => values.is_empty() && label(key).is_none(),
            _ => false,
        }
    })
}

/// The priority with which one `ResourceSelector` matches a resource
/// (`util.ResourceSelectorPriority`): apiVersion and kind must be equal, the namespace too when
/// the selector names one; a name wins over the label selector, which is ignored then.
pub fn resource_selector_priority(resource: &Value, rs: &Value) -> ImplicitPriority {
    if s(resource, "/apiVersion") != s(rs, "/apiVersion") || s(resource, "/kind") != s(rs, "/kind")
    {
        return ImplicitPriority::MisMatch;
    }
    let ns = s(rs, "/namespace");
    if !ns.is_empty() && s(resource, "/metadata/namespace") != ns {
        return ImplicitPriority::MisMatch;
    }
    let name = s(rs, "/name");
    if !name.is_empty() {
        return if name == s(resource, "/metadata/name") {
            ImplicitPriority::MatchName
        } else {
            ImplicitPriority::MisMatch
        };
    }
    match rs.get("labelSelector") {
        None | Some(Value::Null) => ImplicitPriority::MatchAll,
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
pub fn resource_selectors_priority(resource: &Value, selectors: &[Value]) -> ImplicitPriority {
    selectors
        .iter()
        .map(|rs| resource_selector_priority(resource, rs))
        .max()
        .unwrap_or(ImplicitPriority::MisMatch)
}

/// Whether a Cluster object matches a `ClusterAffinity` (`util.ClusterMatches`): not excluded,
/// label selector, field selector and cluster names all satisfied (an absent part matches).
pub fn cluster_matches(cluster: &Value, affinity: &Value) -> bool {
    let name = s(cluster, "/metadata/name");
    if strings(affinity, "/exclude").contains(&name) {
        return false;
    }
    if let Some(sel) = affinity.get("labelSelector").filter(|v| !v.is_null())
        && !label_selector_matches(sel, &crate::json::labels(cluster))
    {
        return false;
    }
    if affinity.get("fieldSelector").is_some_and(|v| !v.is_null())
        && !field_selector_matches(cluster, arr(affinity, "/fieldSelector/matchExpressions"))
    {
        return false;
    }
    let names = strings(affinity, "/clusterNames");
    names.is_empty() || names.contains(&name)
}

/// The field selector part of [`cluster_matches`]: `zone` against `spec.zones`, `provider` and
/// `region` as node-selector requirements over `spec.provider` / `spec.region`.
fn field_selector_matches(cluster: &Value, exprs: &[Value]) -> bool {
    let zones = strings(cluster, "/spec/zones");
    let field = |key: &str| {
        let v = match key {
            "provider" => s(cluster, "/spec/provider"),
            "region" => s(cluster, "/spec/region"),
            _ => "",
        };
        (!v.is_empty()).then_some(v)
    };
    exprs.iter().all(|e| {
        let values = strings(e, "/values");
        let op = s(e, "/operator");
        if s(e, "/key") == "zone" {
            return match op {
                "In" => zones.iter().any(|z| values.contains(z)),
                "NotIn" => !zones.iter().any(|z| values.contains(z)),
                "Exists" => !zones.is_empty(),
                "DoesNotExist" => zones.is_empty(),
                _ => false,
            };
        }
        node_requirement_matches(field(s(e, "/key")), op, &values)
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
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect = s(toleration, "/effect");
    if !effect.is_empty() && effect != s(taint, "/effect") {
        return false;
    }
    let key = s(toleration, "/key");
    if !key.is_empty() && key != s(taint, "/key") {
        return false;
    }
    match s(toleration, "/operator") {
        "" | "Equal" => s(toleration, "/value") == s(taint, "/value"),
        "Exists" => true,
        _ => false,
    }
}

/// The first taint (among those `filter` keeps) that no toleration tolerates
/// (`v1helper.FindMatchingUntoleratedTaint`).
pub fn find_untolerated_taint<'a>(
    taints: &'a [Value],
    tolerations: &[Value],
    filter: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// `Taint.ToString`: `key=value:effect`, eliding empty parts as Kubernetes does.
pub(crate) fn taint_string(taint: &Value) -> String {
    let (k, v, e) = (s(taint, "/key"), s(taint, "/value"), s(taint, "/effect"));
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
