//! The in-process tier: typed values in a size-bounded `moka` cache, so a hit costs
//! no JSON parsing.

use std::{
    any::Any,
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache};

/// One cached entity, typed.
#[derive(Clone)]
pub(super) struct Entry {
    /// An `Arc<T>` for the record type `T` of its route.
    pub value: Arc<dyn Any + Send + Sync>,
    /// Fresh until then (milliseconds since the Unix epoch, so replicas agree).
    pub fresh_until_ms: u64,
    /// Kept until then: freshness plus the stale window.
    pub keep_until_ms: u64,
    /// Approximate size in bytes (its JSON), for the size bound.
    pub weight: u32,
}

struct KeepUntil;

impl Expiry<Arc<str>, Entry> for KeepUntil {
    fn expire_after_create(&self, _key: &Arc<str>, entry: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(Duration::from_millis(
            entry.keep_until_ms.saturating_sub(super::now_ms()),
        ))
    }

    fn expire_after_update(
        &self,
        key: &Arc<str>,
        entry: &Entry,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, entry, updated_at)
    }
}

/// Typed entries, at most `max_bytes` of them (by their JSON size).
pub(super) struct MemoryTier {
    entries: Cache<Arc<str>, Entry>,
}

impl MemoryTier {
    pub fn new(max_bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, entry: &Entry| entry.weight.saturating_add(key.len() as u32))
            .expire_after(KeepUntil)
            .build();
        Self { entries }
    }

    pub async fn get(&self, key: &str) -> Option<Entry> {
        self.entries.get(key).await
    }

    pub async fn insert(&self, key: Arc<str>, entry: Entry) {
        self.entries.insert(key, entry).await;
    }
}
