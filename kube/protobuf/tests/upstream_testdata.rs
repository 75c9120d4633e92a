//! Optional check against Kubernetes' own round-trip fixtures: every field of every kind set.
//!
//! Point `CCEONE_K8S_TESTDATA` at a directory holding k8s.io/api's `testdata/HEAD/*.pb` and
//! `*.json` files (for example extracted from a checkout of the `v0.36.3` tag); each `.pb` whose
//! kind this crate knows must decode to its `.json`. Without the variable the test does nothing.

#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn upstream_round_trip_fixtures_decode_to_their_json() {
    let Some(dir) = std::env::var_os("CCEONE_K8S_TESTDATA") else {
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(Path::new(&dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .collect();
    entries.sort();
    for pb in entries {
        let raw = std::fs::read(&pb).unwrap();
        let Ok(json) = std::fs::read(pb.with_extension("json")) else {
            continue;
        };
        let expected: serde_json::Value = serde_json::from_slice(&json).unwrap();
        match cceone_kube_protobuf::decode(&raw) {
            Ok(got) if got == expected => checked += 1,
            Ok(got) => failures.push(format!(
                "{}: decoded\n{}\nexpected\n{}",
                pb.display(),
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&expected).unwrap()
            )),
            // WatchEvent (no typeMeta) and kinds outside this crate are not request bodies.
            Err(
                cceone_kube_protobuf::ProtoError::UnknownKind { .. }
                | cceone_kube_protobuf::ProtoError::MissingTypeMeta,
            ) => {}
            Err(e) => failures.push(format!("{}: {e}", pb.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("{checked} upstream fixtures decoded");
    assert!(checked > 0);
}
