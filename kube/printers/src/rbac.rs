//! `rbac.authorization.k8s.io` RoleBinding and ClusterRoleBinding (Role and
//! ClusterRole have no printer upstream and use the default convertor).

use jiff::Timestamp;
use serde_json::Value;

use crate::Column;
use crate::descriptions as d;
use crate::util::{age, age_column, arr_at, col, name, name_column, str_at, wide};

/// RoleBinding: Name, Role, Age; wide Users, Groups, ServiceAccounts.
pub(crate) fn role_binding_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Role", "string", d::ROLE_BINDING_ROLE_REF),
        age_column(),
        wide("Users", "string", "Users in the roleBinding"),
        wide("Groups", "string", "Groups in the roleBinding"),
        wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the roleBinding",
        ),
    ]
}

/// ClusterRoleBinding columns (same shape, cluster-scoped descriptions).
pub(crate) fn cluster_role_binding_columns() -> Vec<Column> {
    vec![
        name_column(),
        col("Role", "string", d::CLUSTER_ROLE_BINDING_ROLE_REF),
        age_column(),
        wide("Users", "string", "Users in the clusterRoleBinding"),
        wide("Groups", "string", "Groups in the clusterRoleBinding"),
        wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the clusterRoleBinding",
        ),
    ]
}

/// (Cluster)RoleBinding cells: `Kind/name` of the role and the subjects
/// split as upstream `SubjectsStrings`, each joined by `, `.
pub(crate) fn role_binding_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for s in arr_at(obj, &["subjects"]) {
        let n = str_at(s, &["name"]);
        match str_at(s, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{n}", str_at(s, &["namespace"]))),
            "User" => users.push(n.to_owned()),
            "Group" => groups.push(n.to_owned()),
            _ => {}
        }
    }
    vec![
        name(obj),
        Value::from(format!(
            "{}/{}",
            str_at(obj, &["roleRef", "kind"]),
            str_at(obj, &["roleRef", "name"])
        )),
        age(obj, now),
        Value::from(users.join(", ")),
        Value::from(groups.join(", ")),
        Value::from(sas.join(", ")),
    ]
}
