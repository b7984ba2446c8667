//! Persisted queries, handled **before** execution: Apollo's automatic persisted
//! queries (APQ) and a safelist for production.
//!
//! - APQ: a request whose `extensions.persistedQuery` is `{"version": 1,
//!   "sha256Hash": H}` and that has no `query` runs the document registered under
//!   `H`, or fails with `PERSISTED_QUERY_NOT_FOUND` (the client then sends the
//!   document with the hash, which registers it). A document whose SHA-256 is not
//!   `H` is refused (`PERSISTED_QUERY_HASH_MISMATCH`). Documents live in a bounded
//!   in-memory store and, when `cache.redis_url` is set, in Redis, so a hash
//!   registered through one replica runs on every other.
//! - Safelist: with `persisted_queries.safelist = "enforce"` only the operations
//!   of the manifest run (`PERSISTED_QUERY_NOT_IN_SAFELIST` otherwise); `"log"`
//!   runs them all and logs the ones it would refuse.
//!
//! **A registration is kept only once it passed the operation limits.**
//! [`PersistedQueries::prepare`] resolves the hash and checks it, but stores
//! nothing: it hands back a [`Registration`], which the endpoint passes to
//! [`PersistedQueries::commit`] after the document went through the same lexical
//! scan and limits as any other (`super::limits`). A document that fails them is
//! never parsed here, never kept in memory and never written to Redis (the audit
//! of December 2026, finding 1: 120 anonymous 64 KB registrations took a gateway
//! from 38 MB to 880 MB, each parsed and kept although refused).
//!
//! What is kept, and its bounds:
//! - memory: the text of each document only, weighed as its key, its text and
//!   [`ENTRY_OVERHEAD`]; at most `persisted_queries.max_bytes` in all. The parsed
//!   form lives in the server's cache of parsed documents, which weighs it too.
//! - Redis: a document that passed the limits (so at most
//!   `limits.max_document_chars` characters), under `apq|<hash>`, for
//!   `persisted_queries.redis_ttl`, and at most
//!   `persisted_queries.redis_writes_per_minute` registrations written per replica
//!   (a registration past that rate is kept in this replica's memory only; another
//!   replica answers `PERSISTED_QUERY_NOT_FOUND` and the client registers there).
//!   Every key has a TTL, so a Redis run with `maxmemory` and
//!   `maxmemory-policy volatile-lru` evicts them before anything without one.
//!
//! async-graphql's own `ApolloPersistedQueries` extension would put every field on
//! its slower extension path (about +40 % CPU); here the protocol costs one hash
//! and one lookup per request.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use moka::future::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    config::{PersistedQueriesConfig, SafelistMode},
    upstream::cache::RedisStore,
};

/// What one entry of the in-memory store costs besides its key's and its text's
/// bytes: the two heap blocks' headers, the `Arc`'s counts and moka's entry (its
/// key copy's header, access-order and frequency bookkeeping). An estimate, on the
/// high side.
pub const ENTRY_OVERHEAD: usize = 160;

/// A registered document's text. Only the text is kept: the parsed form is the
/// server's cache of parsed documents' business (it weighs it).
type Text = Arc<str>;

/// Why a request was refused before execution.
#[derive(Debug, thiserror::Error)]
pub enum PersistedError {
    /// The hash is not registered (the client sends the document next).
    #[error("PersistedQueryNotFound")]
    NotFound,
    /// APQ is off (`persisted_queries.apq = false`).
    #[error("PersistedQueryNotSupported")]
    NotSupported,
    /// `sha256Hash` is not the SHA-256 of `query`.
    #[error("provided sha256Hash does not match the query")]
    HashMismatch,
    /// The safelist is enforced and the operation is not in it.
    #[error("this operation is not in the safelist of persisted queries")]
    NotInSafelist,
    /// `extensions.persistedQuery` is malformed.
    #[error("extensions.persistedQuery must be {{\"version\": 1, \"sha256Hash\": \"<64 hex digits>\"}}")]
    Malformed,
}

