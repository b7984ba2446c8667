//! The HTTP server: routes, shared state, and serving with graceful shutdown.
//!
//! Two seams for tests: [`router`] for in-process calls with `tower::ServiceExt`,
//! and [`serve`], which takes a bound listener (tests bind `127.0.0.1:0`).

mod admission;
mod body;
mod browser;
mod cancel;
mod concurrency;
mod documents;
mod endpoint;
pub mod limits;
mod metrics_port;
mod observe;
pub mod persisted;
mod playground;
mod subscriptions;
mod transport;

pub use playground::{DemoOrder, DemoPage};
pub use transport::{ClientAddr, IpBlock, PeerAddr, client_addr};

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, HeaderValue, header},
    response::IntoResponse,
    routing::get,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use self::metrics_port::metrics_router;
use self::{browser::CsrfPolicy, limits::DocumentLimits};
use crate::{
    auth::{Authenticator, Identity},
    config::{Config, Mode},
    graphql::{Executor, Limits, SchemaOptions},
    upstream::Upstreams,
};

/// What every request handler shares: cheap-to-clone handles only.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    graphql: Executor,
    sdl: String,
    upstreams: Upstreams,
    auth: Authenticator,
    limits: Limits,
    batch_delay: Duration,
    request_timeout: Duration,
    /// `server.max_executing` (`0`: adaptive) and `server.min_executing`.
    max_executing: usize,
    min_executing: usize,
    /// The whole body of a request must arrive within this long (`408` past it).
    body_read_timeout: Duration,
    graphiql: bool,
    /// Persisted queries (APQ) and the safelist, resolved before execution.
    persisted: persisted::PersistedQueries,
    /// Documents parsed before, by their text.
    documents: documents::Documents,
    /// Set once a shutdown signal arrived: readiness turns false.
    shutting_down: AtomicBool,
    document_limits: DocumentLimits,
    max_errors: usize,
    max_batch: usize,
    csrf: CsrfPolicy,
    introspection: IntrospectionPolicy,
    cors: Option<tower_http::cors::CorsLayer>,
    /// What GraphiQL offers on the embedded demo: the demo user whose token the
    /// headers pane gets, and the order its ready tabs place.
    demo: Option<DemoPage>,
    /// Metrics, the waterfall's policy, the request log line.
    observe: observe::Observe,
    /// Serve `GET /metrics` on the public router (not when it has a port of its own).
    serve_metrics: bool,
    /// Keep the client's `traceparent`, `tracestate` and `X-Request-Id`.
    trust_client_trace: bool,
    /// Subscriptions: the shared polls, the transports' limits and shutdown.
    live: subscriptions::Live,
    /// Response compression.
    compression: crate::config::CompressionConfig,
    /// Proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    trusted_proxies: Arc<[IpBlock]>,
}

impl AppState {
    /// State for a gateway configured by `config`, calling `upstreams`.
    /// `demo` puts a token for its user, and the tabs that place its order, into
    /// GraphiQL (embedded demo only; never in production mode).
    pub fn new(config: &Config, upstreams: Upstreams, demo: Option<DemoPage>) -> Self {
        let production = config.server.mode == Mode::Production;
        let graphql = Executor::new(SchemaOptions {
            introspection: config.graphql.introspection,
            suggestions: !production,
        });
        let l = &config.limits;
        let upstreams_metrics = upstreams.metrics().clone();
        let upstreams_for_polls = upstreams.clone();
        Self {
            inner: Arc::new(Inner {
                sdl: graphql.sdl(),
                graphql,
                documents: documents::Documents::default(),
                persisted: persisted::PersistedQueries::new(&config.persisted_queries, upstreams.redis().cloned()),
                upstreams,
                auth: Authenticator::new(&config.auth),
                limits: Limits {
                    max_page_size: config.graphql.max_page_size,
                },
                batch_delay: config.graphql.batch_delay,
                request_timeout: config.server.request_timeout,
                max_executing: config.server.max_executing,
                min_executing: config.server.min_executing,
                body_read_timeout: config.server.body_read_timeout,
                graphiql: config.server.graphiql,
                shutting_down: AtomicBool::new(false),
                document_limits: DocumentLimits {
                    max_chars: l.max_document_chars,
                    max_tokens: l.max_tokens,
                    max_depth: l.max_depth,
                    max_aliases: l.max_aliases,
                    max_root_fields: l.max_root_fields,
                    max_directives: l.max_directives,
                    max_complexity: l.max_complexity,
                    max_page_size: config.graphql.max_page_size,
                },
                max_errors: l.max_errors,
                max_batch: l.max_batch,
                csrf: CsrfPolicy::new(&config.browser),
                introspection: IntrospectionPolicy::new(config),
                cors: browser::cors_layer(&config.browser),
                demo,
                observe: observe::Observe::new(
                    &config.telemetry,
                    upstreams_metrics,
                    config.server.mode == Mode::Production,
                ),
                serve_metrics: config.telemetry.metrics && config.telemetry.metrics_listen.is_none(),
                trust_client_trace: config.trusts_client_trace(),
                live: subscriptions::Live::new(config, upstreams_for_polls),
                compression: config.server.compression.clone(),
                trusted_proxies: config
                    .server
                    .trusted_proxies
                    .iter()
                    .filter_map(|p| IpBlock::parse(p))
                    .collect(),
            }),
        }
    }
}

