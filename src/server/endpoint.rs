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
//! - Every document goes through the pre-check of [`super::limits`] before
//!   async-graphql parses or validates it (the parsed document is handed over, so
//!   it is parsed once). Past a limit: a request error whose `extensions.code`
//!   names it (`400` under the GraphQL media type, `200` under JSON), nothing
//!   executed.
//! - A `GET` must pass the CSRF check of [`super::browser`]; a compressed body
//!   (`Content-Encoding`) is `415`; a batch (a JSON array) is refused, or run when
//!   `limits.max_batch` allows; a response carries at most `limits.max_errors`
//!   errors; introspection follows [`super::IntrospectionPolicy`].
//! - The client chooses the error behaviour with `onError` (`PROPAGATE`, the
//!   default; `NULL`; `HALT`: graphql-spec PR 1163): a POST body's top-level key,
//!   a GET's URL parameter, or `extensions.onError` (the top level wins); any
//!   other value is a request error.

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
    AppState, admission, limits,
    observe::{self, Finished},
    playground,
};
use crate::{
    auth::Identity,
    graphql::{OnError, RequestScope, response_json, selected_operation},
    upstream::{RequestContext, Waterfall, cache::StaleLog},
};

/// Time past the deadline that execution may take to assemble the answer.
const EXECUTION_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// The answer when an answer cannot be serialised (it always can).
const INTERNAL_ERROR: &str = r#"{"errors":[{"message":"internal error"}]}"#;
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

/// A request that is refused before anything executes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestError {
    /// The status, or `None` for a document error: `400` under the GraphQL media
    /// type and `200` under JSON, as the GraphQL-over-HTTP spec says.
    status: Option<StatusCode>,
    code: &'static str,
    message: String,
}

impl RequestError {
    fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            code,
            message: message.into(),
        }
    }

    fn document(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: None,
            code,
            message: message.into(),
        }
    }

    fn status(&self, media: Media) -> StatusCode {
        self.status.unwrap_or(match media {
            Media::GraphqlResponse => StatusCode::BAD_REQUEST,
            Media::Json => StatusCode::OK,
        })
    }

    fn body(&self) -> serde_json::Value {
        json!({"errors": [{"message": self.message, "extensions": {"code": self.code}}]})
    }

    fn into_response(self, media: Media) -> Response {
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

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    match read_post(&state, &headers, body) {
        Ok(Body::Single(incoming)) => single(&state, &headers, media, incoming, false).await,
        Ok(Body::Batch(requests)) => batch(&state, &headers, media, requests).await,
        Err(error) => error.into_response(media),
    }
}

enum Body {
    Single(Box<Incoming>),
    Batch(Vec<Incoming>),
}

