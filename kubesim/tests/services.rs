//! Services, endpoints, namespace defaults and admission with the real `kubectl` (v1.32)
//! against the real `cceone-kubesim`, as a user meets them on kube-apiserver 1.32: `kubectl
//! expose` gets a cluster IP and Endpoints/EndpointSlices that follow the ready pods, node
//! ports and requested cluster IPs are refused when taken (also after a restart), every
//! namespace has its `default` ServiceAccount and `kube-root-ca.crt`, a ResourceQuota stops a
//! Deployment's pods in upstream's words and a LimitRange fills container defaults in.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Sim, eventually, eventually_seen};

const WAIT: Duration = Duration::from_secs(30);

/// A PVC of `size` in namespace `ns`.
fn claim(name: &str, ns: &str, size: &str) -> String {
    format!(
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: {size}}}}}
"
    )
}

/// The sorted pod IPs of `app=web`'s ready pods.
fn ready_ips(sim: &Sim) -> Vec<String> {
    let out = sim.jsonpath(
        &["pods", "-l", "app=web"],
        r#"{range .items[*]}{.status.podIP} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
    );
    let mut ips: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_suffix(" True"))
        .filter(|ip| !ip.is_empty())
        .map(String::from)
        .collect();
    ips.sort();
    ips
}

fn sorted_words(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

/// Wait until the Service's Endpoints and EndpointSlice both list exactly `n` ready pod IPs,
/// the ones the pods have.
fn endpoints_follow(sim: &Sim, n: usize) {
    eventually(&format!("endpoints of {n} ready pods"), WAIT, || {
        let ips = ready_ips(sim);
        let eps = sim.jsonpath(&["endpoints", "web"], "{.subsets[*].addresses[*].ip}");
        // An empty slice has `endpoints: null`, as kube-apiserver answers it, and kubectl's
        // jsonpath cannot filter null; so read the slices as JSON and pick the ready ones here.
        let list = sim.get_json(&["endpointslices", "-l", "kubernetes.io/service-name=web"]);
        let mut slices: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == serde_json::Value::Bool(true))
            .filter_map(|e| e["addresses"][0].as_str().map(String::from))
            .collect();
        slices.sort();
        (ips.len() == n && sorted_words(&eps) == ips && slices == ips).then_some(())
    });
}

