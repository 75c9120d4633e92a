//! PodDisruptionBudget, EndpointSlice and ResourceQuota, as
//! `pkg/printers/internalversion/printers.go` prints them (`printPodDisruptionBudget`,
//! `printEndpointSlice`, `printResourceQuota`).

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::util::{age, age_column, arr_at, at, col, int_at, name, name_column};

/// PodDisruptionBudget columns.
pub(crate) fn pdb_columns() -> Vec<Column> {
    vec![
        name_column(),
        col(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        col(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        col(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        age_column(),
    ]
}

/// An int-or-string as printed, `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Number(n)) => Value::from(n.to_string()),
        Some(Value::String(s)) => Value::from(s.clone()),
        _ => Value::from("N/A"),
    }
}

/// PodDisruptionBudget cells.
pub(crate) fn pdb_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        int_or_string(at(obj, &["spec", "minAvailable"])),
        int_or_string(at(obj, &["spec", "maxUnavailable"])),
        Value::from(int_at(obj, &["status", "disruptionsAllowed"])),
        age(obj, now),
    ]
}

/// EndpointSlice columns.
pub(crate) fn endpoint_slice_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("AddressType", "string", "The IP protocol for this slice."),
        col("Ports", "string", "Enumerated ports on this slice."),
        col("Endpoints", "string", "Enumerated endpoints on this slice."),
        age_column(),
    ]
}

/// `listWithMoreString`: up to three, then ` + N more...`; `<unset>` for none.
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    if items.is_empty() {
        return "<unset>".into();
    }
    let mut out = items
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > MAX {
        out.push_str(&format!(" + {} more...", items.len() - MAX));
    }
    out
}

/// EndpointSlice cells.
pub(crate) fn endpoint_slice_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let ports = arr_at(obj, &["ports"])
        .iter()
        .map(
            |p| match (p.get("port").and_then(Value::as_i64), p.get("name")) {
                (Some(n), _) => n.to_string(),
                (None, Some(Value::String(s))) => s.clone(),
                _ => "*".into(),
            },
        )
        .collect();
    let addresses = arr_at(obj, &["endpoints"])
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]))
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    vec![
        name(obj),
        Value::from(
            at(obj, &["addressType"])
                .and_then(Value::as_str)
                .unwrap_or(""),
        ),
        Value::from(list_with_more(ports)),
        Value::from(list_with_more(addresses)),
        age(obj, now),
    ]
}

/// ResourceQuota columns.
pub(crate) fn quota_columns() -> Vec<Column> {
    vec![
        name_column(),
        age_column(),
        col(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        col(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
    ]
}

/// ResourceQuota cells: `resource: used/hard` of each hard resource, `limits.*` apart.
pub(crate) fn quota_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let hard = at(obj, &["status", "hard"]).and_then(Value::as_object);
    let used = at(obj, &["status", "used"]);
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    let mut names: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    names.sort();
    for r in names {
        let h = hard
            .and_then(|h| h.get(r))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let u = used
            .and_then(|u| u.get(r))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let cell = format!("{r}: {u}/{h}");
        if r.split('.').next() == Some("limits") && r.contains('.') {
            limit.push(cell);
        } else {
            request.push(cell);
        }
    }
    vec![
        name(obj),
        age(obj, now),
        Value::from(request.join(", ")),
        Value::from(limit.join(", ")),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_read_as_kubectl_prints_them() {
        let now = Timestamp::UNIX_EPOCH;
        let pdb = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2},
                         "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            pdb_cells(&pdb, now)[1..4],
            [json!("2"), json!("N/A"), json!(1)]
        );
        let slice = json!({"metadata": {"name": "web-abcde"}, "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]},
                          {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
        assert_eq!(
            endpoint_slice_cells(&slice, now)[1..4],
            [
                json!("IPv4"),
                json!("8080"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")
            ]
        );
        let empty = json!({"metadata": {"name": "x"}, "addressType": "IPv4"});
        assert_eq!(endpoint_slice_cells(&empty, now)[2], json!("<unset>"));
        let q = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "2", "limits.cpu": "2", "requests.cpu": "1"},
            "used": {"pods": "1", "limits.cpu": "500m"}}});
        assert_eq!(
            quota_cells(&q, now)[2..4],
            [
                json!("pods: 1/2, requests.cpu: 0/1"),
                json!("limits.cpu: 500m/2")
            ]
        );
    }
}
