//! A small evaluator for the kubectl JSONPath dialect used by CRD
//! `additionalPrinterColumns`: fields (`.a.b`, `['a.b']`, `a\.b`), indexes
//! (`[0]`, `[-1]`), slices (`[1:3]`), wildcards (`[*]`, `.*`), recursive
//! descent (`..name`) and filters (`[?(@.type=="Ready")]`, `[?(@.x)]`).
//!
//! Like kube's table convertor, only the first result is used.

use serde_json::Value;

/// Evaluate a simple kubectl JSONPath like `.status.phase`, `.spec.replicas`,
/// `.metadata.labels.app`, `.spec.containers[0].image`,
/// `.status.conditions[?(@.type=="Ready")].status` on obj; None when absent
/// (or when the path cannot be parsed).
pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
    let steps = parse(path).ok()?;
    eval(obj, &steps).first().map(|v| (*v).clone())
}

/// Whether `path` parses as a JSONPath this module understands.
pub(crate) fn is_valid(path: &str) -> bool {
    !path.trim().is_empty() && parse(path).is_ok()
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// An object key.
    Field(String),
    /// Every child of an object (key order) or array.
    Wildcard,
    /// `..`: the value itself and all its descendants.
    Descendants,
    /// An array index; negative counts from the end.
    Index(i64),
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `[?(...)]` over array elements.
    Filter(Filter),
}

/// A filter expression: a relative path and an optional comparison.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<Step>,
    cmp: Option<(Op, Value)>,
}

/// A filter comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Parses a whole path, stripping an optional `{...}` wrapper and `$`.
fn parse(path: &str) -> Result<Vec<Step>, ()> {
    let mut p = path.trim();
    if let Some(inner) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        p = inner.trim();
    }
    let p = p.strip_prefix('$').unwrap_or(p);
    if !p.is_empty() && !p.starts_with('.') && !p.starts_with('[') {
        // Be lenient about a missing leading dot: `status.phase`.
        return parse_steps(&format!(".{p}"));
    }
    parse_steps(p)
}

/// Parses a sequence of `.field`, `..`, `[...]` steps.
fn parse_steps(s: &str) -> Result<Vec<Step>, ()> {
    let chars: Vec<char> = s.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    steps.push(Step::Descendants);
                    i += 1;
                }
                if chars.get(i) == Some(&'*') {
                    steps.push(Step::Wildcard);
                    i += 1;
                    continue;
                }
                if chars.get(i) == Some(&'[') {
                    continue;
                }
                let (name, next) = read_name(&chars, i);
                if name.is_empty() {
                    return Err(());
                }
                steps.push(Step::Field(name));
                i = next;
            }
            '[' => {
                let close = find_bracket_end(&chars, i)?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = close + 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => return Err(()),
        }
    }
    Ok(steps)
}

/// Reads a field name up to an unescaped `.` or `[`; `\.` escapes a dot.
fn read_name(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' if chars.get(i + 1).is_some() => {
                if let Some(&n) = chars.get(i + 1) {
                    name.push(n);
                }
                i += 2;
            }
            '.' | '[' => break,
            _ => {
                name.push(c);
                i += 1;
            }
        }
    }
    (name, i)
}

/// The index of the `]` closing the `[` at `open`, skipping quoted text and
/// nested brackets (filters may contain them).
fn find_bracket_end(chars: &[char], open: usize) -> Result<usize, ()> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(j);
                    }
                }
                _ => {}
            },
        }
    }
    Err(())
}

/// Parses the inside of `[...]`.
fn parse_bracket(inner: &str) -> Result<Step, ()> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(f) = inner.strip_prefix('?') {
        let f = f.trim();
        let f = f
            .strip_prefix('(')
            .and_then(|f| f.strip_suffix(')'))
            .ok_or(())?;
        return parse_filter(f.trim()).map(Step::Filter);
    }
    if let Some(key) = unquote(inner) {
        return Ok(Step::Field(key));
    }
    if inner.contains(':') {
        let parts: Vec<&str> = inner.split(':').collect();
        if parts.len() > 3 {
            return Err(());
        }
        let num = |s: Option<&&str>| -> Result<Option<i64>, ()> {
            match s.map(|s| s.trim()) {
                None | Some("") => Ok(None),
                Some(s) => s.parse().map(Some).map_err(|_| ()),
            }
        };
        return Ok(Step::Slice(
            num(parts.first())?,
            num(parts.get(1))?,
            num(parts.get(2))?,
        ));
    }
    inner.parse().map(Step::Index).map_err(|_| ())
}

