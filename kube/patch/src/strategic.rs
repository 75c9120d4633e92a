//! Kubernetes strategic merge patch for the built-in kinds.
//!
//! Maps merge recursively and `null` deletes a key. Lists whose field path has a merge key in
//! [`crate::keys`] merge item by item on that key, merged primitive lists (like
//! `metadata.finalizers`) are unions, and every other list is replaced whole. The patch may carry
//! the directives that `kubectl` emits:
//!
//! * `$patch: replace | delete | merge` in a map or in a list item,
//! * `$setElementOrder/<field>` to order a merged list,
//! * `$deleteFromPrimitiveList/<field>` to remove values from a merged primitive list,
//! * `$retainKeys` to drop every key of a map (e.g. a union such as `spec.strategy`) that is not
//!   listed.
//!
//! No directive survives into the result, and an unknown `$...` key is rejected. Ordering
//! follows `k8s.io/apimachinery/pkg/util/strategicpatch`: patch items keep the patch's (or the
//! `$setElementOrder` list's) order and items only on the server are interleaved by their
//! position in the live list, so an item new to the list lands before the server items that
//! follow it in neither list (a container added by `kubectl patch` comes first).
//!
//! When a list's path is not in the merge-key table but the patch carries
//! `$setElementOrder/<field>` for it, the list kind is inferred from that order list
//! (`[{"name": ...}]` means "merged by `name`", scalars mean "merged set"), so a `kubectl apply`
//! patch built from a richer schema than ours still merges instead of replacing.

use serde_json::{Map, Value};

use crate::equal::json_eq;
use crate::error::PatchError;
use crate::keys;

#[cfg(test)]
mod tests;

/// The directive marker key inside a map or list item.
const PATCH: &str = "$patch";
/// The directive listing the keys of a map to keep.
const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix of the directive ordering a sibling list.
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
/// The prefix of the directive deleting values from a sibling primitive list.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a Kubernetes strategic merge patch to a built-in object.
///
/// Maps merge recursively and `null` deletes a key. Lists whose path (field names from the
/// object root, list indices left out) has a merge key ([`keys::merge_key`]) merge item by item
/// on it: patch items missing from the document are added, `$patch: delete` in an item deletes
/// the matching item and a `{"$patch": "replace"}` item makes the list the patch's items. Merged
/// primitive lists ([`keys::is_merged_primitive_list`]) are unions; all other lists are replaced.
/// The directives `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`, `$retainKeys`
/// and `$patch` are honoured and removed from the result.
///
/// # Errors
/// [`PatchError::Invalid`] if the patch is not a JSON object, uses an unknown `$` directive or
/// `$patch` value, gives a directive a value of the wrong shape, leaves the merge key out of an
/// item of a keyed list, disagrees with its `$setElementOrder` list, or sets a key that its
/// `$retainKeys` list does not keep; also if the document is neither an object nor `null`.
pub fn strategic_merge_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(patch) => patch,
        Value::Null => return Ok(doc.clone()),
        _ => {
            return Err(PatchError::Invalid(
                "a strategic merge patch must be a JSON object".into(),
            ));
        }
    };
    let doc = match doc {
        Value::Object(doc) => Some(doc),
        Value::Null => None,
        _ => {
            return Err(PatchError::Invalid(
                "a strategic merge patch applies to a JSON object only".into(),
            ));
        }
    };
    let merged = merge_map(doc, patch, &mut Vec::new())?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// How the items of one list combine with a patch.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ListKind<'p> {
    /// A list of objects merged by the value of this key.
    Keyed(&'p str),
    /// A list of scalars merged as a set.
    Set,
    /// Any other list: the patch replaces it.
    Atomic,
}

