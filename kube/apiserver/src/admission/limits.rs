//! LimitRange: the defaults a LimitRange object gets (`SetDefaults_LimitRangeItem` in
//! `pkg/apis/core/v1/defaults.go`) and the LimitRanger admission plugin on pods
//! (`plugin/pkg/admission/limitranger/admission.go`): default requests and limits filled into
//! containers that lack them (recorded in the `kubernetes.io/limit-ranger` annotation), then
//! `min`, `max` and `maxLimitRequestRatio` of `Container` items enforced on each container and
//! of `Pod` items on the pod's sums (`PodValidateLimitFunc`), and `min` and `max` of
//! `PersistentVolumeClaim` items on a claim's storage request
//! (`PersistentVolumeClaimValidateLimitFunc`), with upstream's messages. Pure functions over
//! JSON.

use cceone_kube_quantity::Quantity;
use std::collections::BTreeMap;

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

fn items<'a>(ranges: &'a [Value], ty: &'a str) -> impl Iterator<Item = &'a Value> {
    ranges
        .iter()
        .filter_map(|lr| lr.pointer("/spec/limits").and_then(Value::as_array))
        .flatten()
        .filter(move |i| i.get("type").and_then(Value::as_str) == Some(ty))
}

fn container_items(ranges: &[Value]) -> impl Iterator<Item = &Value> {
    items(ranges, "Container")
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

/// A resource list (`requests` or `limits`): each quantity as written and as a value.
type Resources = BTreeMap<String, (String, Quantity)>;

fn resources(list: Option<&Value>) -> Resources {
    list.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let s = v.as_str()?;
                    Some((k.clone(), (s.to_string(), Quantity::parse(s).ok()?)))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn container_resources(c: &Value, field: &str) -> Resources {
    resources(c.get("resources").and_then(|r| r.get(field)))
}

/// The pod's requests or limits as LimitRanger sums them (`podRequests` / `podLimits`): the
/// containers added up, then each init container's taken where it is larger. Sums print as
/// Go prints them: in binary units when the parts were.
fn pod_resources(pod: &Value, field: &str) -> Resources {
    let list = |key: &str| {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| container_resources(c, field))
            .collect::<Vec<_>>()
    };
    let mut sum: BTreeMap<String, (bool, Quantity)> = BTreeMap::new();
    for r in list("containers") {
        for (k, (shown, q)) in r {
            let e = sum.entry(k).or_insert((false, Quantity::default()));
            e.0 |= shown.ends_with('i');
            e.1 = e.1.checked_add(q).unwrap_or(e.1);
        }
    }
    for r in list("initContainers") {
        for (k, (shown, q)) in r {
            let e = sum.entry(k).or_insert((false, Quantity::default()));
            if q > e.1 {
                *e = (shown.ends_with('i'), q);
            }
        }
    }
    sum.into_iter()
        .map(|(k, (binary, q))| {
            let shown = if binary {
                q.format_binary()
            } else {
                q.to_string()
            };
            (k, (shown, q))
        })
        .collect()
}

/// The violations of `min`, `max` and `maxLimitRequestRatio` by the pod's containers and by
/// the pod as a whole, as upstream words them.
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
                let (req, lim) = (
                    container_resources(c, "requests"),
                    container_resources(c, "limits"),
                );
                check("Container", item, &req, &lim, &mut errs);
            }
        }
    }
    let mut pod_items = items(ranges, "Pod").peekable();
    if pod_items.peek().is_some() {
        let (req, lim) = (pod_resources(pod, "requests"), pod_resources(pod, "limits"));
        for item in pod_items {
            check("Pod", item, &req, &lim, &mut errs);
        }
    }
    errs
}

/// The violations of a claim's storage request (`min` against the request, `max` against the
/// request too: `maxRequestConstraint`; limits are not user input on claims).
pub fn claim_violations(pvc: &Value, ranges: &[Value]) -> Vec<String> {
    const T: &str = "PersistentVolumeClaim";
    let mut errs = Vec::new();
    let req = resources(pvc.pointer("/spec/resources/requests"));
    for item in items(ranges, T) {
        for (r, shown, min) in sorted(item, "min") {
            match req.get(&r) {
                None => errs.push(format!(
                    "minimum {r} usage per {T} is {shown}.  No request is specified"
                )),
                Some((s, q)) if *q < min => errs.push(format!(
                    "minimum {r} usage per {T} is {shown}, but request is {s}"
                )),
                _ => {}
            }
        }
        for (r, shown, max) in sorted(item, "max") {
            match req.get(&r) {
                None => errs.push(format!(
                    "maximum {r} usage per {T} is {shown}.  No request is specified"
                )),
                Some((s, q)) if *q > max => errs.push(format!(
                    "maximum {r} usage per {T} is {shown}, but request is {s}"
                )),
                _ => {}
            }
        }
    }
    errs
}

