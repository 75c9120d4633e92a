//! Label and field selectors, parsed once per request and matched against objects.

use serde_json::Value;

use crate::error::ApiError;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector (`app=nginx,tier in (web,api),!canary`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<Req>,
}

impl LabelSelector {
    /// Parse the string form used in `?labelSelector=`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let bad =
            |m: &str| ApiError::BadRequest(format!("unable to parse requirement: {m}: \"{s}\""));
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Req::NotExists(check_key(key.trim()).map_err(|m| bad(&m))?)
            } else if let Some((k, rest)) = split_word(part, " notin ") {
                Req::NotIn(
                    check_key(k).map_err(|m| bad(&m))?,
                    parse_set(rest).ok_or_else(|| bad("bad set"))?,
                )
            } else if let Some((k, rest)) = split_word(part, " in ") {
                Req::In(
                    check_key(k).map_err(|m| bad(&m))?,
                    parse_set(rest).ok_or_else(|| bad("bad set"))?,
                )
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(
                    check_key(k.trim()).map_err(|m| bad(&m))?,
                    v.trim().to_string(),
                )
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(
                    check_key(k.trim()).map_err(|m| bad(&m))?,
                    v.trim().to_string(),
                )
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(
                    check_key(k.trim()).map_err(|m| bad(&m))?,
                    v.trim().to_string(),
                )
            } else if let Some((k, v)) = part.split_once('>') {
                let n = v.trim().parse().map_err(|_| bad("not an integer"))?;
                Req::Gt(check_key(k.trim()).map_err(|m| bad(&m))?, n)
            } else if let Some((k, v)) = part.split_once('<') {
                let n = v.trim().parse().map_err(|_| bad("not an integer"))?;
                Req::Lt(check_key(k.trim()).map_err(|m| bad(&m))?, n)
            } else {
                Req::Exists(check_key(part).map_err(|m| bad(&m))?)
            };
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    /// Build from a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("matchExpressions[].key is required")?;
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let req = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Req::In(key.into(), values),
                    Some("NotIn") => Req::NotIn(key.into(), values),
                    Some("Exists") => Req::Exists(key.into()),
                    Some("DoesNotExist") => Req::NotExists(key.into()),
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                };
                reqs.push(req);
            }
        }
        Ok(LabelSelector { reqs })
    }

    /// True when the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether the labels of `obj` (`metadata.labels`) satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.matches_labels(labels)
    }

    /// Whether a stored object (its JSON bytes) satisfies every requirement: only its
    /// `metadata.labels` are read out of the bytes (the rest is skipped, not built), so a
    /// label-selected list or watch does not parse every object whole. An object that does
    /// not parse matches nothing.
    pub fn matches_bytes(&self, bytes: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Labeled {
            #[serde(default)]
            metadata: LabeledMeta,
        }
        #[derive(serde::Deserialize, Default)]
        struct LabeledMeta {
            #[serde(default)]
            labels: Option<Value>,
        }
        serde_json::from_slice::<Labeled>(bytes)
            .is_ok_and(|o| self.matches_labels(o.metadata.labels.as_ref()))
    }

    /// Whether a labels map satisfies every requirement.
    pub fn matches_labels(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
            Req::Gt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Req::Lt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }

    /// The selector in its string form.
    pub fn to_string_form(&self) -> String {
        let parts: Vec<String> = self
            .reqs
            .iter()
            .map(|r| match r {
                Req::Eq(k, v) => format!("{k}={v}"),
                Req::NotEq(k, v) => format!("{k}!={v}"),
                Req::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Req::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Req::Exists(k) => k.clone(),
                Req::NotExists(k) => format!("!{k}"),
                Req::Gt(k, n) => format!("{k}>{n}"),
                Req::Lt(k, n) => format!("{k}<{n}"),
            })
            .collect();
        parts.join(",")
    }
}

fn check_key(k: &str) -> Result<String, String> {
    let ok = !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(k.to_string())
    } else {
        Err(format!("invalid label key \"{k}\""))
    }
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn split_word<'a>(s: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    s.find(word)
        .map(|i| (s[..i].trim(), s[i + word.len()..].trim()))
}

fn parse_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

/// A parsed field selector (`metadata.name=x,status.phase!=Running`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parse and check each field against what `kind` supports.
    pub fn parse(s: &str, kind: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::BadRequest(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if !supported_field(kind, field) {
                return Err(ApiError::BadRequest(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((field.to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector { reqs })
    }

    /// True when nothing is selected on.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether `obj` satisfies the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(field, neg, want)| {
            let have = field_value(obj, field);
            (have == *want) != *neg
        })
    }
}

fn supported_field(kind: &str, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let allowed: &[&str] = match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
        ],
        "Secret" => &["type"],
        "Node" => &["spec.unschedulable"],
        "Namespace" => &["status.phase"],
        "ReplicaSet" | "ReplicationController" => &["status.replicas"],
        "Job" => &["status.successful"],
        "Work" | "ResourceBinding" | "ClusterResourceBinding" => &[],
        _ => &[],
    };
    allowed.contains(&field)
}

/// The string value of a dotted field (empty when absent; booleans and numbers as text).
pub fn field_value(obj: &Value, field: &str) -> String {
    let field = if field == "source" {
        "source.component"
    } else {
        field
    };
    let pointer = format!("/{}", field.replace('.', "/"));
    match obj.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ if field == "spec.unschedulable" || field == "spec.hostNetwork" => "false".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let obj = json!({"metadata": {"labels": {"app": "nginx", "tier": "web", "n": "5"}}});
        let yes = [
            "app=nginx",
            "app==nginx",
            "tier in (web,api)",
            "canary notin (x)",
            "app",
            "!canary",
            "n>3",
            "app!=x,tier",
        ];
        let bytes = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": obj["metadata"]["labels"]},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}))
        .unwrap();
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&obj), "{s}");
            assert!(
                LabelSelector::parse(s).unwrap().matches_bytes(&bytes),
                "{s}"
            );
        }
        // An object without labels, and bytes that are not an object.
        let bare = br#"{"metadata": {"name": "p"}, "spec": {}}"#;
        assert!(LabelSelector::parse("!app").unwrap().matches_bytes(bare));
        assert!(!LabelSelector::parse("app").unwrap().matches_bytes(bare));
        assert!(!LabelSelector::parse("!app").unwrap().matches_bytes(b"[1,2"));
        let no = [
            "app=x",
            "tier notin (web)",
            "!app",
            "n<3",
            "app=nginx,tier=api",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&obj), "{s}");
            assert!(
                !LabelSelector::parse(s).unwrap().matches_bytes(&bytes),
                "{s}"
            );
        }
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn field_selector_checks_support() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending", "Pod").unwrap();
        assert!(sel.matches(&pod));
        let e = FieldSelector::parse("spec.bogus=1", "Pod").unwrap_err();
        assert_eq!(e.code(), 400);
    }
}