/// A GraphQL request as the client sent it, with the `onError` it named at the
/// top level of a POST body or in the URL of a GET.
struct Incoming {
    request: async_graphql::Request,
    on_error: Option<serde_json::Value>,
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
enum OnErrorKeys {
    Single(OnErrorKey),
    Batch(Vec<OnErrorKey>),
}

#[derive(Deserialize)]
struct OnErrorKey {
    #[serde(rename = "onError")]
    on_error: Option<serde_json::Value>,
}

/// The error behaviour a request asks for: its top-level `onError` (a POST
/// body's key or a GET's parameter), else `extensions.onError`; `PROPAGATE` when
/// it names none.
fn on_error_of(
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
fn read_post(state: &AppState, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Body, RequestError> {
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
struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    operation_name: Option<String>,
    extensions: Option<String>,
    on_error: Option<String>,
}

/// `GET /graphql`: the playground for a browser, else a query from the URL.
pub async fn get(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let params: GetParams = match serde_urlencoded::from_str(raw.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(_) => {
            let media = negotiate(&headers).unwrap_or(Media::Json);
            return RequestError::http(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the URL parameters could not be read",
            )
            .into_response(media);
        }
    };
    if params.query.is_none() && wants_html(&headers) && state.inner.graphiql {
        return playground::page(&state);
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    match get_request(&state, &headers, params) {
        Ok(incoming) => single(&state, &headers, media, Box::new(incoming), true).await,
        Err(error) => error.into_response(media),
    }
}

fn get_request(state: &AppState, headers: &HeaderMap, params: GetParams) -> Result<Incoming, RequestError> {
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

type Document = async_graphql::parser::types::ExecutableDocument;

/// Whether the operation `request` selects is anything but a query.
fn selects_mutation(document: &Document, name: Option<&str>) -> bool {
    use async_graphql::parser::types::OperationType;
    selected_operation(document, name).is_some_and(|op| op.node.ty != OperationType::Query)
}

/// The first required variable (non-null, no default) that the request leaves out
/// or sets to null. async-graphql would report it on a field path, as if the
/// operation had run; the spec makes it a request error.
fn missing_variable(document: &Document, name: Option<&str>, variables: &async_graphql::Variables) -> Option<String> {
    let operation = selected_operation(document, name)?;
    operation.node.variable_definitions.iter().find_map(|definition| {
        let definition = &definition.node;
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let given = variables
            .get(&definition.name.node)
            .is_some_and(|v| *v != async_graphql::Value::Null);
        (required && !given).then(|| definition.name.node.to_string())
    })
}

fn not_acceptable() -> Response {
    RequestError::http(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
    .into_response(Media::Json)
}

/// Who is asking: `None` for anonymous, a `401` error for a refused token.
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Identity>, RequestError> {
    state
        .inner
        .auth
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .await
        .map_err(|error| RequestError::http(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", error.to_string()))
}

/// One operation, observed: its span, metrics and log line around [`answer`].
async fn single(
    state: &AppState,
    headers: &HeaderMap,
    media: Media,
    incoming: Box<Incoming>,
    over_get: bool,
) -> Response {
    let observe = &state.inner.observe;
    let started = std::time::Instant::now();
    let operation = observe::Operation::of(&incoming.request);
    let label = observe.metrics.operation_label(operation.name.as_deref());
    let _in_flight = observe.metrics.in_flight();
    let span = tracing::info_span!(
        "graphql",
        otel.name = %format_args!("{} {}", operation.kind, operation.name.as_deref().unwrap_or("anonymous")),
        operation.name = %label,
        operation.type = operation.kind,
    );
    let waterfall = Arc::new(Waterfall::new(observe.waterfall_allowed(headers)));
    let observed = Observed {
        waterfall: waterfall.clone(),
        span: span.clone(),
    };
    let (response, outcome, codes) = answer(state, headers, media, *incoming, over_get, observed)
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

/// What observes one operation's upstream calls.
struct Observed {
    waterfall: Arc<Waterfall>,
    span: tracing::Span,
}

/// Authenticates, pre-checks, executes, answers; with the outcome and error codes
/// for the metrics.
async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    media: Media,
    incoming: Incoming,
    over_get: bool,
    observed: Observed,
) -> (Response, &'static str, Vec<&'static str>) {
    let identity = match identify(state, headers).await {
        Ok(identity) => identity,
        Err(error) => {
            let code = error.code;
            return (error.into_response(media), "rejected", vec![code]);
        }
    };
    let waterfall = observed.waterfall.clone();
    match execute(state, headers, identity.as_ref(), incoming, over_get, Some(observed)).await {
        Ok((mut response, served_stale)) => {
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
            // Only an anonymous GET of fresh data may be cached by a CDN.
            let public = over_get && identity.is_none() && !served_stale;
            (respond(response, media, state.inner.max_errors, public), outcome, codes)
        }
        Err(error) => {
            let code = error.code;
            (error.into_response(media), "rejected", vec![code])
        }
    }
}

/// A batch (only when `limits.max_batch` allows it): each operation checked and
/// run on its own, together; the answer is an array, `200`.
async fn batch(state: &AppState, headers: &HeaderMap, media: Media, requests: Vec<Incoming>) -> Response {
    let identity = match identify(state, headers).await {
        Ok(identity) => identity,
        Err(error) => return error.into_response(media),
    };
    let runs = requests
        .into_iter()
        .map(|request| execute(state, headers, identity.as_ref(), request, false, None));
    // Each answer serialised on its own and joined: a `serde_json::Value` would
    // sort the keys that the spec orders as the selection asked for them.
    let answers: Vec<Vec<u8>> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(|outcome| {
            match outcome {
                Ok((mut response, _)) => {
                    cap_errors(&mut response.errors, state.inner.max_errors);
                    response_json(&response)
                }
                Err(error) => serde_json::to_vec(&error.body()),
            }
            .unwrap_or_else(|_| INTERNAL_ERROR.as_bytes().to_vec())
        })
        .collect();
    let body = [b"[".as_slice(), &answers.join(b",".as_slice()), b"]"].concat();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, media.content_type()),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        ],
        body,
    )
        .into_response()
}

/// Pre-checks the document, applies the introspection policy and executes with
/// a fresh per-request scope.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    identity: Option<&Identity>,
    incoming: Incoming,
    over_get: bool,
    observed: Option<Observed>,
) -> Result<(async_graphql::Response, bool), RequestError> {
    let inner = &state.inner;
    let Incoming { request, on_error } = incoming;
    let on_error = on_error_of(on_error.as_ref(), &request.extensions)?;
    // A persisted query's hash becomes its document before anything else looks.
    let mut request = inner
        .persisted
        .prepare(request)
        .await
        .map_err(|error| RequestError::document(error.code(), error.to_string()))?;
    let documents = &inner.documents;
    let (document, measures) =
        limits::check_with(&request.query, &request.variables, &inner.document_limits, |query| {
            documents.parse(query)
        })
        .map_err(|error| RequestError::document(error.code(), error.to_string()))?;
    if over_get && selects_mutation(&document, request.operation_name.as_deref()) {
        return Err(RequestError::http(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; send mutations with POST",
        ));
    }
    if let Some(name) = missing_variable(&document, request.operation_name.as_deref(), &request.variables) {
        return Err(RequestError::document(
            "BAD_USER_INPUT",
            format!("the required variable `${name}` is missing or null"),
        ));
    }
    if !inner.introspection.allows(headers, identity) {
        if measures.introspection {
            return Err(RequestError::document(
                "INTROSPECTION_DISABLED",
                "introspection is not allowed here; fetch the schema from the team that runs this gateway",
            ));
        }
        request = request.disable_introspection();
    }
    tracing::debug!(
        depth = measures.depth,
        complexity = measures.complexity,
        tokens = measures.tokens,
        "document accepted"
    );
    let (deadline, budget) = admission::deadline(headers, inner.request_timeout)
        .map_err(|message| RequestError::http(StatusCode::BAD_REQUEST, "BAD_REQUEST", message))?;
    let viewer = identity.map(|i| i.user);
    let stale = std::sync::Arc::new(StaleLog::default());
    let (waterfall, span) = match observed {
        Some(observed) => (Some(observed.waterfall), Some(observed.span)),
        None => (None, None),
    };
    let upstreams = inner.upstreams.for_request(RequestContext {
        deadline: Some(deadline),
        stale: stale.clone(),
        waterfall,
        span,
        traceparent: observe::traceparent(headers),
        tracestate: observe::tracestate(headers),
        request_id: headers.get("x-request-id").cloned(),
    });
    let scope = RequestScope::new(upstreams, viewer, inner.limits, inner.batch_delay);
    // Every upstream call ends by the deadline, so execution does too; this bound
    // only guards against a resolver stuck on something else.
    tokio::time::timeout(
        budget + EXECUTION_GRACE,
        inner.graphql.execute(request, &document, scope, on_error),
    )
    .await
    .map(|mut response| {
        let served_stale = flag_stale(&mut response, &stale);
        (response, served_stale)
    })
    .map_err(|_| {
        RequestError::http(
            StatusCode::GATEWAY_TIMEOUT,
            "DEADLINE_EXCEEDED",
            "the request did not finish before its deadline",
        )
    })
}

/// Keeps the first `max - 1` errors and sums up the rest in one.
fn cap_errors(errors: &mut Vec<async_graphql::ServerError>, max: usize) {
    if errors.len() <= max {
        return;
    }
    let omitted = errors.len() - max.saturating_sub(1);
    errors.truncate(max.saturating_sub(1));
    let mut summary = async_graphql::ServerError::new(format!("{omitted} more errors were omitted"), None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "TOO_MANY_ERRORS");
    summary.extensions = Some(extensions);
    errors.push(summary);
}

/// Serialises a GraphQL response with the status its media type calls for.
/// Lists in `extensions.stale` what was served from an expired cache entry
/// because its service failed; `true` if anything was.
fn flag_stale(response: &mut async_graphql::Response, stale: &StaleLog) -> bool {
    let entries = stale.entries();
    if entries.is_empty() {
        return false;
    }
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            tracing::warn!(
                service = e.service.name(),
                route = e.route,
                entities = e.ids.len(),
                "answered with stale data"
            );
            json!({
                "service": e.service.name(),
                "route": e.route,
                "ids": e.ids,
                "fields": crate::graphql::fields_served_by(e.service),
            })
        })
        .collect();
    if let Ok(value) = async_graphql::Value::from_json(serde_json::Value::Array(list)) {
        response.extensions.insert("stale".to_owned(), value);
    }
    true
}

/// `public, max-age=N` (the smallest hint of the fields answered) for a
/// `public` answer without errors; `private, no-store` for everything else.
fn cache_control(response: &async_graphql::Response, public: bool) -> HeaderValue {
    let hints = response.cache_control;
    if public
        && hints.public
        && hints.max_age > 0
        && response.errors.is_empty()
        && let Ok(value) = HeaderValue::from_str(&format!("public, max-age={}", hints.max_age))
    {
        return value;
    }
    HeaderValue::from_static("private, no-store")
}

fn respond(mut response: async_graphql::Response, media: Media, max_errors: usize, public: bool) -> Response {
    // Errors without a path happened before execution: parsing or validation.
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = if request_failed && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    cap_errors(&mut response.errors, max_errors);
    let body = if request_failed {
        for error in &mut response.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
            }
        }
        // A request error has no `data` entry at all.
        serde_json::to_vec(&json!({"errors": response.errors}))
    } else {
        response_json(&response)
    };
    let body = body.unwrap_or_else(|_| INTERNAL_ERROR.as_bytes().to_vec());
    (
        status,
        [
            (header::CONTENT_TYPE, media.content_type()),
            (header::CACHE_CONTROL, cache_control(&response, public)),
            (header::VARY, HeaderValue::from_static("accept, authorization")),
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
    fn errors_past_the_cap_become_one_summary() {
        let mut errors: Vec<_> = (0..120)
            .map(|i| async_graphql::ServerError::new(format!("e{i}"), None))
            .collect();
        cap_errors(&mut errors, 50);
        assert_eq!(errors.len(), 50);
        assert_eq!(errors[49].message, "71 more errors were omitted");
        let mut few = vec![async_graphql::ServerError::new("one", None)];
        cap_errors(&mut few, 50);
        assert_eq!(few.len(), 1);
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