#[test]
fn expose_endpoints_and_allocation() {
    let mut sim = Sim::start(&[]);
    // The apiserver's own Service, and the namespace defaults of a new namespace.
    let kubernetes = eventually("the kubernetes Service and its endpoints", WAIT, || {
        let out = sim.kubectl(&["get", "endpoints", "kubernetes"]);
        out.status.success().then(|| {
            sim.jsonpath(
                &["svc", "kubernetes"],
                "{.spec.clusterIP} {.spec.ports[0].port}",
            )
        })
    });
    assert_eq!(kubernetes, "10.96.0.1 443");
    let ep = sim.jsonpath(&["endpoints", "kubernetes"], "{.subsets[0].ports[0].port}");
    assert_eq!(ep, sim.port.to_string());
    sim.ok(&["create", "namespace", "team"]);
    let defaults = eventually("namespace defaults", WAIT, || {
        let out = sim.ok(&["get", "sa,cm", "-n", "team", "-o", "name"]);
        (out.lines().count() == 2).then_some(out)
    });
    assert_eq!(
        defaults,
        "serviceaccount/default\nconfigmap/kube-root-ca.crt\n"
    );
    let ca = sim.jsonpath(
        &["cm", "kube-root-ca.crt", "-n", "team"],
        "{.data.ca\\.crt}",
    );
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    // kubectl expose: a cluster IP from 10.96.0.0/12 and endpoints that follow the pods.
    sim.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
        "--port=8080",
    ]);
    sim.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    let spec = sim.jsonpath(
        &["svc", "web"],
        "{.spec.clusterIP} {.spec.clusterIPs[0]} {.spec.ipFamilies[0]} {.spec.ipFamilyPolicy}",
    );
    let parts: Vec<&str> = spec.split(' ').collect();
    assert!(
        parts[0].starts_with("10.") && parts[0] == parts[1],
        "{spec}"
    );
    let octets: Vec<u8> = parts[0].split('.').map(|o| o.parse().unwrap()).collect();
    assert!(octets[1] >= 96 && octets[1] < 112, "{spec}");
    assert_eq!(&parts[2..], ["IPv4", "SingleStack"]);
    endpoints_follow(&sim, 2);
    let slice = sim.jsonpath(&["endpointslices", "-l", "kubernetes.io/service-name=web"], "{.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.items[0].ports[0].port} {.items[0].addressType}");
    assert_eq!(slice, "endpointslice-controller.k8s.io 8080 IPv4");
    let table = sim.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    );
    assert_eq!(rows[1][1..3], ["IPv4", "8080"]);
    sim.ok(&["scale", "deployment", "web", "--replicas=3"]);
    endpoints_follow(&sim, 3);
    sim.ok(&["scale", "deployment", "web", "--replicas=1"]);
    endpoints_follow(&sim, 1);

    // Requested values: honoured once, then refused in upstream's words.
    sim.ok(&[
        "create",
        "service",
        "nodeport",
        "np1",
        "--tcp=80:80",
        "--node-port=30080",
    ]);
    let err = sim.fails(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=80:80",
        "--node-port=30080",
    ]);
    assert!(err.contains("Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"), "{err}");
    sim.ok(&[
        "create",
        "service",
        "clusterip",
        "dns",
        "--tcp=53:53",
        "--clusterip=10.96.0.10",
    ]);
    let taken = "Service \"dns2\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated";
    let err = sim.fails(&[
        "create",
        "service",
        "clusterip",
        "dns2",
        "--tcp=53:53",
        "--clusterip=10.96.0.10",
    ]);
    assert!(err.contains(taken), "{err}");
    // Still taken after a restart (rebuilt from the stored Services); free once deleted.
    sim.restart();
    let err = sim.fails(&[
        "create",
        "service",
        "clusterip",
        "dns2",
        "--tcp=53:53",
        "--clusterip=10.96.0.10",
    ]);
    assert!(err.contains(taken), "{err}");
    sim.ok(&["delete", "service", "np1"]);
    sim.ok(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=80:80",
        "--node-port=30080",
    ]);
    let ports = sim.jsonpath(&["svc", "np2"], "{.spec.type} {.spec.ports[0].nodePort}");
    assert_eq!(ports, "NodePort 30080");
    // A headless Service gets no address.
    sim.ok(&[
        "create",
        "service",
        "clusterip",
        "headless",
        "--clusterip=None",
        "--tcp=80:80",
    ]);
    let ip = sim.jsonpath(&["svc", "headless"], "{.spec.clusterIP}");
    assert_eq!(ip, "None");
}

