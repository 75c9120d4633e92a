//! Decoding of one message into its Kubernetes JSON form, following what Go's `encoding/json`
//! prints for the Go struct the message was generated from:
//!
//! - a value (non-pointer) scalar absent from the wire is its zero value; with `omitempty` a
//!   zero value is left out;
//! - a pointer, slice or map absent from the wire is nil: left out with `omitempty`, `null`
//!   without;
//! - a value struct is always printed (`omitempty` never applies to structs), so an absent one
//!   prints as its zero value (`{}`, `null` for a zero `metav1.Time`, `"0"` for a Quantity);
//! - an embedded struct (`json:",inline"`) contributes its fields to the enclosing object;
//! - map keys come out sorted (`serde_json` maps are ordered by key).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::descriptor::{Field, INLINE, LIST, MAP, Message, OMIT, PTR, Ty};
use crate::wire::{Reader, WireType};
use crate::{MAX_DEPTH, ProtoError};

/// What the wire held for one field of a message.
enum Slot {
    /// Nothing.
    Absent,
    /// A scalar (the last occurrence wins).
    Scalar(Value),
    /// A struct: the concatenated occurrences (protobuf merges repeated sub-messages).
    Struct(Vec<u8>),
    /// The elements of a repeated field.
    List(Vec<Value>),
    /// The entries of a map field (a later entry replaces an earlier one with the same key).
    Map(BTreeMap<String, Value>),
}

/// Decodes `buf` as `msg` into a JSON object.
pub(crate) fn message(
    msg: &'static Message,
    buf: &[u8],
    depth: u32,
) -> Result<Map<String, Value>, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep(MAX_DEPTH));
    }
    let mut slots: Vec<Slot> = msg.fields.iter().map(|_| Slot::Absent).collect();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (num, wire) = r.tag()?;
        match msg
            .field(num)
            .and_then(|(i, f)| Some((slots.get_mut(i)?, f)))
        {
            Some((slot, field)) => read_field(msg, field, wire, &mut r, slot, depth)?,
            // Unknown fields (newer API versions) are skipped.
            None => r.skip(wire)?,
        }
    }
    let mut out = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        let Some(value) = finish(msg, field, slot, depth)? else {
            continue;
        };
        if field.has(INLINE) {
            if let Value::Object(inner) = value {
                for (k, v) in inner {
                    out.entry(k).or_insert(v);
                }
            }
        } else {
            out.insert(field.json.to_owned(), value);
        }
    }
    Ok(out)
}

/// Reads one occurrence of `field` into its slot.
fn read_field(
    msg: &'static Message,
    field: &'static Field,
    wire: WireType,
    r: &mut Reader<'_>,
    slot: &mut Slot,
    depth: u32,
) -> Result<(), ProtoError> {
    if field.has(MAP) {
        expect(msg, field, wire, WireType::Len)?;
        let (key, value) = map_entry(msg, field, r.bytes()?, depth)?;
        if !matches!(slot, Slot::Map(_)) {
            *slot = Slot::Map(BTreeMap::new());
        }
        if let Slot::Map(map) = slot {
            map.insert(key, value);
        }
    } else if field.has(LIST) {
        if !matches!(slot, Slot::List(_)) {
            *slot = Slot::List(Vec::new());
        }
        let Slot::List(list) = slot else {
            return Ok(());
        };
        if field.ty.is_varint() && wire == WireType::Len {
            // A packed repeated field.
            let mut packed = Reader::new(r.bytes()?);
            while !packed.is_empty() {
                list.push(element(msg, field, WireType::Varint, &mut packed, depth)?);
            }
        } else {
            list.push(element(msg, field, wire, r, depth)?);
        }
    } else if field.ty.is_struct() {
        expect(msg, field, wire, WireType::Len)?;
        let bytes = r.bytes()?;
        match slot {
            Slot::Struct(buf) => buf.extend_from_slice(bytes),
            _ => *slot = Slot::Struct(bytes.to_vec()),
        }
    } else {
        *slot = Slot::Scalar(element(msg, field, wire, r, depth)?);
    }
    Ok(())
}

/// Reads one `map<string, _>` entry: `{1: key, 2: value}`.
fn map_entry(
    msg: &'static Message,
    field: &'static Field,
    buf: &[u8],
    depth: u32,
) -> Result<(String, Value), ProtoError> {
    let mut r = Reader::new(buf);
    let mut key = String::new();
    let mut value = None;
    while !r.is_empty() {
        match r.tag()? {
            (1, wire) => {
                expect(msg, field, wire, WireType::Len)?;
                key = utf8(msg, field, r.bytes()?)?;
            }
            (2, wire) => value = Some(element(msg, field, wire, &mut r, depth)?),
            (_, wire) => r.skip(wire)?,
        }
    }
    let value = match value {
        Some(v) => v,
        None => zero(msg, field, depth)?,
    };
    Ok((key, value))
}

