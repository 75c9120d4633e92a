//! Server-side printing: `Table` responses for `kubectl get`, built from each kind's printer.

use serde_json::{Value, json};

use crate::resource::ResourceInfo;

/// What a table row embeds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub(crate) fn parse(s: Option<&str>) -> Include {
        match s {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

fn row(res: &ResourceInfo, obj: &Value, include: Include, now: jiff::Timestamp) -> Value {
    let cells = res.printer.cells(obj, now);
    let mut r = json!({"cells": cells});
    match include {
        Include::None => {}
        Include::Object => r["object"] = obj.clone(),
        Include::Metadata => {
            r["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            })
        }
    }
    r
}

/// A `Table` of `objs`; `headers` false leaves out the column definitions (later watch events).
pub(crate) fn table(
    res: &ResourceInfo,
    objs: &[Value],
    include: Include,
    metadata: Value,
    headers: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    let columns: Vec<Value> = if headers {
        res.printer.columns().iter().map(|c| c.to_json()).collect()
    } else {
        vec![]
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": objs.iter().map(|o| row(res, o, include, now)).collect::<Vec<_>>(),
    })
}

/// Whether the `Accept` header asks for a table.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}
