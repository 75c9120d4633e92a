//! Property tests: no input makes the decoder panic — random bytes, random bytes behind the magic
//! or inside a valid envelope, random protobuf-shaped messages for every kind kubectl sends, and
//! randomly damaged captured kubectl bodies.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use cceone_kube_protobuf::decode;
use proptest::prelude::*;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn int(num: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(num << 3, &mut out);
    varint(v, &mut out);
    out
}

fn len(num: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((num << 3) | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn fixed(num: u64, wire: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((num << 3) | wire, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = b"k8s\x00".to_vec();
    let type_meta = [len(1, api_version.as_bytes()), len(2, kind.as_bytes())].concat();
    out.extend(len(1, &type_meta));
    out.extend(len(2, raw));
    out
}

/// The kinds `kubectl create` sends, plus Pod and Lease.
const KINDS: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("v1", "ResourceQuota"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("coordination.k8s.io/v1", "Lease"),
];

/// One field with a random small number and a random scalar value of any wire type.
fn leaf_field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (1u64..20, any::<u64>()).prop_map(|(n, v)| int(n, v)),
        (1u64..20, prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(n, b)| len(n, &b)),
        (1u64..20, any::<[u8; 8]>()).prop_map(|(n, b)| fixed(n, 1, &b)),
        (1u64..20, any::<[u8; 4]>()).prop_map(|(n, b)| fixed(n, 5, &b)),
    ]
}

/// A random protobuf-shaped message: fields with small numbers, nested a few levels deep.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop::collection::vec(leaf_field(), 0..6).prop_map(|f| f.concat());
    leaf.prop_recursive(8, 512, 8, |inner| {
        prop::collection::vec(
            prop_oneof![
                leaf_field(),
                (1u64..20, inner).prop_map(|(n, b)| len(n, &b)),
            ],
            0..8,
        )
        .prop_map(|f| f.concat())
    })
}

fn fixture_bodies() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn random_bytes_after_the_magic_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut body = b"k8s\x00".to_vec();
        body.extend(bytes);
        let _ = decode(&body);
    }

    #[test]
    fn random_objects_of_known_kinds_never_panic(
        kind in prop::sample::select(KINDS),
        raw in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode(&envelope(kind.0, kind.1, &raw));
    }

    #[test]
    fn random_messages_of_known_kinds_never_panic(
        kind in prop::sample::select(KINDS),
        raw in message(),
    ) {
        let _ = decode(&envelope(kind.0, kind.1, &raw));
    }

    #[test]
    fn damaged_kubectl_bodies_never_panic(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let bodies = fixture_bodies();
        let mut body = index.get(&bodies).clone();
        for (at, byte, op) in edits {
            if body.is_empty() {
                break;
            }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => {
                    body.remove(i);
                }
            }
        }
        let _ = decode(&body);
    }
}