impl ListKind<'_> {
    /// The value an item is identified by: its merge key, or itself for a set.
    fn id<'v>(&self, item: &'v Value) -> Option<&'v Value> {
        match self {
            ListKind::Keyed(key) => item.get(*key),
            ListKind::Set | ListKind::Atomic => Some(item),
        }
    }

    /// Whether two items have the same identity.
    fn same(&self, a: &Value, b: &Value) -> bool {
        matches!((self.id(a), self.id(b)), (Some(a), Some(b)) if json_eq(a, b))
    }
}

/// The kind of the list at `path`, from the merge-key table or else inferred from the
/// `$setElementOrder` list the patch gives for it.
fn list_kind<'p>(path: &[&'p str], order: Option<&'p [Value]>) -> ListKind<'p> {
    if let Some(key) = keys::merge_key(path) {
        return ListKind::Keyed(key);
    }
    if keys::is_merged_primitive_list(path) {
        return ListKind::Set;
    }
    let Some(order) = order.filter(|order| !order.is_empty()) else {
        return ListKind::Atomic;
    };
    let single_key = |item: &'p Value| match item {
        Value::Object(map) if map.len() == 1 => map.keys().next().map(String::as_str),
        _ => None,
    };
    if let Some(key) = single_key(&order[0])
        && order.iter().all(|item| single_key(item) == Some(key))
    {
        return ListKind::Keyed(key);
    }
    if order
        .iter()
        .all(|item| !matches!(item, Value::Object(_) | Value::Array(_)))
    {
        return ListKind::Set;
    }
    ListKind::Atomic
}

/// The path for messages: dotted field names, or `<root>`.
fn show(path: &[&str]) -> String {
    if path.is_empty() {
        "<root>".into()
    } else {
        path.join(".")
    }
}

/// Merges a patch map into an optional original map. `None` means "leave the key out" (a
/// `$patch: delete` map with nothing to delete).
fn merge_map<'p>(
    orig: Option<&Map<String, Value>>,
    patch: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    if let Some(directive) = patch.get(PATCH) {
        match directive.as_str() {
            Some("delete") => return Ok(orig.map(|_| Map::new())),
            Some("replace") => return merge_fields(None, patch, path).map(Some),
            Some("merge") => {}
            _ => {
                return Err(PatchError::Invalid(format!(
                    "unknown {PATCH} directive {directive} at {}",
                    show(path)
                )));
            }
        }
    }
    merge_fields(orig, patch, path).map(Some)
}

/// The directives found among a patch map's keys.
#[derive(Default)]
struct Directives<'p> {
    /// `$retainKeys`: the keys to keep.
    retain: Option<Vec<&'p str>>,
    /// `$setElementOrder/<field>` lists.
    orders: Vec<(&'p str, &'p [Value])>,
    /// `$deleteFromPrimitiveList/<field>` lists.
    deletions: Vec<(&'p str, &'p [Value])>,
}

