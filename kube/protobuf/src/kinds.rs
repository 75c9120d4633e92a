//! The registry of top-level kinds: which message an `apiVersion`/`kind` pair decodes with.

use crate::descriptor::Message;
use crate::tables::{
    apps_v1, authentication_v1, authorization_v1, batch_v1, certificates_v1, coordination_v1,
    core_v1, meta_v1, networking_v1, policy_v1, rbac_v1, scheduling_v1,
};

/// Every known kind, by `apiVersion`; a message's name is its `kind`.
static KINDS: &[(&str, &[&Message])] = &[
    (
        "v1",
        &[
            &core_v1::PERSISTENT_VOLUME,
            &core_v1::PERSISTENT_VOLUME_CLAIM,
            &core_v1::POD_STATUS_RESULT,
            &core_v1::POD,
            &core_v1::POD_TEMPLATE,
            &core_v1::REPLICATION_CONTROLLER,
            &core_v1::SERVICE,
            &core_v1::SERVICE_ACCOUNT,
            &core_v1::ENDPOINTS,
            &core_v1::NODE,
            &core_v1::NAMESPACE,
            &core_v1::BINDING,
            &core_v1::POD_LOG_OPTIONS,
            &core_v1::POD_ATTACH_OPTIONS,
            &core_v1::POD_EXEC_OPTIONS,
            &core_v1::POD_PORT_FORWARD_OPTIONS,
            &core_v1::POD_PROXY_OPTIONS,
            &core_v1::NODE_PROXY_OPTIONS,
            &core_v1::SERVICE_PROXY_OPTIONS,
            &core_v1::SERIALIZED_REFERENCE,
            &core_v1::EVENT,
            &core_v1::LIMIT_RANGE,
            &core_v1::RESOURCE_QUOTA,
            &core_v1::SECRET,
            &core_v1::CONFIG_MAP,
            &core_v1::COMPONENT_STATUS,
            &core_v1::RANGE_ALLOCATION,
        ],
    ),
    (
        "apps/v1",
        &[
            &apps_v1::STATEFUL_SET,
            &apps_v1::DEPLOYMENT,
            &apps_v1::DAEMON_SET,
            &apps_v1::REPLICA_SET,
            &apps_v1::CONTROLLER_REVISION,
        ],
    ),
    ("batch/v1", &[&batch_v1::JOB, &batch_v1::CRON_JOB]),
    (
        "authorization.k8s.io/v1",
        &[
            &authorization_v1::SELF_SUBJECT_ACCESS_REVIEW,
            &authorization_v1::SELF_SUBJECT_RULES_REVIEW,
            &authorization_v1::SUBJECT_ACCESS_REVIEW,
            &authorization_v1::LOCAL_SUBJECT_ACCESS_REVIEW,
        ],
    ),
    (
        "authentication.k8s.io/v1",
        &[
            &authentication_v1::SELF_SUBJECT_REVIEW,
            &authentication_v1::TOKEN_REVIEW,
            &authentication_v1::TOKEN_REQUEST,
        ],
    ),
    (
        "certificates.k8s.io/v1",
        &[&certificates_v1::CERTIFICATE_SIGNING_REQUEST],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        &[
            &rbac_v1::ROLE,
            &rbac_v1::ROLE_BINDING,
            &rbac_v1::CLUSTER_ROLE,
            &rbac_v1::CLUSTER_ROLE_BINDING,
        ],
    ),
    (
        "networking.k8s.io/v1",
        &[
            &networking_v1::NETWORK_POLICY,
            &networking_v1::INGRESS,
            &networking_v1::INGRESS_CLASS,
            &networking_v1::IP_ADDRESS,
            &networking_v1::SERVICE_CIDR,
        ],
    ),
    (
        "policy/v1",
        &[&policy_v1::POD_DISRUPTION_BUDGET, &policy_v1::EVICTION],
    ),
    ("scheduling.k8s.io/v1", &[&scheduling_v1::PRIORITY_CLASS]),
    ("coordination.k8s.io/v1", &[&coordination_v1::LEASE]),
    // DeleteOptions bodies are sent with either group.
    ("v1", &[&meta_v1::DELETE_OPTIONS]),
    ("meta.k8s.io/v1", &[&meta_v1::DELETE_OPTIONS]),
];

/// The message for `apiVersion`/`kind`, if the kind is known.
pub(crate) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS
        .iter()
        .filter(|(gv, _)| *gv == api_version)
        .flat_map(|(_, messages)| messages.iter())
        .find(|m| m.name == kind)
        .copied()
}

/// Every known `(apiVersion, kind)` pair.
#[cfg(test)]
pub(crate) fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS
        .iter()
        .flat_map(|(gv, messages)| messages.iter().map(move |m| (*gv, m.name)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::descriptor::{INLINE, LIST, MAP, Ty};

    /// Every message reachable from the registered kinds.
    fn reachable() -> Vec<&'static Message> {
        let mut seen = HashSet::new();
        let mut todo: Vec<&'static Message> = KINDS
            .iter()
            .flat_map(|(_, messages)| messages.iter().copied())
            .collect();
        let mut out = Vec::new();
        while let Some(m) = todo.pop() {
            if seen.insert(m as *const Message) {
                out.push(m);
                todo.extend(m.fields.iter().filter_map(|f| match f.ty {
                    Ty::Msg(inner) => Some(inner),
                    _ => None,
                }));
            }
        }
        out
    }

    #[test]
    fn tables_are_well_formed() {
        let messages = reachable();
        assert!(messages.len() > 300, "{} messages", messages.len());
        for m in messages {
            for pair in m.fields.windows(2) {
                assert!(pair[0].num < pair[1].num, "{}: fields out of order", m.name);
            }
            for f in m.fields {
                assert!(f.num > 0 && !f.json.is_empty(), "{}.{}", m.name, f.json);
                assert!(!(f.has(LIST) && f.has(MAP)), "{}.{}", m.name, f.json);
                if f.has(INLINE) {
                    assert!(matches!(f.ty, Ty::Msg(_)), "{}.{}", m.name, f.json);
                }
            }
        }
    }

    #[test]
    fn every_kind_decodes_an_empty_object() {
        let mut count = 0;
        for (api_version, kind) in all() {
            let message = lookup(api_version, kind).unwrap();
            let object = crate::render::message(message, &[], 0).unwrap();
            assert!(!object.contains_key("kind"), "{kind}");
            count += 1;
        }
        assert!(count >= 40);
        assert!(lookup("v1", "Widget").is_none());
        assert!(lookup("apps/v1", "Namespace").is_none());
    }
}
