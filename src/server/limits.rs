//! The document pre-check: operation limits, measured before async-graphql sees
//! the document.
//!
//! async-graphql's validation expands every fragment spread again wherever it
//! appears, synchronously, before its own limits are compared: a 1 KB document of
//! fragments that each spread the next twice costs seconds of CPU. So every
//! document is measured here first, in time linear in its size:
//!
//! 1. a lexical scan counts characters, tokens and bracket nesting (no parsing,
//!    so a document that would make the parser recurse deeply never reaches it);
//! 2. the document is parsed once (the parsed form is handed to the request, so
//!    async-graphql does not parse it again);
//! 3. fragments are ordered by an iterative depth-first search (a cycle is
//!    refused, deep chains of fragments do not recurse), and each is measured
//!    once, its measures memoised, so a spread costs a table look-up however
//!    often it is expanded. Counts saturate instead of overflowing.
//!
//! Everything counts the document as it would execute (fragments expanded):
//! depth in fields, aliases (`__typename` ones too), root fields, directives
//! anywhere (operations, variables, fields, spreads, inline fragments, fragment
//! definitions), and a complexity estimate: one per field, a field's selection
//! multiplied by its `first` (or `last`) argument, literal or variable.
//! This module must not execute anything or call an upstream.

use std::collections::HashMap;

use super::documents::{Documents, Parsed};
use crate::graphql::Document;
use async_graphql::{
    Name, Positioned, Variables,
    parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet},
};
use async_graphql_value::{ConstValue, Value};

/// The limits a document must stay within. Defaults: see `config::LimitsConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Longest document, in characters.
    pub max_chars: usize,
    /// Most lexical tokens (names, punctuators, values; not comments or commas).
    pub max_tokens: usize,
    /// Deepest nesting of fields.
    pub max_depth: usize,
    /// Most aliases, fragments expanded.
    pub max_aliases: usize,
    /// Most fields at the root of an operation, fragments expanded.
    pub max_root_fields: usize,
    /// Most directives, fragments expanded.
    pub max_directives: usize,
    /// Highest complexity estimate.
    pub max_complexity: usize,
    /// Largest page a connection serves: a larger `first` costs as this much
    /// (the resolver refuses it anyway, with `BAD_USER_INPUT`).
    pub max_page_size: u32,
}

/// Why a document was refused before validation. Surfaces as a request error
/// (HTTP 400 under `application/graphql-response+json`, 200 under
/// `application/json`) whose `extensions.code` is [`LimitError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Longer than `max_chars`.
    #[error("the document is longer than {0} characters")]
    TooLong(usize),
    /// More than `max_tokens` tokens.
    #[error("the document has more than {0} tokens")]
    TooManyTokens(usize),
    /// Nested deeper than `max_depth`.
    #[error("the query is nested deeper than {0} levels")]
    TooDeep(usize),
    /// More than `max_aliases` aliases.
    #[error("the query has more than {0} aliases")]
    TooManyAliases(usize),
    /// More than `max_root_fields` root fields.
    #[error("an operation selects more than {0} root fields")]
    TooManyRootFields(usize),
    /// More than `max_directives` directives.
    #[error("the document has more than {0} directives")]
    TooManyDirectives(usize),
    /// Complexity above `max_complexity`.
    #[error("the query's complexity is above {0}")]
    TooComplex(usize),
    /// A `first` or `last` outside `1..=max_page_size`.
    #[error("`first` and `last` must be between 1 and {0}")]
    PageSize(u32),
    /// A fragment spreads itself, directly or not.
    #[error("fragment `{0}` spreads itself")]
    FragmentCycle(String),
    /// The document is not GraphQL.
    #[error("{0}")]
    Syntax(String),
}

