//! The trace headers the demo saw (`traceparent`, `tracestate`, `x-request-id`),
//! counted per value, so tests can prove the gateway passes them on. Served at
//! `GET /_admin/headers`, cleared by `POST /_admin/reset`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::http::HeaderMap;

/// The headers recorded.
pub const RECORDED: [&str; 3] = ["traceparent", "tracestate", "x-request-id"];

/// Distinct values kept per header; later ones are not recorded (a long-running
/// demo under load would otherwise grow without bound).
const MAX_VALUES: usize = 256;

/// Header name → value → calls that carried it.
pub type HeadersSnapshot = BTreeMap<&'static str, BTreeMap<String, u64>>;

/// The live counts, behind a briefly held lock (never across an `.await`).
#[derive(Debug, Default)]
pub(crate) struct HeadersSeen(Mutex<HeadersSnapshot>);

impl HeadersSeen {
    /// Counts the recorded headers of one call.
    pub(crate) fn record(&self, headers: &HeaderMap) {
        if !RECORDED.iter().any(|name| headers.contains_key(*name)) {
            return;
        }
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for name in RECORDED {
            let Some(value) = headers.get(name) else { continue };
            let value = String::from_utf8_lossy(value.as_bytes())
                .chars()
                .take(256)
                .collect::<String>();
            let values = seen.entry(name).or_default();
            if values.len() < MAX_VALUES || values.contains_key(&value) {
                *values.entry(value).or_default() += 1;
            }
        }
    }

    /// A copy of the counts.
    pub(crate) fn snapshot(&self) -> HeadersSnapshot {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forgets everything.
    pub(crate) fn reset(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
