//! Decoding of hand-encoded bodies: the envelope errors, kinds kubectl does not send (Lease),
//! packed repeated fields, unknown fields and wire-type mismatches.

#![allow(clippy::unwrap_used)]

use cceone_kube_protobuf::{ProtoError, decode};
use serde_json::json;

/// Appends a varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint field.
fn int(num: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(num << 3, &mut out);
    varint(v, &mut out);
    out
}

/// A length-delimited field.
fn len(num: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((num << 3) | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A string field.
fn s(num: u64, text: &str) -> Vec<u8> {
    len(num, text.as_bytes())
}

/// A `k8s\0` body with a `runtime.Unknown` envelope around `raw`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = b"k8s\x00".to_vec();
    out.extend(len(1, &[s(1, api_version), s(2, kind)].concat()));
    out.extend(len(2, raw));
    out.extend(s(3, ""));
    out.extend(s(4, ""));
    out
}

/// `ObjectMeta` as Go writes it: name, the always-written zero scalars, an empty creationTimestamp.
fn meta(name: &str) -> Vec<u8> {
    [
        s(1, name),
        s(2, ""),
        s(3, ""),
        s(4, ""),
        s(5, ""),
        s(6, ""),
        int(7, 0),
        len(8, &[]),
    ]
    .concat()
}

#[test]
fn lease_with_micro_times() {
    // 2026-01-01T00:00:00.123456789Z
    let time = [int(1, 1_767_225_600), int(2, 123_456_789)].concat();
    let spec = [
        s(1, "node-a"),
        int(2, 40),
        len(3, &time),
        len(4, &time),
        int(5, 0),
    ]
    .concat();
    let raw = [len(1, &meta("node-a")), len(2, &spec)].concat();
    let got = decode(&envelope("coordination.k8s.io/v1", "Lease", &raw)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Lease",
            "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": "node-a", "creationTimestamp": null},
            "spec": {
                "holderIdentity": "node-a",
                "leaseDurationSeconds": 40,
                "acquireTime": "2026-01-01T00:00:00.123456Z",
                "renewTime": "2026-01-01T00:00:00.123456Z",
                "leaseTransitions": 0
            }
        })
    );
}

#[test]
fn times_drop_nanoseconds_and_print_utc() {
    let time = [int(1, 1_767_225_600), int(2, 999)].concat();
    let metadata = [meta("ns"), len(9, &time)].concat();
    let got = decode(&envelope("v1", "Namespace", &len(1, &metadata))).unwrap();
    assert_eq!(got["metadata"]["deletionTimestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(
        got["metadata"]["creationTimestamp"],
        serde_json::Value::Null
    );
}

#[test]
fn packed_and_unpacked_repeated_integers() {
    let mut packed = Vec::new();
    varint(4000, &mut packed);
    varint(5000, &mut packed);
    for security in [len(4, &packed), [int(4, 4000), int(4, 5000)].concat()] {
        let spec = len(14, &security);
        let raw = [len(1, &meta("p")), len(2, &spec)].concat();
        let got = decode(&envelope("v1", "Pod", &raw)).unwrap();
        assert_eq!(
            got["spec"]["securityContext"],
            json!({"supplementalGroups": [4000, 5000]})
        );
        // A nil containers slice (no omitempty) prints as null, like Go.
        assert_eq!(got["spec"]["containers"], serde_json::Value::Null);
    }
}

#[test]
fn negative_int32_and_int_or_string() {
    // PodDisruptionBudget.spec.minAvailable (IntOrString) and a status int32 of -1.
    let min = [int(1, 0), int(2, 3), s(3, "")].concat();
    let spec = len(1, &min);
    let status = int(1, (-1i64) as u64);
    let raw = [len(1, &meta("pdb")), len(2, &spec), len(3, &status)].concat();
    let got = decode(&envelope("policy/v1", "PodDisruptionBudget", &raw)).unwrap();
    assert_eq!(got["spec"]["minAvailable"], 3);
    assert_eq!(got["status"]["observedGeneration"], -1);
}

#[test]
fn unknown_fields_are_skipped() {
    let metadata = [meta("demo"), int(99, 7), len(1000, b"future")].concat();
    let raw = [
        len(1, &metadata),
        len(2, &[]),
        len(3, &[]),
        int(50, 1),
        vec![0x99, 0x03, 1, 2, 3, 4, 5, 6, 7, 8], // field 51, 64-bit
        vec![0x9d, 0x03, 1, 2, 3, 4],             // field 51, 32-bit
    ]
    .concat();
    let got = decode(&envelope("v1", "Namespace", &raw)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": "demo", "creationTimestamp": null},
            "spec": {},
            "status": {}
        })
    );
}

