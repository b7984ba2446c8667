//! The gateway's configuration: one typed struct, read once at start.
//!
//! Sources, later ones winning: defaults in code, an optional TOML file
//! (`--config FILE`), then environment variables `GATEWAY_<SECTION>__<KEY>`
//! (e.g. `GATEWAY_AUTH__JWT_SECRET`, `GATEWAY_UPSTREAMS__BASE_URL`). Unknown keys in
//! the file are rejected; `GATEWAY_*` variables that name no key (Kubernetes sets
//! `GATEWAY_PORT`, `GATEWAY_SERVICE_HOST`, ... for a Service named `gateway`) are
//! set aside and reported by name (see [`Loaded::ignored_env`]). [`Config::validate`]
//! names the key of every bad value. Tests build `Config` values in code, or read a
//! given list of variables ([`Config::read`]), and never touch the process environment.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::contract::Service;

mod env;

/// The prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "GATEWAY_";

/// The development JWT secret. Fine on a laptop, never in production.
pub const DEVELOPMENT_JWT_SECRET: &str = "delivery-gateway-development-secret-change-me";

/// Everything the gateway can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// Where the upstream services are and how to call them.
    pub upstreams: UpstreamsConfig,
    /// Who may ask for private data.
    pub auth: AuthConfig,
    /// The GraphQL schema's knobs.
    pub graphql: GraphqlConfig,
    /// Operation limits: what one request may ask for.
    pub limits: LimitsConfig,
    /// Browser safety: CSRF prevention and CORS.
    pub browser: BrowserConfig,
    /// The entity cache, coalescing and the shared Redis tier.
    pub cache: CacheConfig,
    /// Automatic persisted queries and the safelist.
    pub persisted_queries: PersistedQueriesConfig,
    /// The embedded demo upstreams, used when no upstream URL is configured.
    pub demo: DemoSettings,
    /// Logging.
    pub log: LogConfig,
    /// Traces, metrics and the upstream waterfall.
    pub telemetry: TelemetryConfig,
    /// Live orders: subscriptions over WebSocket and Server-Sent Events.
    pub subscriptions: SubscriptionsConfig,
}

/// Live orders: how orders are polled for subscribers, and the limits on
/// subscriptions (see `docs/live-orders.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionsConfig {
    /// How often a followed order is read (call 17, with `If-None-Match`): one
    /// poll per (user, order) for the whole process, however many subscribers.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Failed polls in a row after which the subscription ends with an error.
    pub max_poll_failures: u32,
    /// Subscriptions open at once on one WebSocket.
    pub max_per_connection: usize,
    /// WebSocket connections and SSE streams open at once per user.
    pub max_connections_per_user: usize,
    /// Subscriptions open at once in the whole process.
    pub max_open: usize,
    /// Time a WebSocket gets to send `connection_init`.
    #[serde(with = "humantime_serde")]
    pub init_timeout: Duration,
    /// How often an idle WebSocket is pinged, and an SSE stream sent a comment.
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            max_poll_failures: 5,
            max_per_connection: 20,
            max_connections_per_user: 5,
            max_open: 10_000,
            init_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Serve the GraphiQL playground at `GET /graphql` to browsers.
    pub graphiql: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time that requests in flight get to finish after a shutdown signal.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Deadline of a GraphQL request: its answer goes out by then, with an error on
    /// each field still waiting. A client may ask for less with the header
    /// `X-Request-Timeout-Ms`, never for more.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// GraphQL requests in flight at most; past it, `503` with `Retry-After`.
    pub max_in_flight: usize,
    /// GraphQL requests executing at once, at most; the others in flight wait for
    /// a turn within their deadline. `0` (the default) adapts the limit to the
    /// CPU: it shrinks while the runtime's workers are all busy (more at once would
    /// only wait longer for them, holding memory) and grows while they have time
    /// to spare and requests wait, between `server.min_executing` and
    /// `server.max_in_flight`. A number fixes it.
    pub max_executing: usize,
    /// The adaptive executing limit's floor: `0` (the default) is 8 per worker
    /// thread.
    pub min_executing: usize,
    /// `development` or `production`: production refuses the development JWT
    /// secret, turns field suggestions off and introspection off except for a
    /// secret header or a token scope.
    pub mode: Mode,
    /// Time a client has to send a request's headers; the connection is closed
    /// past it (slow-header clients).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's whole body, counted from its
    /// headers (a deadline, not an idle timeout per frame); `408` and the
    /// connection closed past it. A request takes a `max_in_flight` slot only
    /// once its body has arrived.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// After SIGTERM: `/health/ready` answers `503` at once, and new connections are
    /// still accepted for this long (while balancers notice), before the listener
    /// closes and the requests in flight get `server.shutdown_grace` to finish.
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    /// Proxies (addresses or CIDR blocks, e.g. `10.0.0.0/8`) whose `X-Forwarded-For`
    /// is believed: the client's address is the last one in it that is not a trusted
    /// proxy. From anyone else the header is ignored and the peer's address is used.
    pub trusted_proxies: Vec<String>,
    /// Response compression.
    pub compression: CompressionConfig,
    /// Threads of the async runtime that serves requests and calls the upstreams:
    /// `0` is one per CPU the process may use (tokio's default). `1` saves the
    /// hand-offs between threads (less CPU per query at light load) but serves
    /// on one CPU only; docs/performance.md ("Worker threads") has the figures.
    pub worker_threads: usize,
}

/// Response compression, negotiated by `Accept-Encoding` (zstd, then gzip, then br).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    /// Compress responses at all.
    pub enabled: bool,
    /// Smallest response body compressed, in bytes.
    pub min_bytes: u16,
    /// gzip level, 1 (fastest) to 9.
    pub gzip_level: u32,
    /// Brotli quality, 0 (fastest) to 11.
    pub br_level: u32,
    /// zstd level, 1 (fastest) to 19.
    pub zstd_level: u32,
}

/// Extra trust and a client certificate for one kind of outbound TLS connection.
/// The platform's roots are always trusted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFiles {
    /// A PEM file of CA certificates trusted besides the platform's.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) for mutual TLS; with `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
}

/// What the gateway runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// On a developer's machine: introspection and suggestions on.
    #[default]
    Development,
    /// Facing the internet: the schema locked down, a real secret or key required.
    Production,
}

/// Operation limits. Past one, a request error whose `extensions.code` names it,
/// and nothing is executed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest document, in characters (`DOCUMENT_TOO_LONG`).
    pub max_document_chars: usize,
    /// Most lexical tokens in a document (`TOO_MANY_TOKENS`).
    pub max_tokens: usize,
    /// Deepest nesting of fields (`QUERY_TOO_DEEP`).
    pub max_depth: usize,
    /// Most aliases, fragments expanded (`TOO_MANY_ALIASES`).
    pub max_aliases: usize,
    /// Most root fields of an operation (`TOO_MANY_ROOT_FIELDS`).
    pub max_root_fields: usize,
    /// Most directives anywhere, fragments expanded (`TOO_MANY_DIRECTIVES`).
    pub max_directives: usize,
    /// Highest complexity: one per field, a selection multiplied by its field's
    /// `first` (`QUERY_TOO_COMPLEX`).
    pub max_complexity: usize,
    /// Most errors one response carries; the rest become one summary error.
    pub max_errors: usize,
    /// Most operations in a batched request (a JSON array); `0` refuses batches
    /// (`BATCHING_NOT_SUPPORTED`).
    pub max_batch: usize,
}

