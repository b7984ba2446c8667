//! Integration tests: the demo upstreams and the gateway run in-process on
//! ephemeral ports and the tests speak HTTP to both. Upstream call counts come
//! from the demo's `/_admin/stats`: they are the proof of batching.
//!
//! `TEST_LOG=1 cargo test` shows the gateway's logs.

mod auth;
mod batches;
mod caching;
mod docs;
mod failures;
mod graphiql;
mod hardening;
mod hardening_server;
mod hardening_upstream;
mod helpers;
mod http;
mod mutations;
mod observability;
mod operations;
mod resilience;
mod schema;
mod security;
mod shapes;
mod subscriptions;
mod tls;
mod transport;
mod values;
