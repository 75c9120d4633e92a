//! The individual checks behind [`super::validate`]: resource selectors, placement, failover
//! and overriders, each appending [`Cause`]s under the field path it is given.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::Cause;
use crate::json::{arr, int, obj, present, s};

const OPERATORS: &[&str] = &["add", "remove", "replace"];

/// Selectors: required (for propagation policies), apiVersion and kind set, the namespace equal
/// to the policy's.
pub(super) fn resource_selectors(
    spec: &Value,
    namespace: &str,
    required: bool,
    c: &mut Vec<Cause>,
) {
    let selectors = arr(spec, "/resourceSelectors");
    if required && selectors.is_empty() {
        c.push(Cause::required(
            "spec.resourceSelectors",
            "at least one resource selector is required",
        ));
    }
    for (i, rs) in selectors.iter().enumerate() {
        let path = format!("spec.resourceSelectors[{i}]");
        for field in ["apiVersion", "kind"] {
            if s(rs, &format!("/{field}")).is_empty() {
                c.push(Cause::required(format!("{path}.{field}"), ""));
            }
        }
        let ns = s(rs, "/namespace");
        if !namespace.is_empty() && !ns.is_empty() && ns != namespace {
            c.push(Cause::invalid(
                format!("{path}.namespace"),
                &json!(ns),
                "namespace of resource selector must be the same as the namespace of the policy",
            ));
        }
    }
}

/// `ValidatePlacement` and the static weight rules of the schema.
pub(super) fn placement(p: &Value, path: &str, c: &mut Vec<Cause>) {
    if !p.is_object() {
        return;
    }
    let affinities = arr(p, "/clusterAffinities");
    if present(p, "/clusterAffinity") && present(p, "/clusterAffinities") {
        c.push(Cause::invalid(
            path,
            p,
            "clusterAffinities cannot co-exist with clusterAffinity",
        ));
    }
    let rs = p.get("replicaScheduling").unwrap_or(&Value::Null);
    let overflow_allowed = s(rs, "/replicaSchedulingType") == "Divided"
        && match s(rs, "/replicaDivisionPreference") {
            "Aggregated" => true,
            "Weighted" => !s(rs, "/weightPreference/dynamicWeight").is_empty(),
            _ => false,
        };
    if let Some(a) = p.get("clusterAffinity").filter(|v| !v.is_null()) {
        cluster_affinity(a, &format!("{path}.clusterAffinity"), c);
    }
    let mut names = BTreeSet::new();
    for (i, term) in affinities.iter().enumerate() {
        let tpath = format!("{path}.clusterAffinities[{i}]");
        if present(term, "/overflowAffinities") && !overflow_allowed {
            c.push(Cause::invalid(
                format!("{tpath}.overflowAffinities"),
                &term["overflowAffinities"],
                "overflowAffinities can only be used together with dynamic weight or aggregated scheduling",
            ));
        }
        let name = s(term, "/affinityName");
        for msg in qualified_name(name) {
            c.push(Cause::invalid(&tpath, &json!(name), &msg));
        }
        if !names.insert(name) {
            c.push(Cause::invalid(
                format!("{path}.clusterAffinities"),
                &p["clusterAffinities"],
                "each affinity term in a policy must have a unique name",
            ));
        }
        cluster_affinity(term, &tpath, c);
        overflow_affinities(term, &tpath, c);
    }
    spread_constraints(
        arr(p, "/spreadConstraints"),
        &format!("{path}.spreadConstraints"),
        c,
    );
    workload_affinity(p, &format!("{path}.workloadAffinity"), c);
    for (i, t) in arr(p, "/clusterTolerations").iter().enumerate() {
        let op = s(t, "/operator");
        if op == "Lt" || op == "Gt" {
            c.push(Cause::not_supported(
                format!("{path}.clusterTolerations[{i}].operator"),
                &json!(op),
                &["", "Exists", "Equal"],
            ));
        }
    }
    for (i, w) in arr(p, "/replicaScheduling/weightPreference/staticWeightList")
        .iter()
        .enumerate()
    {
        let wpath = format!("{path}.replicaScheduling.weightPreference.staticWeightList[{i}]");
        match w.get("targetCluster").filter(|v| !v.is_null()) {
            None => c.push(Cause::required(format!("{wpath}.targetCluster"), "")),
            Some(tc) => cluster_affinity(tc, &format!("{wpath}.targetCluster"), c),
        }
        match int(w, "/weight") {
            None => c.push(Cause::required(format!("{wpath}.weight"), "")),
            Some(n) if n < 1 => c.push(Cause::invalid(
                format!("{wpath}.weight"),
                &w["weight"],
                "must be greater than 0",
            )),
            Some(_) => {}
        }
    }
}

