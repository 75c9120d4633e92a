//! The store on etcd through `etcd-client` (the `client` feature: its build needs `protoc`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cceone_kube_store::{Filter, KeyValue, ListPage, Revision, Store, StoreError, WatchStream};
use etcd_client::{
    AlarmAction, AlarmType, Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions,
    GetOptions, Identity, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
};
use serde_json::Value;

use crate::health::{self, Health};
use crate::{EtcdConfig, EtcdTls, codec, error, watch};

/// Keys read per etcd range request when a list is cut into chunks (kept well under the
/// response size limit even for large objects).
const LIST_CHUNK: usize = 500;

/// Largest etcd response accepted (a range of [`LIST_CHUNK`] objects of up to etcd's 1.5 MiB
/// request limit each).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// What the store handle, its watches and its compactor share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) prefix: String,
    /// Highest revision seen in any answer.
    pub(crate) current: AtomicU64,
    /// Highest compacted revision made or reported.
    pub(crate) compacted: AtomicU64,
    pub(crate) progress_interval: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) dial_timeout: Duration,
    /// What requests found of etcd, and the write counters.
    pub(crate) health: Health,
}

/// The etcd [`Store`].
pub struct EtcdStore {
    shared: Arc<Shared>,
    compactor: Option<tokio::task::JoinHandle<()>>,
    prober: tokio::task::JoinHandle<()>,
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
            health: Health::default(),
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
        let prober = tokio::spawn(prober(Arc::downgrade(&shared)));
        Ok(Arc::new(Self {
            shared,
            compactor,
            prober,
        }))
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        if let Some(c) = &self.compactor {
            c.abort();
        }
        self.prober.abort();
    }
}

impl Shared {
    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The key of the compaction record shared by the replicas on this prefix (outside every
    /// `prefix + "/..."` range, as kube-apiserver's `compact_rev_key`).
    pub(crate) fn compact_key(&self) -> String {
        format!("cceone-compact-rev-key{}", self.prefix)
    }

    pub(crate) fn observe(&self, header: Option<&etcd_client::ResponseHeader>) -> Revision {
        let rev = header.map_or(0, |h| codec::revision(h.revision()));
        self.current.fetch_max(rev, Ordering::AcqRel);
        rev
    }

    pub(crate) fn compacted_at_least(&self, rev: Revision) {
        self.compacted.fetch_max(rev, Ordering::AcqRel);
    }

    pub(crate) fn map_err(&self, e: etcd_client::Error, requested: Revision) -> StoreError {
        error::map(e, requested, self.compacted.load(Ordering::Acquire))
    }

    /// Runs one request with the request deadline.
    pub(crate) async fn timed<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<T, etcd_client::Error>>,
        requested: Revision,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.request_timeout, fut).await {
            Ok(Ok(v)) => {
                self.health.ok(false);
                return Ok(v);
            }
            Ok(Err(e)) => self.map_err(e, requested),
            Err(_) => error::timed_out(what),
        };
        self.health.failed(&result);
        Err(result)
    }

    /// One write transaction carrying `bytes` of objects, counted in the store's stats.
    pub(crate) async fn txn(
        &self,
        txn: Txn,
        bytes: usize,
    ) -> Result<etcd_client::TxnResponse, StoreError> {
        let mut kv = self.client.kv_client();
        let started = std::time::Instant::now();
        let resp = self.timed("txn", kv.txn(txn), 0).await?;
        self.health.ok(true);
        self.health.wrote(bytes, started.elapsed());
        Ok(resp)
    }

    /// Reads the compaction record (and the current revision from the answer's header).
    pub(crate) async fn read_compacted(&self) -> Result<(), StoreError> {
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

    pub(crate) fn to_kv(&self, kv: &etcd_client::KeyValue) -> Option<KeyValue> {
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
    pub(crate) fn failed_write(
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
    pub(crate) async fn guarded(
        &self,
        key: &str,
        op: TxnOp,
        expected: Option<Revision>,
        bytes: usize,
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
        let resp = self.txn(txn, bytes).await?;
        let rev = self.observe(resp.header());
        if !resp.succeeded() {
            return Err(self.failed_write(key, &resp, expected));
        }
        Ok((resp, rev))
    }

    /// The previous value a write with `prev_kv` returned.
    pub(crate) fn prev_of(resp: &etcd_client::TxnResponse) -> Option<etcd_client::KeyValue> {
        resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Put(put) => put.prev_key().cloned(),
            TxnOpResponse::Delete(del) => del.prev_kvs().first().cloned(),
            _ => None,
        })
    }
}

/// Looks at etcd whenever no request has answered for a while (see [`health`]): lists its
/// alarms, so that an idle server's readiness follows etcd going away, coming back or running
/// out of space.
async fn prober(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(health::PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.health.quiet() {
            continue;
        }
        let mut client = shared.client.maintenance_client();
        let probe = client.alarm(AlarmAction::Get, AlarmType::None, None);
        let result = match tokio::time::timeout(health::PROBE_EVERY, probe).await {
            Ok(Ok(resp)) => Ok(resp
                .alarms()
                .iter()
                .filter(|a| a.alarm() != AlarmType::None)
                .map(|a| a.alarm().as_str_name().to_owned())
                .collect()),
            Ok(Err(e)) => Err(shared.map_err(e, 0)),
            Err(_) => Err(error::timed_out("alarm")),
        };
        shared.health.probed(result);
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
    let resp = shared.txn(txn, 0).await?;
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
        self.create_kept(key, obj).await.map(|(kv, _)| kv)
    }

    async fn create_kept(&self, key: &str, obj: Value) -> Result<(KeyValue, Value), StoreError> {
        let s = &*self.shared;
        let (mut obj, stored) = codec::prepare(obj)?;
        let ek = s.key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(ek.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(ek, stored.to_vec(), None)]);
        let resp = s.txn(txn, stored.len()).await?;
        let rev = s.observe(resp.header());
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists { key: key.into() });
        }
        let kv = KeyValue {
            key: key.to_owned(),
            value: codec::stamp(&mut obj, rev)?,
            create_revision: rev,
            mod_revision: rev,
        };
        Ok((kv, obj))
    }

    async fn update(
        &self,
        key: &str,
        obj: Value,
        expected: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        self.update_kept(key, obj, expected).await.map(|(kv, _)| kv)
    }

    async fn update_kept(
        &self,
        key: &str,
        obj: Value,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Value), StoreError> {
        let s = &*self.shared;
        let (mut obj, stored) = codec::prepare(obj)?;
        let put = TxnOp::put(
            s.key(key),
            stored.to_vec(),
            Some(PutOptions::new().with_prev_key()),
        );
        let (resp, rev) = s.guarded(key, put, expected, stored.len()).await?;
        let create_revision =
            Shared::prev_of(&resp).map_or(rev, |p| codec::revision(p.create_revision()));
        let kv = KeyValue {
            key: key.to_owned(),
            value: codec::stamp(&mut obj, rev)?,
            create_revision,
            mod_revision: rev,
        };
        Ok((kv, obj))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        let s = &*self.shared;
        let del = TxnOp::delete(s.key(key), Some(DeleteOptions::new().with_prev_key()));
        let (resp, rev) = s.guarded(key, del, expected, 0).await?;
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

    fn stats(&self) -> cceone_kube_store::StoreStats {
        self.shared.health.stats()
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.shared.health.writable()
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