/// Reads one value of the field's type.
fn element(
    msg: &'static Message,
    field: &'static Field,
    wire: WireType,
    r: &mut Reader<'_>,
    depth: u32,
) -> Result<Value, ProtoError> {
    let value = match field.ty {
        Ty::Bool => {
            expect(msg, field, wire, WireType::Varint)?;
            Value::Bool(r.varint()? != 0)
        }
        Ty::I32 => {
            expect(msg, field, wire, WireType::Varint)?;
            // int32 is sign-extended to 64 bits on the wire; truncation is the protobuf rule.
            Value::from(r.varint()? as i32)
        }
        Ty::I64 => {
            expect(msg, field, wire, WireType::Varint)?;
            Value::from(r.varint()? as i64)
        }
        Ty::Str => {
            expect(msg, field, wire, WireType::Len)?;
            Value::String(utf8(msg, field, r.bytes()?)?)
        }
        Ty::Bytes => {
            expect(msg, field, wire, WireType::Len)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(r.bytes()?))
        }
        _ => {
            expect(msg, field, wire, WireType::Len)?;
            structure(msg, field, r.bytes()?, depth)?
        }
    };
    Ok(value)
}

/// The JSON form of a struct-typed value encoded in `buf` (empty for a zero value).
fn structure(
    msg: &'static Message,
    field: &'static Field,
    buf: &[u8],
    depth: u32,
) -> Result<Value, ProtoError> {
    let invalid = |reason: String| ProtoError::InvalidValue {
        message: msg.name,
        field: field.json,
        reason,
    };
    match field.ty {
        Ty::Msg(inner) => message(inner, buf, depth + 1).map(Value::Object),
        Ty::Time => crate::special::time(buf, false).map_err(invalid),
        Ty::MicroTime => crate::special::time(buf, true).map_err(invalid),
        Ty::Quantity => crate::special::quantity(buf).map_err(invalid),
        Ty::IntOrString => crate::special::int_or_string(buf).map_err(invalid),
        Ty::RawJson => crate::special::raw_json(buf, depth).map_err(invalid),
        Ty::Str | Ty::Bool | Ty::I32 | Ty::I64 | Ty::Bytes => Err(invalid("not a struct".into())),
    }
}

/// The zero value of a map value or struct of the field's type.
fn zero(msg: &'static Message, field: &'static Field, depth: u32) -> Result<Value, ProtoError> {
    Ok(match field.ty {
        Ty::Str | Ty::Bytes => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::I32 | Ty::I64 => Value::Number(Number::from(0)),
        _ => structure(msg, field, &[], depth)?,
    })
}

/// Whether Go's `omitempty` treats a scalar value as empty.
fn is_empty_scalar(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// Turns a field's slot into its JSON value, or `None` when the field is left out.
fn finish(
    msg: &'static Message,
    field: &'static Field,
    slot: Slot,
    depth: u32,
) -> Result<Option<Value>, ProtoError> {
    let omit = field.has(OMIT);
    // A nil pointer, slice or map (and a nil `[]byte`).
    let nil = || if omit { None } else { Some(Value::Null) };
    Ok(match slot {
        Slot::Absent if field.has(LIST | MAP | PTR) || matches!(field.ty, Ty::Bytes) => nil(),
        Slot::Absent if field.ty.is_struct() => Some(structure(msg, field, &[], depth)?),
        Slot::Absent => Some(zero(msg, field, depth)?).filter(|_| !omit),
        Slot::Scalar(v) => {
            if omit && !field.has(PTR) && is_empty_scalar(&v) {
                None
            } else {
                Some(v)
            }
        }
        Slot::Struct(buf) => Some(structure(msg, field, &buf, depth)?),
        Slot::List(list) if list.is_empty() => nil(),
        Slot::List(list) => Some(Value::Array(list)),
        Slot::Map(map) if map.is_empty() => nil(),
        Slot::Map(map) => Some(Value::Object(map.into_iter().collect())),
    })
}

/// Checks that a field arrived with the wire type its type is encoded with.
fn expect(
    msg: &'static Message,
    field: &'static Field,
    found: WireType,
    expected: WireType,
) -> Result<(), ProtoError> {
    if found == expected {
        Ok(())
    } else {
        Err(ProtoError::WireTypeMismatch {
            message: msg.name,
            field: field.json,
            expected: expected.name(),
            found: found.name(),
        })
    }
}

/// A string field's text.
fn utf8(msg: &'static Message, field: &'static Field, bytes: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::InvalidUtf8 {
        message: msg.name,
        field: field.json,
    })
}
