//! A Service's Endpoints and EndpointSlice from the pods its selector picks, as
//! kube-controller-manager's endpoints controller (`pkg/controller/endpoint`) and
//! EndpointSlice controller (`pkg/controller/endpointslice`, `staging/src/k8s.io/endpointslice`)
//! build them: pods with an IP that are not finished, ready ones in `addresses` and the rest in
//! `notReadyAddresses`, ports resolved against the pod's named container ports; slices hold
//! the endpoints of one port list each, at most [`MAX_ENDPOINTS_PER_SLICE`] of them, and
//! Endpoints at most [`MAX_ENDPOINTS_CAPACITY`] addresses. The caller selects the pods (same
//! namespace, the Service's selector).

use serde_json::{Map, Value, json};

use crate::json::{array_at, at, fnv32a, is_terminating, name, namespace, str_at};
use crate::pods::{is_ready, is_terminal, node_name};

/// `endpointslice.kubernetes.io/managed-by` of the slices the controller owns.
pub const SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";
/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// kube-controller-manager's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The endpoints controller's `maxCapacity`: addresses past it are left out of Endpoints,
/// which are then annotated `endpoints.kubernetes.io/over-capacity: truncated`.
pub const MAX_ENDPOINTS_CAPACITY: usize = 1000;
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

fn pod_ip(pod: &Value) -> Option<&str> {
    str_at(pod, &["status", "podIP"]).filter(|s| !s.is_empty())
}

/// The pod's port for a Service port (`podutil.FindPort`): a number as is, a name looked up
/// in the containers' ports of the same protocol.
fn find_port(pod: &Value, svc_port: &Value) -> Option<i64> {
    let protocol = str_at(svc_port, &["protocol"]).unwrap_or("TCP");
    match at(svc_port, &["targetPort"]).or_else(|| at(svc_port, &["port"])) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => {
            if let Ok(n) = s.parse::<i64>() {
                return Some(n);
            }
            array_at(pod, &["spec", "containers"]).iter().find_map(|c| {
                array_at(c, &["ports"]).iter().find_map(|p| {
                    let same = str_at(p, &["name"]) == Some(s.as_str())
                        && str_at(p, &["protocol"]).unwrap_or("TCP") == protocol;
                    if same {
                        at(p, &["containerPort"]).and_then(Value::as_i64)
                    } else {
                        None
                    }
                })
            })
        }
        _ => None,
    }
}

/// The Service ports as an endpoint port list for this pod (ports the pod lacks left out).
fn ports_for(svc: &Value, pod: &Value, empty_name: bool) -> Vec<Value> {
    array_at(svc, &["spec", "ports"])
        .iter()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            let mut p = Map::new();
            match str_at(sp, &["name"]) {
                Some(n) if !n.is_empty() => {
                    p.insert("name".into(), json!(n));
                }
                _ if empty_name => {
                    p.insert("name".into(), json!(""));
                }
                _ => {}
            }
            p.insert("port".into(), json!(port));
            p.insert(
                "protocol".into(),
                json!(str_at(sp, &["protocol"]).unwrap_or("TCP")),
            );
            if let Some(ap) = str_at(sp, &["appProtocol"]) {
                p.insert("appProtocol".into(), json!(ap));
            }
            Some(Value::Object(p))
        })
        .collect()
}

fn target_ref(pod: &Value) -> Value {
    json!({"kind": "Pod", "namespace": namespace(pod), "name": name(pod),
           "uid": str_at(pod, &["metadata", "uid"]).unwrap_or_default()})
}

/// `ShouldPodBeInEndpoints` (terminating pods left out).
fn in_endpoints(pod: &Value) -> bool {
    pod_ip(pod).is_some() && !is_terminal(pod) && !is_terminating(pod)
}

fn publish_not_ready(svc: &Value) -> bool {
    at(svc, &["spec", "publishNotReadyAddresses"]).and_then(Value::as_bool) == Some(true)
}

