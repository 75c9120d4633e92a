//! Figures from what was observed, printed beside the published Karmada figures and the aims;
//! and what the federation's `/metrics` says about the requests it served.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::platform::{Cpu, Memory};
use crate::procs::mib;
use crate::watch::Observed;
use crate::{Members, Params};

/// For every key of `later` whose start `since` knows: the time from that start to its `later`
/// instant, sorted (for percentiles).
pub(crate) fn gaps<'a, K>(
    later: &'a HashMap<K, Instant>,
    since: impl Fn(&K) -> Option<&'a Instant>,
) -> Vec<Duration> {
    let mut out: Vec<Duration> = later
        .iter()
        .filter_map(|(k, t)| since(k).map(|s| t.saturating_duration_since(*s)))
        .collect();
    out.sort();
    out
}

/// How many keys of `later` came before their start in `since` (counted as 0 by [`gaps`]).
fn early<'a, K>(
    later: &'a HashMap<K, Instant>,
    since: impl Fn(&K) -> Option<&'a Instant>,
) -> usize {
    later
        .iter()
        .filter(|(k, t)| since(k).is_some_and(|s| **t < *s))
        .count()
}

pub(crate) fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn p50_p99(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "n/a".into();
    }
    format!(
        "p50 {}  p99 {}  ({})",
        ms(pct(sorted, 0.50)),
        ms(pct(sorted, 0.99)),
        sorted.len()
    )
}

/// The federation's Prometheus text (empty when it cannot be read).
pub(crate) async fn metrics_text(fed: &kube::Client) -> String {
    let Ok(req) = http::Request::get("/metrics").body(Vec::new()) else {
        return String::new();
    };
    fed.request_text(req).await.unwrap_or_default()
}

/// `apiserver_request_total` series: (label set as printed, count), largest first.
pub(crate) fn request_counts(text: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("apiserver_request_total"))
        .filter(|rest| rest.starts_with(['{', ' ']))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once(' ')?;
            let value = value.trim().parse::<f64>().ok()?;
            Some((labels.trim().to_string(), value as u64))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// One federation controller's counters over the whole run.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ControllerFigures {
    pub(crate) name: String,
    pub(crate) reconciles: u64,
    pub(crate) busy_secs: f64,
    pub(crate) adds: u64,
}

