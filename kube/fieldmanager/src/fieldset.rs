//! Field sets: which fields of an object a manager owns, their extraction from an object and
//! their `fieldsV1` encoding.
//!
//! A set holds member paths. Leaves (scalars, nulls, atomic lists, empty maps) are members, and
//! so is every list-map or set item; maps with content are not members themselves, only their
//! leaves are. In `fieldsV1` a member that also has children carries a `".": {}` entry.

use std::collections::{BTreeMap, BTreeSet};

use cceone_kube_patch::keys;
use serde_json::{Map, Value};

use crate::path::{self, KeyError, Path, PathElement};

/// `metadata` fields the server maintains and nobody owns.
pub(crate) const UNTRACKED_METADATA: [&str; 9] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "selfLink",
];

/// Which part of an object a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource (and any subresource other than `status`): everything but `status`.
    Main,
    /// The `status` subresource: `status` plus `metadata.labels` and `metadata.annotations`.
    Status,
}

impl Scope {
    /// The scope of a write to `subresource`.
    pub(crate) fn of(subresource: Option<&str>) -> Self {
        if subresource == Some("status") {
            Self::Status
        } else {
            Self::Main
        }
    }

    /// Whether the field named by `names` (field names from the root) is neither tracked nor
    /// written in this scope.
    pub(crate) fn excludes<S: AsRef<str>>(self, names: &[S]) -> bool {
        match names {
            [top] => {
                let top = top.as_ref();
                match self {
                    Self::Main => matches!(top, "apiVersion" | "kind" | "status"),
                    Self::Status => top != "status" && top != "metadata",
                }
            }
            [metadata, field] if metadata.as_ref() == "metadata" => {
                let field = field.as_ref();
                match self {
                    Self::Main => UNTRACKED_METADATA.contains(&field),
                    Self::Status => field != "labels" && field != "annotations",
                }
            }
            _ => false,
        }
    }
}

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    /// Adds `path`.
    pub(crate) fn insert(&mut self, path: Path) {
        self.0.insert(path);
    }

    /// Whether `path` itself is a member.
    pub(crate) fn contains(&self, path: &[PathElement]) -> bool {
        self.0.contains(path)
    }

    /// Whether `path` or anything under it is a member.
    pub(crate) fn covers(&self, path: &[PathElement]) -> bool {
        // In lexicographic order the first member not below `path` that starts with it is
        // `path` itself or its first descendant.
        self.0
            .range::<[PathElement], _>((
                std::ops::Bound::Included(path),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .is_some_and(|member| member.starts_with(path))
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, in `fieldsV1` order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    /// Members of either set.
    pub(crate) fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// Members of `self` not in `other`.
    pub(crate) fn difference(&self, other: &Self) -> Self {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// Members of both sets.
    pub(crate) fn intersection(&self, other: &Self) -> Self {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The `fieldsV1` encoding: `{"f:spec":{"f:replicas":{}}}`.
    pub(crate) fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: BTreeMap<PathElement, Node>,
        }
        fn render(node: &Node) -> Value {
            let mut map = Map::new();
            if node.member && !node.children.is_empty() {
                map.insert(".".to_owned(), Value::Object(Map::new()));
            }
            for (element, child) in &node.children {
                map.insert(element.encode(), render(child));
            }
            Value::Object(map)
        }
        let mut root = Node::default();
        for path in &self.0 {
            let node = path.iter().fold(&mut root, |node, element| {
                node.children.entry(element.clone()).or_default()
            });
            node.member = true;
        }
        render(&root)
    }

    /// Parses a `fieldsV1` value; `None` when it is malformed.
    pub(crate) fn from_fields_v1(value: &Value) -> Option<Self> {
        fn walk(value: &Value, path: &mut Path, out: &mut FieldSet) -> Option<()> {
            let map = value.as_object()?;
            if map.is_empty() && !path.is_empty() {
                out.insert(path.clone());
            }
            for (key, child) in map {
                if key == "." {
                    if !path.is_empty() {
                        out.insert(path.clone());
                    }
                    continue;
                }
                path.push(PathElement::decode(key)?);
                walk(child, path, out)?;
                path.pop();
            }
            Some(())
        }
        let mut out = Self::default();
        walk(value, &mut Vec::new(), &mut out)?;
        Some(out)
    }

    /// The fields `object` sets within `scope`.
    ///
    /// With `strict`, list-map items without their key fields, non-map items of list-maps and
    /// duplicate keys are errors naming the list; otherwise such items are skipped.
    pub(crate) fn of_object(object: &Value, scope: Scope, strict: bool) -> Result<Self, String> {
        let mut walker = Extractor {
            scope,
            strict,
            path: Vec::new(),
            names: Vec::new(),
            out: Self::default(),
        };
        walker.walk(object)?;
        Ok(walker.out)
    }
}

impl FieldSet {
    /// The fields of `old` and of `new` within `scope`, as [`FieldSet::of_object`] (lenient)
    /// finds them, leaving out every subtree the two have equal at the same place: what an
    /// update changed or removed comes out the same, for the cost of the difference rather
    /// than of both objects.
    pub(crate) fn of_difference(old: &Value, new: &Value, scope: Scope) -> (Self, Self) {
        let extractor = || Extractor {
            scope,
            strict: false,
            path: Vec::new(),
            names: Vec::new(),
            out: Self::default(),
        };
        let (mut before, mut after) = (extractor(), extractor());
        if old != new {
            joint(old, new, &mut before, &mut after);
        }
        (before.out, after.out)
    }
}

/// Walks `old` and `new` side by side (both extractors at the same path), descending only
/// where they differ.
fn joint(old: &Value, new: &Value, before: &mut Extractor, after: &mut Extractor) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !a.is_empty() && !b.is_empty() => {
            let names = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for name in names {
                before.names.push(name.clone());
                if !before.scope.excludes(&before.names) {
                    after.names.push(name.clone());
                    let element = PathElement::Field(name.clone());
                    before.path.push(element.clone());
                    after.path.push(element);
                    match (a.get(name), b.get(name)) {
                        (Some(x), Some(y)) if x == y => {}
                        (Some(x), Some(y)) => joint(x, y, before, after),
                        (Some(x), None) => {
                            let _ = before.walk(x);
                        }
                        (None, Some(y)) => {
                            let _ = after.walk(y);
                        }
                        (None, None) => {}
                    }
                    before.path.pop();
                    after.path.pop();
                    after.names.pop();
                }
                before.names.pop();
            }
        }
        _ => {
            // Lenient walks skip malformed list items rather than fail.
            let _ = before.walk(old);
            let _ = after.walk(new);
        }
    }
}

