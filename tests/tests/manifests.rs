//! The checked-in deployment manifests against the binaries they run: every flag
//! `manifests/federation.yaml` and `manifests/hub.yaml` pass is one the binary's `--help` lists,
//! and `manifests/federation.yaml` runs two replicas on etcd (client certificates from their
//! Secret), with probes on the API port, a Service, a PodDisruptionBudget and anti-affinity.
//! (`platform/tests/manifests.rs` checks the rest of `hub.yaml` and the agent's manifest.)
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;

fn docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(support::root().join("manifests").join(file)).unwrap();
    text.split("\n---\n")
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// The flags of the first container of the Deployment in `docs`: (name, value).
fn flags(docs: &[Value]) -> Vec<(String, String)> {
    find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            let (name, value) = a.split_once('=').unwrap_or((a, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn manifest_flags_are_the_binaries_flags() {
    for (file, bin) in [
        ("federation.yaml", "cceone-federation"),
        ("hub.yaml", "cceone-hub"),
    ] {
        let out = std::process::Command::new(support::bins().join(bin))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{bin} --help: {out:?}");
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        let known: Vec<&str> = help
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .collect();
        let flags = flags(&docs(file));
        assert!(!flags.is_empty(), "{file}: no args");
        for (name, _) in flags {
            assert!(
                known.contains(&name.as_str()),
                "{file} passes {name}, which {bin} --help does not list"
            );
        }
    }
}

#[test]
fn federation_manifest_runs_two_replicas_on_etcd() {
    let docs = docs("federation.yaml");
    let deploy = find(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pod = &deploy["spec"]["template"]["spec"];
    let labels = &deploy["spec"]["template"]["metadata"]["labels"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["serviceAccountName"],
        find(&docs, "ServiceAccount")["metadata"]["name"]
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let flags = flags(&docs);
    let flag = |n: &str| {
        flags
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {n}"))
    };
    assert!(flag("--etcd-servers").starts_with("https://"));
    assert_eq!(flag("--leader-elect"), "true");
    // The etcd client files and the data directory are on the pod's volumes.
    let mounts = |c: &Value| -> Vec<String> {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap().to_string())
            .collect()
    };
    let on_mount = |path: &str, mounts: &[String]| mounts.iter().any(|m| path.starts_with(m));
    for f in [
        "--etcd-cafile",
        "--etcd-certfile",
        "--etcd-keyfile",
        "--data-dir",
    ] {
        assert!(
            on_mount(&flag(f), &mounts(c)),
            "{f} {} not mounted",
            flag(f)
        );
    }
    // The shared PKI is copied from its Secret into the data directory before the server starts.
    let init = &pod["initContainers"][0];
    let script = init["command"][2].as_str().unwrap();
    assert!(
        script.contains(&format!("{}/pki", flag("--data-dir"))),
        "{script}"
    );
    assert!(on_mount(&flag("--data-dir"), &mounts(init)));
    // Probes on the API port, which the Service exposes.
    let port = flag("--listen")
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let api = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == port)
        .unwrap();
    for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path);
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS");
        assert_eq!(c[probe]["httpGet"]["port"], api["name"]);
    }
    let svc = find(&docs, "Service");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], api["name"]);
    // The Service, the budget and the anti-affinity all select the replicas.
    let anti = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    let pdb = find(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    for selector in [
        &svc["spec"]["selector"],
        &pdb["spec"]["selector"]["matchLabels"],
        &anti["labelSelector"]["matchLabels"],
    ] {
        for (k, v) in selector.as_object().unwrap() {
            assert_eq!(&labels[k], v, "{selector} selects the replicas");
        }
    }
}
