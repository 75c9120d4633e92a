//! `cceonectl audit`: read an API server's audit log (`audit.k8s.io/v1` Event JSON lines,
//! rotated files included) and print the events that match, oldest first. Offline: it reads the
//! files, not the API. Filtering and rendering are pure functions over the parsed lines.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jiff::Timestamp;
use serde_json::Value;

use crate::args::AuditArgs;
use crate::emit;

/// What to keep.
#[derive(Debug, Default, Clone)]
pub(crate) struct Filter {
    /// The user, or the user they impersonated.
    pub(crate) user: Option<String>,
    /// The verb.
    pub(crate) verb: Option<String>,
    /// `resource` or `resource.group`.
    pub(crate) resource: Option<String>,
    /// The namespace.
    pub(crate) namespace: Option<String>,
    /// Received at or after.
    pub(crate) since: Option<Timestamp>,
    /// Received before.
    pub(crate) until: Option<Timestamp>,
    /// The stage (`RequestReceived`, `ResponseStarted`, `ResponseComplete`, `Panic`).
    pub(crate) stage: Option<String>,
}

fn text<'a>(e: &'a Value, pointer: &str) -> &'a str {
    e.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn received(e: &Value) -> Option<Timestamp> {
    text(e, "/requestReceivedTimestamp").parse().ok()
}

/// `resource.group/subresource` of an event (empty for non-resource requests).
fn resource(e: &Value) -> String {
    let mut r = text(e, "/objectRef/resource").to_string();
    let group = text(e, "/objectRef/apiGroup");
    if !group.is_empty() {
        r = format!("{r}.{group}");
    }
    let sub = text(e, "/objectRef/subresource");
    if !sub.is_empty() {
        r = format!("{r}/{sub}");
    }
    r
}

impl Filter {
    /// Whether an event matches every criterion given.
    pub(crate) fn matches(&self, e: &Value) -> bool {
        let user_ok = self.user.as_deref().is_none_or(|u| {
            text(e, "/user/username") == u || text(e, "/impersonatedUser/username") == u
        });
        let resource_ok = self.resource.as_deref().is_none_or(|r| {
            let full = resource(e);
            let plain = text(e, "/objectRef/resource");
            r == plain || r == full || full.split('/').next() == Some(r)
        });
        let time_ok = match (self.since, self.until, received(e)) {
            (None, None, _) => true,
            (_, _, None) => false,
            (since, until, Some(t)) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u),
        };
        user_ok
            && resource_ok
            && time_ok
            && self.verb.as_deref().is_none_or(|v| text(e, "/verb") == v)
            && self.stage.as_deref().is_none_or(|s| text(e, "/stage") == s)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| text(e, "/objectRef/namespace") == n)
    }
}

/// The events as a table: TIME USER AS VERB RESOURCE NAMESPACE NAME CODE STAGE (`-` for
/// empty; a long-running request has a `ResponseStarted` and a `ResponseComplete` row).
pub(crate) fn table(events: &[Value]) -> String {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let mut rows = vec![
        [
            "TIME",
            "USER",
            "AS",
            "VERB",
            "RESOURCE",
            "NAMESPACE",
            "NAME",
            "CODE",
            "STAGE",
        ]
        .map(String::from),
    ];
    for e in events {
        let what = if text(e, "/objectRef/resource").is_empty() {
            text(e, "/requestURI")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            resource(e)
        };
        rows.push([
            dash(text(e, "/requestReceivedTimestamp")),
            dash(text(e, "/user/username")),
            dash(text(e, "/impersonatedUser/username")),
            dash(text(e, "/verb")),
            dash(&what),
            dash(text(e, "/objectRef/namespace")),
            dash(text(e, "/objectRef/name")),
            e.pointer("/responseStatus/code")
                .and_then(Value::as_u64)
                .map_or("-".into(), |c| c.to_string()),
            dash(text(e, "/stage")),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// The log and its rotated files (`<stem>-<time>.<ext>` beside it), oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("log");
    let (prefix, suffix) = (format!("{stem}-"), format!(".{ext}"));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
                })
                .collect()
        })
        .unwrap_or_default();
    rotated.sort();
    rotated.push(path.to_path_buf());
    rotated
}

/// `cceonectl audit`.
pub(crate) fn run(a: AuditArgs) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let since = match &a.since {
        Some(s) => Some(parse_time(s, now).with_context(|| format!("--since {s:?}"))?),
        None => None,
    };
    let until = match &a.until {
        Some(s) => Some(parse_time(s, now).with_context(|| format!("--until {s:?}"))?),
        None => None,
    };
    let filter = Filter {
        stage: a.stage,
        user: a.user,
        verb: a.verb,
        resource: a.resource,
        namespace: a.namespace,
        since,
        until,
    };
    let events = read_events(&a.file, &filter)?;
    if a.json {
        let mut out = String::new();
        for e in &events {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        return emit(&out);
    }
    emit(&table(&events))
}

