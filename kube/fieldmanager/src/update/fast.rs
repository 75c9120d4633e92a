//! The common update, recorded without decoding every entry: a manager writes again fields it
//! already owns (a controller refreshing a status, a client bumping a replica count), so no
//! other entry loses a field, nothing is removed, and only the manager's `time` and
//! `apiVersion` change. Decoding each entry's `fieldsV1` into path sets, subtracting and
//! encoding them again was most of a status write's cost in the federation benchmark; here
//! the few changed paths are looked up in the stored `fieldsV1` trees directly.
//!
//! A manager's first write, or one taking fields nobody owned yet, is as common (the hub's first
//! status of each Work, a controller adding a condition): its entry is made or grown from the
//! changed paths alone, and the other entries stay as stored.
//!
//! Anything out of the ordinary (malformed, unsorted or duplicate entries, a field another
//! manager owns, a removal, more `Update` entries than the cap) is left to the general path,
//! which gives the same result for the cases taken here.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::fieldset::FieldSet;
use crate::managed::{Entry, MAX_UPDATE_MANAGERS, UPDATE};
use crate::path::PathElement;

/// Records the write if it is the common case; returns false, having changed nothing, if not.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    old: &Value,
    new: &mut Value,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
    api_version: &str,
    changed: &FieldSet,
    removed: &FieldSet,
) -> bool {
    if !removed.is_empty() {
        return false;
    }
    let Some(Value::Array(stored)) = old.pointer("/metadata/managedFields") else {
        return false;
    };
    // The general path starts from `new`'s entries on a main-resource write when it carries
    // any; the fast one only when those are `old`'s (or absent).
    let carried = new.pointer("/metadata/managedFields");
    if subresource.is_none()
        && carried.is_some_and(|c| !c.is_null() && c.as_array() != Some(stored))
    {
        return false;
    }
    // Past the cap of `Update` entries the general path merges the oldest
    // (`managed::cap_updates`): objects past it are left to it.
    let updates = stored
        .iter()
        .filter(|e| text(e, "operation") == Some(UPDATE))
        .count();
    if updates > MAX_UPDATE_MANAGERS || !well_formed(stored) {
        return false;
    }
    if changed.is_empty() && carried.and_then(Value::as_array) == Some(stored) {
        // Nothing changed hands, and `new` holds the stored entries already.
        return true;
    }
    let mine = stored.iter().position(|e| is(e, manager, subresource));
    let mut entries = stored.clone();
    if !changed.is_empty() {
        // Another manager that owned a changed field loses it: the general path's work.
        let taken = stored
            .iter()
            .enumerate()
            .any(|(i, e)| Some(i) != mine && changed.iter().any(|p| owns(&e["fieldsV1"], p)));
        if taken {
            return false;
        }
        match mine {
            Some(at) => {
                let fields = &stored[at]["fieldsV1"];
                if !changed.iter().all(|p| owns(fields, p)) {
                    let Some(owned) = FieldSet::from_fields_v1(fields) else {
                        return false;
                    };
                    entries[at]["fieldsV1"] = owned.union(changed).to_fields_v1();
                }
                if let Some(entry) = entries[at].as_object_mut() {
                    entry.insert("time".into(), Value::String(now.to_owned()));
                    entry.insert("apiVersion".into(), Value::String(api_version.to_owned()));
                }
            }
            None => {
                // A new entry, unless it would pass the cap.
                if updates >= MAX_UPDATE_MANAGERS {
                    return false;
                }
                let entry = Entry {
                    manager: manager.to_owned(),
                    operation: UPDATE.to_owned(),
                    api_version: api_version.to_owned(),
                    time: Some(now.to_owned()),
                    subresource: subresource.map(str::to_owned),
                    fields: changed.clone(),
                };
                entries.push(entry.to_value());
            }
        }
        entries.sort_by(order);
    }
    let Some(metadata) = new.get_mut("metadata").and_then(Value::as_object_mut) else {
        return false;
    };
    metadata.insert("managedFields".into(), Value::Array(entries));
    true
}

