use super::*;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn hours_are_utc_plus_8() {
    let h = hour_of(t("2026-12-07T01:59:59Z"));
    assert_eq!(h, t("2026-12-07T01:00:00Z"));
    assert_eq!(format_hour(h), "2026-12-07T09:00+08:00");
    assert_eq!(parse_hour("2026-12-07T09:00+08:00"), Some(h));
    assert_eq!(record_name("demo", h), "demo.2026120709");
    // Midnight in UTC+8 is 16:00 UTC the day before.
    assert_eq!(
        record_name("demo", t("2026-12-06T16:00:00Z")),
        "demo.2026120700"
    );
}

#[test]
fn amounts_are_exact() {
    assert_eq!(milli_vcpus("7500m"), 7500);
    assert_eq!(milli_vcpus("7"), 7000);
    assert_eq!(milli_vcpus("junk"), 0);
    assert_eq!(format_milli(7500), "7.5");
    assert_eq!(format_milli(7000), "7");
    assert_eq!(format_milli(250), "0.25");
    assert_eq!(amount_e4(7000, 556), 3892);
    assert_eq!(format_e4(3892), "0.3892");
    assert_eq!(amount_e4(7000, unit_price_e4(ClusterType::Local)), 11676);
    let spec = UsageSpec::new(
        "demo",
        ClusterType::ThirdParty,
        Some("f"),
        t("2026-12-07T01:00:00Z"),
        4000,
        "s",
    );
    assert_eq!(spec.unit_price, "0.0556");
    assert_eq!(spec.amount, "0.2224");
    assert_eq!(spec.vcpu_hours, "4");
    let obj = spec.to_object(t("2026-12-07T01:00:00Z"));
    assert_eq!(obj["metadata"]["name"], "demo.2026120709");
    assert_eq!(obj["metadata"]["labels"][FLEET_LABEL], "f");
    assert_eq!(UsageSpec::of(&obj), Some(spec));
}

#[test]
fn only_connected_hours_are_charged() {
    let obs = |connected, session| Observation {
        connected,
        milli: 4000,
        session,
    };
    assert!(hours_to_charge(&obs(false, "a"), None, t("2026-12-07T01:10:00Z")).is_empty());
    assert_eq!(
        hours_to_charge(&obs(true, "a"), None, t("2026-12-07T01:10:00Z")),
        [(t("2026-12-07T01:00:00Z"), 4000)]
    );
}

#[test]
fn a_gap_in_the_same_session_is_filled_and_a_new_session_is_not() {
    let last = LastRecord {
        hour: t("2026-12-07T01:00:00Z"),
        milli: 6000,
        session: "a".into(),
    };
    let now = t("2026-12-07T04:05:00Z");
    let same = Observation {
        connected: true,
        milli: 4000,
        session: "a",
    };
    assert_eq!(
        hours_to_charge(&same, Some(&last), now),
        [
            (t("2026-12-07T02:00:00Z"), 6000),
            (t("2026-12-07T03:00:00Z"), 6000),
            (t("2026-12-07T04:00:00Z"), 4000)
        ]
    );
    // Reconnected since: the hours between were not connected (or are unknown): not charged.
    let other = Observation {
        session: "b",
        ..same
    };
    assert_eq!(
        hours_to_charge(&other, Some(&last), now),
        [(t("2026-12-07T04:00:00Z"), 4000)]
    );
}

#[test]
fn retention_drops_old_hours_but_each_clusters_latest() {
    let day = std::time::Duration::from_secs(24 * 3600);
    let now = t("2026-12-10T00:30:00Z");
    let recs = [
        Kept {
            name: "a.old",
            cluster: "a",
            hour: t("2026-12-07T00:00:00Z"),
        },
        Kept {
            name: "a.edge",
            cluster: "a",
            hour: t("2026-12-08T23:00:00Z"),
        },
        Kept {
            name: "a.new",
            cluster: "a",
            hour: t("2026-12-09T23:00:00Z"),
        },
        // b stopped long ago: its only (latest) record stays.
        Kept {
            name: "b.only",
            cluster: "b",
            hour: t("2026-12-01T00:00:00Z"),
        },
    ];
    // a.edge ended at 2026-12-09T00:00Z, 24 h 30 min before now.
    assert_eq!(expired(&recs, now, day), ["a.old", "a.edge"]);
    assert_eq!(expired(&recs, now, 2 * day), ["a.old"]);
    assert!(expired(&recs, now, 30 * day).is_empty());
}
