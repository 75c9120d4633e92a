//! Tests of server-side apply and update bookkeeping, against kube-apiserver's observable
//! behaviour.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::fieldset::{FieldSet, Scope};
use crate::update::{record_update_general, takes_fast_path};
use crate::{ApplyError, Conflict, apply, record_update};

const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-01T00:01:00Z";
const T2: &str = "2024-01-01T00:02:00Z";
const T3: &str = "2024-01-01T00:03:00Z";

/// A Deployment config as a user would apply it.
fn deployment(replicas: u64, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}
            }
        }
    })
}

fn nginx() -> Value {
    json!([{
        "name": "nginx",
        "image": "nginx:1.25",
        "ports": [{"containerPort": 80}],
        "env": [{"name": "MODE", "value": "prod"}]
    }])
}

/// A minimal config of `kind` touching only `body`.
fn partial(body: Value) -> Value {
    let mut config = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"}
    });
    for (key, value) in body.as_object().unwrap() {
        if key == "metadata" {
            for (k, v) in value.as_object().unwrap() {
                config["metadata"][k] = v.clone();
            }
        } else {
            config[key] = value.clone();
        }
    }
    config
}

fn entries(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry(object: &Value, manager: &str, operation: &str) -> Option<Value> {
    entries(object)
        .into_iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

fn fields(object: &Value, manager: &str, operation: &str) -> Value {
    entry(object, manager, operation).unwrap()["fieldsV1"].clone()
}

fn container_names(object: &Value) -> Vec<String> {
    object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `object` after `manager` changes it with `edit` as a plain update.
fn updated(object: &Value, manager: &str, now: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut new = object.clone();
    edit(&mut new);
    record_update(Some(object), &mut new, manager, now, None);
    new
}

#[test]
fn fields_v1_of_a_deployment_has_kubes_shape() {
    let created = apply(None, &deployment(3, nginx()), "kubectl", false, T0, None).unwrap();
    let nginx_key = r#"k:{"name":"nginx"}"#;
    let expected = json!({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {"f:matchLabels": {"f:app": {}}},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {nginx_key: {
                    ".": {},
                    "f:env": {r#"k:{"name":"MODE"}"#: {".": {}, "f:name": {}, "f:value": {}}},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {r#"k:{"containerPort":80,"protocol":"TCP"}"#: {
                        ".": {}, "f:containerPort": {}
                    }}
                }}}
            }
        }
    });
    assert_eq!(
        entries(&created),
        vec![json!({
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": expected
        })]
    );
    // The object is the config plus its managed fields.
    let mut bare = created.clone();
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert_eq!(bare, deployment(3, nginx()));
}