/// Whether the entries are exactly as the general path writes them: objects holding only the
/// fields it writes (identity strings, `fieldsType: FieldsV1`, a non-empty `fieldsV1`), sorted,
/// and no two for one (manager, operation, subresource).
fn well_formed(entries: &[Value]) -> bool {
    const KNOWN: [&str; 7] = [
        "manager",
        "operation",
        "apiVersion",
        "time",
        "fieldsType",
        "fieldsV1",
        "subresource",
    ];
    let shaped = entries.iter().all(|e| {
        let Some(m) = e.as_object() else {
            return false;
        };
        let string = |k: &str| matches!(m.get(k), Some(Value::String(_)));
        m.keys().all(|k| KNOWN.contains(&k.as_str()))
            && string("manager")
            && string("operation")
            && string("apiVersion")
            && matches!(m.get("time"), None | Some(Value::String(_)))
            && m.get("subresource")
                .is_none_or(|s| s.as_str().is_some_and(|s| !s.is_empty()))
            && m.get("fieldsType").and_then(Value::as_str) == Some("FieldsV1")
            && m.get("fieldsV1")
                .and_then(Value::as_object)
                .is_some_and(|f| !f.is_empty())
    });
    if !shaped || !entries.windows(2).all(|w| order(&w[0], &w[1]).is_lt()) {
        return false;
    }
    let mut seen: Vec<_> = entries.iter().map(identity).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() == entries.len()
}

/// The (manager, operation, subresource) an entry is for.
fn identity(e: &Value) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        text(e, "manager"),
        text(e, "operation"),
        text(e, "subresource"),
    )
}

fn text<'a>(entry: &'a Value, key: &str) -> Option<&'a str> {
    entry.get(key).and_then(Value::as_str)
}

/// Whether `entry` is the `Update` entry of `manager` for `subresource`.
fn is(entry: &Value, manager: &str, subresource: Option<&str>) -> bool {
    text(entry, "manager").unwrap_or_default() == manager
        && text(entry, "operation").unwrap_or_default() == UPDATE
        && text(entry, "subresource") == subresource
}

/// kube's order of entries: operation, time, manager, apiVersion, subresource (as
/// `managed::normalize`).
fn order(a: &Value, b: &Value) -> Ordering {
    sort_key(a).cmp(&sort_key(b))
}

fn sort_key(e: &Value) -> (&str, Option<&str>, &str, &str, Option<&str>) {
    (
        text(e, "operation").unwrap_or_default(),
        text(e, "time"),
        text(e, "manager").unwrap_or_default(),
        text(e, "apiVersion").unwrap_or_default(),
        text(e, "subresource"),
    )
}

/// Whether the `fieldsV1` tree `fields` has `path` as a member (an empty node, or one with
/// a `"."` entry), as `FieldSet::from_fields_v1` reads it.
fn owns(fields: &Value, path: &[PathElement]) -> bool {
    let mut node = fields;
    for element in path {
        let Some(map) = node.as_object() else {
            return false;
        };
        match child(map, element) {
            Some(next) => node = next,
            None => return false,
        }
    }
    !path.is_empty()
        && node
            .as_object()
            .is_some_and(|m| m.is_empty() || m.contains_key("."))
}

/// The child of a `fieldsV1` node for `element`: by its spelling, or, for list-map keys and
/// set values a client may have spelled differently, by decoding the siblings.
fn child<'a>(map: &'a Map<String, Value>, element: &PathElement) -> Option<&'a Value> {
    if let Some(v) = map.get(&element.encode()) {
        return Some(v);
    }
    match element {
        PathElement::Key(_) | PathElement::Value(_) => map
            .iter()
            .find(|(k, _)| PathElement::decode(k).as_ref() == Some(element))
            .map(|(_, v)| v),
        _ => None,
    }
}
