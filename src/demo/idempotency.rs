//! Idempotency keys of the writes that are not safe to repeat (calls 18 and 19).
//!
//! A key (`Idempotency-Key`, 1-64 characters of `[A-Za-z0-9_-]`) is scoped to the
//! user and the route as called (`POST /orders`, `POST /orders/20000001/cancel`).
//! The same key with a body equal as JSON, within 24 hours (monotonic wall clock),
//! answers the kept result again; with another body, `409`. While a request with
//! the key is being handled, another with it answers `409` with `Retry-After: 1`.
//! Only `2xx` and `4xx` results are kept; after a `5xx`, or no answer at all (the
//! handler dropped), the key is free again.
//!
//! Bounded: records expire after 24 hours, and beyond [`MAX_KEY_RECORDS`] the oldest
//! is dropped. Cleared by `POST /_admin/reset`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::reply::{ApiError, PRIVATE};

/// The request header carrying the key.
pub(crate) const KEY_HEADER: &str = "idempotency-key";
/// How long a kept result answers repeats.
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Records kept at most; beyond it the oldest is dropped.
pub const MAX_KEY_RECORDS: usize = 100_000;

/// The request's key; missing or malformed is a 400.
pub(crate) fn request_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(KEY_HEADER)
        .ok_or_else(|| ApiError::bad("missing Idempotency-Key header"))?;
    let key = value.to_str().unwrap_or_default();
    let well_formed =
        (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if well_formed {
        Ok(key.to_owned())
    } else {
        Err(ApiError::bad(
            "Idempotency-Key must be 1-64 characters of A-Z, a-z, 0-9, _ and -",
        ))
    }
}

/// Whose key, on which route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    user: u64,
    route: String,
    key: String,
}

impl Scope {
    /// `user`'s `key` on `route` (the method and path as called).
    pub(crate) fn new(user: u64, route: impl Into<String>, key: String) -> Scope {
        Scope {
            user,
            route: route.into(),
            key,
        }
    }
}

/// A result: its status and JSON body, answered `private, no-store`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    status: StatusCode,
    body: Bytes,
}

impl Outcome {
    /// A handler's result as it will be answered (and perhaps kept).
    pub(crate) fn of(result: Result<(StatusCode, impl Serialize), ApiError>) -> Outcome {
        let (status, body) = match result {
            Ok((status, body)) => (status, serde_json::to_vec(&body)),
            Err(error) => (error.status(), serde_json::to_vec(&error.body())),
        };
        match body {
            Ok(body) => Outcome {
                status,
                body: Bytes::from(body),
            },
            Err(_) => Outcome {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: Bytes::from_static(b"{\"error\":\"could not serialise the answer\"}"),
            },
        }
    }

    fn kept(&self) -> bool {
        self.status.is_success() || self.status.is_client_error()
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let headers = [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE)),
        ];
        (self.status, headers, self.body).into_response()
    }
}

#[derive(Debug)]
struct Record {
    seq: u64,
    body: Value,
    outcome: Option<Outcome>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    records: HashMap<Scope, Record>,
    /// Creation order: sequence number → (created, scope).
    by_age: BTreeMap<u64, (Instant, Scope)>,
}

impl Inner {
    fn remove(&mut self, scope: &Scope, seq: u64) {
        if self.records.get(scope).is_some_and(|r| r.seq == seq) {
            self.records.remove(scope);
            self.by_age.remove(&seq);
        }
    }

    fn drop_oldest_while(&mut self, mut stale: impl FnMut(&Self, Instant) -> bool) {
        while let Some((&seq, (created, _))) = self.by_age.first_key_value() {
            if !stale(self, *created) {
                break;
            }
            if let Some((_, scope)) = self.by_age.remove(&seq) {
                self.records.remove(&scope);
            }
        }
    }
}

/// What [`Idempotency::begin`] decided.
#[derive(Debug)]
pub(crate) enum Begin<'a> {
    /// A new key (or a free one): handle the request, then [`Ticket::finish`].
    Run(Ticket<'a>),
    /// A repeat: answer this again.
    Replay(Outcome),
    /// The key was used with another body: 409.
    Mismatch,
    /// A request with the key is being handled: 409 with `Retry-After: 1`.
    InProgress,
}

