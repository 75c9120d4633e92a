//! Encoding of JSON objects into Kubernetes protobuf with the same descriptor tables the
//! decoder reads: what kube-apiserver answers a client that asks for
//! `application/vnd.kubernetes.protobuf` (client-go's typed clients in kube-controller-manager
//! style, `Accept: application/vnd.kubernetes.protobuf, application/json`).
//!
//! Each JSON field the descriptor knows is written with its number and wire type; fields the
//! JSON leaves out are left off the wire (Go writes zero values of non-pointer fields, which
//! every decoder reads as absent anyway), and JSON fields the descriptor does not know are
//! dropped, as a Go server's typed object never had them. Repeated scalars are unpacked, as
//! the proto2 `generated.proto` files declare them.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::descriptor::{Field, INLINE, LIST, MAP, Message, Ty};
use crate::{MAGIC, MAX_DEPTH, ProtoError, kinds};

/// Whether objects of `kind` in `api_version` can be encoded.
pub fn can_encode(api_version: &str, kind: &str) -> bool {
    kinds::lookup(api_version, kind).is_some()
}

/// Encode `obj` (with its `apiVersion` and `kind`) as a `k8s\0`-enveloped protobuf body.
pub fn encode(obj: &Value) -> Result<Vec<u8>, ProtoError> {
    let (api_version, kind, msg) = known(obj)?;
    let mut raw = Vec::new();
    message(msg, as_object(msg, "", obj)?, &mut raw, 0)?;
    Ok(envelope(api_version, kind, &raw))
}

/// Encode a list (`<Kind>List` of `api_version`) of `items`, each of the kind `item_kind`,
/// with the list's `metadata` (`resourceVersion`, `continue`, `remainingItemCount`).
pub fn encode_list(
    api_version: &str,
    item_kind: &str,
    metadata: &Value,
    items: &[Value],
) -> Result<Vec<u8>, ProtoError> {
    let msg = kinds::lookup(api_version, item_kind).ok_or_else(|| ProtoError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: item_kind.to_owned(),
    })?;
    let mut raw = Vec::new();
    // ListMeta {1: selfLink, 2: resourceVersion, 3: continue, 4: remainingItemCount}.
    let mut meta = Vec::new();
    for (num, key) in [(2, "resourceVersion"), (3, "continue")] {
        if let Some(s) = metadata.get(key).and_then(Value::as_str) {
            put_bytes(&mut meta, num, s.as_bytes());
        }
    }
    if let Some(n) = metadata.get("remainingItemCount").and_then(Value::as_i64) {
        put_varint_field(&mut meta, 4, n as u64);
    }
    put_bytes(&mut raw, 1, &meta);
    let mut item = Vec::new();
    for obj in items {
        item.clear();
        message(msg, as_object(msg, "items", obj)?, &mut item, 0)?;
        put_bytes(&mut raw, 2, &item);
    }
    Ok(envelope(api_version, &format!("{item_kind}List"), &raw))
}

fn known(obj: &Value) -> Result<(&str, &str, &'static Message), ProtoError> {
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtoError::MissingTypeMeta);
    }
    let msg = kinds::lookup(api_version, kind).ok_or_else(|| ProtoError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })?;
    Ok((api_version, kind, msg))
}

/// `k8s\0` + `runtime.Unknown{1: typeMeta{1: apiVersion, 2: kind}, 2: raw}`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + type_meta.len() + 16);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, raw);
    // Go writes the empty contentEncoding and contentType too.
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    out
}

fn invalid(msg: &Message, field: &'static str, reason: impl Into<String>) -> ProtoError {
    ProtoError::InvalidValue {
        message: msg.name,
        field,
        reason: reason.into(),
    }
}

fn as_object<'a>(
    msg: &Message,
    field: &'static str,
    v: &'a Value,
) -> Result<&'a Map<String, Value>, ProtoError> {
    v.as_object()
        .ok_or_else(|| invalid(msg, field, "expected an object"))
}

/// Writes the fields of `obj` as `msg`.
fn message(
    msg: &'static Message,
    obj: &Map<String, Value>,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep(MAX_DEPTH));
    }
    for f in msg.fields {
        if f.has(INLINE) {
            // An embedded struct's fields are in the enclosing JSON object.
            if let Ty::Msg(inner) = f.ty {
                let mut sub = Vec::new();
                message(inner, obj, &mut sub, depth + 1)?;
                put_bytes(out, f.num, &sub);
            }
            continue;
        }
        let Some(v) = obj.get(f.json).filter(|v| !v.is_null()) else {
            continue;
        };
        if f.has(MAP) {
            for (k, val) in as_object(msg, f.json, v)? {
                if val.is_null() {
                    continue;
                }
                let mut entry = Vec::new();
                put_bytes(&mut entry, 1, k.as_bytes());
                value(msg, f, 2, val, &mut entry, depth)?;
                put_bytes(out, f.num, &entry);
            }
        } else if f.has(LIST) {
            let items = v
                .as_array()
                .ok_or_else(|| invalid(msg, f.json, "expected a list"))?;
            for item in items {
                value(msg, f, f.num, item, out, depth)?;
            }
        } else {
            value(msg, f, f.num, v, out, depth)?;
        }
    }
    Ok(())
}

