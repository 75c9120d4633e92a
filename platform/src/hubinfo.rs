//! How to reach the hub, as the hub publishes it for `cceonectl`: the ConfigMap
//! `cceone-hub-info` in [`SYSTEM_NAMESPACE`] with `publicEndpoint`, `privateEndpoint`
//! (`host:port`) and `caBundle` (PEM).
//!
//! Several hubs of one federation each apply those three keys (the last one to start wins:
//! any hub serves a kubeconfig), and each also keeps a key of its own, `publicEndpoint.<hub
//! id>` ([`set_hub_endpoint`], a merge patch of that one key), removed when it leaves or when
//! the other hubs see it dead. An agent's rendered configuration lists all of them
//! ([`HubInfo::agent_endpoints`]), so it reaches whichever hub is up.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::{PlatformError, SYSTEM_NAMESPACE, ensure_system_namespace};

/// The ConfigMap's name.
pub const CONFIGMAP_NAME: &str = "cceone-hub-info";
/// The field manager [`publish`] applies with.
pub const FIELD_MANAGER: &str = "cceone-hub";
/// The prefix of each hub's own key, `publicEndpoint.<hub id>`.
pub const HUB_ENDPOINT_PREFIX: &str = "publicEndpoint.";

/// How agents and users reach the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubInfo {
    /// `host:port` reachable from anywhere (the default agent variant).
    pub public_endpoint: String,
    /// `host:port` reachable over a private network, when the hub has one.
    pub private_endpoint: Option<String>,
    /// The hub CA certificate(s), PEM.
    pub ca_bundle: String,
    /// Every listed hub's public `host:port` (the `publicEndpoint.<hub id>` keys), in hub id
    /// order without repeats; empty when no hub listed itself (a single hub of an older
    /// version).
    pub hub_endpoints: Vec<String>,
}

impl HubInfo {
    /// Check the endpoints are `host:port` and the bundle looks like PEM.
    pub fn validate(&self) -> Result<(), PlatformError> {
        validate_endpoint(&self.public_endpoint)?;
        if let Some(p) = &self.private_endpoint {
            validate_endpoint(p)?;
        }
        if !self.ca_bundle.contains("-----BEGIN CERTIFICATE-----") {
            return Err(PlatformError::InvalidInput(
                "caBundle is not a PEM certificate".into(),
            ));
        }
        Ok(())
    }

    /// The agent's `CCEONE_HUB_ENDPOINT` for `cluster`: every listed hub, comma-separated, in
    /// an order of the cluster's own ([`agent_order`]); the public endpoint when no hub listed
    /// itself.
    pub fn agent_endpoints(&self, cluster: &str) -> String {
        if self.hub_endpoints.is_empty() {
            return self.public_endpoint.clone();
        }
        agent_order(&self.hub_endpoints, cluster).join(",")
    }

    /// The ConfigMap holding this info (pure).
    pub fn to_configmap(&self) -> Result<ConfigMap, PlatformError> {
        let mut data = json!({"publicEndpoint": self.public_endpoint, "caBundle": self.ca_bundle});
        if let Some(p) = &self.private_endpoint {
            data["privateEndpoint"] = json!(p);
        }
        Ok(serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP_NAME, "namespace": SYSTEM_NAMESPACE},
            "data": data,
        }))?)
    }

    /// Read the info back from its ConfigMap (pure).
    pub fn from_configmap(cm: &ConfigMap) -> Result<HubInfo, PlatformError> {
        let get = |k: &str| {
            cm.data
                .as_ref()
                .and_then(|d| d.get(k))
                .filter(|v| !v.trim().is_empty())
                .cloned()
        };
        let missing = |k: &str| PlatformError::InvalidObject {
            what: format!("ConfigMap {SYSTEM_NAMESPACE}/{CONFIGMAP_NAME}"),
            reason: format!("{k} is missing"),
        };
        let info = HubInfo {
            public_endpoint: get("publicEndpoint").ok_or_else(|| missing("publicEndpoint"))?,
            private_endpoint: get("privateEndpoint"),
            ca_bundle: get("caBundle").ok_or_else(|| missing("caBundle"))?,
            hub_endpoints: Vec::new(),
        };
        let mut hub_endpoints: Vec<String> = hub_endpoints(cm).into_values().collect();
        // In hub id order, each endpoint once (hubs behind one address list it alike).
        let mut seen = std::collections::HashSet::new();
        hub_endpoints.retain(|e| seen.insert(e.clone()));
        info.validate().map_err(|e| PlatformError::InvalidObject {
            what: format!("ConfigMap {SYSTEM_NAMESPACE}/{CONFIGMAP_NAME}"),
            reason: e.to_string(),
        })?;
        Ok(HubInfo {
            hub_endpoints,
            ..info
        })
    }
}

/// `endpoints` in an order chosen by `cluster`'s name: an agent dials the first of its list that
/// answers, and after losing a hub the one after it, so one order for every cluster would put
/// them all on the first hub, and a turned list would send all of a dead hub's clusters to the
/// same next one. A shuffle seeded by the name spreads both. Stable across builds and
/// platforms (FNV-1a and xorshift, not std's hasher).
pub fn agent_order<'a>(endpoints: &'a [String], cluster: &str) -> Vec<&'a str> {
    let mut state = cluster.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    // Fisher-Yates.
    for i in (1..out.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

/// Each hub's own entry of the ConfigMap: hub id → public endpoint, in id order; entries that
/// are not `host:port` are left out.
pub fn hub_endpoints(cm: &ConfigMap) -> std::collections::BTreeMap<String, String> {
    cm.data
        .iter()
        .flatten()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix(HUB_ENDPOINT_PREFIX)?;
            validate_endpoint(v).ok()?;
            Some((id.to_string(), v.clone()))
        })
        .collect()
}

