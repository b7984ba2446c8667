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
    /// 404: an unknown single resource or route (or another user's order).
    #[error("{0}")]
    NotFound(String),
    /// 409: the state does not allow it (an order past `PLACED`, 200 favourites, an
    /// idempotency key reused with another body).
    #[error("{0}")]
    Conflict(String),
    /// 409 with `Retry-After: 1`: a request with the same idempotency key is still
    /// being handled.
    #[error("in progress")]
    InProgress,
    /// 422: well-formed but not possible; `field` names the request field.
    #[error("{message}")]
    Unprocessable {
        /// Why, for people.
        message: String,
        /// The field: `restaurantId`, `items[2].quantity`, ...
        field: String,
    },
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

    /// A 422 naming `field`.
    pub(crate) fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            message: message.into(),
            field: field.into(),
        }
    }

    /// The status it answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::InProgress => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Injected => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The body it answers with: `{"error"}`, plus `"field"` for a 422.
    pub(crate) fn body(&self) -> ErrorBody {
        let field = match self {
            ApiError::Unprocessable { field, .. } => Some(field.clone()),
            _ => None,
        };
        ErrorBody {
            error: self.to_string(),
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let cache = [(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE))];
        let mut response = (self.status(), cache, Json(self.body())).into_response();
        if matches!(self, ApiError::InProgress) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
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

/// A 204 for a private write: no body, never cached.
pub(crate) fn no_content() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE))],
    )
        .into_response()
}

/// The router's fallback: a JSON 404.
pub(crate) async fn no_route() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

/// The router's fallback for a known path with another method: a JSON 405.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::MethodNotAllowed
}
