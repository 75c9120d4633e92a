//! The small controller runtime the federation's controllers share: watch-backed caches
//! ([`cache`]), a deduplicating work queue with backoff ([`queue`]) and the few writes the
//! controllers make ([`client`]), all over kube-rs against the federation API.

pub(crate) mod cache;
pub(crate) mod client;
pub(crate) mod queue;

pub(crate) use cache::{Cache, Handler, ObjKey};
pub(crate) use client::Writer;
pub(crate) use queue::{Queue, Requeue};