impl PersistedError {
    /// The error's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            PersistedError::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            PersistedError::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            PersistedError::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            PersistedError::NotInSafelist => "PERSISTED_QUERY_NOT_IN_SAFELIST",
            PersistedError::Malformed => "BAD_REQUEST",
        }
    }
}

/// The operations of an Apollo persisted-query manifest, by the SHA-256 of their body.
#[derive(Default)]
pub struct Manifest {
    operations: HashMap<String, Text>,
}

#[derive(Deserialize)]
struct ManifestFile {
    operations: Vec<ManifestOperation>,
}

#[derive(Deserialize)]
struct ManifestOperation {
    id: Option<String>,
    body: String,
}

impl Manifest {
    /// Reads an Apollo persisted-query manifest
    /// (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name", "type", "body"}]}`).
    /// Each operation is found by the SHA-256 of its body (what APQ clients send)
    /// and by its `id`. Every body must parse (checked here, at start).
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: ManifestFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a persisted-query manifest: {e}", path.display()))?;
        let mut operations = HashMap::new();
        for operation in file.operations {
            let hash = sha256_hex(&operation.body);
            if async_graphql::parser::parse_query(&operation.body).is_err() {
                return Err(format!("{}: operation {hash} does not parse", path.display()));
            }
            let body: Text = operation.body.into();
            if let Some(id) = operation.id.filter(|id| *id != hash) {
                operations.insert(id, body.clone());
            }
            operations.insert(hash, body);
        }
        Ok(Manifest { operations })
    }

    fn get(&self, hash: &str) -> Option<Text> {
        self.operations.get(hash).cloned()
    }
}

/// A request whose persisted query was resolved, and what to keep of it once its
/// document has passed the operation limits.
pub struct Prepared {
    /// The request, its `query` filled in from the store when it came as a hash.
    pub request: async_graphql::Request,
    /// What [`PersistedQueries::commit`] keeps, once the document passed the limits.
    pub registration: Option<Registration>,
}

/// A document to keep under its hash, once it has passed the operation limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    hash: String,
    /// A new registration (written to Redis too), not one read from Redis.
    new: bool,
}

/// Registrations written to Redis per minute, at most: a token bucket that holds
/// a minute's worth.
struct WriteBudget {
    per_minute: u32,
    state: Mutex<(f64, Instant)>,
}

