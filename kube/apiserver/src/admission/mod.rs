//! kube-apiserver's built-in admission that users meet daily, run in the write path after
//! defaulting and validation and before the store write: Service cluster IP and node port
//! allocation ([`services`]), LimitRange defaults and limits ([`limits`]) and ResourceQuota
//! ([`quota`]).
//!
//! The federation writes thousands of objects a second through the same path, so everything
//! here is keyed first on the kind, and the quota and limit checks on whether the object's
//! namespace has any ResourceQuota or LimitRange at all: a set of such namespaces, loaded once
//! from the store on first use and added to as they are created, answers that without a store
//! read. (A namespace whose last quota went stays in the set: its writes then read an empty
//! list, which is cheap and always right.)

pub mod limits;
pub mod quota;
pub mod services;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::core::{Core, ListOptions};
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resource::ResourceInfo;
use services::{Allocations, Cidr, Taken, Want};

/// How often a quota charge is retried after losing a race on the quota's status.
const QUOTA_RETRIES: usize = 10;

/// The state of the built-in admission plugins of one API server.
pub struct BuiltinAdmission {
    cidr: parking_lot::RwLock<Cidr>,
    services: tokio::sync::OnceCell<parking_lot::Mutex<Allocations>>,
    policed: tokio::sync::OnceCell<parking_lot::RwLock<HashSet<String>>>,
}

impl Default for BuiltinAdmission {
    fn default() -> Self {
        BuiltinAdmission {
            cidr: parking_lot::RwLock::new(Cidr::DEFAULT),
            services: tokio::sync::OnceCell::new(),
            policed: tokio::sync::OnceCell::new(),
        }
    }
}

impl BuiltinAdmission {
    /// Serve cluster IPs from `cidr` (`--service-cluster-ip-range`); takes effect only before
    /// the first Service is written.
    pub fn set_service_cidr(&self, cidr: Cidr) {
        *self.cidr.write() = cidr;
    }

    /// The service CIDR.
    pub fn service_cidr(&self) -> Cidr {
        *self.cidr.read()
    }

    /// The cluster IP of the `kubernetes` Service (the range's first address).
    pub fn apiserver_service_ip(&self) -> Ipv4Addr {
        self.service_cidr().first()
    }

    async fn allocations(&self, core: &Core) -> ApiResult<&parking_lot::Mutex<Allocations>> {
        self.services
            .get_or_try_init(|| async {
                let mut a = Allocations::new(self.service_cidr());
                for svc in list_all(core, "services", None).await? {
                    a.record(&svc);
                }
                Ok::<_, ApiError>(parking_lot::Mutex::new(a))
            })
            .await
    }

    async fn policed_namespaces(
        &self,
        core: &Core,
    ) -> ApiResult<&parking_lot::RwLock<HashSet<String>>> {
        self.policed
            .get_or_try_init(|| async {
                let mut set = HashSet::new();
                for plural in ["resourcequotas", "limitranges"] {
                    for obj in list_all(core, plural, None).await? {
                        if let Some(ns) = meta::namespace(&obj) {
                            set.insert(ns.to_string());
                        }
                    }
                }
                Ok::<_, ApiError>(parking_lot::RwLock::new(set))
            })
            .await
    }
}

async fn list_all(core: &Core, plural: &str, ns: Option<&str>) -> ApiResult<Vec<Value>> {
    let res = core.resource("", "v1", plural)?;
    let page = core.list(&res, ns, &ListOptions::default()).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect())
}

/// Admit a create (`old` None) or update of `obj`: may fill fields in, or refuse it.
pub(crate) async fn admit(
    core: &Arc<Core>,
    res: &ResourceInfo,
    old: Option<&Value>,
    obj: &mut Value,
    dry_run: bool,
) -> ApiResult<()> {
    let core_group = res.group.is_empty();
    if let Some(old) = old {
        // Quota first, as kube-apiserver's admission runs before the registry allocates: a
        // Service turned NodePort and refused by its quota takes no node ports.
        if res.namespaced {
            admit_update(core, res, old, obj, dry_run).await?;
        }
        if core_group && res.kind == "Service" {
            allocate_service(core, Some(old), obj, dry_run).await?;
        }
        return Ok(());
    }
    if core_group && res.kind == "Service" {
        allocate_service(core, None, obj, dry_run).await?;
    }
    if !res.namespaced {
        return Ok(());
    }
    let Some(ns) = meta::namespace(obj).map(String::from) else {
        return Ok(());
    };
    let policed = core.builtin_admission.policed_namespaces(core).await?;
    if core_group && matches!(res.kind.as_str(), "ResourceQuota" | "LimitRange") {
        if res.kind == "LimitRange" {
            limits::default_limit_range(obj);
        }
        policed.write().insert(ns.clone());
    }
    if !policed.read().contains(&ns) {
        return Ok(());
    }
    if core_group && res.kind == "Pod" {
        let ranges = list_all(core, "limitranges", Some(&ns)).await?;
        if !ranges.is_empty() {
            limits::apply_defaults(obj, &ranges);
            let errs = limits::violations(obj, &ranges);
            if !errs.is_empty() {
                return Err(forbidden(res, obj, &limits::aggregate(&errs)));
            }
        }
    }
    if core_group && res.kind == "PersistentVolumeClaim" {
        let ranges = list_all(core, "limitranges", Some(&ns)).await?;
        let errs = limits::claim_violations(obj, &ranges);
        if !errs.is_empty() {
            return Err(forbidden(res, obj, &limits::aggregate(&errs)));
        }
    }
    let requested = quota::usage(&res.group, &res.plural, obj);
    charge_quotas(core, res, &ns, obj, &requested, dry_run).await
}

