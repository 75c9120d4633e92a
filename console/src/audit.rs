//! The audit-log page's data: the newest `audit.k8s.io/v1` events of the API's audit log that
//! match a filter, read from the log's current file. Only a user the API allows to `list`
//! `events.audit.k8s.io` sees them (asked with a SelfSubjectAccessReview as that user; the
//! audit log is not an API resource, so this rule is the console's own gate).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use serde_json::{Value, json};

/// The most of the file's end that is read (older events are in rotated files, which
/// `cceonectl audit` reads).
const TAIL: u64 = 4 * 1024 * 1024;
/// The most events one answer holds.
pub(crate) const MAX_EVENTS: usize = 500;

/// What to keep, from the page's query (`user=`, `verb=`, `resource=`, `code=`, `limit=`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    user: Option<String>,
    verb: Option<String>,
    resource: Option<String>,
    code: Option<u16>,
    limit: usize,
}

fn text<'a>(e: &'a Value, pointer: &str) -> &'a str {
    e.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn decode(v: &str) -> String {
    let v = v.replace('+', " ");
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Filter {
    /// The filter a query string asks for.
    pub(crate) fn parse(query: &str) -> Filter {
        let mut f = Filter {
            limit: 200,
            ..Filter::default()
        };
        for kv in query.split('&') {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v = decode(v).trim().to_string();
            if v.is_empty() {
                continue;
            }
            match k {
                "user" => f.user = Some(v),
                "verb" => f.verb = Some(v),
                "resource" => f.resource = Some(v),
                "code" => f.code = v.parse().ok(),
                "limit" => f.limit = v.parse().unwrap_or(f.limit),
                _ => {}
            }
        }
        f.limit = f.limit.clamp(1, MAX_EVENTS);
        f
    }

    /// Whether an event matches every criterion given (the user also matches the user a
    /// request impersonated).
    pub(crate) fn matches(&self, e: &Value) -> bool {
        let user = self.user.as_deref().is_none_or(|u| {
            text(e, "/user/username") == u || text(e, "/impersonatedUser/username") == u
        });
        let resource = self.resource.as_deref().is_none_or(|r| {
            let plain = text(e, "/objectRef/resource");
            let group = text(e, "/objectRef/apiGroup");
            r == plain || (!group.is_empty() && r == format!("{plain}.{group}"))
        });
        let code = self.code.is_none_or(|c| {
            e.pointer("/responseStatus/code").and_then(Value::as_u64) == Some(c.into())
        });
        user && resource && code && self.verb.as_deref().is_none_or(|v| text(e, "/verb") == v)
    }
}

/// The newest events of `text` (JSON lines, oldest first) that match, newest first, as the page
/// shows them (no request or response bodies).
pub(crate) fn select(log: &str, filter: &Filter) -> Vec<Value> {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| filter.matches(e))
        .take(filter.limit)
        .map(|e| {
            json!({
                "time": e.get("requestReceivedTimestamp"),
                "user": text(&e, "/user/username"),
                "impersonated": e.pointer("/impersonatedUser/username"),
                "verb": text(&e, "/verb"),
                "resource": text(&e, "/objectRef/resource"),
                "group": text(&e, "/objectRef/apiGroup"),
                "namespace": text(&e, "/objectRef/namespace"),
                "name": text(&e, "/objectRef/name"),
                "uri": text(&e, "/requestURI"),
                "code": e.pointer("/responseStatus/code"),
                "reason": e.pointer("/annotations/authorization.k8s.io~1reason"),
                "sourceIP": e.pointer("/sourceIPs/0"),
            })
        })
        .collect()
}

/// The end of the log file (from the first whole line), or "" when there is none.
pub(crate) fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(TAIL).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(if start > 0 {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    } else {
        text
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(user: &str, verb: &str, resource: &str, code: u16) -> String {
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": verb,
            "user": {"username": user}, "requestReceivedTimestamp": "2026-12-07T01:00:00.000000Z",
            "objectRef": {"resource": resource, "apiGroup": "platform.cceone.io", "name": "m1"},
            "responseStatus": {"code": code}, "requestObject": {"secret": "never shown"}})
        .to_string()
    }

    #[test]
    fn the_newest_matching_events_come_first_without_bodies() {
        let log = [
            event("admin", "patch", "registeredclusters", 200),
            event("viewer1", "patch", "registeredclusters", 403),
            event("viewer1", "list", "fleets", 200),
            "not json".to_string(),
        ]
        .join("\n");
        let f = Filter::parse("user=viewer1&limit=10");
        let got = select(&log, &f);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["verb"], "list");
        assert_eq!(got[1]["code"], 403);
        assert!(!got[1].to_string().contains("never shown"));
        let f = Filter::parse("resource=registeredclusters.platform.cceone.io&code=403");
        assert_eq!(select(&log, &f)[0]["user"], "viewer1");
        assert_eq!(select(&log, &Filter::parse("verb=delete")).len(), 0);
        assert_eq!(select(&log, &Filter::parse("limit=1")).len(), 1);
    }

    #[test]
    fn queries_are_decoded_and_bounded() {
        let f = Filter::parse("user=system%3Aserviceaccount%3Aa+b&limit=99999&junk");
        assert_eq!(f.user.as_deref(), Some("system:serviceaccount:a b"));
        assert_eq!(f.limit, MAX_EVENTS);
        assert_eq!(Filter::parse("").limit, 200);
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn a_missing_log_reads_as_empty() {
        let dir = std::env::temp_dir().join(format!("cceone-console-audit-{}", std::process::id()));
        assert_eq!(read_tail(&dir.join("none.log")).unwrap(), "");
    }
}
