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

mod execute;
mod request;
mod respond;

use axum::{
    body::Bytes,
    extract::{RawQuery, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use std::sync::Arc;
use tracing::Instrument;

use super::{
    AppState, cancel,
    observe::{self, Finished},
    playground,
};
use crate::upstream::Waterfall;
use execute::{execute, identify};
use request::{
    Body, GetParams, Incoming, Media, RequestError, get_request, negotiate, not_acceptable, read_post, wants_html,
};
use respond::respond;

/// Answers a request refused before it reached the endpoint (while its body was
/// read, say) as the endpoint answers its own request errors: JSON in the media
/// type the client accepts, `extensions.code`, `Cache-Control: no-store`.
pub(super) fn refuse(
    headers: &HeaderMap,
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    let media = negotiate(headers).unwrap_or(Media::Json);
    RequestError::http(status, code, message).into_response(media)
}

/// Whether the client may read the schema's SDL (`GET /schema.graphql`, or any
/// other place that serves it): the introspection policy, applied exactly as to
/// an introspection query. `Err` is the answer to send instead: `401` for a
/// refused token, `403 INTROSPECTION_DISABLED` when the policy says no.
pub(super) async fn may_read_schema(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let media = negotiate(headers).unwrap_or(Media::Json);
    let identity = identify(state, headers)
        .await
        .map_err(|error| error.into_response(media))?;
    if state.inner.introspection.allows(headers, identity.as_ref()) {
        return Ok(());
    }
    Err(RequestError::http(
        StatusCode::FORBIDDEN,
        "INTROSPECTION_DISABLED",
        "the schema is not served here; fetch it from the team that runs this gateway",
    )
    .into_response(media))
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
        return playground::page(&state, &headers);
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    match get_request(&state, &headers, params) {
        Ok(incoming) => single(&state, &headers, media, Box::new(incoming), true).await,
        Err(error) => error.into_response(media),
    }
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
    // Dropped unanswered when the client goes away (hyper drops this future).
    let abandoned = cancel::Abandoned::new(&label);
    let (response, outcome, codes) = answer(state, headers, media, *incoming, over_get, observed)
        .instrument(span.clone())
        .await;
    abandoned.answered();
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
    pub(super) waterfall: Arc<Waterfall>,
    pub(super) span: tracing::Span,
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
            let traced = waterfall.detailed();
            if traced {
                let report = serde_json::to_value(waterfall.report()).unwrap_or_default();
                response.extensions.insert(
                    "upstream".to_owned(),
                    async_graphql::Value::from_json(report).unwrap_or_default(),
                );
            }
            // Only an anonymous GET of fresh data may be cached by a CDN, and never
            // one that carries the waterfall (internal routes, for whoever asked).
            let public = over_get && identity.is_none() && !served_stale && !traced;
            let vary = state.inner.observe.vary();
            (
                respond(response, media, state.inner.max_errors, public, vary),
                outcome,
                codes,
            )
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
    let answers = futures_util::future::join_all(runs).await;
    respond::batch(
        answers.into_iter().map(|run| run.map(|(response, _)| response)),
        media,
        state.inner.max_errors,
    )
}
