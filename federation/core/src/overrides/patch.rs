//! The subset of RFC 6902 JSON Patch the overriders produce (`add`, `remove`, `replace`) with
//! RFC 6901 pointers, applied as `evanphx/json-patch` does for Karmada: a missing parent,
//! key or index is an error and the whole patch is then discarded.

use serde_json::Value;

/// One patch operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Op {
    pub(crate) op: String,
    pub(crate) path: String,
    pub(crate) value: Option<Value>,
}

impl Op {
    pub(crate) fn new(op: &str, path: impl Into<String>, value: Option<Value>) -> Self {
        Op {
            op: op.to_string(),
            path: path.into(),
            value,
        }
    }
}

/// Why an operation does not apply: `(op, path, reason)`.
pub(crate) type PatchFailure = (String, String, String);

/// Applies all operations to a copy of the document, replacing it only if every one applied.
pub(crate) fn apply(doc: &mut Value, ops: &[Op]) -> Result<(), PatchFailure> {
    let mut work = doc.clone();
    for op in ops {
        apply_one(&mut work, op).map_err(|reason| (op.op.clone(), op.path.clone(), reason))?;
    }
    *doc = work;
    Ok(())
}

/// The reference tokens of a pointer (`""` is the whole document).
pub(crate) fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| "JSON pointer must be empty or start with a \"/\"".to_string())?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let i: usize = token
        .parse()
        .map_err(|_| format!("invalid array index {token:?}"))?;
    if i < len || (allow_end && i == len) {
        Ok(i)
    } else {
        Err(format!("array index {i} out of bounds"))
    }
}

fn apply_one(doc: &mut Value, op: &Op) -> Result<(), String> {
    let toks = tokens(&op.path)?;
    let value = || op.value.clone().ok_or_else(|| "missing value".to_string());
    let Some((last, parents)) = toks.split_last() else {
        return match op.op.as_str() {
            "add" | "replace" => {
                *doc = value()?;
                Ok(())
            }
            "remove" => Err("cannot remove the whole document".into()),
            other => Err(format!("unsupported operation {other:?}")),
        };
    };
    let mut parent = &mut *doc;
    for t in parents {
        parent = match parent {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("doc is missing path: missing key {t:?}"))?,
            Value::Array(a) => {
                let i = index(t, a.len(), false)?;
                &mut a[i]
            }
            _ => {
                return Err(format!(
                    "doc is missing path: {t:?} is not in an object or array"
                ));
            }
        };
    }
    match (op.op.as_str(), parent) {
        ("add", Value::Object(m)) => {
            m.insert(last.clone(), value()?);
        }
        ("add", Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                index(last, a.len(), true)?
            };
            a.insert(i, value()?);
        }
        ("remove", Value::Object(m)) => {
            m.remove(last)
                .ok_or_else(|| format!("unable to remove nonexistent key: {last}"))?;
        }
        ("remove", Value::Array(a)) => {
            let i = index(last, a.len(), false)?;
            a.remove(i);
        }
        ("replace", Value::Object(m)) => {
            let slot = m.get_mut(last).ok_or_else(|| {
                format!("replace operation does not apply: doc is missing key: {last}")
            })?;
            *slot = value()?;
        }
        ("replace", Value::Array(a)) => {
            let i = index(last, a.len(), false)?;
            a[i] = value()?;
        }
        ("add" | "remove" | "replace", _) => {
            return Err("doc is missing path: parent is not an object or array".into());
        }
        (other, _) => return Err(format!("unsupported operation {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_remove_replace() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c/d": 1});
        let ops = [
            Op::new("add", "/a/b/-", Some(json!(3))),
            Op::new("add", "/a/b/0", Some(json!(0))),
            Op::new("replace", "/c~1d", Some(json!(2))),
            Op::new("remove", "/a/b/1", None),
            Op::new("add", "/a/e", Some(json!("x"))),
        ];
        apply(&mut doc, &ops).map_err(|e| e.2).unwrap_or_default();
        assert_eq!(doc, json!({"a": {"b": [0, 2, 3], "e": "x"}, "c/d": 2}));
    }

    #[test]
    fn failures_leave_the_document_alone() {
        let mut doc = json!({"a": 1});
        let before = doc.clone();
        for op in [
            Op::new("replace", "/b", Some(json!(1))),
            Op::new("remove", "/b", None),
            Op::new("add", "/x/y", Some(json!(1))),
            Op::new("add", "a", Some(json!(1))),
            Op::new("add", "/z", None),
            Op::new("move", "/a", None),
        ] {
            let ops = [Op::new("add", "/ok", Some(json!(1))), op];
            assert!(apply(&mut doc, &ops).is_err());
            assert_eq!(doc, before);
        }
    }
}
