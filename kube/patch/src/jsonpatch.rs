//! RFC 6902 JSON patch: a list of `add`, `remove`, `replace`, `move`, `copy` and `test`
//! operations addressed by RFC 6901 JSON pointers.
//!
//! Behaviour follows the RFC and, where the RFC leaves room, the `evanphx/json-patch` library
//! that Kubernetes uses: the `-` array index appends, negative array indices count from the end,
//! members other than `op`, `path`, `from` and `value` are ignored, and the patch is atomic (it
//! is applied to a copy, so an error leaves the caller's document untouched).

use serde_json::{Map, Value};

use crate::equal::json_eq;
use crate::error::PatchError;

#[cfg(test)]
mod tests;

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`; `-` array
/// index; `~0`/`~1` escapes) and returns the patched document.
///
/// Atomic: the operations run on a copy, so on error nothing of `doc` has changed.
///
/// # Errors
/// [`PatchError::Invalid`] if `patch` is not an array of well-formed operations (unknown op,
/// missing member, malformed pointer, move into its own child); [`PatchError::Failed`] if a
/// `test` op fails or a path that must exist does not.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::Invalid(
            "a JSON patch must be an array of operations".into(),
        ));
    };
    let mut out = doc.clone();
    for (index, op) in ops.iter().enumerate() {
        let Value::Object(op) = op else {
            return Err(PatchError::Invalid(format!(
                "operation {index} is not a JSON object"
            )));
        };
        apply_op(&mut out, op, index)?;
    }
    Ok(out)
}

/// Runs one operation against `doc`, prefixing errors with the operation's index and path.
fn apply_op(doc: &mut Value, op: &Map<String, Value>, index: usize) -> Result<(), PatchError> {
    let name = str_member(op, "op", index)?;
    let path_text = str_member(op, "path", index)?;
    let context = |e: PatchError| match e {
        PatchError::Invalid(m) => {
            PatchError::Invalid(format!("operation {index} ({name} {path_text:?}): {m}"))
        }
        PatchError::Failed(m) => {
            PatchError::Failed(format!("operation {index} ({name} {path_text:?}): {m}"))
        }
    };
    let path = parse_pointer(path_text).map_err(context)?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| PatchError::Invalid("missing member \"value\"".into()))
    };
    let from = || {
        op.get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Invalid("missing string member \"from\"".into()))
            .and_then(parse_pointer)
    };
    let result = match name {
        "add" => value().and_then(|v| add(doc, &path, v)),
        "remove" => remove(doc, &path).map(drop),
        "replace" => value().and_then(|v| replace(doc, &path, v)),
        "move" => from().and_then(|from| move_value(doc, &from, &path)),
        "copy" => from().and_then(|from| {
            let v = get(doc, &from)
                .cloned()
                .ok_or_else(|| missing("from", &from))?;
            add(doc, &path, v)
        }),
        "test" => value().and_then(|v| match get(doc, &path) {
            None => Err(missing("path", &path)),
            Some(actual) if json_eq(actual, &v) => Ok(()),
            Some(actual) => Err(PatchError::Failed(format!(
                "test failed: found {actual}, expected {v}"
            ))),
        }),
        other => Err(PatchError::Invalid(format!("unknown op {other:?}"))),
    };
    result.map_err(context)
}

/// The string member `key` of an operation, or an `Invalid` error naming the operation.
fn str_member<'a>(
    op: &'a Map<String, Value>,
    key: &str,
    index: usize,
) -> Result<&'a str, PatchError> {
    op.get(key).and_then(Value::as_str).ok_or_else(|| {
        PatchError::Invalid(format!("operation {index} has no string member {key:?}"))
    })
}

/// Splits an RFC 6901 pointer into unescaped reference tokens (`""` is the whole document).
pub(crate) fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::Invalid(format!(
            "JSON pointer {pointer:?} does not start with '/'"
        )));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(PatchError::Invalid(format!(
                                "JSON pointer {pointer:?} has a '~' not followed by '0' or '1'"
                            )));
                        }
                    },
                    c => out.push(c),
                }
            }
            Ok(out)
        })
        .collect()
}

/// Renders tokens back into a pointer for messages.
fn render(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The `Failed` error for a pointer (`what` is `path` or `from`) that names nothing.
fn missing(what: &str, tokens: &[String]) -> PatchError {
    PatchError::Failed(format!("{what} {:?} does not exist", render(tokens)))
}

/// Resolves an array index token against an array of `len` items. `-` means one past the end
/// and is only allowed when `for_insert`; negative indices count from the end. Returns `None`
/// when out of range or not a number.
fn array_index(token: &str, len: usize, for_insert: bool) -> Option<usize> {
    if token == "-" {
        return for_insert.then_some(len);
    }
    if token.is_empty()
        || !token
            .trim_start_matches(['-', '+'])
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let index: i64 = token.parse().ok()?;
    let len_i = i64::try_from(len).ok()?;
    let index = if index < 0 { index + len_i } else { index };
    let limit = if for_insert { len_i } else { len_i - 1 };
    (0..=limit)
        .contains(&index)
        .then(|| usize::try_from(index).ok())
        .flatten()
}

/// The value a pointer names, if any.
fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token, items.len(), false)?),
        _ => None,
    })
}

/// Mutable access to the value a pointer names, if any.
fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let index = array_index(token, items.len(), false)?;
            items.get_mut(index)
        }
        _ => None,
    })
}

/// The `add` operation: set an object member or insert into an array; the root is replaced.
fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), PatchError> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent_tokens) {
        Some(Value::Object(map)) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index = array_index(last, items.len(), true).ok_or_else(|| {
                PatchError::Failed(format!(
                    "array index {last:?} is out of range for an array of {} items",
                    items.len()
                ))
            })?;
            items.insert(index, value);
            Ok(())
        }
        Some(_) => Err(PatchError::Failed(format!(
            "{:?} is neither an object nor an array",
            render(parent_tokens)
        ))),
        None => Err(missing("path", parent_tokens)),
    }
}

/// The `remove` operation; returns the removed value.
fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, PatchError> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(PatchError::Failed(
            "cannot remove the whole document".into(),
        ));
    };
    let removed = match get_mut(doc, parent_tokens) {
        Some(Value::Object(map)) => map.remove(last),
        Some(Value::Array(items)) => {
            array_index(last, items.len(), false).map(|index| items.remove(index))
        }
        _ => None,
    };
    removed.ok_or_else(|| missing("path", tokens))
}

/// The `replace` operation: the target must exist.
fn replace(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), PatchError> {
    let target = get_mut(doc, tokens).ok_or_else(|| missing("path", tokens))?;
    *target = value;
    Ok(())
}

/// The `move` operation: remove at `from`, add at `to`.
fn move_value(doc: &mut Value, from: &[String], to: &[String]) -> Result<(), PatchError> {
    if to.len() > from.len() && to.starts_with(from) {
        return Err(PatchError::Invalid(format!(
            "cannot move {:?} into its own child",
            render(from)
        )));
    }
    if from == to {
        return get(doc, from)
            .map(drop)
            .ok_or_else(|| missing("from", from));
    }
    let value = remove(doc, from).map_err(|_| missing("from", from))?;
    add(doc, to, value)
}
