//! Service cluster IP and node port allocation, as kube-apiserver's Service registry does it in
//! its create and update path (`pkg/registry/core/service/storage/alloc.go`, the bitmap
//! allocators of `pkg/registry/core/service/ipallocator` and `portallocator`): IPv4 single
//! stack from the service CIDR (10.96.0.0/12 unless configured), node ports from 30000-32767,
//! requested values honoured or refused with upstream's messages, released on delete.
//!
//! The allocations live in memory, rebuilt from the stored Services on first use (so a restart
//! finds them again). A holder that no longer exists, or no longer holds what the map says
//! (a write that failed after allocating), is found out when its value is asked for again.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::error::{ApiError, Cause};

/// kube-apiserver's `--service-cluster-ip-range` default in kubeadm and kind.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// kube-apiserver's `--service-node-port-range` default.
pub const NODE_PORTS: (u16, u16) = (30000, 32767);

/// An IPv4 CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    bits: u8,
}

impl Cidr {
    /// [`DEFAULT_SERVICE_CIDR`], 10.96.0.0/12.
    pub const DEFAULT: Cidr = Cidr {
        base: 0x0A60_0000,
        bits: 12,
    };

    /// Parse `a.b.c.d/n` (n from 8 to 30).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        if !(8..=30).contains(&bits) {
            return None;
        }
        let mask = u32::MAX << (32 - bits);
        Some(Cidr {
            base: u32::from(ip) & mask,
            bits,
        })
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.bits)
    }

    /// Whether `ip` is an allocatable address: inside, neither the network nor the broadcast
    /// address (upstream's range excludes both).
    fn allocatable(&self, ip: u32) -> bool {
        ip > self.base && ip < self.base + self.size() - 1
    }

    /// The first allocatable address, which the `kubernetes` Service takes.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.bits)
    }
}

/// `namespace/name` of the Service holding a value.
pub(crate) type Holder = String;

/// What is allocated, to whom.
#[derive(Debug)]
pub(crate) struct Allocations {
    pub(crate) cidr: Cidr,
    pub(crate) ips: HashMap<u32, Holder>,
    pub(crate) ports: HashMap<u16, Holder>,
    /// Where the next dynamic search starts (advanced by a cheap hash per allocation, so
    /// addresses look scattered like upstream's random picks but tests stay reproducible).
    cursor: u32,
}

/// Why a requested value could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Held by another Service (which may be gone: the caller checks).
    By(Holder),
    /// Outside the range.
    OutOfRange,
}

impl Allocations {
    pub(crate) fn new(cidr: Cidr) -> Self {
        Allocations {
            cidr,
            ips: HashMap::new(),
            ports: HashMap::new(),
            cursor: 0,
        }
    }