/// Collects and checks the `$` keys of a patch map (`$patch` is handled by the caller).
fn directives<'p>(
    patch: &'p Map<String, Value>,
    path: &[&str],
) -> Result<Directives<'p>, PatchError> {
    let mut found = Directives::default();
    let list_of = |key: &str, value: &'p Value| {
        value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| PatchError::Invalid(format!("{key} at {} must be a list", show(path))))
    };
    let field_of = |key: &'p str, prefix: &str| match key.strip_prefix(prefix) {
        Some("") => Err(PatchError::Invalid(format!(
            "directive {key:?} at {} names no field",
            show(path)
        ))),
        other => Ok(other),
    };
    for (key, value) in patch {
        if !key.starts_with('$') || key == PATCH {
            continue;
        }
        if key == RETAIN_KEYS {
            let names = list_of(key, value)?
                .iter()
                .map(|name| {
                    name.as_str().ok_or_else(|| {
                        PatchError::Invalid(format!(
                            "{RETAIN_KEYS} at {} must list strings",
                            show(path)
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            found.retain = Some(names);
        } else if let Some(field) = field_of(key, SET_ELEMENT_ORDER)? {
            found.orders.push((field, list_of(key, value)?));
        } else if let Some(field) = field_of(key, DELETE_FROM_PRIMITIVE_LIST)? {
            found.deletions.push((field, list_of(key, value)?));
        } else {
            return Err(PatchError::Invalid(format!(
                "unknown strategic merge patch directive {key:?} at {}",
                show(path)
            )));
        }
    }
    Ok(found)
}

/// Merges the fields of a patch map (its `$patch` already dealt with) into the original.
fn merge_fields<'p>(
    orig: Option<&Map<String, Value>>,
    patch: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
) -> Result<Map<String, Value>, PatchError> {
    let found = directives(patch, path)?;
    let mut out = orig.cloned().unwrap_or_default();

    if let Some(retain) = &found.retain {
        if let Some((key, _)) = patch.iter().find(|(key, value)| {
            !key.starts_with('$') && !value.is_null() && !retain.contains(&key.as_str())
        }) {
            return Err(PatchError::Invalid(format!(
                "{RETAIN_KEYS} at {} does not list {key:?}, which the patch sets",
                show(path)
            )));
        }
        out.retain(|key, _| retain.contains(&key.as_str()));
    }

    let mut ordered: Vec<&str> = Vec::new();
    for &(field, order) in &found.orders {
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list.as_slice()),
            // The field is deleted; the loop below does it.
            Some(Value::Null) => continue,
            Some(_) => {
                return Err(PatchError::Invalid(format!(
                    "{SET_ELEMENT_ORDER}{field} at {} orders a field that is not a list",
                    show(path)
                )));
            }
        };
        let orig_list = out.get(field).and_then(Value::as_array).cloned();
        path.push(field);
        let merged = ordered_list(orig_list.as_deref(), patch_list, order, path);
        path.pop();
        if let Some(merged) = merged? {
            out.insert(field.to_owned(), Value::Array(merged));
        }
        ordered.push(field);
    }

    for (key, value) in patch {
        if key.starts_with('$') || ordered.contains(&key.as_str()) {
            continue;
        }
        if value.is_null() {
            out.remove(key);
            continue;
        }
        path.push(key);
        let merged = merge_value(out.get(key), value, path);
        path.pop();
        match merged? {
            Some(merged) => out.insert(key.clone(), merged),
            None => out.remove(key),
        };
    }

    for &(field, values) in &found.deletions {
        if let Some(Value::Array(list)) = out.get_mut(field) {
            list.retain(|item| !values.iter().any(|value| json_eq(value, item)));
        }
    }
    Ok(out)
}

/// Merges any patch value into an optional original; `None` leaves the key out.
fn merge_value<'p>(
    orig: Option<&Value>,
    patch: &'p Value,
    path: &mut Vec<&'p str>,
) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(patch) => {
            let orig = orig.and_then(Value::as_object);
            Ok(merge_map(orig, patch, path)?.map(Value::Object))
        }
        Value::Array(patch) => {
            let orig = orig.and_then(Value::as_array).map(Vec::as_slice);
            let kind = list_kind(path, None);
            merge_list(orig, patch, kind, path).map(|list| Some(Value::Array(list)))
        }
        Value::Null => Ok(None),
        scalar => Ok(Some(scalar.clone())),
    }
}

