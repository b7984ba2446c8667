//! The one error type of the upstream layer.
//!
//! It is `Clone` (cheap: `Arc`ed text) because a DataLoader hands one batch's error
//! to every key of that batch.

use std::sync::Arc;

use super::Service;

/// A failed upstream call: which service and route, and how it failed.
///
/// Surfaces at the GraphQL edge as an error on every field that depended on the call,
/// with `extensions.code` derived from [`ErrorKind`] and `extensions.service`; the
/// `detail` text goes to the log only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} {route}: {kind}")]
pub struct UpstreamError {
    /// The service that failed.
    pub service: Service,
    /// The route template called, e.g. `GET /restaurants`.
    pub route: &'static str,
    /// How it failed.
    pub kind: ErrorKind,
}

/// How an upstream call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ErrorKind {
    /// The connection could not be made or broke (`UPSTREAM_UNAVAILABLE`).
    #[error("connection failed: {0}")]
    Connect(Arc<str>),
    /// No complete answer within the call's timeout (`UPSTREAM_TIMEOUT`).
    #[error("timed out")]
    Timeout,
    /// The service answered with a non-success status (`UPSTREAM_UNAVAILABLE` for
    /// 502/503/504, `UPSTREAM_ERROR` otherwise).
    #[error("status {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The `error` text of the body, if there was one.
        message: Arc<str>,
    },
    /// The answer was not the JSON the contract describes (`UPSTREAM_BAD_RESPONSE`).
    #[error("bad response: {0}")]
    Decode(Arc<str>),
}

impl UpstreamError {
    pub(crate) fn new(service: Service, route: &'static str, kind: ErrorKind) -> Self {
        Self { service, route, kind }
    }

    /// Whether trying the same call again may succeed (timeouts, connection
    /// failures, 502/503/504).
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::Connect(_) | ErrorKind::Timeout => true,
            ErrorKind::Status { status, .. } => matches!(status, 502..=504),
            ErrorKind::Decode(_) => false,
        }
    }
}
