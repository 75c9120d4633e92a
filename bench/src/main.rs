//! `cceone-bench`: hub and agent benchmarks that print figures (never assert on them).
//!
//! Every piece runs as on a real machine: the federation API (`cceone-kubesim --nodes 0`), the
//! hub, simulated members and agents are release binaries in child processes; the many idle
//! tunnels of sections 1–2 come from lightweight agents in this process (see [`fleet`]).
//!
//! 1. idle tunnels one hub holds, hub RSS and KiB per tunnel, TCP and QUIC separately;
//! 2. reconnect storm: the hub killed and restarted with every tunnel up, time until all back;
//! 3. registration latency p50/p99 (token issue → `POST /v1/register` → certificate);
//! 4. proxy throughput through the tunnel vs. direct to the simulator, and added latency;
//!    bytes through `kubectl port-forward` over the tunnel vs. to the same pod directly;
//! 5. agent resident memory, idle and with a 5,000-node member;
//! 6. several hubs: tunnels spread over three hubs, one killed (-9), time until its clusters are
//!    Running on the other two; proxied requests through a hub that forwards them to the one
//!    holding the tunnel vs. through that one ([`hubs`]).
//!
//! Usage: `cargo run --release -p cceone-bench [-- tunnels register proxy agent hubs]` (all by
//! default). `BENCH_QUICK=1`: 200 tunnels (300 over the three hubs) and fewer rounds.
//! `BENCH_TUNNELS=N` overrides the tunnel count, `BENCH_TRANSPORTS=tcp,quic` picks
//! transports, `BENCH_MAX_HANDSHAKES` the hub's admission limit (default 256, the hub's
//! default), `BENCH_NO_BUILD=1` skips building the binaries, `BENCH_HUB_LOG` sets the hub's
//! `RUST_LOG` (default `info`). Section 6 runs over TCP unless `BENCH_TRANSPORTS` says
//! otherwise; `BENCH_HUBS_HOLD` (seconds every tunnel is up before the kill, default 60: the
//! agents' backoff starts over after a minute up), `BENCH_HUBS_WATCH` (seconds watched with the
//! killed hub back, default 15), `BENCH_HUBS_TIMEOUT` (each wait, default 300),
//! `BENCH_MAX_PER_SOURCE` (the hubs' cap on handshakes from one address; default the tunnel
//! count, as the test agents all dial from 127.0.0.1), `BENCH_FORWARD_CONCURRENCY` (default 8) and `BENCH_FORWARD_SECS` (each way, default 10; 0
//! leaves the proxy part out).
#![allow(clippy::unwrap_used)]

mod agentmem;
mod fleet;
mod hubs;
mod platform;
mod portforward;
mod proxy;
mod register;
mod report;
mod tunnels;

use std::time::Duration;

use cceone_tunnel::TransportChoice;

use crate::report::{Table, heading, mib, ms, percentile, progress, secs};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `BENCH_TRANSPORTS` entry: `quic`, else TCP.
fn transport(name: &str) -> TransportChoice {
    match name.trim() {
        "quic" => TransportChoice::Quic,
        _ => TransportChoice::Grpc,
    }
}

fn secs_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(env_usize(name, default as usize) as u64)
}

/// Raise the open-file limit as far as allowed (children inherit it); returns the new limit.
fn raise_nofile() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let cur = getrlimit(Resource::Nofile);
    let hard = cur.maximum.unwrap_or(1 << 20);
    for want in [1 << 20, 262_144, 65_536, hard] {
        let max = if want > hard { want } else { hard };
        let target = want.min(max);
        if setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: Some(max),
            },
        )
        .is_ok()
        {
            return target;
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    report::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s || a == "all");
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let nofile = raise_nofile();
    progress("building the release binaries (hub, simulator, agent)");
    platform::build()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "cceone hub/agent benchmarks — {} mode, {cores} cores, RLIMIT_NOFILE {nofile}",
        if quick { "quick" } else { "full" }
    );
    println!(
        "  every process runs on this machine: federation API, hub, simulated members, agents, \
         and the test-side agents of sections 1-2 (one process, one shared runtime)"
    );
    rt.block_on(async {
        // On Ctrl-C or SIGTERM the run is dropped, and with it every child process.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = run(&want, quick) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
            _ = term.recv() => anyhow::bail!("terminated"),
        }
    })?;
    Ok(())
}

