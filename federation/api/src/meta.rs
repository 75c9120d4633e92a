//! What every object shares: the envelope ([`Object`]: type, metadata, spec, status), its
//! metadata ([`ObjectMeta`]), `metav1.Condition` and its helpers, label selectors and the
//! `metav1.Time` form.
//!
//! Every struct keeps the fields it does not name in `extra`, so an object read and written
//! back is unchanged, whatever version of Karmada (or of this crate) wrote it. Optional fields
//! are `Option`s rather than defaults, so that "absent" and "empty" stay apart: a controller
//! that compares what it computed with what is stored sees no difference where there is none.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields a struct does not name, kept as they came.
pub type Extra = Map<String, Value>;

/// An object of a kind with a spec `S` and a status `T`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Object<S, T> {
    /// `apiVersion`.
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    /// `kind`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `metadata`.
    #[serde(default, skip_serializing_if = "ObjectMeta::is_empty")]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<S>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<T>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl<S, T> Object<S, T>
where
    S: Serialize + DeserializeOwned + Default,
    T: Serialize + DeserializeOwned + Default,
{
    /// Reads an object from JSON.
    pub fn from_value(v: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(v)
    }

    /// Reads an object from JSON bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(b)
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Value {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The spec, or the empty one.
    pub fn spec(&self) -> std::borrow::Cow<'_, S>
    where
        S: Clone,
    {
        match &self.spec {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(S::default()),
        }
    }

    /// The spec, created empty when absent.
    pub fn spec_mut(&mut self) -> &mut S {
        self.spec.get_or_insert_with(S::default)
    }

    /// The status, created empty when absent.
    pub fn status_mut(&mut self) -> &mut T {
        self.status.get_or_insert_with(T::default)
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.metadata.name()
    }

    /// `metadata.namespace` (empty for cluster-scoped objects).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace()
    }

    /// Whether the object is being deleted.
    pub fn deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }
}

/// `metav1.ObjectMeta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `generateName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `resourceVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// `generation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// `creationTimestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// `deletionTimestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// `labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `annotations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `finalizers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Anything else (`ownerReferences`, `managedFields`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ObjectMeta {
    /// Whether nothing is set (an object without metadata writes none).
    pub fn is_empty(&self) -> bool {
        *self == ObjectMeta::default()
    }

    /// `name`, or `""`.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// `namespace`, or `""`.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// `uid`, or `""`.
    pub fn uid(&self) -> &str {
        self.uid.as_deref().unwrap_or("")
    }

    /// `resourceVersion`, or `""`.
    pub fn resource_version(&self) -> &str {
        self.resource_version.as_deref().unwrap_or("")
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// The labels, created empty when absent.
    pub fn labels_mut(&mut self) -> &mut BTreeMap<String, String> {
        self.labels.get_or_insert_with(BTreeMap::new)
    }

    /// The annotations, created empty when absent.
    pub fn annotations_mut(&mut self) -> &mut BTreeMap<String, String> {
        self.annotations.get_or_insert_with(BTreeMap::new)
    }

    /// The finalizers (empty when absent).
    pub fn finalizers(&self) -> &[String] {
        self.finalizers.as_deref().unwrap_or(&[])
    }
}

/// `metav1.Condition`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `type`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `status`: `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// `observedGeneration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `lastTransitionTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Condition {
    /// A condition as Karmada's `util.NewCondition` builds it, the transition at `now`.
    pub fn new(type_: &str, reason: &str, message: &str, status: bool, now: Timestamp) -> Self {
        Condition {
            type_: type_.to_string(),
            status: if status { "True" } else { "False" }.to_string(),
            observed_generation: None,
            last_transition_time: Some(format_time(now)),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            extra: Extra::new(),
        }
    }

    /// Whether the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    /// `reason`, or `""`.
    pub fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or("")
    }

    /// `message`, or `""`.
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }
}

/// The condition of a type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `meta.SetStatusCondition`: `cond` replaces the condition of its type, keeping the old
/// `lastTransitionTime` while the status is the same.
pub fn set_condition(conditions: &mut Vec<Condition>, mut cond: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(existing) => {
            if existing.status == cond.status && existing.last_transition_time.is_some() {
                cond.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = cond;
        }
        None => conditions.push(cond),
    }
}

/// `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// `matchExpressions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<Requirement>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A selector requirement (`metav1.LabelSelectorRequirement`, and the field selector's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// `key`.
    #[serde(default)]
    pub key: String,
    /// `operator`: `In`, `NotIn`, `Exists`, `DoesNotExist` (and `Gt`, `Lt` for fields).
    #[serde(default)]
    pub operator: String,
    /// `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Requirement {
    /// The values (empty when absent).
    pub fn values(&self) -> &[String] {
        self.values.as_deref().unwrap_or(&[])
    }
}

/// Kubernetes' `metav1.Time` form: RFC 3339 in UTC with whole seconds.
pub fn format_time(ts: Timestamp) -> String {
    Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

/// Parses a `metav1.Time` string.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// A `&[T]` of an optional list.
pub(crate) fn list<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

/// A `&str` of an optional string.
pub(crate) fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}
