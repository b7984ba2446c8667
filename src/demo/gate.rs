//! The gate every service call passes: count it (route, ids, `X-User-Id`, trace
//! headers) on arrival, then apply the service's faults (delay, hang, injected 503,
//! malformed body) around the handler: before it, or with `afterCommit` after it (a
//! write is kept, its answer lost). Handlers never see the faults.
//!
//! The delay is measured from the call's arrival and the handler runs inside it, so
//! a service set to 20 ms answers 20 ms after the request reached it, however long
//! its handler took (a page of menus takes a few milliseconds to build), as a real
//! service with that latency would. The wait uses `async-io`'s timer, which fires
//! within tens of microseconds of its deadline; tokio's timer wheel counts whole
//! milliseconds and rounds up, which made every 20 ms call take 21-22 ms and put
//! the benchmark's latency figures several milliseconds above their floor.

use std::time::Instant;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Demo;
use super::access::user_header;
use super::batch::Params;
use super::faults::Fault;
use super::reply::{ApiError, PRIVATE};
use super::service::Service;

/// The largest request body the demo reads (a 500-id rank is about 4 KB).
const BODY_LIMIT: usize = 1 << 20;

/// The gate's state: the demo and the service it guards.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) demo: Demo,
    pub(crate) service: Service,
}

/// The middleware (install with `route_layer`, so only matched routes pass it).
pub(crate) async fn gate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let route = route_key(
        gate.service,
        request.method(),
        request.extensions().get::<MatchedPath>(),
    );
    let user = user_header(request.headers());
    gate.demo.headers_store().record(request.headers());
    let (request, ids) = match count_ids(request).await {
        Ok(counted) => counted,
        Err(error) => {
            gate.demo.stats_store().record(&route, 0, user.as_deref());
            return error.into_response();
        }
    };
    gate.demo.stats_store().record(&route, ids, user.as_deref());
    tracing::debug!(%route, ids, user = user.as_deref(), "demo call");

    let fault = gate.demo.faults_store().get(gate.service);
    let answer_at = arrived + fault.delay();
    // `afterCommit`: the call is handled (a write made and kept) and then its
    // answer is lost; otherwise the fault acts first and a write never happens.
    let response = if fault.after_commit {
        let response = next.run(request).await;
        if let Some(lost) = lose_answer(&gate, &fault, answer_at).await {
            return lost;
        }
        response
    } else {
        if let Some(lost) = lose_answer(&gate, &fault, answer_at).await {
            return lost;
        }
        next.run(request).await
    };
    let response = if fault.malformed {
        malformed(response).await
    } else {
        response
    };
    wait_until(answer_at).await;
    response
}

/// The answer a `hang` or a failing `errorRate` gives instead of the real one (at
/// `answer_at`; a hang never), or `None` to answer normally.
async fn lose_answer(gate: &Gate, fault: &Fault, answer_at: Instant) -> Option<Response> {
    if fault.hang {
        wait_until(answer_at).await;
        let mut shutdown = gate.demo.shutdown_signal();
        // Held open until the client gives up (dropping this future) or the demo
        // shuts down, so graceful shutdown never waits on a hung call.
        let _ = shutdown.wait_for(|stopping| *stopping).await;
        return Some(ApiError::Injected.into_response());
    }
    if fault.fails_now() {
        wait_until(answer_at).await;
        return Some(ApiError::Injected.into_response());
    }
    None
}

/// Waits until `deadline` (at once if it has passed), to within the timer's slack.
async fn wait_until(deadline: Instant) {
    if deadline > Instant::now() {
        async_io::Timer::at(deadline).await;
    }
}

/// `"<service> <METHOD> <route template>"`, the template without the service prefix.
fn route_key(service: Service, method: &Method, matched: Option<&MatchedPath>) -> String {
    let path = matched.map_or("?", MatchedPath::as_str);
    let prefix = format!("/{}", service.name());
    let route = path.strip_prefix(prefix.as_str()).unwrap_or(path);
    format!("{service} {method} {route}")
}

/// How many ids the call asks for: the entries of `ids` / `restaurantIds` (query) or
/// of `restaurantIds` (JSON body) as sent, else 1 (a single resource, or a write such
/// as `POST /orders`). Buffers a body so the handler can still read it.
async fn count_ids(request: Request) -> Result<(Request, u64), ApiError> {
    let params = Params::parse(request.uri().query());
    if let Some(list) = params.get("ids").or_else(|| params.get("restaurantIds")) {
        let count = list.split(',').filter(|p| !p.trim().is_empty()).count();
        return Ok((request, count as u64));
    }
    if request.method() != Method::POST {
        return Ok((request, 1));
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| ApiError::TooLarge)?;
    let count = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("restaurantIds")?.as_array().map(Vec::len))
        .unwrap_or(1);
    Ok((Request::from_parts(parts, Body::from(bytes)), count as u64))
}

/// A `200` whose body is the first half of the real answer: never valid JSON, since
/// a JSON object or array cut short leaves a bracket open.
async fn malformed(response: Response) -> Response {
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
    let body = if bytes.len() < 2 {
        Bytes::from_static(b"{\"malformed\": tru")
    } else {
        bytes.slice(..bytes.len() / 2)
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE)),
    ];
    (headers, body).into_response()
}