async fn run(want: &dyn Fn(&str) -> bool, quick: bool) -> anyhow::Result<()> {
    {
        if want("register") || want("proxy") || want("agent") {
            progress("starting a federation API and a hub for sections 3-5");
            let p = platform::Platform::start(256).await?;
            if want("register") {
                let n = if quick { 50 } else { 200 };
                let r = register::run(&p, n).await?;
                print_register(&r);
            }
            if want("proxy") {
                let (objects, rounds, gets) = if quick {
                    (2000, 5, 100)
                } else {
                    (5000, 15, 300)
                };
                let rounds = env_usize("BENCH_PROXY_ROUNDS", rounds);
                let runs = proxy::run(&p, objects, rounds, gets).await?;
                print_proxy(objects, &runs);
            }
            if want("agent") {
                let runs = agentmem::run(&p, &[3, 5000]).await?;
                print_agent(&runs);
            }
        }
        if want("tunnels") {
            let n = env_usize("BENCH_TUNNELS", if quick { 200 } else { 10_000 });
            let mh = env_usize("BENCH_MAX_HANDSHAKES", 256);
            let transports =
                std::env::var("BENCH_TRANSPORTS").unwrap_or_else(|_| "tcp,quic".into());
            let mut runs = Vec::new();
            for t in transports.split(',') {
                runs.push(tunnels::run(n, transport(t), mh, quick).await?);
                // Let the kernel finish closing the last fleet's sockets.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            print_tunnels(&runs, mh);
        }
        if want("hubs") {
            let mut sizes = hubs::Sizes {
                n: env_usize("BENCH_TUNNELS", if quick { 300 } else { 10_000 }),
                max_handshakes: env_usize("BENCH_MAX_HANDSHAKES", 256),
                max_per_source: env_usize("BENCH_MAX_PER_SOURCE", 0),
                hold: secs_env("BENCH_HUBS_HOLD", if quick { 5 } else { 60 }),
                watch: secs_env("BENCH_HUBS_WATCH", if quick { 5 } else { 15 }),
                timeout: secs_env("BENCH_HUBS_TIMEOUT", if quick { 120 } else { 300 }),
                concurrency: env_usize("BENCH_FORWARD_CONCURRENCY", 8),
                proxy_secs: secs_env("BENCH_FORWARD_SECS", if quick { 4 } else { 10 }),
            };
            if sizes.max_per_source == 0 {
                sizes.max_per_source = sizes.n.max(128);
            }
            let transports = std::env::var("BENCH_TRANSPORTS").unwrap_or_else(|_| "tcp".into());
            let mut runs = Vec::new();
            for t in transports.split(',') {
                runs.push(hubs::run(transport(t), &sizes).await?);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            print_hubs(&runs, &sizes);
        }
        Ok(())
    }
}

fn print_tunnels(runs: &[tunnels::TunnelRun], max_handshakes: usize) {
    heading("1. Idle tunnels held by one hub (hub RSS from /proc/<pid>/status VmRSS)");
    let mut t = Table::new(&[
        "transport",
        "tunnels up",
        "hub sessions",
        "fill time",
        "fill rate",
        "hub RSS, 0 tunnels",
        "hub RSS, all up",
        "KiB/tunnel",
        "hub fds",
        "fed API fds",
        "hub CPU idle",
    ]);
    for r in runs {
        let per = (r.rss_full.saturating_sub(r.rss_base)) as f64 / r.connected.max(1) as f64;
        t.row(vec![
            r.transport.into(),
            format!("{} / {}", r.connected, r.n),
            r.hub_sessions.to_string(),
            secs(r.fill),
            format!("{:.0} /s", r.connected as f64 / r.fill.as_secs_f64()),
            mib(r.rss_base),
            mib(r.rss_full),
            format!("{per:.1} KiB"),
            r.fds.to_string(),
            r.fed_fds.to_string(),
            format!("{:.0}% of a core", r.idle_cpu_pct),
        ]);
    }
    t.print();
    println!(
        "  baseline: the same hub process with every cluster registered and no tunnel; first \
         connections 256 in flight; heartbeats every 5 s"
    );
    println!("  aim: 10,000 tunnels on this 2-core machine, <= 32 KiB per tunnel");

    heading(&format!(
        "2. Reconnect storm: hub killed (-9) and restarted with every tunnel up (--max-handshakes {max_handshakes})"
    ));
    let mut t = Table::new(&[
        "transport",
        "tunnels",
        "back",
        "restart→serving",
        "kill→all back",
        "p50 back",
        "p99 back",
        "hub CPU",
        "CPU/reconnect",
        "hub RSS after",
        "failed attempts",
        "peak hub fds",
        "/healthz slowest",
        "probes > 1 s",
        "health port slowest",
        "> 1 s",
    ]);
    for r in runs {
        let s = &r.storm;
        t.row(vec![
            r.transport.into(),
            r.connected.to_string(),
            s.back.to_string(),
            secs(s.ready_after),
            s.all_back.map_or("not all".into(), secs),
            secs(s.p50),
            secs(s.p99),
            secs(s.hub_cpu),
            ms(s.hub_cpu / s.back.max(1) as u32),
            mib(s.rss_after),
            s.failures.to_string(),
            s.peak_fds.to_string(),
            secs(s.probe_max),
            format!("{} / {}", s.probes_slow.0, s.probes_slow.1),
            secs(s.health_probe_max),
            format!("{} / {}", s.health_probes_slow.0, s.health_probes_slow.1),
        ]);
    }
    t.print();
    println!(
        "  agents reconnect as the real agent does: backoff 500 ms base, 30 s cap, full jitter; \
         the test agents' own TLS work shares the same 2 cores"
    );
    println!(
        "  /healthz: a new HTTPS connection to 9443 once a second during the storm, as a kubelet \
         probe (default timeout 1 s) would make it; health port: the same over plain HTTP on \
         --health-listen"
    );
    println!("  aim: <= 30 s for 10,000 tunnels");
}

fn print_register(r: &register::Registrations) {
    heading(&format!(
        "3. Registration latency ({} registrations, one at a time)",
        r.total.len()
    ));
    let mut t = Table::new(&["step", "p50", "p99", "max"]);
    for (name, v) in [
        ("token issue (Secret in the federation API)", &r.issue),
        (
            "register (key + CSR, POST /v1/register, checks)",
            &r.register,
        ),
        ("total: token → certificate", &r.total),
    ] {
        t.row(vec![
            name.into(),
            ms(percentile(v, 50.0)),
            ms(percentile(v, 99.0)),
            ms(percentile(v, 100.0)),
        ]);
    }
    t.print();
    let p99 = percentile(&r.total, 99.0);
    println!(
        "  baseline: Karmada publishes p99 6.9 s → {:.0}x lower here; aim: p99 <= 1 s",
        6.9 / p99.as_secs_f64().max(1e-9)
    );
}

fn print_proxy(objects: usize, runs: &[proxy::ProxyRun]) {
    heading(&format!(
        "4. Proxy: list of {objects} ConfigMaps (~2 KiB each), direct to the simulator vs. through the hub and tunnel"
    ));
    let mut t = Table::new(&[
        "transport",
        "list size",
        "lists each way",
        "direct",
        "through tunnel",
        "ratio",
    ]);
    for r in runs {
        t.row(vec![
            r.transport.into(),
            format!("{:.1} MB", r.list_bytes as f64 / 1e6),
            r.rounds.to_string(),
            format!("{:.1} MB/s", r.direct_bps / 1e6),
            format!("{:.1} MB/s", r.tunnel_bps / 1e6),
            format!("{:.2}", r.tunnel_bps / r.direct_bps),
        ]);
    }
    t.print();
    println!("  aim: ratio >= 0.8 (apiserver-network-proxy loses about half)");
    let mut t = Table::new(&[
        "CPU per MB listed",
        "member",
        "agent",
        "hub",
        "client",
        "total",
        "direct: member",
        "direct: client",
        "direct total",
    ]);
    for r in runs {
        let f = |v: f64| format!("{v:.1} ms");
        let tc = r.tunnel_cpu;
        let dc = r.direct_cpu;
        t.row(vec![
            r.transport.into(),
            f(tc[0]),
            f(tc[1]),
            f(tc[2]),
            f(tc[3]),
            f(tc.iter().sum()),
            f(dc[0]),
            f(dc[1]),
            f(dc.iter().sum()),
        ]);
    }
    t.print();
    println!(
        "  (CPU from /proc/<pid>/stat in 10 ms ticks; every process shares the same 2 cores, so \
         a path that needs more CPU per MB runs slower)"
    );
    let mut t = Table::new(&[
        "kubectl port-forward (raw stream)",
        "per download",
        "down direct",
        "down tunnel",
        "ratio",
        "echo direct",
        "echo tunnel",
        "ratio",
    ]);
    for r in runs {
        let (d, v) = (r.pf_direct, r.pf_tunnel);
        t.row(vec![
            r.transport.into(),
            format!("{:.0} MiB", r.pf_bytes as f64 / 1048576.0),
            format!("{:.1} MB/s", d.down / 1e6),
            format!("{:.1} MB/s", v.down / 1e6),
            format!("{:.2}", v.down / d.down),
            format!("{:.1} MB/s", d.echo / 1e6),
            format!("{:.1} MB/s", v.echo / 1e6),
            format!("{:.2}", v.echo / d.echo),
        ]);
    }
    t.print();
    println!(
        "  (a pod's HTTP responder through `kubectl port-forward :80`: GET /bytes/N down, POST \
         /echo of N/2 up and back; kubectl, the simulator, hub and agent share the 2 cores)"
    );
    let mut t = Table::new(&[
        "small GET (one ConfigMap)",
        "samples",
        "direct p50",
        "direct p99",
        "tunnel p50",
        "tunnel p99",
        "added p50",
        "added p99",
    ]);
    for r in runs {
        let (d50, d99) = (
            percentile(&r.direct_lat, 50.0),
            percentile(&r.direct_lat, 99.0),
        );
        let (t50, t99) = (
            percentile(&r.tunnel_lat, 50.0),
            percentile(&r.tunnel_lat, 99.0),
        );
        // Added latency per pair (each tunnel GET right after its direct twin).
        let added: Vec<Duration> = r
            .tunnel_lat
            .iter()
            .zip(&r.direct_lat)
            .map(|(t, d)| t.saturating_sub(*d))
            .collect();
        t.row(vec![
            r.transport.into(),
            r.direct_lat.len().to_string(),
            ms(d50),
            ms(d99),
            ms(t50),
            ms(t99),
            ms(percentile(&added, 50.0)),
            ms(percentile(&added, 99.0)),
        ]);
    }
    t.print();
}

fn print_agent(runs: &[agentmem::AgentMem]) {
    heading("5. Agent resident memory (the agent binary, after its status reached the hub)");
    let mut t = Table::new(&["member", "status reported after", "RSS", "peak RSS (VmHWM)"]);
    for r in runs {
        t.row(vec![
            format!("{} nodes", r.nodes),
            secs(r.reported_after),
            mib(r.rss),
            mib(r.hwm),
        ]);
    }
    t.print();
    println!("  baseline: Karmada's agent 266 MiB at 5,000 nodes; aim: <= 32 MiB");
}

fn print_hubs(runs: &[hubs::HubsRun], sz: &hubs::Sizes) {
    heading(&format!(
        "6. Several hubs: {} tunnels over three hubs, one killed (-9) (--max-handshakes {}, --max-per-source {})",
        sz.n, sz.max_handshakes, sz.max_per_source
    ));
    let spread = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter()
            .map(|(h, c)| format!("{}:{c}", h.trim_start_matches("hub-")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut t = Table::new(&[
        "transport",
        "all tunnels up",
        "all Running",
        "spread (status.hub)",
        "up before kill",
        "held by killed",
        "moved",
        "kill→all Running",
        "p50",
        "p99",
        "max",
        "agents back p50",
        "p99",
        "failed attempts",
        "CPU: 2 hubs",
        "fed API",
    ]);
    for r in runs {
        let f = &r.failover;
        t.row(vec![
            r.transport.into(),
            secs(r.fill),
            secs(r.running_after),
            spread(&r.spread),
            secs(r.up_for),
            format!("{} ({})", r.held, r.victim),
            format!("{} / {}", f.moved.len(), r.held),
            r.all_moved.map_or("not all".into(), secs),
            secs(percentile(&f.moved, 50.0)),
            secs(percentile(&f.moved, 99.0)),
            secs(percentile(&f.moved, 100.0)),
            secs(percentile(&r.agents_back, 50.0)),
            secs(percentile(&r.agents_back, 99.0)),
            r.failures.to_string(),
            secs(r.cpu.0),
            secs(r.cpu.1),
        ]);
    }
    t.print();
    println!(
        "  moved: the cluster's status Running and held by another hub, as a watch on the \
         federation API received it; agents back: their session (HelloAck) on another hub"
    );
    println!("  aim: the killed hub's clusters Running on the others within 15 s");
    let mut t = Table::new(&[
        "transport",
        "killed hub back: ready",
        "watched",
        "its sessions",
        "moved, then changed again",
        "others' clusters changed",
        "spread at the end",
    ]);
    for r in runs {
        let f = &r.failover;
        let few = |v: &[String]| {
            if v.is_empty() {
                "0".to_string()
            } else {
                format!(
                    "{} ({})",
                    v.len(),
                    v.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                )
            }
        };
        t.row(vec![
            r.transport.into(),
            secs(r.restart_ready),
            secs(r.watched),
            r.victim_sessions.to_string(),
            few(&f.flapped),
            few(&f.disturbed),
            spread(&r.spread_after),
        ]);
    }
    t.print();
    println!(
        "  aim: 0 and 0 (no flapping: the restarted hub takes no tunnel, no moved cluster leaves \
         Running or its new hub)"
    );
    for r in runs {
        let Some(fw) = &r.forwarding else { continue };
        let mut t = Table::new(&[
            &format!(
                "{}: proxied GET ({} B list), {} in flight",
                r.transport, fw.body_bytes, fw.concurrency
            ),
            "requests",
            "errors",
            "per second",
            "p50",
            "p99",
            "forwarded (entry hub's count)",
        ]);
        for s in &fw.sides {
            t.row(vec![
                s.label.clone(),
                s.ok.to_string(),
                s.errors.to_string(),
                format!("{:.0}", s.ok as f64 / s.elapsed.as_secs_f64().max(1e-9)),
                ms(percentile(&s.lat, 50.0)),
                ms(percentile(&s.lat, 99.0)),
                s.forwarded.to_string(),
            ]);
        }
        t.print();
    }
    println!(
        "  the same kube-rs client both ways (HTTP/1.1 over TLS), alternating in two halves; the \
         forwarding hub relays over mutual TLS to the owner, which relays through the tunnel"
    );
}
