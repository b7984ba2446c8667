//! The HTTP server: routes, shared state, and serving with graceful shutdown.
//!
//! Two seams for tests: [`router`] for in-process calls with `tower::ServiceExt`,
//! and [`serve`], which takes a bound listener (tests bind `127.0.0.1:0`).

mod endpoint;
mod playground;

use std::{future::Future, sync::Arc, time::Duration};

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
    graphiql: bool,
    /// The demo user whose token GraphiQL's headers pane gets, when the gateway
    /// runs on its embedded demo.
    demo_user: Option<UserId>,
}

impl AppState {
    /// State for a gateway configured by `config`, calling `upstreams`.
    /// `demo_user` puts a token for that user into GraphiQL (embedded demo only).
    pub fn new(config: &Config, upstreams: Upstreams, demo_user: Option<UserId>) -> Self {
        let schema = graphql::build_schema(SchemaOptions {
            introspection: config.graphql.introspection,
        });
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
                graphiql: config.server.graphiql,
                demo_user,
            }),
        }
    }
}

/// All routes, with request ids, tracing and the body limit.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let x_request_id = header::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(endpoint::get).post(endpoint::post))
        .route("/health", get(health))
        .route("/schema.graphql", get(schema_sdl))
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
                tracing::info_span!("request", method = %request.method(), route, request_id = id)
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

/// `GET /health`: the process is up and serving.
async fn health() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"status": "ok"})),
    )
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
