//! Kubernetes patch semantics over plain `serde_json::Value`s: RFC 6902 JSON patch, RFC 7386 JSON
//! merge patch, strategic merge patch for the built-in kinds, and server-side apply field
//! management (`managedFields`). Pure functions, no I/O: the API server calls them.

mod equal;
mod error;
mod jsonpatch;
pub mod keys;
mod mergepatch;
mod strategic;

pub use error::PatchError;
pub use jsonpatch::json_patch;
pub use mergepatch::merge_patch;
pub use strategic::strategic_merge_patch;
