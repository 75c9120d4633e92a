//! The error every patch function returns.

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatchError {
    /// The patch document itself is malformed (not the right JSON shape, unknown op, bad
    /// pointer, unknown `$` directive...). The message says what and where.
    #[error("invalid patch: {0}")]
    Invalid(String),
    /// The patch is well formed but does not apply to this document: a JSON patch `test` op
    /// failed, or a path to remove/replace/move/copy from does not exist.
    #[error("patch failed: {0}")]
    Failed(String),
}
