//! The HTTP server: routes, shared state, and serving with graceful shutdown.
//!
//! Two seams for tests: [`router`] for in-process calls with `tower::ServiceExt`,
//! and [`serve`], which takes a bound listener (tests bind `127.0.0.1:0`).

mod admission;
mod endpoint;
mod observe;
mod playground;

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
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};
use tokio::net::TcpListener;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    auth::Authenticator,
    config::Config,
    graphql::{self, GatewaySchema, Limits, SchemaOptions},
    upstream::{Upstreams, UserId},
};

/// What every request handler shares: cheap-to-clone handles only.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    schema: GatewaySchema,
    sdl: String,
    upstreams: Upstreams,
    auth: Authenticator,
    limits: Limits,
    batch_delay: Duration,
    request_timeout: Duration,
    graphiql: bool,
    /// Set once a shutdown signal arrived: readiness turns false.
    shutting_down: AtomicBool,
    /// The demo user whose token GraphiQL's headers pane gets, when the gateway
    /// runs on its embedded demo.
    demo_user: Option<UserId>,
    /// Metrics, the waterfall's policy, the request log line.
    observe: observe::Observe,
    /// Serve `GET /metrics`.
    serve_metrics: bool,
}

impl AppState {
    /// State for a gateway configured by `config`, calling `upstreams`.
    /// `demo_user` puts a token for that user into GraphiQL (embedded demo only).
    pub fn new(config: &Config, upstreams: Upstreams, demo_user: Option<UserId>) -> Self {
        let schema = graphql::build_schema(SchemaOptions {
            introspection: config.graphql.introspection,
        });
        let upstreams_metrics = upstreams.metrics().clone();
        Self {
            inner: Arc::new(Inner {
                sdl: schema.sdl(),
                schema,
                upstreams,
                auth: Authenticator::new(&config.auth),
                limits: Limits {
                    max_page_size: config.graphql.max_page_size,
                },
                batch_delay: config.graphql.batch_delay,
                request_timeout: config.server.request_timeout,
                graphiql: config.server.graphiql,
                shutting_down: AtomicBool::new(false),
                demo_user,
                observe: observe::Observe::new(&config.telemetry, upstreams_metrics),
                serve_metrics: config.telemetry.metrics,
            }),
        }
    }
}

impl AppState {
    /// Marks the gateway as shutting down: `/health/ready` answers `503` from now on.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }
}

/// All routes, with request ids, tracing, the body limit and load shedding.
pub fn router(state: AppState, max_body_bytes: usize, max_in_flight: usize) -> Router {
    let x_request_id = header::HeaderName::from_static("x-request-id");
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    Router::new()
        .route("/graphql", get(endpoint::get).post(endpoint::post))
        .route_layer(axum::middleware::from_fn_with_state(slots, admission::shed_load))
        .route("/health", get(live))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/schema.graphql", get(schema_sdl))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(crate::graphiql::asset_router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let span = tracing::info_span!(
                    "request",
                    otel.name = %format_args!("{} {route}", request.method()),
                    otel.kind = "server",
                    method = %request.method(),
                    route,
                    request_id = id
                );
                // With trace export on, the client's W3C context is the parent.
                let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
                crate::telemetry::accept_parent(&span, header("traceparent"), header("tracestate"));
                span
            }),
        )
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
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
/// `telemetry.metrics` is off).
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    if !state.inner.serve_metrics {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
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

/// `GET /schema.graphql`: the SDL, for schema tooling.
async fn schema_sdl(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        state.inner.sdl.clone(),
    )
}
