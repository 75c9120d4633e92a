//! `cceonectl usage`: the metered hours (UsageRecords) of a cluster, a fleet or everything,
//! with totals, as a table, CSV or JSON. Hours are billing hours in UTC+8.

use anyhow::{Context as _, bail};
use cceone_platform::usage::{
    FLEET_LABEL, UsageSpec, format_e4, format_milli, parse_hour, usage_records,
};
use jiff::Timestamp;
use kube::api::ListParams;
use serde_json::json;

use crate::args::{UsageArgs, UsageFormat};
use crate::emit;

/// The CSV header (the contract).
const CSV_HEADER: &str = "hour,cluster,type,vcpus,vcpu_hours,unit_price,amount";

/// `--from`/`--to`: RFC 3339, `2026-12-07T09:00+08:00`, or a date (midnight in UTC+8).
fn parse_bound(s: &str) -> anyhow::Result<Timestamp> {
    parse_hour(s)
        .or_else(|| parse_hour(&format!("{s}T00:00+08:00")))
        .with_context(|| format!("{s:?} is not a time: use 2026-12-07T09:00+08:00, an RFC 3339 time or a date 2026-12-07"))
}

/// The records that match, sorted by hour then cluster.
fn select(
    mut records: Vec<UsageSpec>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Vec<UsageSpec> {
    records.retain(|r| {
        let Some(h) = parse_hour(&r.hour) else {
            return false;
        };
        from.is_none_or(|f| h >= f) && to.is_none_or(|t| h < t)
    });
    records
        .sort_by(|a, b| (parse_hour(&a.hour), &a.cluster).cmp(&(parse_hour(&b.hour), &b.cluster)));
    records
}

fn totals(records: &[UsageSpec]) -> (String, String) {
    let milli: i64 = records.iter().map(|r| r.milli_vcpus).sum();
    let amount: i64 = records.iter().map(UsageSpec::amount_e4).sum();
    (format_milli(milli), format_e4(amount))
}

fn csv(records: &[UsageSpec]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in records {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.hour,
            r.cluster,
            r.cluster_type.as_str(),
            format_milli(r.milli_vcpus),
            r.vcpu_hours,
            r.unit_price,
            r.amount
        ));
    }
    out
}

fn table(records: &[UsageSpec]) -> String {
    let mut rows = vec![
        [
            "HOUR",
            "CLUSTER",
            "TYPE",
            "VCPUS",
            "VCPU-HOURS",
            "UNIT-PRICE",
            "AMOUNT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in records {
        rows.push(vec![
            r.hour.clone(),
            r.cluster.clone(),
            r.cluster_type.as_str().to_string(),
            format_milli(r.milli_vcpus),
            r.vcpu_hours.clone(),
            r.unit_price.clone(),
            r.amount.clone(),
        ]);
    }
    let (hours, amount) = totals(records);
    rows.push(vec![
        "TOTAL".into(),
        String::new(),
        String::new(),
        String::new(),
        hours,
        String::new(),
        amount,
    ]);
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// Run `usage`.
pub(crate) async fn run(client: &kube::Client, a: UsageArgs) -> anyhow::Result<()> {
    let from = a.from.as_deref().map(parse_bound).transpose()?;
    let to = a.to.as_deref().map(parse_bound).transpose()?;
    let mut selectors = Vec::new();
    if let Some(c) = &a.cluster {
        cceone_platform::validate_cluster_name(c)?;
        selectors.push(format!("{}={c}", cceone_platform::CLUSTER_LABEL));
    }
    if let Some(f) = &a.fleet {
        cceone_platform::validate_cluster_name(f)
            .map_err(|_| anyhow::anyhow!("{f:?} is not a fleet name"))?;
        selectors.push(format!("{FLEET_LABEL}={f}"));
    }
    let lp = ListParams::default().labels(&selectors.join(","));
    let list = match usage_records(client).list(&lp).await {
        Ok(l) => l,
        Err(kube::Error::Api(s)) if s.code == 404 => {
            bail!("no usage records are served here: is this the cceone federation API?")
        }
        Err(e) => return Err(e).context("listing usage records"),
    };
    let records: Vec<UsageSpec> = list
        .items
        .iter()
        .filter_map(|o| UsageSpec::of(&serde_json::to_value(o).ok()?))
        .collect();
    let records = select(records, from, to);
    let (hours, amount) = totals(&records);
    match a.output {
        UsageFormat::Table => emit(&table(&records)),
        UsageFormat::Csv => {
            emit(&csv(&records))?;
            eprintln!("total: {hours} vCPU-hours, {amount} CNY");
            Ok(())
        }
        UsageFormat::Json => emit(&format!(
            "{:#}\n",
            json!({"records": records, "totals": {"vcpuHours": hours, "amount": amount, "currency": "CNY"}})
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cceone_platform::ClusterType;

    fn rec(cluster: &str, hour: &str, milli: i64) -> UsageSpec {
        UsageSpec::new(
            cluster,
            ClusterType::Local,
            None,
            parse_hour(hour).unwrap(),
            milli,
            "s",
        )
    }

    #[test]
    fn csv_has_the_contract_columns_and_bounds_filter() {
        let records = vec![
            rec("b", "2026-12-07T10:00+08:00", 4000),
            rec("a", "2026-12-07T10:00+08:00", 7500),
            rec("a", "2026-12-07T09:00+08:00", 7000),
        ];
        let all = select(records.clone(), None, None);
        assert_eq!(
            csv(&all),
            "hour,cluster,type,vcpus,vcpu_hours,unit_price,amount\n\
             2026-12-07T09:00+08:00,a,local,7,7,0.1668,1.1676\n\
             2026-12-07T10:00+08:00,a,local,7.5,7.5,0.1668,1.2510\n\
             2026-12-07T10:00+08:00,b,local,4,4,0.1668,0.6672\n"
        );
        assert_eq!(totals(&all), ("18.5".into(), "3.0858".into()));
        let from = parse_bound("2026-12-07T10:00+08:00").unwrap();
        assert_eq!(select(records.clone(), Some(from), None).len(), 2);
        assert_eq!(select(records, None, Some(from)).len(), 1);
        assert_eq!(
            parse_bound("2026-12-07").unwrap(),
            "2026-12-06T16:00:00Z".parse().unwrap()
        );
        assert!(parse_bound("yesterday").is_err());
        assert!(table(&all).lines().last().unwrap().starts_with("TOTAL"));
    }
}