/// The events of a log and its rotated files, oldest first, that match `filter`.
fn read_events(path: &Path, filter: &Filter) -> anyhow::Result<Vec<Value>> {
    let mut events = Vec::new();
    for f in files(path) {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && f != path => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", f.display())),
        };
        // A line cut short by a crash mid-write is skipped, not fatal.
        events.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| filter.matches(e)),
        );
    }
    Ok(events)
}

/// An RFC 3339 time, or a duration (`1h`, `30m`) meaning that long before `now`.
fn parse_time(s: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let d = crate::args::parse_duration(s).map_err(anyhow::Error::msg)?;
    let d = jiff::SignedDuration::try_from(d)?;
    Ok(now.checked_sub(d)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(user: &str, verb: &str, resource: &str, group: &str, ns: &str, at: &str) -> Value {
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": verb,
               "user": {"username": user}, "requestURI": "/x",
               "objectRef": {"resource": resource, "apiGroup": group, "namespace": ns, "name": "n"},
               "responseStatus": {"code": 403}, "requestReceivedTimestamp": at,
               "stage": "ResponseComplete"})
    }

    #[test]
    fn filters_by_user_verb_resource_namespace_and_time() {
        let a = ev(
            "alice",
            "create",
            "deployments",
            "apps",
            "team-b",
            "2026-01-01T00:00:00.000000Z",
        );
        let mut b = ev(
            "admin",
            "get",
            "secrets",
            "",
            "team-a",
            "2026-01-01T01:00:00.000000Z",
        );
        b["impersonatedUser"] = json!({"username": "alice"});
        b["stage"] = json!("ResponseStarted");
        let f =
            |filter: Filter| -> Vec<bool> { [&a, &b].iter().map(|e| filter.matches(e)).collect() };
        assert_eq!(f(Filter::default()), [true, true]);
        let user = |u: &str| Filter {
            user: Some(u.into()),
            ..Filter::default()
        };
        assert_eq!(f(user("alice")), [true, true], "impersonated counts");
        assert_eq!(f(user("admin")), [false, true]);
        let res = |r: &str| Filter {
            resource: Some(r.into()),
            ..Filter::default()
        };
        assert_eq!(f(res("deployments")), [true, false]);
        assert_eq!(f(res("deployments.apps")), [true, false]);
        assert_eq!(
            f(Filter {
                verb: Some("get".into()),
                ..Filter::default()
            }),
            [false, true]
        );
        assert_eq!(
            f(Filter {
                namespace: Some("team-b".into()),
                ..Filter::default()
            }),
            [true, false]
        );
        let half = "2026-01-01T00:30:00Z".parse().unwrap();
        assert_eq!(
            f(Filter {
                since: Some(half),
                ..Filter::default()
            }),
            [false, true]
        );
        assert_eq!(
            f(Filter {
                until: Some(half),
                ..Filter::default()
            }),
            [true, false]
        );
        assert_eq!(
            f(Filter {
                stage: Some("ResponseStarted".into()),
                ..Filter::default()
            }),
            [false, true]
        );
        let now: Timestamp = "2026-01-01T02:00:00Z".parse().unwrap();
        assert_eq!(parse_time("90m", now).unwrap(), half);
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn table_columns() {
        let a = ev(
            "alice",
            "create",
            "deployments",
            "apps",
            "team-b",
            "2026-01-01T00:00:00.000000Z",
        );
        let t = table(&[a]);
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(
            rows,
            vec![
                vec![
                    "TIME",
                    "USER",
                    "AS",
                    "VERB",
                    "RESOURCE",
                    "NAMESPACE",
                    "NAME",
                    "CODE",
                    "STAGE"
                ],
                vec![
                    "2026-01-01T00:00:00.000000Z",
                    "alice",
                    "-",
                    "create",
                    "deployments.apps",
                    "team-b",
                    "n",
                    "403",
                    "ResponseComplete"
                ],
            ]
        );
    }

    #[test]
    fn a_request_whose_stages_span_a_rotation_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        // A watch started before the log rotated and ended after it; a line cut short by a
        // crash is skipped.
        let line = |stage: &str| {
            format!(
                "{}\n",
                json!({"auditID": "w", "stage": stage, "verb": "watch",
                       "requestReceivedTimestamp": "2026-01-01T00:00:00.000000Z"})
            )
        };
        std::fs::write(
            dir.path().join("audit-2026-01-01T00-00-01.000000000.log"),
            line("RequestReceived") + &line("ResponseStarted") + "{\"auditID\": \"cut",
        )
        .unwrap();
        std::fs::write(&log, line("ResponseComplete")).unwrap();
        let read = |stage: Option<&str>| -> Vec<String> {
            let filter = Filter {
                stage: stage.map(str::to_string),
                ..Filter::default()
            };
            read_events(&log, &filter)
                .unwrap()
                .iter()
                .map(|e| text(e, "/stage").to_string())
                .collect()
        };
        assert_eq!(
            read(None),
            ["RequestReceived", "ResponseStarted", "ResponseComplete"]
        );
        assert_eq!(read(Some("ResponseComplete")), ["ResponseComplete"]);
    }
}
