//! LimitRange: the defaults a LimitRange object gets (`SetDefaults_LimitRangeItem` in
//! `pkg/apis/core/v1/defaults.go`) and the LimitRanger admission plugin on pods
//! (`plugin/pkg/admission/limitranger/admission.go`): default requests and limits filled into
//! containers that lack them (recorded in the `kubernetes.io/limit-ranger` annotation), then
//! `min`, `max` and `maxLimitRequestRatio` of `Container` items enforced with upstream's
//! messages. Pure functions over JSON.

use cceone_kube_quantity::Quantity;
use serde_json::{Map, Value, json};

/// The annotation LimitRanger records its defaults in.
const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Default a LimitRange's `Container` items: `default` from `max`, `defaultRequest` from
/// `default`, then from `min`.
pub fn default_limit_range(lr: &mut Value) {
    let Some(items) = lr.pointer_mut("/spec/limits").and_then(Value::as_array_mut) else {
        return;
    };
    for item in items {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        for (from, to) in [
            ("max", "default"),
            ("default", "defaultRequest"),
            ("min", "defaultRequest"),
        ] {
            let Some(src) = item.get(from).and_then(Value::as_object).cloned() else {
                continue;
            };
            let dst = item
                .as_object_mut()
                .map(|m| m.entry(to).or_insert_with(|| json!({})));
            if let Some(Value::Object(dst)) = dst {
                for (k, v) in src {
                    dst.entry(k).or_insert(v);
                }
            }
        }
    }
}

fn container_items(ranges: &[Value]) -> impl Iterator<Item = &Value> {
    ranges
        .iter()
        .filter_map(|lr| lr.pointer("/spec/limits").and_then(Value::as_array))
        .flatten()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("Container"))
}

/// Fill `defaultRequest` and `default` into the pod's containers (`mergeContainerResources`).
pub fn apply_defaults(pod: &mut Value, ranges: &[Value]) {
    let mut notes = Vec::new();
    for item in container_items(ranges) {
        let requests = item.get("defaultRequest").and_then(Value::as_object);
        let limits = item.get("default").and_then(Value::as_object);
        if requests.is_none() && limits.is_none() {
            continue;
        }
        for (list, kind) in [
            ("containers", "container"),
            ("initContainers", "init container"),
        ] {
            let Some(cs) = pod
                .pointer_mut(&format!("/spec/{list}"))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for c in cs {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let set_req = fill(c, "requests", requests);
                let set_lim = fill(c, "limits", limits);
                if !set_req.is_empty() {
                    notes.push(format!("{} request for {kind} {name}", set_req.join(", ")));
                }
                if !set_lim.is_empty() {
                    notes.push(format!("{} limit for {kind} {name}", set_lim.join(", ")));
                }
            }
        }
    }
    if !notes.is_empty() {
        let md = crate::meta::metadata_mut(pod);
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(
                ANNOTATION.into(),
                json!(format!("LimitRanger plugin set: {}", notes.join("; "))),
            );
        }
    }
}

/// Put each of `defaults` missing from `resources.<field>`; the names set, sorted.
fn fill(container: &mut Value, field: &str, defaults: Option<&Map<String, Value>>) -> Vec<String> {
    let Some(defaults) = defaults else {
        return Vec::new();
    };
    let Some(c) = container.as_object_mut() else {
        return Vec::new();
    };
    let res = c.entry("resources").or_insert_with(|| json!({}));
    let Some(res) = res.as_object_mut() else {
        return Vec::new();
    };
    let list = res.entry(field).or_insert_with(|| json!({}));
    let Some(list) = list.as_object_mut() else {
        return Vec::new();
    };
    let mut set = Vec::new();
    for (k, v) in defaults {
        if !list.contains_key(k) {
            list.insert(k.clone(), v.clone());
            set.push(k.clone());
        }
    }
    set.sort();
    set
}

fn quantity_at<'a>(c: &'a Value, field: &str, name: &str) -> Option<(&'a str, Quantity)> {
    let s = c.get("resources")?.get(field)?.get(name)?.as_str()?;
    Some((s, Quantity::parse(s).ok()?))
}

