//! `cceonectl store recover-wal` on a store whose WAL was damaged mid-log: the store refuses to
//! start, naming the command; the command keeps a copy, reports what it dropped, and the store
//! starts again with the acknowledged writes before the damage.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use cceone_kube_store::{EmbeddedOptions, EmbeddedStore, Store, StoreError};
use serde_json::json;

#[tokio::test]
async fn recover_wal_keeps_a_copy_and_lets_the_store_start() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        dir: Some(dir.path().to_owned()),
        ..EmbeddedOptions::default()
    };
    let s = EmbeddedStore::open(opts.clone()).unwrap();
    for i in 0..20 {
        s.create(&format!("/t/{i:02}"), json!({"metadata": {}, "n": i}))
            .await
            .unwrap();
    }
    s.close().await;
    drop(s);
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0x55;
    std::fs::write(&seg, &data).unwrap();

    let err = EmbeddedStore::open(opts.clone()).err().unwrap();
    let message = err.to_string();
    assert!(matches!(err, StoreError::CorruptWal { .. }), "{message}");
    let command = format!("cceonectl store recover-wal {}", dir.path().display());
    assert!(message.contains(&command), "{message}");

    let out = Command::new(env!("CARGO_BIN_EXE_cceonectl"))
        .args(["store", "recover-wal"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    assert!(
        stdout.contains("intact record(s) after the damage"),
        "{stdout}"
    );
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    assert!(stdout.contains(&backup.display().to_string()), "{stdout}");
    assert_eq!(
        std::fs::read(backup.join(seg.file_name().unwrap())).unwrap(),
        data
    );

    let s = EmbeddedStore::open(opts).unwrap();
    let kept = s.list("/t/", None, None, None).await.unwrap().items.len();
    s.close().await;
    assert!(kept > 0 && kept < 20, "kept {kept}");
    assert!(
        stdout.contains(&format!("holding {} intact", 20 - kept - 1)),
        "{stdout}"
    );

    // A second run finds nothing to do.
    let out = Command::new(env!("CARGO_BIN_EXE_cceonectl"))
        .args(["store", "recover-wal"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing changed"));
}
