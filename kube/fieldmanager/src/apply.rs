//! Server-side apply: merge a manager's intended configuration into the live object, detect
//! conflicts with other managers, prune what the manager stopped applying, and record the
//! manager's `Apply` entry.

use serde_json::{Map, Value};

use crate::fieldset::{FieldSet, Scope, UNTRACKED_METADATA};
use crate::managed::{self, APPLY, Entry, UPDATE};
use crate::{ApplyError, Conflict, merge, path};

/// The manager kube gives the existing fields of an object that has no managed fields when it
/// is first applied to.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Server-side apply of `applied` (the full intended config of `manager`) onto `live` (`None`
/// when the object does not exist yet).
///
/// Returns the new object with `metadata.managedFields` updated; `now` is the RFC3339 timestamp
/// for the entry's `time`. `subresource` is `Some("status")` etc. when applying to a
/// subresource: the main resource ignores `status`, the `status` subresource takes only
/// `status` and `metadata.labels`/`metadata.annotations`.
///
/// Fields another manager owns with a different live value are conflicts: an error unless
/// `force`, which takes them over. Fields this manager applied before, no longer applies and
/// nobody else owns are removed. When nothing changes, `live` is returned as it was (entry
/// times included), so the caller can skip the write.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    subresource: Option<&str>,
) -> Result<Value, ApplyError> {
    let scope = Scope::of(subresource);
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".to_owned(),
        ));
    }
    let managed_fields = applied.get("metadata").and_then(|m| m.get("managedFields"));
    if managed_fields.is_some_and(|fields| !fields.is_null()) {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".to_owned(),
        ));
    }
    let applied_set = FieldSet::of_object(applied, scope, true).map_err(ApplyError::Invalid)?;
    let api_version = applied
        .get("apiVersion")
        .or_else(|| live.and_then(|live| live.get("apiVersion")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let before = live.map(managed::decode_lenient).unwrap_or_default();
    let mut entries = before.clone();
    if let Some(live) = live
        && entries.is_empty()
    {
        entries.push(Entry {
            manager: BEFORE_FIRST_APPLY.to_owned(),
            operation: UPDATE.to_owned(),
            api_version: api_version.clone(),
            time: None,
            subresource: None,
            fields: FieldSet::of_object(live, scope, false).unwrap_or_default(),
        });
    }

    let mut object = live.cloned().unwrap_or_else(|| skeleton(applied));
    merge::merge(&mut object, applied, scope);

    let conflicts = take_conflicts(
        &mut entries,
        &applied_set,
        live,
        &object,
        manager,
        subresource,
    );
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }

    let is_mine = |entry: &Entry| entry.is(manager, APPLY, subresource);
    let previous = entries
        .iter()
        .find(|entry| is_mine(entry))
        .map(|entry| entry.fields.clone())
        .unwrap_or_default();
    let owned = entries
        .iter()
        .filter(|entry| !is_mine(entry))
        .fold(applied_set.clone(), |owned, entry| {
            owned.union(&entry.fields)
        });
    merge::prune(&mut object, &previous.difference(&applied_set), &owned);
    if let Some(live) = live {
        drop_vanished(&mut entries, live, &object);
    }

    let entry = Entry {
        manager: manager.to_owned(),
        operation: APPLY.to_owned(),
        api_version,
        time: Some(now.to_owned()),
        subresource: subresource.map(str::to_owned),
        fields: applied_set,
    };
    match entries.iter_mut().find(|entry| is_mine(entry)) {
        Some(mine) => *mine = entry,
        None => entries.push(entry),
    }

    if let Some(live) = live
        && without_managed_fields(live) == without_managed_fields(&object)
        && timeless(&before) == timeless(&entries)
    {
        return Ok(live.clone());
    }
    managed::write(&mut object, entries);
    Ok(object)
}

/// Collects the conflicts of applying `applied_set` (turning `live` into `object`) against every
/// entry but the applier's, and takes the conflicting fields out of those entries (which only
/// matters when the apply is forced).
fn take_conflicts(
    entries: &mut [Entry],
    applied_set: &FieldSet,
    live: Option<&Value>,
    object: &Value,
    manager: &str,
    subresource: Option<&str>,
) -> Vec<Conflict> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |e: &Entry| {
            (
                e.manager.clone(),
                e.operation.clone(),
                e.subresource.clone(),
            )
        };
        key(&entries[a]).cmp(&key(&entries[b]))
    });
    let mut conflicts = Vec::new();
    for index in order {
        let entry = &mut entries[index];
        if entry.is(manager, APPLY, subresource) {
            continue;
        }
        let mut lost = FieldSet::default();
        for field in entry.fields.intersection(applied_set).iter() {
            if path::differs(live, Some(object), field) {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    field: path::display(field),
                    operation: entry.operation.clone(),
                    api_version: entry.api_version.clone(),
                    subresource: entry.subresource.clone(),
                    time: entry.time.clone(),
                });
                lost.insert(field.clone());
            }
        }
        entry.fields = entry.fields.difference(&lost);
    }
    conflicts
}

/// Takes out of every entry the fields that were in `before` and are gone from `after`.
pub(crate) fn drop_vanished(entries: &mut [Entry], before: &Value, after: &Value) {
    for entry in entries {
        let mut gone = FieldSet::default();
        for field in entry.fields.iter() {
            if path::lookup(before, field).is_some() && path::lookup(after, field).is_none() {
                gone.insert(field.clone());
            }
        }
        if !gone.is_empty() {
            entry.fields = entry.fields.difference(&gone);
        }
    }
}

/// The start of a created object: the applied configuration's untracked identity fields
/// (`apiVersion`, `kind`, `metadata.name`, ...), which apply copies but nobody owns.
fn skeleton(applied: &Value) -> Value {
    let mut root = Map::new();
    for name in ["apiVersion", "kind"] {
        if let Some(value) = applied.get(name).filter(|v| !v.is_null()) {
            root.insert(name.to_owned(), value.clone());
        }
    }
    if let Some(metadata) = applied.get("metadata").and_then(Value::as_object) {
        let kept: Map<String, Value> = metadata
            .iter()
            .filter(|(name, value)| {
                UNTRACKED_METADATA.contains(&name.as_str())
                    && *name != "managedFields"
                    && !value.is_null()
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        root.insert("metadata".to_owned(), Value::Object(kept));
    }
    Value::Object(root)
}

/// `object` without `metadata.managedFields`.
fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    copy
}

/// `entries` normalized and without times, for telling whether ownership changed.
fn timeless(entries: &[Entry]) -> Vec<Entry> {
    let mut out: Vec<Entry> = entries.iter().map(Entry::timeless).collect();
    managed::normalize(&mut out);
    out
}