/// Who may introspect the schema.
///
/// In development, everyone (unless `graphql.introspection = false`). In
/// production, only a request carrying `graphql.introspection_secret` in
/// `graphql.introspection_header`, or a token with `graphql.introspection_scope`;
/// with neither configured, no one.
#[derive(Clone)]
struct IntrospectionPolicy {
    enabled: bool,
    production: bool,
    header: Option<HeaderName>,
    secret: Option<String>,
    scope: Option<String>,
}

impl IntrospectionPolicy {
    fn new(config: &Config) -> Self {
        let graphql = &config.graphql;
        Self {
            enabled: graphql.introspection,
            production: config.server.mode == Mode::Production,
            header: HeaderName::from_bytes(graphql.introspection_header.as_bytes()).ok(),
            secret: graphql.introspection_secret.clone(),
            scope: graphql.introspection_scope.clone(),
        }
    }

    /// Whether a request with `headers` by `identity` may introspect.
    fn allows(&self, headers: &HeaderMap, identity: Option<&Identity>) -> bool {
        if !self.enabled {
            return false;
        }
        if !self.production {
            return true;
        }
        let by_secret = match (&self.header, &self.secret) {
            (Some(header), Some(secret)) => headers
                .get(header)
                .is_some_and(|value| constant_time_eq(value.as_bytes(), secret.as_bytes())),
            _ => false,
        };
        let by_scope = match (&self.scope, identity) {
            (Some(scope), Some(identity)) => identity.has_scope(scope),
            _ => false,
        };
        by_secret || by_scope
    }
}

/// Compares without stopping at the first difference, so timing does not tell
/// how much of a guessed secret was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AppState {
    /// Marks the gateway as shutting down: `/health/ready` answers `503` from now on,
    /// and every HTTP/1 answer carries `Connection: close`.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
        self.inner.live.shut_down();
    }

    /// Whether [`AppState::begin_shutdown`] was called.
    pub fn shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Relaxed)
    }
}

/// The request-scoped policy, in one middleware: without
/// `telemetry.trust_client_trace`, the client's trace headers are dropped before
/// anything reads them (the request gets an id of its own, and no client
/// `traceparent` goes anywhere); the client's address ([`ClientAddr`]) goes on the
/// request; and `Connection: close` on the answer while the gateway drains.
async fn connection_policy(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !state.inner.trust_client_trace {
        observe::drop_client_trace(request.headers_mut());
    }
    if let Some(PeerAddr(peer)) = request.extensions().get::<PeerAddr>().copied() {
        let client = client_addr(peer.ip(), request.headers(), &state.inner.trusted_proxies);
        request.extensions_mut().insert(ClientAddr(client));
    }
    let version = request.version();
    let mut response = next.run(request).await;
    if state.shutting_down() {
        transport::close_when_draining(response.headers_mut(), version);
    }
    response
}

/// All routes, with request ids, tracing, CORS, the body limit, load shedding and
/// the executing limit ([`concurrency`]).
///
/// The layers are composed with one `ServiceBuilder` each (for every route, and
/// for `/graphql` alone): each `Router::layer` call boxes every route once more,
/// and a boxed route is cloned whole for each request, so a stack of separate
/// calls costs an allocation per layer and per level on every request.
pub fn router(state: AppState, max_body_bytes: usize, max_in_flight: usize) -> Router {
    let x_request_id = header::HeaderName::from_static("x-request-id");
    let cors = state.inner.cors.clone();
    let trusted = state.inner.trusted_proxies.clone();
    let workers = tokio::runtime::Handle::try_current().map_or(1, |runtime| runtime.metrics().num_workers());
    let executing = concurrency::Limiter::from_settings(
        state.inner.max_executing,
        state.inner.min_executing,
        max_in_flight,
        workers,
    );
    if let Some(limiter) = &executing {
        limiter.adapt();
        let limiter = Arc::downgrade(limiter);
        let read = move || limiter.upgrade().map_or(0.0, |l| l.limit() as f64);
        if let Err(e) = state.inner.observe.metrics.gauge_from(
            "graphql_executing_limit",
            "GraphQL requests allowed to execute at once (server.max_executing)",
            read,
        ) {
            tracing::warn!(error = %e, "the executing limit's gauge is not exported");
        }
    }
    let slots = Arc::new(admission::Admission {
        slots: tokio::sync::Semaphore::new(max_in_flight),
        executing,
        request_timeout: state.inner.request_timeout,
    });
    let body_limits = body::BodyLimits {
        deadline: state.inner.body_read_timeout,
        max_bytes: max_body_bytes,
    };
    // Outermost first.
    let layers = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(state.clone(), connection_policy))
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |request: &axum::http::Request<_>| {
                // The fields are worked out only when the span is enabled (the
                // macro evaluates them then): the client's address is formatted,
                // for one, on every request that logs.
                let headers = request.headers();
                let span = tracing::info_span!(
                    "request",
                    otel.name = %format_args!("{} {}", request.method(), matched_path(request)),
                    otel.kind = "server",
                    method = %request.method(),
                    route = matched_path(request),
                    request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default(),
                    // The client's address: behind trusted proxies, from X-Forwarded-For.
                    client = %request
                        .extensions()
                        .get::<PeerAddr>()
                        .map(|peer| client_addr(peer.0.ip(), headers, &trusted).to_string())
                        .unwrap_or_default(),
                );
                if !span.is_disabled() {
                    // With trace export on, the client's W3C context is the parent.
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                    crate::telemetry::accept_parent(&span, header("traceparent"), header("tracestate"));
                }
                span
            }),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        // Boxed once compressed: an encoder's state makes the body type large.
        .map_response(box_body)
        .layer(transport::compression(&state.inner.compression))
        .layer(transport::decompression(max_body_bytes))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    // A request takes its load-shedding slot once its body is in, then waits for
    // its turn to execute.
    let graphql_layers = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(body_limits, body::read_whole))
        .layer(axum::middleware::from_fn_with_state(slots, admission::shed_load));
    let router = Router::new()
        .route("/graphql", get(subscriptions::get).post(subscriptions::post))
        .route_layer(graphql_layers)
        .route("/health", get(live))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/schema.graphql", get(schema_sdl))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(crate::graphiql::asset_router())
        .layer(layers);
    // Apart, and only when configured: CORS needs a body type the stack above does
    // not answer with.
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// The route a request matched (`/graphql`), or `""`.
fn matched_path<B>(request: &axum::http::Request<B>) -> &str {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or_default()
}

