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
    /// The answer was not the JSON the contract describes, or was larger than
    /// allowed (`UPSTREAM_BAD_RESPONSE`).
    #[error("bad response: {0}")]
    Decode(Arc<str>),
    /// The service's circuit breaker is open: the call was not made (`CIRCUIT_OPEN`).
    #[error("circuit open")]
    CircuitOpen,
    /// Too many calls to the service in flight; no place freed up in time
    /// (`UPSTREAM_BUSY`).
    #[error("too many calls in flight")]
    Busy,
    /// The request's deadline came before the call could finish, or so close that
    /// it was not started (`DEADLINE_EXCEEDED`).
    #[error("request deadline exceeded")]
    DeadlineExceeded,
}

impl UpstreamError {
    pub(crate) fn new(service: Service, route: &'static str, kind: ErrorKind) -> Self {
        Self { service, route, kind }
    }

    /// Whether the gateway may try the call again itself: connection failures,
    /// timeouts and 502/503/504.
    pub fn may_retry(&self) -> bool {
        match &self.kind {
            ErrorKind::Connect(_) | ErrorKind::Timeout => true,
            ErrorKind::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// Whether the service itself misbehaved (for its circuit breaker): failures
    /// to connect, timeouts, 5xx and unreadable answers. A 4xx is the caller's fault.
    pub fn is_service_failure(&self) -> bool {
        match &self.kind {
            ErrorKind::Connect(_) | ErrorKind::Timeout | ErrorKind::Decode(_) => true,
            ErrorKind::Status { status, .. } => *status >= 500,
            ErrorKind::CircuitOpen | ErrorKind::Busy | ErrorKind::DeadlineExceeded => false,
        }
    }

    /// Whether a client trying the same request later may succeed (timeouts, connection
    /// failures, 502/503/504).
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::Connect(_) | ErrorKind::Timeout => true,
            ErrorKind::Status { status, .. } => matches!(status, 502..=504),
            ErrorKind::Decode(_) => false,
            ErrorKind::CircuitOpen | ErrorKind::Busy | ErrorKind::DeadlineExceeded => true,
        }
    }
}
