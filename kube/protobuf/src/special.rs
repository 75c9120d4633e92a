//! The apimachinery types whose JSON form is not an object of their protobuf fields:
//! `metav1.Time`/`MicroTime` (RFC 3339 strings), `resource.Quantity` (its string),
//! `intstr.IntOrString` (a number or a string) and `runtime.RawExtension`/`metav1.FieldsV1`
//! (embedded JSON).
//!
//! Each function takes the encoded sub-message (empty for a Go zero value) and returns the JSON
//! value, or a reason the value is invalid.

use serde_json::Value;

use crate::wire::{Reader, WireType};

/// Reads the fields of a small message as `(number, wire type, varint value or bytes)`.
fn fields(buf: &[u8]) -> Result<Vec<(u32, Raw<'_>)>, String> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        let (num, wire) = r.tag().map_err(|e| e.to_string())?;
        let value = match wire {
            WireType::Varint => Raw::Varint(r.varint().map_err(|e| e.to_string())?),
            WireType::Len => Raw::Bytes(r.bytes().map_err(|e| e.to_string())?),
            other => {
                r.skip(other).map_err(|e| e.to_string())?;
                Raw::Other
            }
        };
        out.push((num, value));
    }
    Ok(out)
}

/// One raw field value.
enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

impl<'a> Raw<'a> {
    fn varint(&self, what: &str) -> Result<u64, String> {
        match self {
            Raw::Varint(v) => Ok(*v),
            _ => Err(format!("{what} is not a varint")),
        }
    }

    fn bytes(&self, what: &str) -> Result<&'a [u8], String> {
        match self {
            Raw::Bytes(b) => Ok(b),
            Raw::Varint(_) | Raw::Other => Err(format!("{what} is not length-delimited")),
        }
    }

    fn string(&self, what: &str) -> Result<String, String> {
        String::from_utf8(self.bytes(what)?.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
}

/// `metav1.Time` (`micro == false`) or `metav1.MicroTime` (`micro == true`):
/// `{1: seconds, 2: nanos}`. A zero value is `null`; `Time` drops the nanoseconds (as the Go
/// decoder does) and prints `2006-01-02T15:04:05Z`, `MicroTime` prints
/// `2006-01-02T15:04:05.000000Z`.
pub(crate) fn time(buf: &[u8], micro: bool) -> Result<Value, String> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let (mut seconds, mut nanos) = (0i64, 0i32);
    for (num, raw) in fields(buf)? {
        match num {
            1 => seconds = raw.varint("seconds")? as i64,
            2 => nanos = raw.varint("nanos")? as i32,
            _ => {}
        }
    }
    if !micro {
        nanos = 0;
    }
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let ts = jiff::Timestamp::from_nanosecond(total)
        .map_err(|_| format!("time {seconds}s {nanos}ns is out of range"))?;
    let dt = jiff::tz::Offset::UTC.to_datetime(ts);
    if dt.year() < 0 {
        return Err(format!("time {seconds}s is before year 0"));
    }
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if micro {
        out.push_str(&format!(".{:06}", dt.subsec_nanosecond() / 1000));
    }
    out.push('Z');
    Ok(Value::String(out))
}

/// `resource.Quantity`: `{1: string}`, printed as the string (`"0"` for a zero value). The
/// string is passed through as sent; Go clients send the canonical form.
pub(crate) fn quantity(buf: &[u8]) -> Result<Value, String> {
    let mut s = String::new();
    for (num, raw) in fields(buf)? {
        if num == 1 {
            s = raw.string("quantity string")?;
        }
    }
    if s.is_empty() {
        s.push('0');
    }
    Ok(Value::String(s))
}

/// `intstr.IntOrString`: `{1: type (0 int, 1 string), 2: intVal, 3: strVal}`.
pub(crate) fn int_or_string(buf: &[u8]) -> Result<Value, String> {
    let (mut kind, mut int_val, mut str_val) = (0u64, 0i32, String::new());
    for (num, raw) in fields(buf)? {
        match num {
            1 => kind = raw.varint("type")?,
            2 => int_val = raw.varint("intVal")? as i32,
            3 => str_val = raw.string("strVal")?,
            _ => {}
        }
    }
    match kind {
        0 => Ok(Value::from(int_val)),
        1 => Ok(Value::String(str_val)),
        other => Err(format!(
            "IntOrString type {other} is neither 0 (int) nor 1 (string)"
        )),
    }
}

/// `runtime.RawExtension` / `metav1.FieldsV1`: `{1: raw}`. The raw bytes are JSON (or, for an
/// object embedded by a protobuf client, another `k8s\0` envelope); absent bytes are `null`.
pub(crate) fn raw_json(buf: &[u8], depth: u32) -> Result<Value, String> {
    let mut raw: &[u8] = &[];
    for (num, value) in fields(buf)? {
        if num == 1 {
            raw = value.bytes("raw")?;
        }
    }
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(crate::MAGIC) {
        return crate::decode_at(raw, depth + 1)
            .map(Value::Object)
            .map_err(|e| e.to_string());
    }
    serde_json::from_slice(raw).map_err(|e| format!("embedded JSON is invalid: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times() {
        assert_eq!(time(&[], false).unwrap(), Value::Null);
        // seconds = 1767225600 (2026-01-01T00:00:00Z), nanos = 123456789
        let buf = [
            0x08, 0x80, 0xf2, 0xd6, 0xca, 0x06, 0x10, 0x95, 0x9a, 0xef, 0x3a,
        ];
        assert_eq!(time(&buf, false).unwrap(), json!("2026-01-01T00:00:00Z"));
        assert_eq!(
            time(&buf, true).unwrap(),
            json!("2026-01-01T00:00:00.123456Z")
        );
        assert_eq!(
            time(&[0x08, 0x00], false).unwrap(),
            json!("1970-01-01T00:00:00Z")
        );
        let far = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(time(&far, false).is_err());
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity(&[]).unwrap(), json!("0"));
        assert_eq!(
            quantity(&[0x0a, 3, b'1', b'0', b'0']).unwrap(),
            json!("100")
        );
        assert!(quantity(&[0x0a, 1, 0xff]).is_err());
    }

    #[test]
    fn int_or_strings() {
        assert_eq!(int_or_string(&[]).unwrap(), json!(0));
        assert_eq!(int_or_string(&[0x08, 0, 0x10, 80]).unwrap(), json!(80));
        assert_eq!(
            int_or_string(&[0x08, 1, 0x1a, 2, b'2', b'5']).unwrap(),
            json!("25")
        );
        assert!(int_or_string(&[0x08, 2]).is_err());
    }

    #[test]
    fn raw_extensions() {
        assert_eq!(raw_json(&[], 0).unwrap(), Value::Null);
        assert_eq!(raw_json(&[0x0a, 2, b'{', b'}'], 0).unwrap(), json!({}));
        assert!(raw_json(&[0x0a, 1, b'{'], 0).is_err());
    }
}