    /// Record what a stored Service holds (rebuilding after a restart).
    pub(crate) fn record(&mut self, svc: &Value) {
        let holder = holder_of(svc);
        for ip in cluster_ips(svc) {
            if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                self.ips.insert(u32::from(ip), holder.clone());
            }
        }
        for p in node_ports(svc) {
            self.ports.insert(p, holder.clone());
        }
    }

    /// Forget what `svc` held (only the values still recorded as its own).
    pub(crate) fn release(&mut self, svc: &Value) {
        let holder = holder_of(svc);
        for ip in cluster_ips(svc) {
            if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                let ip = u32::from(ip);
                if self.ips.get(&ip) == Some(&holder) {
                    self.ips.remove(&ip);
                }
            }
        }
        for p in node_ports(svc) {
            if self.ports.get(&p) == Some(&holder) {
                self.ports.remove(&p);
            }
        }
    }

    pub(crate) fn try_ip(&mut self, ip: u32, holder: &str, dry_run: bool) -> Result<(), Taken> {
        if !self.cidr.allocatable(ip) {
            return Err(Taken::OutOfRange);
        }
        match self.ips.get(&ip) {
            Some(h) if h != holder => Err(Taken::By(h.clone())),
            _ => {
                if !dry_run {
                    self.ips.insert(ip, holder.to_string());
                }
                Ok(())
            }
        }
    }

    pub(crate) fn try_port(&mut self, port: u16, holder: &str, dry_run: bool) -> Result<(), Taken> {
        if !(NODE_PORTS.0..=NODE_PORTS.1).contains(&port) {
            return Err(Taken::OutOfRange);
        }
        match self.ports.get(&port) {
            Some(h) if h != holder => Err(Taken::By(h.clone())),
            _ => {
                if !dry_run {
                    self.ports.insert(port, holder.to_string());
                }
                Ok(())
            }
        }
    }

    /// A free address, from the upper part of the range first: upstream keeps the lower
    /// band (size/16, between 16 and 256 addresses) for static requests
    /// (`ipallocator.calculateRangeOffset`, ServiceIPStaticSubrange).
    pub(crate) fn next_ip(&mut self, holder: &str, dry_run: bool) -> Option<Ipv4Addr> {
        let size = self.cidr.size();
        let offset = (size / 16).clamp(16, 256).min(size / 2);
        let upper = (self.cidr.base + offset + 1, self.cidr.base + size - 2);
        let lower = (self.cidr.base + 1, self.cidr.base + offset);
        self.cursor = self.cursor.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        for (lo, hi) in [upper, lower] {
            if hi < lo {
                continue;
            }
            let span = hi - lo + 1;
            let start = self.cursor % span;
            for i in 0..span {
                let ip = lo + (start + i) % span;
                if let Entry::Vacant(e) = self.ips.entry(ip) {
                    if !dry_run {
                        e.insert(holder.to_string());
                    }
                    return Some(Ipv4Addr::from(ip));
                }
            }
        }
        None
    }

    pub(crate) fn next_port(&mut self, holder: &str, dry_run: bool) -> Option<u16> {
        let span = u32::from(NODE_PORTS.1 - NODE_PORTS.0) + 1;
        self.cursor = self.cursor.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let start = self.cursor % span;
        for i in 0..span {
            let port = NODE_PORTS.0 + ((start + i) % span) as u16;
            if let Entry::Vacant(e) = self.ports.entry(port) {
                if !dry_run {
                    e.insert(holder.to_string());
                }
                return Some(port);
            }
        }
        None
    }
}

pub(crate) fn holder_of(svc: &Value) -> Holder {
    format!(
        "{}/{}",
        crate::meta::namespace(svc).unwrap_or_default(),
        crate::meta::name(svc).unwrap_or_default()
    )
}

fn spec_str<'a>(svc: &'a Value, field: &str) -> Option<&'a str> {
    svc.get("spec")?.get(field)?.as_str()
}

/// The Service's type (`ClusterIP` when unset).
pub(crate) fn service_type(svc: &Value) -> &str {
    spec_str(svc, "type").unwrap_or("ClusterIP")
}

/// The allocated cluster IPs (none for headless and ExternalName Services).
pub(crate) fn cluster_ips(svc: &Value) -> Vec<String> {
    if service_type(svc) == "ExternalName" {
        return Vec::new();
    }
    let mut ips: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if ips.is_empty()
        && let Some(ip) = spec_str(svc, "clusterIP").filter(|s| !s.is_empty())
    {
        ips.push(ip.to_string());
    }
    ips.retain(|ip| ip != "None");
    ips
}

/// Every node port the Service names (ports and the health check node port).
pub(crate) fn node_ports(svc: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("nodePort")?.as_u64())
                .filter_map(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
                .collect()
        })
        .unwrap_or_default();
    if let Some(hc) = svc
        .pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0)
    {
        out.push(hc);
    }
    out
}

fn needs_cluster_ip(svc: &Value) -> bool {
    service_type(svc) != "ExternalName"
}

fn needs_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc
            .pointer("/spec/allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// The defaults upstream fills in around allocation (`SetDefaults_Service` and the registry's
/// `initIPFamilyFields`): single-stack IPv4, the traffic policies, `clusterIPs` from
/// `clusterIP`.
pub(crate) fn default_fields(svc: &mut Value) {
    let ty = service_type(svc).to_string();
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if ty == "ExternalName" {
        return;
    }
    let ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    let ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    match (ip, ips_empty) {
        (Some(ip), true) => {
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        (None, false) => {
            if let Some(first) = spec.get("clusterIPs").and_then(|a| a.get(0)).cloned() {
                spec.insert("clusterIP".into(), first);
            }
        }
        _ => {}
    }
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));
    spec.entry("internalTrafficPolicy")
        .or_insert_with(|| json!("Cluster"));
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        spec.entry("externalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert_with(|| json!(true));
    }
}

