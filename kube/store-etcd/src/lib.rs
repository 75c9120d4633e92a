//! The [`Store`] trait of `cceone-kube-store` on etcd (v3 API), for API servers that outgrow one
//! machine: several replicas share one etcd cluster, as kube-apiserver's do.
//!
//! The mapping follows kube-apiserver's etcd3 storage: a store key `k` lives at etcd key
//! `prefix + k`; etcd's global revision is the resourceVersion (objects are stored without
//! `metadata.resourceVersion` and stamped with their `mod_revision` when read); create, update
//! and delete are transactions comparing `create_revision`/`mod_revision`, so optimistic
//! concurrency is a compare-and-swap inside etcd; watches start at `after + 1` with previous
//! values, and etcd's compaction answers `Compacted` (410 Gone at the API). A background
//! compactor (kube-apiserver's algorithm, coordinated between replicas through one etcd key)
//! keeps history bounded.
//!
//! `current_revision` and `compacted_revision` are synchronous in the trait: they report the
//! highest revision this process has seen in any etcd answer (writes, reads, watch events and
//! progress notifications) and the highest compaction it has made or been told of.

mod codec;
mod error;
#[cfg(feature = "clap")]
mod flags;
#[cfg(feature = "test-util")]
pub mod testing;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cceone_kube_store::{Filter, KeyValue, ListPage, Revision, Store, StoreError, WatchStream};
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Identity,
    PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
};
use serde_json::Value;

#[cfg(feature = "clap")]
pub use flags::EtcdFlags;

/// Keys read per etcd range request when a list is cut into chunks (kept well under the
/// response size limit even for large objects).
const LIST_CHUNK: usize = 500;

/// Largest etcd response accepted (a range of [`LIST_CHUNK`] objects of up to etcd's 1.5 MiB
/// request limit each).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Client URLs (`http://host:2379`, `https://...`), tried in turn by the client.
    pub endpoints: Vec<String>,
    /// Prefix of every key (kube-apiserver's `--etcd-prefix`); no other data in the same etcd
    /// may use a key that starts with it.
    pub prefix: String,
    /// TLS client settings for `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// How often history older than one interval is compacted (kube-apiserver's
    /// `--etcd-compaction-interval`); `None` never compacts.
    pub compaction_interval: Option<Duration>,
    /// How often a quiet watch asks etcd for a progress notification, so that watch progress
    /// (bookmarks) advances when other keys change.
    pub progress_interval: Duration,
    /// Deadline of one read or write request.
    pub request_timeout: Duration,
    /// How long [`EtcdStore::connect`] waits for etcd to answer, and a broken watch keeps
    /// re-connecting before it reports the error.
    pub dial_timeout: Duration,
}

impl EtcdConfig {
    /// Defaults for `endpoints`: prefix `/registry`, compaction every 5 minutes.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            prefix: "/registry".into(),
            tls: None,
            compaction_interval: Some(Duration::from_secs(300)),
            progress_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            dial_timeout: Duration::from_secs(20),
        }
    }
}

/// TLS files for etcd (kube-apiserver's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`).
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// CA bundle that signed etcd's serving certificate.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    /// Key of the client certificate (PEM).
    pub key_file: Option<PathBuf>,
}

/// What the store handle, its watches and its compactor share.
pub(crate) struct Shared {
    client: Client,
    prefix: String,
    /// Highest revision seen in any answer.
    current: AtomicU64,
    /// Highest compacted revision made or reported.
    compacted: AtomicU64,
    progress_interval: Duration,
    request_timeout: Duration,
    dial_timeout: Duration,
}

/// The etcd [`Store`].
pub struct EtcdStore {
    shared: Arc<Shared>,
    compactor: Option<tokio::task::JoinHandle<()>>,
}

/// Reads a PEM file named by a TLS flag.
fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| {
        StoreError::Io(std::io::Error::new(
            e.kind(),
            format!("reading {}: {e}", path.display()),
        ))
    })
}

fn tls_options(tls: &EtcdTls) -> Result<TlsOptions, StoreError> {
    let mut opts = TlsOptions::new();
    if let Some(ca) = &tls.ca_file {
        opts = opts.ca_certificate(Certificate::from_pem(read_pem(ca)?));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            opts = opts.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
        }
        (None, None) => {}
        _ => {
            return Err(StoreError::InvalidObject(
                "etcd client certificate and key must be given together".into(),
            ));
        }
    }
    Ok(opts)
}

