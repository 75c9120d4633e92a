//! Shared helpers: column constructors, lenient JSON accessors, timestamps
//! and the label / selector / container formatting the upstream printers use.

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::duration::human_duration;

/// `ObjectMeta.name` swagger doc, the description of every `Name` column.
pub(crate) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `ObjectMeta.creationTimestamp` swagger doc, the description of `Age` columns.
pub(crate) const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// Description of the wide `Containers` columns.
pub(crate) const CONTAINERS_DESC: &str = "Names of each container in the template.";

/// Description of the wide `Images` columns.
pub(crate) const IMAGES_DESC: &str = "Images referenced by each container in the template.";

/// A priority-0 column.
pub(crate) fn col(name: &str, type_: &str, description: &str) -> Column {
    Column {
        name: name.to_owned(),
        type_: type_.to_owned(),
        format: String::new(),
        description: description.to_owned(),
        priority: 0,
    }
}

/// A priority-1 (`-o wide`) column.
pub(crate) fn wide(name: &str, type_: &str, description: &str) -> Column {
    Column {
        priority: 1,
        ..col(name, type_, description)
    }
}

/// The `Name` column (format `name`).
pub(crate) fn name_column() -> Column {
    Column {
        format: "name".to_owned(),
        ..col("Name", "string", NAME_DESC)
    }
}

/// The `Age` column (a string cell holding a human duration).
pub(crate) fn age_column() -> Column {
    col("Age", "string", AGE_DESC)
}

/// The value at a path of object keys, if every step is present.
pub(crate) fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

/// The string at `path`, if present and a string.
pub(crate) fn opt_str<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// The string at `path`, or `""` (Go's zero value).
pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    opt_str(obj, path).unwrap_or("")
}

/// The non-empty string at `path`, or `default`.
pub(crate) fn str_or<'a>(obj: &'a Value, path: &[&str], default: &'a str) -> &'a str {
    match opt_str(obj, path) {
        Some(s) if !s.is_empty() => s,
        _ => default,
    }
}

/// The integer at `path`, if present and integral.
pub(crate) fn opt_int(obj: &Value, path: &[&str]) -> Option<i64> {
    let v = at(obj, path)?;
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// The integer at `path`, or 0 (Go's zero value).
pub(crate) fn int_at(obj: &Value, path: &[&str]) -> i64 {
    opt_int(obj, path).unwrap_or(0)
}

/// The bool at `path`, or false.
pub(crate) fn bool_at(obj: &Value, path: &[&str]) -> bool {
    at(obj, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(crate) fn arr_at<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The number of keys of the object at `path` (0 when absent).
pub(crate) fn len_obj(obj: &Value, path: &[&str]) -> usize {
    at(obj, path)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

/// `metadata.name` as a string cell.
pub(crate) fn name(obj: &Value) -> Value {
    Value::from(str_at(obj, &["metadata", "name"]))
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn deleting(obj: &Value) -> bool {
    at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

/// Parses a `metav1.Time` / `MicroTime` JSON value; None when absent, null,
/// empty (the zero time) or unparsable.
pub(crate) fn parse_time(v: Option<&Value>) -> Option<Timestamp> {
    let s = v?.as_str()?;
    if s.is_empty() {
        return None;
    }
    s.parse().ok().filter(|t| !is_go_zero(*t))
}

/// Whether `t` is Go's zero `time.Time` (0001-01-01T00:00:00Z), which
/// metav1.Time treats as unset.
pub(crate) fn is_go_zero(t: Timestamp) -> bool {
    // Seconds from 0001-01-01T00:00:00Z to the Unix epoch.
    const GO_ZERO_UNIX_SECONDS: i64 = -62_135_596_800;
    t.as_second() == GO_ZERO_UNIX_SECONDS && t.subsec_nanosecond() == 0
}

/// Human duration from `t` to `now`.
pub(crate) fn since(t: Timestamp, now: Timestamp) -> String {
    human_duration(now.duration_since(t))
}

/// Upstream `translateTimestampSince`: the age of a timestamp value, or
/// `<unknown>` for the zero time.
pub(crate) fn translate(v: Option<&Value>, now: Timestamp) -> String {
    parse_time(v).map_or_else(|| "<unknown>".to_owned(), |t| since(t, now))
}

/// The `Age` cell: age of `metadata.creationTimestamp`.
pub(crate) fn age(obj: &Value, now: Timestamp) -> Value {
    Value::from(translate(at(obj, &["metadata", "creationTimestamp"]), now))
}

/// Upstream `labels.FormatLabels`: sorted `k=v` joined by `,`, or `<none>`.
pub(crate) fn format_labels(v: Option<&Value>) -> String {
    let mut pairs: Vec<String> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

/// Upstream `LabelSelectorAsSelector(..).String()`: `Ok("")` for a missing
/// (nothing) or empty (everything) selector, `Err` for an invalid one.
pub(crate) fn label_selector_string(v: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = v.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for expr in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, &["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(());
                }
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" if values.is_empty() => key.to_owned(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_owned(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(","))
}

/// Upstream `metav1.FormatLabelSelector`: the selector string, `<none>` when
/// empty, `<error>` when invalid.
pub(crate) fn format_label_selector(v: Option<&Value>) -> String {
    match label_selector_string(v) {
        Ok(s) if s.is_empty() => "<none>".to_owned(),
        Ok(s) => s,
        Err(()) => "<error>".to_owned(),
    }
}

/// Upstream `layoutContainerCells`: container names and images, each joined
/// by `,`, as two string cells.
pub(crate) fn container_cells(containers: &[Value]) -> [Value; 2] {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    [Value::from(names.join(",")), Value::from(images.join(","))]
}

/// The status of the first condition of `type_` in `conditions`.
pub(crate) fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .map(|c| str_at(c, &["status"]))
}

/// Go's `sets.NewString(..).List()` joined: sorted, de-duplicated.
pub(crate) fn sorted_unique_join(mut items: Vec<String>, sep: &str) -> String {
    items.sort();
    items.dedup();
    items.join(sep)
}