impl LimitError {
    /// The error's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::TooLong(_) => "DOCUMENT_TOO_LONG",
            LimitError::TooManyTokens(_) => "TOO_MANY_TOKENS",
            LimitError::TooDeep(_) => "QUERY_TOO_DEEP",
            LimitError::TooManyAliases(_) => "TOO_MANY_ALIASES",
            LimitError::TooManyRootFields(_) => "TOO_MANY_ROOT_FIELDS",
            LimitError::TooManyDirectives(_) => "TOO_MANY_DIRECTIVES",
            LimitError::TooComplex(_) => "QUERY_TOO_COMPLEX",
            LimitError::PageSize(_) => "BAD_USER_INPUT",
            LimitError::FragmentCycle(_) => "GRAPHQL_VALIDATION_FAILED",
            LimitError::Syntax(_) => "GRAPHQL_PARSE_FAILED",
        }
    }
}

/// What the pre-check measured, the largest over all operations and fragments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measures {
    /// Tokens of the document.
    pub tokens: usize,
    /// Deepest field nesting.
    pub depth: u64,
    /// Aliases.
    pub aliases: u64,
    /// Root fields of the widest operation.
    pub root_fields: u64,
    /// Directives.
    pub directives: u64,
    /// Complexity estimate.
    pub complexity: u64,
    /// Whether an operation asks for `__schema` or `__type` (introspection).
    pub introspection: bool,
}

/// Measures `query` against `limits` and parses it. `variables` give the value of
/// a `first: $var`.
#[cfg(test)]
pub fn check(query: &str, variables: &Variables, limits: &DocumentLimits) -> Result<(Document, Measures), LimitError> {
    check_with(query, variables, limits, &Documents::default())
}

/// Measures `query` against `limits` and parses it, through `documents` (the
/// server's cache of parsed documents): a text found there passed the lexical
/// checks and parsed when it went in, with the same `limits`, and is measured
/// again only for what its variables change. `variables` give the value of a
/// `first: $var`.
pub fn check_with(
    query: &str,
    variables: &Variables,
    limits: &DocumentLimits,
    documents: &Documents,
) -> Result<(Document, Measures), LimitError> {
    if query.len() > limits.max_chars && query.chars().count() > limits.max_chars {
        return Err(LimitError::TooLong(limits.max_chars));
    }
    let parsed = match documents.get(query) {
        Some(parsed) => parsed,
        None => {
            let parsed = scan_and_parse(query, limits)?;
            documents.insert(query, parsed.clone());
            parsed
        }
    };
    let mut measures = measure(&parsed.document, variables, limits.max_page_size)?;
    measures.tokens = parsed.tokens;
    let over = |value: u64, limit: usize| value > limit as u64;
    if over(measures.depth, limits.max_depth) {
        return Err(LimitError::TooDeep(limits.max_depth));
    }
    if over(measures.complexity, limits.max_complexity) {
        return Err(LimitError::TooComplex(limits.max_complexity));
    }
    if over(measures.aliases, limits.max_aliases) {
        return Err(LimitError::TooManyAliases(limits.max_aliases));
    }
    if over(measures.root_fields, limits.max_root_fields) {
        return Err(LimitError::TooManyRootFields(limits.max_root_fields));
    }
    if over(measures.directives, limits.max_directives) {
        return Err(LimitError::TooManyDirectives(limits.max_directives));
    }
    Ok((parsed.document, measures))
}

/// The lexical checks, then the parse.
fn scan_and_parse(query: &str, limits: &DocumentLimits) -> Result<Parsed, LimitError> {
    // Braces nest at most once per field level, plus the argument values inside
    // a level: allow twice the depth, and never more than the parser's own bound.
    let max_nesting = (limits.max_depth.saturating_mul(2) + 4).min(60);
    let scan = scan(query, limits.max_tokens, max_nesting);
    if scan.tokens > limits.max_tokens {
        return Err(LimitError::TooManyTokens(limits.max_tokens));
    }
    if scan.nesting > max_nesting {
        return Err(LimitError::TooDeep(limits.max_depth));
    }
    let document = async_graphql::parser::parse_query(query).map_err(|e| LimitError::Syntax(e.to_string()))?;
    Ok(Parsed {
        document: Document::new(document),
        tokens: scan.tokens,
    })
}

/// What the lexical scan found. It stops counting once past the limits.
struct Scan {
    tokens: usize,
    nesting: usize,
}