impl WriteBudget {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            state: Mutex::new((f64::from(per_minute), Instant::now())),
        }
    }

    /// Takes one write if the budget allows it now.
    fn try_take(&self, now: Instant) -> bool {
        if self.per_minute == 0 {
            return false;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = &mut *state;
        let rate = f64::from(self.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(f64::from(self.per_minute));
        *last = now.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The persisted-query store and safelist.
pub struct PersistedQueries {
    apq: bool,
    safelist: SafelistMode,
    manifest: Manifest,
    memory: Cache<String, Text>,
    redis: Option<Arc<RedisStore>>,
    redis_ttl: Duration,
    redis_writes: WriteBudget,
}

impl PersistedQueries {
    /// The store for `config`, sharing registrations through `redis` if given.
    /// A manifest that cannot be read (validation read it at start) leaves the
    /// safelist empty: an enforced safelist then refuses everything (fails closed).
    pub fn new(config: &PersistedQueriesConfig, redis: Option<Arc<RedisStore>>) -> Self {
        let manifest = match &config.manifest {
            None => Manifest::default(),
            Some(path) => Manifest::load(path).unwrap_or_else(|error| {
                tracing::error!(%error, "persisted_queries.manifest: the safelist is empty");
                Manifest::default()
            }),
        };
        let memory = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &String, text: &Text| entry_weight(key, text))
            .build();
        Self {
            apq: config.apq,
            safelist: config.safelist,
            manifest,
            memory,
            redis,
            redis_ttl: config.redis_ttl,
            redis_writes: WriteBudget::new(config.redis_writes_per_minute),
        }
    }

    /// Resolves `request`'s persisted query and checks the safelist. Stores
    /// nothing: a document to keep comes back as [`Prepared::registration`], for
    /// [`PersistedQueries::commit`] once it passed the operation limits.
    pub async fn prepare(&self, mut request: async_graphql::Request) -> Result<Prepared, PersistedError> {
        let given = match request.extensions.get("persistedQuery") {
            None => None,
            Some(value) => Some(persisted_hash(value).ok_or(PersistedError::Malformed)?),
        };
        if given.is_none() && self.safelist == SafelistMode::Off {
            return Ok(Prepared {
                request,
                registration: None,
            });
        }
        if given.is_some() && !self.apq && self.safelist == SafelistMode::Off {
            return Err(PersistedError::NotSupported);
        }
        let (hash, registration) = if request.query.is_empty() {
            let Some(hash) = given else {
                // Execution reports the missing document.
                return Ok(Prepared {
                    request,
                    registration: None,
                });
            };
            let (text, from_redis) = self.lookup(&hash).await.ok_or(PersistedError::NotFound)?;
            request.query = text.to_string();
            let registration = from_redis.then(|| Registration {
                hash: hash.clone(),
                new: false,
            });
            (hash, registration)
        } else {
            let hash = sha256_hex(&request.query);
            if let Some(given) = &given
                && !given.eq_ignore_ascii_case(&hash)
            {
                return Err(PersistedError::HashMismatch);
            }
            let registers = given.is_some()
                && self.apq
                && self.safelist != SafelistMode::Enforce
                && self.manifest.get(&hash).is_none()
                && !self.memory.contains_key(&hash);
            let registration = registers.then(|| Registration {
                hash: hash.clone(),
                new: true,
            });
            (hash, registration)
        };
        if self.safelist != SafelistMode::Off && self.manifest.get(&hash).is_none() {
            if self.safelist == SafelistMode::Enforce {
                tracing::warn!(hash, "refused an operation outside the safelist");
                return Err(PersistedError::NotInSafelist);
            }
            tracing::warn!(hash, "operation outside the safelist (log-only mode: it runs)");
        }
        Ok(Prepared { request, registration })
    }

    /// Keeps `text` under the registration's hash: in memory, and for a new
    /// registration in Redis too, while the write budget allows. Call it only
    /// once `text` passed the operation limits.
    pub async fn commit(&self, registration: Registration, text: &str) {
        let Registration { hash, new } = registration;
        debug_assert_eq!(sha256_hex(text), hash);
        self.memory.insert(hash.clone(), Text::from(text)).await;
        let Some(redis) = self.redis.as_ref().filter(|_| new) else {
            return;
        };
        if !self.redis_writes.try_take(Instant::now()) {
            tracing::debug!(
                hash,
                "persisted_queries.redis_writes_per_minute reached: registration kept in memory only"
            );
            return;
        }
        let key = redis.key(&redis_key(&hash));
        redis
            .set_many(vec![(key, text.as_bytes().to_vec(), self.redis_ttl)])
            .await;
    }

    /// The document registered under `hash`: manifest, memory, then Redis (`true`
    /// when it came from Redis: [`PersistedQueries::commit`] keeps it in memory
    /// once it passed the limits here).
    async fn lookup(&self, hash: &str) -> Option<(Text, bool)> {
        if let Some(text) = self.manifest.get(hash) {
            return Some((text, false));
        }
        if !self.apq || self.safelist == SafelistMode::Enforce {
            return None;
        }
        if let Some(text) = self.memory.get(hash).await {
            return Some((text, false));
        }
        let redis = self.redis.as_ref()?;
        let text = redis.mget(&[redis.key(&redis_key(hash))]).await?.pop()??;
        let text = String::from_utf8(text).ok()?;
        if sha256_hex(&text) != hash {
            return None;
        }
        Some((text.into(), true))
    }
}

/// What an entry of the in-memory store weighs: its key, its text and
/// [`ENTRY_OVERHEAD`], in bytes.
fn entry_weight(key: &str, text: &str) -> u32 {
    (key.len() + text.len() + ENTRY_OVERHEAD).try_into().unwrap_or(u32::MAX)
}

fn redis_key(hash: &str) -> String {
    format!("apq|{hash}")
}

/// `sha256Hash` of a valid `{"version": 1, "sha256Hash": "<hex>"}`.
fn persisted_hash(value: &async_graphql::Value) -> Option<String> {
    let async_graphql::Value::Object(fields) = value else {
        return None;
    };
    let version = fields.get("version")?;
    if *version != async_graphql::Value::from(1) {
        return None;
    }
    let async_graphql::Value::String(hash) = fields.get("sha256Hash")? else {
        return None;
    };
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hash.to_ascii_lowercase())
}

/// The SHA-256 of `text`, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apq(hash: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new("");
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(serde_json::json!({"version": 1, "sha256Hash": hash})).unwrap(),
        );
        request
    }

    #[test]
    fn hashes_are_lower_case_hex_sha256() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[tokio::test]
    async fn an_unknown_hash_is_not_found_then_registers_with_its_document() {
        let store = PersistedQueries::new(&PersistedQueriesConfig::default(), None);
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        let error = store.prepare(apq(&hash)).await.err().unwrap();
        assert_eq!(error.code(), "PERSISTED_QUERY_NOT_FOUND");

        let mut register = apq(&hash);
        register.query = query.into();
        let prepared = store.prepare(register).await.unwrap();
        let registration = prepared.registration.expect("a new document registers");
        store.commit(registration, query).await;
        let prepared = store.prepare(apq(&hash)).await.unwrap();
        assert_eq!(prepared.request.query, query);
        assert!(prepared.registration.is_none(), "found in memory: nothing more to keep");
    }

    #[tokio::test]
    async fn nothing_is_kept_before_commit() {
        let store = PersistedQueries::new(&PersistedQueriesConfig::default(), None);
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        let mut register = apq(&hash);
        register.query = query.into();
        // Prepared, then refused by the limits: never committed.
        let prepared = store.prepare(register).await.unwrap();
        assert!(prepared.registration.is_some());
        store.memory.run_pending_tasks().await;
        assert_eq!(store.memory.entry_count(), 0);
        let error = store.prepare(apq(&hash)).await.err().unwrap();
        assert_eq!(error.code(), "PERSISTED_QUERY_NOT_FOUND");
    }

    #[tokio::test]
    async fn the_memory_store_weighs_what_it_holds() {
        let store = PersistedQueries::new(&PersistedQueriesConfig::default(), None);
        let mut expected = 0;
        for i in 0..10 {
            let query = format!("{{ a{i} {} }}", "b ".repeat(i * 100));
            let hash = sha256_hex(&query);
            store
                .commit(
                    Registration {
                        hash: hash.clone(),
                        new: true,
                    },
                    &query,
                )
                .await;
            expected += hash.len() + query.len() + ENTRY_OVERHEAD;
        }
        store.memory.run_pending_tasks().await;
        assert_eq!(store.memory.weighted_size(), expected as u64);
    }

    #[tokio::test]
    async fn a_wrong_hash_is_refused() {
        let store = PersistedQueries::new(&PersistedQueriesConfig::default(), None);
        let mut request = apq(&sha256_hex("{ other }"));
        request.query = "{ __typename }".into();
        let error = store.prepare(request).await.err().unwrap();
        assert_eq!(error.code(), "PERSISTED_QUERY_HASH_MISMATCH");
    }

    #[test]
    fn the_redis_write_budget_allows_a_minute_s_worth_then_refills() {
        let budget = WriteBudget::new(3);
        let start = Instant::now();
        assert!((0..3).all(|_| budget.try_take(start)));
        assert!(!budget.try_take(start), "a fourth write in the same instant");
        assert!(
            budget.try_take(start + Duration::from_secs(20)),
            "one refilled after 20 s"
        );
        assert!(!budget.try_take(start + Duration::from_secs(20)));
        assert!(!WriteBudget::new(0).try_take(start), "0 never writes");
    }
}
