//! The entity cache below the DataLoader: public upstream records, one entry per
//! entity, so a batch asks upstream only for the ids it misses.
//!
//! - **Key**: service, route, what else the answer depends on (the area for fees,
//!   the location for estimates) and the restaurant id. Private answers (a request
//!   with `X-User-Id`, promotions with `userId`) are never looked up nor stored.
//! - **Freshness** comes from the upstream's `Cache-Control: public, max-age=N`
//!   (or the service's `cache.ttl` override); an answer without `public` or with
//!   `private`/`no-store` is not stored. Entries are kept `stale_window` longer, to
//!   be served flagged as stale when the upstream fails (stale-if-error).
//! - **Tiers**: typed values in memory (`moka`, bounded by bytes), then the JSON in
//!   Redis when configured (`MGET` per batch, `SET PX` per entity), shared by every
//!   replica. A Redis hit fills the memory tier; Redis trouble falls back to memory.
//!   Writes to Redis happen in the background: an answer never waits for them.
//!
//! This module knows nothing of HTTP: `cached.rs` puts it in front of the calls.

mod memory;
mod redis;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::de::DeserializeOwned;

use self::memory::{Entry, MemoryTier};
pub use self::redis::{DEFAULT_READ_TIMEOUT, MAX_PENDING_WRITES, RedisStore};
use super::Service;

/// How the entity cache behaves.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Cache at all (coalescing is separate).
    pub enabled: bool,
    /// Bound of the memory tier, in bytes of JSON.
    pub max_bytes: u64,
    /// How long past its freshness an entry may still be served when the upstream fails.
    pub stale_window: Duration,
    /// Freshness per service that replaces the upstream's `max-age`.
    pub ttl: HashMap<Service, Duration>,
    /// Share identical upstream calls in flight.
    pub coalesce: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 64 * 1024 * 1024,
            stale_window: Duration::from_secs(300),
            ttl: HashMap::new(),
            coalesce: true,
        }
    }
}

/// Counters of the cache, ready to be exported as metrics.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Entities served fresh from the cache (either tier).
    pub hits: AtomicU64,
    /// Entities that had to be asked of the upstream.
    pub misses: AtomicU64,
    /// Entities served stale because the upstream failed.
    pub stale: AtomicU64,
    /// Entities found in Redis (a subset of `hits` and `stale`).
    pub redis_hits: AtomicU64,
    /// Redis operations that failed, timed out, or (reads) were slower than
    /// `cache.redis_read_timeout`.
    pub redis_errors: AtomicU64,
    /// Redis writes dropped because too many were in flight.
    pub redis_writes_dropped: AtomicU64,
    /// Upstream calls that joined an identical call already in flight.
    pub coalesced: AtomicU64,
}

/// A snapshot of [`CacheCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// See [`CacheCounters::hits`].
    pub hits: u64,
    /// See [`CacheCounters::misses`].
    pub misses: u64,
    /// See [`CacheCounters::stale`].
    pub stale: u64,
    /// See [`CacheCounters::redis_hits`].
    pub redis_hits: u64,
    /// See [`CacheCounters::redis_errors`].
    pub redis_errors: u64,
    /// See [`CacheCounters::redis_writes_dropped`].
    pub redis_writes_dropped: u64,
    /// See [`CacheCounters::coalesced`].
    pub coalesced: u64,
}