/// Carry over what an update left out but the old object holds (`patchAllocatedValues`): the
/// cluster IPs, and node ports by port name, so a `kubectl replace` of a file without them
/// keeps them.
pub(crate) fn patch_allocated(old: &Value, new: &mut Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        for field in ["clusterIP", "clusterIPs"] {
            let missing = new
                .pointer(&format!("/spec/{field}"))
                .is_none_or(|v| v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty));
            if missing && let Some(v) = old.pointer(&format!("/spec/{field}")).cloned() {
                new["spec"][field] = v;
            }
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let used: Vec<u16> = node_ports(new);
        let by_name: HashMap<String, u64> = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                        Some((name.to_string(), p.get("nodePort")?.as_u64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ps) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ps {
                if p.get("nodePort").and_then(Value::as_u64).unwrap_or(0) != 0 {
                    continue;
                }
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                if let Some(n) = by_name.get(name)
                    && !used.iter().any(|u| u64::from(*u) == *n)
                {
                    p["nodePort"] = json!(n);
                }
            }
        }
    }
}

/// One value the Service asks for that its old version did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Want {
    /// A cluster IP (`None` for the next free one).
    Ip(Option<String>),
    /// A node port of `spec.ports[index]` (`None` for the next free one).
    Port(usize, Option<u16>),
}

/// What `new` needs allocated beyond what `old` holds.
pub(crate) fn wanted(old: Option<&Value>, new: &Value) -> Vec<Want> {
    let mut out = Vec::new();
    let old_ips = old.map(cluster_ips).unwrap_or_default();
    let headless = spec_str(new, "clusterIP") == Some("None");
    if needs_cluster_ip(new) && !headless {
        let ips = cluster_ips(new);
        match ips.first() {
            None => out.push(Want::Ip(None)),
            Some(ip) if !old_ips.contains(ip) => out.push(Want::Ip(Some(ip.clone()))),
            Some(_) => {}
        }
    }
    let old_ports = old.map(node_ports).unwrap_or_default();
    let allocate = needs_node_ports(new);
    if let Some(ps) = new.pointer("/spec/ports").and_then(Value::as_array) {
        for (i, p) in ps.iter().enumerate() {
            match p.get("nodePort").and_then(Value::as_u64).unwrap_or(0) {
                0 if allocate => out.push(Want::Port(i, None)),
                0 => {}
                n => {
                    let n = u16::try_from(n).unwrap_or(0);
                    if !old_ports.contains(&n) {
                        out.push(Want::Port(i, Some(n)));
                    }
                }
            }
        }
    }
    out
}

/// The 422 upstream answers for a requested cluster IP that cannot be had.
pub(crate) fn ip_error(svc: &Value, ip: &str, taken: &Taken, cidr: &Cidr) -> ApiError {
    let why = match taken {
        Taken::By(_) => "provided IP is already allocated".to_string(),
        Taken::OutOfRange => {
            format!("provided IP is not in the valid range. The range of valid IPs is {cidr}")
        }
    };
    let ips: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_else(|| vec![ip.to_string()]);
    let shown: Vec<String> = ips.iter().map(|s| format!("{s:?}")).collect();
    ApiError::invalid(
        "Service",
        crate::meta::name(svc).unwrap_or_default(),
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: []string{{{}}}: failed to allocate IP {ip}: {why}",
                shown.join(", ")
            ),
            field: "spec.clusterIPs".into(),
        }],
    )
}