/// An update: only a Service (its type may take node ports or a load balancer) or a claim (a
/// resize) can grow what it uses. Quota admission charges the growth (`CheckRequest` on
/// UPDATE; the pod evaluator handles no updates in 1.32, where resources are immutable), and
/// LimitRanger checks a claim's new request (`SupportsAttributes` skips only pod updates).
async fn admit_update(
    core: &Arc<Core>,
    res: &ResourceInfo,
    old: &Value,
    obj: &Value,
    dry_run: bool,
) -> ApiResult<()> {
    if !(res.group.is_empty() && matches!(res.kind.as_str(), "Service" | "PersistentVolumeClaim")) {
        return Ok(());
    }
    let Some(ns) = meta::namespace(obj) else {
        return Ok(());
    };
    let policed = core.builtin_admission.policed_namespaces(core).await?;
    if !policed.read().contains(ns) {
        return Ok(());
    }
    let claim = res.kind == "PersistentVolumeClaim";
    if claim && old.pointer("/spec/resources") != obj.pointer("/spec/resources") {
        let ranges = list_all(core, "limitranges", Some(ns)).await?;
        let errs = limits::claim_violations(obj, &ranges);
        if !errs.is_empty() {
            return Err(forbidden(res, obj, &limits::aggregate(&errs)));
        }
    }
    let growth = quota::growth(
        &quota::usage(&res.group, &res.plural, obj),
        &quota::usage(&res.group, &res.plural, old),
    );
    if growth.is_empty() {
        return Ok(());
    }
    charge_quotas(core, res, ns, obj, &growth, dry_run).await
}

fn forbidden(res: &ResourceInfo, obj: &Value, why: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "{} \"{}\" is forbidden: {why}",
        res.qualified(),
        meta::name(obj).unwrap_or_default()
    ))
}