impl CacheCounters {
    /// The counters now.
    pub fn snapshot(&self) -> CacheStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: read(&self.hits),
            misses: read(&self.misses),
            stale: read(&self.stale),
            redis_hits: read(&self.redis_hits),
            redis_errors: read(&self.redis_errors),
            redis_writes_dropped: read(&self.redis_writes_dropped),
            coalesced: read(&self.coalesced),
        }
    }

    /// Exports the counters that have a metric into `metrics`, read at each
    /// scrape: `coalesced` as `gateway_upstream_coalesced_total`.
    pub fn export(counters: &Arc<Self>, metrics: &crate::telemetry::Metrics) -> prometheus::Result<()> {
        let this = counters.clone();
        metrics.count_from(
            "upstream_coalesced_total",
            "Upstream calls that joined an identical call already in flight instead of being sent",
            move || this.coalesced.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The longest an entry is ever fresh for, whatever an upstream's `max-age` says
/// (the ceiling `cache.ttl` has too). A longer `max-age` is clamped to it, and a
/// Redis value that claims to be fresh for longer than this (plus
/// [`CLOCK_SKEW`]) is refused as poisoned.
pub const MAX_FRESHNESS: Duration = Duration::from_secs(24 * 3600);

/// How far replicas' clocks may disagree before a Redis value's freshness looks
/// impossible.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Milliseconds since the Unix epoch: freshness that replicas agree on.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// A duration in whole milliseconds, saturating (never wraps).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A cached value and whether it is still fresh.
pub(crate) struct Lookup<T> {
    pub value: Arc<T>,
    pub fresh: bool,
}

/// The entity cache: memory, then Redis.
pub struct EntityCache {
    settings: CacheSettings,
    memory: MemoryTier,
    redis: Option<Arc<RedisStore>>,
    counters: Arc<CacheCounters>,
}

impl EntityCache {
    /// A cache with `settings`, sharing through `redis` if given.
    pub fn new(settings: CacheSettings, redis: Option<Arc<RedisStore>>, counters: Arc<CacheCounters>) -> Self {
        Self {
            memory: MemoryTier::new(settings.max_bytes),
            settings,
            redis,
            counters,
        }
    }

    pub(crate) fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// How long an answer of `service` with `max_age` (only given for `public`
    /// answers) stays fresh; `None`: do not store it.
    pub(crate) fn ttl(&self, service: Service, max_age: Option<Duration>) -> Option<Duration> {
        let max_age = max_age?;
        let ttl = self
            .settings
            .ttl
            .get(&service)
            .copied()
            .unwrap_or(max_age)
            .min(MAX_FRESHNESS);
        (!ttl.is_zero()).then_some(ttl)
    }

    /// Looks every key up: memory first, then Redis for what memory lacks or holds
    /// only stale.
    ///
    /// A Redis value is not trusted as it is: one that does not decode, whose
    /// freshness is further ahead than [`MAX_FRESHNESS`] allows, or that `accept`
    /// refuses (given the key's index: a record whose id is not the key's) is a
    /// miss, and is not copied into memory.
    ///
    /// The Redis read waits at most `cache.redis_read_timeout`, and never past
    /// `time_left` (the request's).
    pub(crate) async fn get_many<T>(
        &self,
        keys: &[String],
        time_left: Option<Duration>,
        accept: impl Fn(usize, &T) -> bool,
    ) -> Vec<Option<Lookup<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let now = now_ms();
        let mut found: Vec<Option<Lookup<T>>> = Vec::with_capacity(keys.len());
        for key in keys {
            let lookup = self.memory.get(key).await.and_then(|entry| typed(&entry, now));
            found.push(lookup);
        }
        let Some(redis) = &self.redis else {
            return found;
        };
        let wanted: Vec<usize> = (0..keys.len())
            .filter(|&i| found[i].as_ref().is_none_or(|l| !l.fresh))
            .collect();
        if wanted.is_empty() {
            return found;
        }
        let full: Vec<String> = wanted.iter().map(|&i| redis.key(&keys[i])).collect();
        let Some(values) = redis.mget_within(&full, time_left).await else {
            return found;
        };
        for (&i, value) in wanted.iter().zip(values) {
            let Some((fresh_until_ms, json)) = value.as_deref().and_then(decode_shared) else {
                continue;
            };
            if fresh_until_ms > now.saturating_add(millis(MAX_FRESHNESS + CLOCK_SKEW)) {
                tracing::warn!(key = %keys[i], fresh_until_ms, "a Redis value claims an impossible freshness: ignored");
                continue;
            }
            let keep_until_ms = fresh_until_ms.saturating_add(millis(self.settings.stale_window));
            if keep_until_ms <= now || found[i].as_ref().is_some_and(|_| fresh_until_ms <= now) {
                continue;
            }
            let Ok(record) = serde_json::from_slice::<T>(json) else {
                continue;
            };
            if !accept(i, &record) {
                tracing::warn!(key = %keys[i], "a Redis value is not the record its key names: ignored");
                continue;
            }
            let value = Arc::new(record);
            CacheCounters::add(&self.counters.redis_hits, 1);
            let entry = Entry {
                value: value.clone(),
                fresh_until_ms,
                keep_until_ms,
                weight: weight(json.len()),
            };
            self.memory.insert(Arc::from(keys[i].as_str()), entry).await;
            found[i] = Some(Lookup {
                value,
                fresh: fresh_until_ms > now,
            });
        }
        found
    }

    /// Stores records under their keys, fresh for `ttl`: `(key, value, its JSON)`.
    /// The memory tier has them on return; Redis gets them in the background.
    pub(crate) async fn put_many<T>(&self, records: Vec<(String, Arc<T>, &str)>, ttl: Duration)
    where
        T: Send + Sync + 'static,
    {
        // Callers pass `ttl()`'s clamped value; clamp again, and saturate, so no
        // freshness can overflow here.
        let ttl = ttl.min(MAX_FRESHNESS);
        let now = now_ms();
        let fresh_until_ms = now.saturating_add(millis(ttl));
        let keep = ttl.saturating_add(self.settings.stale_window);
        let keep_until_ms = now.saturating_add(millis(keep));
        let mut shared = Vec::with_capacity(if self.redis.is_some() { records.len() } else { 0 });
        for (key, value, json) in records {
            if let Some(redis) = &self.redis {
                shared.push((redis.key(&key), encode_shared(fresh_until_ms, json), keep));
            }
            let entry = Entry {
                value,
                fresh_until_ms,
                keep_until_ms,
                weight: weight(json.len()),
            };
            self.memory.insert(Arc::from(key), entry).await;
        }
        if let Some(redis) = &self.redis {
            redis.spawn_set_many(shared);
        }
    }
}

/// An entry's weight for the memory bound: its JSON's size, saturating.
fn weight(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn typed<T: Send + Sync + 'static>(entry: &Entry, now: u64) -> Option<Lookup<T>> {
    if entry.keep_until_ms <= now {
        return None;
    }
    let value = entry.value.clone().downcast::<T>().ok()?;
    Some(Lookup {
        value,
        fresh: entry.fresh_until_ms > now,
    })
}

/// Redis holds `<fresh-until ms>:<json>`.
fn encode_shared(fresh_until_ms: u64, json: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(json.len() + 14);
    bytes.extend_from_slice(fresh_until_ms.to_string().as_bytes());
    bytes.push(b':');
    bytes.extend_from_slice(json.as_bytes());
    bytes
}

fn decode_shared(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let colon = bytes.iter().position(|&b| b == b':')?;
    let fresh_until_ms = std::str::from_utf8(&bytes[..colon]).ok()?.parse().ok()?;
    Some((fresh_until_ms, &bytes[colon + 1..]))
}

/// What one request was served stale, for its response's `extensions.stale`.
#[derive(Debug, Default)]
pub struct StaleLog {
    entries: Mutex<Vec<StaleEntry>>,
}

/// Entities of one route served stale.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaleEntry {
    /// The service that failed.
    pub service: Service,
    /// Its route template.
    pub route: &'static str,
    /// The ids (or lookup keys) served from the stale cache.
    pub ids: Vec<String>,
}

