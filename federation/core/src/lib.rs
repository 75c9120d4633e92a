//! The pure logic of the federation control plane, modelled on Karmada so that Karmada's YAML
//! applies unchanged: the API definitions ([`crds`]), admission checks ([`validate`]), matching
//! templates to policies ([`detector`]), placement ([`scheduler`]), per-cluster differences
//! ([`overrides`]), Works ([`work`]), status aggregation ([`status`], [`interpret`]) and cluster
//! health ([`health`]).
//!
//! Everything here is a plain function over `serde_json::Value` objects shaped like Karmada's
//! API; there is no I/O and the current time is always an argument, so the controllers that
//! drive these functions stay thin and the logic is tested without a server.

pub mod appfailover;
pub mod crds;
pub mod dependencies;
pub mod detector;
pub mod health;
/// The status interpreter (moved to the typed API crate, which the agent shares).
pub use cceone_karmada_api::interpret;
pub mod overrides;
pub mod scheduler;
pub mod selector;
pub mod status;
pub mod validate;
pub mod work;

mod json;
#[cfg(test)]
mod testutil;

pub use detector::{binding_name, build_binding, select_policy};
pub use overrides::{OverrideError, apply_overrides};
pub use scheduler::{ScheduleError, TargetCluster, fnv32a, schedule};
pub use status::{aggregate, template_status};
pub use validate::Cause;

/// Well-known label, annotation, taint and finalizer names, spelled as Karmada spells them.
pub use cceone_karmada_api::names;