/// Browser safety.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// Refuse a `GET` query that a browser could send without a preflight: it
    /// must carry a non-simple header (`Content-Type: application/json` or one of
    /// `csrf_headers`), else `400 CSRF_PREVENTED`.
    pub csrf_prevention: bool,
    /// Headers that mark a request as sent by a script, not a form or a link
    /// (lower case).
    pub csrf_headers: Vec<String>,
    /// Origins allowed to call the gateway from a browser (`https://app.example`),
    /// with credentials. Empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// How long a browser may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub cors_max_age: Duration,
}

/// Where the upstream services are and how to call them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamsConfig {
    /// One base URL for all thirteen services, each under a path named after it
    /// (`{base_url}/restaurants`), as the demo serves them.
    pub base_url: Option<Url>,
    /// A base URL per service (`users`, `orders`, `geo`, ...), overriding `base_url`.
    pub services: BTreeMap<String, Url>,
    /// Time allowed to open a connection to an upstream.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for one upstream call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Idle keep-alive connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
    /// Largest answer read from an upstream, in bytes.
    pub max_response_bytes: usize,
    /// Calls in flight to one service at most.
    pub max_concurrency: usize,
    /// How long a call waits for a place past `max_concurrency` before failing.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Retries of failed calls.
    pub retry: RetryConfig,
    /// Circuit breakers, one per service.
    pub breaker: BreakerConfig,
    /// Settings of one service that differ from the above (`upstreams.overrides.menus.timeout`).
    pub overrides: BTreeMap<String, ServiceOverride>,
    /// TLS to `https` upstreams: an extra CA, a client certificate.
    pub tls: TlsFiles,
}

/// Retries of failed upstream calls: connection failures, timeouts, 502/503/504.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per call at most, the first included (1 turns retries off).
    pub max_attempts: u32,
    /// First backoff; doubles with each retry, fully jittered.
    #[serde(with = "humantime_serde")]
    pub base_backoff: Duration,
    /// Longest backoff, and the longest `Retry-After` honoured.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Retries allowed as a share of a service's calls (0 to 1).
    pub budget_ratio: f32,
    /// Retries allowed per second and service whatever the traffic.
    pub min_per_second: u32,
    /// Window of the retry budget.
    #[serde(with = "humantime_serde")]
    pub budget_window: Duration,
}

/// A circuit breaker per service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// The breaker opens when fewer than this share of calls succeed (0 to 1).
    pub required_success_rate: f64,
    /// ... over at least this many calls ...
    pub min_calls: u32,
    /// ... within this window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long it stays open before letting calls through again.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
}

/// Settings of one service that differ from the `upstreams` defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceOverride {
    /// Time to open a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Time for one call.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Calls in flight at most.
    pub max_concurrency: Option<usize>,
}

/// Who may ask for private data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret that bearer tokens are signed with (at least 32 bytes).
    pub jwt_secret: String,
    /// Tolerance for clock skew when checking `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Lifetime of the tokens that `delivery-gateway token` mints.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// The one algorithm tokens must be signed with: `HS256` (with `jwt_secret`),
    /// `RS256` or `ES256` (with `public_key_file` or `jwks_url`).
    pub algorithm: JwtAlgorithm,
    /// PEM file of the public key for `RS256` / `ES256`.
    pub public_key_file: Option<PathBuf>,
    /// URL of a JSON Web Key Set for `RS256` / `ES256`, fetched at start, on a
    /// timer and when a token names an unknown `kid`.
    pub jwks_url: Option<Url>,
    /// How often the key set is fetched again.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// Shortest time between two fetches caused by unknown `kid`s.
    #[serde(with = "humantime_serde")]
    pub jwks_cooldown: Duration,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub audience: Option<String>,
    /// TLS to an `https` `auth.jwks_url`: an extra CA, a client certificate.
    pub jwks_tls: TlsFiles,
}

/// A JWT signature algorithm the gateway accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with a shared secret.
    #[default]
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// The GraphQL schema's knobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlConfig {
    /// The largest `first` a connection accepts.
    pub max_page_size: u32,
    /// Answer introspection queries.
    pub introspection: bool,
    /// Longest time a DataLoader waits to gather keys into one batch.
    #[serde(with = "humantime_serde")]
    pub batch_delay: Duration,
    /// In production: the header that carries `introspection_secret`.
    pub introspection_header: String,
    /// In production: a request with this value in `introspection_header` may
    /// introspect. None: no header allows it.
    pub introspection_secret: Option<String>,
    /// In production: a token whose `scope` claim holds this scope may introspect.
    pub introspection_scope: Option<String>,
}

/// The entity cache below the DataLoader, single-flight coalescing, and the Redis
/// tier that replicas share (also used for persisted queries).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache public upstream entities at all.
    pub enabled: bool,
    /// Bound of the in-memory tier, in bytes (of the entities' JSON).
    pub max_bytes: u64,
    /// Redis URL (`redis://127.0.0.1:6379`) of the tier replicas share; none: memory only.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key the gateway writes (one per deployment or test).
    pub redis_prefix: String,
    /// Longest time a Redis operation may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// Longest time a request waits for a Redis read (at most `redis_timeout`,
    /// never past the request's deadline). A slower read counts as Redis failing,
    /// so a Redis that is slow but under `redis_timeout` is skipped (one probe a
    /// second) instead of slowing every cache miss.
    #[serde(with = "humantime_serde")]
    pub redis_read_timeout: Duration,
    /// How long past its freshness an entry is kept, to be served (flagged stale)
    /// when its upstream fails.
    #[serde(with = "humantime_serde")]
    pub stale_window: Duration,
    /// Share identical upstream calls in flight (public ones, or one user's own).
    pub coalesce: bool,
    /// Freshness per service (`cache.ttl.menus = "30s"`) instead of the upstream's
    /// `max-age`; `"0s"` stops caching that service. Private answers are never cached.
    pub ttl: BTreeMap<String, humantime_serde::Serde<Duration>>,
    /// TLS to a `rediss://` `cache.redis_url`: an extra CA, a client certificate.
    pub redis_tls: TlsFiles,
}

/// Apollo automatic persisted queries, and the safelist for production.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersistedQueriesConfig {
    /// Accept Apollo APQ registrations (`extensions.persistedQuery`).
    pub apq: bool,
    /// Only operations of `manifest` may run (`enforce`), or runs of others are
    /// logged (`log`), or no safelist (`off`).
    pub safelist: SafelistMode,
    /// Apollo persisted-query manifest (JSON: `{"operations": [{"id", "body"}]}`).
    pub manifest: Option<std::path::PathBuf>,
    /// Bound of the in-memory store of registered documents, in bytes (each entry
    /// weighs its hash, its text and a fixed overhead).
    pub max_bytes: u64,
    /// How long Redis keeps a registered document (at most 30 days).
    #[serde(with = "humantime_serde")]
    pub redis_ttl: Duration,
    /// Registrations one replica writes to Redis per minute, at most; past it a
    /// registration is kept in that replica's memory only. `0`: never written.
    /// Only documents that passed the operation limits are written, so Redis holds
    /// at most this many times `redis_ttl` in minutes documents of at most
    /// `limits.max_document_chars` characters per replica.
    pub redis_writes_per_minute: u32,
}

/// What the safelist does with an operation that is not in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SafelistMode {
    /// No safelist: any operation runs.
    Off,
    /// Runs it and logs a warning (for rolling a safelist out).
    Log,
    /// Refuses it (`PERSISTED_QUERY_NOT_IN_SAFELIST`).
    Enforce,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 64 * 1024 * 1024,
            redis_url: None,
            redis_prefix: "dg:".to_owned(),
            redis_timeout: Duration::from_millis(100),
            redis_read_timeout: Duration::from_millis(20),
            stale_window: Duration::from_secs(300),
            coalesce: true,
            ttl: BTreeMap::new(),
            redis_tls: TlsFiles::default(),
        }
    }
}

