//! `/metrics` on an address of its own (`telemetry.metrics_listen`): an admin
//! port, off the public listener. The metrics name operations, upstream routes
//! and error rates, which the internet need not read; with a port of its own,
//! the public router answers `GET /metrics` with `404`.

use axum::{Router, extract::State, routing::get};

use super::AppState;

/// The router of the metrics port: `GET /metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(render)).with_state(state)
}

async fn render(State(state): State<AppState>) -> axum::response::Response {
    super::metrics_text(&state)
}
