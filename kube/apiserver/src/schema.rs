//! Structural-schema validation and pruning of custom resources against their CRD's
//! `openAPIV3Schema`, with field paths in every cause (as apiextensions-apiserver reports them).

use serde_json::{Map, Value};

use crate::error::Cause;

/// Fields every object may carry whatever its schema says.
const ALWAYS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Drop (or, when `strict`, report) fields the schema does not know, and check types, required
/// fields, enums and bounds.
pub fn prune_and_validate(obj: &mut Value, schema: &Value, strict: bool, causes: &mut Vec<Cause>) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| {
            !ALWAYS.contains(&k.as_str()) && !preserve && props.is_none_or(|p| !p.contains_key(*k))
        })
        .cloned()
        .collect();
    for k in unknown {
        if strict {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("unknown field \"{k}\""),
                field: k.clone(),
            });
        }
        map.remove(&k);
    }
    check_required(map, schema, "", causes);
    if let Some(props) = props {
        for (k, sub) in props {
            if ALWAYS.contains(&k.as_str()) {
                continue;
            }
            if let Some(v) = map.get_mut(k) {
                walk(v, sub, k, strict, causes);
            }
        }
    }
}

/// Drops the fields the schema does not know, as apiextensions-apiserver's pruning does, and
/// names them as upstream's strict decoding errors do (`spec.items[0].colour`); the request's
/// `fieldValidation` decides what is said about them ([`crate::openapi`]).
pub(crate) fn prune_unknown(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Some(map) = obj.as_object_mut() {
        prune_map(map, schema, "", true, &mut unknown);
    }
    unknown
}

fn prune_map(
    map: &mut Map<String, Value>,
    schema: &Value,
    path: &str,
    root: bool,
    unknown: &mut Vec<String>,
) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match (
        schema.get("properties").and_then(Value::as_object),
        schema.get("additionalProperties").filter(|a| a.is_object()),
    ) {
        (Some(props), _) => map.retain(|k, v| {
            if root && ALWAYS.contains(&k.as_str()) {
                return true;
            }
            let here = join(path, k);
            match props.get(k) {
                Some(sub) => {
                    prune_value(v, sub, &here, unknown);
                    true
                }
                None => {
                    unknown.push(here);
                    false
                }
            }
        }),
        (None, Some(add)) => {
            for (k, v) in map.iter_mut() {
                prune_value(v, add, &join(path, k), unknown);
            }
        }
        (None, None) if root => map.retain(|k, _| {
            let keep = ALWAYS.contains(&k.as_str());
            if !keep {
                unknown.push(k.clone());
            }
            keep
        }),
        (None, None) => {}
    }
}

fn prune_value(v: &mut Value, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    match v {
        Value::Object(map) => prune_map(map, schema, path, false, unknown),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_value(item, item_schema, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

fn check_required(map: &Map<String, Value>, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                causes.push(Cause::required(join(path, r)));
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(v: &mut Value, schema: &Value, path: &str, strict: bool, causes: &mut Vec<Cause>) {
    if v.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let have = type_name(v);
        let ok = have == want
            || (want == "number" && have == "integer")
            || (int_or_string && matches!(have, "integer" | "string"));
        if !ok {
            causes.push(Cause {
                reason: "FieldValueTypeInvalid".into(),
                message: format!(
                    "Invalid value: \"{have}\": {path} in body must be of type {want}: \"{have}\""
                ),
                field: path.to_string(),
            });
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let names: Vec<String> = options
            .iter()
            .map(|o| {
                o.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| o.to_string())
            })
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        causes.push(Cause::not_supported(path, v, &names));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            causes.push(Cause::invalid(
                path,
                v,
                &format!("{path} in body should be greater than or equal to {min}"),
            ));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            causes.push(Cause::invalid(
                path,
                v,
                &format!("{path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            causes.push(Cause::invalid(
                path,
                v,
                &format!(
                    "{path} in body should be at least {} chars long",
                    schema["minLength"]
                ),
            ));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            causes.push(Cause::invalid(
                path,
                v,
                &format!(
                    "{path} in body may not be longer than {}",
                    schema["maxLength"]
                ),
            ));
        }
    }
    match v {
        Value::Object(map) => {
            check_required(map, schema, path, causes);
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            if let Some(props) = props {
                let unknown: Vec<String> = map
                    .keys()
                    .filter(|k| !props.contains_key(*k))
                    .cloned()
                    .collect();
                if !preserve && additional.is_none_or(|a| a == &Value::Bool(false)) {
                    for k in unknown {
                        if strict {
                            causes.push(Cause {
                                reason: "FieldValueInvalid".into(),
                                message: format!("unknown field \"{}\"", join(path, &k)),
                                field: join(path, &k),
                            });
                        }
                        map.remove(&k);
                    }
                }
                for (k, sub) in props {
                    if let Some(child) = map.get_mut(k) {
                        walk(child, sub, &join(path, k), strict, causes);
                    }
                }
            } else if let Some(add) = additional.filter(|a| a.is_object()) {
                for (k, child) in map.iter_mut() {
                    walk(child, add, &join(path, k), strict, causes);
                }
            }
        }
        Value::Array(items) => {
            if schema
                .get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (items.len() as u64) < m)
            {
                causes.push(Cause::invalid(
                    path,
                    &Value::from(items.len()),
                    &format!(
                        "{path} in body should have at least {} items",
                        schema["minItems"]
                    ),
                ));
            }
            if schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (items.len() as u64) > m)
            {
                causes.push(Cause::invalid(
                    path,
                    &Value::from(items.len()),
                    &format!(
                        "{path} in body should have at most {} items",
                        schema["maxItems"]
                    ),
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), strict, causes);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prune_unknown_names_paths_and_keeps_preserved_and_maps() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}, "extra": 1,
            "spec": {"items": [{"a": "1", "colour": "red"}], "labels": {"k": "v"}, "free": {"any": 1}, "typo": 2}});
        let unknown = prune_unknown(&mut obj, &schema);
        assert_eq!(unknown, vec!["extra", "spec.items[0].colour", "spec.typo"]);
        assert_eq!(obj["spec"]["labels"]["k"], "v");
        assert_eq!(obj["spec"]["free"]["any"], 1);
        assert_eq!(obj["metadata"]["name"], "n");
    }

    #[test]
    fn prunes_and_names_fields() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
            "properties": {"size": {"type": "integer", "minimum": 1}, "mode": {"type": "string", "enum": ["A", "B"]}}}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {}, "spec": {"size": 0, "mode": "C", "junk": 1}, "extra": true});
        let mut causes = vec![];
        prune_and_validate(&mut obj, &schema, false, &mut causes);
        assert!(obj.get("extra").is_none());
        assert!(obj["spec"].get("junk").is_none());
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.mode", "spec.size"]);
        let mut obj = json!({"spec": {"mode": "A"}});
        let mut causes = vec![];
        prune_and_validate(&mut obj, &schema, true, &mut causes);
        assert_eq!(causes[0].field, "spec.size");
    }
}
