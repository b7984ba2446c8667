//! Admission of GraphQL requests: a cap on requests in flight (load shedding) and
//! each request's deadline.
//!
//! Past `server.max_in_flight`, a request is answered `503` with `Retry-After` at
//! once instead of waiting in a queue that grows without bound. A request takes
//! its slot only once its body has been read ([`super::body`] runs first, within
//! `server.body_read_timeout`), so a slow body never holds one. The slots are for
//! requests that execute and answer; long-lived streams (subscriptions) must get
//! a cap of their own rather than hold a slot for their whole life. The deadline is
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

/// The header a client lowers its request's deadline with, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// Sheds GraphQL requests past the in-flight cap.
pub async fn shed_load(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    let Ok(_slot) = slots.try_acquire() else {
        tracing::warn!("shedding load: too many requests in flight");
        let body = r#"{"errors":[{"message":"the gateway is overloaded; try again shortly","extensions":{"code":"OVERLOADED"}}]}"#;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, HeaderValue::from_static("1")),
                (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response();
    };
    next.run(request).await
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