#[test]
fn quota_and_limit_range_admission() {
    // Also: a service CIDR of the user's choosing (kube-apiserver's flag).
    let sim = Sim::start(&["--service-cluster-ip-range", "10.100.0.0/24"]);
    let ip = eventually("the kubernetes Service", WAIT, || {
        let out = sim.kubectl(&[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(ip, "10.100.0.1");
    let err = sim.fails(&[
        "create",
        "service",
        "clusterip",
        "far",
        "--tcp=80:80",
        "--clusterip=10.96.0.10",
    ]);
    assert!(
        err.contains("failed to allocate IP 10.96.0.10: provided IP is not in the valid range. The range of valid IPs is 10.100.0.0/24"),
        "{err}"
    );
    sim.ok(&["create", "namespace", "q"]);
    sim.ok(&[
        "create",
        "quota",
        "small",
        "-n",
        "q",
        "--hard=pods=2,count/deployments.apps=1",
    ]);
    eventually("the quota's status", WAIT, || {
        let hard = sim.jsonpath(&["quota", "small", "-n", "q"], "{.status.hard.pods}");
        (hard == "2").then_some(())
    });
    sim.ok(&[
        "create",
        "deployment",
        "app",
        "-n",
        "q",
        "--image=nginx",
        "--replicas=3",
    ]);
    // Two pods run; the third is refused, and the quota counts what is there.
    eventually_seen("two pods under the quota", WAIT, || {
        let used = sim.jsonpath(
            &["quota", "small", "-n", "q"],
            "{.status.used.pods} {.status.used.count/deployments\\.apps}",
        );
        let pods = sim.ok(&["get", "pods", "-n", "q", "-o", "name"]);
        let pods: Vec<&str> = pods.lines().collect();
        if used == "2 1" && pods.len() == 2 {
            Ok(())
        } else {
            // The events say what the controllers tried (FailedCreate, SuccessfulCreate).
            let events = sim.jsonpath(
                &["events", "-n", "q"],
                "{range .items[*]}{.reason} x{.count}: {.message}{\"\\n\"}{end}",
            );
            Err(format!(
                "used (pods, deployments.apps) {used:?}, pods {pods:?}, events:\n{events}"
            ))
        }
    });
    let table = sim.ok(&["get", "quota", "-n", "q"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "AGE", "REQUEST", "LIMIT"]);
    assert_eq!(
        rows[1][2..],
        ["count/deployments.apps:", "1/1,", "pods:", "2/2"]
    );
    let ready = sim.jsonpath(
        &["deployment", "app", "-n", "q"],
        "{.spec.replicas} {.status.replicas}",
    );
    assert_eq!(ready, "3 2");
    // The refusal as the ReplicaSet controller reports it: a FailedCreate event and the
    // ReplicaFailure condition, carried to the Deployment (retried with backoff, not each pass).
    let failed = eventually("a FailedCreate event", WAIT, || {
        let m = sim.jsonpath(
            &[
                "events",
                "-n",
                "q",
                "--field-selector",
                "reason=FailedCreate",
            ],
            "{.items[0].type} {.items[0].involvedObject.kind} {.items[0].message}",
        );
        (!m.is_empty()).then_some(m)
    });
    assert!(
        failed.starts_with("Warning ReplicaSet Error creating: pods \"app-")
            && failed.ends_with(
                "is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2"
            ),
        "{failed}"
    );
    let cond = sim.jsonpath(
        &["rs", "-n", "q", "-l", "app=app"],
        "{.items[0].status.conditions[0].type} {.items[0].status.conditions[0].reason}",
    );
    assert_eq!(cond, "ReplicaFailure FailedCreate");
    let described = eventually("ReplicaFailure on the Deployment", WAIT, || {
        let d = sim.ok(&["describe", "deployment", "app", "-n", "q"]);
        d.contains("ReplicaFailure   True    FailedCreate")
            .then_some(d)
    });
    assert!(
        described.contains("Available        False   MinimumReplicasUnavailable"),
        "{described}"
    );
    // Scaled to what the quota allows, the failure is over at once (a spec change skips the
    // backoff).
    sim.ok(&["scale", "deployment", "app", "-n", "q", "--replicas=2"]);
    eventually("the ReplicaFailure condition gone", WAIT, || {
        let c = sim.jsonpath(
            &["deployment", "app", "-n", "q"],
            "{.status.conditions[*].type}",
        );
        (!c.contains("ReplicaFailure")).then_some(())
    });
    let err = sim.fails(&["run", "extra", "-n", "q", "--image=nginx"]);
    assert!(
        err.contains("pods \"extra\" is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2"),
        "{err}"
    );
    let err = sim.fails(&["create", "deployment", "other", "-n", "q", "--image=nginx"]);
    assert!(
        err.contains("exceeded quota: small, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"),
        "{err}"
    );

    // A compute quota wants every container to state what it limits.
    sim.ok(&["create", "namespace", "c"]);
    sim.ok(&[
        "create",
        "quota",
        "compute",
        "-n",
        "c",
        "--hard=limits.cpu=2,requests.memory=1Gi",
    ]);
    eventually("the compute quota's status", WAIT, || {
        let used = sim.jsonpath(
            &["quota", "compute", "-n", "c"],
            "{.status.used.limits\\.cpu}",
        );
        (used == "0").then_some(())
    });
    let err = sim.fails(&["run", "bare", "-n", "c", "--image=nginx"]);
    assert!(err.contains("pods \"bare\" is forbidden: failed quota: compute: must specify limits.cpu,requests.memory"), "{err}");

    // A LimitRange's defaults make the same pod admissible, and its max is enforced.
    sim.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: c}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m, memory: 128Mi}
    max: {cpu: \"1\"}
",
        ),
    );
    sim.ok(&["run", "bare", "-n", "c", "--image=nginx"]);
    let res = sim.jsonpath(
        &["pod", "bare", "-n", "c"],
        "{.spec.containers[0].resources}",
    );
    let res: serde_json::Value = serde_json::from_str(&res).unwrap();
    assert_eq!(
        res,
        serde_json::json!({"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
    );
    let note = sim.jsonpath(
        &["pod", "bare", "-n", "c"],
        "{.metadata.annotations.kubernetes\\.io/limit-ranger}",
    );
    assert_eq!(
        note,
        "LimitRanger plugin set: cpu, memory request for container bare; cpu, memory limit for container bare"
    );
    eventually("the compute quota's usage", WAIT, || {
        let used = sim.jsonpath(
            &["quota", "compute", "-n", "c"],
            "{.status.used.limits\\.cpu} {.status.used.requests\\.memory}",
        );
        (used == "500m 128Mi").then_some(())
    });
    let err = sim.fails(&[
            "run",
            "big",
            "-n",
            "c",
            "--image=nginx",
            "--overrides={\"spec\":{\"containers\":[{\"name\":\"big\",\"image\":\"nginx\",\"resources\":{\"limits\":{\"cpu\":\"2\"}}}]}}",
        ],
    );
    assert!(
        err.contains(
            "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
        ),
        "{err}"
    );

    // Pod items bound the pod's sums; PersistentVolumeClaim items a claim's storage request.
    sim.ok(&["create", "namespace", "l"]);
    sim.apply(
        "apiVersion: v1
kind: LimitRange
metadata: {name: bounds, namespace: l}
spec:
  limits:
  - {type: Pod, max: {memory: 1Gi}}
  - {type: PersistentVolumeClaim, min: {storage: 1Gi}, max: {storage: 5Gi}}
",
    );
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: pair, namespace: l}
spec:
  containers:
  - {name: a, image: nginx, resources: {limits: {memory: 768Mi}}}
  - {name: b, image: nginx, resources: {limits: {memory: 512Mi}}}
";
    let err = sim.fails_stdin(&["apply", "-f", "-"], Some(pod));
    assert!(
        err.contains(
            "pods \"pair\" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1280Mi"
        ),
        "{err}"
    );
    let claim = |size: &str| {
        format!(
            "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: l}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: {size}}}}}
"
        )
    };
    let err = sim.fails_stdin(&["apply", "-f", "-"], Some(&claim("10Gi")));
    assert!(
        err.contains("persistentvolumeclaims \"data\" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"),
        "{err}"
    );
    sim.apply(&claim("2Gi"));
}

/// The endpoint counts of `svc`'s slices, sorted.
#[test]
fn quota_charges_updates() {
    // What an update adds is charged as kube-apiserver's quota admission charges an UPDATE
    // (the growth only, CheckRequest): a Service turned NodePort or LoadBalancer, a claim
    // resized. What an update or delete gives back is recounted by the quota controller.
    let sim = Sim::start(&[]);
    sim.ok(&["create", "namespace", "u"]);
    sim.ok(&[
        "create",
        "quota",
        "u",
        "-n",
        "u",
        "--hard=services.nodeports=1,services.loadbalancers=0,requests.storage=2Gi",
    ]);
    let used = |sim: &Sim| {
        sim.jsonpath(
            &["quota", "u", "-n", "u"],
            "{.status.used.services\\.nodeports} {.status.used.services\\.loadbalancers} {.status.used.requests\\.storage}",
        )
    };
    eventually_seen("the quota's status", WAIT, || {
        let u = used(&sim);
        if u == "0 0 0" { Ok(()) } else { Err(u) }
    });
    sim.ok(&[
        "create",
        "service",
        "clusterip",
        "two",
        "-n",
        "u",
        "--tcp=80:80,443:443",
    ]);
    sim.ok(&[
        "create",
        "service",
        "clusterip",
        "one",
        "-n",
        "u",
        "--tcp=80:80",
    ]);
    let to = |ty: &str| format!("{{\"spec\":{{\"type\":\"{ty}\"}}}}");
    let err = sim.fails(&["patch", "svc", "two", "-n", "u", "-p", &to("NodePort")]);
    assert!(
        err.contains("services \"two\" is forbidden: exceeded quota: u, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"),
        "{err}"
    );
    sim.ok(&["patch", "svc", "one", "-n", "u", "-p", &to("NodePort")]);
    assert_eq!(used(&sim), "1 0 0");
    // A LoadBalancer adds a load balancer to the node port it already has.
    let err = sim.fails(&["patch", "svc", "one", "-n", "u", "-p", &to("LoadBalancer")]);
    assert!(
        err.contains("services \"one\" is forbidden: exceeded quota: u, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"),
        "{err}"
    );

    // A claim resized: the growth is charged.
    sim.apply(&claim("data", "u", "1Gi"));
    assert_eq!(used(&sim), "1 0 1Gi");
    let resize = |size: &str| {
        format!("{{\"spec\":{{\"resources\":{{\"requests\":{{\"storage\":\"{size}\"}}}}}}}}")
    };
    let err = sim.fails(&["patch", "pvc", "data", "-n", "u", "-p", &resize("3Gi")]);
    assert!(
        err.contains("persistentvolumeclaims \"data\" is forbidden: exceeded quota: u, requested: requests.storage=2Gi, used: requests.storage=1Gi, limited: requests.storage=2Gi"),
        "{err}"
    );
    sim.ok(&["patch", "pvc", "data", "-n", "u", "-p", &resize("2Gi")]);
    assert_eq!(used(&sim), "1 0 2Gi");

    // Given back: the node port when the Service turns ClusterIP again, the storage when the
    // claim goes; then the two-port Service fits no better, but a claim does.
    sim.ok(&["patch", "svc", "one", "-n", "u", "-p", &to("ClusterIP")]);
    sim.ok(&["delete", "pvc", "data", "-n", "u"]);
    eventually_seen("usage given back", WAIT, || {
        let u = used(&sim);
        if u == "0 0 0" { Ok(()) } else { Err(u) }
    });
    sim.apply(&claim("more", "u", "2Gi"));
    assert!(
        sim.fails(&["patch", "svc", "two", "-n", "u", "-p", &to("NodePort")])
            .contains("exceeded quota")
    );
}

fn slice_sizes(sim: &Sim, svc: &str) -> Vec<usize> {
    let label = format!("kubernetes.io/service-name={svc}");
    // Read as JSON: an empty slice's `endpoints` is null, which kubectl's jsonpath cannot walk.
    let list = sim.get_json(&["endpointslices", "-l", &label]);
    let mut sizes: Vec<usize> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["endpoints"].as_array().map_or(0, Vec::len))
        .collect();
    sizes.sort();
    sizes
}

#[test]
fn endpoint_slices_hold_at_most_100_endpoints() {
    let sim = Sim::start(&[]);
    sim.ok(&[
        "create",
        "deployment",
        "big",
        "--image=nginx",
        "--replicas=130",
    ]);
    sim.ok(&["expose", "deployment", "big", "--port=80"]);
    // maxEndpointsPerSlice (100): 130 pods make a full slice and one of 30.
    eventually("two slices for 130 pods", Duration::from_secs(60), || {
        (slice_sizes(&sim, "big") == [30, 100]).then_some(())
    });
    let eps = sim.jsonpath(&["endpoints", "big"], "{.subsets[*].addresses[*].ip}");
    assert_eq!(eps.split_whitespace().count(), 130);
    // Scaled down, the surplus slice goes.
    sim.ok(&["scale", "deployment", "big", "--replicas=40"]);
    eventually("one slice for 40 pods", WAIT, || {
        (slice_sizes(&sim, "big") == [40]).then_some(())
    });
}
