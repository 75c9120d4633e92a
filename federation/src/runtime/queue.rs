//! A work queue with client-go's guarantees: a key waits in the queue at most once, a key being
//! processed is never handed to a second worker (a change meanwhile queues it again once the
//! first finishes), failed keys come back with exponential backoff and keys can be requeued
//! after a delay.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::Error;

/// The first retry delay after a failure; it doubles with each further failure.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
/// The longest retry delay after failures.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The retry delay after an optimistic-concurrency conflict (the cache is about to catch up).
const CONFLICT_DELAY: Duration = Duration::from_millis(20);

struct State<K> {
    order: VecDeque<K>,
    queued: HashSet<K>,
    active: HashSet<K>,
    dirty: HashSet<K>,
    delayed: HashMap<K, Instant>,
    failures: HashMap<K, u32>,
}

impl<K> Default for State<K> {
    fn default() -> Self {
        State {
            order: VecDeque::new(),
            queued: HashSet::new(),
            active: HashSet::new(),
            dirty: HashSet::new(),
            delayed: HashMap::new(),
            failures: HashMap::new(),
        }
    }
}

/// A deduplicating queue of keys to reconcile.
pub(crate) struct Queue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    /// What the controller working this queue has done.
    pub(crate) stats: Stats,
}

/// Counters of a controller, for the metrics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Keys added (including ones already waiting).
    pub(crate) adds: AtomicU64,
    /// Reconciles that succeeded.
    pub(crate) ok: AtomicU64,
    /// Reconciles that lost an optimistic-concurrency race.
    pub(crate) conflicts: AtomicU64,
    /// Reconciles that failed otherwise.
    pub(crate) errors: AtomicU64,
    /// Time spent in reconciles, in microseconds.
    pub(crate) busy_micros: AtomicU64,
}

/// What the metrics read of a queue whatever its key type.
pub(crate) trait QueueInfo: Send + Sync {
    /// Keys waiting (not counting delayed ones).
    fn depth(&self) -> usize;
    /// The counters.
    fn stats(&self) -> &Stats;
}

impl<K: Send> QueueInfo for Queue<K> {
    fn depth(&self) -> usize {
        self.state.lock().order.len()
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// What a reconcile asks of the queue when it succeeds: `Some(d)` to look again after `d`.
pub(crate) type Requeue = Option<Duration>;

impl<K: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static> Queue<K> {
    /// An empty queue.
    pub(crate) fn new() -> Arc<Queue<K>> {
        Arc::new(Queue {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            stats: Stats::default(),
        })
    }

    /// Queue a key (once, however often it is added before a worker takes it).
    pub(crate) fn add(&self, key: K) {
        self.stats.adds.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state.lock();
        if st.active.contains(&key) {
            st.dirty.insert(key);
            return;
        }
        if st.queued.insert(key.clone()) {
            st.order.push_back(key);
            drop(st);
            self.notify.notify_one();
        }
    }

    /// Keys waiting for their delay to pass.
    pub(crate) fn delayed_len(&self) -> usize {
        self.state.lock().delayed.len()
    }

    /// Queue a key after `delay` (an earlier pending request for the key wins).
    pub(crate) fn add_after(self: &Arc<Self>, key: K, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let at = Instant::now() + delay;
        {
            let mut st = self.state.lock();
            match st.delayed.get(&key) {
                Some(existing) if *existing <= at => return,
                _ => {
                    st.delayed.insert(key.clone(), at);
                }
            }
        }
        let weak: Weak<Queue<K>> = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(q) = weak.upgrade() {
                let due = {
                    let mut st = q.state.lock();
                    if st.delayed.get(&key) == Some(&at) {
                        st.delayed.remove(&key);
                        true
                    } else {
                        false
                    }
                };
                if due {
                    q.add(key);
                }
            }
        });
    }