/// The 422 upstream answers for a requested node port that cannot be had.
pub(crate) fn port_error(svc: &Value, index: usize, port: u16, taken: &Taken) -> ApiError {
    let why = match taken {
        Taken::By(_) => "provided port is already allocated".to_string(),
        Taken::OutOfRange => format!(
            "provided port is not in the valid range. The range of valid ports is {}-{}",
            NODE_PORTS.0, NODE_PORTS.1
        ),
    };
    ApiError::invalid(
        "Service",
        crate::meta::name(svc).unwrap_or_default(),
        vec![Cause::invalid(
            format!("spec.ports[{index}].nodePort"),
            &json!(port),
            &why,
        )],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn svc(ty: &str, ip: Option<&str>, ports: Value) -> Value {
        let mut s = json!({"metadata": {"name": "web", "namespace": "default"},
                           "spec": {"type": ty, "ports": ports}});
        if let Some(ip) = ip {
            s["spec"]["clusterIP"] = json!(ip);
        }
        s
    }

    #[test]
    fn dynamic_ips_avoid_the_static_band_and_never_repeat() {
        let cidr = Cidr::parse("10.96.0.0/12").unwrap();
        let mut a = Allocations::new(cidr);
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let ip = a.next_ip(&format!("ns/s{i}"), false).unwrap();
            assert!(
                u32::from(ip) > u32::from(Ipv4Addr::new(10, 96, 1, 0)),
                "{ip}"
            );
            assert!(seen.insert(ip));
        }
        assert_eq!(cidr.first(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(cidr.to_string(), "10.96.0.0/12");
        assert_eq!(Cidr::parse(DEFAULT_SERVICE_CIDR), Some(Cidr::DEFAULT));
    }

    #[test]
    fn requested_values_are_refused_when_held_or_out_of_range() {
        let mut a = Allocations::new(Cidr::parse("10.96.0.0/12").unwrap());
        let ip = u32::from(Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(a.try_ip(ip, "a/x", false), Ok(()));
        assert_eq!(a.try_ip(ip, "a/x", false), Ok(()));
        assert_eq!(a.try_ip(ip, "b/y", false), Err(Taken::By("a/x".into())));
        let outside = u32::from(Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(a.try_ip(outside, "b/y", false), Err(Taken::OutOfRange));
        assert_eq!(a.try_port(30080, "a/x", false), Ok(()));
        assert_eq!(a.try_port(30080, "b/y", true), Err(Taken::By("a/x".into())));
        assert_eq!(a.try_port(80, "b/y", false), Err(Taken::OutOfRange));
        // A dry run reserves nothing.
        assert_eq!(a.try_port(30081, "b/y", true), Ok(()));
        assert!(!a.ports.contains_key(&30081));
    }

    #[test]
    fn release_frees_only_what_the_service_still_holds() {
        let mut a = Allocations::new(Cidr::parse("10.96.0.0/12").unwrap());
        let s = svc(
            "NodePort",
            Some("10.96.0.10"),
            json!([{"port": 80, "nodePort": 30080}]),
        );
        a.record(&s);
        assert_eq!(a.ips.len(), 1);
        assert_eq!(a.ports.len(), 1);
        let mut other = s.clone();
        other["metadata"]["name"] = json!("other");
        a.release(&other);
        assert_eq!(a.ips.len(), 1);
        a.release(&s);
        assert!(a.ips.is_empty() && a.ports.is_empty());
    }

    #[test]
    fn wanted_and_patched_values() {
        let new = svc(
            "NodePort",
            None,
            json!([{"port": 80}, {"port": 81, "nodePort": 30001}]),
        );
        assert_eq!(
            wanted(None, &new),
            vec![
                Want::Ip(None),
                Want::Port(0, None),
                Want::Port(1, Some(30001))
            ]
        );
        let headless = svc("ClusterIP", Some("None"), json!([{"port": 80}]));
        assert!(wanted(None, &headless).is_empty());
        let old = svc(
            "NodePort",
            Some("10.96.5.5"),
            json!([{"name": "http", "port": 80, "nodePort": 30500}]),
        );
        let mut replaced = svc("NodePort", None, json!([{"name": "http", "port": 80}]));
        patch_allocated(&old, &mut replaced);
        assert_eq!(replaced["spec"]["clusterIP"], "10.96.5.5");
        assert_eq!(replaced["spec"]["ports"][0]["nodePort"], 30500);
        assert!(wanted(Some(&old), &replaced).is_empty());
    }

    #[test]
    fn errors_read_as_upstream() {
        let mut s = svc("ClusterIP", Some("10.96.0.10"), json!([]));
        default_fields(&mut s);
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        let cidr = Cidr::parse("10.96.0.0/12").unwrap();
        let e = ip_error(&s, "10.96.0.10", &Taken::By("x/y".into()), &cidr);
        assert_eq!(
            e.to_string(),
            "Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
        );
        let e = port_error(&s, 0, 30080, &Taken::By("x/y".into()));
        assert_eq!(
            e.to_string(),
            "Service \"web\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
    }
}
