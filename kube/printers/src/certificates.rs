//! `certificates.k8s.io` CertificateSigningRequest: Name, Age, SignerName, Requestor,
//! RequestedDuration, Condition (`printCertificateSigningRequest` of
//! `pkg/printers/internalversion/printers.go`).

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{age, age_column, arr_at, col, name, name_column, opt_int, str_at};

/// CertificateSigningRequest columns (described with the v1beta1 field docs, as upstream).
pub(crate) fn csr_columns() -> Vec<Column> {
    vec![
        name_column(),
        age_column(),
        col("SignerName", "string", d::CSR_SIGNER_NAME),
        col("Requestor", "string", d::CSR_REQUEST),
        col("RequestedDuration", "string", d::CSR_EXPIRATION_SECONDS),
        col("Condition", "string", d::CSR_CONDITIONS),
    ]
}

/// CertificateSigningRequest cells: `<none>` for an unset signer or duration.
pub(crate) fn csr_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let signer = match str_at(obj, &["spec", "signerName"]) {
        "" => "<none>",
        s => s,
    };
    let duration = opt_int(obj, &["spec", "expirationSeconds"]).map_or_else(
        || "<none>".to_owned(),
        |s| crate::human_duration(SignedDuration::from_secs(s)),
    );
    vec![
        name(obj),
        age(obj, now),
        Value::from(signer),
        Value::from(str_at(obj, &["spec", "username"])),
        Value::from(duration),
        Value::from(csr_status(obj)),
    ]
}

/// `extractCSRStatus`: Denied over Approved over Pending, then `,Failed` and `,Issued`.
fn csr_status(obj: &Value) -> String {
    let has = |t: &str| {
        arr_at(obj, &["status", "conditions"])
            .iter()
            .any(|c| c.get("type").and_then(Value::as_str) == Some(t))
    };
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_owned();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}