/// Whether the controllers manage endpoints for this Service (it has a selector).
pub fn has_selector(svc: &Value) -> bool {
    at(svc, &["spec", "selector"])
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
        && str_at(svc, &["spec", "type"]) != Some("ExternalName")
}

fn service_labels(svc: &Value) -> Map<String, Value> {
    let mut labels = at(svc, &["metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if str_at(svc, &["spec", "clusterIP"]) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), json!(""));
    }
    labels
}

/// The Endpoints object of `svc` for the selected `pods`.
pub fn endpoints(svc: &Value, pods: &[&Value]) -> Value {
    // Subsets group addresses by the port list they resolve to, like upstream's repacking.
    let mut subsets: Vec<(Vec<Value>, Vec<Value>, Vec<Value>)> = Vec::new();
    let mut sorted: Vec<&&Value> = pods.iter().filter(|p| in_endpoints(p)).collect();
    sorted.sort_by_key(|p| pod_ip(p).unwrap_or_default().to_string());
    for pod in sorted {
        let ports = ports_for(svc, pod, false);
        if ports.is_empty() && !array_at(svc, &["spec", "ports"]).is_empty() {
            continue;
        }
        let mut addr = json!({"ip": pod_ip(pod), "targetRef": target_ref(pod)});
        if let Some(n) = node_name(pod) {
            addr["nodeName"] = json!(n);
        }
        let i = match subsets.iter().position(|s| s.2 == ports) {
            Some(i) => i,
            None => {
                subsets.push((Vec::new(), Vec::new(), ports));
                subsets.len() - 1
            }
        };
        if is_ready(pod) || publish_not_ready(svc) {
            subsets[i].0.push(addr);
        } else {
            subsets[i].1.push(addr);
        }
    }
    let truncated = truncate(&mut subsets);
    let subsets: Vec<Value> = subsets
        .into_iter()
        .map(|(ready, not_ready, ports)| {
            let mut s = Map::new();
            if !ready.is_empty() {
                s.insert("addresses".into(), Value::Array(ready));
            }
            if !not_ready.is_empty() {
                s.insert("notReadyAddresses".into(), Value::Array(not_ready));
            }
            if !ports.is_empty() {
                s.insert("ports".into(), Value::Array(ports));
            }
            Value::Object(s)
        })
        .collect();
    let mut ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name(svc), "namespace": namespace(svc), "labels": service_labels(svc)},
    });
    if !subsets.is_empty() {
        ep["subsets"] = Value::Array(subsets);
    }
    if truncated {
        ep["metadata"]["annotations"] = json!({OVER_CAPACITY: "truncated"});
    }
    ep
}

/// Subsets as (ready, not ready, ports).
type Subsets = Vec<(Vec<Value>, Vec<Value>, Vec<Value>)>;

/// `truncateEndpoints` (`pkg/controller/endpoint/endpoints_controller.go`): over
/// [`MAX_ENDPOINTS_CAPACITY`] addresses, keep the ready ones first, each subset its share in
/// proportion to its size; returns whether anything was left out.
fn truncate(subsets: &mut Subsets) -> bool {
    let total: usize = subsets.iter().map(|s| s.0.len() + s.1.len()).sum();
    if total <= MAX_ENDPOINTS_CAPACITY {
        return false;
    }
    let ready_total: usize = subsets.iter().map(|s| s.0.len()).sum();
    let keep_not_ready = ready_total < MAX_ENDPOINTS_CAPACITY;
    let (pool, budget) = if keep_not_ready {
        (total - ready_total, MAX_ENDPOINTS_CAPACITY - ready_total)
    } else {
        (ready_total, MAX_ENDPOINTS_CAPACITY)
    };
    let mut left = budget;
    let n = subsets.len();
    for (i, s) in subsets.iter_mut().enumerate() {
        if !keep_not_ready {
            s.1.clear();
        }
        let list = if keep_not_ready { &mut s.1 } else { &mut s.0 };
        let share = if i + 1 == n {
            left
        } else {
            (list.len() * budget).div_ceil(pool).min(left)
        };
        list.truncate(share);
        left -= list.len();
    }
    subsets.retain(|s| !s.0.is_empty() || !s.1.is_empty());
    true
}

