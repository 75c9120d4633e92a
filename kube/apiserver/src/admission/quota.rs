//! ResourceQuota: what an object counts against a quota and the admission decision, as
//! kube-apiserver's quota admission (`plugin/pkg/admission/resourcequota`,
//! `staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go`) and the
//! evaluators of `pkg/quota/v1/evaluator/core` compute them. Pure functions over JSON; the
//! driver in `admission/mod.rs` reads the quotas and records the new usage, and the
//! simulator's quota controller recomputes `status.used` with [`usage`].

use std::collections::{BTreeMap, BTreeSet};

use cceone_kube_quantity::Quantity;
use serde_json::{Value, json};

/// Resource names and amounts (`pods: 2`, `requests.cpu: 500m`), sorted by name.
pub type ResourceList = BTreeMap<String, Quantity>;

/// The resources whose quota obliges every container to state them (`validationSet` of the
/// pod evaluator: a backward-compatibility rule upstream keeps).
const MUST_SPECIFY: [&str; 6] = [
    "cpu",
    "limits.cpu",
    "limits.memory",
    "memory",
    "requests.cpu",
    "requests.memory",
];

/// `<class>.storageclass.storage.k8s.io/<resource>`: a claim resource counted per storage
/// class (`storageClassSuffix` of the claim evaluator).
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// `count/<plural>` for the core group, `count/<plural>.<group>` otherwise.
pub fn object_count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// The (group, plural) of the objects a quota resource name counts, e.g. `requests.cpu` →
/// pods, `count/deployments.apps` → deployments.apps; None for names nothing here counts.
pub fn resource_of(name: &str) -> Option<(String, String)> {
    if let Some(rest) = name.strip_prefix("count/") {
        let (plural, group) = rest.split_once('.').unwrap_or((rest, ""));
        return Some((group.to_string(), plural.to_string()));
    }
    let core = |p: &str| Some((String::new(), p.to_string()));
    match name {
        "pods" | "cpu" | "memory" | "ephemeral-storage" => core("pods"),
        "requests.storage" | "persistentvolumeclaims" => core("persistentvolumeclaims"),
        n if n.contains(STORAGE_CLASS_SUFFIX) => core("persistentvolumeclaims"),
        n if n.starts_with("requests.") || n.starts_with("limits.") => core("pods"),
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => core(name),
        _ => None,
    }
}

fn one() -> Quantity {
    Quantity::from_units(1)
}

fn quantities(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), Quantity::parse(v.as_str()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a pod has finished (its compute resources no longer count).
fn terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// `podComputeUsageHelper`: the quota names a pod (or one container) with these requests and
/// limits uses.
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), one());
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(r) {
            out.insert(r.into(), *q);
            out.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(r) {
            out.insert(format!("limits.{r}"), *q);
        }
    }
    for (k, q) in requests {
        if k.starts_with("hugepages-") || k.contains('/') {
            out.insert(format!("requests.{k}"), *q);
        }
    }
    out
}

fn containers(pod: &Value, list: &str) -> Vec<(ResourceList, ResourceList)> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        quantities(c.pointer("/resources/requests")),
                        quantities(c.pointer("/resources/limits")),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `PodRequests`/`PodLimits`: the sum over containers, at least each init container's.
fn pod_totals(pod: &Value) -> (ResourceList, ResourceList) {
    let (mut req, mut lim) = (ResourceList::new(), ResourceList::new());
    for (r, l) in containers(pod, "containers") {
        for (k, q) in r {
            *req.entry(k).or_default() += q;
        }
        for (k, q) in l {
            *lim.entry(k).or_default() += q;
        }
    }
    for (r, l) in containers(pod, "initContainers") {
        for (k, q) in r {
            let e = req.entry(k).or_default();
            *e = (*e).max(q);
        }
        for (k, q) in l {
            let e = lim.entry(k).or_default();
            *e = (*e).max(q);
        }
    }
    (req, lim)
}

