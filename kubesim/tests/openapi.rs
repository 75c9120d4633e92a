//! The built-in kinds' OpenAPI schemas and field validation, seen through real clients:
//! `kubectl explain` (v3) with upstream's descriptions, `--validate=strict|warn` refusing or
//! warning about unknown and duplicate fields by path, unknown fields pruned from what is stored,
//! kubectl 1.27 (which reads the protobuf `/openapi/v2`) applying and explaining, and the
//! official Python client's `field_validation`.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::{Sim, stderr};

/// A Deployment whose spec has a typo (`replica`) and a container port with an unknown field.
const TYPO: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replica: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
          hostPortt: 8080
";

#[test]
fn kubectl_explains_built_ins_and_validates_fields() {
    let sim = Sim::start(&[]);

    let explained = sim.ok(&["explain", "deployment.spec.strategy"]);
    assert!(
        explained.starts_with("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n"),
        "{explained}"
    );
    assert!(
        explained.contains("FIELD: strategy <DeploymentStrategy>"),
        "{explained}"
    );
    assert!(
        explained
            .contains("The deployment strategy to use to replace existing pods with new ones."),
        "{explained}"
    );
    assert!(
        explained
            .lines()
            .any(|l| l == "  rollingUpdate\t<RollingUpdateDeployment>"),
        "{explained}"
    );
    let recursive = sim.ok(&["explain", "deployment.spec", "--recursive"]);
    for field in [
        "maxSurge\t<IntOrString>",
        "containerPort\t<integer> -required-",
        "matchLabels\t<map[string]string>",
    ] {
        assert!(
            recursive.contains(field),
            "{field} missing from:\n{recursive}"
        );
    }

    let file = sim.write_file("typo.yaml", TYPO);
    // kubectl validates strictly by default, on the server (the v3 document offers
    // fieldValidation); both unknown fields are named by path.
    for extra in [&[][..], &["--validate=strict"][..]] {
        let out = sim.kubectl(&[&["apply", "-f", &file][..], extra].concat());
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains(
                "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: \
                 unknown field \"spec.replica\", unknown field \"spec.template.spec.containers[0].ports[0].hostPortt\""
            ),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        sim.kubectl(&["get", "deployment", "web"]).status.code(),
        Some(1)
    );

    // Warn: created, kubectl shows the server's warnings, and the unknown fields are not stored.
    let out = sim.kubectl(&["apply", "-f", &file, "--validate=warn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: unknown field \"spec.replica\""),
        "{}",
        stderr(&out)
    );
    let stored: Value =
        serde_json::from_str(&sim.ok(&["get", "deployment", "web", "-o", "json"])).unwrap();
    assert!(stored["spec"].get("replica").is_none(), "{stored}");
    let port = &stored["spec"]["template"]["spec"]["containers"][0]["ports"][0];
    assert_eq!(port["containerPort"], 80);
    assert!(port.get("hostPortt").is_none(), "{port}");
    // Ignore: pruned silently, no warning.
    let ignored = sim.write_file(
        "ignored.yaml",
        &TYPO.replace("name: web\nspec", "name: quiet\nspec"),
    );
    let out = sim.kubectl(&["create", "-f", &ignored, "--validate=false"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("unknown field"), "{}", stderr(&out));
    let quiet: Value =
        serde_json::from_str(&sim.ok(&["get", "deployment", "quiet", "-o", "json"])).unwrap();
    assert!(quiet["spec"].get("replica").is_none(), "{quiet}");

    // Duplicate fields survive only in raw JSON; kubectl sends a file as is with --raw.
    let dup = sim.write_file("dup.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup", "name": "dup"}, "data": {"a": "1"}}"#,
    );
    let out = sim.kubectl(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        "-f",
        &dup,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("strict decoding error: duplicate field \"metadata.name\""),
        "{}",
        stderr(&out)
    );
    let out = sim.kubectl(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps",
        "-f",
        &dup,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: duplicate field \"metadata.name\""),
        "{}",
        stderr(&out)
    );
}

/// kubectl 1.27 itself, whatever the dispatcher would pick.
struct Kubectl127<'a>(&'a Sim);

impl Kubectl127<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.0.kubectl_exact("1.27", args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl 1.27 {args:?} failed: {}",
            stderr(&out)
        );
        support::stdout(&out)
    }
}