#[test]
fn fields_v1_round_trips_every_element_kind() {
    let encoded = json!({
        "f:metadata": {"f:finalizers": {".": {}, r#"v:"a""#: {}}},
        "f:spec": {"f:ports": {r#"k:{"port":80,"protocol":"TCP"}"#: {".": {}, "f:port": {}}}},
        "f:list": {"i:0": {}},
        "f:empty": {}
    });
    let set = FieldSet::from_fields_v1(&encoded).unwrap();
    assert_eq!(set.to_fields_v1(), encoded);
    assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_none());
}

#[test]
fn reapplying_the_same_config_changes_nothing() {
    let config = deployment(3, nginx());
    let created = apply(None, &config, "kubectl", false, T0, None).unwrap();
    let again = apply(Some(&created), &config, "kubectl", false, T1, None).unwrap();
    assert_eq!(again, created);
}

#[test]
fn update_then_apply_conflicts_and_force_takes_over() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let scaled = updated(&created, "B", T1, |o| o["spec"]["replicas"] = json!(5));
    assert_eq!(
        fields(&scaled, "B", "Update"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    // B took replicas away from A.
    assert!(
        fields(&scaled, "A", "Apply")["f:spec"]
            .get("f:replicas")
            .is_none()
    );

    let err = apply(Some(&scaled), &deployment(3, nginx()), "A", false, T2, None).unwrap_err();
    let ApplyError::Conflicts(conflicts) = &err else {
        panic!("expected conflicts, got {err:?}");
    };
    assert_eq!(
        conflicts,
        &vec![Conflict {
            manager: "B".into(),
            field: ".spec.replicas".into(),
            operation: "Update".into(),
            api_version: "apps/v1".into(),
            subresource: None,
            time: Some(T1.into()),
        }]
    );
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"B\" using apps/v1: .spec.replicas"
    );

    let forced = apply(Some(&scaled), &deployment(3, nginx()), "A", true, T2, None).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert!(
        entry(&forced, "B", "Update").is_none(),
        "B owned nothing else"
    );
    assert_eq!(
        fields(&forced, "A", "Apply"),
        fields(&created, "A", "Apply")
    );
}

#[test]
fn same_value_is_shared_without_conflict() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let hpa = partial(json!({"spec": {"replicas": 3}}));
    let shared = apply(Some(&created), &hpa, "B", false, T1, None).unwrap();
    assert_eq!(shared["spec"], created["spec"]);
    assert_eq!(
        fields(&shared, "B", "Apply"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(fields(&shared, "A", "Apply")["f:spec"]["f:replicas"].is_object());

    // Now a change by either is a conflict with the other, an Apply entry printing no version.
    let err = apply(Some(&shared), &deployment(4, nginx()), "A", false, T2, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"B\": .spec.replicas"
    );
}

#[test]
fn dropping_a_label_from_the_config_removes_it_unless_someone_else_owns_it() {
    let labels = |l: Value| partial(json!({"metadata": {"labels": l}}));
    let first = apply(
        None,
        &labels(json!({"a": "1", "b": "2"})),
        "A",
        false,
        T0,
        None,
    )
    .unwrap();
    let dropped = apply(
        Some(&first),
        &labels(json!({"a": "1"})),
        "A",
        false,
        T1,
        None,
    )
    .unwrap();
    assert_eq!(dropped["metadata"]["labels"], json!({"a": "1"}));
    assert_eq!(
        fields(&dropped, "A", "Apply"),
        json!({"f:metadata": {"f:labels": {"f:a": {}}}})
    );

    let shared = apply(
        Some(&first),
        &labels(json!({"b": "2"})),
        "B",
        false,
        T1,
        None,
    )
    .unwrap();
    let kept = apply(
        Some(&shared),
        &labels(json!({"a": "1"})),
        "A",
        false,
        T2,
        None,
    )
    .unwrap();
    assert_eq!(kept["metadata"]["labels"], json!({"a": "1", "b": "2"}));

    // Dropping every label leaves no empty `labels` map behind.
    let none = apply(
        Some(&dropped),
        &partial(json!({"data": {"x": "y"}})),
        "A",
        false,
        T2,
        None,
    )
    .unwrap();
    assert!(none["metadata"].get("labels").is_none());
}

#[test]
fn list_map_items_merge_by_key_and_prune_per_owner() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let sidecar = partial(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox"}
    ]}}}}));
    let both = apply(Some(&created), &sidecar, "B", false, T1, None).unwrap();
    assert_eq!(container_names(&both), ["nginx", "sidecar"]);
    assert_eq!(
        both["spec"]["template"]["spec"]["containers"][0],
        nginx()[0]
    );

    let without_nginx = partial(json!({"spec": {"replicas": 3}}));
    let pruned = apply(Some(&both), &without_nginx, "A", false, T2, None).unwrap();
    assert_eq!(container_names(&pruned), ["sidecar"]);
    assert_eq!(fields(&pruned, "B", "Apply"), fields(&both, "B", "Apply"));
    // Labels A stopped applying went too; the selector went with them (nobody owns it).
    assert!(pruned["spec"].get("selector").is_none());
    assert!(pruned["metadata"].get("labels").is_none());
}

