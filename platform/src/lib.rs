//! `cceone-platform`: the platform API that the hub and `cceonectl` share.
//!
//! Everything here is either plain data and pure functions (the RegisteredCluster CRD, the
//! session state machine in [`phase`], token formats, the agent manifests in [`render`]) or a
//! thin kube-rs call against the federation API server, where all platform state lives.

mod crd;
mod error;
mod secret;

pub mod ca;
pub mod clock;
pub mod fleet;
pub mod grant;
pub mod hubinfo;
pub mod phase;
pub mod proxytoken;
pub mod render;
pub mod roles;
pub mod token;
pub mod usage;
pub mod usertoken;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};

pub use crate::crd::{
    CRD_NAME, ClusterType, KIND, PLURAL, RegisteredClusterSpec, ensure_crds,
    registered_cluster_crd, registered_cluster_resource, registered_clusters,
};
pub use crate::error::{PlatformError, TokenError};

/// The API group of platform objects.
pub const GROUP: &str = "platform.cceone.io";
/// The version served for [`GROUP`].
pub const VERSION: &str = "v1alpha1";
/// The namespace that holds the platform's own Secrets and ConfigMaps in the federation API.
pub const SYSTEM_NAMESPACE: &str = "cceone-system";
/// Label naming the registered cluster an object belongs to.
pub const CLUSTER_LABEL: &str = "cceone.io/cluster";
/// Annotation on a RegisteredCluster naming who last turned delete protection on or off (set
/// by the federation's admission from the request's user; the operation log names them).
pub const PROTECTION_CHANGED_BY_ANNOTATION: &str = "platform.cceone.io/protection-changed-by";
/// Annotation on a RegisteredCluster naming who unsubscribed it.
pub const UNSUBSCRIBED_BY_ANNOTATION: &str = "platform.cceone.io/unsubscribed-by";
/// Organisation (O) put in every certificate signed for a cluster; [`ca::cluster_of_cert`]
/// accepts only certificates carrying it.
pub const CLUSTERS_ORG: &str = "cceone:clusters";

/// Make sure [`SYSTEM_NAMESPACE`] exists (created when missing; an existing one is left alone).
pub async fn ensure_system_namespace(client: &kube::Client) -> Result<(), PlatformError> {
    ensure_namespace(client, SYSTEM_NAMESPACE).await
}

/// Make sure one of the platform's namespaces exists (created when missing, labelled as the
/// platform's; an existing one is left alone).
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), PlatformError> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(|e| PlatformError::api(format!("reading namespace {name}"), e))?
        .is_some()
    {
        return Ok(());
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "cceone"}}
    }))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        // Someone else created it between our read and our write: that is what we wanted.
        Err(e) if error::is_status(&e, 409) => Ok(()),
        Err(e) => Err(PlatformError::api(format!("creating namespace {name}"), e)),
    }
}

/// Check that `name` can name a registered cluster: a DNS-1123 label (at most 63 lowercase
/// alphanumerics or `-`, starting and ending alphanumeric), because it also appears in label
/// values, certificate subjects and the hub's `/clusters/<name>/proxy` URLs.
pub fn validate_cluster_name(name: &str) -> Result<(), PlatformError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(ok_char)
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(PlatformError::InvalidInput(format!(
            "cluster name {name:?} must be a DNS-1123 label: at most 63 lowercase letters, digits \
             or '-', starting and ending with a letter or digit"
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::validate_cluster_name;

    #[test]
    fn cluster_names() {
        for good in ["demo", "a", "member-1", &"x".repeat(63)] {
            assert!(validate_cluster_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Demo", "-a", "a-", "a_b", "a.b", &"x".repeat(64), "ä"] {
            assert!(validate_cluster_name(bad).is_err(), "{bad}");
        }
    }
}
