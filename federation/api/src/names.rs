//! Well-known label, annotation, taint, finalizer and namespace names, spelled as Karmada
//! spells them.

/// Label carrying a PropagationPolicy's permanent id (on the policy, the template and bindings).
pub const PP_PERMANENT_ID_LABEL: &str = "propagationpolicy.karmada.io/permanent-id";
/// Label carrying a ClusterPropagationPolicy's permanent id.
pub const CPP_PERMANENT_ID_LABEL: &str = "clusterpropagationpolicy.karmada.io/permanent-id";
/// Annotation naming the claiming PropagationPolicy's namespace.
pub const PP_NAMESPACE_ANNOTATION: &str = "propagationpolicy.karmada.io/namespace";
/// Annotation naming the claiming PropagationPolicy.
pub const PP_NAME_ANNOTATION: &str = "propagationpolicy.karmada.io/name";
/// Annotation naming the claiming ClusterPropagationPolicy.
pub const CPP_NAME_ANNOTATION: &str = "clusterpropagationpolicy.karmada.io/name";
/// Label carrying a ResourceBinding's permanent id (on the binding, its Works and manifests).
pub const RB_PERMANENT_ID_LABEL: &str = "resourcebinding.karmada.io/permanent-id";
/// Label carrying a ClusterResourceBinding's permanent id.
pub const CRB_PERMANENT_ID_LABEL: &str = "clusterresourcebinding.karmada.io/permanent-id";
/// A Work's permanent id, also on the objects it puts in a member (Karmada's Work mutating
/// webhook, pkg/webhook/work/mutating.go: set once, kept for the Work's life).
pub const WORK_PERMANENT_ID_LABEL: &str = "work.karmada.io/permanent-id";
/// Annotation on a binding holding the placement the scheduler last applied (JSON).
pub const APPLIED_PLACEMENT_ANNOTATION: &str = "policy.karmada.io/applied-placement";
/// Annotation on a Work listing the OverridePolicies applied to its manifest.
pub const APPLIED_OVERRIDES_ANNOTATION: &str = "policy.karmada.io/applied-overrides";
/// Annotation on a Work listing the ClusterOverridePolicies applied to its manifest.
pub const APPLIED_CLUSTER_OVERRIDES_ANNOTATION: &str =
    "policy.karmada.io/applied-cluster-overrides";
/// Annotation on a member object: the template generation it was built from.
pub const RESOURCE_TEMPLATE_GENERATION_ANNOTATION: &str = "resourcetemplate.karmada.io/generation";
/// Annotation on a member object: the template's uid.
pub const RESOURCE_TEMPLATE_UID_ANNOTATION: &str = "resourcetemplate.karmada.io/uid";
/// Annotation on a Work and its manifest: the owning ResourceBinding's namespace.
pub const RB_NAMESPACE_ANNOTATION: &str = "resourcebinding.karmada.io/namespace";
/// Annotation on a Work and its manifest: the owning ResourceBinding's name.
pub const RB_NAME_ANNOTATION: &str = "resourcebinding.karmada.io/name";
/// Annotation on a Work and its manifest: the owning ClusterResourceBinding's name.
pub const CRB_NAME_ANNOTATION: &str = "clusterresourcebinding.karmada.io/name";
/// Annotation on a Work and its manifest: `Abort` or `Overwrite`.
pub const CONFLICT_RESOLUTION_ANNOTATION: &str = "work.karmada.io/conflict-resolution";
/// Annotation on a manifest naming its Work.
pub const WORK_NAME_ANNOTATION: &str = "work.karmada.io/name";
/// Annotation on a manifest naming its Work's namespace.
pub const WORK_NAMESPACE_ANNOTATION: &str = "work.karmada.io/namespace";
/// Label on every member object the federation manages.
pub const MANAGED_BY_KARMADA_LABEL: &str = "karmada.io/managed";
/// Taint key of a cluster whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "cluster.karmada.io/not-ready";
/// Taint key of a cluster whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "cluster.karmada.io/unreachable";
/// Finalizer on ResourceBindings.
pub const BINDING_FINALIZER: &str = "karmada.io/binding-controller";
/// Finalizer on a PropagationPolicy until no template is claimed by it any more (Karmada's
/// PropagationPolicyControllerFinalizer, pkg/util/constants.go; set by its policy webhook).
pub const PP_FINALIZER: &str = "karmada.io/propagation-policy-controller";
/// Finalizer on a ClusterPropagationPolicy, likewise.
pub const CPP_FINALIZER: &str = "karmada.io/cluster-propagation-policy-controller";
/// Finalizer on ClusterResourceBindings.
pub const CLUSTER_BINDING_FINALIZER: &str = "karmada.io/cluster-resource-binding-controller";
/// Finalizer on Works.
pub const EXECUTION_FINALIZER: &str = "karmada.io/execution-controller";
/// Prefix of the per-cluster namespaces holding Works.
pub const EXECUTION_SPACE_PREFIX: &str = "karmada-es-";
/// The scheduler name bindings carry by default.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
/// Annotation on member objects listing the annotation keys the federation manages.
pub const MANAGED_ANNOTATIONS_ANNOTATION: &str = "resourcetemplate.karmada.io/managed-annotations";
/// Annotation on member objects listing the label keys the federation manages.
pub const MANAGED_LABELS_ANNOTATION: &str = "resourcetemplate.karmada.io/managed-labels";