fn overflow_affinities(term: &Value, tpath: &str, c: &mut Vec<Cause>) {
    if !present(term, "/overflowAffinities") {
        return;
    }
    let empty = !present(term, "/labelSelector")
        && !present(term, "/fieldSelector")
        && arr(term, "/clusterNames").is_empty()
        && arr(term, "/exclude").is_empty();
    if empty {
        c.push(Cause::invalid(
            format!("{tpath}.overflowAffinities"),
            &term["overflowAffinities"],
            "overflowAffinities can only be used together with the inline ClusterAffinity",
        ));
    }
    let mut names = BTreeSet::from([s(term, "/affinityName")]);
    for (i, o) in arr(term, "/overflowAffinities").iter().enumerate() {
        let opath = format!("{tpath}.overflowAffinities[{i}]");
        let name = s(o, "/affinityName");
        for msg in qualified_name(name) {
            c.push(Cause::invalid(
                format!("{opath}.affinityName"),
                &json!(name),
                &msg,
            ));
        }
        if !names.insert(name) {
            c.push(Cause::invalid(
                format!("{opath}.affinityName"),
                &json!(name),
                "overflow affinity name must be unique and must not duplicate the primary group's affinityName",
            ));
        }
        cluster_affinity(o, &opath, c);
    }
}

/// `ValidateClusterAffinity`: the field selector's keys and operators.
pub(super) fn cluster_affinity(a: &Value, path: &str, c: &mut Vec<Cause>) {
    let Some(fs) = a.get("fieldSelector").filter(|v| !v.is_null()) else {
        return;
    };
    for e in arr(fs, "/matchExpressions") {
        let key = s(e, "/key");
        let op = s(e, "/operator");
        let msg = if !matches!(key, "provider" | "region" | "zone") {
            format!("unsupported key {key:?}, must be provider, region, or zone")
        } else if !matches!(op, "In" | "NotIn") {
            format!("unsupported operator {op:?}, must be In or NotIn")
        } else {
            continue;
        };
        c.push(Cause::invalid(format!("{path}.fieldSelector"), fs, &msg));
        return;
    }
}

/// `ValidateSpreadConstraint`.
fn spread_constraints(constraints: &[Value], path: &str, c: &mut Vec<Cause>) {
    let mut seen: Vec<(&str, bool)> = Vec::new();
    let whole = Value::Array(constraints.to_vec());
    for (i, sc) in constraints.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let field = s(sc, "/spreadByField");
        let min = int(sc, "/minGroups").unwrap_or(0);
        let max = int(sc, "/maxGroups").unwrap_or(0);
        if !field.is_empty() && !s(sc, "/spreadByLabel").is_empty() {
            c.push(Cause::invalid(
                &ipath,
                sc,
                "spreadByLabel should not co-exist with spreadByField",
            ));
        }
        if min < 0 {
            c.push(Cause::invalid(
                &ipath,
                sc,
                "minGroups lower than 0 is not allowed",
            ));
        }
        if max < 0 {
            c.push(Cause::invalid(
                &ipath,
                sc,
                "maxGroups lower than 0 is not allowed",
            ));
        }
        if max > 0 && max < min {
            c.push(Cause::invalid(
                &ipath,
                sc,
                "maxGroups lower than minGroups is not allowed",
            ));
        }
        if !field.is_empty() {
            match seen.iter_mut().find(|(f, _)| *f == field) {
                Some((_, reported)) if !*reported => {
                    *reported = true;
                    c.push(Cause::invalid(
                        path,
                        &whole,
                        &format!("multiple {field} spread constraints are not allowed"),
                    ));
                }
                Some(_) => {}
                None => seen.push((field, false)),
            }
        }
    }
    if !seen.is_empty() && !seen.iter().any(|(f, _)| *f == "cluster") {
        c.push(Cause::invalid(
            path,
            &whole,
            "the cluster spread constraint must be enabled in one of the constraints in case of SpreadByField is enabled",
        ));
    }
}

fn workload_affinity(p: &Value, path: &str, c: &mut Vec<Cause>) {
    let aff = s(p, "/workloadAffinity/affinity/groupByLabelKey");
    let anti = s(p, "/workloadAffinity/antiAffinity/groupByLabelKey");
    for (sub, key, ptr) in [
        ("affinity", aff, "/workloadAffinity/affinity"),
        ("antiAffinity", anti, "/workloadAffinity/antiAffinity"),
    ] {
        if present(p, ptr) {
            for msg in qualified_name(key) {
                c.push(Cause::invalid(
                    format!("{path}.{sub}.groupByLabelKey"),
                    &json!(key),
                    &msg,
                ));
            }
        }
    }
    if present(p, "/workloadAffinity/affinity")
        && present(p, "/workloadAffinity/antiAffinity")
        && aff == anti
    {
        c.push(Cause::invalid(
            path,
            &p["workloadAffinity"],
            "affinity and antiAffinity must not use the same groupByLabelKey",
        ));
    }
}