impl StaleLog {
    /// Notes that `ids` of `route` were served stale.
    pub fn record(&self, service: Service, route: &'static str, ids: Vec<String>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.push(StaleEntry { service, route, ids });
    }

    /// Everything served stale so far.
    pub fn entries(&self) -> Vec<StaleEntry> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl serde::Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_carry_their_freshness() {
        let bytes = encode_shared(1_700_000_000_123, r#"{"id":1}"#);
        assert_eq!(decode_shared(&bytes), Some((1_700_000_000_123, &br#"{"id":1}"#[..])));
        assert_eq!(decode_shared(b"garbage"), None);
    }

    #[tokio::test]
    async fn memory_hits_are_typed_and_expire_into_staleness() {
        let cache = EntityCache::new(CacheSettings::default(), None, Arc::new(CacheCounters::default()));
        let key = "ratings|GET /ratings||7".to_owned();
        cache
            .put_many(vec![(key.clone(), Arc::new(7u32), "7")], Duration::from_millis(30))
            .await;
        let found = cache
            .get_many::<u32>(std::slice::from_ref(&key), None, |_, _| true)
            .await;
        let hit = found[0].as_ref().unwrap();
        assert!(hit.fresh);
        assert_eq!(*hit.value, 7);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let found = cache.get_many::<u32>(&[key], None, |_, _| true).await;
        assert!(!found[0].as_ref().unwrap().fresh);
    }

    #[tokio::test]
    async fn an_absurd_freshness_is_clamped_and_never_overflows() {
        let cache = EntityCache::new(CacheSettings::default(), None, Arc::new(CacheCounters::default()));
        assert_eq!(cache.ttl(Service::Ratings, Some(Duration::MAX)), Some(MAX_FRESHNESS));
        let key = "ratings|GET /ratings||8".to_owned();
        // Even a caller that skips `ttl()` cannot overflow the arithmetic.
        cache
            .put_many(vec![(key.clone(), Arc::new(8u32), "8")], Duration::MAX)
            .await;
        let found = cache.get_many::<u32>(&[key], None, |_, _| true).await;
        assert!(found[0].as_ref().unwrap().fresh);
    }

    #[test]
    fn private_answers_are_not_stored_and_overrides_win() {
        let mut settings = CacheSettings::default();
        settings.ttl.insert(Service::Menus, Duration::from_secs(5));
        let cache = EntityCache::new(settings, None, Arc::new(CacheCounters::default()));
        assert_eq!(cache.ttl(Service::Ratings, None), None);
        assert_eq!(
            cache.ttl(Service::Ratings, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            cache.ttl(Service::Menus, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(5))
        );
    }
}
