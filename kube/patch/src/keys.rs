//! Where a list inside a built-in Kubernetes object is a map keyed by some of its items' fields.
//!
//! Kubernetes records this per Go field (`patchMergeKey` for strategic merge patch,
//! `x-kubernetes-list-map-keys` for server-side apply). We do not carry the whole OpenAPI schema,
//! so the table is keyed on the field path (field names from the object's root, list indices
//! left out), which is unambiguous for the kinds we serve.

/// The strategic-merge-patch merge key of the list at `path`, if that list is merged by key.
///
/// `path` holds field names from the object root, e.g. `["spec", "template", "spec",
/// "containers", "ports"]` for a Deployment's container ports.
pub fn merge_key(path: &[&str]) -> Option<&'static str> {
    list_map_keys(path).map(|keys| keys[0])
}

/// The server-side-apply list-map keys of the list at `path` (the first is the strategic merge
/// key). Fields missing from an item take their Kubernetes default (`protocol: TCP`).
pub fn list_map_keys(path: &[&str]) -> Option<&'static [&'static str]> {
    let (last, parent) = match path {
        [] => return None,
        [last] => (*last, None),
        [.., parent, last] => (*last, Some(*parent)),
    };
    let keys: &'static [&'static str] = match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "env"
        | "resourceClaims"
        | "schedulingGates" => &["name"],
        "secrets" if path == ["secrets"] => &["name"],
        "ports" => match parent {
            Some("containers" | "initContainers" | "ephemeralContainers") => {
                &["containerPort", "protocol"]
            }
            Some("spec") if path.len() == 2 => &["port", "protocol"],
            _ => return None,
        },
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "ownerReferences" if parent == Some("metadata") => &["uid"],
        "conditions" => &["type"],
        "addresses" if parent == Some("status") => &["type"],
        "podIPs" if parent == Some("status") => &["ip"],
        "webhooks" if path == ["webhooks"] => &["name"],
        "drivers" if path == ["spec", "drivers"] => &["name"],
        "matchConditions" => &["name"],
        _ => return None,
    };
    Some(keys)
}

/// Whether the primitive list at `path` is merged as a set by strategic merge patch (instead of
/// being replaced whole), like `metadata.finalizers`.
pub fn is_merged_primitive_list(path: &[&str]) -> bool {
    matches!(path, ["metadata", "finalizers"] | ["spec", "podCIDRs"])
}

/// The default of a list-map key field that an item may leave out.
pub fn key_default(field: &str) -> Option<serde_json::Value> {
    (field == "protocol").then(|| serde_json::Value::String("TCP".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ports_and_service_ports_differ() {
        let c = ["spec", "template", "spec", "containers", "ports"];
        assert_eq!(merge_key(&c), Some("containerPort"));
        assert_eq!(merge_key(&["spec", "ports"]), Some("port"));
        assert_eq!(
            merge_key(&["spec", "template", "spec", "containers", "env"]),
            Some("name")
        );
        assert_eq!(merge_key(&["spec", "tolerations"]), None);
        assert_eq!(merge_key(&["status", "podIPs"]), Some("ip"));
        assert_eq!(merge_key(&["webhooks", "matchConditions"]), Some("name"));
        assert_eq!(merge_key(&["spec", "drivers"]), Some("name"));
    }
}
