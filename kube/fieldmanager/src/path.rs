//! Paths into an object as structured-merge-diff names them: map fields, list-map items by
//! their key fields, set items by value and (only when read back from stored entries) list
//! indices. Also the lookups and removals the field manager does along such paths.

use std::collections::BTreeMap;
use std::fmt;

use cceone_kube_patch::keys;
use serde_json::{Map, Value};

/// One step of a [`Path`].
///
/// The derived order (fields, then keys, then values, then indices) is the order kube
/// serializes `fieldsV1` children in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// A map key, `f:name` in `fieldsV1`, shown as `.name`.
    Field(String),
    /// A list-map item, by its key fields as a compact JSON object with sorted keys,
    /// `k:{"name":"nginx"}` in `fieldsV1`, shown as `[name="nginx"]`.
    Key(String),
    /// A set-list item, by its compact JSON value: `v:"foo"`, shown as `[="foo"]`.
    Value(String),
    /// A list item by position: `i:0`, shown as `[0]`. Never produced, only read back.
    Index(usize),
}

/// A path from the object root to one field.
pub(crate) type Path = Vec<PathElement>;

impl PathElement {
    /// The `fieldsV1` spelling of this element.
    pub(crate) fn encode(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(key) => format!("k:{key}"),
            Self::Value(value) => format!("v:{value}"),
            Self::Index(index) => format!("i:{index}"),
        }
    }

    /// Parses a `fieldsV1` key; `None` when it is not a valid path element.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_at_checked(2)?;
        match kind {
            "f:" => Some(Self::Field(rest.to_owned())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                object @ Value::Object(_) => Some(Self::Key(canonical(&object))),
                _ => None,
            },
            "v:" => Some(Self::Value(canonical(&serde_json::from_str(rest).ok()?))),
            "i:" => rest.parse().ok().map(Self::Index),
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(key) => {
                let fields: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
                let mut sorted: Vec<_> = fields.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                f.write_str("[")?;
                for (i, (name, value)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", canonical(value))?;
                }
                f.write_str("]")
            }
            Self::Value(value) => write!(f, "[={value}]"),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// Shows a path the way kube prints it in conflicts: `.spec.containers[name="nginx"].image`.
pub(crate) fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Compact JSON with object keys sorted at every level, so equal values spell the same.
pub(crate) fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let inner: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// Why a list-map item has no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The item is not a JSON object.
    NotAMap,
    /// The item lacks this key field and the field has no default.
    Missing(String),
}

/// The key of list-map `item` under key fields `fields`, in its canonical spelling.
/// Missing key fields take their default (`protocol: TCP`).
pub(crate) fn item_key<S: AsRef<str>>(item: &Value, fields: &[S]) -> Result<String, KeyError> {
    let object = item.as_object().ok_or(KeyError::NotAMap)?;
    let mut key = Map::new();
    for field in fields {
        let field = field.as_ref();
        let value = match object.get(field) {
            Some(value) if !value.is_null() => value.clone(),
            _ => keys::key_default(field).ok_or_else(|| KeyError::Missing(field.to_owned()))?,
        };
        key.insert(field.to_owned(), value);
    }
    Ok(canonical(&Value::Object(key)))
}

/// The field names along `path`, list items left out: what `keys::list_map_keys` takes.
pub(crate) fn names(path: &[PathElement]) -> Vec<&str> {
    path.iter()
        .filter_map(|element| match element {
            PathElement::Field(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// The position in `items` of the item `element` names, if any.
fn position(items: &[Value], element: &PathElement) -> Option<usize> {
    match element {
        PathElement::Field(_) => None,
        PathElement::Key(key) => {
            let fields: Map<String, Value> = serde_json::from_str(key).ok()?;
            let names: Vec<&String> = fields.keys().collect();
            items
                .iter()
                .position(|item| item_key(item, &names).is_ok_and(|k| k == *key))
        }
        PathElement::Value(value) => items.iter().position(|item| canonical(item) == *value),
        PathElement::Index(index) => (*index < items.len()).then_some(*index),
    }
}

/// The value at `path` under `root`, if present.
pub(crate) fn lookup<'a>(root: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    path.iter()
        .try_fold(root, |current, element| match element {
            PathElement::Field(name) => current.as_object()?.get(name),
            _ => {
                let items = current.as_array()?;
                items.get(position(items, element)?)
            }
        })
}

/// The value at `path` under `root`, mutably, if present.
pub(crate) fn lookup_mut<'a>(root: &'a mut Value, path: &[PathElement]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(root, |current, element| match element {
            PathElement::Field(name) => current.as_object_mut()?.get_mut(name),
            _ => {
                let items = current.as_array_mut()?;
                let index = position(items, element)?;
                items.get_mut(index)
            }
        })
}

/// Removes the field or item at `path`; whether there was one.
pub(crate) fn remove(root: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let Some(container) = lookup_mut(root, parent) else {
        return false;
    };
    match last {
        PathElement::Field(name) => container
            .as_object_mut()
            .is_some_and(|map| map.remove(name).is_some()),
        _ => match container.as_array_mut() {
            Some(items) => match position(items, last) {
                Some(index) => {
                    items.remove(index);
                    true
                }
                None => false,
            },
            None => false,
        },
    }
}

/// Whether the list at `path` merges item by item (a list-map or a set) rather than whole.
pub(crate) fn is_granular_list(names: &[&str]) -> bool {
    keys::list_map_keys(names).is_some() || keys::is_merged_primitive_list(names)
}

/// Whether the field at `path` differs between `before` and `after`, as kube compares: maps
/// (and item-wise merged lists) are containers that only differ by appearing or disappearing,
/// everything else differs by value.
pub(crate) fn differs(before: Option<&Value>, after: Option<&Value>, path: &[PathElement]) -> bool {
    let old = before.and_then(|root| lookup(root, path));
    let new = after.and_then(|root| lookup(root, path));
    match (old, new) {
        (None, None) => false,
        (Some(_), None) | (None, Some(_)) => true,
        (Some(Value::Object(_)), Some(Value::Object(_))) => false,
        (Some(Value::Array(_)), Some(Value::Array(_))) if is_granular_list(&names(path)) => false,
        (Some(old), Some(new)) => old != new,
    }
}
