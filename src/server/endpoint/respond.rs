//! Writing an answer: serialisation, the status its media type calls for, the
//! error cap, `extensions.stale`, and the cache headers.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::request::{Media, RequestError};
use crate::{graphql::response_json, upstream::cache::StaleLog};

/// The answer when an answer cannot be serialised (it always can).
pub(super) const INTERNAL_ERROR: &str = r#"{"errors":[{"message":"internal error"}]}"#;

/// Keeps the first `max - 1` errors and sums up the rest in one.
pub(super) fn cap_errors(errors: &mut Vec<async_graphql::ServerError>, max: usize) {
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

/// Lists in `extensions.stale` what was served from an expired cache entry
/// because its service failed; `true` if anything was.
pub(super) fn flag_stale(response: &mut async_graphql::Response, stale: &StaleLog) -> bool {
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
pub(super) fn cache_control(response: &async_graphql::Response, public: bool) -> HeaderValue {
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

/// Serialises a GraphQL response with the status its media type calls for: a
/// request error (nothing executed) is `400` under the GraphQL media type and
/// has no `data`; at most `max_errors` errors; cache headers for a `public`
/// answer (an anonymous GET of fresh data, without the waterfall), and `vary`,
/// the request headers that change the answer.
pub(super) fn respond(
    mut response: async_graphql::Response,
    media: Media,
    max_errors: usize,
    public: bool,
    vary: HeaderValue,
) -> Response {
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
            (header::VARY, vary),
        ],
        body,
    )
        .into_response()
}

/// The answer to a batch: each run's answer (or request error) serialised on
/// its own, capped, and joined into one array, `200`. Joined as bytes: a
/// `serde_json::Value` would sort the keys that the spec orders as the
/// selection asked for them.
pub(super) fn batch(
    runs: impl Iterator<Item = Result<async_graphql::Response, RequestError>>,
    media: Media,
    max_errors: usize,
) -> Response {
    let answers: Vec<Vec<u8>> = runs
        .map(|run| {
            match run {
                Ok(mut response) => {
                    cap_errors(&mut response.errors, max_errors);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
