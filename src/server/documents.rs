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
//! The cache is bounded by what it holds: each entry weighs its text and an
//! estimate of its parsed form ([`estimated_bytes`]), which is about a hundred
//! times the text for a document of one-letter fields. Its admission policy
//! (moka's TinyLFU) keeps a flood of one-off documents from pushing out the
//! operations that are used all the time. Only documents that passed the lexical
//! limits (`super::limits`) reach it.

use crate::graphql::Document;

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

/// What the cache holds at most, in bytes of text and parsed documents
/// ([`estimated_bytes`]): about 700 documents the size of `HomeScreen` (165
/// tokens, 1.3 KB of text, about 45 KB parsed).
const CAPACITY_BYTES: u64 = 32 << 20;

/// What one node of a parsed document (a selection, an argument, a directive, a
/// variable definition) takes in memory, with its share of the vectors that hold
/// it. Measured: 120 parsed documents of 32,001 one-letter fields each took
/// 810 MB of RSS, about 210 bytes per field.
const NODE_BYTES: usize = 224;

/// An estimate of the memory `document` (parsed from `text`) takes: its text and
/// [`NODE_BYTES`] per node. Iterative, so a deep document costs no stack.
pub fn estimated_bytes(text: &str, document: &ExecutableDocument) -> usize {
    use async_graphql::parser::types::Selection;
    let mut nodes = 0usize;
    let mut sets: Vec<&async_graphql::parser::types::SelectionSet> = Vec::new();
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        nodes += operation.variable_definitions.len() + operation.directives.len();
        sets.push(&operation.selection_set.node);
    }
    for fragment in document.fragments.values() {
        nodes += 1 + fragment.node.directives.len();
        sets.push(&fragment.node.selection_set.node);
    }
    while let Some(set) = sets.pop() {
        for selection in &set.items {
            nodes += 1;
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    nodes += field.arguments.len() + field.directives.len();
                    sets.push(&field.selection_set.node);
                }
                Selection::FragmentSpread(spread) => nodes += spread.node.directives.len(),
                Selection::InlineFragment(inline) => {
                    nodes += inline.node.directives.len();
                    sets.push(&inline.node.selection_set.node);
                }
            }
        }
    }
    text.len().saturating_add(nodes.saturating_mul(NODE_BYTES))
}

/// A document as the limits found it: parsed, and its text's token count.
#[derive(Clone)]
pub struct Parsed {
    /// The parsed document; the request executes a copy of it.
    pub document: Document,
    /// The GraphQL tokens of its text (`server::limits`'s lexical scan).
    pub tokens: usize,
}

/// Parsed documents by their exact text. A text is put here only once it has
/// passed the lexical limits and parsed, so a text found here need not be
/// scanned again (the limits are the process's, fixed at start).
#[derive(Clone)]
pub struct Documents {
    cache: Cache<String, Parsed>,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|text: &String, parsed: &Parsed| {
                    u32::try_from(estimated_bytes(text, &parsed.document)).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

impl Documents {
    /// `query` as it was parsed before, if it is still here.
    pub fn get(&self, query: &str) -> Option<Parsed> {
        self.cache.get(query)
    }

    /// Keeps `parsed`, the document of `query`, which passed the lexical limits.
    pub fn insert(&self, query: &str, parsed: Parsed) {
        self.cache.insert(query.to_owned(), parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_weighs_its_parsed_form_not_just_its_text() {
        let text = format!("{{ {} }}", "a ".repeat(1000));
        let document = async_graphql::parser::parse_query(&text).unwrap();
        let weight = estimated_bytes(&text, &document);
        assert_eq!(weight, text.len() + 1000 * NODE_BYTES);
        let fragments = "query { ...F } fragment F on Query { a @skip(if: true) b(x: 1) { c } }";
        let document = async_graphql::parser::parse_query(fragments).unwrap();
        // spread, fragment, a, @skip, b, x, c
        assert_eq!(estimated_bytes(fragments, &document), fragments.len() + 7 * NODE_BYTES);
    }
}