/// Counts GraphQL tokens and the deepest nesting of `{`, `[` and `(`, in one pass
/// without allocating. Stops early once `max_tokens` or `max_nesting` is passed.
fn scan(query: &str, max_tokens: usize, max_nesting: usize) -> Scan {
    let bytes = query.as_bytes();
    let (mut i, mut tokens, mut nesting, mut deepest) = (0, 0usize, 0usize, 0usize);
    while i < bytes.len() {
        if tokens > max_tokens || deepest > max_nesting {
            break;
        }
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if bytes[i..].starts_with("\u{feff}".as_bytes()) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                tokens += 1;
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                tokens += 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'[' | b'(' => {
                tokens += 1;
                nesting += 1;
                deepest = deepest.max(nesting);
                i += 1;
            }
            b'}' | b']' | b')' => {
                tokens += 1;
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => {
                tokens += 1;
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'+' | b'-')
                {
                    if bytes[i..].starts_with(b"...") {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                // Skip the whole UTF-8 sequence: one token, one character.
                i += 1;
                while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                    i += 1;
                }
            }
        }
    }
    Scan {
        tokens,
        nesting: deepest,
    }
}

/// The measures of one selection set, fragments expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    depth: u64,
    aliases: u64,
    directives: u64,
    complexity: u64,
    /// Fields at the top of the selection set.
    fields: u64,
    /// Selects `__schema` or `__type` somewhere.
    introspection: bool,
}

impl Cost {
    fn absorb(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
        self.complexity = self.complexity.saturating_add(other.complexity);
        self.fields = self.fields.saturating_add(other.fields);
        self.introspection |= other.introspection;
    }
}

/// Measures every operation and fragment of `document`.
fn measure(document: &ExecutableDocument, variables: &Variables, max_page: u32) -> Result<Measures, LimitError> {
    let defaults = variable_defaults(document);
    let walker = Walker {
        variables,
        defaults: &defaults,
        max_page: u64::from(max_page.max(1)),
        page_out_of_range: std::cell::Cell::new(false),
    };
    let mut memo: HashMap<&str, Cost> = HashMap::with_capacity(document.fragments.len());
    for name in fragment_order(document)? {
        let Some(fragment) = document.fragments.get(name) else {
            continue;
        };
        let mut cost = walker.walk(&fragment.node.selection_set.node, &memo);
        cost.directives = cost.directives.saturating_add(fragment.node.directives.len() as u64);
        memo.insert(name, cost);
    }
    let mut total = Measures::default();
    let mut take = |cost: Cost, root: bool| {
        total.depth = total.depth.max(cost.depth);
        total.aliases = total.aliases.max(cost.aliases);
        total.directives = total.directives.max(cost.directives);
        total.complexity = total.complexity.max(cost.complexity);
        if root {
            total.root_fields = total.root_fields.max(cost.fields);
            total.introspection |= cost.introspection;
        }
    };
    for cost in memo.values() {
        take(*cost, false);
    }
    let operations: Vec<&OperationDefinition> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node).collect(),
    };
    for op in operations {
        let mut cost = walker.walk(&op.selection_set.node, &memo);
        let variable_directives: usize = op.variable_definitions.iter().map(|v| v.node.directives.len()).sum();
        cost.directives = cost
            .directives
            .saturating_add(op.directives.len() as u64)
            .saturating_add(variable_directives as u64);
        take(cost, true);
    }
    if walker.page_out_of_range.get() {
        return Err(LimitError::PageSize(max_page));
    }
    Ok(total)
}

/// The default value of every variable that has an integer default, by name
/// (the largest, when operations disagree).
fn variable_defaults(document: &ExecutableDocument) -> HashMap<&str, u64> {
    let mut defaults = HashMap::new();
    let operations: Vec<&OperationDefinition> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node).collect(),
    };
    for op in operations {
        for variable in &op.variable_definitions {
            let Some(default) = &variable.node.default_value else {
                continue;
            };
            if let ConstValue::Number(n) = &default.node {
                let value = number_as_size(n);
                let entry = defaults.entry(variable.node.name.node.as_str()).or_insert(0);
                *entry = (*entry).max(value);
            }
        }
    }
    defaults
}