#[test]
fn changing_another_managers_list_item_field_names_the_item() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let mut other = nginx();
    other[0]["image"] = json!("nginx:1.26");
    let config = partial(json!({"spec": {"template": {"spec": {"containers": other}}}}));
    let err = apply(Some(&created), &config, "B", false, T1, None).unwrap_err();
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("expected conflicts");
    };
    let fields: Vec<_> = conflicts.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [".spec.template.spec.containers[name=\"nginx\"].image"]
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let config = partial(json!({
        "metadata": {"labels": {"app": "other"}},
        "spec": {"replicas": 1}
    }));
    let err = apply(Some(&created), &config, "B", false, T1, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"A\":\n- .metadata.labels.app\n- .spec.replicas"
    );
}

#[test]
fn status_is_not_applied_to_the_main_resource() {
    let mut config = deployment(3, nginx());
    config["status"] = json!({"replicas": 9});
    let created = apply(None, &config, "A", false, T0, None).unwrap();
    assert!(created.get("status").is_none());
    assert!(fields(&created, "A", "Apply").get("f:status").is_none());

    let mut live = created.clone();
    live["status"] = json!({"replicas": 1});
    let again = apply(Some(&live), &config, "A", false, T1, None).unwrap();
    assert_eq!(again, live, "status differences alone change nothing");

    // The status subresource takes only status.
    let mut status_config = partial(json!({"status": {"readyReplicas": 2}}));
    status_config["spec"] = json!({"replicas": 100});
    let status = apply(
        Some(&live),
        &status_config,
        "ctrl",
        false,
        T2,
        Some("status"),
    )
    .unwrap();
    assert_eq!(status["spec"], live["spec"]);
    assert_eq!(status["status"], json!({"replicas": 1, "readyReplicas": 2}));
    let entry = entry(&status, "ctrl", "Apply").unwrap();
    assert_eq!(entry["subresource"], "status");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:status": {"f:readyReplicas": {}}})
    );
}

#[test]
fn invalid_configs_are_rejected_with_the_path() {
    let config = deployment(3, json!([{"image": "nginx"}]));
    let err = apply(None, &config, "A", false, T0, None).unwrap_err();
    let ApplyError::Invalid(message) = err else {
        panic!("expected invalid");
    };
    assert!(
        message.starts_with(".spec.template.spec.containers: element 0:"),
        "{message}"
    );
    assert!(message.contains("\"name\""), "{message}");

    let duplicate = deployment(3, json!([{"name": "a"}, {"name": "a"}]));
    let err = apply(None, &duplicate, "A", false, T0, None).unwrap_err();
    assert_eq!(
        err,
        ApplyError::Invalid(
            ".spec.template.spec.containers: duplicate entries for key [name=\"a\"]".into()
        )
    );
    assert!(matches!(
        apply(None, &json!([1]), "A", false, T0, None),
        Err(ApplyError::Invalid(_))
    ));
    let mut with_fields = deployment(1, nginx());
    with_fields["metadata"]["managedFields"] = json!([]);
    assert!(matches!(
        apply(None, &with_fields, "A", false, T0, None),
        Err(ApplyError::Invalid(_))
    ));
}

#[test]
fn record_update_on_create_owns_everything_tracked() {
    let mut object = deployment(2, nginx());
    object["status"] = json!({"replicas": 0});
    object["metadata"]["uid"] = json!("1234");
    record_update(None, &mut object, "kubectl-create", T0, None);
    let owned = fields(&object, "kubectl-create", "Update");
    let applied = apply(None, &deployment(2, nginx()), "x", false, T0, None).unwrap();
    assert_eq!(owned, fields(&applied, "x", "Apply"));
    assert_eq!(
        entry(&object, "kubectl-create", "Update").unwrap()["time"],
        T0
    );
}

#[test]
fn record_update_without_changes_keeps_entries() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let scaled = updated(&created, "B", T1, |o| o["spec"]["replicas"] = json!(5));
    let same = updated(&scaled, "B", T2, |_| {});
    assert_eq!(same, scaled);
    let other = updated(&scaled, "C", T2, |_| {});
    assert_eq!(other, scaled);
}

