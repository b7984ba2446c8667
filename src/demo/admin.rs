//! The admin API on the demo's port: read and change faults, read and reset the
//! statistics. For development and tests; never behind the gate, never counted.
//!
//! - `GET /_admin/faults`: `{"<service>": Fault, ..}`
//! - `PUT /_admin/faults` with `{"service": "menus" | "*", "latencyMs", "jitterMs",
//!   "errorRate", "hang", "malformed", "afterCommit"}`: replaces that service's
//!   settings (missing fields 0 / `false`); answers like `GET`. Unknown service or
//!   field: 400.
//! - `GET /_admin/stats`: [`StatsSnapshot`](super::StatsSnapshot).
//! - `GET /_admin/headers`: [`HeadersSnapshot`](super::HeadersSnapshot), the
//!   `traceparent`, `tracestate` and `x-request-id` values seen, with counts.
//! - `GET /_admin/clock`: `{"now": "<RFC 3339 with ms>", "speed": S}`, the demo clock
//!   placed orders move on.
//! - `PUT /_admin/clock` with `{"speed": S}` (0 to 1,000; 0 stops it): runs the clock
//!   at that speed from now on, continuing from its current time; answers like `GET`.
//! - `POST /_admin/reset`: zeroes the statistics, restores the start-up faults (the
//!   configured base latency, nothing else), forgets placed orders, favourite changes
//!   and idempotency keys, and sets the clock's speed to 1 (the contract's rule, even
//!   where the demo started at another speed); answers 204.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::faults::Fault;
use super::reply::{ApiError, PRIVATE, Reply, private};
use super::service::Service;
use super::{Demo, data};

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
    #[serde(default)]
    after_commit: bool,
}

/// The body of `PUT /_admin/clock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    speed: f64,
}

/// What `GET /_admin/clock` answers: the demo time and how fast it runs.
#[derive(Debug, Serialize)]
struct ClockReading {
    now: String,
    speed: f64,
}

/// The admin routes, to be nested under `/_admin`.
pub(crate) fn router() -> Router<Demo> {
    Router::new()
        .route("/faults", get(faults).put(set_faults))
        .route("/stats", get(stats))
        .route("/headers", get(headers))
        .route("/reset", post(reset))
        .route("/clock", get(clock).put(set_clock))
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
        after_commit: request.after_commit,
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

fn clock_reading(demo: &Demo) -> ClockReading {
    ClockReading {
        now: data::timestamp_ms(demo.clock_now_ms()),
        speed: demo.clock_speed(),
    }
}

async fn clock(State(demo): State<Demo>) -> Reply {
    Ok(private(clock_reading(&demo)))
}

async fn set_clock(State(demo): State<Demo>, body: Bytes) -> Reply {
    let request: ClockRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid clock settings: {e}")))?;
    demo.set_clock_speed(request.speed).map_err(ApiError::BadRequest)?;
    tracing::info!(speed = request.speed, "demo clock speed set");
    Ok(private(clock_reading(&demo)))
}

async fn reset(State(demo): State<Demo>) -> impl IntoResponse {
    demo.reset();
    (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, PRIVATE)])
}
