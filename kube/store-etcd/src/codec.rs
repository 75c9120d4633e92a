//! What is stored in etcd and what the store trait hands out: objects are stored without
//! `metadata.resourceVersion` (etcd assigns the revision only when the write commits, as
//! kube-apiserver's etcd3 storage does) and stamped with their modification revision on the way
//! out. Pure functions over bytes and JSON values, tested without etcd.

use bytes::Bytes;
use cceone_kube_store::{Revision, StoreError};
use serde_json::{Map, Value};

/// The object's `metadata` map, created when absent or null; InvalidObject otherwise.
fn metadata(obj: &mut Value) -> Result<&mut Map<String, Value>, StoreError> {
    let Value::Object(fields) = obj else {
        return Err(StoreError::InvalidObject("not a JSON object".into()));
    };
    let meta = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(meta) => Ok(meta),
        _ => Err(StoreError::InvalidObject(
            "metadata is not a JSON object".into(),
        )),
    }
}

fn serialize(obj: &Value) -> Result<Bytes, StoreError> {
    serde_json::to_vec(obj)
        .map(Bytes::from)
        .map_err(|e| StoreError::InvalidObject(e.to_string()))
}

/// The storage form of `obj`: validated like the embedded store (a JSON object whose metadata,
/// if any, is an object), with `metadata.resourceVersion` removed. Returns the object as it will
/// be read back (for [`stamp`]) and the bytes to store.
pub(crate) fn prepare(mut obj: Value) -> Result<(Value, Bytes), StoreError> {
    // The object handed back after the write is stamped from this very value, whose field order
    // is that of the stored bytes, so it serializes exactly as a later read of them does.
    metadata(&mut obj)?.remove("resourceVersion");
    let stored = serialize(&obj)?;
    Ok((obj, stored))
}

/// Sets `metadata.resourceVersion` of a prepared object to `revision` and serializes it.
pub(crate) fn stamp(obj: &mut Value, revision: Revision) -> Result<Bytes, StoreError> {
    metadata(obj)?.insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
    serialize(obj)
}

/// Stamps stored bytes with `revision`. Bytes that are not a JSON object (written by someone
/// else) are handed out unchanged, with a warning: one bad key must not fail every list.
pub(crate) fn stamp_bytes(stored: &[u8], revision: Revision) -> Bytes {
    let stamped = serde_json::from_slice::<Value>(stored)
        .map_err(|e| StoreError::InvalidObject(e.to_string()))
        .and_then(|mut obj| stamp(&mut obj, revision));
    match stamped {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, revision, "stored value is not a JSON object; handed out as stored");
            Bytes::copy_from_slice(stored)
        }
    }
}

/// The end of the etcd range holding every key that starts with `prefix` (etcd's
/// `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented; `\0` (every key
/// from the start) when there is none.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// An etcd revision (non-negative for any key or header etcd returns) as a store revision.
pub(crate) fn revision(r: i64) -> Revision {
    Revision::try_from(r).unwrap_or(0)
}

/// A store revision as an etcd revision (saturating: no etcd revision is that high).
pub(crate) fn etcd_revision(r: Revision) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn prepare_strips_and_stamp_restores_identically() {
        let obj =
            json!({"kind": "X", "metadata": {"name": "a", "resourceVersion": "7", "uid": "u"}});
        let (mut prepared, stored) = prepare(obj).unwrap();
        let stored_v: Value = serde_json::from_slice(&stored).unwrap();
        assert!(stored_v["metadata"].get("resourceVersion").is_none());
        assert_eq!(stored_v["metadata"]["uid"], "u");
        let written = stamp(&mut prepared, 12).unwrap();
        let read = stamp_bytes(&stored, 12);
        assert_eq!(
            written, read,
            "write result and later read are byte-identical"
        );
        let v: Value = serde_json::from_slice(&read).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "12");
    }

    #[test]
    fn invalid_objects_are_refused() {
        for bad in [json!([1]), json!("x"), json!({"metadata": 3})] {
            assert!(matches!(prepare(bad), Err(StoreError::InvalidObject(_))));
        }
        let (mut bare, _) = prepare(json!({"metadata": null})).unwrap();
        let v: Value = serde_json::from_slice(&stamp(&mut bare, 3).unwrap()).unwrap();
        assert_eq!(v, json!({"metadata": {"resourceVersion": "3"}}));
    }

    #[test]
    fn foreign_bytes_pass_through() {
        assert_eq!(stamp_bytes(b"not json", 4), Bytes::from_static(b"not json"));
        assert_eq!(stamp_bytes(b"[1]", 4), Bytes::from_static(b"[1]"));
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/registry/a"), b"/registry/b");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn revision_conversions_saturate() {
        assert_eq!(revision(-1), 0);
        assert_eq!(revision(5), 5);
        assert_eq!(etcd_revision(u64::MAX), i64::MAX);
    }
}
