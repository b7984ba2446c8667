//! How the demo answers: JSON with the contract's `Cache-Control`, and [`ApiError`]
//! for every error (always `private, no-store`, body `{"error": ".."}`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::wire::ErrorBody;

/// `Cache-Control` for private data and for errors.
pub(crate) const PRIVATE: &str = "private, no-store";

/// What a handler returns.
pub(crate) type Reply = Result<Response, ApiError>;

/// Everything that makes the demo answer with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 400: missing, malformed or out-of-range parameters or body.
    #[error("{0}")]
    BadRequest(String),
    /// 403: `X-User-Id` is missing or names another user.
    #[error("X-User-Id is missing or names another user")]
    Forbidden,
    /// 404: an unknown single resource or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: a request body over the demo's limit.
    #[error("request body too large")]
    TooLarge,
    /// 503: a failure injected by the fault settings (or a hung call released at
    /// shutdown).
    #[error("injected failure")]
    Injected,
}

impl ApiError {
    /// A 400 with a message.
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Injected => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
        };
        let cache = [(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE))];
        (self.status(), cache, Json(body)).into_response()
    }
}

/// A 200 with shared data, cacheable for `max_age` seconds.
pub(crate) fn public(max_age: u32, body: impl Serialize) -> Response {
    let value = format!("public, max-age={max_age}");
    let cache = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(PRIVATE));
    ([(header::CACHE_CONTROL, cache)], Json(body)).into_response()
}

/// A 200 with one user's data: never cached.
pub(crate) fn private(body: impl Serialize) -> Response {
    let cache = [(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE))];
    (cache, Json(body)).into_response()
}

/// The router's fallback: a JSON 404.
pub(crate) async fn no_route() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

/// The router's fallback for a known path with another method: a JSON 405.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::MethodNotAllowed
}