/// Set hub `id`'s own entry to `endpoint`, or remove it (`None`): a merge patch of that one
/// key, leaving the other hubs' entries alone. The ConfigMap must exist ([`publish`] first).
pub async fn set_hub_endpoint(
    client: &kube::Client,
    id: &str,
    endpoint: Option<&str>,
) -> Result<(), PlatformError> {
    if let Some(e) = endpoint {
        validate_endpoint(e)?;
    }
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let patch = json!({"data": {format!("{HUB_ENDPOINT_PREFIX}{id}"): endpoint}});
    api.patch(
        CONFIGMAP_NAME,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| PlatformError::api("listing the hub's endpoint", e))?;
    Ok(())
}

/// Check `host:port`: a non-empty host (name, IPv4, or bracketed IPv6) and a port 1-65535.
pub fn validate_endpoint(endpoint: &str) -> Result<(), PlatformError> {
    let bad = || PlatformError::InvalidInput(format!("endpoint {endpoint:?} is not host:port"));
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Publish `info` (server-side apply as [`FIELD_MANAGER`]), creating the system namespace
/// when needed.
pub async fn publish(client: &kube::Client, info: &HubInfo) -> Result<(), PlatformError> {
    info.validate()?;
    ensure_system_namespace(client).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(CONFIGMAP_NAME, &params, &Patch::Apply(info.to_configmap()?))
        .await
        .map_err(|e| PlatformError::api("publishing hub info", e))?;
    Ok(())
}

/// Read the published hub info. [`PlatformError::NotFound`] means no hub has published yet.
pub async fn read(client: &kube::Client) -> Result<HubInfo, PlatformError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let cm = api
        .get_opt(CONFIGMAP_NAME)
        .await
        .map_err(|e| PlatformError::api("reading hub info", e))?
        .ok_or_else(|| {
            PlatformError::NotFound(format!(
                "ConfigMap {SYSTEM_NAMESPACE}/{CONFIGMAP_NAME} (the hub publishes it when it starts)"
            ))
        })?;
    HubInfo::from_configmap(&cm)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    #[test]
    fn endpoints() {
        for good in [
            "hub.example.com:9443",
            "10.0.0.1:9443",
            "[::1]:9443",
            "localhost:1",
        ] {
            assert!(validate_endpoint(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "hub",
            "hub:",
            ":9443",
            "hub:0",
            "hub:70000",
            "::1:9443",
            "a b:1",
            "h/x:1",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configmap_round_trip() {
        let info = HubInfo {
            public_endpoint: "hub.example.com:9443".into(),
            private_endpoint: Some("10.0.0.1:9443".into()),
            ca_bundle: PEM.into(),
            hub_endpoints: Vec::new(),
        };
        let cm = info.to_configmap().unwrap();
        assert_eq!(HubInfo::from_configmap(&cm).unwrap(), info);
        let public_only = HubInfo {
            private_endpoint: None,
            ..info
        };
        let cm = public_only.to_configmap().unwrap();
        assert!(!cm.data.as_ref().unwrap().contains_key("privateEndpoint"));
        assert_eq!(HubInfo::from_configmap(&cm).unwrap(), public_only);
        let mut broken = cm.clone();
        broken.data.as_mut().unwrap().remove("caBundle");
        assert!(HubInfo::from_configmap(&broken).is_err());
        let mut not_pem = cm;
        not_pem
            .data
            .as_mut()
            .unwrap()
            .insert("caBundle".into(), "hello".into());
        assert!(HubInfo::from_configmap(&not_pem).is_err());
    }

    #[test]
    fn every_listed_hub_turned_by_cluster() {
        let mut cm = HubInfo {
            public_endpoint: "c.example.com:9443".into(),
            private_endpoint: None,
            ca_bundle: PEM.into(),
            hub_endpoints: Vec::new(),
        }
        .to_configmap()
        .unwrap();
        // No hub listed itself: the public endpoint alone.
        let info = HubInfo::from_configmap(&cm).unwrap();
        assert_eq!(info.agent_endpoints("member1"), "c.example.com:9443");
        let data = cm.data.as_mut().unwrap();
        for (id, e) in [
            ("hub-c", "c.example.com:9443"),
            ("hub-a", "a.example.com:9443"),
            ("hub-b", "b.example.com:9443"),
            ("hub-d", "b.example.com:9443"),
            ("hub-x", "not an endpoint"),
        ] {
            data.insert(format!("{HUB_ENDPOINT_PREFIX}{id}"), e.into());
        }
        let info = HubInfo::from_configmap(&cm).unwrap();
        assert_eq!(
            info.hub_endpoints,
            [
                "a.example.com:9443",
                "b.example.com:9443",
                "c.example.com:9443"
            ]
        );
        // Each cluster gets all three; over many clusters every hub comes first about as often,
        // and the clusters of one first hub go to either of the others next.
        let mut order = std::collections::BTreeMap::new();
        for i in 0..600 {
            let list = info.agent_endpoints(&format!("member{i}"));
            let parts: Vec<&str> = list.split(',').collect();
            let distinct: std::collections::BTreeSet<&str> = parts.iter().copied().collect();
            assert_eq!(distinct.len(), 3, "{list}");
            *order
                .entry((parts[0].to_string(), parts[1].to_string()))
                .or_insert(0) += 1;
        }
        assert_eq!(order.len(), 6, "{order:?}");
        assert!(order.values().all(|n| *n > 50), "{order:?}");
        assert_eq!(
            info.agent_endpoints("member1"),
            info.agent_endpoints("member1")
        );
    }
}
