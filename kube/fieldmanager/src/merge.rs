//! Merging an applied configuration into an object, and pruning the fields an applier gave up.
//!
//! Maps merge key by key, list-maps item by item (new items appended), set lists value by value;
//! atomic lists and scalars are replaced. A `null` in the configuration removes the field.

use cceone_kube_patch::keys;
use serde_json::{Map, Value};

use crate::fieldset::{FieldSet, Scope};
use crate::path::{self, Path, PathElement};

/// Merges the in-`scope` part of `config` into `target`.
pub(crate) fn merge(target: &mut Value, config: &Value, scope: Scope) {
    merge_at(target, config, scope, &mut Vec::new());
}

/// An empty container shaped like `value`, or `value` itself when it is not a container.
fn empty_like(value: &Value) -> Value {
    match value {
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        other => other.clone(),
    }
}

fn merge_at(target: &mut Value, config: &Value, scope: Scope, names: &mut Vec<String>) {
    if let (Some(target), Some(config)) = (target.as_object_mut(), config.as_object()) {
        for (name, value) in config {
            names.push(name.clone());
            if !scope.excludes(names) {
                if value.is_null() {
                    target.remove(name);
                } else {
                    let slot = target
                        .entry(name.clone())
                        .or_insert_with(|| empty_like(value));
                    merge_at(slot, value, scope, names);
                }
            }
            names.pop();
        }
        return;
    }
    if let (Some(items), Some(config_items)) = (target.as_array_mut(), config.as_array()) {
        let (list_map_keys, is_set) = {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            (
                keys::list_map_keys(&refs),
                keys::is_merged_primitive_list(&refs),
            )
        };
        if let Some(key_fields) = list_map_keys {
            for item in config_items {
                let Ok(key) = path::item_key(item, key_fields) else {
                    items.push(item.clone());
                    continue;
                };
                let existing = items
                    .iter()
                    .position(|live| path::item_key(live, key_fields).is_ok_and(|k| k == key));
                match existing {
                    Some(index) => merge_at(&mut items[index], item, scope, names),
                    None => {
                        let mut fresh = empty_like(item);
                        merge_at(&mut fresh, item, scope, names);
                        items.push(fresh);
                    }
                }
            }
            return;
        }
        if is_set {
            for item in config_items {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
            return;
        }
    }
    *target = strip_nulls(config);
}

/// `value` without `null` map entries (a `null` asks for the field to be absent).
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Removes from `object` every member of `removed` that nobody in `owned` owns (itself or
/// anything under it), then the maps and lists those removals left empty unless owned.
pub(crate) fn prune(object: &mut Value, removed: &FieldSet, owned: &FieldSet) {
    for member in removed.iter() {
        if member.is_empty() || owned.covers(member) {
            continue;
        }
        if path::remove(object, member) {
            remove_emptied_parents(object, member, owned);
        }
    }
}

/// Walks up from `member`'s parent removing fields that are now empty maps or lists.
fn remove_emptied_parents(object: &mut Value, member: &Path, owned: &FieldSet) {
    let metadata = [PathElement::Field("metadata".to_owned())];
    for len in (1..member.len()).rev() {
        let parent = &member[..len];
        // Items are removed only when someone gave them up; `metadata` always stays.
        if !matches!(parent.last(), Some(PathElement::Field(_)))
            || parent == metadata
            || owned.contains(parent)
        {
            return;
        }
        let empty = match path::lookup(object, parent) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            _ => false,
        };
        if !empty || !path::remove(object, parent) {
            return;
        }
    }
}