/// `ValidateFailover` and `ValidateApplicationFailover`.
pub(super) fn failover(spec: &Value, c: &mut Vec<Cause>) {
    let base = "spec.failover.application";
    if let Some(app) = spec
        .pointer("/failover/application")
        .filter(|v| v.is_object())
    {
        if let Some(t) = int(app, "/decisionConditions/tolerationSeconds")
            && t < 0
        {
            c.push(Cause::invalid(
                format!("{base}.decisionConditions.tolerationSeconds"),
                &json!(t),
                "must be greater than or equal to 0",
            ));
        }
        let graceful = s(app, "/purgeMode") == "Gracefully";
        let grace = app.get("gracePeriodSeconds").filter(|v| !v.is_null());
        let gpath = format!("{base}.gracePeriodSeconds");
        match (graceful, grace) {
            (false, Some(g)) => c.push(Cause::invalid(
                &gpath,
                g,
                "only takes effect when purgeMode is gracefully",
            )),
            (true, None) => c.push(Cause::invalid(
                &gpath,
                &Value::Null,
                "should not be empty when purgeMode is gracefully",
            )),
            _ => {}
        }
        if let Some(g) = grace.and_then(Value::as_i64)
            && g <= 0
        {
            c.push(Cause::invalid(&gpath, &json!(g), "must be greater than 0"));
        }
        state_preservation(app, &format!("{base}.statePreservation"), c);
    }
    if let Some(cl) = spec.pointer("/failover/cluster").filter(|v| v.is_object()) {
        state_preservation(cl, "spec.failover.cluster.statePreservation", c);
    }
}

fn state_preservation(behavior: &Value, path: &str, c: &mut Vec<Cause>) {
    for (i, rule) in arr(behavior, "/statePreservation/rules").iter().enumerate() {
        let name = s(rule, "/aliasLabelName");
        for msg in qualified_name(name) {
            c.push(Cause::invalid(
                format!("{path}.rules[{i}].aliasLabelName"),
                &json!(name),
                &msg,
            ));
        }
    }
}

/// Whether an `overriders` object holds any overrider (`emptyOverrides` negated).
pub(super) fn has_overriders(o: &Value) -> bool {
    [
        "plaintext",
        "imageOverrider",
        "commandOverrider",
        "argsOverrider",
        "labelsOverrider",
        "annotationsOverrider",
    ]
    .iter()
    .any(|k| !arr(o, &format!("/{k}")).is_empty())
}

/// One rule's overriders: operators, components, paths, label and annotation values.
pub(super) fn overriders(o: &Value, path: &str, c: &mut Vec<Cause>) {
    for (i, p) in arr(o, "/plaintext").iter().enumerate() {
        let ppath = format!("{path}.plaintext[{i}]");
        operator(p, &format!("{ppath}.operator"), OPERATORS, c);
        if !present(p, "/path") {
            c.push(Cause::required(format!("{ppath}.path"), ""));
        }
    }
    for (i, im) in arr(o, "/imageOverrider").iter().enumerate() {
        let ipath = format!("{path}.imageOverrider[{i}]");
        let component = s(im, "/component");
        if !matches!(component, "Registry" | "Repository" | "Tag") {
            c.push(Cause::not_supported(
                format!("{ipath}.component"),
                &json!(component),
                &["Registry", "Repository", "Tag"],
            ));
        }
        operator(im, &format!("{ipath}.operator"), OPERATORS, c);
        if let Some(pred) = im.get("predicate").filter(|v| !v.is_null()) {
            let p = s(pred, "/path");
            if !p.is_empty() && !p.starts_with('/') {
                c.push(Cause::invalid(
                    format!("{ipath}.predicate.path"),
                    &json!(p),
                    "JSON pointer must be empty or start with a \"/\"",
                ));
            }
        }
    }
    for key in ["commandOverrider", "argsOverrider"] {
        for (i, co) in arr(o, &format!("/{key}")).iter().enumerate() {
            let cpath = format!("{path}.{key}[{i}]");
            if s(co, "/containerName").is_empty() {
                c.push(Cause::required(format!("{cpath}.containerName"), ""));
            }
            operator(co, &format!("{cpath}.operator"), &["add", "remove"], c);
        }
    }
    for (key, labels) in [("labelsOverrider", true), ("annotationsOverrider", false)] {
        for (i, lo) in arr(o, &format!("/{key}")).iter().enumerate() {
            let lpath = format!("{path}.{key}[{i}]");
            operator(lo, &format!("{lpath}.operator"), OPERATORS, c);
            let vpath = format!("{lpath}.value");
            match obj(lo, "/value") {
                None => c.push(Cause::required(&vpath, "")),
                Some(map) if labels => {
                    for (k, v) in map {
                        for msg in qualified_name(k) {
                            c.push(Cause::invalid(&vpath, &json!(k), &msg));
                        }
                        let v = v.as_str().unwrap_or("");
                        for msg in label_value(v) {
                            c.push(Cause::invalid(format!("{vpath}[{k}]"), &json!(v), &msg));
                        }
                    }
                }
                Some(map) => {
                    let mut total = 0usize;
                    for (k, v) in map {
                        for msg in qualified_name(&k.to_lowercase()) {
                            c.push(Cause::invalid(&vpath, &json!(k), &msg));
                        }
                        total += k.len() + v.as_str().map_or(0, str::len);
                    }
                    if total > 256 * 1024 {
                        c.push(Cause::invalid(
                            &vpath,
                            &json!(""),
                            "must have at most 262144 bytes",
                        ));
                    }
                }
            }
        }
    }
    field_overriders(o, path, c);
}

