//! Ownership bookkeeping for every write that is not a server-side apply (create, update, any
//! patch): the manager takes over whatever it changed.

use serde_json::Value;

use crate::apply::drop_vanished;
use crate::fieldset::{FieldSet, Scope};
use crate::managed::{self, Entry, UPDATE};
use crate::path;

mod fast;

/// Records a non-apply write (create, update, any patch) by `manager`.
///
/// The fields that differ between `old` and `new` (every field when `old` is `None`) become
/// owned by `manager`'s `Update` entry for `subresource` and are removed from other managers'
/// entries; fields that disappeared are removed from every entry; entries left empty are
/// dropped. Mutates `new.metadata.managedFields`; the entry's `time` becomes `now` only when the
/// manager took fields.
///
/// As in kube-apiserver, the entries start from `new`'s own `managedFields` when it carries
/// some (a client may edit them directly; `[{}]` resets them to none), else from `old`'s; a
/// subresource write always starts from `old`'s.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
) {
    record(old, new, manager, now, subresource, true);
}

/// [`record_update`] without its fast path (tests compare the two).
#[cfg(test)]
pub(crate) fn record_update_general(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
) {
    record(old, new, manager, now, subresource, false);
}

/// Whether [`record_update`] takes its fast path for this write (tests).
#[cfg(test)]
pub(crate) fn takes_fast_path(
    old: &Value,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
) -> bool {
    let mut probe = new.clone();
    record(Some(old), &mut probe, manager, "t", subresource, true)
}

/// Records the write; returns whether the fast path did.
fn record(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
    allow_fast: bool,
) -> bool {
    let scope = Scope::of(subresource);

    // Only where the two differ: equal subtrees change and remove nothing.
    let (old_set, new_set) = match old {
        Some(old) => FieldSet::of_difference(old, new, scope),
        None => (
            FieldSet::default(),
            FieldSet::of_object(new, scope, false).unwrap_or_default(),
        ),
    };
    let mut changed = new_set.difference(&old_set);
    for field in new_set.intersection(&old_set).iter() {
        if path::differs(old, Some(new), field) {
            changed.insert(field.clone());
        }
    }
    let removed = old_set.difference(&new_set);

    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if allow_fast
        && let Some(old) = old
        && fast::record(
            old,
            new,
            manager,
            now,
            subresource,
            &api_version,
            &changed,
            &removed,
        )
    {
        return true;
    }

    let from_old = || old.map(managed::decode_lenient).unwrap_or_default();
    let mut entries = if subresource.is_some() {
        from_old()
    } else if managed::is_reset(new) {
        Vec::new()
    } else {
        match managed::decode(new) {
            Some(entries) if !entries.is_empty() => entries,
            _ => from_old(),
        }
    };
    let is_mine = |entry: &Entry| entry.is(manager, UPDATE, subresource);
    for entry in entries.iter_mut().filter(|entry| !is_mine(entry)) {
        entry.fields = entry.fields.difference(&changed).difference(&removed);
    }
    if let Some(old) = old {
        drop_vanished(&mut entries, old, new);
    }
    match entries.iter_mut().find(|entry| is_mine(entry)) {
        Some(mine) => {
            mine.fields = mine.fields.union(&changed).difference(&removed);
            if !changed.is_empty() {
                mine.time = Some(now.to_owned());
                mine.api_version = api_version;
            }
        }
        None if !changed.is_empty() => entries.push(Entry {
            manager: manager.to_owned(),
            operation: UPDATE.to_owned(),
            api_version,
            time: Some(now.to_owned()),
            subresource: subresource.map(str::to_owned),
            fields: changed,
        }),
        None => {}
    }
    managed::cap_updates(&mut entries);
    managed::write(new, entries);
    false
}