impl EtcdStore {
    /// Connects and reads the current and compacted revisions; waits up to
    /// `cfg.dial_timeout` for etcd to answer.
    pub async fn connect(cfg: EtcdConfig) -> Result<Arc<Self>, StoreError> {
        if cfg.endpoints.is_empty() {
            return Err(StoreError::InvalidObject("no etcd endpoints given".into()));
        }
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(cfg.dial_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10))
            .with_keep_alive_while_idle(true);
        if let Some(tls) = &cfg.tls {
            opts = opts.with_tls(tls_options(tls)?);
        }
        let client = Client::connect(&cfg.endpoints, Some(opts))
            .await
            .map_err(|e| error::map(e, 0, 0))?;
        let shared = Arc::new(Shared {
            client,
            prefix: cfg.prefix.trim_end_matches('/').to_owned(),
            current: AtomicU64::new(0),
            compacted: AtomicU64::new(0),
            progress_interval: cfg.progress_interval,
            request_timeout: cfg.request_timeout,
            dial_timeout: cfg.dial_timeout,
        });
        let deadline = tokio::time::Instant::now() + cfg.dial_timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            match shared.read_compacted().await {
                Ok(()) => break,
                Err(e) if error::transient(&e) && tokio::time::Instant::now() < deadline => {
                    tracing::info!(error = %e, "waiting for etcd");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
        let compactor = cfg
            .compaction_interval
            .map(|every| tokio::spawn(compactor(Arc::downgrade(&shared), every)));
        tracing::info!(
            endpoints = ?cfg.endpoints,
            prefix = %shared.prefix,
            revision = shared.current.load(Ordering::Acquire),
            compacted = shared.compacted.load(Ordering::Acquire),
            "store on etcd"
        );
        Ok(Arc::new(Self { shared, compactor }))
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        if let Some(c) = &self.compactor {
            c.abort();
        }
    }
}

impl Shared {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The key of the compaction record shared by the replicas on this prefix (outside every
    /// `prefix + "/..."` range, as kube-apiserver's `compact_rev_key`).
    fn compact_key(&self) -> String {
        format!("cceone-compact-rev-key{}", self.prefix)
    }

    fn observe(&self, header: Option<&etcd_client::ResponseHeader>) -> Revision {
        let rev = header.map_or(0, |h| codec::revision(h.revision()));
        self.current.fetch_max(rev, Ordering::AcqRel);
        rev
    }

    fn compacted_at_least(&self, rev: Revision) {
        self.compacted.fetch_max(rev, Ordering::AcqRel);
    }

    fn map_err(&self, e: etcd_client::Error, requested: Revision) -> StoreError {
        error::map(e, requested, self.compacted.load(Ordering::Acquire))
    }

    /// Runs one request with the request deadline.
    async fn timed<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<T, etcd_client::Error>>,
        requested: Revision,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.request_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.map_err(e, requested)),
            Err(_) => Err(error::timed_out(what)),
        }
    }

    async fn txn(&self, txn: Txn) -> Result<etcd_client::TxnResponse, StoreError> {
        let mut kv = self.client.kv_client();
        self.timed("txn", kv.txn(txn), 0).await
    }

    /// Reads the compaction record (and the current revision from the answer's header).
    async fn read_compacted(&self) -> Result<(), StoreError> {
        let mut kv = self.client.kv_client();
        let resp = self
            .timed("get", kv.get(self.compact_key(), None), 0)
            .await?;
        self.observe(resp.header());
        if let Some(rec) = resp.kvs().first() {
            let rev = std::str::from_utf8(rec.value())
                .ok()
                .and_then(|s| s.parse::<Revision>().ok())
                .unwrap_or(0);
            self.compacted_at_least(rev);
        }
        Ok(())
    }

    fn to_kv(&self, kv: &etcd_client::KeyValue) -> Option<KeyValue> {
        let key = std::str::from_utf8(kv.key())
            .ok()?
            .strip_prefix(&self.prefix)?
            .to_owned();
        let mod_revision = codec::revision(kv.mod_revision());
        Some(KeyValue {
            key,
            value: codec::stamp_bytes(kv.value(), mod_revision),
            create_revision: codec::revision(kv.create_revision()),
            mod_revision,
        })
    }

    /// The key's current revision from the `else` branch of a failed write, for its error.
    fn failed_write(
        &self,
        key: &str,
        resp: &etcd_client::TxnResponse,
        expected: Option<Revision>,
    ) -> StoreError {
        let current = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => get
                .kvs()
                .first()
                .map(|kv| codec::revision(kv.mod_revision())),
            _ => None,
        });
        match (current, expected) {
            (Some(actual), Some(expected)) => StoreError::Conflict {
                key: key.to_owned(),
                expected,
                actual,
            },
            _ => StoreError::NotFound {
                key: key.to_owned(),
            },
        }
    }

    /// Update or delete under the guards of the trait: the key exists and, if `expected` is
    /// given, was last modified at that revision.
    async fn guarded(
        &self,
        key: &str,
        op: TxnOp,
        expected: Option<Revision>,
    ) -> Result<(etcd_client::TxnResponse, Revision), StoreError> {
        let ek = self.key(key);
        let mut when = vec![Compare::create_revision(ek.clone(), CompareOp::Greater, 0)];
        if let Some(rev) = expected {
            when.push(Compare::mod_revision(
                ek.clone(),
                CompareOp::Equal,
                codec::etcd_revision(rev),
            ));
        }
        let txn = Txn::new()
            .when(when)
            .and_then([op])
            .or_else([TxnOp::get(ek, None)]);
        let resp = self.txn(txn).await?;
        let rev = self.observe(resp.header());
        if !resp.succeeded() {
            return Err(self.failed_write(key, &resp, expected));
        }
        Ok((resp, rev))
    }

    /// The previous value a write with `prev_kv` returned.
    fn prev_of(resp: &etcd_client::TxnResponse) -> Option<etcd_client::KeyValue> {
        resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Put(put) => put.prev_key().cloned(),
            TxnOpResponse::Delete(del) => del.prev_kvs().first().cloned(),
            _ => None,
        })
    }
}