/// The violations of `min`, `max` and `maxLimitRequestRatio` by the pod's containers, as
/// upstream words them.
pub fn violations(pod: &Value, ranges: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    for item in container_items(ranges) {
        for list in ["containers", "initContainers"] {
            let Some(cs) = pod
                .pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
            else {
                continue;
            };
            for c in cs {
                check_container(c, item, &mut errs);
            }
        }
    }
    errs
}

fn sorted(item: &Value, field: &str) -> Vec<(String, String, Quantity)> {
    let mut out: Vec<(String, String, Quantity)> = item
        .get(field)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let s = v.as_str()?;
                    Some((k.clone(), s.to_string(), Quantity::parse(s).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn check_container(c: &Value, item: &Value, errs: &mut Vec<String>) {
    const T: &str = "Container";
    for (r, shown, min) in sorted(item, "min") {
        let req = quantity_at(c, "requests", &r);
        let lim = quantity_at(c, "limits", &r);
        match req {
            None => errs.push(format!(
                "minimum {r} usage per {T} is {shown}.  No request is specified"
            )),
            Some((s, q)) if q < min => errs.push(format!(
                "minimum {r} usage per {T} is {shown}, but request is {s}"
            )),
            _ => {
                if let Some((s, q)) = lim
                    && q < min
                {
                    errs.push(format!(
                        "minimum {r} usage per {T} is {shown}, but limit is {s}"
                    ));
                }
            }
        }
    }
    for (r, shown, max) in sorted(item, "max") {
        let req = quantity_at(c, "requests", &r);
        let lim = quantity_at(c, "limits", &r);
        match lim {
            None => errs.push(format!(
                "maximum {r} usage per {T} is {shown}.  No limit is specified"
            )),
            Some((s, q)) if q > max => errs.push(format!(
                "maximum {r} usage per {T} is {shown}, but limit is {s}"
            )),
            _ => {
                if let Some((s, q)) = req
                    && q > max
                {
                    errs.push(format!(
                        "maximum {r} usage per {T} is {shown}, but request is {s}"
                    ));
                }
            }
        }
    }
    for (r, shown, ratio) in sorted(item, "maxLimitRequestRatio") {
        let req = quantity_at(c, "requests", &r)
            .map(|x| x.1)
            .filter(|q| !q.is_zero());
        let lim = quantity_at(c, "limits", &r)
            .map(|x| x.1)
            .filter(|q| !q.is_zero());
        match (req, lim) {
            (None, _) => errs.push(format!(
                "{r} max limit to request ratio per {T} is {shown}, but no request is specified or request is 0"
            )),
            (_, None) => errs.push(format!(
                "{r} max limit to request ratio per {T} is {shown}, but no limit is specified or limit is 0"
            )),
            (Some(req), Some(lim)) => {
                let observed = lim.nanos() as f64 / req.nanos() as f64;
                if observed > ratio.nanos() as f64 / 1e9 {
                    errs.push(format!(
                        "{r} max limit to request ratio per {T} is {shown}, but provided ratio is {observed:.6}"
                    ));
                }
            }
        }
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone, several in brackets.
pub fn aggregate(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_resources_and_annotate() {
        let mut lr = json!({"spec": {"limits": [{"type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"}, "max": {"cpu": "1"}}]}});
        default_limit_range(&mut lr);
        assert_eq!(
            lr["spec"]["limits"][0]["defaultRequest"],
            json!({"cpu": "500m", "memory": "256Mi"})
        );
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "web", "resources": {"requests": {"cpu": "100m"}}}]}});
        apply_defaults(&mut pod, std::slice::from_ref(&lr));
        let res = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(res["requests"], json!({"cpu": "100m", "memory": "256Mi"}));
        assert_eq!(res["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
        assert_eq!(
            pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
            "LimitRanger plugin set: memory request for container web; cpu, memory limit for container web"
        );
        assert!(violations(&pod, &[lr]).is_empty());
    }

    #[test]
    fn min_and_max_are_enforced_with_upstreams_words() {
        let lr = json!({"spec": {"limits": [{"type": "Container",
            "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}}]}});
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}}]}});
        let errs = violations(&pod, &[lr]);
        assert_eq!(
            aggregate(&errs),
            "[minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 1Gi, but limit is 2Gi]"
        );
    }
}
