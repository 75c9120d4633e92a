//! `metadata.managedFields` entries: decoding them from an object, writing them back in kube's
//! order, and capping the number of `Update` entries as kube-apiserver does.

use serde_json::{Map, Value};

use crate::fieldset::FieldSet;

/// The `operation` of entries written by server-side apply.
pub(crate) const APPLY: &str = "Apply";
/// The `operation` of entries written by every other write.
pub(crate) const UPDATE: &str = "Update";
/// Most `Update` entries an object keeps; older ones are merged into [`ANCIENT_CHANGES`].
pub(crate) const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager that the oldest `Update` entries are merged into past [`MAX_UPDATE_MANAGERS`].
const ANCIENT_CHANGES: &str = "ancient-changes";

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The field manager's name.
    pub(crate) manager: String,
    /// [`APPLY`] or [`UPDATE`].
    pub(crate) operation: String,
    /// The apiVersion the write was made with.
    pub(crate) api_version: String,
    /// When the entry last took fields (RFC3339), if recorded.
    pub(crate) time: Option<String>,
    /// The subresource the write went to, if any.
    pub(crate) subresource: Option<String>,
    /// The fields the manager owns.
    pub(crate) fields: FieldSet,
}

impl Entry {
    /// Whether this is the entry of (`manager`, `operation`, `subresource`).
    pub(crate) fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// The entry as JSON.
    pub(crate) fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), Value::String(self.manager.clone()));
        map.insert("operation".into(), Value::String(self.operation.clone()));
        map.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            map.insert("time".into(), Value::String(time.clone()));
        }
        map.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        map.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            map.insert("subresource".into(), Value::String(subresource.clone()));
        }
        Value::Object(map)
    }

    /// Parses one entry; `None` when it is malformed.
    fn from_value(value: &Value) -> Option<Self> {
        let map = value.as_object()?;
        let text = |name: &str| -> Option<Option<String>> {
            match map.get(name) {
                None | Some(Value::Null) => Some(None),
                Some(Value::String(s)) => Some(Some(s.clone())),
                Some(_) => None,
            }
        };
        if !matches!(text("fieldsType")?.as_deref(), None | Some("FieldsV1")) {
            return None;
        }
        let fields = match map.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(fields) => FieldSet::from_fields_v1(fields)?,
        };
        Some(Self {
            manager: text("manager")?.unwrap_or_default(),
            operation: text("operation")?.unwrap_or_default(),
            api_version: text("apiVersion")?.unwrap_or_default(),
            time: text("time")?,
            subresource: text("subresource")?.filter(|s| !s.is_empty()),
            fields,
        })
    }

    /// The entry without its time, for telling whether a write changed ownership.
    pub(crate) fn timeless(&self) -> Self {
        Self {
            time: None,
            ..self.clone()
        }
    }
}

/// The raw `metadata.managedFields` of `object`.
fn raw(object: &Value) -> Option<&Value> {
    object.get("metadata")?.get("managedFields")
}

/// Decodes `object`'s entries: `Some(vec![])` when it has none, `None` when they are malformed.
/// Entries for the same (manager, operation, subresource) are merged.
pub(crate) fn decode(object: &Value) -> Option<Vec<Entry>> {
    let items = match raw(object) {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    let mut entries: Vec<Entry> = Vec::new();
    for item in items {
        let entry = Entry::from_value(item)?;
        let existing = entries.iter_mut().find(|e| {
            e.is(
                &entry.manager,
                &entry.operation,
                entry.subresource.as_deref(),
            )
        });
        match existing {
            Some(existing) => existing.fields = existing.fields.union(&entry.fields),
            None => entries.push(entry),
        }
    }
    Some(entries)
}

/// Decodes `object`'s entries, dropping malformed ones instead of failing.
pub(crate) fn decode_lenient(object: &Value) -> Vec<Entry> {
    decode(object).unwrap_or_else(|| match raw(object) {
        Some(Value::Array(items)) => items.iter().filter_map(Entry::from_value).collect(),
        _ => Vec::new(),
    })
}

/// Whether `object` asks for its managed fields to be reset: `managedFields: [{}]`.
pub(crate) fn is_reset(object: &Value) -> bool {
    matches!(raw(object), Some(Value::Array(items))
        if items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty))
}

/// Drops empty entries and sorts the rest as kube does: by operation, time, manager,
/// apiVersion, subresource.
pub(crate) fn normalize(entries: &mut Vec<Entry>) {
    entries.retain(|entry| !entry.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
}

/// Writes `entries` to `object.metadata.managedFields` (normalized), or removes the field when
/// none are left.
pub(crate) fn write(object: &mut Value, mut entries: Vec<Entry>) {
    normalize(&mut entries);
    let Some(root) = object.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        if let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
        return;
    }
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    if let Some(metadata) = metadata.as_object_mut() {
        let list = entries.iter().map(Entry::to_value).collect();
        metadata.insert("managedFields".into(), Value::Array(list));
    }
}

/// Keeps at most ten `Update` entries by merging the oldest into an `ancient-changes` entry, as
/// kube-apiserver does (simplified: one bucket, carrying the newest merged entry's apiVersion).
pub(crate) fn cap_updates(entries: &mut Vec<Entry>) {
    let mut updates: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == UPDATE && !entries[i].fields.is_empty())
        .collect();
    if updates.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updates.sort_by(|&a, &b| {
        (&entries[a].time, &entries[a].manager).cmp(&(&entries[b].time, &entries[b].manager))
    });
    // Merging `excess + 1` entries (an existing bucket first, then the oldest) into one bucket
    // leaves exactly the cap.
    let wanted = updates.len() - MAX_UPDATE_MANAGERS + 1;
    let mut merged: Vec<usize> = Vec::with_capacity(wanted);
    if let Some(at) = updates
        .iter()
        .position(|&i| entries[i].is(ANCIENT_CHANGES, UPDATE, None))
    {
        merged.push(updates.remove(at));
    }
    let missing = wanted - merged.len();
    merged.extend(updates.iter().take(missing));
    merged.sort_by(|&a, &b| entries[a].time.cmp(&entries[b].time));
    let mut bucket = Entry {
        manager: ANCIENT_CHANGES.to_owned(),
        operation: UPDATE.to_owned(),
        api_version: String::new(),
        time: None,
        subresource: None,
        fields: FieldSet::default(),
    };
    for &index in &merged {
        let entry = &entries[index];
        bucket.fields = bucket.fields.union(&entry.fields);
        bucket.api_version.clone_from(&entry.api_version);
        bucket.time.clone_from(&entry.time);
    }
    let mut index = 0;
    entries.retain(|_| {
        let keep = !merged.contains(&index);
        index += 1;
        keep
    });
    entries.push(bucket);
}