/// `response` with its body boxed: see [`transport::ResponseCompression`].
fn box_body<B>(response: axum::http::Response<B>) -> axum::response::Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    response.map(axum::body::Body::new)
}

/// The header read timeout [`serve`] uses (`server.header_read_timeout`'s default).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish; headers must arrive within
/// [`DEFAULT_HEADER_READ_TIMEOUT`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, DEFAULT_HEADER_READ_TIMEOUT).await
}

/// [`serve`], with the time a client gets to send a request's headers: a client
/// that trickles them (slowloris) is disconnected past it. axum's own `serve`
/// cannot set it, so connections are served with hyper's HTTP/1 builder.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_read_timeout: Duration,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    // hyper-util's `GracefulShutdown` cannot watch a connection that may be
    // upgraded (WebSocket subscriptions), so each connection watches `stop`
    // itself, and `done` closes once every connection has ended.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request of the connection carries its peer's address.
        let service = hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                request
            },
        ));
        // Upgrades: subscriptions over WebSocket (server/subscriptions.rs).
        let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let (mut stopping, done) = (stopping.clone(), done.clone());
        tokio::spawn(async move {
            let _done = done;
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(done);
    let _ = all_done.recv().await;
    Ok(())
}

/// `GET /health` and `GET /health/live`: the process runs and serves HTTP.
async fn live() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"status": "ok"})),
    )
}

/// `GET /health/ready`: ready for traffic (configured, not shutting down). Open
/// circuit breakers are reported but do not make the gateway unready: it still
/// answers everything else.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    use crate::upstream::BreakerState;
    let breakers: serde_json::Map<String, serde_json::Value> = state
        .inner
        .upstreams
        .breakers_not_closed()
        .into_iter()
        .map(|(service, breaker)| {
            let text = match breaker {
                BreakerState::Open => "open",
                BreakerState::HalfOpen => "half-open",
                BreakerState::Closed => "closed",
            };
            (service.name().to_owned(), text.into())
        })
        .collect();
    let (status, text) = if state.inner.shutting_down.load(Ordering::Relaxed) {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (axum::http::StatusCode::OK, "ready")
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"status": text, "breakers": breakers})),
    )
}

/// `GET /metrics`: every metric in the Prometheus text format (404 when
/// `telemetry.metrics` is off, or `telemetry.metrics_listen` gives it a port of
/// its own: [`metrics_router`]).
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    if !state.inner.serve_metrics {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    metrics_text(&state)
}

/// Every metric in the Prometheus text format, as an answer.
fn metrics_text(state: &AppState) -> axum::response::Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.inner.observe.metrics.render(),
    )
        .into_response()
}

/// `GET /schema.graphql`: the SDL, for schema tooling, to whoever may introspect
/// (in production: the secret header or the scope; else `403`).
async fn schema_sdl(State(state): State<AppState>, headers: HeaderMap) -> axum::response::Response {
    if let Err(refused) = endpoint::may_read_schema(&state, &headers).await {
        return refused;
    }
    // In production the answer depends on a secret or a token: never shared.
    let cache = match state.inner.introspection.production {
        true => "private, no-store",
        false => "no-cache",
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        state.inner.sdl.clone(),
    )
        .into_response()
}
