//! Browser safety: CSRF prevention and CORS.
//!
//! **CSRF**, as Apollo Server does it. A browser sends some requests to any origin
//! without asking first (a "simple" request: `GET`, or `POST` with
//! `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`,
//! and only CORS-safelisted headers). Such a request must not run an operation.
//! `POST /graphql` reads only `application/json`, which a browser never sends
//! cross-origin without a preflight, so the `415` gate protects `POST`; a `GET`
//! must carry a header that a form or a link cannot set: a non-simple
//! `Content-Type`, or one of `browser.csrf_headers`. GraphiQL's page is a `GET`
//! with no `query`; it executes nothing and stays reachable.
//!
//! **CORS**: only the origins of `browser.cors_origins` get CORS headers, with
//! credentials; with the list empty (the default) no CORS layer is installed and
//! browsers keep cross-origin scripts from reading any answer.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

use crate::config::BrowserConfig;

/// Content types a browser may send cross-origin without a preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/// Decides whether a `GET` may run an operation.
#[derive(Debug, Clone)]
pub struct CsrfPolicy {
    enabled: bool,
    headers: Vec<HeaderName>,
}

impl CsrfPolicy {
    /// The policy of `config`.
    pub fn new(config: &BrowserConfig) -> Self {
        Self {
            enabled: config.csrf_prevention,
            headers: config
                .csrf_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
        }
    }

    /// Whether a request with `headers` could not have come from a plain form or
    /// link: it carries a non-simple `Content-Type` or a preflight header.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if !self.enabled || self.headers.iter().any(|h| headers.contains_key(h)) {
            return true;
        }
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|essence| !essence.is_empty() && !SIMPLE_CONTENT_TYPES.contains(&essence.as_str()))
    }
}

/// The CORS layer for `config`, or `None` when no origin is allowed.
pub fn cors_layer(config: &BrowserConfig) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let listed = origins.clone();
    let mut allowed_headers = vec![header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT];
    allowed_headers.extend(
        config
            .csrf_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    );
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            // Credentials only ever for a listed origin.
            .allow_credentials(AllowCredentials::predicate(move |origin, _| listed.contains(origin)))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(allowed_headers)
            .max_age(Duration::from_secs(config.cors_max_age.as_secs())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn a_simple_request_is_refused_and_a_scripted_one_allowed() {
        let policy = CsrfPolicy::new(&BrowserConfig::default());
        assert!(!policy.allows(&headers(&[])));
        assert!(!policy.allows(&headers(&[("content-type", "text/plain; charset=utf-8")])));
        assert!(!policy.allows(&headers(&[("accept", "application/json")])));
        assert!(policy.allows(&headers(&[("content-type", "application/json")])));
        assert!(policy.allows(&headers(&[("apollo-require-preflight", "true")])));
        assert!(policy.allows(&headers(&[("x-requested-with", "XMLHttpRequest")])));
    }

    #[test]
    fn no_origins_means_no_cors_layer() {
        assert!(cors_layer(&BrowserConfig::default()).is_none());
    }
}
