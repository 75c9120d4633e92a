//! CRD `additionalPrinterColumns` printer.

use serde_json::json;

use super::{ago, now};
use crate::{Column, crd_printer};

#[test]
fn crd_printer_with_columns() {
    let defs = json!([
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Current phase"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1},
        {"name": "Ratio", "type": "number", "jsonPath": ".status.ratio", "format": "float"},
        {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
        {"name": "Synced", "type": "date", "jsonPath": ".status.lastSync"}
    ]);
    let p = crd_printer(&defs);
    let cols = p.columns();
    assert_eq!(
        cols.iter()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.priority))
            .collect::<Vec<_>>(),
        vec![
            ("Name", "string", 0),
            ("Phase", "string", 0),
            ("Replicas", "integer", 0),
            ("Ready", "string", 0),
            ("Age", "date", 0),
            ("Image", "string", 1),
            ("Ratio", "number", 0),
            ("Paused", "boolean", 0),
            ("Synced", "date", 0),
        ]
    );
    assert_eq!(cols[0].format, "name");
    assert_eq!(cols[1].description, "Current phase");
    assert_eq!(
        cols[2],
        Column {
            name: "Replicas".into(),
            type_: "integer".into(),
            format: String::new(),
            description: "Custom resource definition column (in JSONPath format): .spec.replicas"
                .into(),
            priority: 0,
        }
    );
    assert_eq!(cols[6].format, "float");

    let obj = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "creationTimestamp": ago(3 * 86400 + 3600)},
        "spec": {"replicas": 4, "image": "widget:2", "paused": false},
        "status": {
            "phase": "Running",
            "ratio": 0.75,
            "lastSync": ago(45),
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    });
    assert_eq!(
        p.cells(&obj, now()),
        vec![
            json!("w1"),
            json!("Running"),
            json!(4),
            json!("True"),
            json!("3d1h"),
            json!("widget:2"),
            json!(0.75),
            json!(false),
            json!("45s")
        ]
    );

    // Missing values are null; mistyped values are null; strings print anything.
    let sparse = json!({
        "metadata": {"name": "w2"},
        "spec": {"replicas": "three", "image": {"repo": "w", "tag": "<1>"}, "paused": "no"},
        "status": {"phase": 7, "ratio": 2, "lastSync": "not a time"}
    });
    assert_eq!(
        p.cells(&sparse, now()),
        vec![
            json!("w2"),
            json!("7"),
            json!(null),
            json!(null),
            json!(null),
            json!("{\"repo\":\"w\",\"tag\":\"\\u003c1\\u003e\"}"),
            json!(2),
            json!(null),
            json!("<invalid>")
        ]
    );
}

#[test]
fn crd_printer_without_columns() {
    for defs in [json!([]), json!(null)] {
        let p = crd_printer(&defs);
        let cols = p.columns();
        assert_eq!(cols.len(), 2);
        assert_eq!(
            (cols[0].name.as_str(), cols[0].format.as_str()),
            ("Name", "name")
        );
        assert_eq!(
            (
                cols[1].name.as_str(),
                cols[1].type_.as_str(),
                cols[1].priority
            ),
            ("Age", "date", 0)
        );
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": ago(125)}});
        assert_eq!(p.cells(&obj, now()), vec![json!("w"), json!("2m5s")]);
        let no_ts = json!({"metadata": {"name": "w"}});
        assert_eq!(p.cells(&no_ts, now()), vec![json!("w"), json!(null)]);
    }
}

#[test]
fn crd_printer_string_formatting_and_bad_paths() {
    let defs = json!([
        {"name": "Score", "type": "string", "JSONPath": ".status.score"},
        {"name": "Big", "type": "string", "jsonPath": ".status.big"},
        {"name": "Tiny", "type": "string", "jsonPath": ".status.tiny"},
        {"name": "Flag", "type": "string", "jsonPath": ".status.flag"},
        {"name": "Null", "type": "string", "jsonPath": ".status.none"},
        {"name": "Count", "type": "integer", "jsonPath": ".status.count"},
        {"name": "Broken", "type": "string", "jsonPath": ".status.x["},
        {"name": "After", "type": "string", "jsonPath": ".status.score"}
    ]);
    let p = crd_printer(&defs);
    assert_eq!(p.columns().len(), 7, "columns stop at the unparsable path");
    let obj = json!({
        "metadata": {"name": "s"},
        "status": {"score": 1.5, "big": 12345678.0, "tiny": 0.00001, "flag": true, "none": null, "count": 2.9}
    });
    assert_eq!(
        p.cells(&obj, now()),
        vec![
            json!("s"),
            json!("1.5"),
            json!("1.2345678e+07"),
            json!("1e-05"),
            json!("true"),
            json!("<no value>"),
            json!(2)
        ]
    );
}
