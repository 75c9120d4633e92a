//! `cceonectl store recover-wal`: the documented way out when a server refuses to start on a
//! damaged write-ahead log. Works on the files directly; the server must be stopped.

use anyhow::Context as _;

use crate::args::StoreCommand;

/// Runs a `store` subcommand.
pub(crate) fn run(cmd: StoreCommand) -> anyhow::Result<()> {
    let StoreCommand::RecoverWal { dir } = cmd;
    let repair = cceone_kube_store::recover_wal(&dir)
        .with_context(|| format!("recovering the WAL in {}", dir.display()))?;
    let (Some(segment), Some(backup)) = (&repair.segment, &repair.backup) else {
        return crate::emit(&format!(
            "no damaged WAL segment in {}; nothing changed\n",
            dir.display()
        ));
    };
    crate::emit(&format!(
        "cut {} at byte offset {}\ndropped {} bytes holding {} intact record(s) after the damage\n\
         copies of the files as found: {}\n",
        segment.display(),
        repair.offset,
        repair.dropped_bytes,
        repair.dropped_records,
        backup.display()
    ))
}
