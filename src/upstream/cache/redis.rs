//! The shared tier: one Redis, reached through a [`ConnectionManager`].
//!
//! Redis is an optimisation, never a dependency: every operation has a short
//! timeout, a failure is counted and answered as "nothing there", and while Redis
//! is down only one probe per second tries it again (so a dead Redis costs the
//! requests nothing). The first failure logs a warning, the first success after it
//! logs that Redis is back.
//!
//! Redis stays off the requests' critical path:
//! - a read waits at most `cache.redis_read_timeout` (and never past the
//!   request's deadline); a read slower than that counts as Redis failing, as a
//!   timeout does, so a Redis that is slow but healthy is skipped like a dead one
//!   instead of slowing every cache miss;
//! - writes run on their own tasks ([`RedisStore::spawn_set_many`]), at most
//!   [`MAX_PENDING_WRITES`] at a time; past that a write is dropped (and counted),
//!   never queued.

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{AsyncCommands, aio::ConnectionManager, aio::ConnectionManagerConfig};
use tokio::sync::Semaphore;

use super::{CacheCounters, now_ms};

/// How often a Redis that failed is tried again.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Background writes (pipelines) in flight at most; past it a write is dropped.
pub const MAX_PENDING_WRITES: usize = 256;

/// The default of `cache.redis_read_timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(20);

/// A Redis whose keys all start with one prefix.
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    read_timeout: Duration,
    writes: Arc<Semaphore>,
    connection: RwLock<Option<ConnectionManager>>,
    healthy: AtomicBool,
    next_probe_ms: AtomicU64,
    counters: std::sync::Arc<CacheCounters>,
}

impl RedisStore {
    /// A store for `url` (not connected yet: the first operation connects). A
    /// `rediss://` URL connects with TLS: the platform's roots plus `tls.ca_file`,
    /// and `tls`' client certificate (`cache.redis_tls`).
    pub fn new(
        url: &str,
        tls: &crate::config::TlsFiles,
        prefix: String,
        timeout: Duration,
        counters: std::sync::Arc<CacheCounters>,
    ) -> Result<Self, crate::tls::TlsError> {
        Ok(Self {
            client: crate::tls::redis_client(url, tls)?,
            prefix,
            timeout,
            read_timeout: DEFAULT_READ_TIMEOUT.min(timeout),
            writes: Arc::new(Semaphore::new(MAX_PENDING_WRITES)),
            connection: RwLock::new(None),
            healthy: AtomicBool::new(true),
            next_probe_ms: AtomicU64::new(0),
            counters,
        })
    }

    /// The same store, whose reads wait at most `read_timeout` (and never longer
    /// than its operation timeout).
    pub fn with_read_timeout(mut self, read_timeout: Duration) -> Self {
        self.read_timeout = read_timeout.min(self.timeout);
        self
    }

    /// The full key of `key`.
    pub fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    /// The values of `keys` (already prefixed); `None` when Redis is unavailable
    /// or slower than the read timeout.
    pub async fn mget(&self, keys: &[String]) -> Option<Vec<Option<Vec<u8>>>> {
        self.mget_within(keys, None).await
    }

    /// [`RedisStore::mget`], waiting at most `time_left` too (the request's). A
    /// read cut short by `time_left` says nothing about Redis; one cut by the
    /// read timeout counts as Redis failing.
    pub async fn mget_within(&self, keys: &[String], time_left: Option<Duration>) -> Option<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Some(Vec::new());
        }
        let limit = time_left.map_or(self.read_timeout, |left| left.min(self.read_timeout));
        let cut_by_request = limit < self.read_timeout;
        self.run_within(limit, cut_by_request, |mut c| {
            let keys = keys.to_vec();
            async move {
                if keys.len() == 1 {
                    let one: Option<Vec<u8>> = c.get(&keys[0]).await?;
                    Ok(vec![one])
                } else {
                    c.mget(keys).await
                }
            }
        })
        .await
    }

    /// Stores `items` like [`RedisStore::set_many`], on a task of its own: the
    /// caller does not wait. When [`MAX_PENDING_WRITES`] writes are already in
    /// flight (Redis is slow), the write is dropped and counted instead.
    pub fn spawn_set_many(self: &Arc<Self>, items: Vec<(String, Vec<u8>, Duration)>) {
        if items.is_empty() {
            return;
        }
        let Ok(permit) = self.writes.clone().try_acquire_owned() else {
            self.counters.redis_writes_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let store = self.clone();
        tokio::spawn(async move {
            store.set_many(items).await;
            drop(permit);
        });
    }

    /// Stores each `(key, value, ttl)` (keys already prefixed) in one pipeline.
    pub async fn set_many(&self, items: Vec<(String, Vec<u8>, Duration)>) {
        if items.is_empty() {
            return;
        }
        self.run(|mut c| async move {
            let mut pipe = redis::pipe();
            for (key, value, ttl) in items {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                pipe.cmd("SET").arg(key).arg(value).arg("PX").arg(ms).ignore();
            }
            pipe.query_async::<()>(&mut c).await
        })
        .await;
    }

    /// Runs `op` on a connection, within the timeout; `None` on any failure.
    async fn run<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.run_within(self.timeout, false, op).await
    }

    /// Runs `op` on a connection, within `limit`; `None` on any failure. Running
    /// out of time counts as Redis failing unless `cut_by_request` (the limit was
    /// the request's time left, not Redis's own).
    async fn run_within<T, F, Fut>(&self, limit: Duration, cut_by_request: bool, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(limit, op(connection)).await {
            Ok(Ok(value)) => {
                self.succeeded();
                Some(value)
            }
            Ok(Err(error)) => {
                self.failed(&error.to_string());
                None
            }
            Err(_) if cut_by_request => None,
            Err(_) if limit < self.timeout => {
                self.failed("slower than cache.redis_read_timeout");
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }

    /// The connection, connecting first if need be; `None` while Redis is known
    /// to be down and no probe is due.
    async fn connection(&self) -> Option<ConnectionManager> {
        if !self.healthy.load(Ordering::Relaxed) {
            let now = now_ms();
            let due = self.next_probe_ms.load(Ordering::Relaxed);
            let next = now + PROBE_EVERY.as_millis() as u64;
            if now < due
                || self
                    .next_probe_ms
                    .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return None;
            }
        }
        if let Some(connection) = self.connection.read().unwrap_or_else(|p| p.into_inner()).clone() {
            return Some(connection);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(PROBE_EVERY);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.timeout * 2, connect).await {
            Ok(Ok(connection)) => {
                *self.connection.write().unwrap_or_else(|p| p.into_inner()) = Some(connection.clone());
                Some(connection)
            }
            Ok(Err(error)) => {
                self.failed(&error.to_string());
                None
            }
            Err(_) => {
                self.failed("connecting timed out");
                None
            }
        }
    }

    fn failed(&self, error: &str) {
        self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
        self.next_probe_ms
            .store(now_ms() + PROBE_EVERY.as_millis() as u64, Ordering::Relaxed);
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error,
                "redis unavailable: serving from the in-memory tier until it returns"
            );
        }
    }

    fn succeeded(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!("redis reachable again: the shared tier is back");
        }
    }
}