impl Default for PersistedQueriesConfig {
    fn default() -> Self {
        Self {
            apq: true,
            safelist: SafelistMode::Off,
            manifest: None,
            max_bytes: 16 * 1024 * 1024,
            redis_ttl: Duration::from_secs(24 * 3600),
            redis_writes_per_minute: 10,
        }
    }
}

/// The embedded demo upstreams.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    /// Seed of the demo's data.
    pub seed: u64,
    /// Latency the demo adds to every call.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Put a token for this demo user in GraphiQL's headers pane.
    pub graphiql_user: u64,
    /// Speed of the demo clock that placed orders move on (0 to 1,000; 10 by
    /// default, so a courier moves within a minute in GraphiQL). `POST
    /// /_admin/reset` sets it to 1, as the upstream contract says.
    pub clock_speed: f64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter directives, e.g. `info` or `delivery_gateway=debug`.
    /// `RUST_LOG` wins when set.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

/// Traces, metrics and the upstream waterfall (see the README, "Observing it").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Where to send OpenTelemetry traces over OTLP/HTTP (protobuf), e.g.
    /// `http://127.0.0.1:4318` (`/v1/traces` is appended to a bare host). Unset: no
    /// exporter, no OpenTelemetry layer, no cost.
    pub otlp_endpoint: Option<Url>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces sampled (0 to 1); a sampled `traceparent` from the client
    /// is always followed.
    pub sampling_ratio: f64,
    /// Serve `GET /metrics` (Prometheus text format).
    pub metrics: bool,
    /// Serve `GET /metrics` on this address (an admin port, off the public
    /// listener) instead of `server.listen`. Recommended in production: the
    /// metrics name operations, upstream routes and error rates.
    pub metrics_listen: Option<SocketAddr>,
    /// Pass a client's `traceparent`, `tracestate` and `X-Request-Id` on to the
    /// upstreams (and let a sampled `traceparent` parent the gateway's spans).
    /// Unset: trusted in development, not in production, where clients are the
    /// internet: a client could set the ids that upstream logs are searched by,
    /// and force trace sampling (and export) with a sampled `traceparent`.
    /// Untrusted, the headers are dropped at the edge and the gateway makes its
    /// own request id (sent back in `X-Request-Id`). Set `true` behind a proxy of
    /// yours that sets them.
    pub trust_client_trace: Option<bool>,
    /// Who may ask for `extensions.upstream` (the upstream waterfall) with the
    /// request header `X-Upstream-Trace`.
    pub upstream_trace: UpstreamTrace,
    /// The value `X-Upstream-Trace` must carry when `upstream_trace` is
    /// `header-secret` (at least 16 bytes).
    pub upstream_trace_secret: Option<String>,
    /// Operation names that get a metric label of their own (with the names of
    /// the `persisted_queries.manifest`'s operations); every other name is
    /// counted as `other`, so clients cannot choose labels.
    pub operation_labels: Vec<String>,
    /// TLS to an `https` `telemetry.otlp_endpoint`: an extra CA, a client certificate.
    pub otlp_tls: TlsFiles,
}

/// Who may see the upstream waterfall. It names internal routes, so production
/// should say `off` or `header-secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTrace {
    /// Anyone who sends `X-Upstream-Trace: 1` (development; GraphiQL sends it).
    On,
    /// Nobody: the header is ignored.
    Off,
    /// Whoever sends `X-Upstream-Trace: <telemetry.upstream_trace_secret>`.
    HeaderSecret,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            graphiql: true,
            max_body_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
            request_timeout: Duration::from_secs(2),
            max_in_flight: 1024,
            max_executing: 0,
            min_executing: 0,
            mode: Mode::Development,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            drain_delay: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            compression: CompressionConfig::default(),
            worker_threads: 0,
        }
    }
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_bytes: 1024,
            gzip_level: 1,
            br_level: 4,
            zstd_level: 3,
        }
    }
}

impl Default for UpstreamsConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            services: BTreeMap::new(),
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
            pool_max_idle_per_host: 64,
            max_response_bytes: 8 * 1024 * 1024,
            max_concurrency: 256,
            queue_timeout: Duration::from_millis(50),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            overrides: BTreeMap::new(),
            tls: TlsFiles::default(),
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            // Four attempts: at a 20 % failure rate, three leave 1.6 % of twice-
            // called screens incomplete (98.4 %, no margin), four 0.3 %. They
            // cost nothing while a service is down: no retries are taken then.
            max_attempts: 4,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(250),
            // A 20 % failure rate needs 0.2 + 0.04 + 0.008 = 0.25 retries per
            // call; tower's budget allows 1 / floor(1 / ratio), so 0.33 allows a
            // third (0.2 allowed a quarter: no headroom).
            budget_ratio: 0.33,
            min_per_second: 5,
            budget_window: Duration::from_secs(10),
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            required_success_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_millis(500),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: DEVELOPMENT_JWT_SECRET.to_owned(),
            leeway: Duration::from_secs(30),
            token_ttl: Duration::from_secs(12 * 3600),
            algorithm: JwtAlgorithm::HS256,
            public_key_file: None,
            jwks_url: None,
            jwks_refresh: Duration::from_secs(300),
            jwks_cooldown: Duration::from_secs(10),
            issuer: None,
            audience: None,
            jwks_tls: TlsFiles::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_document_chars: 16_384,
            max_tokens: 2_000,
            max_depth: 15,
            max_aliases: 30,
            max_root_fields: 10,
            max_directives: 20,
            max_complexity: 10_000,
            max_errors: 50,
            max_batch: 0,
        }
    }
}

impl Default for BrowserConfig {
    fn default() -> Self {
        Self {
            csrf_prevention: true,
            csrf_headers: [
                "apollo-require-preflight",
                "x-apollo-operation-name",
                "x-requested-with",
                "graphql-require-preflight",
            ]
            .map(String::from)
            .to_vec(),
            cors_origins: Vec::new(),
            cors_max_age: Duration::from_secs(600),
        }
    }
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_page_size: 100,
            introspection: true,
            batch_delay: Duration::from_millis(1),
            introspection_header: "x-introspection-secret".to_owned(),
            introspection_secret: None,
            introspection_scope: None,
        }
    }
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            seed: crate::contract::DEFAULT_DEMO_SEED,
            latency: Duration::from_millis(20),
            graphiql_user: 42,
            clock_speed: 10.0,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "delivery-gateway".to_owned(),
            sampling_ratio: 1.0,
            metrics: true,
            metrics_listen: None,
            trust_client_trace: None,
            upstream_trace: UpstreamTrace::On,
            upstream_trace_secret: None,
            // The app's own operations (schema/operations/).
            operation_labels: ["HomeScreen", "Nearby", "Restaurant"].map(String::from).to_vec(),
            otlp_tls: TlsFiles::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