    /// The next key to work on (waits for one).
    async fn next(&self) -> K {
        loop {
            {
                let mut st = self.state.lock();
                if let Some(key) = st.order.pop_front() {
                    st.queued.remove(&key);
                    st.active.insert(key.clone());
                    let more = !st.order.is_empty();
                    drop(st);
                    if more {
                        self.notify.notify_one();
                    }
                    return key;
                }
            }
            self.notify.notified().await;
        }
    }

    /// A worker finished with `key`; requeue it if it changed meanwhile.
    fn done(&self, key: &K) {
        let again = {
            let mut st = self.state.lock();
            st.active.remove(key);
            st.dirty.remove(key)
        };
        if again {
            self.add(key.clone());
        }
    }

    /// The delay before retrying a key that failed once more.
    fn backoff(&self, key: &K) -> Duration {
        let mut st = self.state.lock();
        let n = st.failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let exp = BACKOFF_BASE.saturating_mul(1u32 << (*n - 1).min(16));
        exp.min(BACKOFF_MAX)
    }

    fn forget(&self, key: &K) {
        self.state.lock().failures.remove(key);
    }

    /// Number of keys waiting (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.depth()
    }
}

/// Run `workers` workers reconciling the queue's keys with `reconcile` until the task is
/// aborted; `ready` is awaited first (the caches the reconciler reads must be loaded).
pub(crate) async fn run<K, R, Fut, W>(
    name: &'static str,
    queue: Arc<Queue<K>>,
    workers: usize,
    ready: W,
    reconcile: R,
) where
    K: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static,
    R: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Requeue, Error>> + Send + 'static,
    W: Future<Output = ()>,
{
    ready.await;
    tracing::debug!(controller = name, "caches synced; starting workers");
    let reconcile = Arc::new(reconcile);
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let queue = Arc::clone(&queue);
        let reconcile = Arc::clone(&reconcile);
        tasks.push(tokio::spawn(async move {
            loop {
                let key = queue.next().await;
                let started = Instant::now();
                let result = reconcile(key.clone()).await;
                let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                queue.stats.busy_micros.fetch_add(took, Ordering::Relaxed);
                let counter = match &result {
                    Ok(_) => &queue.stats.ok,
                    Err(e) if e.is_conflict() => &queue.stats.conflicts,
                    Err(_) => &queue.stats.errors,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                match result {
                    Ok(requeue) => {
                        queue.forget(&key);
                        if let Some(d) = requeue {
                            queue.add_after(key.clone(), d);
                        }
                    }
                    Err(e) if e.is_conflict() => {
                        tracing::debug!(controller = name, ?key, "conflict; retrying");
                        queue.add_after(key.clone(), CONFLICT_DELAY);
                    }
                    Err(e) => {
                        let delay = queue.backoff(&key);
                        tracing::warn!(controller = name, ?key, error = %e, retry_in = ?delay, "reconcile failed");
                        queue.add_after(key.clone(), delay);
                    }
                }
                queue.done(&key);
            }
        }));
    }
    // Keep the workers alive as long as this task; aborting it aborts them.
    let _guard = AbortOnDrop(tasks);
    std::future::pending::<()>().await;
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_deduplicated_and_not_processed_twice_at_once() {
        let q: Arc<Queue<&str>> = Queue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.next().await;
        assert_eq!(k, "a");
        // Added while active: held back until done.
        q.add("a");
        assert_eq!(q.len(), 1);
        q.done(&"a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, "b");
        assert_eq!(q.next().await, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_arrive_after_the_delay_and_the_earliest_wins() {
        let q: Arc<Queue<&str>> = Queue::new();
        q.add_after("a", Duration::from_secs(10));
        q.add_after("a", Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q.next().await, "a");
        q.done(&"a");
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let q: Arc<Queue<&str>> = Queue::new();
        let first = q.backoff(&"a");
        let second = q.backoff(&"a");
        assert_eq!(second, first * 2);
        for _ in 0..40 {
            q.backoff(&"a");
        }
        assert_eq!(q.backoff(&"a"), BACKOFF_MAX);
        q.forget(&"a");
        assert_eq!(q.backoff(&"a"), first);
    }
}