/// Compacts history older than one interval, every interval, as kube-apiserver's compactor:
/// the replicas share a record key whose version is a logical clock, so that when several run,
/// one compaction happens per interval rather than one per replica.
async fn compactor(shared: std::sync::Weak<Shared>, every: Duration) {
    let mut clock = 0i64;
    let mut last_rev = 0i64;
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match compact_once(&shared, clock, last_rev).await {
            Ok((c, rev)) => {
                clock = c;
                last_rev = rev;
            }
            Err(e) => tracing::warn!(error = %e, "etcd compaction failed; retrying next interval"),
        }
    }
}

/// One round of the compactor: claims the round with a CAS on the record's version, then
/// compacts to `rev` (the revision seen one interval ago). Returns the new clock and the
/// current revision (the next round's target).
async fn compact_once(shared: &Shared, clock: i64, rev: i64) -> Result<(i64, i64), StoreError> {
    let key = shared.compact_key();
    let txn = Txn::new()
        .when([Compare::version(key.clone(), CompareOp::Equal, clock)])
        .and_then([TxnOp::put(key.clone(), rev.to_string(), None)])
        .or_else([TxnOp::get(key, None)]);
    let resp = shared.txn(txn).await?;
    let current = codec::etcd_revision(shared.observe(resp.header()));
    if !resp.succeeded() {
        // Another replica compacted since we last looked: follow its clock.
        let theirs = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| {
                let rev = std::str::from_utf8(kv.value())
                    .ok()
                    .and_then(|s| s.parse::<Revision>().ok())
                    .unwrap_or(0);
                (kv.version(), rev)
            }),
            _ => None,
        });
        if let Some((version, compacted)) = theirs {
            shared.compacted_at_least(compacted);
            return Ok((version, current));
        }
        return Ok((0, current));
    }
    if rev > 0 {
        compact_to(shared, codec::revision(rev)).await?;
        tracing::info!(revision = rev, "etcd history compacted");
    }
    Ok((clock + 1, current))
}

