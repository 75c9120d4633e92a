//! Request body decoding, hardened against hostile bodies: the format comes from the
//! Content-Type alone (a JSON body that fails is never retried as YAML), nesting depth is
//! checked by a linear byte scan before any parser runs, and large bodies are parsed on the
//! blocking pool (a bounded number at a time, under a time budget) so a slow parse never holds
//! an async worker thread that other requests and watches need.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// Deepest nesting of arrays and objects accepted (serde_json stops at 128 anyway; no
/// Kubernetes object comes near either).
pub(crate) const MAX_DEPTH: usize = 100;
/// Bodies up to this size are parsed in place: with the depth checked first that is
/// microseconds of work.
const INLINE_LIMIT: usize = 64 * 1024;
/// Longest a request waits for a blocking parse slot plus the parse itself.
const BUDGET: Duration = Duration::from_secs(10);
/// Large bodies parsed at once; the rest queue (within the budget) instead of taking every
/// blocking thread.
static PARSE_SLOTS: Semaphore = Semaphore::const_new(2);

/// The envelope prefix of Kubernetes protobuf bodies (`k8s\0`).
const PROTOBUF_MAGIC: &[u8] = b"k8s\x00";

/// How a body is encoded, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/json` and every `+json` type; also an absent Content-Type.
    Json,
    /// `application/yaml` and every `+yaml` type (JSON is YAML, so it is tried first).
    Yaml,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

impl Format {
    /// The format a Content-Type header names; 415 for one this server does not decode.
    pub(crate) fn from_content_type(ct: Option<&str>) -> ApiResult<Format> {
        let base = ct
            .and_then(|ct| ct.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "" | "application/json" => Ok(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(Format::Yaml),
            "application/vnd.kubernetes.protobuf" => Ok(Format::Protobuf),
            b if b.ends_with("+json") => Ok(Format::Json),
            b if b.ends_with("+yaml") => Ok(Format::Yaml),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format ({base}) - accepted media \
                 types include: application/json, application/yaml, \
                 application/vnd.kubernetes.protobuf"
            ))),
        }
    }
}

/// Decodes a request body in the format its Content-Type names.
pub(crate) async fn decode(ct: Option<&str>, raw: Bytes) -> ApiResult<Value> {
    let format = Format::from_content_type(ct)?;
    if raw.len() <= INLINE_LIMIT {
        return decode_now(format, &raw);
    }
    let started = tokio::time::Instant::now();
    let deadline = started + BUDGET;
    let permit = tokio::time::timeout_at(deadline, PARSE_SLOTS.acquire())
        .await
        .map_err(|_| {
            ApiError::TooManyRequests("too many large request bodies being decoded".into())
        })?
        .map_err(|_| ApiError::Unavailable("the body decoder is shutting down".into()))?;
    let parse = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        decode_now(format, &raw)
    });
    match tokio::time::timeout_at(deadline, parse).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(ApiError::Internal(format!("decoding the body failed: {e}"))),
        Err(_) => Err(ApiError::BadRequest(format!(
            "the request body could not be decoded within {} s",
            BUDGET.as_secs()
        ))),
    }
}