/// The name of the Service's first slice: `<service>-<5 characters>` (upstream's generateName
/// suffix is random; this one derives from the Service's uid so re-planning finds the same).
pub fn slice_name(svc: &Value) -> String {
    nth_slice_name(svc, 0)
}

fn nth_slice_name(svc: &Value, n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let uid = str_at(svc, &["metadata", "uid"]).unwrap_or(name(svc));
    let mut h = if n == 0 {
        fnv32a(uid.as_bytes())
    } else {
        fnv32a(format!("{uid}/{n}").as_bytes())
    };
    let mut suffix = String::new();
    for _ in 0..5 {
        suffix.push(ALPHABET[(h % ALPHABET.len() as u32) as usize] as char);
        h /= ALPHABET.len() as u32;
    }
    format!("{}-{suffix}", name(svc))
}

/// The EndpointSlices (discovery.k8s.io/v1) of `svc` for the selected `pods`: every pod with
/// an IP, with its ready/serving/terminating conditions, grouped by the port list it resolves
/// to and cut at [`MAX_ENDPOINTS_PER_SLICE`], as the EndpointSlice reconciler groups by
/// endpoint meta and fills slices to `maxEndpointsPerSlice` (`staging/src/k8s.io/endpointslice/
/// reconciler.go`). A Service selecting nothing has one empty slice.
pub fn endpoint_slices(svc: &Value, pods: &[&Value]) -> Vec<Value> {
    let mut chosen: Vec<&&Value> = pods
        .iter()
        .filter(|p| pod_ip(p).is_some() && !is_terminal(p))
        .collect();
    chosen.sort_by_key(|p| pod_ip(p).unwrap_or_default().to_string());
    let mut groups: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
    for pod in chosen {
        let pp = ports_for(svc, pod, true);
        let terminating = is_terminating(pod);
        let ready = is_ready(pod) || publish_not_ready(svc);
        let mut e = json!({
            "addresses": [pod_ip(pod)],
            "conditions": {"ready": ready && !terminating, "serving": ready, "terminating": terminating},
            "targetRef": target_ref(pod),
        });
        if let Some(n) = node_name(pod) {
            e["nodeName"] = json!(n);
        }
        match groups.iter_mut().find(|g| g.0 == pp) {
            Some(g) => g.1.push(e),
            None => groups.push((pp, vec![e])),
        }
    }
    let mut labels = service_labels(svc);
    labels.insert(SERVICE_NAME_LABEL.into(), json!(name(svc)));
    labels.insert(
        "endpointslice.kubernetes.io/managed-by".into(),
        json!(SLICE_MANAGER),
    );
    let owner = json!({"apiVersion": "v1", "kind": "Service", "name": name(svc),
        "uid": str_at(svc, &["metadata", "uid"]).unwrap_or_default(),
        "controller": true, "blockOwnerDeletion": true});
    let slice = |n: usize, ports: Value, eps: Value| {
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": nth_slice_name(svc, n), "namespace": namespace(svc),
                         "labels": labels, "ownerReferences": [owner]},
            "addressType": "IPv4",
            "endpoints": eps,
            "ports": ports,
        })
    };
    if groups.is_empty() {
        return vec![slice(0, Value::Null, Value::Null)];
    }
    let mut out = Vec::new();
    for (ports, eps) in groups {
        for chunk in eps.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push(slice(
                out.len(),
                Value::Array(ports.clone()),
                Value::Array(chunk.to_vec()),
            ));
        }
    }
    out
}

