//! Parsed documents, kept by their text.
//!
//! Clients send the same few operations again and again, and parsing one is the
//! gateway's largest single cost after executing it: async-graphql's `pest` parser
//! took about 6 % of the CPU of a `HomeScreen` (a 1.3 KB document) in a profile.
//! A document parsed once is kept here and shared; each request executes a copy
//! of it (the executor edits the document it is given: it removes `@skip`ped
//! selections), which costs a few microseconds instead of a parse. Only
//! documents that parse are kept.
//!
//! The cache is bounded by the length of the texts it holds, and its admission
//! policy (moka's TinyLFU) keeps a flood of one-off documents from pushing out the
//! operations that are used all the time.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

/// How much query text the cache holds, in bytes: about a thousand typical
/// operations. A parsed document takes several times its text in memory.
const CAPACITY_BYTES: u64 = 2 << 20;

/// Parsed documents by their exact text.
#[derive(Clone)]
pub struct Documents {
    cache: Cache<String, Arc<ExecutableDocument>>,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|text: &String, _| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build(),
        }
    }
}

impl Documents {
    /// `query`, parsed: from the cache when it was parsed before. The request
    /// executes a copy of it.
    pub fn parse(&self, query: &str) -> async_graphql::parser::Result<Arc<ExecutableDocument>> {
        if let Some(document) = self.cache.get(query) {
            return Ok(document);
        }
        let document = Arc::new(async_graphql::parser::parse_query(query)?);
        self.cache.insert(query.to_owned(), document.clone());
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_parses_once_and_comes_back_the_same() {
        let documents = Documents::default();
        let query = "query Q($id: ID!) { restaurant(id: $id) { id name } }";
        let first = documents.parse(query).unwrap();
        documents.cache.run_pending_tasks();
        assert_eq!(documents.cache.entry_count(), 1);
        let second = documents.parse(query).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "the cached document is shared, not parsed again"
        );
        assert!(documents.parse("{ broken").is_err());
        documents.cache.run_pending_tasks();
        assert_eq!(
            documents.cache.entry_count(),
            1,
            "a document that fails to parse is not kept"
        );
    }
}
