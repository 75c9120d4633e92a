//! `networking.k8s.io` Ingress: Name, Class, Hosts, Address, Ports, Age.

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::core::load_balancer_string;
use crate::util::{age, age_column, arr_at, at, col, name, name_column, opt_str, str_at};

/// Ingress: Name, Class, Hosts, Address, Ports, Age.
pub(crate) fn ingress_columns() -> Vec<Column> {
    vec![
        name_column(),
        col(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        col(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        col(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        col("Ports", "string", "Ports of TLS configurations that open"),
        age_column(),
    ]
}

/// Ingress cells, as upstream `printIngress` with wide output (addresses are
/// not truncated).
pub(crate) fn ingress_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj),
        Value::from(opt_str(obj, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        Value::from(format_hosts(arr_at(obj, &["spec", "rules"]))),
        Value::from(load_balancer_string(at(obj, &["status", "loadBalancer"]))),
        Value::from(ports),
        age(obj, now),
    ]
}

/// Upstream `formatHosts`: up to three rule hosts, `*` when none is named,
/// then `+ N more...` counted over all rules.
fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_owned();
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", rules.len() - MAX);
    }
    ret
}
