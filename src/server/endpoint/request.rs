//! Reading a GraphQL request off HTTP: media negotiation, `POST` bodies (single
//! or batched) and `GET` parameters, the client's `onError`, and the request
//! errors that refuse a request before anything executes.

use axum::{
    body::Bytes,
    extract::rejection::BytesRejection,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::super::AppState;
use crate::graphql::OnError;

pub(super) const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

pub(super) const JSON: &str = "application/json";

/// The media type of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    pub(super) fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the answer's media type from `Accept`. `None`: nothing we can serve.
pub(super) fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    if accept.trim().is_empty() {
        return Some(Media::Json);
    }
    let mut best: Option<(f32, Media)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let media = match essence.as_str() {
            GRAPHQL_RESPONSE => Media::GraphqlResponse,
            JSON | "application/*" | "*/*" => Media::Json,
            _ => continue,
        };
        let better = match best {
            None => true,
            Some((best_q, best_media)) => {
                q > best_q || (q == best_q && media == Media::GraphqlResponse && best_media == Media::Json)
            }
        };
        if q > 0.0 && better {
            best = Some((q, media));
        }
    }
    best.map(|(_, media)| media)
}

pub(super) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A request that is refused before anything executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestError {
    /// The status, or `None` for a document error: `400` under the GraphQL media
    /// type and `200` under JSON, as the GraphQL-over-HTTP spec says.
    pub(super) status: Option<StatusCode>,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl RequestError {
    pub(super) fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            code,
            message: message.into(),
        }
    }

    pub(super) fn document(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: None,
            code,
            message: message.into(),
        }
    }

    pub(super) fn status(&self, media: Media) -> StatusCode {
        self.status.unwrap_or(match media {
            Media::GraphqlResponse => StatusCode::BAD_REQUEST,
            Media::Json => StatusCode::OK,
        })
    }

    pub(super) fn body(&self) -> serde_json::Value {
        json!({"errors": [{"message": self.message, "extensions": {"code": self.code}}]})
    }

    pub(super) fn into_response(self, media: Media) -> Response {
        let mut response = (
            self.status(media),
            [(header::CONTENT_TYPE, media.content_type())],
            self.body().to_string(),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self.status {
            Some(StatusCode::METHOD_NOT_ALLOWED) => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            Some(StatusCode::UNAUTHORIZED) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        response
    }
}

pub(super) enum Body {
    Single(Box<Incoming>),
    Batch(Vec<Incoming>),
}

/// A GraphQL request as the client sent it, with the `onError` it named at the
/// top level of a POST body or in the URL of a GET.
pub(super) struct Incoming {
    pub(super) request: async_graphql::Request,
    pub(super) on_error: Option<serde_json::Value>,
}

impl From<async_graphql::Request> for Incoming {
    fn from(request: async_graphql::Request) -> Self {
        Incoming {
            request,
            on_error: None,
        }
    }
}

/// The top-level `onError` of a POST body, or of each request of a batch: read
/// only from bodies that hold the word (async-graphql's `Request` drops keys it
/// does not know).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OnErrorKeys {
    Single(OnErrorKey),
    Batch(Vec<OnErrorKey>),
}

#[derive(Deserialize)]
pub(super) struct OnErrorKey {
    #[serde(rename = "onError")]
    on_error: Option<serde_json::Value>,
}

/// The error behaviour a request asks for: its top-level `onError` (a POST
/// body's key or a GET's parameter), else `extensions.onError`; `PROPAGATE` when
/// it names none.
pub(super) fn on_error_of(
    top: Option<&serde_json::Value>,
    extensions: &async_graphql::Extensions,
) -> Result<OnError, RequestError> {
    let named = match (top, extensions.get("onError")) {
        (Some(serde_json::Value::String(name)), _) => Some(name.as_str()),
        (None, Some(async_graphql::Value::String(name))) => Some(name.as_str()),
        (None, None) => return Ok(OnError::Propagate),
        _ => None,
    };
    named.and_then(OnError::parse).ok_or_else(|| {
        RequestError::document(
            "BAD_REQUEST",
            "`onError` must be one of \"PROPAGATE\", \"NULL\" or \"HALT\"",
        )
    })
}

