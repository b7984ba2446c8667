//! `/graphql` over HTTP, as the GraphQL-over-HTTP specification describes it.
//!
//! - `POST` with `Content-Type: application/json` (else `415`); a JSON array
//!   (a batch) is refused with `400`.
//! - `GET` with `query`, `variables`, `operationName`, `extensions` parameters;
//!   only queries (a mutation over `GET` is `405`). A browser's `GET` without
//!   `query` gets the GraphiQL page.
//! - The answer is `application/graphql-response+json` when the client accepts it
//!   (then a request that fails to parse or validate is `400`), else
//!   `application/json` (always `200` once the request was read); `406` when the
//!   client accepts neither.
//! - A present but invalid bearer token is `401` with `WWW-Authenticate`, before
//!   anything is executed or any upstream called.

use axum::{
    body::Bytes,
    extract::{RawQuery, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tracing::Instrument;

use super::{
    AppState, admission,
    observe::{self, Finished, Operation},
    playground,
};
use crate::{
    graphql::RequestScope,
    upstream::{RequestContext, Waterfall},
};

/// Time past the deadline that execution may take to assemble the answer.
const EXECUTION_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the answer's media type from `Accept`. `None`: nothing we can serve.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
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

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A request-level error: never executed, a JSON body with `errors` only.
fn request_error(status: StatusCode, media: Media, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    let mut response = (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(JSON) {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as `Content-Type: application/json`",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is too large"
            } else {
                "the request body could not be read"
            };
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "PAYLOAD_TOO_LARGE"
            } else {
                "BAD_REQUEST"
            };
            return request_error(status, media, code, message);
        }
    };
    let request = match serde_json::from_slice::<async_graphql::BatchRequest>(&body) {
        Ok(async_graphql::BatchRequest::Single(request)) => request,
        Ok(async_graphql::BatchRequest::Batch(_)) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BATCHING_NOT_SUPPORTED",
                "send one operation per request; batched requests are not supported",
            );
        }
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                "the body must be a JSON object with a `query` string and optional `variables`, `operationName` and `extensions`",
            );
        }
    };
    execute(&state, &headers, media, request).await
}

/// The parameters of `GET /graphql`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    operation_name: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql`: the playground for a browser, else a query from the URL.
pub async fn get(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let params: GetParams = match serde_urlencoded::from_str(raw.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(_) => {
            let media = negotiate(&headers).unwrap_or(Media::Json);
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                "the URL parameters could not be read",
            );
        }
    };
    if params.query.is_none() && wants_html(&headers) && state.inner.graphiql {
        return playground::page(&state);
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let Some(query) = params.query else {
        return request_error(
            StatusCode::BAD_REQUEST,
            media,
            "BAD_REQUEST",
            "the `query` parameter is missing",
        );
    };
    let mut request = async_graphql::Request::new(query);
    for (name, text) in [("variables", &params.variables), ("extensions", &params.extensions)] {
        let Some(text) = text else { continue };
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
            let message = format!("the `{name}` parameter must be a JSON object");
            return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &message);
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
    if selects_mutation(&request) {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; send mutations with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, media, request).await
}

/// Whether the operation `request` selects is anything but a query.
fn selects_mutation(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false; // execution reports the syntax error
    };
    let operation = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.is_some_and(|op| op.node.ty != OperationType::Query)
}

fn not_acceptable() -> Response {
    request_error(
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
}

/// Runs one operation: [`run`] inside the operation's span, then its metrics and
/// log line.
async fn execute(state: &AppState, headers: &HeaderMap, media: Media, request: async_graphql::Request) -> Response {
    let observe = &state.inner.observe;
    let started = std::time::Instant::now();
    let operation = Operation::of(&request);
    let label = observe.metrics.operation_label(operation.name.as_deref());
    let _in_flight = observe.metrics.in_flight();
    let span = tracing::info_span!(
        "graphql",
        otel.name = %format_args!("{} {}", operation.kind, operation.name.as_deref().unwrap_or("anonymous")),
        operation.name = %label,
        operation.type = operation.kind,
    );
    let waterfall = Arc::new(Waterfall::new(observe.waterfall_allowed(headers)));
    let (response, outcome, codes) = run(state, headers, media, request, &waterfall, span.clone())
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    observe.finish(
        started,
        Finished {
            operation: &label,
            outcome,
            codes,
            status: response.status().as_u16(),
            upstream_calls: waterfall.attempts(),
        },
    );
    response
}

/// Authenticates, executes with a fresh per-request scope, and answers; with the
/// outcome and error codes for the metrics.
async fn run(
    state: &AppState,
    headers: &HeaderMap,
    media: Media,
    request: async_graphql::Request,
    waterfall: &Arc<Waterfall>,
    span: tracing::Span,
) -> (Response, &'static str, Vec<&'static str>) {
    let inner = &state.inner;
    let viewer = match inner
        .auth
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
    {
        Ok(viewer) => viewer,
        Err(error) => {
            let mut response = request_error(StatusCode::UNAUTHORIZED, media, "UNAUTHENTICATED", &error.to_string());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return (response, "rejected", vec!["UNAUTHENTICATED"]);
        }
    };
    let (deadline, budget) = match admission::deadline(headers, inner.request_timeout) {
        Ok(deadline) => deadline,
        Err(message) => {
            let response = request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", message);
            return (response, "rejected", vec!["BAD_REQUEST"]);
        }
    };
    let upstreams = inner.upstreams.for_request(RequestContext {
        deadline: Some(deadline),
        waterfall: Some(waterfall.clone()),
        span: Some(span),
        traceparent: observe::traceparent(headers),
        tracestate: observe::tracestate(headers),
        request_id: headers.get("x-request-id").cloned(),
    });
    let scope = RequestScope::new(upstreams, viewer, inner.limits, inner.batch_delay);
    // Every upstream call ends by the deadline, so execution does too; this bound
    // only guards against a resolver stuck on something else.
    match tokio::time::timeout(budget + EXECUTION_GRACE, inner.schema.execute(request.data(scope))).await {
        Ok(mut response) => {
            let codes: Vec<&'static str> = response.errors.iter().map(observe::error_code).collect();
            let outcome = match (codes.is_empty(), response.data == async_graphql::Value::Null) {
                (true, _) => "ok",
                (false, false) => "partial",
                (false, true) => "error",
            };
            if waterfall.detailed() {
                let report = serde_json::to_value(waterfall.report()).unwrap_or_default();
                response.extensions.insert(
                    "upstream".to_owned(),
                    async_graphql::Value::from_json(report).unwrap_or_default(),
                );
            }
            (respond(response, media), outcome, codes)
        }
        Err(_) => {
            let response = request_error(
                StatusCode::GATEWAY_TIMEOUT,
                media,
                "DEADLINE_EXCEEDED",
                "the request did not finish before its deadline",
            );
            (response, "error", vec!["DEADLINE_EXCEEDED"])
        }
    }
}

/// Serialises a GraphQL response with the status its media type calls for.
fn respond(response: async_graphql::Response, media: Media) -> Response {
    // Errors without a path happened before execution: parsing or validation.
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = if request_failed && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if request_failed {
        // A request error has no `data` entry at all.
        serde_json::to_vec(&json!({"errors": response.errors}))
    } else {
        serde_json::to_vec(&response)
    };
    let body = body.unwrap_or_else(|_| br#"{"errors":[{"message":"internal error"}]}"#.to_vec());
    (
        status,
        [
            (header::CONTENT_TYPE, media.content_type()),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        ],
        body,
    )
        .into_response()
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
    fn negotiation_prefers_the_graphql_response_type() {
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
