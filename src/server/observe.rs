//! What the GraphQL endpoint tells operators and frontend developers about each
//! request: the operation's name and type (for spans, metrics and the log line), who
//! may see the upstream waterfall, the trace headers passed on, the error codes,
//! and the one log line per request.
//!
//! Everything here is per request and cheap: no async-graphql extension (any
//! registered extension slows every field), a scan of the query text instead of a
//! second parse.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};

use crate::{
    config::{TelemetryConfig, UpstreamTrace},
    telemetry::Metrics,
};

/// The header that asks for `extensions.upstream`.
pub const UPSTREAM_TRACE: &str = "x-upstream-trace";

/// The endpoint's observability settings and handles.
pub struct Observe {
    /// The registry `/metrics` serves.
    pub metrics: Metrics,
    upstream_trace: UpstreamTrace,
    secret: Option<String>,
}

impl Observe {
    /// From `telemetry.*`, counting into `metrics`. In production the waterfall
    /// reveals internal routes to anyone who asks, so `on` counts as `off` there:
    /// `header-secret` is the way to have it.
    pub fn new(config: &TelemetryConfig, metrics: Metrics, production: bool) -> Self {
        let upstream_trace = match config.upstream_trace {
            UpstreamTrace::On if production => UpstreamTrace::Off,
            policy => policy,
        };
        Self {
            metrics,
            upstream_trace,
            secret: config.upstream_trace_secret.clone(),
        }
    }

    /// The `Vary` of a GraphQL answer: the request headers that change it.
    /// `X-Upstream-Trace` is one of them unless nobody may have the waterfall.
    pub fn vary(&self) -> HeaderValue {
        match self.upstream_trace {
            UpstreamTrace::Off => HeaderValue::from_static("accept, authorization"),
            UpstreamTrace::On | UpstreamTrace::HeaderSecret => {
                HeaderValue::from_static("accept, authorization, x-upstream-trace")
            }
        }
    }

    /// Whether GraphiQL should send `X-Upstream-Trace: 1` by default.
    pub fn waterfall_for_everyone(&self) -> bool {
        self.upstream_trace == UpstreamTrace::On
    }

    /// Whether this request asked for the waterfall and may have it.
    pub fn waterfall_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(UPSTREAM_TRACE).map(HeaderValue::as_bytes) else {
            return false;
        };
        match self.upstream_trace {
            UpstreamTrace::Off => false,
            UpstreamTrace::On => matches!(value, b"1" | b"true"),
            UpstreamTrace::HeaderSecret => self
                .secret
                .as_deref()
                .is_some_and(|secret| constant_time_eq(secret.as_bytes(), value)),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The operation a request runs, as far as a cheap look tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `operationName`, else the name of the document's first operation.
    pub name: Option<String>,
    /// `query`, `mutation` or `subscription`.
    pub kind: &'static str,
}

impl Operation {
    /// Reads `operationName`, or scans the document for its first operation
    /// (skipping strings, comments and selection sets) without parsing it.
    pub fn of(request: &async_graphql::Request) -> Self {
        let (kind, scanned) = first_operation(&request.query);
        Self {
            name: request.operation_name.clone().or(scanned),
            kind,
        }
    }
}

/// The type and name of the first operation in `document`.
fn first_operation(document: &str) -> (&'static str, Option<String>) {
    let bytes = document.as_bytes();
    let (mut i, mut depth, mut in_fragment) = (0, 0usize, false);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            // A selection set at the top: the query shorthand, unless it is the
            // body of a fragment definition.
            b'{' if depth == 0 && !in_fragment => return ("query", None),
            b'{' | b'(' => {
                depth += 1;
                in_fragment = false;
            }
            b'}' | b')' => depth = depth.saturating_sub(1),
            c if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let kind = match take_name(bytes, &mut i) {
                    "query" => "query",
                    "mutation" => "mutation",
                    "subscription" => "subscription",
                    "fragment" => {
                        in_fragment = true;
                        continue;
                    }
                    _ => continue,
                };
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let name = take_name(bytes, &mut i);
                return (kind, (!name.is_empty()).then(|| name.to_owned()));
            }
            _ => {}
        }
        i += 1;
    }
    ("query", None)
}