/// Merges a list and then orders it by its `$setElementOrder` list. `None` if the list is in
/// neither the original nor the patch.
fn ordered_list<'p>(
    orig: Option<&[Value]>,
    patch: Option<&'p [Value]>,
    order: &'p [Value],
    path: &mut Vec<&'p str>,
) -> Result<Option<Vec<Value>>, PatchError> {
    let kind = list_kind(path, Some(order));
    if let ListKind::Keyed(key) = kind
        && let Some(bad) = order.iter().find(|item| item.get(key).is_none())
    {
        return Err(PatchError::Invalid(format!(
            "item {bad} of the {SET_ELEMENT_ORDER} list for {} has no merge key {key:?}",
            show(path)
        )));
    }
    if let Some(patch) = patch {
        check_order(patch, order, kind, path)?;
    }
    let merged = match (orig, patch) {
        (_, Some(patch)) => merge_list(orig, patch, kind, path)?,
        (Some(orig), None) => orig.to_vec(),
        (None, None) => return Ok(None),
    };
    if kind == ListKind::Atomic {
        return Ok(Some(merged));
    }
    let position = |list: &[Value], item: &Value| list.iter().position(|x| kind.same(x, item));
    let (mut in_order, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(order, item).is_some());
    in_order.sort_by_key(|item| position(order, item));
    let server_order = orig.unwrap_or_default();
    server_only.sort_by_key(|item| position(server_order, item).unwrap_or(usize::MAX));
    Ok(Some(interleave(server_only, in_order, server_order, kind)))
}

/// Checks that the patch list's items appear in its `$setElementOrder` list in the same order.
fn check_order(
    patch: &[Value],
    order: &[Value],
    kind: ListKind<'_>,
    path: &[&str],
) -> Result<(), PatchError> {
    if kind == ListKind::Atomic || order.is_empty() {
        return Ok(());
    }
    let mut next = 0;
    for item in patch {
        if item.get(PATCH).is_some() {
            continue;
        }
        let found = order
            .get(next..)
            .and_then(|rest| rest.iter().position(|x| kind.same(x, item)));
        match found {
            Some(found) => next += found + 1,
            None => {
                return Err(PatchError::Invalid(format!(
                    "list {} item {item} is missing from, or out of the order of, its \
                     {SET_ELEMENT_ORDER} list",
                    show(path)
                )));
            }
        }
    }
    Ok(())
}

/// Merges a patch list into an optional original list according to the list's kind.
fn merge_list<'p>(
    orig: Option<&[Value]>,
    patch: &'p [Value],
    kind: ListKind<'p>,
    path: &mut Vec<&'p str>,
) -> Result<Vec<Value>, PatchError> {
    match kind {
        ListKind::Atomic => clean_list(patch, path),
        ListKind::Set => merge_set(orig.unwrap_or_default(), patch, path),
        ListKind::Keyed(key) => merge_keyed(orig.unwrap_or_default(), patch, key, path),
    }
}

/// A patch list as a value of its own: directives applied to nothing and removed, `null`
/// members of its maps dropped, `$patch` marker items and deleted items left out.
fn clean_list<'p>(patch: &'p [Value], path: &mut Vec<&'p str>) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(patch.len());
    for item in patch {
        match item {
            Value::Object(map) => {
                let marker_only = map.len() == 1 && map.contains_key(PATCH);
                if marker_only || map.get(PATCH).and_then(Value::as_str) == Some("delete") {
                    continue;
                }
                if let Some(map) = merge_map(None, map, path)? {
                    out.push(Value::Object(map));
                }
            }
            Value::Array(list) => out.push(Value::Array(clean_list(list, path)?)),
            scalar => out.push(scalar.clone()),
        }
    }
    Ok(out)
}

/// Splits a patch list into its plain items and whether it holds a `{"$patch": "replace"}`
/// marker; `$patch: delete` items are passed to `delete`.
fn special_items<'p>(
    patch: &'p [Value],
    path: &[&str],
    mut delete: impl FnMut(&'p Map<String, Value>) -> Result<(), PatchError>,
) -> Result<(Vec<&'p Value>, bool), PatchError> {
    let mut items = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(PATCH) else {
            items.push(item);
            continue;
        };
        match (directive.as_str(), item) {
            (Some("delete"), Value::Object(map)) => delete(map)?,
            (Some("replace"), _) => replace = true,
            (Some("merge"), Value::Object(map)) if map.len() > 1 => items.push(item),
            (Some("merge"), _) => {}
            _ => {
                return Err(PatchError::Invalid(format!(
                    "unknown {PATCH} directive {directive} in list {}",
                    show(path)
                )));
            }
        }
    }
    Ok((items, replace))
}