/// What one object of (group, plural) counts against quotas.
pub fn usage(group: &str, plural: &str, obj: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert(object_count_name(group, plural), one());
    if !group.is_empty() {
        return out;
    }
    match plural {
        "pods" if !terminal(obj) => {
            let (req, lim) = pod_totals(obj);
            out.extend(compute_usage(&req, &lim));
        }
        "services" => out.extend(service_usage(obj)),
        "persistentvolumeclaims" => out.extend(claim_usage(obj)),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => {
            out.insert(plural.into(), one());
        }
        _ => {}
    }
    out
}

/// The service evaluator's `Usage` (`pkg/quota/v1/evaluator/core/services.go`): node ports
/// and load balancers are always named, zero for the types that take none; a LoadBalancer
/// with `allocateLoadBalancerNodePorts: false` counts only the ports that ask for one.
fn service_usage(svc: &Value) -> ResourceList {
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let all = Quantity::from_units(ports.len() as i128);
    let (node_ports, balancers) = match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => (all, Quantity::default()),
        Some("LoadBalancer") => {
            let suppressed =
                svc.pointer("/spec/allocateLoadBalancerNodePorts") == Some(&Value::Bool(false));
            let asked = ports
                .iter()
                .filter(|p| p.get("nodePort").and_then(Value::as_u64).unwrap_or(0) != 0)
                .count();
            let n = if suppressed {
                Quantity::from_units(asked as i128)
            } else {
                all
            };
            (n, one())
        }
        _ => (Quantity::default(), Quantity::default()),
    };
    ResourceList::from([
        ("services".into(), one()),
        ("services.nodeports".into(), node_ports),
        ("services.loadbalancers".into(), balancers),
    ])
}