/// Check `obj` against every quota of its namespace and record its usage in their status
/// (the quota admission controller's `CheckRequest` plus its status write).
async fn charge_quotas(
    core: &Arc<Core>,
    res: &ResourceInfo,
    ns: &str,
    obj: &Value,
    requested: &quota::ResourceList,
    dry_run: bool,
) -> ApiResult<()> {
    let quotas_res = core.resource("", "v1", "resourcequotas")?;
    'retry: for _ in 0..QUOTA_RETRIES {
        let mut writes = Vec::new();
        for q in list_all(core, "resourcequotas", Some(ns)).await? {
            let parsed = quota::Quota::from_object(&q);
            match quota::charge(&parsed, &res.plural, obj, requested) {
                Ok(None) => {}
                Ok(Some(used)) => writes.push((q, used)),
                Err(why) => return Err(forbidden(res, obj, &why)),
            }
        }
        if dry_run {
            return Ok(());
        }
        for (mut q, used) in writes {
            let Some(rv) = meta::resource_version(&q).and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let name = meta::name(&q).unwrap_or_default().to_string();
            q["status"]["used"] = quota::to_json(&used);
            meta::metadata_mut(&mut q).remove("resourceVersion");
            match core
                .store
                .update(&quotas_res.key(Some(ns), &name), q, Some(rv))
                .await
            {
                Ok(_) => {}
                Err(cceone_kube_store::StoreError::Conflict { .. }) => continue 'retry,
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(());
    }
    Err(forbidden(
        res,
        obj,
        "unable to update quota status: too many conflicting writes",
    ))
}

/// What a Service's allocation took in this call, given back if a later step fails.
#[derive(Default)]
struct Took {
    ips: Vec<u32>,
    ports: Vec<u16>,
}

async fn allocate_service(
    core: &Arc<Core>,
    old: Option<&Value>,
    obj: &mut Value,
    dry_run: bool,
) -> ApiResult<()> {
    // Immutability of the cluster IP is validation's (`validation/core.rs`); here only what
    // an update left out is carried over.
    if let Some(old) = old {
        services::patch_allocated(old, obj);
    }
    services::default_fields(obj);
    let wants = services::wanted(old, obj);
    if wants.is_empty() {
        release_dropped(core, old, obj, dry_run);
        return Ok(());
    }
    let alloc = core.builtin_admission.allocations(core).await?;
    let holder = services::holder_of(obj);
    let mut took = Took::default();
    let result = allocate_wants(core, alloc, &holder, wants, obj, dry_run, &mut took).await;
    if result.is_err() && !dry_run {
        let mut a = alloc.lock();
        for ip in took.ips {
            a.ips.remove(&ip);
        }
        for p in took.ports {
            a.ports.remove(&p);
        }
    }
    result?;
    release_dropped(core, old, obj, dry_run);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn allocate_wants(
    core: &Arc<Core>,
    alloc: &parking_lot::Mutex<Allocations>,
    holder: &str,
    wants: Vec<Want>,
    obj: &mut Value,
    dry_run: bool,
    took: &mut Took,
) -> ApiResult<()> {
    let cidr = alloc.lock().cidr;
    for w in wants {
        match w {
            Want::Ip(None) => {
                let ip = alloc.lock().next_ip(holder, dry_run).ok_or_else(|| {
                    ApiError::Internal("failed to allocate a serviceIP: range is full".into())
                })?;
                took.ips.push(u32::from(ip));
                obj["spec"]["clusterIP"] = json!(ip.to_string());
                obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
            }
            Want::Ip(Some(text)) => {
                let Ok(ip) = text.parse::<Ipv4Addr>() else {
                    return Err(services::ip_error(obj, &text, &Taken::OutOfRange, &cidr));
                };
                let ip = u32::from(ip);
                loop {
                    let tried = alloc.lock().try_ip(ip, holder, dry_run);
                    match tried {
                        Ok(()) => break,
                        Err(Taken::By(h)) => {
                            if holds(core, &h, |s| services::cluster_ips(s).contains(&text)).await {
                                return Err(services::ip_error(obj, &text, &Taken::By(h), &cidr));
                            }
                            let mut a = alloc.lock();
                            if a.ips.get(&ip) == Some(&h) {
                                a.ips.remove(&ip);
                            }
                        }
                        Err(t) => return Err(services::ip_error(obj, &text, &t, &cidr)),
                    }
                }
                took.ips.push(ip);
            }
            Want::Port(i, None) => {
                let port = alloc.lock().next_port(holder, dry_run).ok_or_else(|| {
                    ApiError::Internal("failed to allocate a nodePort: range is full".into())
                })?;
                took.ports.push(port);
                obj["spec"]["ports"][i]["nodePort"] = json!(port);
            }
            Want::Port(i, Some(port)) => {
                loop {
                    let tried = alloc.lock().try_port(port, holder, dry_run);
                    match tried {
                        Ok(()) => break,
                        Err(Taken::By(h)) => {
                            if holds(core, &h, |s| services::node_ports(s).contains(&port)).await {
                                return Err(services::port_error(obj, i, port, &Taken::By(h)));
                            }
                            let mut a = alloc.lock();
                            if a.ports.get(&port) == Some(&h) {
                                a.ports.remove(&port);
                            }
                        }
                        Err(t) => return Err(services::port_error(obj, i, port, &t)),
                    }
                }
                took.ports.push(port);
            }
        }
    }
    Ok(())
}

/// Whether the Service `holder` (namespace/name) exists and still holds a value.
async fn holds(core: &Core, holder: &str, check: impl Fn(&Value) -> bool) -> bool {
    let Some((ns, name)) = holder.split_once('/') else {
        return false;
    };
    let Ok(res) = core.resource("", "v1", "services") else {
        return false;
    };
    match core.get(&res, Some(ns), name).await {
        Ok(svc) => check(&svc),
        // A failed read must not hand a value out twice.
        Err(ApiError::NotFound { .. }) => false,
        Err(_) => true,
    }
}

/// Give back what an update dropped (a NodePort turned ClusterIP, a port removed).
fn release_dropped(core: &Core, old: Option<&Value>, new: &Value, dry_run: bool) {
    let (Some(old), false) = (old, dry_run) else {
        return;
    };
    let Some(alloc) = core.builtin_admission.services.get() else {
        return;
    };
    let mut gone = old.clone();
    let keep_ips = services::cluster_ips(new);
    let keep_ports = services::node_ports(new);
    if let Some(ps) = gone
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut)
    {
        for p in ps {
            let n = p.get("nodePort").and_then(Value::as_u64).unwrap_or(0);
            if keep_ports.iter().any(|k| u64::from(*k) == n) {
                p["nodePort"] = json!(0);
            }
        }
    }
    if keep_ips == services::cluster_ips(old) {
        gone["spec"]["clusterIPs"] = json!([]);
        gone["spec"]["clusterIP"] = json!("");
    }
    alloc.lock().release(&gone);
}

/// A Service was deleted: its cluster IPs and node ports are free again.
pub(crate) fn deleted(core: &Core, res: &ResourceInfo, obj: &Value) {
    if !(res.group.is_empty() && res.kind == "Service") {
        return;
    }
    if let Some(alloc) = core.builtin_admission.services.get() {
        alloc.lock().release(obj);
    }
}