fn field_overriders(o: &Value, path: &str, c: &mut Vec<Cause>) {
    for (i, f) in arr(o, "/fieldOverrider").iter().enumerate() {
        let fpath = format!("{path}.fieldOverrider[{i}]");
        let (yaml, json_ops) = (arr(f, "/yaml"), arr(f, "/json"));
        if !yaml.is_empty() && !json_ops.is_empty() {
            c.push(Cause::invalid(
                &fpath,
                f,
                "FieldOverrider has both YAML and JSON set. Only one is allowed",
            ));
        }
        if yaml.is_empty() && json_ops.is_empty() {
            c.push(Cause::required(
                &fpath,
                "FieldOverrider must have either JSON or YAML set",
            ));
        }
        let fp = s(f, "/fieldPath");
        if !fp.is_empty() && !fp.starts_with('/') {
            c.push(Cause::invalid(
                format!("{fpath}.fieldPath"),
                &json!(fp),
                "JSON pointer must be empty or start with a \"/\"",
            ));
        }
        for (key, ops) in [("json", json_ops), ("yaml", yaml)] {
            for (j, op) in ops.iter().enumerate() {
                let opath = format!("{fpath}.{key}[{j}]");
                let sub = s(op, "/subPath");
                if !sub.is_empty() && !sub.starts_with('/') {
                    c.push(Cause::invalid(
                        format!("{opath}.subPath"),
                        &json!(sub),
                        "JSON pointer must be empty or start with a \"/\"",
                    ));
                }
                operator(op, &format!("{opath}.operator"), OPERATORS, c);
                let has_value = present(op, "/value");
                match s(op, "/operator") {
                    "add" | "replace" if !has_value => c.push(Cause::invalid(
                        format!("{opath}.value"),
                        &Value::Null,
                        "value is required for add or replace operation",
                    )),
                    "remove" if has_value => c.push(Cause::invalid(
                        format!("{opath}.value"),
                        &op["value"],
                        "value is not allowed for remove operation",
                    )),
                    _ => {}
                }
            }
        }
    }
}

fn operator(item: &Value, path: &str, allowed: &[&str], c: &mut Vec<Cause>) {
    match item.get("operator").and_then(Value::as_str) {
        None => c.push(Cause::required(path, "")),
        Some(op) if !allowed.contains(&op) => {
            c.push(Cause::not_supported(path, &json!(op), allowed))
        }
        Some(_) => {}
    }
}

/// `validation.IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 characters of alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
pub(crate) fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else if !dns_subdomain(prefix) {
                errs.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_string());
            }
            *name
        }
        _ => {
            return vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    } else if !label_name_chars(name) {
        errs.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".to_string());
    }
    errs
}

/// `validation.IsValidLabelValue`.
fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !label_name_chars(value) {
        errs.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".to_string());
    }
    errs
}

fn label_name_chars(v: &str) -> bool {
    let b = v.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns_subdomain(v: &str) -> bool {
    v.len() <= 253
        && v.split('.').all(|label| {
            let b = label.as_bytes();
            let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            b.first().is_some_and(edge)
                && b.last().is_some_and(edge)
                && b.iter().all(|c| edge(c) || *c == b'-')
        })
}
