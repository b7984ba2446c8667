//! GraphQL errors at the edge: stable `extensions.code`s, no internals.
//!
//! Every error a client sees is made here. Upstream failures carry the `service`
//! and whether a retry may help; their full cause goes to the log, inside the
//! request's span, and never into the response.

use async_graphql::{Error, ErrorExtensions};

use crate::upstream::{ErrorKind, UpstreamError};

/// The codes a client can match on (`extensions.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The field needs a signed-in user, or the token was refused.
    Unauthenticated,
    /// An argument is out of range or malformed.
    BadUserInput,
    /// An upstream did not answer in time.
    UpstreamTimeout,
    /// An upstream could not be reached or said it is unavailable (502/503/504).
    UpstreamUnavailable,
    /// An upstream answered with another error status.
    UpstreamError,
    /// An upstream answered something that is not what the contract says.
    UpstreamBadResponse,
    /// The service's circuit breaker is open after repeated failures: the call
    /// was not made.
    CircuitOpen,
    /// Too many calls to the service were in flight.
    UpstreamBusy,
    /// The request's deadline came before the field's data.
    DeadlineExceeded,
    /// Not run: an earlier field failed under `onError: HALT`.
    Halted,
    /// A subscription's order does not exist or is not the user's.
    NotFound,
    /// A limit on subscriptions was reached.
    LimitExceeded,
}

impl Code {
    /// The text of `extensions.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Code::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Code::UpstreamError => "UPSTREAM_ERROR",
            Code::UpstreamBadResponse => "UPSTREAM_BAD_RESPONSE",
            Code::CircuitOpen => "CIRCUIT_OPEN",
            Code::UpstreamBusy => "UPSTREAM_BUSY",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::Halted => "HALTED",
            Code::NotFound => "NOT_FOUND",
            Code::LimitExceeded => "LIMIT_EXCEEDED",
        }
    }
}

/// An error with a message for people and a code for programs.
pub fn coded(code: Code, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// The field needs a signed-in user.
pub fn unauthenticated() -> Error {
    coded(
        Code::Unauthenticated,
        "sign in: this field needs `Authorization: Bearer <token>`",
    )
}

/// An argument is wrong; `message` says which and why.
pub fn bad_input(message: impl Into<String>) -> Error {
    coded(Code::BadUserInput, message)
}

/// The client-facing form of an upstream failure. Logs the full cause.
pub fn upstream(error: &UpstreamError) -> Error {
    tracing::warn!(
        service = error.service.name(),
        route = error.route,
        error = %error.kind,
        "upstream call failed"
    );
    let service = error.service.name();
    let (code, message, status) = match &error.kind {
        ErrorKind::Timeout => (
            Code::UpstreamTimeout,
            format!("the {service} service did not answer in time"),
            None,
        ),
        ErrorKind::Connect(_) => (
            Code::UpstreamUnavailable,
            format!("the {service} service is unavailable"),
            None,
        ),
        ErrorKind::Status {
            status: s @ 502..=504, ..
        } => (
            Code::UpstreamUnavailable,
            format!("the {service} service is unavailable"),
            Some(*s),
        ),
        ErrorKind::Status { status, .. } => (
            Code::UpstreamError,
            format!("the {service} service answered with an error"),
            Some(*status),
        ),
        ErrorKind::Decode(_) => (
            Code::UpstreamBadResponse,
            format!("the {service} service sent an answer that could not be read"),
            None,
        ),
        ErrorKind::CircuitOpen => (
            Code::CircuitOpen,
            format!("the {service} service is failing; calls to it are paused"),
            None,
        ),
        ErrorKind::Busy => (Code::UpstreamBusy, format!("the {service} service is busy"), None),
        ErrorKind::DeadlineExceeded => (
            Code::DeadlineExceeded,
            format!("the request's deadline passed before the {service} service answered"),
            None,
        ),
    };
    let retryable = error.is_retryable();
    Error::new(message).extend_with(move |_, e| {
        e.set("code", code.as_str());
        e.set("service", service);
        e.set("retryable", retryable);
        if let Some(status) = status {
            e.set("upstreamStatus", status);
        }
    })
}

/// `?` on upstream results inside resolvers.
pub trait UpstreamResultExt<T> {
    /// Converts the error into its GraphQL form.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> UpstreamResultExt<T> for Result<T, UpstreamError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| upstream(&e))
    }
}
