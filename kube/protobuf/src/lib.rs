//! Decoding of Kubernetes protobuf request bodies into JSON objects, and [`encode`] of JSON
//! objects (and [`encode_list`] of lists) into protobuf responses for the same kinds.
//!
//! Typed Kubernetes clients (`kubectl create namespace ...`, client-go clientsets) send
//! `application/vnd.kubernetes.protobuf` bodies: the magic `k8s\0` followed by a
//! `runtime.Unknown` envelope `{1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3:
//! contentEncoding, 4: contentType}` whose `raw` is the object's message. [`decode`] reads the
//! envelope, looks the kind up in hand-written descriptor tables (field number → JSON name and
//! type) and produces the same JSON the object has in Kubernetes' JSON encoding, including the
//! Go quirks (`"creationTimestamp": null`, `"status": {}`, omitted zero values).
//!
//! Known kinds: every top-level kind of core/v1, apps/v1, batch/v1, rbac/v1, networking/v1,
//! policy/v1, scheduling/v1, coordination/v1 and certificates/v1, plus `DeleteOptions`, TokenRequest
//! (`kubectl create token`) and the review requests of
//! authorization/v1 and authentication/v1 (`kubectl auth`). Unknown fields inside
//! known messages are skipped; malformed input is an error, never a panic.

#[macro_use]
mod descriptor;
mod encode;
mod kinds;
mod render;
mod special;
mod tables;
mod wire;

use serde_json::{Map, Value};

pub use crate::encode::{can_encode, encode, encode_list};
use crate::wire::{Reader, WireType};

/// The prefix of every Kubernetes protobuf body.
pub(crate) const MAGIC: &[u8] = b"k8s\x00";

/// The content type a `runtime.Unknown` may name for a protobuf object.
const PROTOBUF_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// How deep messages (and envelopes inside `RawExtension`s) may nest before the input is
/// rejected; the deepest built-in object (a CronJob's pod template) is far shallower.
pub(crate) const MAX_DEPTH: u32 = 64;

/// A body that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body does not start with the `k8s\0` magic.
    #[error("the body does not start with the k8s\\0 protobuf magic")]
    MissingMagic,
    /// The input ends in the middle of a value (or a length runs past the end).
    #[error("the protobuf data is truncated")]
    Truncated,
    /// A varint is longer than ten bytes or does not fit 64 bits.
    #[error("a protobuf varint is too long")]
    VarintOverflow,
    /// A field tag has field number 0 or one above 2^29 - 1 (the raw tag is given).
    #[error("invalid protobuf field tag {0}")]
    InvalidTag(u64),
    /// A field tag has a wire type that is not 0, 1, 2 or 5 (groups are not supported).
    #[error("unsupported protobuf wire type {0}")]
    UnsupportedWireType(u8),
    /// A known field arrived with a wire type its type is not encoded with.
    #[error("{message}.{field}: expected a {expected} value, found {found}")]
    WireTypeMismatch {
        /// The message (Go type) name.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
        /// The wire type the field's type uses.
        expected: &'static str,
        /// The wire type found.
        found: &'static str,
    },
    /// A string field is not valid UTF-8.
    #[error("{message}.{field}: the string is not valid UTF-8")]
    InvalidUtf8 {
        /// The message (Go type) name.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
    },
    /// A value of a special type (Time, Quantity, IntOrString, RawExtension) is invalid.
    #[error("{message}.{field}: {reason}")]
    InvalidValue {
        /// The message (Go type) name.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The envelope names no `apiVersion` or no `kind`.
    #[error("the protobuf envelope has no apiVersion or kind")]
    MissingTypeMeta,
    /// The envelope's object is compressed (`contentEncoding` is set).
    #[error("unsupported protobuf content encoding {0:?}")]
    ContentEncoding(String),
    /// The envelope's object is not protobuf (`contentType` names another type).
    #[error("unsupported content type {0:?} inside the protobuf envelope")]
    ContentType(String),
    /// The kind is not one this crate has descriptors for.
    #[error("no protobuf decoder for apiVersion {api_version:?} kind {kind:?}")]
    UnknownKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
    /// Messages or envelopes nest deeper than the limit given.
    #[error("the protobuf data nests deeper than {0} levels")]
    TooDeep(u32),
}