/// State of one [`FieldSet::of_object`] walk.
struct Extractor {
    scope: Scope,
    strict: bool,
    path: Path,
    names: Vec<String>,
    out: FieldSet,
}

impl Extractor {
    fn member(&mut self) {
        // `metadata` itself is never owned, only fields under it.
        if !self.path.is_empty() && self.path != [PathElement::Field("metadata".to_owned())] {
            self.out.insert(self.path.clone());
        }
    }

    fn walk(&mut self, value: &Value) -> Result<(), String> {
        match value {
            Value::Object(map) => {
                if map.is_empty() {
                    self.member();
                }
                for (name, child) in map {
                    self.names.push(name.clone());
                    if !self.scope.excludes(&self.names) {
                        self.path.push(PathElement::Field(name.clone()));
                        self.walk(child)?;
                        self.path.pop();
                    }
                    self.names.pop();
                }
                Ok(())
            }
            Value::Array(items) => {
                let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
                if let Some(key_fields) = keys::list_map_keys(&names) {
                    self.walk_list_map(items, key_fields)
                } else if keys::is_merged_primitive_list(&names) {
                    for item in items {
                        self.path.push(PathElement::Value(path::canonical(item)));
                        self.member();
                        self.path.pop();
                    }
                    Ok(())
                } else {
                    self.member();
                    Ok(())
                }
            }
            _ => {
                self.member();
                Ok(())
            }
        }
    }

    fn walk_list_map(&mut self, items: &[Value], key_fields: &[&str]) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (index, item) in items.iter().enumerate() {
            let key = match path::item_key(item, key_fields) {
                Ok(key) => key,
                Err(_) if !self.strict => continue,
                Err(KeyError::NotAMap) => {
                    return Err(format!(
                        "{}: element {index}: associative list with keys may not have \
                         non-map elements",
                        path::display(&self.path)
                    ));
                }
                Err(KeyError::Missing(field)) => {
                    return Err(format!(
                        "{}: element {index}: associative list with keys has an element that \
                         omits key field {} (and doesn't have default value)",
                        path::display(&self.path),
                        Value::String(field)
                    ));
                }
            };
            let element = PathElement::Key(key);
            if !seen.insert(element.clone()) {
                if self.strict {
                    return Err(format!(
                        "{}: duplicate entries for key {element}",
                        path::display(&self.path)
                    ));
                }
                continue;
            }
            self.path.push(element);
            self.member();
            self.walk(item)?;
            self.path.pop();
        }
        Ok(())
    }
}