/// The GraphQL name starting at `*i` (possibly empty); leaves `*i` just past it.
fn take_name<'a>(bytes: &'a [u8], i: &mut usize) -> &'a str {
    let start = *i;
    while *i < bytes.len() && (bytes[*i].is_ascii_alphanumeric() || bytes[*i] == b'_') {
        *i += 1;
    }
    std::str::from_utf8(&bytes[start..*i]).unwrap_or("")
}

/// The headers a client could set the gateway's trace context and request id
/// with.
pub const CLIENT_TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "x-request-id"];

/// With `telemetry.trust_client_trace` off, drops the client's
/// [`CLIENT_TRACE_HEADERS`], so that the request gets an id of its own, no
/// client context parents its spans, and none is passed on to the upstreams.
pub fn drop_client_trace(headers: &mut HeaderMap) {
    for name in CLIENT_TRACE_HEADERS {
        headers.remove(name);
    }
}

/// The `traceparent` header if it is well formed (W3C Trace Context, version 00
/// layout), else `None`: a malformed one is not passed on.
pub fn traceparent(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get("traceparent")?;
    let text = value.to_str().ok()?;
    let parts: Vec<&str> = text.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    let ok = parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
        && (parts[0] != "00" || parts.len() == 4);
    ok.then(|| value.clone())
}

/// The `tracestate` header, if not absurdly long (the spec's limit is 32 entries).
pub fn tracestate(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get("tracestate").filter(|v| v.len() <= 1024).cloned()
}

/// The codes `/metrics` and the log line count: `extensions.code` when it is one
/// of ours, `GRAPHQL_VALIDATION_FAILED` for a parse or validation error (no path,
/// no code), `INTERNAL` for another error without a code, else `OTHER`.
pub fn error_code(error: &async_graphql::ServerError) -> &'static str {
    const KNOWN: &[&str] = &[
        "UNAUTHENTICATED",
        "BAD_USER_INPUT",
        "UPSTREAM_TIMEOUT",
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_ERROR",
        "UPSTREAM_BAD_RESPONSE",
        "CIRCUIT_OPEN",
        "UPSTREAM_BUSY",
        "DEADLINE_EXCEEDED",
        "BAD_REQUEST",
    ];
    let code = error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s.as_str()),
            _ => None,
        });
    match code {
        Some(code) => KNOWN.iter().find(|k| **k == code).copied().unwrap_or("OTHER"),
        None if error.path.is_empty() => "GRAPHQL_VALIDATION_FAILED",
        None => "INTERNAL",
    }
}

/// What one request came to, for its metrics and log line.
pub struct Finished<'a> {
    /// The operation's metric label.
    pub operation: &'a str,
    /// `ok`, `partial` (data and errors), `error` (no data) or `rejected` (not run).
    pub outcome: &'static str,
    /// The error codes, one per error.
    pub codes: Vec<&'static str>,
    /// The HTTP status sent.
    pub status: u16,
    /// Upstream attempts made.
    pub upstream_calls: u32,
}

impl Observe {
    /// Counts the request in the metrics and writes its log line.
    pub fn finish(&self, started: Instant, finished: Finished<'_>) {
        let elapsed = started.elapsed();
        self.metrics.request(finished.operation, finished.outcome, elapsed);
        for code in &finished.codes {
            self.metrics.graphql_error(code);
        }
        let mut codes = finished.codes;
        codes.sort_unstable();
        codes.dedup();
        tracing::info!(
            operation = finished.operation,
            outcome = finished.outcome,
            status = finished.status,
            duration_ms = (elapsed.as_secs_f64() * 1e4).round() / 10.0,
            upstream_calls = finished.upstream_calls,
            error_codes = %codes.join(","),
            "graphql request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_operation_is_found_without_parsing() {
        assert_eq!(
            first_operation("query HomeScreen($a: Int) { me { id } }"),
            ("query", Some("HomeScreen".into()))
        );
        assert_eq!(first_operation("{ me { id } }"), ("query", None));
        assert_eq!(
            first_operation("# query Fake\nfragment F on User { id query }\nmutation  Save { x }"),
            ("mutation", Some("Save".into()))
        );
        assert_eq!(first_operation("query { a(s: \"query X\") }"), ("query", None));
        assert_eq!(first_operation(""), ("query", None));
    }

    #[test]
    fn only_well_formed_traceparents_pass() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("traceparent", HeaderValue::from_str(v).unwrap());
            traceparent(&h).is_some()
        };
        assert!(with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(!with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
        assert!(!with("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        assert!(!with("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
        assert!(!with("garbage"));
    }
}