/// Compacts etcd to `rev`; compacting at or below an earlier compaction is no error.
async fn compact_to(shared: &Shared, rev: Revision) -> Result<(), StoreError> {
    let mut kv = shared.client.kv_client();
    match shared
        .timed("compact", kv.compact(codec::etcd_revision(rev), None), rev)
        .await
    {
        Ok(resp) => {
            shared.observe(resp.header());
        }
        Err(StoreError::Compacted { .. }) => {}
        Err(e) => return Err(e),
    }
    shared.compacted_at_least(rev);
    Ok(())
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    fn current_revision(&self) -> Revision {
        self.shared.current.load(Ordering::Acquire)
    }

    fn compacted_revision(&self) -> Revision {
        self.shared.compacted.load(Ordering::Acquire)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let s = &*self.shared;
        let mut kv = s.client.kv_client();
        let resp = s.timed("get", kv.get(s.key(key), None), 0).await?;
        s.observe(resp.header());
        Ok(resp.kvs().first().and_then(|kv| s.to_kv(kv)))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
        filter: Option<Filter<'_>>,
    ) -> Result<ListPage, StoreError> {
        let s = &*self.shared;
        let limit = limit.unwrap_or(usize::MAX);
        let end = codec::prefix_end(s.key(prefix).as_bytes());
        let mut from: Vec<u8> = match start_after {
            Some(after) if after >= prefix => {
                let mut k = s.key(after).into_bytes();
                k.push(0);
                k
            }
            _ => s.key(prefix).into_bytes(),
        };
        // Every chunk after the first reads at the first one's revision: one consistent
        // snapshot, as the embedded store's list under its lock.
        let mut revision: Option<Revision> = None;
        let mut items = Vec::new();
        let mut more = false;
        let mut kv = s
            .client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        'chunks: loop {
            let want = match filter {
                None => (limit - items.len()).min(LIST_CHUNK),
                Some(_) => LIST_CHUNK,
            };
            let mut opts = GetOptions::new()
                .with_range(end.clone())
                .with_limit(i64::try_from(want).unwrap_or(i64::MAX));
            if let Some(rev) = revision {
                opts = opts.with_revision(codec::etcd_revision(rev));
            }
            let resp = s
                .timed(
                    "range",
                    kv.get(from.clone(), Some(opts)),
                    revision.unwrap_or(0),
                )
                .await?;
            let read_at = s.observe(resp.header());
            revision.get_or_insert(read_at);
            for raw in resp.kvs() {
                let Some(item) = s.to_kv(raw) else { continue };
                if filter.is_some_and(|f| !f(&item)) {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break 'chunks;
                }
                items.push(item);
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => break,
            }
            if filter.is_none() && items.len() == limit {
                // The range said more keys follow; without a filter every one matches.
                more = true;
                break;
            }
        }
        Ok(ListPage {
            items,
            revision: revision.unwrap_or_else(|| self.current_revision()),
            more,
        })
    }

    async fn create(&self, key: &str, obj: Value) -> Result<KeyValue, StoreError> {
        let s = &*self.shared;
        let (mut obj, stored) = codec::prepare(obj)?;
        let ek = s.key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(ek.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(ek, stored.to_vec(), None)]);
        let resp = s.txn(txn).await?;
        let rev = s.observe(resp.header());
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists { key: key.into() });
        }
        Ok(KeyValue {
            key: key.to_owned(),
            value: codec::stamp(&mut obj, rev)?,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn update(
        &self,
        key: &str,
        obj: Value,
        expected: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        let s = &*self.shared;
        let (mut obj, stored) = codec::prepare(obj)?;
        let put = TxnOp::put(
            s.key(key),
            stored.to_vec(),
            Some(PutOptions::new().with_prev_key()),
        );
        let (resp, rev) = s.guarded(key, put, expected).await?;
        let create_revision =
            Shared::prev_of(&resp).map_or(rev, |p| codec::revision(p.create_revision()));
        Ok(KeyValue {
            key: key.to_owned(),
            value: codec::stamp(&mut obj, rev)?,
            create_revision,
            mod_revision: rev,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        let s = &*self.shared;
        let del = TxnOp::delete(s.key(key), Some(DeleteOptions::new().with_prev_key()));
        let (resp, rev) = s.guarded(key, del, expected).await?;
        let prev = Shared::prev_of(&resp);
        let (value, create_revision) = match &prev {
            Some(p) => (
                codec::stamp_bytes(p.value(), rev),
                codec::revision(p.create_revision()),
            ),
            None => (Bytes::new(), rev),
        };
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: rev,
        })
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        watch::watch(Arc::clone(&self.shared), prefix, after)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let s = &*self.shared;
        // Clamp to the current revision, as the embedded store does (etcd refuses a future one).
        let mut kv = s.client.kv_client();
        let head = s
            .timed(
                "get",
                kv.get(s.compact_key(), Some(GetOptions::new().with_count_only())),
                0,
            )
            .await?;
        let target = revision.min(s.observe(head.header()));
        if target <= self.compacted_revision() {
            return Ok(());
        }
        compact_to(s, target).await
    }
}