#[test]
fn record_update_uses_old_fields_unless_new_carries_or_resets_them() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    // A client that drops managedFields does not wipe them.
    let mut put = created.clone();
    put["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    record_update(Some(&created), &mut put, "B", T1, None);
    assert_eq!(put, created);
    // `[{}]` resets them.
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    record_update(Some(&created), &mut reset, "B", T1, None);
    assert!(reset["metadata"].get("managedFields").is_none());
}

#[test]
fn removed_fields_leave_every_entry() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let edited = updated(&created, "B", T1, |o| {
        o["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
        o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    });
    let a = fields(&edited, "A", "Apply");
    let item = &a["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"nginx"}"#];
    assert!(item.get("f:env").is_none());
    assert!(item.get("f:image").is_none());
    assert!(item.get("f:name").is_some());
    assert_eq!(
        fields(&edited, "B", "Update"),
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            r#"k:{"name":"nginx"}"#: {"f:image": {}}
        }}}}})
    );
}

#[test]
fn status_updates_are_recorded_per_subresource() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let mut new = created.clone();
    new["status"] = json!({"readyReplicas": 3});
    new["spec"]["replicas"] = json!(7);
    record_update(Some(&created), &mut new, "ctrl", T1, Some("status"));
    let entry = entry(&new, "ctrl", "Update").unwrap();
    assert_eq!(entry["subresource"], "status");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:status": {"f:readyReplicas": {}}})
    );
    // Main-resource updates ignore status changes.
    let mut main = created.clone();
    main["status"] = json!({"readyReplicas": 3});
    record_update(Some(&created), &mut main, "B", T1, None);
    assert!(entry_missing(&main, "B"));
}

fn entry_missing(object: &Value, manager: &str) -> bool {
    entries(object).iter().all(|e| e["manager"] != manager)
}

