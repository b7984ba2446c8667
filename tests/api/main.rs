//! Integration tests: the demo upstreams and the gateway run in-process on
//! ephemeral ports and the tests speak HTTP to both. Upstream call counts come
//! from the demo's `/_admin/stats`: they are the proof of batching.
//!
//! `TEST_LOG=1 cargo test` shows the gateway's logs.

mod auth;
mod batches;
mod caching;
mod failures;
mod graphiql;
mod hardening;
mod helpers;
mod http;
mod observability;
mod operations;
mod resilience;
mod schema;
mod security;
mod shapes;
mod tls;
mod transport;
mod values;
