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
//! async-graphql's own `ApolloPersistedQueries` extension would put every field on
//! its slower extension path (about +40 % CPU); here the protocol costs one hash
//! and one lookup per request, and the parsed document is handed over with
//! `Request::set_parsed_query`, which also saves parsing it again.

use std::{collections::HashMap, path::Path, sync::Arc};

use async_graphql::parser::types::ExecutableDocument;
use moka::future::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    config::{PersistedQueriesConfig, SafelistMode},
    upstream::cache::RedisStore,
};

/// A registered document, parsed once.
struct Persisted {
    text: String,
    document: Option<ExecutableDocument>,
}

impl Persisted {
    fn new(text: String) -> Self {
        let document = async_graphql::parser::parse_query(&text).ok();
        Self { text, document }
    }
}

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
    operations: HashMap<String, Arc<Persisted>>,
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
    /// and by its `id`.
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: ManifestFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a persisted-query manifest: {e}", path.display()))?;
        let mut operations = HashMap::new();
        for operation in file.operations {
            let hash = sha256_hex(&operation.body);
            let persisted = Arc::new(Persisted::new(operation.body));
            if persisted.document.is_none() {
                return Err(format!("{}: operation {hash} does not parse", path.display()));
            }
            if let Some(id) = operation.id.filter(|id| *id != hash) {
                operations.insert(id, persisted.clone());
            }
            operations.insert(hash, persisted);
        }
        Ok(Manifest { operations })
    }

    fn get(&self, hash: &str) -> Option<Arc<Persisted>> {
        self.operations.get(hash).cloned()
    }
}

/// The persisted-query store and safelist.
pub struct PersistedQueries {
    apq: bool,
    safelist: SafelistMode,
    manifest: Manifest,
    memory: Cache<String, Arc<Persisted>>,
    redis: Option<Arc<RedisStore>>,
    redis_ttl: std::time::Duration,
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
            .weigher(|key: &String, p: &Arc<Persisted>| (key.len() + p.text.len()).try_into().unwrap_or(u32::MAX))
            .build();
        Self {
            apq: config.apq,
            safelist: config.safelist,
            manifest,
            memory,
            redis,
            redis_ttl: config.redis_ttl,
        }
    }

    /// Resolves `request`'s persisted query and checks the safelist; on success the
    /// request carries its document (parsed, when it was registered before).
    pub async fn prepare(&self, mut request: async_graphql::Request) -> Result<async_graphql::Request, PersistedError> {
        let given = match request.extensions.get("persistedQuery") {
            None => None,
            Some(value) => Some(persisted_hash(value).ok_or(PersistedError::Malformed)?),
        };
        if given.is_none() && self.safelist == SafelistMode::Off {
            return Ok(request);
        }
        if given.is_some() && !self.apq && self.safelist == SafelistMode::Off {
            return Err(PersistedError::NotSupported);
        }
        let (hash, persisted) = if request.query.is_empty() {
            let Some(hash) = given else {
                return Ok(request); // execution reports the missing document
            };
            let persisted = self.lookup(&hash).await.ok_or(PersistedError::NotFound)?;
            request.query.clone_from(&persisted.text);
            (hash, Some(persisted))
        } else {
            let hash = sha256_hex(&request.query);
            if let Some(given) = &given
                && !given.eq_ignore_ascii_case(&hash)
            {
                return Err(PersistedError::HashMismatch);
            }
            let persisted = match given {
                Some(_) if self.apq && self.safelist != SafelistMode::Enforce => {
                    Some(self.register(&hash, &request.query).await)
                }
                _ => self.manifest.get(&hash),
            };
            (hash, persisted)
        };
        if self.safelist != SafelistMode::Off && self.manifest.get(&hash).is_none() {
            if self.safelist == SafelistMode::Enforce {
                tracing::warn!(hash, "refused an operation outside the safelist");
                return Err(PersistedError::NotInSafelist);
            }
            tracing::warn!(hash, "operation outside the safelist (log-only mode: it runs)");
        }
        if let Some(document) = persisted.and_then(|p| p.document.clone()) {
            request.set_parsed_query(document);
        }
        Ok(request)
    }

    /// The document registered under `hash`: manifest, memory, then Redis.
    async fn lookup(&self, hash: &str) -> Option<Arc<Persisted>> {
        if let Some(persisted) = self.manifest.get(hash) {
            return Some(persisted);
        }
        if !self.apq || self.safelist == SafelistMode::Enforce {
            return None;
        }
        if let Some(persisted) = self.memory.get(hash).await {
            return Some(persisted);
        }
        let redis = self.redis.as_ref()?;
        let text = redis.mget(&[redis.key(&redis_key(hash))]).await?.pop()??;
        let text = String::from_utf8(text).ok()?;
        if sha256_hex(&text) != hash {
            return None;
        }
        let persisted = Arc::new(Persisted::new(text));
        self.memory.insert(hash.to_owned(), persisted.clone()).await;
        Some(persisted)
    }

    /// Registers `text` under `hash` (its SHA-256), in memory and Redis.
    async fn register(&self, hash: &str, text: &str) -> Arc<Persisted> {
        if let Some(persisted) = self.memory.get(hash).await {
            return persisted;
        }
        let persisted = Arc::new(Persisted::new(text.to_owned()));
        if persisted.document.is_none() {
            return persisted; // not stored: execution reports the syntax error
        }
        self.memory.insert(hash.to_owned(), persisted.clone()).await;
        if let Some(redis) = &self.redis {
            let key = redis.key(&redis_key(hash));
            redis
                .set_many(vec![(key, text.as_bytes().to_vec(), self.redis_ttl)])
                .await;
        }
        persisted
    }
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
        store.prepare(register).await.unwrap();
        let request = store.prepare(apq(&hash)).await.unwrap();
        assert_eq!(request.query, query);
    }

    #[tokio::test]
    async fn a_wrong_hash_is_refused() {
        let store = PersistedQueries::new(&PersistedQueriesConfig::default(), None);
        let mut request = apq(&sha256_hex("{ other }"));
        request.query = "{ __typename }".into();
        let error = store.prepare(request).await.err().unwrap();
        assert_eq!(error.code(), "PERSISTED_QUERY_HASH_MISMATCH");
    }
}