/// Every key's record, behind a briefly held lock (never across an `.await`).
#[derive(Debug)]
pub(crate) struct Idempotency {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Default for Idempotency {
    fn default() -> Self {
        Idempotency::with_capacity(MAX_KEY_RECORDS)
    }
}

impl Idempotency {
    /// Keeping at most `capacity` records.
    pub(crate) fn with_capacity(capacity: usize) -> Idempotency {
        Idempotency {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A request with `scope`'s key and `body` arrives at `now`.
    pub(crate) fn begin(&self, scope: Scope, body: Value, now: Instant) -> Begin<'_> {
        self.with(|inner| {
            inner.drop_oldest_while(|_, created| now.saturating_duration_since(created) >= KEY_TTL);
            if let Some(record) = inner.records.get(&scope) {
                return match &record.outcome {
                    None => Begin::InProgress,
                    Some(outcome) if record.body == body => Begin::Replay(outcome.clone()),
                    Some(_) => Begin::Mismatch,
                };
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.by_age.insert(seq, (now, scope.clone()));
            inner.records.insert(
                scope.clone(),
                Record {
                    seq,
                    body,
                    outcome: None,
                },
            );
            let capacity = self.capacity;
            inner.drop_oldest_while(|inner, _| inner.records.len() > capacity);
            Begin::Run(Ticket {
                store: self,
                scope,
                seq,
                finished: false,
            })
        })
    }

    /// Records held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.with(|inner| inner.records.len())
    }

    /// Forgets every key.
    pub(crate) fn reset(&self) {
        self.with(|inner| {
            inner.records.clear();
            inner.by_age.clear();
        });
    }
}

/// A request being handled under a key. Dropped without [`Ticket::finish`] (the
/// handler gave up or the client went away), it frees the key.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    store: &'a Idempotency,
    scope: Scope,
    seq: u64,
    finished: bool,
}

impl Ticket<'_> {
    /// The request's result: kept if `2xx` or `4xx` (the key is freed otherwise), and
    /// answered.
    pub(crate) fn finish(mut self, outcome: Outcome) -> Response {
        self.finished = true;
        self.store.with(|inner| {
            if !outcome.kept() {
                inner.remove(&self.scope, self.seq);
                return;
            }
            if let Some(record) = inner.records.get_mut(&self.scope).filter(|r| r.seq == self.seq) {
                record.outcome = Some(outcome.clone());
            }
        });
        outcome.into_response()
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.store.with(|inner| inner.remove(&self.scope, self.seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(key: &str) -> Scope {
        Scope::new(42, "POST /orders", key.to_owned())
    }

    fn created() -> Outcome {
        Outcome::of(Ok((StatusCode::CREATED, json!({"id": 1}))))
    }

    #[test]
    fn keys_must_be_1_to_64_safe_characters() {
        let mut headers = HeaderMap::new();
        assert!(request_key(&headers).is_err());
        for bad in ["", "a b", "é", "a/b", &"k".repeat(65)] {
            headers.insert(
                KEY_HEADER,
                HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static("")),
            );
            assert!(request_key(&headers).is_err(), "{bad:?}");
        }
        for good in ["a", "Order-1_x", &"k".repeat(64)] {
            headers.insert(KEY_HEADER, HeaderValue::from_str(good).expect("a header value"));
            assert_eq!(request_key(&headers).ok().as_deref(), Some(good));
        }
    }

    #[test]
    fn a_repeat_replays_another_body_conflicts_and_in_flight_is_in_progress() {
        let store = Idempotency::default();
        let now = Instant::now();
        let Begin::Run(ticket) = store.begin(scope("k"), json!({"a": 1, "b": 2}), now) else {
            panic!("a new key runs");
        };
        assert!(matches!(
            store.begin(scope("k"), json!({"a": 1, "b": 2}), now),
            Begin::InProgress
        ));
        ticket.finish(created());
        let again = store.begin(scope("k"), json!({"b": 2, "a": 1}), now);
        assert!(matches!(again, Begin::Replay(o) if o == created()));
        assert!(matches!(store.begin(scope("k"), json!({"a": 2}), now), Begin::Mismatch));
        let other_user = Scope::new(7, "POST /orders", "k".to_owned());
        assert!(matches!(store.begin(other_user, json!({}), now), Begin::Run(_)));
    }

    #[test]
    fn server_errors_and_dropped_requests_free_the_key() {
        let store = Idempotency::default();
        let now = Instant::now();
        let Begin::Run(ticket) = store.begin(scope("k"), json!(1), now) else {
            panic!()
        };
        ticket.finish(Outcome::of(Err::<(StatusCode, ()), _>(ApiError::Injected)));
        let Begin::Run(ticket) = store.begin(scope("k"), json!(2), now) else {
            panic!()
        };
        drop(ticket);
        assert_eq!(store.len(), 0);
        let Begin::Run(ticket) = store.begin(scope("k"), json!(3), now) else {
            panic!()
        };
        ticket.finish(Outcome::of(Err::<(StatusCode, ()), _>(ApiError::unprocessable(
            "items", "empty",
        ))));
        assert!(matches!(store.begin(scope("k"), json!(3), now), Begin::Replay(_)));
    }

    #[test]
    fn records_expire_after_24_hours_and_are_bounded() {
        let store = Idempotency::with_capacity(2);
        let now = Instant::now();
        for key in ["a", "b", "c"] {
            let Begin::Run(ticket) = store.begin(scope(key), json!(1), now) else {
                panic!()
            };
            ticket.finish(created());
        }
        assert_eq!(store.len(), 2);
        assert!(
            matches!(store.begin(scope("a"), json!(2), now), Begin::Run(_)),
            "the oldest went"
        );
        assert!(matches!(store.begin(scope("c"), json!(1), now), Begin::Replay(_)));
        let later = now + KEY_TTL - Duration::from_millis(1);
        assert!(matches!(store.begin(scope("c"), json!(1), later), Begin::Replay(_)));
        let expired = now + KEY_TTL;
        assert!(matches!(store.begin(scope("c"), json!(2), expired), Begin::Run(_)));
        store.reset();
        assert_eq!(store.len(), 0);
    }
}