fn number_as_size(n: &async_graphql::Number) -> u64 {
    n.as_u64()
        .or_else(|| n.as_f64().filter(|f| *f >= 1.0).map(|f| f.min(u64::MAX as f64) as u64))
        .unwrap_or(1)
}

/// Fragments in an order where every fragment comes after the ones it spreads.
/// Iterative, so a long chain of fragments cannot exhaust the stack.
fn fragment_order(document: &ExecutableDocument) -> Result<Vec<&str>, LimitError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let spreads: HashMap<&str, Vec<&str>> = document
        .fragments
        .iter()
        .map(|(name, fragment)| {
            let mut names = Vec::new();
            collect_spreads(&fragment.node.selection_set.node, &mut names);
            (name.as_str(), names)
        })
        .collect();
    let mut marks: HashMap<&str, Mark> = HashMap::with_capacity(spreads.len());
    let mut order = Vec::with_capacity(spreads.len());
    let mut names: Vec<&str> = spreads.keys().copied().collect();
    names.sort_unstable();
    for start in names {
        if marks.contains_key(start) {
            continue;
        }
        // (fragment, index of the next spread to follow)
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Visiting);
        while let Some((name, next)) = stack.last_mut() {
            let children = spreads.get(*name).map(Vec::as_slice).unwrap_or_default();
            if let Some(child) = children.get(*next).copied() {
                *next += 1;
                match marks.get(child) {
                    Some(Mark::Visiting) => return Err(LimitError::FragmentCycle(child.to_owned())),
                    Some(Mark::Done) => {}
                    None if spreads.contains_key(child) => {
                        marks.insert(child, Mark::Visiting);
                        stack.push((child, 0));
                    }
                    None => {} // unknown fragment: validation reports it
                }
            } else {
                marks.insert(name, Mark::Done);
                order.push(*name);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// The names of the fragments a selection set spreads, not following them.
/// Recursion is bounded by the parser's nesting limit.
fn collect_spreads<'a>(set: &'a SelectionSet, names: &mut Vec<&'a str>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => collect_spreads(&field.node.selection_set.node, names),
            Selection::FragmentSpread(spread) => names.push(spread.node.fragment_name.node.as_str()),
            Selection::InlineFragment(inline) => collect_spreads(&inline.node.selection_set.node, names),
        }
    }
}

/// Measures selection sets, reading fragments from the memo.
struct Walker<'a> {
    variables: &'a Variables,
    defaults: &'a HashMap<&'a str, u64>,
    max_page: u64,
    /// Set when a `first` or `last` is a number outside `1..=max_page`.
    page_out_of_range: std::cell::Cell<bool>,
}