/// The value of `name{controller="C"...}` series in a Prometheus text, by controller (summed
/// over other labels).
fn by_controller(text: &str, name: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for rest in text.lines().filter_map(|l| l.strip_prefix(name)) {
        let Some((labels, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Some(c) = labels
            .split_once("controller=\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(c, _)| c.to_string())
        else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        match out.iter_mut().find(|(n, _)| *n == c) {
            Some(e) => e.1 += v,
            None => out.push((c, v)),
        }
    }
    out
}

/// The federation controllers' reconciles, busy seconds and queued keys, busiest first.
pub(crate) fn controller_figures(text: &str) -> Vec<ControllerFigures> {
    let busy = by_controller(text, "federation_reconcile_seconds_total{");
    let count = by_controller(text, "federation_reconciles_total{");
    let adds = by_controller(text, "federation_queue_adds_total{");
    let get = |v: &[(String, f64)], c: &str| v.iter().find(|(n, _)| n == c).map_or(0.0, |e| e.1);
    let mut out: Vec<ControllerFigures> = count
        .iter()
        .map(|(c, n)| ControllerFigures {
            name: c.clone(),
            reconciles: *n as u64,
            busy_secs: get(&busy, c),
            adds: get(&adds, c) as u64,
        })
        .collect();
    out.sort_by(|a, b| b.busy_secs.total_cmp(&a.busy_secs));
    out
}

/// The federation store's group commits and the writes they carried over the whole run
/// (each commit is one append and one fsync of the log), from its /metrics.
pub(crate) fn storage_commits(text: &str) -> (u64, u64) {
    let value = |name: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|rest| rest.strip_prefix(' '))
            .find_map(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    (
        value("apiserver_storage_commits_total"),
        value("apiserver_storage_commit_records_total"),
    )
}

/// Writes (create, update, patch, delete) the federation API has served, from its /metrics.
async fn fed_writes(fed: &kube::Client) -> u64 {
    request_counts(&metrics_text(fed).await)
        .iter()
        .filter(|(labels, _)| {
            ["create", "update", "patch", "delete"]
                .iter()
                .any(|v| labels.contains(&format!("verb=\"{v}\"")))
        })
        .map(|(_, n)| n)
        .sum()
}

/// Wait until the federation API has served no write for two seconds (at most `max`); how long
/// that took, or None when it never went quiet.
pub(crate) async fn quiesce(fed: &kube::Client, max: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut last = fed_writes(fed).await;
    let mut quiet_since = Instant::now();
    while start.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = fed_writes(fed).await;
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_secs(2) {
            return Some(quiet_since.saturating_duration_since(start));
        }
    }
    None
}

/// What the light members counted.
pub(crate) struct LightCounts {
    pub(crate) sessions: u64,
    pub(crate) redeliveries: u64,
    pub(crate) deletions: u64,
    pub(crate) statuses: u64,
    pub(crate) failures: u64,
    pub(crate) last_failure: String,
}

/// Everything a run produced.
pub(crate) struct Outcome {
    pub(crate) done: bool,
    pub(crate) obs: Observed,
    pub(crate) first_write: Instant,
    pub(crate) last_write: Instant,
    pub(crate) end: Instant,
    pub(crate) quiet_after: Option<Duration>,
    pub(crate) probes: usize,
    pub(crate) probe_dispatch: Vec<Duration>,
    pub(crate) probe_to_work: Vec<Duration>,
    pub(crate) applies: u64,
    pub(crate) light: Option<LightCounts>,
    /// CPU used from just before the first template write to the end.
    pub(crate) cpu: Cpu,
    pub(crate) mem_before: Memory,
    pub(crate) mem_after: Memory,
    /// Memory once the run's watch history has aged out (`BENCH_SETTLE` after the run).
    pub(crate) mem_settled: Option<Memory>,
    pub(crate) requests: Vec<(String, u64)>,
    /// Per federation controller: reconciles, seconds spent reconciling, keys queued.
    pub(crate) controllers: Vec<ControllerFigures>,
    /// The federation store's (group commits, writes carried).
    pub(crate) storage: (u64, u64),
}

/// One line of the table.
struct Row(String, String, &'static str);

fn print_rows(title: &str, rows: &[Row]) {
    println!("{title}");
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .filter(|r| !r.2.is_empty())
        .map(|r| r.1.len())
        .max()
        .unwrap_or(0)
        .min(56);
    for Row(label, ours, anchor) in rows {
        if anchor.is_empty() {
            println!("  {label:<w0$}  {ours}");
        } else {
            println!("  {label:<w0$}  {ours:<w1$}  | {anchor}");
        }
    }
}

/// Print the figures of `o`.
pub(crate) fn print(p: &Params, o: &Outcome) {
    let expected_works = p.k * p.works_per_template();
    let obs = &o.obs;
    let light = p.members == Members::Light;
    let in_member = if light {
        "delivered to the light member"
    } else {
        "in member"
    };
    let dispatch = gaps(&obs.in_member, |(_, name)| obs.written.get(name));
    let to_work = gaps(&obs.work, |(_, name)| obs.written.get(name));
    let relay = gaps(&obs.in_member, |key| obs.work.get(key));
    let sched = gaps(&obs.rb_scheduled, |name| obs.rb_seen.get(name));
    let to_ready = gaps(&obs.ready, |name| obs.written.get(name));
    let rate = |n: usize, a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) if b > a => Some((n as f64 / (b - a).as_secs_f64(), b - a)),
        _ => None,
    };
    let sched_rate = rate(
        obs.rb_scheduled.len(),
        obs.rb_seen.values().min().copied(),
        obs.rb_scheduled.values().max().copied(),
    );
    let works_rate = rate(
        obs.work.len(),
        obs.work.values().min().copied(),
        obs.work.values().max().copied(),
    );
    let all_ready = obs.ready.values().max().copied();
    let all_applied = obs.in_member.values().max().copied();
    let write_secs = (o.last_write - o.first_write).as_secs_f64();
    let works_held = obs.work.len().max(1);
    let per_kilo_work = |d: Duration| d.as_secs_f64() * 1000.0 / works_held as f64;

    println!();
    if !o.done {
        println!(
            "NOT COMPLETE within {} s: ready {}/{}, {in_member} {}/{}, scheduled {}/{}; figures below cover what completed",
            p.timeout.as_secs(),
            obs.ready.len(),
            p.k,
            obs.in_member.len(),
            expected_works,
            obs.rb_scheduled.len(),
            p.k
        );
    }
    println!(
        "results (K={} x N={}, {} Works, members: {}, wall {:.1} s from first write):",
        p.k,
        p.n,
        expected_works,
        p.members.as_str(),
        (o.end - o.first_write).as_secs_f64()
    );
    println!(
        "  (a) last write -> all {} templates ready : {}",
        p.k,
        all_ready.map_or("n/a".into(), |t| secs(
            t.saturating_duration_since(o.last_write)
        ))
    );
    println!(
        "  (b) dispatch, template write -> {in_member}: p50 {}  p99 {}  max {}  ({} Works)   Karmada Pull @100 clusters: p99 989 ms; aim p99 <= 100 ms",
        ms(pct(&dispatch, 0.50)),
        ms(pct(&dispatch, 0.99)),
        ms(dispatch.last().copied().unwrap_or_default()),
        dispatch.len(),
    );
    println!(
        "      of which template write -> Work created: p50 {}  p99 {};  Work created -> {in_member} (hub, tunnel, {}): p50 {}  p99 {}",
        ms(pct(&to_work, 0.50)),
        ms(pct(&to_work, 0.99)),
        if light { "light member" } else { "agent" },
        ms(pct(&relay, 0.50)),
        ms(pct(&relay, 0.99)),
    );
    let early_relay = early(&obs.in_member, |key| obs.work.get(key));
    if early_relay > 0 {
        println!(
            "      ({early_relay} of {} Works reached the member before this process's watch of Works saw them: that watch lags; those count as 0 ms above)",
            relay.len()
        );
    }
    println!(
        "      before the one-at-a-time templates: {}",
        o.quiet_after.map_or(
            "the federation API never went quiet within 120 s".into(),
            |d| format!(
                "the federation API's last write came {:.1} s into the wait for quiet (2 s without a write)",
                d.as_secs_f64()
            )
        )
    );
    println!(
        "      one template at a time on the settled federation ({} templates, {} Works): template write -> {in_member} p50 {}  p99 {}  max {};  -> Work created p50 {}  p99 {}",
        o.probes,
        o.probe_dispatch.len(),
        ms(pct(&o.probe_dispatch, 0.50)),
        ms(pct(&o.probe_dispatch, 0.99)),
        ms(o.probe_dispatch.last().copied().unwrap_or_default()),
        ms(pct(&o.probe_to_work, 0.50)),
        ms(pct(&o.probe_to_work, 0.99)),
    );
    println!(
        "  (c) bindings scheduled: {:.0}/s over {} bindings (seen -> Scheduled p50 {} p99 {}); {}   Karmada: ~22/s; aim >= 2,000/s",
        sched_rate.map_or(0.0, |r| r.0),
        obs.rb_scheduled.len(),
        ms(pct(&sched, 0.50)),
        ms(pct(&sched, 0.99)),
        if p.policy_last {
            "backlog: the policy was written after every template".to_string()
        } else {
            format!(
                "templates were written at {:.0}/s",
                p.k as f64 / write_secs.max(1e-9)
            )
        },
    );
    let (rss_now, rss_peak) = o.mem_after.me;
    println!(
        "  (d) this process's RSS at end ({}): {} (peak {}), {:.0} KiB per Work",
        if light {
            "light members and watchers"
        } else {
            "federation, hub, members and agents together"
        },
        mib(rss_now),
        mib(rss_peak),
        rss_now as f64 / expected_works.max(1) as f64
    );
    // Every Work the federation made counts (the namespace-sync Works too: an agent applies
    // them, but the kubesim watchers only see the Deployments arrive).
    let works_made = obs.work.len().max(obs.in_member.len());
    let re_applies = o.applies.saturating_sub(works_made as u64);
    println!(
        "  {} {} for {} Works ({re_applies} more than Works: re-applies)",
        if light {
            "light members' Work deliveries received:"
        } else {
            "agents' works applied:"
        },
        o.applies,
        works_made
    );
    if let Some(l) = &o.light {
        println!(
            "      light members: {} sessions, {} WorkStatus sent, {} redeliveries of a held generation, {} deletions, {} failures{}",
            l.sessions,
            l.statuses,
            l.redeliveries,
            l.deletions,
            l.failures,
            if l.last_failure.is_empty() {
                String::new()
            } else {
                format!(" (last: {})", l.last_failure)
            }
        );
    }

    let mut rows = vec![
        Row(
            "bindings scheduled per second".into(),
            sched_rate.map_or("n/a".into(), |(r, _)| {
                format!("{r:.0}/s ({} bindings)", obs.rb_scheduled.len())
            }),
            "Karmada ~22/s; aim >= 2,000/s with Works written",
        ),
        Row(
            "Works written per second (first -> last Work seen)".into(),
            works_rate.map_or("n/a".into(), |(r, d)| {
                format!("{r:.0}/s ({} Works in {})", obs.work.len(), secs(d))
            }),
            "aim >= 2,000 bindings/s with their Works written",
        ),
        Row(
            "template write -> Work created".into(),
            p50_p99(&to_work),
            "",
        ),
        Row(
            format!("Work created -> applied ({in_member})"),
            if early_relay > 0 {
                format!(
                    "{}; {early_relay} arrived before the Work watch saw the Work",
                    p50_p99(&relay)
                )
            } else {
                p50_p99(&relay)
            },
            "",
        ),
        Row(
            format!("template write -> applied ({in_member}), burst"),
            p50_p99(&dispatch),
            "Karmada distribution p99 989 ms @100 clusters",
        ),
        Row(
            "template write -> applied, one template at a time".into(),
            p50_p99(&o.probe_dispatch),
            "aim p99 <= 100 ms to its 100 members, federation holding 100,000 Works",
        ),
        Row(
            "template write -> aggregated ready, per template".into(),
            p50_p99(&to_ready),
            "",
        ),
        Row(
            "first write -> all Works applied".into(),
            all_applied.map_or("n/a".into(), |t| {
                format!(
                    "{} ({}/{expected_works})",
                    secs(t.saturating_duration_since(o.first_write)),
                    obs.in_member.len()
                )
            }),
            "aim 5,000 x 10: <= 30 s",
        ),
        Row(
            "first write -> all templates ready".into(),
            all_ready.map_or("n/a".into(), |t| {
                format!(
                    "{} ({}/{})",
                    secs(t.saturating_duration_since(o.first_write)),
                    obs.ready.len(),
                    p.k
                )
            }),
            "aim 5,000 x 10 <= 60 s, 1,000 x 100 <= 60 s; Karmada cold start 5,000 Deployments ~4 min",
        ),
        Row(
            "members' applies vs Works (re-applies)".into(),
            format!("{} vs {} ({re_applies} re-applies)", o.applies, works_made),
            "",
        ),
    ];
    let cpu_row = |label: &str, d: Duration| {
        Row(
            format!("CPU-seconds, {label}"),
            format!(
                "{:.2} s = {:.3} s per 1,000 Works",
                d.as_secs_f64(),
                per_kilo_work(d)
            ),
            "",
        )
    };
    match (o.cpu.federation, o.cpu.hub) {
        (Some(f), Some(h)) => {
            rows.push(cpu_row("federation", f));
            rows.push(cpu_row("hub", h));
            rows.push(cpu_row("light members + watchers (this process)", o.cpu.me));
        }
        _ => rows.push(cpu_row("everything (one process)", o.cpu.me)),
    }
    match (o.mem_after.federation, o.mem_after.hub) {
        (Some((f, f_peak)), Some((h, h_peak))) => {
            let before = o.mem_before.federation.map_or(0, |m| m.0);
            rows.push(Row(
                "federation RSS at end, per Work held".into(),
                format!("{} = {:.1} KiB/Work", mib(f), f as f64 / works_held as f64),
                "aim <= 16 KiB RSS per Work",
            ));
            if let Some((settled, _)) = o.mem_settled.as_ref().and_then(|m| m.federation) {
                rows.push(Row(
                    "federation RSS settled (the burst's watch history gone)".into(),
                    format!(
                        "{} = {:.1} KiB/Work",
                        mib(settled),
                        settled as f64 / works_held as f64
                    ),
                    "aim <= 16 KiB RSS per Work",
                ));
            }
            rows.push(Row(
                "federation RSS growth during the run, per Work".into(),
                format!(
                    "{:.1} KiB/Work ({} before the writes, peak {})",
                    f.saturating_sub(before) as f64 / works_held as f64,
                    mib(before),
                    mib(f_peak)
                ),
                "",
            ));
            rows.push(Row(
                "hub RSS at end".into(),
                format!("{} (peak {})", mib(h), mib(h_peak)),
                "",
            ));
        }
        _ => rows.push(Row(
            "RSS at end, everything (one process)".into(),
            format!(
                "{} = {:.1} KiB/Work",
                mib(rss_now),
                rss_now as f64 / works_held as f64
            ),
            "aim <= 16 KiB federation RSS per Work (the federation alone: BENCH_MEMBERS=light)",
        )),
    }
    println!();
    print_rows(
        &format!(
            "per-stage figures (K={} x N={}, {} Works, {} members)     ours  | published Karmada figure or our aim",
            p.k,
            p.n,
            expected_works,
            p.members.as_str()
        ),
        &rows,
    );

    println!();
    println!(
        "federation controllers over the whole run (reconciles, time inside them across workers, keys queued):"
    );
    for c in o.controllers.iter().filter(|c| c.reconciles > 0) {
        println!(
            "  {:<13} {:>7} reconciles  {:>7.2} s  {:>7.0} us each  {:>7} keys queued",
            c.name,
            c.reconciles,
            c.busy_secs,
            c.busy_secs * 1e6 / c.reconciles.max(1) as f64,
            c.adds
        );
    }
    let (commits, records) = o.storage;
    println!(
        "  federation store: {records} writes in {commits} group commits (one fsync each), {:.1} writes per commit",
        records as f64 / commits.max(1) as f64
    );
    println!();
    let total: u64 = o.requests.iter().map(|(_, n)| n).sum();
    println!(
        "federation apiserver_request_total, top 10 of {} series ({total} requests in all):",
        o.requests.len()
    );
    if o.requests.is_empty() {
        println!("  (no apiserver_request_total in the federation's /metrics)");
    }
    let width = o.requests.first().map_or(1, |(_, n)| n.to_string().len());
    for (labels, n) in o.requests.iter().take(10) {
        println!("  {n:>width$}  {labels}");
    }
    // The in-process reflectors' lists: more than one per resource means a watch fell behind
    // the store's history and its cache was loaded again from scratch.
    let relists: Vec<_> = o
        .requests
        .iter()
        .skip(10)
        .filter(|(labels, _)| {
            labels.contains("verb=\"list\"") && labels.contains("origin=\"local\"")
        })
        .collect();
    for (labels, n) in relists {
        println!("  {n:>width$}  {labels}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_figures_parse() {
        let text = "federation_reconciles_total{controller=\"binding\",result=\"ok\"} 10\n\
            federation_reconciles_total{controller=\"binding\",result=\"conflict\"} 2\n\
            federation_reconcile_seconds_total{controller=\"binding\"} 1.5\n\
            federation_queue_adds_total{controller=\"binding\"} 30\n";
        let c = controller_figures(text);
        assert_eq!(
            c,
            vec![ControllerFigures {
                name: "binding".into(),
                reconciles: 12,
                busy_secs: 1.5,
                adds: 30
            }]
        );
    }

    #[test]
    fn request_counts_parse_and_sort() {
        let text = "# HELP apiserver_request_total x\n\
            apiserver_request_total{verb=\"get\",code=\"200\"} 5\n\
            apiserver_request_total{verb=\"create\",resource=\"works\",origin=\"local\",code=\"201\"} 12\n\
            apiserver_request_duration_seconds_bucket{le=\"1\"} 99\n";
        let c = request_counts(text);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].1, 12);
        assert!(c[0].0.contains("works"));
    }
}
