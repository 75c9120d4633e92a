//! `cceone-console`: the web console. Plain HTML, CSS and JavaScript embedded in the binary (no
//! build step, no Node at run time), served under [`PREFIX`] on the federation API's own HTTPS
//! port through the API server's [`Mount`] hook.
//!
//! The page acts with the signed-in user's identity through the same API: signing in (a pasted
//! bearer token, or a one-time link that `cceone up` writes) starts a server-side session whose
//! HttpOnly, SameSite=Strict cookie stands for the token; requests under `/console/k8s/` are
//! handed to the API with that token as their `Authorization`, so authentication, RBAC,
//! admission and audit apply unchanged. The few actions that are more than one API call
//! (register and render the agent YAML, issue a proxy kubeconfig, apply a YAML file) run here as
//! a kube-rs client of the API, again with the user's token.

mod actions;
mod assets;
mod audit;
mod routes;
mod session;

use std::sync::Arc;
use std::time::Instant;

use cceone_kube_apiserver::http::Mount;
use parking_lot::Mutex;

/// Where the console lives on the API server's port.
pub const PREFIX: &str = "/console";

/// The console: its sessions and how it reaches the API for server-side actions.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Mutex<session::Sessions>,
    /// `https://host:port` of the API (this same server).
    api_url: String,
    /// The CA that signed the API's serving certificate (PEM).
    ca_pem: String,
    /// The API's audit log, for the audit page (none: the page says there is no log).
    audit_log: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("api_url", &self.inner.api_url)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console for the API at `api_url` whose serving certificate `ca_pem` signed, whose
    /// audit page reads `audit_log` (the API's audit log, if it keeps one).
    pub fn new(api_url: String, ca_pem: String, audit_log: Option<std::path::PathBuf>) -> Console {
        Console {
            inner: Arc::new(Inner {
                sessions: Mutex::new(session::Sessions::default()),
                api_url,
                ca_pem,
                audit_log,
            }),
        }
    }

    /// The mount to hand to the API server.
    pub fn mount(&self) -> Mount {
        let inner = Arc::clone(&self.inner);
        Mount {
            prefix: PREFIX.to_string(),
            handler: Arc::new(move |req| {
                let inner = Arc::clone(&inner);
                Box::pin(async move { routes::handle(&inner, req).await })
            }),
        }
    }

    /// The console's address: `https://host:port/console/`.
    pub fn url(&self) -> String {
        format!("{}{PREFIX}/", self.inner.api_url)
    }

    /// A link that opens the console signed in as `user` (whose bearer token is `token`), once:
    /// the link's id is exchanged for a session cookie on first use and then forgotten.
    pub fn sign_in_link(&self, token: &str, user: &str) -> Result<String, Error> {
        let id = random_id()?;
        self.inner.sessions.lock().add_link(
            id.clone(),
            session::Identity {
                token: token.to_string(),
                user: user.to_string(),
            },
            Instant::now(),
        );
        Ok(format!("{}{PREFIX}/signin?link={id}", self.inner.api_url))
    }
}

/// A failure of the console itself (the API's own refusals are passed to the page as they are).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The system's random source failed.
    #[error("no random bytes for a session id")]
    Random,
}

/// 32 random bytes as hex: a session or link id.
fn random_id() -> Result<String, Error> {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::Random)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