fn sorted(item: &Value, field: &str) -> Vec<(String, String, Quantity)> {
    resources(item.get(field))
        .into_iter()
        .map(|(k, (shown, q))| (k, shown, q))
        .collect()
}

/// `minConstraint`, `maxConstraint` and `limitRequestRatioConstraint` of one LimitRange item
/// of type `t` against requests `req` and limits `lim`.
fn check(t: &str, item: &Value, req: &Resources, lim: &Resources, errs: &mut Vec<String>) {
    for (r, shown, min) in sorted(item, "min") {
        match req.get(&r) {
            None => errs.push(format!(
                "minimum {r} usage per {t} is {shown}.  No request is specified"
            )),
            Some((s, q)) if *q < min => errs.push(format!(
                "minimum {r} usage per {t} is {shown}, but request is {s}"
            )),
            _ => {
                if let Some((s, q)) = lim.get(&r)
                    && *q < min
                {
                    errs.push(format!(
                        "minimum {r} usage per {t} is {shown}, but limit is {s}"
                    ));
                }
            }
        }
    }
    for (r, shown, max) in sorted(item, "max") {
        match lim.get(&r) {
            None => errs.push(format!(
                "maximum {r} usage per {t} is {shown}.  No limit is specified"
            )),
            Some((s, q)) if *q > max => errs.push(format!(
                "maximum {r} usage per {t} is {shown}, but limit is {s}"
            )),
            _ => {
                if let Some((s, q)) = req.get(&r)
                    && *q > max
                {
                    errs.push(format!(
                        "maximum {r} usage per {t} is {shown}, but request is {s}"
                    ));
                }
            }
        }
    }
    for (r, shown, ratio) in sorted(item, "maxLimitRequestRatio") {
        let req = req.get(&r).map(|x| x.1).filter(|q| !q.is_zero());
        let lim = lim.get(&r).map(|x| x.1).filter(|q| !q.is_zero());
        match (req, lim) {
            (None, _) => errs.push(format!(
                "{r} max limit to request ratio per {t} is {shown}, but no request is specified or request is 0"
            )),
            (_, None) => errs.push(format!(
                "{r} max limit to request ratio per {t} is {shown}, but no limit is specified or limit is 0"
            )),
            (Some(req), Some(lim)) => {
                let observed = lim.nanos() as f64 / req.nanos() as f64;
                if observed > ratio.nanos() as f64 / 1e9 {
                    errs.push(format!(
                        "{r} max limit to request ratio per {t} is {shown}, but provided ratio is {observed:.6}"
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

    #[test]
    fn pod_items_check_the_sums_and_claim_items_the_storage_request() {
        let lr = json!({"spec": {"limits": [
            {"type": "Pod", "max": {"memory": "1Gi"}, "min": {"cpu": "100m"}},
            {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "5Gi"}}]}});
        let c = |mem: &str| {
            json!({"name": "c", "resources": {"requests": {"cpu": "50m"},
            "limits": {"memory": mem}}})
        };
        let pod = json!({"spec": {"containers": [c("768Mi"), c("512Mi")]}});
        // cpu: 50m + 50m meets the pod's minimum; memory: 768Mi + 512Mi exceeds its maximum.
        assert_eq!(
            violations(&pod, std::slice::from_ref(&lr)),
            ["maximum memory usage per Pod is 1Gi, but limit is 1280Mi"]
        );
        let pvc = |size: &str| json!({"spec": {"resources": {"requests": {"storage": size}}}});
        assert_eq!(
            claim_violations(&pvc("10Gi"), std::slice::from_ref(&lr)),
            ["maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"]
        );
        assert_eq!(
            claim_violations(&pvc("500Mi"), std::slice::from_ref(&lr)),
            ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]
        );
        assert!(claim_violations(&pvc("2Gi"), &[lr]).is_empty());
    }
}
