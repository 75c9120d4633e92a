//! ReplicaSet reconciliation (kube-controller-manager's
//! `pkg/controller/replicaset/replica_set.go`, `manageReplicas`): keep
//! `spec.replicas` active pods named `<replicaset>-<5 chars>` from the
//! template (which carries the `pod-template-hash` label of its Deployment),
//! deleting the surplus in the controller's preference order. Finished pods
//! are removed so a replacement can start (upstream leaves them to the pod
//! garbage collector; the simulator has none).

use serde_json::Value;

use super::{Action, NameGen, PodExtras, delete_preferred, new_pod, replicas};
use crate::json::{is_terminating, name, namespace};
use crate::pods::{is_active, is_terminal};

/// One reconciliation step for a ReplicaSet.
pub(super) fn reconcile(rs: &Value, owned: &[Value]) -> Vec<Action> {
    let desired = replicas(rs);
    let mut actions: Vec<Action> = owned
        .iter()
        .filter(|p| is_terminal(p) && !is_terminating(p))
        .map(Action::delete)
        .collect();
    let active: Vec<&Value> = owned.iter().filter(|p| is_active(p)).collect();
    let count = i64::try_from(active.len()).unwrap_or(i64::MAX);
    if count < desired {
        let prefix = format!("{}-", name(rs));
        let seed = format!("{}/{prefix}", namespace(rs));
        let mut names = NameGen::new(seed, prefix, owned);
        for _ in count..desired {
            let pod = new_pod(rs, &names.next_name(), PodExtras::default());
            actions.push(Action::CreatePod(pod));
        }
    } else if count > desired {
        let surplus = usize::try_from(count - desired).unwrap_or(0);
        delete_preferred(&active, surplus, &mut actions);
    }
    actions
}
