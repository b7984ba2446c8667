//! Request bodies: read whole, within one deadline, before the request takes an
//! in-flight slot.
//!
//! A client that sends its headers and then trickles its body (one byte a
//! second) held a `server.max_in_flight` slot for as long as it liked: two such
//! connections answered every other request `503` (the audit of December 2026,
//! finding 2). [`read_whole`] runs outside the load shedding of
//! [`super::admission`], so a request takes its slot only once its body is in
//! memory, and the body must arrive whole within `server.body_read_timeout`,
//! counted from the moment the headers were read. It is a deadline for the whole
//! body, not an idle timeout per frame (tower-http's `RequestBodyTimeoutLayer`
//! starts again on every frame, so a trickle never trips it). Past it, the answer
//! is `408` with `Connection: close`, and the connection is closed.
//!
//! Bodies being read are bounded by that deadline and by `server.max_body_bytes`
//! each (`413` past it, counted as the bytes arrive, whatever `Content-Length`
//! says), not by `max_in_flight`. Long-lived streams (subscriptions) are not
//! routed through here: they will need a cap of their own.

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use futures_util::StreamExt;

use super::endpoint;

/// How a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The whole body within this long of the headers (`server.body_read_timeout`).
    pub deadline: Duration,
    /// At most this many bytes (`server.max_body_bytes`).
    pub max_bytes: usize,
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It did not arrive whole before the deadline.
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// It is longer than the limit.
    #[error("the request body is too large")]
    TooLarge,
    /// The connection failed while it was read.
    #[error("the request body could not be read: {0}")]
    Unreadable(#[from] axum::Error),
}

/// Reads `body` whole, within `limits`.
pub async fn read(body: Body, limits: BodyLimits) -> Result<Bytes, BodyError> {
    let collect = async {
        let mut stream = body.into_data_stream();
        let mut buffer = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if buffer.len() + chunk.len() > limits.max_bytes {
                return Err(BodyError::TooLarge);
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buffer))
    };
    tokio::time::timeout(limits.deadline, collect)
        .await
        .map_err(|_| BodyError::TimedOut(limits.deadline))?
}

/// Middleware: reads the request's body whole within [`BodyLimits`], then passes
/// the request on with the body in memory; or answers `408` (and closes the
/// connection), `413` or `400`.
pub async fn read_whole(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match read(body, limits).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(error) => {
            let (status, code) = match &error {
                BodyError::TimedOut(_) => (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
                BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
                BodyError::Unreadable(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            };
            tracing::info!(%error, status = status.as_u16(), "request body refused");
            let mut response = endpoint::refuse(&parts.headers, status, code, error.to_string());
            if status != StatusCode::BAD_REQUEST {
                // The rest of the body is not read: the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, routing::post};
    use tower::ServiceExt;

    fn router(limits: BodyLimits) -> Router {
        Router::new()
            .route("/", post(|body: Bytes| async move { body.len().to_string() }))
            .route_layer(axum::middleware::from_fn_with_state(limits, read_whole))
    }

    /// A body that sends one byte every 100 ms, `bytes` times.
    fn trickle(bytes: usize) -> Body {
        let stream = futures_util::stream::iter(0..bytes).then(|_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, std::io::Error>(Bytes::from_static(b" "))
        });
        Body::from_stream(stream)
    }

    fn limits() -> BodyLimits {
        BodyLimits {
            deadline: Duration::from_secs(1),
            max_bytes: 1024,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_body_is_cut_off_at_the_deadline_whatever_its_pace() {
        // Frames keep coming every 100 ms: an idle timeout per frame would never fire.
        let request = Request::post("/").body(trickle(1000)).unwrap();
        let started = tokio::time::Instant::now();
        let response = router(limits()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_is_passed_on_whole() {
        let request = Request::post("/").body(trickle(5)).unwrap();
        let response = router(limits()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"5");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_413_whatever_its_length_header_said() {
        let chunks = futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 512]))));
        let request = Request::post("/").body(Body::from_stream(chunks)).unwrap();
        let response = router(limits()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
