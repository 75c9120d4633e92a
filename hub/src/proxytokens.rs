//! Bearer tokens of the proxy kubeconfigs the platform issues: Secrets in the system namespace,
//! watched so a revoked kubeconfig (its Secret deleted) is refused at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::watcher;
use parking_lot::RwLock;

/// The live set of proxy-token Secrets.
#[derive(Clone, Default)]
pub(crate) struct ProxyTokens {
    secrets: Arc<RwLock<HashMap<String, Secret>>>,
}

impl ProxyTokens {
    /// Keep the set current.
    pub(crate) async fn run(self, client: kube::Client) {
        let api: Api<Secret> = Api::namespaced(client, cceone_platform::SYSTEM_NAMESPACE);
        let cfg = watcher::Config::default().labels(cceone_platform::proxytoken::SELECTOR);
        let mut stream = watcher(api, cfg).boxed();
        let mut init = HashMap::new();
        while let Some(ev) = stream.next().await {
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