#[test]
fn kubectl_1_27_applies_and_explains_through_openapi_v2() {
    let sim = Sim::start(&["--kubernetes-version", "v1.27.16"]);
    let kubectl = Kubectl127(&sim);
    let version = kubectl.ok(&["version", "-o", "json"]);
    let client: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(client["clientVersion"]["minor"], "27", "{version}");

    let deployment = TYPO
        .replace("  replica: 2\n", "  replicas: 2\n")
        .replace("          hostPortt: 8080\n", "");
    let file = sim.write_file("web.yaml", &deployment);
    assert_eq!(
        kubectl.ok(&["apply", "-f", &file]),
        "deployment.apps/web created\n"
    );
    // A second apply computes a strategic merge patch from the v2 schema's patch strategies.
    let changed = sim.write_file(
        "web2.yaml",
        &deployment.replace("image: nginx", "image: nginx:1.27"),
    );
    assert_eq!(
        kubectl.ok(&["apply", "-f", &changed]),
        "deployment.apps/web configured\n"
    );
    let image = kubectl.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1.27");

    let typo = sim.write_file("typo.yaml", TYPO);
    let out = kubectl.run(&["apply", "-f", &typo]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown field \"spec.replica\""),
        "{}",
        stderr(&out)
    );

    let explained = kubectl.ok(&["explain", "deployment.spec.strategy"]);
    assert!(
        explained
            .contains("The deployment strategy to use to replace existing pods with new ones."),
        "{explained}"
    );

    // The protobuf `/openapi/v2` kubectl 1.27 parsed above also feeds its v2 explain.
    let v2_explained = kubectl.ok(&[
        "explain",
        "deployment.spec.strategy",
        "--output=plaintext-openapiv2",
    ]);
    assert!(
        v2_explained.contains("RESOURCE: strategy <Object>"),
        "{v2_explained}"
    );
    assert!(
        v2_explained
            .contains("DeploymentStrategy describes how to replace existing pods with new ones."),
        "{v2_explained}"
    );

    // The JSON form.
    let v2: Value = serde_json::from_str(&kubectl.ok(&["get", "--raw", "/openapi/v2"])).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    let d = &v2["definitions"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        d["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
    let containers = &v2["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
}

#[test]
fn python_client_field_validation() {
    support::ensure_python_client();
    let sim = Sim::start(&[]);
    let script = r#"
import json, sys
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException
config.load_kube_config(config_file=sys.argv[1])
api = client.ApiClient()
deployments = dynamic.DynamicClient(api).resources.get(api_version="apps/v1", kind="Deployment")
def deployment(name):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replica": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
try:
    deployments.create(body=deployment("strict"), namespace="default",
                       query_params=[("fieldValidation", "Strict")])
    print("strict: created")
except ApiException as e:
    print("strict:", e.status, json.loads(e.body)["message"])
request = api.param_serialize("POST", "/apis/apps/v1/namespaces/default/deployments",
                              query_params=[("fieldValidation", "Warn")],
                              header_params={"Content-Type": "application/json"},
                              body=deployment("warned"), auth_settings=["BearerToken"])
response = api.call_api(*request)
response.read()
print("warn:", response.status, response.getheader("Warning"))
stored = deployments.get(name="warned", namespace="default").to_dict()
print("stored replica:", "replica" in stored["spec"])
"#;
    let printed = support::python_ok(script, &[sim.kubeconfig.as_os_str()]);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            "strict: 400 Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replica\"",
            "warn: 201 299 - \"unknown field \\\"spec.replica\\\"\"",
            "stored replica: False",
        ]
    );
}

const GADGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
";

#[test]
fn custom_resources_validate_fields_as_upstream_and_publish_v2_schemas() {
    let sim = Sim::start(&[]);
    let crd = sim.write_file("crd.yaml", GADGET_CRD);
    sim.ok(&["apply", "-f", &crd]);
    support::eventually(
        "the Gadget kind to be served",
        std::time::Duration::from_secs(30),
        || {
            sim.kubectl(&["get", "gadgets"])
                .status
                .success()
                .then_some(())
        },
    );
    let cr = sim.write_file("gadget.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\nspec:\n  size: 1\n  colour: red\n",
    );
    let out = sim.kubectl(&["apply", "-f", &cr]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: unknown field \"spec.colour\""
        ),
        "{}",
        stderr(&out)
    );
    let out = sim.kubectl(&["apply", "-f", &cr, "--validate=warn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: unknown field \"spec.colour\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim.jsonpath(&["gadget", "g"], "{.spec}"), "{\"size\":1}");

    let v2: Value = serde_json::from_str(&sim.ok(&["get", "--raw", "/openapi/v2"])).unwrap();
    let gadget = &v2["definitions"]["com.example.v1.Gadget"];
    assert_eq!(
        gadget["x-kubernetes-group-version-kind"][0]["kind"], "Gadget",
        "{gadget}"
    );
    assert_eq!(
        gadget["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
}
