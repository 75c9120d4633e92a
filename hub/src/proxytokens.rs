//! Bearer tokens of the proxy kubeconfigs the platform issues: Secrets in the system namespace,
//! watched so a revoked kubeconfig (its Secret deleted) is refused at once, and the streams it
//! has open (watches, logs) are ended: see [`ProxyTokens::still_valid`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::watcher;
use parking_lot::RwLock;

/// How often an open stream re-checks its token even without a change to the set (expiry).
const RECHECK: Duration = Duration::from_secs(10);

/// The live set of proxy-token Secrets.
#[derive(Clone)]
pub(crate) struct ProxyTokens {
    secrets: Arc<RwLock<HashMap<String, Secret>>>,
    /// Bumped whenever the set changes, so open streams re-check their token.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for ProxyTokens {
    fn default() -> Self {
        ProxyTokens {
            secrets: Arc::default(),
            changed: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

impl ProxyTokens {
    /// Keep the set current.
    pub(crate) async fn run(self, client: kube::Client) {
        let api: Api<Secret> = Api::namespaced(client, cceone_platform::SYSTEM_NAMESPACE);
        let cfg = watcher::Config::default().labels(cceone_platform::proxytoken::SELECTOR);
        let mut stream = watcher(api, cfg).boxed();
        let mut init = HashMap::new();
        while let Some(ev) = stream.next().await {
            if matches!(
                ev,
                Ok(watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_))
            ) {
                // Bumped before the set changes below is harmless: waiters re-check after it.
                self.changed.send_modify(|n| *n += 1);
            }
            match ev {
                Ok(watcher::Event::Init) => init.clear(),
                Ok(watcher::Event::InitApply(s)) => {
                    if let Some(n) = s.metadata.name.clone() {
                        init.insert(n, s);
                    }
                }
                Ok(watcher::Event::InitDone) => *self.secrets.write() = std::mem::take(&mut init),
                Ok(watcher::Event::Apply(s)) => {
                    if let Some(n) = s.metadata.name.clone() {
                        self.secrets.write().insert(n, s);
                    }
                }
                Ok(watcher::Event::Delete(s)) => {
                    if let Some(n) = s.metadata.name.as_ref() {
                        self.secrets.write().remove(n);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching proxy tokens failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Resolves once `token` no longer opens `cluster` (revoked, expired): checked whenever the
    /// set changes and every [`RECHECK`]. A stream authenticated by the token races it.
    pub(crate) async fn still_valid(&self, token: &str, cluster: &str) {
        let mut changes = self.changed.subscribe();
        loop {
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() {
                        // The watcher is gone: keep to the periodic check.
                        tokio::time::sleep(RECHECK).await;
                    }
                }
                _ = tokio::time::sleep(RECHECK) => {}
            }
            if self.verify(token, cluster).is_none() {
                return;
            }
        }
    }

    /// The user and groups a token stands for, when it is valid for `cluster`.
    pub(crate) fn verify(&self, token: &str, cluster: &str) -> Option<(String, Vec<String>)> {
        let now = jiff::Timestamp::now();
        let secrets = self.secrets.read();
        secrets.values().find_map(|s| {
            let id = cceone_platform::proxytoken::verify(s, token, now)?;
            (id.cluster == cluster).then_some((id.user, id.groups))
        })
    }
}