/// `T` read from `figment`'s merged values by way of one JSON tree.
///
/// figment's own deserialiser takes each struct through its "magic" types too, so it
/// compiled every visitor of [`Config`] six times (figment's code and those visitors
/// were 10 % of the library's LLVM IR, in the serial part of every build). Through
/// the tree they are compiled once (7.4 % less IR in all), and
/// [`Unreadable::into_figment`] gives an error figment's form: the key, and the
/// file or variable that set it.
fn extract<T: serde::de::DeserializeOwned>(figment: &Figment) -> Result<T, Unreadable> {
    let tree: serde_json::Value = figment.extract().map_err(|e| Unreadable::Figment(Box::new(e)))?;
    serde_path_to_error::deserialize(tree).map_err(|error| {
        let path: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = error.into_inner().to_string();
        // The path ends with the unknown field's own name.
        let unknown_field = message.starts_with("unknown field `");
        Unreadable::Value {
            path,
            message,
            unknown_field,
        }
    })
}

/// Why [`extract`] failed.
#[derive(Debug)]
enum Unreadable {
    /// figment could not merge its sources (a TOML file that does not parse).
    Figment(Box<figment::Error>),
    /// A value does not fit its key.
    Value {
        /// The key, one segment a level (an array's index as its number).
        path: Vec<String>,
        /// serde's message.
        message: String,
        /// The key names no field.
        unknown_field: bool,
    },
}

impl Unreadable {
    /// Whether the key of an unknown field lies within `path` (or is `path`).
    fn unknown_field_within(&self, path: &[String]) -> bool {
        match self {
            Unreadable::Figment(_) => false,
            Unreadable::Value {
                path: key,
                unknown_field,
                ..
            } => *unknown_field && path.starts_with(key),
        }
    }

    /// The error as figment writes it: `{message} for key "default.{key}" in {source}`,
    /// the source being the provider that set the key (or its nearest parent).
    fn into_figment(self, figment: &Figment) -> figment::Error {
        let (path, message) = match self {
            Unreadable::Figment(error) => return *error,
            Unreadable::Value { path, message, .. } => (path, message),
        };
        let metadata = (0..=path.len())
            .rev()
            .find_map(|len| figment.find_metadata(&path[..len].join(".")))
            .cloned();
        let mut error = figment::Error::from(message);
        error.profile = Some(figment::Profile::Default);
        error.metadata = metadata;
        error.path = path;
        error
    }
}

/// A configuration value that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or the environment could not be read into [`Config`].
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value was read but is not usable.
    #[error("configuration key `{key}`: {message}")]
    Invalid {
        /// The dotted key, e.g. `auth.jwt_secret`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// `server.mode = "production"` without settings it has no safe default for.
    #[error("{}", production_unset_message(.0))]
    ProductionUnset(Vec<Unset>),
}

/// A key that production mode needs set, with the variable that sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unset {
    /// The dotted key, e.g. `auth.jwt_secret`.
    pub key: &'static str,
    /// Its environment variable, e.g. `GATEWAY_AUTH__JWT_SECRET`.
    pub variable: &'static str,
    /// What to set it to.
    pub what: &'static str,
}

fn production_unset_message(missing: &[Unset]) -> String {
    let mut message = String::from("server.mode is \"production\", which needs these set:");
    for unset in missing {
        message.push_str(&format!("\n  {} ({}): {}", unset.variable, unset.key, unset.what));
    }
    message
}

/// The most names `telemetry.operation_labels` may give a metric label of their own.
pub const MAX_OPERATION_LABELS: usize = 64;

/// The most threads `server.worker_threads` may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;

/// Whether `name` is a GraphQL operation name (`[_A-Za-z][_0-9A-Za-z]*`) of at most
/// 64 characters: what may become a metric label.
pub fn is_operation_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A configuration as read, before command-line overrides and validation.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Names of the `GATEWAY_*` variables that name no configuration key, sorted
    /// (values left out: they may be secrets). See [`Loaded::warn_ignored`].
    pub ignored_env: Vec<String>,
}

impl Loaded {
    /// Logs one warning listing [`Loaded::ignored_env`], if any (call it once
    /// logging is set up).
    pub fn warn_ignored(&self) {
        if !self.ignored_env.is_empty() {
            tracing::warn!(
                variables = %self.ignored_env.join(", "),
                "ignoring {} environment variable(s) that start with {ENV_PREFIX} but name no configuration key (keys are {ENV_PREFIX}<SECTION>__<KEY>)",
                self.ignored_env.len()
            );
        }
    }
}