/// Decode a `k8s\0`-enveloped protobuf body into the JSON form of the object.
///
/// The result has `kind` and `apiVersion` from the envelope and the object's fields as
/// Kubernetes prints them in JSON.
pub fn decode(raw: &[u8]) -> Result<Value, ProtoError> {
    decode_at(raw, 0).map(Value::Object)
}

/// [`decode`] of an envelope nested `depth` envelopes deep.
pub(crate) fn decode_at(raw: &[u8], depth: u32) -> Result<Map<String, Value>, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep(MAX_DEPTH));
    }
    let body = raw.strip_prefix(MAGIC).ok_or(ProtoError::MissingMagic)?;
    let envelope = Envelope::read(body)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtoError::ContentEncoding(envelope.content_encoding));
    }
    if !envelope.content_type.is_empty() && envelope.content_type != PROTOBUF_CONTENT_TYPE {
        return Err(ProtoError::ContentType(envelope.content_type));
    }
    if envelope.api_version.is_empty() || envelope.kind.is_empty() {
        return Err(ProtoError::MissingTypeMeta);
    }
    let message = kinds::lookup(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        ProtoError::UnknownKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        }
    })?;
    let fields = render::message(message, envelope.raw, depth + 1)?;
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(envelope.kind));
    out.insert("apiVersion".into(), Value::String(envelope.api_version));
    for (k, v) in fields {
        out.entry(k).or_insert(v);
    }
    Ok(out)
}

/// The fields of a `runtime.Unknown` envelope.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    /// Reads `runtime.Unknown{1: typeMeta, 2: raw, 3: contentEncoding, 4: contentType}`.
    fn read(buf: &'a [u8]) -> Result<Self, ProtoError> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (num, wire) = r.tag()?;
            if !(1..=4).contains(&num) {
                r.skip(wire)?;
                continue;
            }
            let bytes = envelope_bytes(&mut r, wire, "Unknown", num)?;
            match num {
                1 => {
                    let mut tm = Reader::new(bytes);
                    while !tm.is_empty() {
                        let (num, wire) = tm.tag()?;
                        match num {
                            1 => env.api_version = envelope_string(&mut tm, wire, "apiVersion")?,
                            2 => env.kind = envelope_string(&mut tm, wire, "kind")?,
                            _ => tm.skip(wire)?,
                        }
                    }
                }
                2 => env.raw = bytes,
                3 => env.content_encoding = to_string(bytes, "contentEncoding")?,
                _ => env.content_type = to_string(bytes, "contentType")?,
            }
        }
        Ok(env)
    }
}

/// Reads a length-delimited envelope field.
fn envelope_bytes<'a>(
    r: &mut Reader<'a>,
    wire: WireType,
    message: &'static str,
    num: u32,
) -> Result<&'a [u8], ProtoError> {
    if wire != WireType::Len {
        return Err(ProtoError::WireTypeMismatch {
            message,
            field: match num {
                1 => "typeMeta",
                2 => "raw",
                3 => "contentEncoding",
                4 => "contentType",
                _ => "apiVersion/kind",
            },
            expected: WireType::Len.name(),
            found: wire.name(),
        });
    }
    r.bytes()
}

/// Reads a string field of the envelope's `TypeMeta`.
fn envelope_string(
    r: &mut Reader<'_>,
    wire: WireType,
    field: &'static str,
) -> Result<String, ProtoError> {
    let bytes = envelope_bytes(r, wire, "TypeMeta", 0)?;
    to_string(bytes, field)
}

/// An envelope string.
fn to_string(bytes: &[u8], field: &'static str) -> Result<String, ProtoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::InvalidUtf8 {
        message: "Unknown",
        field,
    })
}
