//! Section 3: registration latency, one registration at a time as an operator would do them:
//! issue a bootstrap token (a Secret in the federation API) → the agent's own registration
//! code (fresh key pair and CSR, `POST /v1/register`, certificate checked against the key).

use std::time::{Duration, Instant};

use cceone_cluster_agent::https::HttpsClient;

use crate::platform::Platform;
use crate::report::progress;

/// Latencies of `n` registrations.
pub(crate) struct Registrations {
    /// Token issue → certificate back.
    pub(crate) total: Vec<Duration>,
    /// Token issue alone.
    pub(crate) issue: Vec<Duration>,
    /// `POST /v1/register` with key and CSR generation and the answer's checks.
    pub(crate) register: Vec<Duration>,
}

/// Register `n` clusters (plus a few warm-up ones, not counted).
pub(crate) async fn run(p: &Platform, n: usize) -> anyhow::Result<Registrations> {
    const WARMUP: usize = 5;
    let names: Vec<String> = (0..n + WARMUP).map(|i| format!("reg{i:04}")).collect();
    p.create_clusters(&names, 32).await?;
    progress(format!(
        "registration: {} clusters created; registering them one by one",
        names.len()
    ));
    let http = HttpsClient::new(&p.ca_pem)?;
    let mut out = Registrations {
        total: Vec::new(),
        issue: Vec::new(),
        register: Vec::new(),
    };
    for (i, name) in names.iter().enumerate() {
        let t0 = Instant::now();
        let token =
            cceone_platform::token::issue(&p.fed_client, name, Duration::from_secs(3600)).await?;
        let t1 = Instant::now();
        let cfg = cceone_cluster_agent::Config::from_env(&p.agent_env(name, &token, "grpc"))?;
        let id = cceone_cluster_agent::identity::register(&cfg, &http).await?;
        let t2 = Instant::now();
        anyhow::ensure!(
            id.cluster_name == *name,
            "certificate for the wrong cluster"
        );
        if i >= WARMUP {
            out.issue.push(t1 - t0);
            out.register.push(t2 - t1);
            out.total.push(t2 - t0);
        }
    }
    Ok(out)
}
