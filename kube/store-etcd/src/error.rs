//! etcd client errors as [`StoreError`]s, in one place: compaction becomes `Compacted` (410 Gone
//! at the API), an oversized object `InvalidObject`, everything else `Io` with the etcd error
//! kept as its source.

use std::io::ErrorKind;

use cceone_kube_store::{Revision, StoreError};

/// etcd's message for a read or watch at a compacted revision (`mvcc.ErrCompacted`).
const COMPACTED: &str = "required revision has been compacted";
/// etcd's messages for a request over `--max-request-bytes` (`ErrRequestTooLarge`) and over
/// its gRPC receive limit (that plus 512 KiB).
const TOO_LARGE: [&str; 2] = ["request is too large", "received message larger than max"];

/// Maps an etcd error; `requested`/`compacted` fill in a `Compacted` answer.
pub(crate) fn map(e: etcd_client::Error, requested: Revision, compacted: Revision) -> StoreError {
    if let etcd_client::Error::GRpcStatus(status) = &e {
        let message = status.message();
        if message.contains(COMPACTED) {
            return StoreError::Compacted {
                requested,
                compacted,
            };
        }
        if TOO_LARGE.iter().any(|m| message.contains(m)) {
            return StoreError::InvalidObject(format!("object too large for etcd: {message}"));
        }
    }
    let kind = match &e {
        etcd_client::Error::GRpcStatus(status) => match i32::from(status.code()) {
            grpc_code::DEADLINE_EXCEEDED => ErrorKind::TimedOut,
            grpc_code::UNAVAILABLE => ErrorKind::ConnectionRefused,
            grpc_code::PERMISSION_DENIED | grpc_code::UNAUTHENTICATED => {
                ErrorKind::PermissionDenied
            }
            _ => ErrorKind::Other,
        },
        etcd_client::Error::TransportError(_) => ErrorKind::ConnectionRefused,
        etcd_client::Error::IoError(io) => io.kind(),
        _ => ErrorKind::Other,
    };
    StoreError::Io(std::io::Error::new(kind, EtcdError(e)))
}

/// A request that did not answer within the configured timeout.
pub(crate) fn timed_out(what: &'static str) -> StoreError {
    StoreError::Io(std::io::Error::new(
        ErrorKind::TimedOut,
        format!("etcd {what} request timed out"),
    ))
}

/// Whether an error is worth retrying on a new connection (etcd down or restarting).
pub(crate) fn transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Io(io) if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::ConnectionRefused | ErrorKind::Other))
}

/// The etcd client error, named as such in messages.
#[derive(Debug, thiserror::Error)]
#[error("etcd: {0}")]
pub(crate) struct EtcdError(#[source] pub(crate) etcd_client::Error);

/// gRPC status codes matched above (tonic's `Code` converts to these numbers).
mod grpc_code {
    pub(super) const DEADLINE_EXCEEDED: i32 = 4;
    pub(super) const PERMISSION_DENIED: i32 = 7;
    pub(super) const UNAVAILABLE: i32 = 14;
    pub(super) const UNAUTHENTICATED: i32 = 16;
}
