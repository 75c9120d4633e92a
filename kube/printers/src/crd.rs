//! The generic printers: kube-apiserver's default table convertor (`Name`,
//! `Created At`) and apiextensions' CRD `additionalPrinterColumns` convertor.

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::human_duration;
use crate::jsonpath::json_path;
use crate::util::{AGE_DESC, at, col, is_go_zero, name, name_column, opt_int, str_at};
use crate::{Column, Printer};

/// Default convertor columns: Name and `Created At` (type date).
pub(crate) fn default_columns() -> Vec<Column> {
    vec![name_column(), col("Created At", "date", AGE_DESC)]
}

/// Default convertor cells: the name and the creation time as RFC 3339 UTC
/// (Go's zero time when unset, as upstream formats it).
pub(crate) fn default_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = at(obj, &["metadata", "creationTimestamp"])
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .map_or_else(
            || "0001-01-01T00:00:00Z".to_owned(),
            |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
    vec![name(obj), Value::from(created)]
}

/// One additional printer column: its header and JSONPath.
struct CrdColumn {
    column: Column,
    json_path: String,
}

/// A printer for a CRD version's `additionalPrinterColumns`.
pub(crate) struct CrdPrinter {
    columns: Vec<CrdColumn>,
}

impl CrdPrinter {
    /// Builds the printer. With no columns, kube serves a single `Age` date
    /// column on `.metadata.creationTimestamp`. As upstream, a column whose
    /// JSONPath does not parse ends the list (the columns before it are kept).
    pub(crate) fn new(defs: &Value) -> Self {
        let defs = defs.as_array().map(Vec::as_slice).unwrap_or(&[]);
        if defs.is_empty() {
            return CrdPrinter {
                columns: vec![CrdColumn {
                    column: col("Age", "date", AGE_DESC),
                    json_path: ".metadata.creationTimestamp".to_owned(),
                }],
            };
        }
        let mut columns = Vec::new();
        for def in defs {
            let path = at(def, &["jsonPath"])
                .or_else(|| at(def, &["JSONPath"]))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !crate::jsonpath::is_valid(path) {
                break;
            }
            let description = match str_at(def, &["description"]) {
                "" => format!("Custom resource definition column (in JSONPath format): {path}"),
                d => d.to_owned(),
            };
            columns.push(CrdColumn {
                column: Column {
                    name: str_at(def, &["name"]).to_owned(),
                    type_: str_at(def, &["type"]).to_owned(),
                    format: str_at(def, &["format"]).to_owned(),
                    description,
                    priority: opt_int(def, &["priority"])
                        .and_then(|p| i32::try_from(p).ok())
                        .unwrap_or(0),
                },
                json_path: path.to_owned(),
            });
        }
        CrdPrinter { columns }
    }
}

impl Printer for CrdPrinter {
    fn columns(&self) -> Vec<Column> {
        std::iter::once(name_column())
            .chain(self.columns.iter().map(|c| c.column.clone()))
            .collect()
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        std::iter::once(name(obj))
            .chain(self.columns.iter().map(|c| {
                json_path(obj, &c.json_path)
                    .map_or(Value::Null, |v| cell_for(&c.column.type_, &v, now))
            }))
            .collect()
    }
}

/// Upstream `cellForJSONValue` (plus the JSONPath text printing used for
/// `string` columns): the typed cell for a found value, null when it does
/// not fit the column type.
fn cell_for(type_: &str, v: &Value, now: Timestamp) -> Value {
    match (type_, v) {
        ("string", Value::Null) => Value::from("<no value>"),
        ("string", _) => Value::from(go_text(v)),
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => {
            if n.is_i64() || n.is_u64() {
                Value::Number(n.clone())
            } else {
                n.as_f64().map_or(Value::Null, integral_or_float)
            }
        }
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => Value::from(date_cell(s, now)),
        _ => Value::Null,
    }
}

/// A float as JSON the way Go encodes float64: integral values without `.0`.
fn integral_or_float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// A `date` cell: the age of an RFC 3339 time, `<unknown>` for the empty /
/// zero time, `<invalid>` when unparsable.
fn date_cell(s: &str, now: Timestamp) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".to_owned();
    }
    match s.parse::<Timestamp>() {
        Ok(t) if is_go_zero(t) => "<unknown>".to_owned(),
        Ok(t) => human_duration(now.duration_since(t)),
        Err(_) => "<invalid>".to_owned(),
    }
}

/// How client-go's JSONPath prints a value: strings raw, scalars with Go's
/// `fmt.Print`, objects and arrays as Go's compact `json.Marshal`.
fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => go_float(f, false),
            _ => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => {
            let mut out = String::new();
            go_json(v, &mut out);
            out
        }
    }
}

/// Go's compact `json.Marshal` of a decoded JSON value: sorted keys, HTML
/// characters escaped, floats in Go's shortest form.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => out.push_str(&go_float(f, true)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    go_json(x, out);
                }
            }
            out.push('}');
        }
    }
}

/// A JSON string literal as Go's encoder writes it (HTML-safe).
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats a float like Go: `fmt.Print` (`json == false`, `%g` shortest with
/// exponents from 1e+06 / below 1e-04) or `json.Marshal` (`json == true`,
/// exponents from 1e21 / below 1e-6, `e-7` style).
fn go_float(f: f64, json: bool) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".to_owned()
        } else if f > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e6".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let use_exp = if json {
        f.abs() < 1e-6 || f.abs() >= 1e21
    } else {
        !(-4..6).contains(&exp)
    };
    let sign = if f < 0.0 { "-" } else { "" };
    if use_exp {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        let width = if json && exp < 0 { 1 } else { 2 };
        return format!("{sign}{first}{frac}e{esign}{:0width$}", exp.abs());
    }
    // Plain decimal: place the point `exp + 1` digits in.
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let p = point as usize;
        if digits.len() <= p {
            format!("{digits}{}", "0".repeat(p - digits.len()))
        } else {
            format!("{}.{}", &digits[..p], &digits[p..])
        }
    };
    format!("{sign}{body}")
}
