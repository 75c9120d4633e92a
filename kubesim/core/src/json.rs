//! Small helpers for reading and writing Kubernetes objects held as
//! `serde_json::Value`: field access, conditions, timestamps, stable hashes
//! and the deterministic "random-looking" name suffixes.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// Alphabet Kubernetes uses for generated names and hashes (no vowels, no
/// confusable digits).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The value at a path of object keys.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

/// The string at a path of object keys.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// The non-empty string at a path of object keys.
pub(crate) fn nonempty_str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    str_at(v, path).filter(|s| !s.is_empty())
}

/// The integer at a path of object keys.
pub(crate) fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// The boolean at a path, `false` when absent.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at a path, empty when absent.
pub(crate) fn array_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Sets the value at a path of object keys, turning anything on the way that
/// is not an object into an empty object (never panics).
pub(crate) fn set(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for key in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry((*key).to_owned()).or_insert(Value::Null);
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(map) = cur {
        map.insert((*last).to_owned(), value);
    }
}

/// `metadata.name`, empty when absent.
pub(crate) fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.namespace`, `default` when absent.
pub(crate) fn namespace(obj: &Value) -> &str {
    nonempty_str_at(obj, &["metadata", "namespace"]).unwrap_or("default")
}

/// A label value.
pub(crate) fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    at(obj, &["metadata", "labels", key]).and_then(Value::as_str)
}

/// `metadata.generation`, when positive.
pub(crate) fn generation(obj: &Value) -> Option<i64> {
    i64_at(obj, &["metadata", "generation"]).filter(|g| *g > 0)
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_terminating(obj: &Value) -> bool {
    at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

/// The `status.conditions` entry of the given type.
pub(crate) fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    array_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// Whether the condition of the given type has status `True`.
pub(crate) fn condition_true(obj: &Value, kind: &str) -> bool {
    condition(obj, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

/// Parses an RFC 3339 timestamp value.
pub(crate) fn parse_time(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// Formats a timestamp the way `metav1.Time` serializes: whole seconds, UTC.
pub(crate) fn format_time(ts: Timestamp) -> String {
    Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

/// Writes `v` as JSON with object keys sorted, so the text (and its hash)
/// does not depend on map ordering.
pub(crate) fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// 32-bit FNV-1a.
pub(crate) fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// 64-bit FNV-1a.
pub(crate) fn fnv64a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Maps each byte onto the safe alphabet, like Kubernetes' `SafeEncodeString`.
fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The hash of a pod template, formatted like Kubernetes' `pod-template-hash`
/// and `controller-revision-hash` (FNV-32a, decimal, safe-encoded: up to 10
/// characters).
pub(crate) fn template_hash(template: Option<&Value>) -> String {
    let mut text = String::new();
    canonical_json(template.unwrap_or(&Value::Null), &mut text);
    safe_encode(&fnv32a(text.as_bytes()).to_string())
}

/// A five-character suffix that looks like `rand.String(5)` but is derived
/// from `seed` and `counter`.
pub(crate) fn name_suffix(seed: &str, counter: u64) -> String {
    let mut h = fnv64a(format!("{seed}#{counter}").as_bytes());
    let base = ALPHANUMS.len() as u64;
    (0..5)
        .map(|_| {
            let c = ALPHANUMS[(h % base) as usize];
            h /= base;
            char::from(c)
        })
        .collect()
}

/// Resolves an int-or-percent field against `total`, like Kubernetes'
/// `GetScaledValueFromIntOrPercent`; `default` (`"25%"` or `"1"`) is used
/// when the field is absent or invalid.
pub(crate) fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let resolve = |s: &str| -> Option<i64> {
        let Some(pct) = s.strip_suffix('%') else {
            return s.parse().ok();
        };
        let scaled = total.checked_mul(pct.parse().ok()?)?;
        Some(if round_up {
            (scaled + 99).div_euclid(100)
        } else {
            scaled.div_euclid(100)
        })
    };
    let fallback = || resolve(default).unwrap_or(0);
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or_else(fallback),
        Some(Value::String(s)) => resolve(s).unwrap_or_else(fallback),
        _ => fallback(),
    }
}

/// Builds a status condition; pod and job conditions carry `lastProbeTime`,
/// workload conditions carry `lastUpdateTime`.
pub(crate) struct Cond<'a> {
    /// Condition type.
    pub(crate) kind: &'a str,
    /// `True`, `False` or `Unknown`.
    pub(crate) status: &'a str,
    /// Machine-readable reason, omitted when empty.
    pub(crate) reason: &'a str,
    /// Human-readable message, omitted when empty.
    pub(crate) message: &'a str,
}

/// Which extra timestamp a condition kind carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CondStyle {
    /// `lastProbeTime` (jobs).
    Probe,
    /// `lastUpdateTime` (deployments).
    Update,
}

/// Builds `cond`, keeping timestamps from the matching condition in
/// `previous` (an object's old status): `lastTransitionTime` is kept while the
/// status is unchanged, and the whole condition is kept when reason and
/// message are unchanged too.
pub(crate) fn merge_condition(
    previous: Option<&Value>,
    cond: &Cond<'_>,
    style: CondStyle,
    now: Timestamp,
) -> Value {
    let now_s = format_time(now);
    let old = previous
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(cond.kind))
        });
    let field = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let same_status = old.is_some_and(|c| field(c, "status") == cond.status);
    let same_all = same_status
        && old.is_some_and(|c| {
            field(c, "reason") == cond.reason && field(c, "message") == cond.message
        });
    let transition = match old {
        Some(c) if same_status => c.get("lastTransitionTime").cloned().unwrap_or(json!(now_s)),
        _ => json!(now_s),
    };
    let mut out = Map::new();
    out.insert("type".into(), json!(cond.kind));
    out.insert("status".into(), json!(cond.status));
    match style {
        CondStyle::Probe => {
            let probe = match old {
                Some(c) if same_all => c.get("lastProbeTime").cloned().unwrap_or(json!(now_s)),
                _ => json!(now_s),
            };
            out.insert("lastProbeTime".into(), probe);
        }
        CondStyle::Update => {
            let update = match old {
                Some(c) if same_all => c.get("lastUpdateTime").cloned().unwrap_or(json!(now_s)),
                _ => json!(now_s),
            };
            out.insert("lastUpdateTime".into(), update);
        }
    }
    out.insert("lastTransitionTime".into(), transition);
    if !cond.reason.is_empty() {
        out.insert("reason".into(), json!(cond.reason));
    }
    if !cond.message.is_empty() {
        out.insert("message".into(), json!(cond.message));
    }
    Value::Object(out)
}

/// Inserts `key: n` unless `n` is zero (Go's `omitempty`).
pub(crate) fn put_nonzero(map: &mut Map<String, Value>, key: &str, n: i64) {
    if n != 0 {
        map.insert(key.to_owned(), json!(n));
    }
}