#[test]
fn repeated_sub_messages_merge() {
    // Protobuf merges two occurrences of a singular message field.
    let raw = [
        len(1, &s(1, "a")),
        len(1, &len(11, &[s(1, "k"), s(2, "v")].concat())),
    ]
    .concat();
    let got = decode(&envelope("v1", "ServiceAccount", &raw)).unwrap();
    assert_eq!(
        got["metadata"],
        json!({"name": "a", "labels": {"k": "v"}, "creationTimestamp": null})
    );
}

#[test]
fn envelope_errors() {
    assert!(matches!(decode(b"{}"), Err(ProtoError::MissingMagic)));
    assert!(matches!(
        decode(b"k8s\x00"),
        Err(ProtoError::MissingTypeMeta)
    ));
    let err = decode(&envelope("example.com/v1", "Widget", &[])).unwrap_err();
    assert!(matches!(err, ProtoError::UnknownKind { .. }));
    assert!(err.to_string().contains("example.com/v1") && err.to_string().contains("Widget"));

    let mut gzip = envelope("v1", "Namespace", &[]);
    gzip.extend(s(3, "gzip"));
    assert!(matches!(decode(&gzip), Err(ProtoError::ContentEncoding(e)) if e == "gzip"));

    let mut json_inside = envelope("v1", "Namespace", &[]);
    json_inside.extend(s(4, "application/json"));
    assert!(matches!(
        decode(&json_inside),
        Err(ProtoError::ContentType(_))
    ));
}

#[test]
fn malformed_objects_are_errors() {
    // metadata.name sent as a varint.
    let bad_wire = len(1, &int(1, 5));
    assert!(matches!(
        decode(&envelope("v1", "Namespace", &bad_wire)),
        Err(ProtoError::WireTypeMismatch { field: "name", .. })
    ));
    // metadata.name that is not UTF-8.
    let bad_utf8 = len(1, &len(1, &[0xff, 0xfe]));
    assert!(matches!(
        decode(&envelope("v1", "Namespace", &bad_utf8)),
        Err(ProtoError::InvalidUtf8 { field: "name", .. })
    ));
    // A length running past the end.
    assert!(matches!(
        decode(&envelope("v1", "Namespace", &[0x0a, 0x05, 0x0a])),
        Err(ProtoError::Truncated)
    ));
    // IntOrString with an impossible type.
    let spec = len(1, &int(1, 7));
    assert!(matches!(
        decode(&envelope(
            "policy/v1",
            "PodDisruptionBudget",
            &len(2, &spec)
        )),
        Err(ProtoError::InvalidValue {
            field: "minAvailable",
            ..
        })
    ));
}

#[test]
fn every_kind_decodes_an_empty_object() {
    for (api_version, kind) in [
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "Node"),
        ("v1", "PersistentVolume"),
        ("v1", "Event"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "ControllerRevision"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("coordination.k8s.io/v1", "Lease"),
        ("meta.k8s.io/v1", "DeleteOptions"),
    ] {
        let got = decode(&envelope(api_version, kind, &[])).unwrap();
        assert_eq!(got["kind"], kind);
        assert_eq!(got["apiVersion"], api_version);
    }
    let pod = decode(&envelope("v1", "Pod", &[])).unwrap();
    assert_eq!(
        pod,
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"containers": null},
            "status": {}
        })
    );
}