/// The claim evaluator's `Usage` (`persistent_volume_claims.go`): the claim and its storage
/// request, also under its storage class (the beta annotation first, as
/// `GetPersistentVolumeClaimClass`), the request no less than `status.allocatedResources`.
fn claim_usage(pvc: &Value) -> ResourceList {
    let mut out = ResourceList::from([("persistentvolumeclaims".into(), one())]);
    let class = pvc
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .or_else(|| pvc.pointer("/spec/storageClassName"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    if let Some(c) = class {
        out.insert(
            format!("{c}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            one(),
        );
    }
    let requested = quantities(pvc.pointer("/spec/resources/requests"))
        .get("storage")
        .copied();
    let allocated = quantities(pvc.pointer("/status/allocatedResources"))
        .get("storage")
        .copied();
    let storage = match (requested, allocated) {
        (Some(r), Some(a)) => Some(r.max(a)),
        (r, _) => r,
    };
    if let Some(q) = storage {
        out.insert("requests.storage".into(), q);
        if let Some(c) = class {
            out.insert(format!("{c}{STORAGE_CLASS_SUFFIX}requests.storage"), q);
        }
    }
    out
}

/// What an update adds to an object's usage (`SubtractWithNonNegativeResult` then
/// `RemoveZeros`, as quota admission charges an UPDATE): only the growth, per resource.
pub fn growth(new: &ResourceList, old: &ResourceList) -> ResourceList {
    new.iter()
        .filter_map(|(k, q)| {
            let before = old.get(k).copied().unwrap_or_default();
            (*q > before).then(|| (k.clone(), *q - before))
        })
        .collect()
}

/// `Constraints` of the pod evaluator: every container must state the cpu and memory requests
/// and limits the quota limits. The missing names, sorted.
pub fn missing_for_pod(pod: &Value, hard: &ResourceList) -> Vec<String> {
    let required: BTreeSet<&str> = MUST_SPECIFY
        .iter()
        .copied()
        .filter(|r| hard.contains_key(*r))
        .collect();
    if required.is_empty() {
        return Vec::new();
    }
    let mut missing = BTreeSet::new();
    for list in ["containers", "initContainers"] {
        for (req, lim) in containers(pod, list) {
            let have = compute_usage(&req, &lim);
            for r in &required {
                if !have.contains_key(*r) {
                    missing.insert(r.to_string());
                }
            }
        }
    }
    missing.into_iter().collect()
}

/// A quantity as Kubernetes prints it: memory and storage in binary units when exact.
pub fn show(name: &str, q: &Quantity) -> String {
    if name.contains("memory") || name.contains("storage") {
        q.format_binary()
    } else {
        q.to_string()
    }
}

/// `prettyPrint`: `a=1,b=2`, sorted by name.
fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={}", show(k, v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A quota as admission reads it.
#[derive(Debug, Clone)]
pub struct Quota {
    /// Its name.
    pub name: String,
    /// `status.hard` (what the quota controller copied from the spec).
    pub hard: ResourceList,
    /// `status.used`.
    pub used: ResourceList,
    /// `spec.scopes` and `spec.scopeSelector.matchExpressions`, as (scope, operator, values).
    pub scopes: Vec<(String, String, Vec<String>)>,
}

impl Quota {
    /// From a ResourceQuota object.
    pub fn from_object(obj: &Value) -> Quota {
        let mut scopes: Vec<(String, String, Vec<String>)> = obj
            .pointer("/spec/scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| (s.to_string(), "Exists".to_string(), Vec::new()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(exprs) = obj
            .pointer("/spec/scopeSelector/matchExpressions")
            .and_then(Value::as_array)
        {
            for e in exprs {
                let text = |k: &str| {
                    e.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let values = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                scopes.push((text("scopeName"), text("operator"), values));
            }
        }
        Quota {
            name: crate::meta::name(obj).unwrap_or_default().to_string(),
            hard: quantities(obj.pointer("/status/hard")),
            used: quantities(obj.pointer("/status/used")),
            scopes,
        }
    }

    /// Whether the quota's scopes take in this object (`Matches` of the evaluators): a scoped
    /// quota only ever counts pods, by `BestEffort`/`NotBestEffort`,
    /// `Terminating`/`NotTerminating` and `PriorityClass`.
    pub fn matches(&self, plural: &str, obj: &Value) -> bool {
        if self.scopes.is_empty() {
            return true;
        }
        if plural != "pods" {
            return false;
        }
        self.scopes.iter().all(|(scope, op, values)| {
            let (holds, value) = match scope.as_str() {
                "BestEffort" => (best_effort(obj), None),
                "NotBestEffort" => (!best_effort(obj), None),
                "Terminating" => (obj.pointer("/spec/activeDeadlineSeconds").is_some(), None),
                "NotTerminating" => (obj.pointer("/spec/activeDeadlineSeconds").is_none(), None),
                "PriorityClass" => {
                    let pc = obj
                        .pointer("/spec/priorityClassName")
                        .and_then(Value::as_str);
                    (pc.is_some_and(|p| !p.is_empty()), pc)
                }
                _ => return false,
            };
            match op.as_str() {
                "Exists" => holds,
                "DoesNotExist" => !holds,
                "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
                _ => false,
            }
        })
    }
}

/// A pod whose containers state no requests or limits at all.
fn best_effort(pod: &Value) -> bool {
    ["containers", "initContainers"].iter().all(|list| {
        containers(pod, list)
            .iter()
            .all(|(r, l)| r.is_empty() && l.is_empty())
    })
}

/// Charge `requested` (an object's usage on create, its [`growth`] on update) to `quota` for
/// an object of (group, plural); the new `status.used`, None when the quota does not limit
/// anything the object adds, or the forbidden message.
pub fn charge(
    quota: &Quota,
    plural: &str,
    obj: &Value,
    requested: &ResourceList,
) -> Result<Option<ResourceList>, String> {
    if !quota.matches(plural, obj) {
        return Ok(None);
    }
    let interesting: Vec<&String> = requested
        .keys()
        .filter(|k| quota.hard.contains_key(*k))
        .collect();
    let constrains_pod =
        plural == "pods" && MUST_SPECIFY.iter().any(|r| quota.hard.contains_key(*r));
    if interesting.is_empty() && !constrains_pod {
        return Ok(None);
    }
    if plural == "pods" {
        let missing = missing_for_pod(obj, &quota.hard);
        if !missing.is_empty() {
            return Err(format!(
                "failed quota: {}: must specify {}",
                quota.name,
                missing.join(",")
            ));
        }
    }
    let unknown: Vec<&str> = interesting
        .iter()
        .filter(|k| !quota.used.contains_key(k.as_str()))
        .map(|k| k.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "status unknown for quota: {}, resources: {}",
            quota.name,
            unknown.join(",")
        ));
    }
    let mut new_used = quota.used.clone();
    let mut exceeded = Vec::new();
    // Zero amounts (a ClusterIP Service's node ports) ask for nothing (`RemoveZeros`).
    for k in interesting
        .iter()
        .filter(|k| !requested[k.as_str()].is_zero())
    {
        let q = requested[k.as_str()];
        let total = quota.used.get(k.as_str()).copied().unwrap_or_default() + q;
        if total > quota.hard[k.as_str()] {
            exceeded.push(k.to_string());
        }
        new_used.insert(k.to_string(), total);
    }
    if !exceeded.is_empty() {
        let mask = |l: &ResourceList| -> ResourceList {
            exceeded
                .iter()
                .map(|k| (k.clone(), l.get(k).copied().unwrap_or_default()))
                .collect()
        };
        return Err(format!(
            "exceeded quota: {}, requested: {}, used: {}, limited: {}",
            quota.name,
            pretty(&mask(requested)),
            pretty(&mask(&quota.used)),
            pretty(&mask(&quota.hard))
        ));
    }
    Ok((new_used != quota.used).then_some(new_used))
}

/// A ResourceList as JSON (`{"pods": "2", "requests.cpu": "500m"}`).
pub fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| (k.clone(), json!(show(k, v))))
            .collect(),
    )
}