/// Merges a primitive list as a set.
fn merge_set<'p>(
    orig: &[Value],
    patch: &'p [Value],
    path: &mut Vec<&'p str>,
) -> Result<Vec<Value>, PatchError> {
    let (items, replace) = special_items(patch, path, |_| {
        Err(PatchError::Invalid(format!(
            "{PATCH}: delete cannot be used in primitive list {}; use \
             {DELETE_FROM_PRIMITIVE_LIST}<field>",
            show(path)
        )))
    })?;
    let kind = ListKind::Set;
    let mut merged: Vec<Value> = Vec::with_capacity(orig.len() + items.len());
    let patch_items: Vec<Value> = items.into_iter().cloned().collect();
    let base = if replace { &[][..] } else { orig };
    for item in base.iter().chain(&patch_items) {
        if !merged.iter().any(|x| kind.same(x, item)) {
            merged.push(item.clone());
        }
    }
    let position = |list: &[Value], item: &Value| list.iter().position(|x| kind.same(x, item));
    let (mut in_patch, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(&patch_items, item).is_some());
    in_patch.sort_by_key(|item| position(&patch_items, item));
    Ok(interleave(server_only, in_patch, base, kind))
}

/// Merges a list of objects item by item on `key`.
fn merge_keyed<'p>(
    orig: &[Value],
    patch: &'p [Value],
    key: &'p str,
    path: &mut Vec<&'p str>,
) -> Result<Vec<Value>, PatchError> {
    let kind = ListKind::Keyed(key);
    let here = show(path);
    let not_object = |item: &Value| {
        PatchError::Invalid(format!(
            "list {here} is merged by {key:?}, but patch item {item} is not an object"
        ))
    };
    let key_of = |map: &'p Map<String, Value>| match map.get(key) {
        Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(value),
        _ => Err(PatchError::Invalid(format!(
            "patch item {} of list {here} has no scalar merge key {key:?}",
            Value::Object(map.clone())
        ))),
    };
    let mut server: Vec<Value> = orig.to_vec();
    let (items, replace) = special_items(patch, path, |map| {
        let value = key_of(map)?;
        server.retain(|item| !item.get(key).is_some_and(|x| json_eq(x, value)));
        Ok(())
    })?;
    if replace {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let map = item.as_object().ok_or_else(|| not_object(item))?;
            if let Some(map) = merge_map(None, map, path)? {
                out.push(Value::Object(map));
            }
        }
        return Ok(out);
    }
    let server_order = server.clone();
    let mut merged = server;
    for &item in &items {
        let map = item.as_object().ok_or_else(|| not_object(item))?;
        let value = key_of(map)?;
        let existing = merged
            .iter()
            .position(|x| x.get(key).is_some_and(|x| json_eq(x, value)));
        match existing {
            Some(index) => {
                let orig = merged[index].as_object();
                let new = merge_map(orig, map, path)?.unwrap_or_default();
                merged[index] = Value::Object(new);
            }
            None => {
                if let Some(new) = merge_map(None, map, path)? {
                    merged.push(Value::Object(new));
                }
            }
        }
    }
    let position = |list: &[&Value], item: &Value| list.iter().position(|x| kind.same(x, item));
    let (mut in_patch, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(&items, item).is_some());
    in_patch.sort_by_key(|item| position(&items, item));
    Ok(interleave(server_only, in_patch, &server_order, kind))
}

/// Interleaves server-only items (`left`) into patch items (`right`), keeping each side's own
/// order: a server item goes first only when both it and the next patch item are in
/// `server_order` and it comes earlier there. This is apimachinery's `mergeSortedSlice`.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    kind: ListKind<'_>,
) -> Vec<Value> {
    let position = |item: &Value| server_order.iter().position(|x| kind.same(x, item));
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => {
                matches!((position(l), position(r)), (Some(i), Some(j)) if i < j)
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