#[test]
fn finalizers_merge_as_a_set() {
    let config = partial(json!({"metadata": {"finalizers": ["a"]}}));
    let created = apply(None, &config, "A", false, T0, None).unwrap();
    assert_eq!(
        fields(&created, "A", "Apply"),
        json!({"f:metadata": {"f:finalizers": {r#"v:"a""#: {}}}})
    );
    let finalized = updated(&created, "ctrl", T1, |o| {
        o["metadata"]["finalizers"] = json!(["a", "b"]);
    });
    let again = apply(Some(&finalized), &config, "A", false, T2, None).unwrap();
    assert_eq!(again["metadata"]["finalizers"], json!(["a", "b"]));
    let gone = apply(
        Some(&again),
        &partial(json!({"data": {}})),
        "A",
        false,
        T3,
        None,
    )
    .unwrap();
    assert_eq!(gone["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn defaulted_keys_match_live_items() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let mut explicit = nginx();
    explicit[0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}]);
    let config = deployment(3, explicit);
    let merged = apply(Some(&created), &config, "A", false, T1, None).unwrap();
    assert_eq!(
        merged["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}])
    );
}

#[test]
fn null_in_config_removes_the_field() {
    let created = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let mut config = deployment(3, nginx());
    config["spec"]["replicas"] = Value::Null;
    let applied = apply(Some(&created), &config, "A", false, T1, None).unwrap();
    assert!(applied["spec"].get("replicas").is_none());
}

#[test]
fn first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
    let live = deployment(1, nginx());
    let err = apply(Some(&live), &deployment(3, nginx()), "A", false, T0, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let same = apply(Some(&live), &deployment(1, nginx()), "A", false, T0, None).unwrap();
    assert!(entry(&same, "before-first-apply", "Update").is_some());
}

#[test]
fn update_managers_are_capped_at_ten() {
    let mut object = apply(None, &partial(json!({"data": {}})), "A", false, T0, None).unwrap();
    for i in 0..12 {
        let time = format!("2024-01-01T00:{i:02}:00Z");
        object = updated(&object, &format!("m{i:02}"), &time, |o| {
            o["metadata"]["labels"][format!("l{i}")] = json!("x");
        });
    }
    let updates: Vec<Value> = entries(&object)
        .into_iter()
        .filter(|e| e["operation"] == "Update")
        .collect();
    assert_eq!(updates.len(), 10);
    let ancient = entry(&object, "ancient-changes", "Update").unwrap();
    assert_eq!(
        ancient["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:l0": {}, "f:l1": {}, "f:l2": {}}}})
    );
    assert!(entry_missing(&object, "m02"));
    assert!(!entry_missing(&object, "m03"));
}

/// What changed and what was removed between two objects, from both objects' whole field sets
/// (the reference the pruned walk of `FieldSet::of_difference` must agree with).
fn changes_by_whole_sets(old: &Value, new: &Value, scope: Scope) -> (FieldSet, FieldSet) {
    let old_set = FieldSet::of_object(old, scope, false).unwrap();
    let new_set = FieldSet::of_object(new, scope, false).unwrap();
    let mut changed = new_set.difference(&old_set);
    for field in new_set.intersection(&old_set).iter() {
        if crate::path::differs(Some(old), Some(new), field) {
            changed.insert(field.clone());
        }
    }
    (changed, old_set.difference(&new_set))
}

fn changes_by_difference(old: &Value, new: &Value, scope: Scope) -> (FieldSet, FieldSet) {
    let (old_set, new_set) = FieldSet::of_difference(old, new, scope);
    let mut changed = new_set.difference(&old_set);
    for field in new_set.intersection(&old_set).iter() {
        if crate::path::differs(Some(old), Some(new), field) {
            changed.insert(field.clone());
        }
    }
    (changed, old_set.difference(&new_set))
}

/// A change made to an object in a test.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn the_pruned_difference_finds_what_the_whole_sets_find() {
    let base = {
        let mut d = deployment(2, nginx());
        d["metadata"]["finalizers"] = json!(["a", "b"]);
        d["metadata"]["annotations"] = json!({"x": "1"});
        d["status"] =
            json!({"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]});
        d
    };
    let edits: Vec<Edit> = vec![
        Box::new(|_| {}),
        Box::new(|d| d["spec"]["replicas"] = json!(3)),
        Box::new(|d| d["metadata"]["labels"]["tier"] = json!("db")),
        Box::new(|d| {
            d["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .remove("app");
        }),
        Box::new(|d| d["metadata"]["labels"] = json!({})),
        Box::new(|d| d["metadata"]["annotations"] = json!("not a map")),
        Box::new(|d| d["metadata"]["finalizers"] = json!(["b", "c"])),
        Box::new(|d| d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2")),
        Box::new(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "side", "image": "busybox"}))
        }),
        Box::new(|d| d["spec"]["template"]["spec"]["containers"][0]["env"] = json!([])),
        Box::new(|d| {
            d["spec"]["template"]["spec"]["containers"][0]
                .as_object_mut()
                .unwrap()
                .remove("ports");
        }),
        Box::new(|d| d["status"]["replicas"] = json!(1)),
        Box::new(|d| d["status"]["conditions"][0]["status"] = json!("False")),
        Box::new(|d| {
            d.as_object_mut().unwrap().remove("status");
        }),
        Box::new(|d| d["metadata"]["resourceVersion"] = json!("9")),
        Box::new(|d| d["spec"] = json!({})),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut new = base.clone();
        edit(&mut new);
        for scope in [Scope::Main, Scope::Status] {
            for (old, new) in [(&base, &new), (&new, &base)] {
                assert_eq!(
                    changes_by_difference(old, new, scope),
                    changes_by_whole_sets(old, new, scope),
                    "edit {i}, {scope:?}"
                );
            }
        }
    }
}

/// The fast path of updates gives exactly what the general path gives, write after write, and
/// is taken for the writes it is made for (a manager refreshing fields it owns).
#[test]
fn fast_updates_match_the_general_path() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let steps: Vec<(&str, Option<&str>, Edit, bool)> = vec![
        // A new manager's first write makes a new entry from the changed fields alone: fast.
        (
            "ctrl",
            Some("status"),
            Box::new(|o| {
                o["status"] =
                    json!({"replicas": 1, "conditions": [{"type": "Ready", "status": "False"}]})
            }),
            true,
        ),
        // The same manager refreshing its status: fast.
        (
            "ctrl",
            Some("status"),
            Box::new(|o| o["status"]["replicas"] = json!(2)),
            true,
        ),
        (
            "ctrl",
            Some("status"),
            Box::new(|o| o["status"]["conditions"][0]["status"] = json!("True")),
            true,
        ),
        // Nothing changed: fast.
        ("ctrl", Some("status"), Box::new(|_| {}), true),
        // A status field that nobody owned: the manager's entry grows: fast.
        (
            "ctrl",
            Some("status"),
            Box::new(|o| o["status"]["readyReplicas"] = json!(2)),
            true,
        ),
        // A removal: general.
        (
            "ctrl",
            Some("status"),
            Box::new(|o| {
                o["status"].as_object_mut().unwrap().remove("readyReplicas");
            }),
            false,
        ),
        // The applier's own field, changed by an update of another manager: general.
        (
            "B",
            None,
            Box::new(|o| o["spec"]["replicas"] = json!(5)),
            false,
        ),
        // B again on the field it now owns: fast.
        (
            "B",
            None,
            Box::new(|o| o["spec"]["replicas"] = json!(6)),
            true,
        ),
        // A field inside a list-map item that A owns: general; then B again: fast.
        (
            "B",
            None,
            Box::new(|o| {
                o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2")
            }),
            false,
        ),
        (
            "B",
            None,
            Box::new(|o| {
                o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:3")
            }),
            true,
        ),
        // Labels the status subresource may write: a new one nobody owned: fast.
        (
            "ctrl",
            Some("status"),
            Box::new(|o| o["metadata"]["labels"]["x"] = json!("1")),
            true,
        ),
        (
            "ctrl",
            Some("status"),
            Box::new(|o| o["metadata"]["labels"]["x"] = json!("2")),
            true,
        ),
        // A label the applier A owns, taken by the status writer: general.
        (
            "ctrl",
            Some("status"),
            Box::new(|o| o["metadata"]["labels"]["app"] = json!("web2")),
            false,
        ),
    ];
    let mut object = apply(None, &deployment(3, nginx()), "A", false, T0, None).unwrap();
    let times = [T1, T2, T3];
    for (i, (manager, sub, edit, fast)) in steps.iter().enumerate() {
        let mut new = object.clone();
        edit(&mut new);
        let now = times[i % times.len()];
        assert_eq!(
            takes_fast_path(&object, &new, manager, *sub),
            *fast,
            "step {i}: fast path taken"
        );
        let mut general = new.clone();
        record_update_general(Some(&object), &mut general, manager, now, *sub);
        record_update(Some(&object), &mut new, manager, now, *sub);
        assert_eq!(new, general, "step {i}");
        object = new;
    }
    // Ten more managers, each with a first write: new entries until the cap, then general.
    for n in 0..10 {
        let manager = format!("m{n}");
        let mut new = object.clone();
        new["metadata"]["annotations"] = json!({});
        new["metadata"]["annotations"][format!("a{n}")] = json!("1");
        for prev in 0..n {
            new["metadata"]["annotations"][format!("a{prev}")] = json!("1");
        }
        let mut general = new.clone();
        record_update_general(Some(&object), &mut general, &manager, T3, None);
        record_update(Some(&object), &mut new, &manager, T3, None);
        assert_eq!(new, general, "manager {manager}");
        object = new;
    }
    // A main-resource write carrying other managedFields than stored goes the general way.
    let mut carried = object.clone();
    carried["metadata"]["managedFields"] = json!([]);
    carried["spec"]["replicas"] = json!(9);
    assert!(!takes_fast_path(&object, &carried, "B", None));
}