impl Walker<'_> {
    /// Recursion is bounded by the parser's nesting limit; spreads are look-ups.
    fn walk(&self, set: &SelectionSet, memo: &HashMap<&str, Cost>) -> Cost {
        let mut cost = Cost::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = self.walk(&field.selection_set.node, memo);
                    let multiplier = self.page_size(&field.arguments);
                    cost.absorb(Cost {
                        depth: inner.depth.saturating_add(1),
                        aliases: inner.aliases.saturating_add(u64::from(field.alias.is_some())),
                        directives: inner.directives.saturating_add(field.directives.len() as u64),
                        complexity: inner.complexity.saturating_mul(multiplier).saturating_add(1),
                        fields: 1,
                        introspection: inner.introspection || matches!(field.name.node.as_str(), "__schema" | "__type"),
                    });
                }
                Selection::FragmentSpread(spread) => {
                    let mut inner = memo
                        .get(spread.node.fragment_name.node.as_str())
                        .copied()
                        .unwrap_or_default();
                    inner.directives = inner.directives.saturating_add(spread.node.directives.len() as u64);
                    cost.absorb(inner);
                }
                Selection::InlineFragment(inline) => {
                    let mut inner = self.walk(&inline.node.selection_set.node, memo);
                    inner.directives = inner.directives.saturating_add(inline.node.directives.len() as u64);
                    cost.absorb(inner);
                }
            }
        }
        cost
    }

    /// `n` as a page size, noting when it is outside `1..=max_page`.
    fn bounded(&self, n: &async_graphql::Number) -> u64 {
        let in_range = n.as_u64().is_some_and(|v| (1..=self.max_page).contains(&v));
        if !in_range {
            self.page_out_of_range.set(true);
        }
        number_as_size(n)
    }

    /// The page a field's `first` or `last` asks for, at least 1 and at most the
    /// largest page; 1 for fields without one.
    fn page_size(&self, arguments: &[(Positioned<Name>, Positioned<Value>)]) -> u64 {
        let mut size = 1;
        for (name, value) in arguments {
            if !matches!(name.node.as_str(), "first" | "last") {
                continue;
            }
            let asked = match &value.node {
                Value::Number(n) => self.bounded(n),
                Value::Variable(var) => match self.variables.get(var) {
                    Some(ConstValue::Number(n)) => self.bounded(n),
                    _ => self.defaults.get(var.as_str()).copied().unwrap_or(1),
                },
                _ => 1,
            };
            size = size.max(asked.clamp(1, self.max_page));
        }
        size
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const LIMITS: DocumentLimits = DocumentLimits {
        max_chars: 20_000,
        max_tokens: 3_000,
        max_depth: 15,
        max_aliases: 30,
        max_root_fields: 10,
        max_directives: 20,
        max_complexity: 5_000,
        max_page_size: 100,
    };

    fn run(query: &str) -> Result<Measures, LimitError> {
        check(query, &Variables::default(), &LIMITS).map(|(_, m)| m)
    }

    fn code(query: &str) -> &'static str {
        run(query).map(|_| "OK").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn a_document_parses_once_and_comes_back_the_same() {
        let documents = Documents::default();
        let query = "query Q($id: ID!) { restaurant(id: $id) { id name } }";
        let variables = Variables::from_json(serde_json::json!({ "id": "1" }));
        let (first, _) = check_with(query, &variables, &LIMITS, &documents).unwrap();
        let (second, _) = check_with(query, &variables, &LIMITS, &documents).unwrap();
        assert!(
            std::ptr::eq::<ExecutableDocument>(&*first, &*second),
            "the cached document is shared, not parsed again"
        );
        assert!(check_with("{ broken", &variables, &LIMITS, &documents).is_err());
        assert!(documents.get(query).is_some());
        assert!(
            documents.get("{ broken").is_none(),
            "a document that fails to parse is not kept"
        );
    }

    #[test]
    fn a_cached_text_keeps_its_scan_and_is_measured_again_with_its_variables() {
        let documents = Documents::default();
        let query = "query($n: Int) { restaurants(first: $n) { edges { node { id } } } }";
        let with = |n: i32| Variables::from_json(serde_json::json!({ "n": n }));
        let (first, measured) = check_with(query, &with(5), &LIMITS, &documents).unwrap();
        let (second, again) = check_with(query, &with(50), &LIMITS, &documents).unwrap();
        assert!(
            std::ptr::eq::<ExecutableDocument>(&*first, &*second),
            "the second request gets the cached document"
        );
        assert_eq!(again.tokens, measured.tokens, "the token count comes with it");
        assert!(measured.tokens > 10, "{measured:?}");
        assert!(
            again.complexity > measured.complexity,
            "the page size of the second request counts: {measured:?} then {again:?}"
        );
        let over = Variables::from_json(serde_json::json!({ "n": 100_000 }));
        assert!(
            check_with(query, &over, &LIMITS, &documents).is_err(),
            "a cached document is still held to the limits its variables reach"
        );
    }

    /// 26 fragments, each spreading the next twice: 2^25 expansions.
    pub(crate) fn fragment_bomb() -> String {
        let mut query = String::from("query { ...A }\n");
        for i in 0..25u8 {
            let (this, next) = ((b'A' + i) as char, (b'A' + i + 1) as char);
            query.push_str(&format!("fragment {this} on Query {{ ...{next} ...{next} }}\n"));
        }
        query.push_str("fragment Z on Query { __typename }\n");
        query
    }

    #[test]
    fn the_acceptance_operations_pass_with_room() {
        for query in [
            include_str!("../../schema/operations/home.graphql"),
            include_str!("../../schema/operations/nearby.graphql"),
            include_str!("../../schema/operations/restaurant.graphql"),
        ] {
            let m = run(query).unwrap();
            eprintln!("{m:?}");
            assert!(m.tokens * 3 < LIMITS.max_tokens, "{m:?}");
            assert!(m.depth * 3 / 2 < LIMITS.max_depth as u64, "{m:?}");
            assert!(m.complexity * 2 < LIMITS.max_complexity as u64, "{m:?}");
        }
    }

    #[test]
    fn a_fragment_bomb_is_measured_in_linear_time() {
        let started = Instant::now();
        assert_eq!(code(&fragment_bomb()), "QUERY_TOO_COMPLEX");
        let took = started.elapsed();
        eprintln!("fragment bomb refused in {took:?}");
        assert!(took.as_millis() < 1000);
    }

    #[test]
    fn cycles_are_refused_without_recursing() {
        assert_eq!(
            code("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
            "GRAPHQL_VALIDATION_FAILED"
        );
        assert_eq!(
            code("{ ...A } fragment A on Query { ...A }"),
            "GRAPHQL_VALIDATION_FAILED"
        );
    }

    #[test]
    fn a_long_chain_of_fragments_does_not_recurse() {
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..2_000 {
            query.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        query.push_str("fragment F2000 on Query { __typename }");
        let limits = DocumentLimits {
            max_tokens: 100_000,
            max_chars: 100_000,
            ..LIMITS
        };
        assert!(check(&query, &Variables::default(), &limits).is_ok());
    }

    #[test]
    fn each_limit_has_its_code() {
        assert_eq!(code(&"{a".repeat(100)), "QUERY_TOO_DEEP");
        assert_eq!(
            code(&format!("{}{}", "{a".repeat(16), "}".repeat(16))),
            "QUERY_TOO_DEEP"
        );
        let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
        assert_eq!(code(&format!("{{ {aliases} }}")), "TOO_MANY_ALIASES");
        let roots: String = (0..11).map(|i| format!("r{i} ")).collect();
        assert_eq!(code(&format!("{{ {roots} }}")), "TOO_MANY_ROOT_FIELDS");
        assert_eq!(
            code(&format!("{{ ... @a {} {{ a }} }}", "@b ".repeat(20))),
            "TOO_MANY_DIRECTIVES"
        );
        assert_eq!(code(&format!("{{ {} }}", "a ".repeat(3_000))), "TOO_MANY_TOKENS");
        assert_eq!(code(&format!("# {}\n{{ a }}", "x".repeat(20_000))), "DOCUMENT_TOO_LONG");
        assert_eq!(code("{ a"), "GRAPHQL_PARSE_FAILED");
    }

    #[test]
    fn first_multiplies_the_cost_of_a_selection() {
        let cost = |first: &str| {
            run(&format!("{{ list(first: {first}) {{ a b c }} }}"))
                .unwrap()
                .complexity
        };
        assert!(cost("100") > cost("5"));
        assert_eq!(cost("5"), 16);
        for first in ["-1", "0", "101", "9007199254740992", "1.5"] {
            assert_eq!(
                code(&format!("{{ list(first: {first}) {{ a }} }}")),
                "BAD_USER_INPUT",
                "{first}"
            );
        }
        let vars = Variables::from_json(serde_json::json!({"n": 50}));
        let (_, m) = check("query($n: Int = 7) { list(first: $n) { a } }", &vars, &LIMITS).unwrap();
        assert_eq!(m.complexity, 51);
        let (_, m) = check(
            "query($n: Int = 7) { list(first: $n) { a } }",
            &Variables::default(),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(m.complexity, 8);
    }

    #[test]
    fn introspection_is_found_through_fragments() {
        assert!(
            run("{ ...F } fragment F on Query { __schema { queryType { name } } }")
                .unwrap()
                .introspection
        );
        assert!(
            run("{ a { ... on A { __type(name: \"X\") { name } } } }")
                .unwrap()
                .introspection
        );
        assert!(!run("{ __typename a { __typename } }").unwrap().introspection);
    }

    #[test]
    fn strings_comments_and_block_strings_are_single_tokens() {
        let s = scan("{ a(x: \"b c d\", y: \"\"\"e \\\"\"\" f\"\"\") # g h i\n }", 100, 100);
        assert_eq!(s.tokens, 11);
        assert_eq!(s.nesting, 2);
    }

    /// Property tests over the pre-check: no input panics, recurses without
    /// bound or gets past a limit. `PROPTEST_CASES=100000 cargo test --lib
    /// limits::tests::fuzz` runs them longer (by default 600 generated documents, 2,000
    /// arbitrary texts and 2,000 arbitrary bodies).
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// `default` cases, or `PROPTEST_CASES`.
        fn config(default: u32) -> ProptestConfig {
            let cases = std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default);
            ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        /// Fragments of GraphQL syntax, so generated documents get past the lexer
        /// and the parser often, and stress the structural checks.
        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("{".to_owned()),
                Just("}".to_owned()),
                Just("{ a ".to_owned()),
                Just("...F ".to_owned()),
                Just("...G ".to_owned()),
                Just("... on Query { ".to_owned()),
                Just("fragment F on Query { ".to_owned()),
                Just("fragment G on Query { ".to_owned()),
                Just("query Q($n: Int = 3) ".to_owned()),
                Just("x: __typename ".to_owned()),
                Just("__schema { types { name } } ".to_owned()),
                Just("@skip(if: false) ".to_owned()),
                Just("list(first: $n) ".to_owned()),
                (0i64..2_000_000).prop_map(|n| format!("list(first: {n}) ")),
                "[a-z_]{1,8} ".prop_map(|s| s),
                Just("\"str\\\" ing\" ".to_owned()),
                Just("\"\"\"block\"\"\" ".to_owned()),
                Just("# comment\n".to_owned()),
                Just("(a: {b: [1, 2]}) ".to_owned()),
            ]
        }

        fn document() -> impl Strategy<Value = String> {
            prop::collection::vec(piece(), 0..120).prop_map(|pieces| pieces.concat())
        }

        fn check_invariants(query: &str, variables: &Variables) {
            if let Ok((_, m)) = check(query, variables, &LIMITS) {
                assert!(m.tokens <= LIMITS.max_tokens);
                assert!(m.depth <= LIMITS.max_depth as u64);
                assert!(m.aliases <= LIMITS.max_aliases as u64);
                assert!(m.root_fields <= LIMITS.max_root_fields as u64);
                assert!(m.directives <= LIMITS.max_directives as u64);
                assert!(m.complexity <= LIMITS.max_complexity as u64);
                assert!(async_graphql::parser::parse_query(query).is_ok());
            }
        }

        proptest! {
            #![proptest_config(config(600))]

            #[test]
            fn graphql_like_documents_stay_within_the_limits(query in document(), n in any::<i64>()) {
                let variables = Variables::from_json(serde_json::json!({"n": n}));
                check_invariants(&query, &variables);
            }
        }

        proptest! {
            #![proptest_config(config(2_000))]

            #[test]
            fn any_text_is_checked_without_panicking(query in any::<String>()) {
                check_invariants(&query, &Variables::default());
            }

            #[test]
            fn any_request_body_parses_or_is_refused(body in prop::collection::vec(any::<u8>(), 0..512)) {
                // What `POST /graphql` does with a body: it may fail, never panic.
                if let Ok(async_graphql::BatchRequest::Single(request)) =
                    serde_json::from_slice::<async_graphql::BatchRequest>(&body)
                {
                    check_invariants(&request.query, &request.variables);
                }
            }
        }
    }
}