/// Writes one value of `f`'s type as field `num`.
fn value(
    msg: &'static Message,
    f: &'static Field,
    num: u32,
    v: &Value,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), ProtoError> {
    let text = || {
        v.as_str()
            .ok_or_else(|| invalid(msg, f.json, "expected a string"))
    };
    match f.ty {
        Ty::Str => put_bytes(out, num, text()?.as_bytes()),
        Ty::Bool => {
            let b = v
                .as_bool()
                .ok_or_else(|| invalid(msg, f.json, "expected a boolean"))?;
            put_varint_field(out, num, u64::from(b));
        }
        Ty::I32 | Ty::I64 => {
            let n = v
                .as_i64()
                .ok_or_else(|| invalid(msg, f.json, "expected an integer"))?;
            // Negative numbers are sign-extended to ten bytes, as Go writes int32 and int64.
            put_varint_field(out, num, n as u64);
        }
        Ty::Bytes => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(text()?)
                .map_err(|e| invalid(msg, f.json, format!("invalid base64: {e}")))?;
            put_bytes(out, num, &raw);
        }
        Ty::Time | Ty::MicroTime => {
            let ts: jiff::Timestamp = text()?
                .parse()
                .map_err(|e| invalid(msg, f.json, format!("invalid time: {e}")))?;
            let mut sub = Vec::new();
            put_varint_field(&mut sub, 1, ts.as_second() as u64);
            let nanos = ts.subsec_nanosecond();
            if nanos != 0 && matches!(f.ty, Ty::MicroTime) {
                put_varint_field(&mut sub, 2, nanos as u64);
            }
            put_bytes(out, num, &sub);
        }
        Ty::Quantity => {
            let s = match v {
                Value::Number(n) => n.to_string(),
                _ => text()?.to_owned(),
            };
            let mut sub = Vec::new();
            put_bytes(&mut sub, 1, s.as_bytes());
            put_bytes(out, num, &sub);
        }
        Ty::IntOrString => {
            let mut sub = Vec::new();
            match v {
                Value::Number(n) => {
                    let i = n
                        .as_i64()
                        .ok_or_else(|| invalid(msg, f.json, "expected an integer"))?;
                    put_varint_field(&mut sub, 1, 0);
                    put_varint_field(&mut sub, 2, i as u64);
                }
                _ => {
                    put_varint_field(&mut sub, 1, 1);
                    put_bytes(&mut sub, 3, text()?.as_bytes());
                }
            }
            put_bytes(out, num, &sub);
        }
        Ty::RawJson => {
            let raw = serde_json::to_vec(v).map_err(|e| invalid(msg, f.json, e.to_string()))?;
            let mut sub = Vec::new();
            put_bytes(&mut sub, 1, &raw);
            put_bytes(out, num, &sub);
        }
        Ty::Msg(inner) => {
            let mut sub = Vec::new();
            message(inner, as_object(msg, f.json, v)?, &mut sub, depth + 1)?;
            put_bytes(out, num, &sub);
        }
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_varint_field(out: &mut Vec<u8>, num: u32, n: u64) {
    put_varint(out, u64::from(num) << 3);
    put_varint(out, n);
}

fn put_bytes(out: &mut Vec<u8>, num: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(num) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What kube-apiserver stores for a Deployment, as JSON.
    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
                         "generation": 2, "creationTimestamp": "2024-06-01T12:00:00Z",
                         "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "1"},
                         "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                                            "time": "2024-06-01T12:00:00Z", "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                           "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                           "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}],
                                           "restartPolicy": "Always", "terminationGracePeriodSeconds": 30}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
                       "conditions": [{"type": "Available", "status": "True",
                                       "lastUpdateTime": "2024-06-01T12:00:05Z",
                                       "lastTransitionTime": "2024-06-01T12:00:05Z",
                                       "reason": "MinimumReplicasAvailable", "message": "ok"}]}
        })
    }

    #[test]
    fn objects_read_back_the_same() {
        let d = deployment();
        let back = crate::decode(&encode(&d).unwrap()).unwrap();
        for path in [
            "/metadata",
            "/spec/replicas",
            "/spec/template",
            "/spec/strategy",
            "/status/conditions",
            "/status/readyReplicas",
        ] {
            assert_eq!(back.pointer(path), d.pointer(path), "{path}");
        }
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": {"name": "s", "namespace": "default"},
                            "data": {"k": "aGVsbG8="}});
        let back = crate::decode(&encode(&secret).unwrap()).unwrap();
        assert_eq!(back["data"], secret["data"]);
        assert_eq!(back["type"], "Opaque");
    }

    #[test]
    fn lists_carry_their_metadata_and_items() {
        let body = encode_list(
            "apps/v1",
            "Deployment",
            &json!({"resourceVersion": "42", "continue": "abc", "remainingItemCount": 5}),
            &[deployment(), deployment()],
        )
        .unwrap();
        assert!(body.starts_with(MAGIC));
        // The envelope names the list kind; the items decode as Deployments.
        let kind = b"DeploymentList";
        assert!(body.windows(kind.len()).any(|w| w == kind));
        assert!(!can_encode("example.com/v1", "Widget"));
        assert!(matches!(
            encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})),
            Err(ProtoError::UnknownKind { .. })
        ));
        assert!(matches!(
            encode(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}})),
            Err(ProtoError::InvalidValue { .. })
        ));
    }
}