impl Config {
    /// Reads defaults, then `file` if given, then the process's `GATEWAY_*`
    /// variables, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let loaded = Config::read(file, process_env())?;
        loaded.config.validate()?;
        Ok(loaded)
    }

    /// Reads defaults, then `file` if given, then those of `vars` that start with
    /// [`ENV_PREFIX`], without validating (the caller applies command-line
    /// overrides, then calls [`Config::validate`]). Variables with the prefix that
    /// name no key are set aside in [`Loaded::ignored_env`]; an unknown key in the
    /// file, or a bad value for a known key, is an error.
    pub fn read(file: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, ConfigError> {
        Config::read_vars(file, vars.into_iter().collect())
    }

    /// [`Config::read`] without its generic argument: figment's deserialisers are
    /// compiled here once, in the library, not again in every crate that reads a
    /// configuration (the binary, each test target): their copy was 58 % of the
    /// binary's LLVM IR (`cargo llvm-lines --release --bin delivery-gateway`).
    fn read_vars(file: Option<&Path>, vars: Vec<(String, String)>) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(invalid("--config", format!("file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        let (env, ignored_env) = env::EnvVars::split::<Config>(ENV_PREFIX, vars);
        let figment = figment.merge(env);
        let config: Config = extract(&figment).map_err(|error| Box::new(error.into_figment(&figment)))?;
        Ok(Loaded { config, ignored_env })
    }

    /// Checks every value that types alone do not; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_production()?;
        let live = &self.subscriptions;
        if live.poll_interval < Duration::from_millis(10) {
            return Err(invalid("subscriptions.poll_interval", "must be at least 10ms"));
        }
        if live.max_poll_failures == 0 {
            return Err(invalid("subscriptions.max_poll_failures", "must be at least 1"));
        }
        if live.max_per_connection == 0 || live.max_connections_per_user == 0 || live.max_open == 0 {
            return Err(invalid(
                "subscriptions.max_*",
                "every subscription limit must be at least 1",
            ));
        }
        if live.init_timeout.is_zero() || live.keep_alive.is_zero() {
            return Err(invalid(
                "subscriptions.init_timeout",
                "the init timeout and the keep-alive must be longer than zero",
            ));
        }
        if self.auth.jwt_secret.len() < 32 {
            return Err(invalid("auth.jwt_secret", "must be at least 32 bytes long"));
        }
        if self.auth.token_ttl.is_zero() {
            return Err(invalid("auth.token_ttl", "must be longer than zero"));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if !(1..=1000).contains(&self.graphql.max_page_size) {
            return Err(invalid("graphql.max_page_size", "must be between 1 and 1000"));
        }
        if self.graphql.batch_delay > Duration::from_millis(100) {
            return Err(invalid("graphql.batch_delay", "must be at most 100ms"));
        }
        for (key, timeout) in [
            ("upstreams.connect_timeout", self.upstreams.connect_timeout),
            ("upstreams.timeout", self.upstreams.timeout),
        ] {
            if timeout.is_zero() || timeout > Duration::from_secs(60) {
                return Err(invalid(key, "must be between 1ms and 60s"));
            }
        }
        if !(0.0..=crate::contract::MAX_CLOCK_SPEED).contains(&self.demo.clock_speed) {
            return Err(invalid("demo.clock_speed", "must be between 0 and 1000"));
        }
        self.validate_resilience()?;
        self.validate_caching()?;
        self.validate_telemetry()?;
        let known: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        for (name, over) in &self.upstreams.overrides {
            let key = format!("upstreams.overrides.{name}");
            if !known.contains(&name.as_str()) {
                return Err(invalid(key, format!("unknown service; known: {}", known.join(", "))));
            }
            for (field, value) in [("connect_timeout", over.connect_timeout), ("timeout", over.timeout)] {
                if value.is_some_and(|t| t.is_zero() || t > Duration::from_secs(60)) {
                    return Err(invalid(format!("{key}.{field}"), "must be between 1ms and 60s"));
                }
            }
            if over.max_concurrency == Some(0) {
                return Err(invalid(format!("{key}.max_concurrency"), "must be at least 1"));
            }
        }
        for (name, url) in &self.upstreams.services {
            let key = format!("upstreams.services.{name}");
            if !known.contains(&name.as_str()) {
                return Err(invalid(key, format!("unknown service; known: {}", known.join(", "))));
            }
            check_http_url(&key, url)?;
        }
        if let Some(url) = &self.upstreams.base_url {
            check_http_url("upstreams.base_url", url)?;
        }
        if !self.upstreams.services.is_empty() && self.upstreams.base_url.is_none() {
            let missing: Vec<&str> = known
                .iter()
                .copied()
                .filter(|n| !self.upstreams.services.contains_key(*n))
                .collect();
            if !missing.is_empty() {
                return Err(invalid(
                    "upstreams.services",
                    format!("no URL for {} (set them, or upstreams.base_url)", missing.join(", ")),
                ));
            }
        }
        self.validate_security()?;
        self.validate_transport()?;
        self.validate_log()
    }

    /// TLS files, trusted proxies, compression levels, the drain window.
    fn validate_transport(&self) -> Result<(), ConfigError> {
        for (section, files) in [
            ("upstreams.tls", &self.upstreams.tls),
            ("auth.jwks_tls", &self.auth.jwks_tls),
            ("cache.redis_tls", &self.cache.redis_tls),
            ("telemetry.otlp_tls", &self.telemetry.otlp_tls),
        ] {
            crate::tls::check_files(section, files).map_err(|(key, e)| invalid(key, e.to_string()))?;
        }
        for proxy in &self.server.trusted_proxies {
            if crate::server::IpBlock::parse(proxy).is_none() {
                return Err(invalid(
                    "server.trusted_proxies",
                    format!("`{proxy}` is not an IP address or CIDR block (e.g. 10.0.0.0/8)"),
                ));
            }
        }
        let c = &self.server.compression;
        for (key, value, min, max) in [
            ("server.compression.gzip_level", c.gzip_level, 1, 9),
            ("server.compression.br_level", c.br_level, 0, 11),
            ("server.compression.zstd_level", c.zstd_level, 1, 19),
        ] {
            if !(min..=max).contains(&value) {
                return Err(invalid(key, format!("must be between {min} and {max}")));
            }
        }
        if self.server.drain_delay > Duration::from_secs(120) {
            return Err(invalid("server.drain_delay", "must be at most 2m"));
        }
        if self.server.shutdown_grace > Duration::from_secs(600) {
            return Err(invalid("server.shutdown_grace", "must be at most 10m"));
        }
        Ok(())
    }

    /// Checks `log.level`: all that the `demo-upstreams` command reads besides the
    /// demo's seed.
    pub fn validate_log(&self) -> Result<(), ConfigError> {
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid("log.level", "not a valid tracing filter"));
        }
        Ok(())
    }

    /// Production mode needs what has no safe default: a secret of its own (with
    /// HS256) and the upstreams' URLs (it never starts the embedded demo, whose
    /// GraphiQL page would hand out tokens). Lists everything missing at once, so
    /// that one failed `docker run` says all there is to set.
    fn validate_production(&self) -> Result<(), ConfigError> {
        if self.server.mode != Mode::Production {
            return Ok(());
        }
        let mut missing = Vec::new();
        if self.auth.algorithm == JwtAlgorithm::HS256 && self.auth.jwt_secret == DEVELOPMENT_JWT_SECRET {
            missing.push(Unset {
                key: "auth.jwt_secret",
                variable: "GATEWAY_AUTH__JWT_SECRET",
                what: "a secret of your own, at least 32 bytes (`openssl rand -base64 48`); the default is public. Or auth.algorithm RS256/ES256 with auth.jwks_url or auth.public_key_file",
            });
        }
        if self.uses_embedded_demo() {
            missing.push(Unset {
                key: "upstreams.base_url",
                variable: "GATEWAY_UPSTREAMS__BASE_URL",
                what: "where the upstream services are (or each of upstreams.services.<name>); production never starts the embedded demo",
            });
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::ProductionUnset(missing))
        }
    }

    fn validate_telemetry(&self) -> Result<(), ConfigError> {
        let telemetry = &self.telemetry;
        if let Some(url) = &telemetry.otlp_endpoint {
            check_http_url("telemetry.otlp_endpoint", url)?;
        }
        if telemetry.service_name.trim().is_empty() {
            return Err(invalid("telemetry.service_name", "must not be empty"));
        }
        if !(0.0..=1.0).contains(&telemetry.sampling_ratio) {
            return Err(invalid("telemetry.sampling_ratio", "must be between 0 and 1"));
        }
        if telemetry.operation_labels.len() > MAX_OPERATION_LABELS {
            return Err(invalid(
                "telemetry.operation_labels",
                format!("must name at most {} operations", MAX_OPERATION_LABELS),
            ));
        }
        if let Some(name) = (telemetry.operation_labels.iter()).find(|n| !is_operation_name(n)) {
            return Err(invalid(
                "telemetry.operation_labels",
                format!("{name:?} is not a GraphQL operation name of at most 64 characters"),
            ));
        }
        if let Some(listen) = telemetry.metrics_listen
            && listen.port() == self.server.listen.port()
            && listen.port() != 0
            && (listen.ip() == self.server.listen.ip()
                || listen.ip().is_unspecified()
                || self.server.listen.ip().is_unspecified())
        {
            return Err(invalid(
                "telemetry.metrics_listen",
                format!("`{listen}` is server.listen's address; give the metrics a port of their own"),
            ));
        }
        let secret = telemetry.upstream_trace_secret.as_deref().unwrap_or("");
        if telemetry.upstream_trace == UpstreamTrace::HeaderSecret && secret.len() < 16 {
            return Err(invalid(
                "telemetry.upstream_trace_secret",
                "must be at least 16 bytes when telemetry.upstream_trace is \"header-secret\"",
            ));
        }
        if !secret.is_empty() && axum::http::HeaderValue::from_str(secret).is_err() {
            return Err(invalid(
                "telemetry.upstream_trace_secret",
                "must be printable ASCII (it is compared with a header)",
            ));
        }
        Ok(())
    }

    fn validate_resilience(&self) -> Result<(), ConfigError> {
        let (server, upstreams) = (&self.server, &self.upstreams);
        if server.request_timeout < Duration::from_millis(10) || server.request_timeout > Duration::from_secs(300) {
            return Err(invalid("server.request_timeout", "must be between 10ms and 300s"));
        }
        if server.max_in_flight == 0 {
            return Err(invalid("server.max_in_flight", "must be at least 1"));
        }
        if server.max_executing > server.max_in_flight {
            return Err(invalid(
                "server.max_executing",
                "must be at most server.max_in_flight (0 adapts it to the CPU)",
            ));
        }
        if server.min_executing > server.max_in_flight {
            return Err(invalid("server.min_executing", "must be at most server.max_in_flight"));
        }
        if server.worker_threads > MAX_WORKER_THREADS {
            return Err(invalid(
                "server.worker_threads",
                format!("must be at most {MAX_WORKER_THREADS} (0 is one per CPU)"),
            ));
        }
        if upstreams.max_response_bytes < 1024 {
            return Err(invalid("upstreams.max_response_bytes", "must be at least 1024"));
        }
        if upstreams.max_concurrency == 0 {
            return Err(invalid("upstreams.max_concurrency", "must be at least 1"));
        }
        let retry = &upstreams.retry;
        if !(1..=10).contains(&retry.max_attempts) {
            return Err(invalid("upstreams.retry.max_attempts", "must be between 1 and 10"));
        }
        if retry.base_backoff > retry.max_backoff {
            return Err(invalid(
                "upstreams.retry.base_backoff",
                "must not exceed upstreams.retry.max_backoff",
            ));
        }
        if !(0.0..=1.0).contains(&retry.budget_ratio) {
            return Err(invalid("upstreams.retry.budget_ratio", "must be between 0 and 1"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&retry.budget_window) {
            return Err(invalid("upstreams.retry.budget_window", "must be between 1s and 60s"));
        }
        let breaker = &upstreams.breaker;
        if !(0.0..=1.0).contains(&breaker.required_success_rate) {
            return Err(invalid(
                "upstreams.breaker.required_success_rate",
                "must be between 0 and 1",
            ));
        }
        if breaker.window < Duration::from_secs(1) || breaker.window > Duration::from_secs(600) {
            return Err(invalid("upstreams.breaker.window", "must be between 1s and 600s"));
        }
        if breaker.open_for.is_zero() {
            return Err(invalid("upstreams.breaker.open_for", "must be longer than zero"));
        }
        Ok(())
    }

    /// The keys of the security sections: auth, limits, browser, mode.
    fn validate_security(&self) -> Result<(), ConfigError> {
        let production = self.server.mode == Mode::Production;
        let auth = &self.auth;
        match auth.algorithm {
            JwtAlgorithm::HS256 => {
                // The development secret in production: `validate_production`.
                if auth.public_key_file.is_some() || auth.jwks_url.is_some() {
                    return Err(invalid(
                        "auth.algorithm",
                        "HS256 uses auth.jwt_secret, not a public key or JWKS",
                    ));
                }
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                if auth.public_key_file.is_some() == auth.jwks_url.is_some() {
                    return Err(invalid(
                        "auth.algorithm",
                        "RS256 and ES256 need exactly one of auth.public_key_file and auth.jwks_url",
                    ));
                }
                if let Some(file) = &auth.public_key_file {
                    let pem = std::fs::read(file)
                        .map_err(|e| invalid("auth.public_key_file", format!("{}: {e}", file.display())))?;
                    let key = match auth.algorithm {
                        JwtAlgorithm::ES256 => jsonwebtoken::DecodingKey::from_ec_pem(&pem),
                        _ => jsonwebtoken::DecodingKey::from_rsa_pem(&pem),
                    };
                    key.map_err(|e| {
                        invalid(
                            "auth.public_key_file",
                            format!(
                                "{} is not a {:?} public key in PEM: {e}",
                                file.display(),
                                auth.algorithm
                            ),
                        )
                    })?;
                }
            }
        }
        if let Some(url) = &auth.jwks_url
            && (!matches!(url.scheme(), "http" | "https") || url.host().is_none())
        {
            return Err(invalid("auth.jwks_url", format!("`{url}` is not an http(s) URL")));
        }
        if let Some(url) = &auth.jwks_url
            && production
            && url.scheme() == "http"
            && !is_loopback(url)
        {
            return Err(invalid(
                "auth.jwks_url",
                format!(
                    "production mode refuses a key set over plain http (`{url}`): anyone on the path could swap the keys and sign tokens for any user; use https (plain http only to a loopback address)"
                ),
            ));
        }
        if auth.jwks_refresh < Duration::from_secs(1) {
            return Err(invalid("auth.jwks_refresh", "must be at least 1s"));
        }
        if auth.leeway > Duration::from_secs(300) {
            return Err(invalid("auth.leeway", "must be at most 5m"));
        }
        for (key, value) in [("auth.issuer", &auth.issuer), ("auth.audience", &auth.audience)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(invalid(key, "must not be empty when set"));
            }
        }
        let l = &self.limits;
        for (key, value, min, max) in [
            ("limits.max_document_chars", l.max_document_chars, 64, 1 << 20),
            ("limits.max_tokens", l.max_tokens, 16, 100_000),
            ("limits.max_depth", l.max_depth, 2, 28),
            ("limits.max_aliases", l.max_aliases, 0, 10_000),
            ("limits.max_root_fields", l.max_root_fields, 1, 1_000),
            ("limits.max_directives", l.max_directives, 0, 10_000),
            ("limits.max_complexity", l.max_complexity, 10, 10_000_000),
            ("limits.max_errors", l.max_errors, 1, 10_000),
            ("limits.max_batch", l.max_batch, 0, 100),
        ] {
            if !(min..=max).contains(&value) {
                return Err(invalid(key, format!("must be between {min} and {max}")));
            }
        }
        if self.server.header_read_timeout.is_zero() || self.server.header_read_timeout > Duration::from_secs(120) {
            return Err(invalid("server.header_read_timeout", "must be between 1ms and 2m"));
        }
        if self.server.body_read_timeout.is_zero() || self.server.body_read_timeout > Duration::from_secs(120) {
            return Err(invalid("server.body_read_timeout", "must be between 1ms and 2m"));
        }
        let header_name = |key: &str, name: &str| {
            axum::http::HeaderName::from_bytes(name.as_bytes())
                .map(|_| ())
                .map_err(|_| invalid(key, format!("`{name}` is not a header name")))
        };
        header_name("graphql.introspection_header", &self.graphql.introspection_header)?;
        if self
            .graphql
            .introspection_secret
            .as_deref()
            .is_some_and(|s| s.len() < 16)
        {
            return Err(invalid(
                "graphql.introspection_secret",
                "must be at least 16 bytes long",
            ));
        }
        for name in &self.browser.csrf_headers {
            header_name("browser.csrf_headers", name)?;
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(invalid("browser.csrf_headers", format!("`{name}` must be lower case")));
            }
            if matches!(
                name.as_str(),
                "accept" | "accept-language" | "content-language" | "content-type" | "range"
            ) {
                return Err(invalid(
                    "browser.csrf_headers",
                    format!("`{name}` is a header browsers send without a preflight"),
                ));
            }
        }
        for origin in &self.browser.cors_origins {
            let ok = Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && !origin.ends_with('/')
                    && u.query().is_none()
            });
            if !ok {
                return Err(invalid(
                    "browser.cors_origins",
                    format!("`{origin}` is not an origin like `https://app.example` (no path, no `*`)"),
                ));
            }
        }
        Ok(())
    }

    fn validate_caching(&self) -> Result<(), ConfigError> {
        let cache = &self.cache;
        if cache.max_bytes < 1024 * 1024 {
            return Err(invalid("cache.max_bytes", "must be at least 1048576 (1 MiB)"));
        }
        if let Some(url) = &cache.redis_url
            && redis::Client::open(url.as_str()).is_err()
        {
            return Err(invalid(
                "cache.redis_url",
                "is not a Redis URL (redis://host:port[/db])",
            ));
        }
        if cache.redis_prefix.is_empty() {
            return Err(invalid("cache.redis_prefix", "must not be empty"));
        }
        if cache.redis_timeout.is_zero() || cache.redis_timeout > Duration::from_secs(5) {
            return Err(invalid("cache.redis_timeout", "must be between 1ms and 5s"));
        }
        if cache.redis_read_timeout.is_zero() || cache.redis_read_timeout > cache.redis_timeout {
            return Err(invalid(
                "cache.redis_read_timeout",
                "must be at least 1ms and at most cache.redis_timeout",
            ));
        }
        if cache.stale_window > Duration::from_secs(7 * 24 * 3600) {
            return Err(invalid("cache.stale_window", "must be at most 7 days"));
        }
        for (name, ttl) in &cache.ttl {
            if Service::from_name(name).is_none() {
                return Err(invalid(format!("cache.ttl.{name}"), "unknown service"));
            }
            if **ttl > Duration::from_secs(24 * 3600) {
                return Err(invalid(format!("cache.ttl.{name}"), "must be at most 24h"));
            }
        }
        let pq = &self.persisted_queries;
        if pq.max_bytes < 64 * 1024 {
            return Err(invalid("persisted_queries.max_bytes", "must be at least 65536"));
        }
        if pq.redis_ttl < Duration::from_secs(1) || pq.redis_ttl > Duration::from_secs(30 * 24 * 3600) {
            return Err(invalid("persisted_queries.redis_ttl", "must be between 1s and 30 days"));
        }
        if pq.redis_writes_per_minute > 6_000 {
            return Err(invalid(
                "persisted_queries.redis_writes_per_minute",
                "must be at most 6000",
            ));
        }
        // Whether the file is a manifest is checked where it is read
        // (`app::wire`): configuration knows no server types.
        if pq.manifest.is_none() && pq.safelist != SafelistMode::Off {
            return Err(invalid(
                "persisted_queries.manifest",
                "is required when persisted_queries.safelist is `log` or `enforce`",
            ));
        }
        Ok(())
    }

    /// Whether a client's `traceparent`, `tracestate` and `X-Request-Id` are
    /// passed on: `telemetry.trust_client_trace`, or by default only in development.
    pub fn trusts_client_trace(&self) -> bool {
        self.telemetry
            .trust_client_trace
            .unwrap_or(self.server.mode == Mode::Development)
    }

    /// Whether the gateway should start the demo upstreams itself (no URL configured).
    pub fn uses_embedded_demo(&self) -> bool {
        self.upstreams.base_url.is_none() && self.upstreams.services.is_empty()
    }

    /// The base URL of every service: its own entry, else `base_url/<name>`.
    /// `None` when nothing is configured (the embedded demo fills it in).
    pub fn service_urls(&self) -> Option<Vec<(Service, Url)>> {
        if self.uses_embedded_demo() {
            return None;
        }
        Service::ALL
            .iter()
            .map(|&service| {
                let url = match self.upstreams.services.get(service.name()) {
                    Some(url) => url.clone(),
                    None => service_url(self.upstreams.base_url.as_ref()?, service),
                };
                Some((service, url))
            })
            .collect()
    }
}

