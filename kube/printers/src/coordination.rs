//! `coordination.k8s.io` Lease: Name, Holder, Age.

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{age, age_column, col, name, name_column, str_at};

/// Lease: Name, Holder, Age.
pub(crate) fn lease_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Holder", "string", d::LEASE_HOLDER),
        age_column(),
    ]
}

/// Lease cells; an unset holder prints as an empty string.
pub(crate) fn lease_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        Value::from(str_at(obj, &["spec", "holderIdentity"])),
        age(obj, now),
    ]
}
