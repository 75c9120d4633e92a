//! Section 5: the agent binary's resident memory, as a child process, once it has reported
//! its member's status to the hub: with a small member (idle) and with a 5,000-node member.

use std::time::{Duration, Instant};

use crate::platform::{self, Platform, Proc};
use crate::report::progress;

/// One agent's figures.
pub(crate) struct AgentMem {
    /// Nodes in its member.
    pub(crate) nodes: usize,
    /// Time from start to the hub showing its status.
    pub(crate) reported_after: Duration,
    /// Resident memory after reporting, settled (KiB; the highest of a few samples).
    pub(crate) rss: u64,
    /// Peak resident memory over its life (KiB).
    pub(crate) hwm: u64,
}

/// Run one agent per member size, at the same time.
pub(crate) async fn run(p: &Platform, sizes: &[usize]) -> anyhow::Result<Vec<AgentMem>> {
    let mut running = Vec::new();
    for &nodes in sizes {
        let name = format!("mem-{nodes}");
        let t = Instant::now();
        let (member, kc) =
            platform::kubesim(p.dir.path(), &name, &["--nodes", &nodes.to_string()]).await?;
        progress(format!(
            "agent memory: member with {nodes} nodes up in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
        p.create_clusters(std::slice::from_ref(&name), 1).await?;
        let token =
            cceone_platform::token::issue(&p.fed_client, &name, Duration::from_secs(3600)).await?;
        let agent = Proc::start(
            &format!("agent-{name}"),
            "cceone-cluster-agent",
            vec!["--kubeconfig".into(), kc.display().to_string()],
            p.agent_env(&name, &token, "auto"),
            p.dir.path(),
        )?;
        running.push((name, nodes, member, agent, Instant::now()));
    }
    let mut out = Vec::new();
    for (name, nodes, _member, agent, started) in &running {
        let want = *nodes as u64;
        p.wait_status(name, Duration::from_secs(180), |s| {
            s["phase"] == "Running" && s["nodeSummary"]["total"].as_u64() == Some(want)
        })
        .await?;
        let reported_after = started.elapsed();
        progress(format!(
            "agent memory: {} reported {nodes} nodes after {:.1} s",
            agent.name(),
            reported_after.as_secs_f64()
        ));
        out.push((*nodes, reported_after, agent.pid()));
    }
    // Let collectors settle (status resends, watch bookmarks), then sample.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut rss = vec![0u64; out.len()];
    for _ in 0..5 {
        for (i, (_, _, pid)) in out.iter().enumerate() {
            rss[i] = rss[i].max(platform::rss_kib(*pid));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(out
        .into_iter()
        .zip(rss)
        .map(|((nodes, reported_after, pid), rss)| AgentMem {
            nodes,
            reported_after,
            rss,
            hwm: platform::hwm_kib(pid),
        })
        .collect())
}