/// A ResourceList from JSON.
pub fn from_json(v: Option<&Value>) -> ResourceList {
    quantities(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap()))
            .collect()
    }

    fn pod(resources: Value) -> Value {
        json!({"spec": {"containers": [{"name": "c", "resources": resources}]}})
    }

    #[test]
    fn pod_usage_counts_requests_and_limits() {
        let p = pod(
            json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}),
        );
        let u = usage("", "pods", &p);
        assert_eq!(u["pods"], Quantity::from_units(1));
        assert_eq!(u["count/pods"], Quantity::from_units(1));
        assert_eq!(u["requests.cpu"], Quantity::from_milli(100));
        assert_eq!(show("limits.memory", &u["limits.memory"]), "128Mi");
        assert!(!u.contains_key("limits.cpu"));
        let done = json!({"spec": p["spec"].clone(), "status": {"phase": "Succeeded"}});
        assert_eq!(usage("", "pods", &done).len(), 1);
        assert_eq!(
            usage("apps", "deployments", &json!({}))
                .keys()
                .collect::<Vec<_>>(),
            vec!["count/deployments.apps"]
        );
        assert_eq!(
            resource_of("count/deployments.apps"),
            Some(("apps".into(), "deployments".into()))
        );
        assert_eq!(
            resource_of("limits.memory"),
            Some(("".into(), "pods".into()))
        );
    }

    #[test]
    fn over_quota_is_refused_with_upstreams_message() {
        let q = Quota {
            name: "q".into(),
            hard: list(&[("pods", "2"), ("requests.cpu", "1")]),
            used: list(&[("pods", "2"), ("requests.cpu", "200m")]),
            scopes: Vec::new(),
        };
        let p = pod(json!({"requests": {"cpu": "100m"}}));
        let err = charge(&q, "pods", &p, &usage("", "pods", &p)).unwrap_err();
        assert_eq!(
            err,
            "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        );
        let roomy = Quota {
            used: list(&[("pods", "1"), ("requests.cpu", "200m")]),
            ..q.clone()
        };
        let used = charge(&roomy, "pods", &p, &usage("", "pods", &p))
            .unwrap()
            .unwrap();
        assert_eq!(to_json(&used), json!({"pods": "2", "requests.cpu": "300m"}));
    }

    #[test]
    fn compute_quotas_need_every_container_to_state_them() {
        let q = Quota {
            name: "compute".into(),
            hard: list(&[("limits.cpu", "2"), ("requests.memory", "1Gi")]),
            used: list(&[("limits.cpu", "0"), ("requests.memory", "0")]),
            scopes: Vec::new(),
        };
        let p = pod(json!({}));
        assert_eq!(
            charge(&q, "pods", &p, &usage("", "pods", &p)).unwrap_err(),
            "failed quota: compute: must specify limits.cpu,requests.memory"
        );
        let unknown = Quota {
            used: ResourceList::new(),
            ..q
        };
        let ok = pod(json!({"requests": {"memory": "1Mi"}, "limits": {"cpu": "1"}}));
        assert_eq!(
            charge(&unknown, "pods", &ok, &usage("", "pods", &ok)).unwrap_err(),
            "status unknown for quota: compute, resources: limits.cpu,requests.memory"
        );
        // A scoped quota takes in only the pods of its scope.
        let best_effort = Quota {
            name: "be".into(),
            hard: list(&[("pods", "0")]),
            used: list(&[("pods", "0")]),
            scopes: vec![("BestEffort".into(), "Exists".into(), vec![])],
        };
        assert!(charge(&best_effort, "pods", &p, &usage("", "pods", &p)).is_err());
        assert_eq!(
            charge(&best_effort, "pods", &ok, &usage("", "pods", &ok)),
            Ok(None)
        );
        // A quota on other things lets the pod through untouched.
        let cms = Quota {
            name: "cms".into(),
            hard: list(&[("configmaps", "1")]),
            used: list(&[("configmaps", "0")]),
            scopes: Vec::new(),
        };
        assert_eq!(charge(&cms, "pods", &p, &usage("", "pods", &p)), Ok(None));
    }

    #[test]
    fn updates_charge_only_their_growth() {
        let svc = |ty: &str, extra: Value| {
            let mut v = json!({"spec": {"type": ty, "ports": [{"port": 80}, {"port": 443, "nodePort": 30443}]}});
            if let (Some(spec), Value::Object(more)) = (v["spec"].as_object_mut(), extra) {
                spec.extend(more);
            }
            usage("", "services", &v)
        };
        let cluster_ip = svc("ClusterIP", json!({}));
        assert_eq!(cluster_ip["services.nodeports"], Quantity::default());
        let grown = growth(&svc("LoadBalancer", json!({})), &cluster_ip);
        assert_eq!(
            to_json(&grown),
            json!({"services.loadbalancers": "1", "services.nodeports": "2"})
        );
        // Node ports suppressed: only the one asked for counts.
        let lb = svc(
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": false}),
        );
        assert_eq!(lb["services.nodeports"], Quantity::from_units(1));
        assert!(growth(&cluster_ip, &svc("NodePort", json!({}))).is_empty());

        let pvc = |size: &str| {
            json!({"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "gold"}},
                   "spec": {"storageClassName": "silver", "resources": {"requests": {"storage": size}}}})
        };
        let u = usage("", "persistentvolumeclaims", &pvc("1Gi"));
        assert_eq!(show("requests.storage", &u["requests.storage"]), "1Gi");
        assert!(u.contains_key("gold.storageclass.storage.k8s.io/requests.storage"));
        assert!(u.contains_key("gold.storageclass.storage.k8s.io/persistentvolumeclaims"));
        assert_eq!(
            resource_of("gold.storageclass.storage.k8s.io/requests.storage"),
            Some(("".into(), "persistentvolumeclaims".into()))
        );
        let grown = growth(&usage("", "persistentvolumeclaims", &pvc("3Gi")), &u);
        assert_eq!(
            to_json(&grown),
            json!({"gold.storageclass.storage.k8s.io/requests.storage": "2Gi", "requests.storage": "2Gi"})
        );
        // A quota on the growth says what the update asks for.
        let q = Quota {
            name: "q".into(),
            hard: list(&[("requests.storage", "2Gi")]),
            used: list(&[("requests.storage", "1Gi")]),
            scopes: Vec::new(),
        };
        assert_eq!(
            charge(&q, "persistentvolumeclaims", &pvc("3Gi"), &grown).unwrap_err(),
            "exceeded quota: q, requested: requests.storage=2Gi, used: requests.storage=1Gi, limited: requests.storage=2Gi"
        );
    }
}