/// Checks the depth, then parses, on the calling thread.
fn decode_now(format: Format, raw: &[u8]) -> ApiResult<Value> {
    if raw.starts_with(PROTOBUF_MAGIC) && format != Format::Yaml {
        return decode_protobuf(raw);
    }
    if raw.is_empty() {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    match format {
        Format::Protobuf => decode_protobuf(raw),
        Format::Json => {
            check_depth(raw, false)?;
            crate::openapi::parse_json(raw).map_err(|e| {
                ApiError::BadRequest(format!("the request body is not valid JSON: {e}"))
            })
        }
        Format::Yaml => {
            check_depth(raw, true)?;
            match serde_json::from_slice(raw) {
                Ok(v) => Ok(v),
                Err(_) => serde_yaml::from_slice(raw).map_err(|e| {
                    ApiError::BadRequest(format!("the request body is not valid YAML: {e}"))
                }),
            }
        }
    }
}

fn check_depth(raw: &[u8], yaml: bool) -> ApiResult<()> {
    let depth = if yaml {
        yaml_depth_bound(raw, MAX_DEPTH)
    } else {
        json_depth(raw, MAX_DEPTH)
    };
    if depth > MAX_DEPTH {
        return Err(ApiError::BadRequest(format!(
            "the request body is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(())
}

/// The deepest nesting of `[`/`{` outside strings, counting stopped just past `limit`.
pub(crate) fn json_depth(raw: &[u8], limit: usize) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in raw {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
                if max > limit {
                    return max;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// An upper bound of a YAML document's nesting, in one pass: block levels (a stack of
/// indentation columns), plus compact `- `/`? `/`key: ` indicators on a line, plus flow
/// `[`/`{` nesting outside quotes. Over-counting only ever refuses odd documents; it never lets
/// a deep one through to the parser.
pub(crate) fn yaml_depth_bound(raw: &[u8], limit: usize) -> usize {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut max = 0usize;
    for line in raw.split(|b| *b == b'\n') {
        let indent = line.iter().take_while(|b| **b == b' ').count();
        let content = &line[indent..];
        if content.is_empty() || content[0] == b'#' {
            continue;
        }
        if flow == 0 {
            while indents.last().is_some_and(|top| *top > indent) {
                indents.pop();
            }
            if indents.last().is_none_or(|top| *top < indent) {
                indents.push(indent);
            }
        }
        let mut compact = 0usize;
        let mut quote: Option<u8> = None;
        let mut prev = b' ';
        for (i, &b) in content.iter().enumerate() {
            let next = content.get(i + 1).copied().unwrap_or(b' ');
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'"' | b'\'' if matches!(prev, b' ' | b'[' | b'{' | b',') => quote = Some(b),
                    b'#' if prev == b' ' => break,
                    b'[' | b'{' => flow += 1,
                    b']' | b'}' => flow = flow.saturating_sub(1),
                    b'-' | b'?' | b':' if next == b' ' && (b == b':' || prev == b' ') => {
                        compact += 1
                    }
                    _ => {}
                },
            }
            prev = b;
        }
        max = max.max(indents.len() + compact + flow);
        if max > limit {
            return max;
        }
    }
    max
}

/// Built-in clients (`kubectl create namespace ...`) send protobuf; decode the kinds they send.
fn decode_protobuf(raw: &[u8]) -> ApiResult<Value> {
    if let Some(dir) = std::env::var_os("CCEONE_KUBEAPI_DUMP_PROTOBUF") {
        let path = std::path::Path::new(&dir).join(format!("{}.pb", uuid::Uuid::new_v4().simple()));
        if let Err(e) = std::fs::write(&path, raw) {
            tracing::warn!(error = %e, "could not dump a protobuf body");
        }
    }
    cceone_kube_protobuf::decode(raw).map_err(|e| {
        ApiError::UnsupportedMediaType(format!(
            "the protobuf body could not be decoded ({e}); send application/json instead"
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_type_alone_picks_the_format() {
        let cases = [
            (None, Some(Format::Json)),
            (Some("application/json; charset=utf-8"), Some(Format::Json)),
            (Some("application/merge-patch+json"), Some(Format::Json)),
            (Some("application/apply-patch+yaml"), Some(Format::Yaml)),
            (Some("application/yaml"), Some(Format::Yaml)),
            (
                Some("application/vnd.kubernetes.protobuf"),
                Some(Format::Protobuf),
            ),
            (Some("application/apply-patch+cbor"), None),
            (Some("text/html"), None),
        ];
        for (ct, want) in cases {
            assert_eq!(Format::from_content_type(ct).ok(), want, "{ct:?}");
        }
        // YAML sent as JSON is refused, not retried as YAML.
        let yaml = b"kind: ConfigMap\nmetadata:\n  name: x\n";
        assert!(decode_now(Format::Json, yaml).is_err());
        assert_eq!(
            decode_now(Format::Yaml, yaml).unwrap()["metadata"]["name"],
            "x"
        );
    }

    #[test]
    fn depth_is_counted_outside_strings() {
        assert_eq!(json_depth(br#"{"a":[{"b":"[[[{{{"}]}"#, 100), 3);
        assert_eq!(json_depth(br#"{"a":"\"[[["}"#, 100), 1);
        let deep = "[".repeat(100_000);
        assert_eq!(json_depth(deep.as_bytes(), MAX_DEPTH), MAX_DEPTH + 1);
        assert!(check_depth(deep.as_bytes(), false).is_err());
    }

    #[test]
    fn yaml_depth_bound_covers_block_compact_and_flow_nesting() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x # [[[\n  labels:\n    a: \"[{\"\ndata:\n  k: v\n";
        let d = yaml_depth_bound(doc.as_bytes(), 100);
        assert!((3..=6).contains(&d), "{d}");
        assert!(yaml_depth_bound("- ".repeat(500).as_bytes(), 100) > 100);
        assert!(yaml_depth_bound("[".repeat(500).as_bytes(), 100) > 100);
        let stairs: String = (0..200)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(yaml_depth_bound(stairs.as_bytes(), 100) > 100);
        // Deep but legitimate (two spaces a level, 40 levels) passes.
        let ok: String = (0..40)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        assert!(yaml_depth_bound(ok.as_bytes(), 100) <= 41);
    }
}