/// Whether two generated objects say the same (ignoring server-set metadata).
pub fn same_content(stored: &Value, wanted: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("apiVersion");
            m.remove("kind");
            m.retain(|_, x| !x.is_null());
        }
        v
    };
    strip(stored) == strip(wanted)
        && at(stored, &["metadata", "labels"]) == at(wanted, &["metadata", "labels"])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}")},
               "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
               "status": {"phase": "Running", "podIP": ip,
                          "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    fn svc() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "uid": "s1"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}]}})
    }

    #[test]
    fn endpoints_split_ready_from_not_ready_and_resolve_named_ports() {
        let (a, b) = (pod("a", "10.244.0.2", true), pod("b", "10.244.0.3", false));
        let ep = endpoints(&svc(), &[&a, &b]);
        let s = &ep["subsets"][0];
        assert_eq!(s["addresses"][0]["ip"], "10.244.0.2");
        assert_eq!(s["addresses"][0]["targetRef"]["name"], "a");
        assert_eq!(s["notReadyAddresses"][0]["ip"], "10.244.0.3");
        assert_eq!(s["ports"], json!([{"port": 8080, "protocol": "TCP"}]));
        assert!(endpoints(&svc(), &[]).get("subsets").is_none());
    }

    #[test]
    fn the_slice_is_labelled_owned_and_carries_conditions() {
        let (a, b) = (pod("a", "10.244.0.2", true), pod("b", "10.244.0.3", false));
        let slices = endpoint_slices(&svc(), &[&a, &b]);
        assert_eq!(slices.len(), 1);
        let s = &slices[0];
        assert_eq!(s["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(
            s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            SLICE_MANAGER
        );
        assert_eq!(s["metadata"]["ownerReferences"][0]["uid"], "s1");
        assert_eq!(s["endpoints"][1]["conditions"]["ready"], false);
        assert_eq!(
            s["ports"],
            json!([{"name": "", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(slice_name(&svc()), slice_name(&svc()));
        assert!(slice_name(&svc()).starts_with("web-"));
        assert!(same_content(s, &endpoint_slices(&svc(), &[&b, &a])[0]));
        assert_eq!(s["metadata"]["name"], slice_name(&svc()));
    }

    #[test]
    fn slices_hold_at_most_100_endpoints_of_one_port_list() {
        let mut pods: Vec<Value> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.244.{}.{}", i / 200, i % 200),
                    true,
                )
            })
            .collect();
        // Three pods whose container names the port differently: a slice of their own.
        for p in pods.iter_mut().take(3) {
            p["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9090);
        }
        let refs: Vec<&Value> = pods.iter().collect();
        let slices = endpoint_slices(&svc(), &refs);
        let sizes: Vec<usize> = slices
            .iter()
            .map(|s| s["endpoints"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 250);
        assert!(
            sizes.iter().all(|n| *n <= MAX_ENDPOINTS_PER_SLICE),
            "{sizes:?}"
        );
        assert_eq!(sizes.len(), 4, "{sizes:?}");
        let names: std::collections::BTreeSet<&str> = slices
            .iter()
            .map(|s| s["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 4, "distinct names");
        let odd: Vec<&Value> = slices
            .iter()
            .filter(|s| s["ports"][0]["port"] == 9090)
            .collect();
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0]["endpoints"].as_array().unwrap().len(), 3);
        assert_eq!(endpoint_slices(&svc(), &[]).len(), 1, "an empty slice");
    }

    #[test]
    fn endpoints_past_capacity_keep_ready_addresses_and_say_truncated() {
        let pods: Vec<Value> = (0..1100)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.{}.{}.1", i / 250, i % 250),
                    i % 2 == 0,
                )
            })
            .collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let ep = endpoints(&svc(), &refs);
        let s = &ep["subsets"][0];
        assert_eq!(s["addresses"].as_array().unwrap().len(), 550);
        assert_eq!(s["notReadyAddresses"].as_array().unwrap().len(), 450);
        assert_eq!(ep["metadata"]["annotations"][OVER_CAPACITY], "truncated");
        assert!(
            endpoints(&svc(), &refs[..10])
                .pointer("/metadata/annotations")
                .is_none()
        );
    }
}
