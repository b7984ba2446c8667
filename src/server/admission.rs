//! Admission of GraphQL requests: a cap on requests in flight (load shedding),
//! a turn to execute ([`super::concurrency`]) and each request's deadline.
//!
//! Past `server.max_in_flight`, a request is answered `503` with `Retry-After` at
//! once instead of waiting in a queue that grows without bound. A request takes
//! its slot only once its body has been read ([`super::body`] runs first, within
//! `server.body_read_timeout`), so a slow body never holds one. The slots are for
//! requests that execute and answer; long-lived streams (subscriptions) must get
//! a cap of their own rather than hold a slot for their whole life. Within the
//! cap, a request waits for its turn to execute when more than the executing
//! limit already do; the wait counts against its deadline, and a request whose
//! deadline passes while waiting is answered `503` like a shed one. The deadline is
//! `server.request_timeout`, or less when the client asks with
//! `X-Request-Timeout-Ms`; every upstream call of the request gets at most the
//! time left.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use super::concurrency::Limiter;

/// The header a client lowers its request's deadline with, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// What admits a GraphQL request: the in-flight cap, the executing limit and the
/// deadline it waits within.
pub struct Admission {
    /// `server.max_in_flight` slots.
    pub slots: Semaphore,
    /// The limit on requests executing at once; `None`: only the slots.
    pub executing: Option<Arc<Limiter>>,
    /// `server.request_timeout`.
    pub request_timeout: Duration,
}

/// Sheds GraphQL requests past the in-flight cap; the others wait for their turn
/// to execute.
pub async fn shed_load(State(admission): State<Arc<Admission>>, mut request: Request, next: Next) -> Response {
    let Ok(_slot) = admission.slots.try_acquire() else {
        tracing::warn!("shedding load: too many requests in flight");
        return overloaded();
    };
    let _turn = match &admission.executing {
        None => None,
        Some(limiter) => {
            let since = Instant::now();
            let budget = deadline(request.headers(), admission.request_timeout).map(|(_, budget)| budget);
            let Some(turn) = limiter.turn(budget.unwrap_or(admission.request_timeout)).await else {
                tracing::warn!(
                    limit = limiter.limit(),
                    "shedding load: no turn to execute within the deadline"
                );
                return overloaded();
            };
            // The wait counts against the deadline: what is left of it is the
            // budget the request executes with (a bad header is left for the
            // handler to refuse).
            let waited = since.elapsed();
            if let Ok(budget) = budget
                && waited >= Duration::from_millis(1)
            {
                let left = u64::try_from(budget.saturating_sub(waited).as_millis()).unwrap_or(u64::MAX);
                request
                    .headers_mut()
                    .insert(TIMEOUT_HEADER, HeaderValue::from(left.max(1)));
            }
            Some(turn)
        }
    };
    next.run(request).await
}

/// `503` with `Retry-After`: the gateway has no room for the request now.
fn overloaded() -> Response {
    let body =
        r#"{"errors":[{"message":"the gateway is overloaded; try again shortly","extensions":{"code":"OVERLOADED"}}]}"#;
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, HeaderValue::from_static("1")),
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// The request's deadline: `limit` from now, or sooner if the client asks.
/// `Err` names what is wrong with the header.
pub fn deadline(headers: &HeaderMap, limit: Duration) -> Result<(Instant, Duration), &'static str> {
    let budget = match headers.get(TIMEOUT_HEADER) {
        None => limit,
        Some(value) => {
            let millis: u64 = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .filter(|m| *m > 0)
                .ok_or("`X-Request-Timeout-Ms` must be a positive whole number of milliseconds")?;
            Duration::from_millis(millis).min(limit)
        }
    };
    Ok((Instant::now() + budget, budget))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMEOUT_HEADER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_client_may_lower_the_deadline_but_not_raise_it() {
        let limit = Duration::from_secs(2);
        assert_eq!(deadline(&HeaderMap::new(), limit).unwrap().1, limit);
        assert_eq!(deadline(&with("300"), limit).unwrap().1, Duration::from_millis(300));
        assert_eq!(deadline(&with("60000"), limit).unwrap().1, limit);
        assert!(deadline(&with("soon"), limit).is_err());
        assert!(deadline(&with("0"), limit).is_err());
    }
}
