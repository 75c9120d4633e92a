//! Bodies captured from the real `kubectl` (v1.32) `kubectl create ...` subcommands, each with
//! the JSON `kubectl create ... --dry-run=client -o json` prints for the same object: every
//! `tests/fixtures/<name>.pb` must decode to exactly `tests/fixtures/<name>.json`.
//!
//! How the fixtures were made (the command lines are in `tests/fixtures/README.md`): the simulator
//! ran with `CCEONE_KUBEAPI_DUMP_PROTOBUF` set, which saves each protobuf request body.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut pbs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .collect();
    pbs.sort();
    pbs
}

#[test]
fn every_kubectl_body_decodes_to_the_dry_run_json() {
    let pbs = fixtures();
    assert!(pbs.len() >= 30, "only {} fixtures", pbs.len());
    let mut failures = Vec::new();
    for pb in &pbs {
        let raw = std::fs::read(pb).unwrap();
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(pb.with_extension("json")).unwrap()).unwrap();
        match cceone_kube_protobuf::decode(&raw) {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!(
                "{}: decoded\n{}\nexpected\n{}",
                pb.display(),
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&expected).unwrap()
            )),
            Err(e) => failures.push(format!("{}: {e}", pb.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn truncating_a_kubectl_body_never_panics() {
    for pb in fixtures() {
        let raw = std::fs::read(&pb).unwrap();
        for len in 0..raw.len() {
            // A prefix may still decode (when it ends between fields); it must not panic.
            let _ = cceone_kube_protobuf::decode(&raw[..len]);
        }
    }
}
