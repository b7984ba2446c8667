//! The admin API on the demo's port: read and change faults, read and reset the
//! statistics. For development and tests; never behind the gate, never counted.
//!
//! - `GET /_admin/faults`: `{"<service>": Fault, ..}`
//! - `PUT /_admin/faults` with `{"service": "menus" | "*", "latencyMs", "jitterMs",
//!   "errorRate", "hang", "malformed"}`: replaces that service's settings (missing
//!   fields 0 / `false`); answers like `GET`. Unknown service or field: 400.
//! - `GET /_admin/stats`: [`StatsSnapshot`](super::StatsSnapshot).
//! - `GET /_admin/headers`: [`HeadersSnapshot`](super::HeadersSnapshot), the
//!   `traceparent`, `tracestate` and `x-request-id` values seen, with counts.
//! - `POST /_admin/reset`: zeroes the statistics and restores the start-up faults
//!   (the configured base latency, nothing else); answers 204.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;

use super::Demo;
use super::faults::Fault;
use super::reply::{ApiError, PRIVATE, Reply, private};
use super::service::Service;

/// The body of `PUT /_admin/faults`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultRequest {
    service: String,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    jitter_ms: u64,
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    hang: bool,
    #[serde(default)]
    malformed: bool,
}

/// The admin routes, to be nested under `/_admin`.
pub(crate) fn router() -> Router<Demo> {
    Router::new()
        .route("/faults", get(faults).put(set_faults))
        .route("/stats", get(stats))
        .route("/headers", get(headers))
        .route("/reset", post(reset))
}

fn fault_map(demo: &Demo) -> BTreeMap<&'static str, Fault> {
    demo.faults()
        .into_iter()
        .map(|(service, fault)| (service.name(), fault))
        .collect()
}

async fn faults(State(demo): State<Demo>) -> Reply {
    Ok(private(fault_map(&demo)))
}

async fn set_faults(State(demo): State<Demo>, body: Bytes) -> Reply {
    let request: FaultRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid fault settings: {e}")))?;
    let service = match request.service.as_str() {
        "*" => None,
        name => Some(Service::from_name(name).ok_or_else(|| ApiError::bad(format!("unknown service {name:?}")))?),
    };
    let fault = Fault {
        latency_ms: request.latency_ms,
        jitter_ms: request.jitter_ms,
        error_rate: request.error_rate,
        hang: request.hang,
        malformed: request.malformed,
    };
    if let Some(problem) = fault.problem() {
        return Err(ApiError::BadRequest(problem));
    }
    match service {
        Some(service) => demo.set_fault(service, fault),
        None => demo.set_all_faults(fault),
    }
    tracing::info!(service = %request.service, ?fault, "demo faults set");
    Ok(private(fault_map(&demo)))
}

async fn stats(State(demo): State<Demo>) -> Reply {
    Ok(private(demo.stats()))
}

async fn headers(State(demo): State<Demo>) -> Reply {
    Ok(private(demo.headers_seen()))
}

async fn reset(State(demo): State<Demo>) -> impl IntoResponse {
    demo.reset();
    (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, PRIVATE)])
}
