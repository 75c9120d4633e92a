//! A JSON parser into `serde_json::Value` that also reports duplicate object keys by field path
//! (`spec.replicas`, `spec.containers[0].name`), as sigs.k8s.io/json's strict decoding does for
//! kube-apiserver. The path is only rendered when a duplicate is found, so the common case
//! costs what `serde_json::from_slice` does.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

/// Parses `raw` as one JSON value; the second element lists the duplicate fields found (the
/// last occurrence wins, as in upstream's decoder).
pub(crate) fn parse(raw: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let mut duplicates = Vec::new();
    let v = Seed {
        path: &Path::Root,
        duplicates: &mut duplicates,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((v, duplicates))
}

/// Where a value sits, as a linked list up to the root; rendered only on demand, as upstream
/// names fields (`spec.containers[0].name`).
pub(super) enum Path<'a> {
    /// The document itself.
    Root,
    /// A field of the parent.
    Key(&'a Path<'a>, &'a str),
    /// An item of the parent list.
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct Seed<'p, 'd> {
    path: &'p Path<'p>,
    duplicates: &'d mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let path = Path::Index(self.path, items.len());
            let seed = Seed {
                path: &path,
                duplicates: &mut *self.duplicates,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = Path::Key(self.path, &key);
            let v = access.next_value_seed(Seed {
                path: &path,
                duplicates: &mut *self.duplicates,
            })?;
            match map.entry(key) {
                Entry::Vacant(e) => {
                    e.insert(v);
                }
                Entry::Occupied(mut e) => {
                    self.duplicates
                        .push(Path::Key(self.path, e.key()).to_string());
                    e.insert(v);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_duplicates_by_path_and_keeps_the_last() {
        let raw = br#"{"spec": {"replicas": 1, "replicas": 2, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b", "name": "c"}]}}}, "kind": "X"}"#;
        let (v, dups) = parse(raw).unwrap();
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(v["spec"]["template"]["spec"]["containers"][1]["name"], "c");
        assert_eq!(
            dups,
            vec!["spec.replicas", "spec.template.spec.containers[1].name"]
        );
    }

    #[test]
    fn same_value_as_serde_json_without_duplicates() {
        let raw = br#"{"a": [1, -2, 3.5, true, null, "s", {"b": {}}], "c": 18446744073709551615}"#;
        let (v, dups) = parse(raw).unwrap();
        assert!(dups.is_empty());
        assert_eq!(v, serde_json::from_slice::<Value>(raw).unwrap());
        assert!(parse(b"{\"a\": 1} x").is_err());
        assert!(parse(b"{\"a\": ").is_err());
    }
}