/// `'text'` or `"text"` → text.
fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let q = s.chars().next()?;
    if (q == '\'' || q == '"') && s.len() >= 2 && s.ends_with(q) {
        return Some(s[1..s.len() - 1].to_owned());
    }
    None
}

/// Parses `@.path op literal` or `@.path`.
fn parse_filter(f: &str) -> Result<Filter, ()> {
    let (lhs, cmp) = match find_operator(f) {
        Some((pos, op, len)) => {
            let lit = parse_literal(f[pos + len..].trim())?;
            (&f[..pos], Some((op, lit)))
        }
        None => (f, None),
    };
    let rel = lhs.trim().strip_prefix('@').ok_or(())?;
    Ok(Filter {
        path: parse_steps(rel)?,
        cmp,
    })
}

/// The first comparison operator outside quotes: (byte offset, op, length).
fn find_operator(f: &str) -> Option<(usize, Op, usize)> {
    let bytes = f.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match (c, next) {
                (b'\'' | b'"', _) => quote = Some(c),
                (b'=', Some(b'=')) => return Some((i, Op::Eq, 2)),
                (b'!', Some(b'=')) => return Some((i, Op::Ne, 2)),
                (b'<', Some(b'=')) => return Some((i, Op::Le, 2)),
                (b'>', Some(b'=')) => return Some((i, Op::Ge, 2)),
                (b'<', _) => return Some((i, Op::Lt, 1)),
                (b'>', _) => return Some((i, Op::Gt, 1)),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// A filter literal: quoted string, bool, null or number.
fn parse_literal(s: &str) -> Result<Value, ()> {
    if let Some(text) = unquote(s) {
        return Ok(Value::String(text));
    }
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" | "nil" => return Ok(Value::Null),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::from(i));
    }
    s.parse::<f64>().map(Value::from).map_err(|_| ())
}

/// Applies `steps` to `root`, returning every match in order.
fn eval<'a>(root: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let mut cur = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            apply(v, step, &mut next);
        }
        cur = next;
    }
    cur
}

/// Applies one step to one value, pushing the results.
fn apply<'a>(v: &'a Value, step: &Step, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.as_object().and_then(|m| m.get(name)) {
                out.push(x);
            }
        }
        Step::Wildcard => match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.extend(keys.into_iter().filter_map(|k| m.get(k)));
            }
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Step::Descendants => descendants(v, out),
        Step::Index(i) => {
            if let Some(a) = v.as_array() {
                let len = a.len() as i64;
                let idx = if *i < 0 { len + i } else { *i };
                if let Some(x) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                    out.push(x);
                }
            }
        }
        Step::Slice(start, end, step) => {
            if let Some(a) = v.as_array() {
                slice(a, *start, *end, *step, out);
            }
        }
        Step::Filter(f) => {
            if let Some(a) = v.as_array() {
                out.extend(a.iter().filter(|e| matches(e, f)));
            }
        }
    }
}

/// Pushes `v` and all its descendants, pre-order.
fn descendants<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                if let Some(x) = m.get(k) {
                    descendants(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| descendants(x, out)),
        _ => {}
    }
}

/// Python-style slicing with clamping.
fn slice<'a>(
    a: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'a Value>,
) {
    let len = a.len() as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let start = start.map_or(0, norm);
    let end = end.map_or(len, norm);
    let step = step.unwrap_or(1).max(1);
    let mut i = start;
    while i < end {
        if let Some(x) = usize::try_from(i).ok().and_then(|u| a.get(u)) {
            out.push(x);
        }
        i += step;
    }
}

/// Whether an array element passes a filter.
fn matches(e: &Value, f: &Filter) -> bool {
    let found = eval(e, &f.path);
    match &f.cmp {
        None => found.first().is_some_and(|v| !v.is_null()),
        Some((op, lit)) => found.first().is_some_and(|v| compare(v, *op, lit)),
    }
}

/// Compares a found value with a literal.
fn compare(v: &Value, op: Op, lit: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (v, lit) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, o) => o == Some(Ordering::Equal),
        (Op::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
    }
}