/// The process's environment variables (as text; figment reads them the same way).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
}

/// `base/<service>`: where the demo serves a service.
pub fn service_url(base: &Url, service: Service) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(service.name());
    }
    url
}

/// Whether `url` points at this host (`127.0.0.0/8`, `::1`, `localhost`), where
/// plain http does not cross a network.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn check_http_url(key: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid(key, format!("`{url}` is not an http(s) base URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(key, "must not have a query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_the_embedded_demo() {
        let config = Config::default();
        config.validate().unwrap();
        assert!(config.uses_embedded_demo());
        assert!(config.service_urls().is_none());
    }

    #[test]
    fn base_url_gives_every_service_its_own_path() {
        let mut config = Config::default();
        config.upstreams.base_url = Some("http://127.0.0.1:4001".parse().unwrap());
        let urls = config.service_urls().unwrap();
        assert_eq!(urls.len(), Service::ALL.len());
        assert!(
            urls.iter()
                .any(|(s, u)| *s == Service::Menus && u.as_str() == "http://127.0.0.1:4001/menus")
        );
    }

    #[test]
    fn the_demo_clock_runs_10_times_faster_by_default_and_at_most_1000() {
        let mut config = Config::default();
        assert_eq!(config.demo.clock_speed, 10.0);
        config.demo.clock_speed = 1_001.0;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("demo.clock_speed"), "{error}");
        config.demo.clock_speed = f64::NAN;
        assert!(config.validate().is_err());
        config.demo.clock_speed = 0.0;
        config.validate().unwrap();
    }

    #[test]
    fn a_short_secret_is_refused_by_name() {
        let mut config = Config::default();
        config.auth.jwt_secret = "short".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("auth.jwt_secret"), "{error}");
    }

    #[test]
    fn worker_threads_come_from_the_environment_and_are_bounded_by_name() {
        let vars = |value: &str| vec![("GATEWAY_SERVER__WORKER_THREADS".to_owned(), value.to_owned())];
        let config = Config::read(None, vars("1")).unwrap().config;
        assert_eq!(config.server.worker_threads, 1);
        config.validate().unwrap();
        assert_eq!(Config::default().server.worker_threads, 0, "0: one per CPU");
        let config = Config::read(None, vars("1025")).unwrap().config;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("server.worker_threads"), "{error}");
    }

    #[test]
    fn executing_limits_above_the_in_flight_cap_are_refused_by_name() {
        let mut config = Config::default();
        config.server.max_executing = config.server.max_in_flight + 1;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("server.max_executing"), "{error}");

        let mut config = Config::default();
        config.server.min_executing = config.server.max_in_flight + 1;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("server.min_executing"), "{error}");

        let mut config = Config::default();
        config.server.max_executing = config.server.max_in_flight;
        config.validate().unwrap();
    }

    #[test]
    fn an_unknown_service_is_refused_by_name() {
        let mut config = Config::default();
        config.upstreams.base_url = Some("http://127.0.0.1:4001".parse().unwrap());
        config
            .upstreams
            .services
            .insert("menu".into(), "http://127.0.0.1:1".parse().unwrap());
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("upstreams.services.menu"), "{error}");
    }

    #[test]
    fn a_partial_service_list_without_base_url_names_the_missing_ones() {
        let mut config = Config::default();
        config
            .upstreams
            .services
            .insert("menus".into(), "http://127.0.0.1:1".parse().unwrap());
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("upstreams.services") && error.contains("users"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("dg-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gateway.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:4000\"\nlisten_port = 1\n").unwrap();
        let error = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("listen_port"), "{error}");
    }

    /// What Kubernetes puts in every pod's environment for a Service named `gateway`
    /// listening on 4000, plus variables of other programs.
    fn kubernetes_env() -> Vec<(String, String)> {
        [
            ("GATEWAY_PORT", "tcp://10.96.0.17:4000"),
            ("GATEWAY_PORT_4000_TCP", "tcp://10.96.0.17:4000"),
            ("GATEWAY_PORT_4000_TCP_ADDR", "10.96.0.17"),
            ("GATEWAY_PORT_4000_TCP_PORT", "4000"),
            ("GATEWAY_PORT_4000_TCP_PROTO", "tcp"),
            ("GATEWAY_SERVICE_HOST", "10.96.0.17"),
            ("GATEWAY_SERVICE_PORT", "4000"),
            ("GATEWAY_SERVICE_PORT_HTTP", "4000"),
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("PATH", "/usr/local/bin:/usr/bin"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(mut vars: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        vars
    }

    #[test]
    fn kubernetes_service_variables_are_ignored_and_listed() {
        let vars = with(
            kubernetes_env(),
            &[
                ("GATEWAY_SERVER__LISTEN", "0.0.0.0:4000"),
                ("GATEWAY_UPSTREAMS__SERVICES__MENUS", "http://menus.internal"),
                ("GATEWAY_UPSTREAMS__BASE_URL", "http://upstreams.internal"),
                ("GATEWAY_CACHE__TTL__MENUS", "30s"),
                ("GATEWAY_LOG__FORMAT", "json"),
            ],
        );
        let loaded = Config::read(None, vars).unwrap();
        let config = &loaded.config;
        config.validate().unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:4000".parse().unwrap());
        assert_eq!(config.upstreams.services["menus"].as_str(), "http://menus.internal/");
        assert_eq!(*config.cache.ttl["menus"], Duration::from_secs(30));
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(
            loaded.ignored_env,
            [
                "GATEWAY_PORT",
                "GATEWAY_PORT_4000_TCP",
                "GATEWAY_PORT_4000_TCP_ADDR",
                "GATEWAY_PORT_4000_TCP_PORT",
                "GATEWAY_PORT_4000_TCP_PROTO",
                "GATEWAY_SERVICE_HOST",
                "GATEWAY_SERVICE_PORT",
                "GATEWAY_SERVICE_PORT_HTTP",
            ]
        );
    }

    #[test]
    fn a_variable_naming_no_key_inside_a_section_is_ignored_too() {
        let vars = with(
            Vec::new(),
            &[("GATEWAY_SERVER__LISTEN_PORT", "1"), ("GATEWAY__SERVER", "x")],
        );
        let loaded = Config::read(None, vars).unwrap();
        assert_eq!(loaded.ignored_env, ["GATEWAY_SERVER__LISTEN_PORT", "GATEWAY__SERVER"]);
        assert_eq!(loaded.config.server.listen, ServerConfig::default().listen);
    }

    #[test]
    fn a_bad_value_for_a_known_key_is_still_an_error_naming_its_variable() {
        for (name, value) in [
            ("GATEWAY_SERVER__LISTEN", "port 4000"),
            ("GATEWAY_SERVER__MODE", "staging"),
            ("GATEWAY_UPSTREAMS__TIMEOUT", "soon"),
            ("GATEWAY_UPSTREAMS__RETRY", "{max_attempts=2, typo=1}"),
        ] {
            let vars = with(kubernetes_env(), &[(name, value)]);
            let error = Config::read(None, vars).unwrap_err().to_string();
            assert!(error.contains(name), "{name}: {error}");
        }
    }

    #[test]
    fn unknown_keys_in_a_file_stay_an_error_whatever_the_environment() {
        let dir = std::env::temp_dir().join(format!("dg-config-k8s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gateway.toml");
        std::fs::write(&file, "[server]\nport = 4000\n").unwrap();
        let error = Config::read(Some(&file), kubernetes_env()).unwrap_err().to_string();
        assert!(error.contains("port") && error.contains("gateway.toml"), "{error}");
    }

    #[test]
    fn a_bad_value_in_a_file_names_its_key_and_the_file() {
        let dir = std::env::temp_dir().join(format!("dg-config-value-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (toml, key) in [
            ("[limits]\nmax_depth = -3\n", "\"default.limits.max_depth\""),
            // An array's element: the array's own key names its source.
            (
                "[server]\ntrusted_proxies = [1]\n",
                "\"default.server.trusted_proxies.0\"",
            ),
        ] {
            let file = dir.join("gateway.toml");
            std::fs::write(&file, toml).unwrap();
            let error = Config::read(Some(&file), Vec::new()).unwrap_err().to_string();
            assert!(
                error.contains(key) && error.contains("gateway.toml TOML file"),
                "{error}"
            );
        }
    }

    #[test]
    fn production_refuses_a_plain_http_key_set_by_name() {
        let mut config = Config::default();
        config.server.mode = Mode::Production;
        config.upstreams.base_url = Some("http://upstreams.internal".parse().unwrap());
        config.auth.algorithm = JwtAlgorithm::RS256;
        config.auth.jwks_url = Some("http://id.example/.well-known/jwks.json".parse().unwrap());
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("auth.jwks_url") && error.contains("https"), "{error}");

        for allowed in [
            "https://id.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks.json",
            "http://[::1]:8080/jwks.json",
            "http://localhost:8080/jwks.json",
        ] {
            config.auth.jwks_url = Some(allowed.parse().unwrap());
            config.validate().unwrap_or_else(|e| panic!("{allowed}: {e}"));
        }
        // Development keeps plain http, for a local identity provider.
        config.server.mode = Mode::Development;
        config.auth.jwks_url = Some("http://id.example/.well-known/jwks.json".parse().unwrap());
        config.validate().unwrap();
    }

    #[test]
    fn production_lists_every_missing_setting_by_key_and_variable() {
        let mut config = Config::default();
        config.server.mode = Mode::Production;
        let error = config.validate().unwrap_err();
        assert!(
            matches!(&error, ConfigError::ProductionUnset(m) if m.len() == 2),
            "{error}"
        );
        let text = error.to_string();
        for name in [
            "auth.jwt_secret",
            "GATEWAY_AUTH__JWT_SECRET",
            "upstreams.base_url",
            "GATEWAY_UPSTREAMS__BASE_URL",
        ] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }

        config.auth.jwt_secret = "a-production-secret-that-is-long-enough-0123".into();
        let text = config.validate().unwrap_err().to_string();
        assert!(
            text.contains("upstreams.base_url") && !text.contains("jwt_secret"),
            "{text}"
        );

        config.upstreams.services.extend(
            Service::ALL
                .iter()
                .map(|s| (s.name().to_owned(), "http://x.internal".parse().unwrap())),
        );
        config.validate().unwrap();
        config.upstreams.services.clear();
        config.upstreams.base_url = Some("http://upstreams.internal".parse().unwrap());
        config.validate().unwrap();

        config.auth.jwt_secret = DEVELOPMENT_JWT_SECRET.into();
        let text = config.validate().unwrap_err().to_string();
        assert!(
            text.contains("auth.jwt_secret") && !text.contains("upstreams.base_url"),
            "{text}"
        );
    }

    #[test]
    fn cache_keys_are_checked_by_name() {
        let mut config = Config::default();
        config.cache.ttl.insert("menu".into(), Duration::from_secs(1).into());
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("cache.ttl.menu"), "{error}");

        let mut config = Config::default();
        config.cache.redis_url = Some("http://127.0.0.1:6379".into());
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("cache.redis_url"), "{error}");

        let mut config = Config::default();
        config.persisted_queries.safelist = SafelistMode::Enforce;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("persisted_queries.manifest"), "{error}");
    }

    #[test]
    fn telemetry_keys_are_checked_by_name() {
        let mut config = Config::default();
        config.telemetry.upstream_trace = UpstreamTrace::HeaderSecret;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("telemetry.upstream_trace_secret"), "{error}");

        let mut config = Config::default();
        config.telemetry.sampling_ratio = 1.5;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("telemetry.sampling_ratio"), "{error}");

        let config: Config = extract(&Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(
            "[telemetry]\nupstream_trace = \"header-secret\"\nupstream_trace_secret = \"0123456789abcdef\"\notlp_endpoint = \"http://127.0.0.1:4318\"\n",
        )))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.telemetry.upstream_trace, UpstreamTrace::HeaderSecret);
    }

    #[test]
    fn durations_are_written_as_text() {
        let config: Config = extract(
            &Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::string("[upstreams]\ntimeout = \"800ms\"\n")),
        )
        .unwrap();
        assert_eq!(config.upstreams.timeout, Duration::from_millis(800));
    }
}
