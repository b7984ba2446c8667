//! delivery-gateway: a GraphQL composition server for a food-delivery app. One
//! query replaces the sixteen REST calls of the app's home screen: resolvers call
//! the upstream services concurrently and DataLoaders batch the per-item calls.
//!
//! # Layout
//!
//! In reading order, each part with what it may use (the arrows run one way):
//!
//! - [`app`]: the composition root. Reads nothing itself; wires the configuration
//!   into the upstream clients, the caches, the embedded demo and the server, and
//!   runs until a shutdown signal. Uses everything below.
//! - [`server`]: HTTP. Routing, GraphQL over HTTP (`server::endpoint`: reading a
//!   request, the policy chain, writing the answer), limits, persisted queries,
//!   browsers (CORS, CSRF), GraphiQL, health and metrics. Uses `graphql` through
//!   one seam ([`graphql::Executor`]), `auth`, `graphiql`, `telemetry`, `config`,
//!   and `upstream` only to start a request's upstream context.
//! - [`graphql`]: the schema. Types and resolvers, the per-request DataLoader,
//!   the plans that answer menus and restaurant lists fast, and the pass that
//!   shapes every answer as the spec says (`graphql::shape`). Uses `upstream`;
//!   never builds a URL or touches HTTP.
//! - [`upstream`]: one typed client per service of the contract, batching,
//!   retries, circuit breakers, coalescing and the entity cache (memory and
//!   Redis). Uses `contract` and `telemetry`'s metrics; knows nothing of GraphQL
//!   or axum.
//! - [`auth`]: bearer tokens (HS256 or a JWKS). Uses `config` and `contract`.
//! - [`telemetry`]: logs, traces (OTLP) and metrics. Uses `config`.
//! - [`graphiql`]: the self-hosted GraphiQL page and its assets. Uses nothing.
//! - [`demo`]: the demo upstream services, a separate world that implements the
//!   contract (`docs/upstreams.md`) with deterministic data, faults and counters.
//!   Uses `contract` only.
//! - [`config`]: one typed, validated configuration. Uses `contract` only.
//! - [`contract`]: the services by name and the ids of their records, shared by
//!   the gateway, its configuration and the demo. Uses nothing.
pub mod app;
pub mod auth;
pub mod config;
pub mod contract;
pub mod demo;
pub mod graphiql;
pub mod graphql;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod upstream;