/// Checks the content type and encoding, and reads the body.
pub(super) fn read_post(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Body, RequestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(JSON) {
        return Err(RequestError::http(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as `Content-Type: application/json`",
        ));
    }
    let encoded = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.to_str().is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity")));
    if encoded {
        return Err(RequestError::http(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "compressed request bodies (`Content-Encoding`) are not accepted",
        ));
    }
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            RequestError::http(status, "PAYLOAD_TOO_LARGE", "the request body is too large")
        } else {
            RequestError::http(status, "BAD_REQUEST", "the request body could not be read")
        }
    })?;
    let malformed = || {
        RequestError::http(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the body must be a JSON object with a `query` string and optional `variables`, `operationName` and `extensions`",
        )
    };
    let on_errors = match body.windows(9).any(|w| w == b"\"onError\"") {
        true => serde_json::from_slice::<OnErrorKeys>(&body).ok(),
        false => None,
    };
    match serde_json::from_slice::<async_graphql::BatchRequest>(&body).map_err(|_| malformed())? {
        async_graphql::BatchRequest::Single(request) => Ok(Body::Single(Box::new(Incoming {
            request,
            on_error: match on_errors {
                Some(OnErrorKeys::Single(key)) => key.on_error,
                _ => None,
            },
        }))),
        async_graphql::BatchRequest::Batch(requests) => {
            let max = state.inner.max_batch;
            if max == 0 {
                Err(RequestError::http(
                    StatusCode::BAD_REQUEST,
                    "BATCHING_NOT_SUPPORTED",
                    "send one operation per request; batched requests are not supported",
                ))
            } else if requests.is_empty() || requests.len() > max {
                Err(RequestError::http(
                    StatusCode::BAD_REQUEST,
                    "TOO_MANY_OPERATIONS",
                    format!("a batch holds 1 to {max} operations"),
                ))
            } else {
                let mut keys = match on_errors {
                    Some(OnErrorKeys::Batch(keys)) if keys.len() == requests.len() => keys,
                    _ => Vec::new(),
                }
                .into_iter();
                Ok(Body::Batch(
                    requests
                        .into_iter()
                        .map(|request| Incoming {
                            request,
                            on_error: keys.next().and_then(|key| key.on_error),
                        })
                        .collect(),
                ))
            }
        }
    }
}

/// The parameters of `GET /graphql`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetParams {
    pub(super) query: Option<String>,
    pub(super) variables: Option<String>,
    pub(super) operation_name: Option<String>,
    pub(super) extensions: Option<String>,
    pub(super) on_error: Option<String>,
}

pub(super) fn get_request(state: &AppState, headers: &HeaderMap, params: GetParams) -> Result<Incoming, RequestError> {
    if !state.inner.csrf.allows(headers) {
        return Err(RequestError::http(
            StatusCode::BAD_REQUEST,
            "CSRF_PREVENTED",
            "this request may have come from a form or a link on another site; send `Content-Type: application/json` or an `Apollo-Require-Preflight` header",
        ));
    }
    // An automatic persisted query may come as its hash alone.
    let persisted = params
        .extensions
        .as_deref()
        .is_some_and(|e| e.contains("persistedQuery"));
    let Some(query) = params.query.or_else(|| persisted.then(String::new)) else {
        return Err(RequestError::http(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the `query` parameter is missing",
        ));
    };
    let mut request = async_graphql::Request::new(query);
    for (name, text) in [("variables", &params.variables), ("extensions", &params.extensions)] {
        let Some(text) = text else { continue };
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
            return Err(RequestError::http(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the `{name}` parameter must be a JSON object"),
            ));
        };
        if name == "variables" {
            request = request.variables(async_graphql::Variables::from_json(serde_json::Value::Object(map)));
        } else {
            request.extensions = serde_json::from_value(serde_json::Value::Object(map)).unwrap_or_default();
        }
    }
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    Ok(Incoming {
        request,
        on_error: params.on_error.map(serde_json::Value::String),
    })
}

pub(super) fn not_acceptable() -> Response {
    RequestError::http(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
    .into_response(Media::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    pub(super) fn negotiation_prefers_the_graphql_response_type() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(negotiate(&accept(GRAPHQL_RESPONSE)), Some(Media::GraphqlResponse));
        assert_eq!(
            negotiate(&accept("application/graphql-response+json, application/json;q=0.9")),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            negotiate(&accept("application/graphql-response+json;q=0.5, application/json")),
            Some(Media::Json)
        );
        assert_eq!(negotiate(&accept("text/html")), None);
        assert_eq!(negotiate(&accept("application/json;q=0")), None);
    }
}
