//! Live orders and writes (calls 17-21): one order with its version, placing and
//! cancelling an order, adding and removing a favourite. All private.
//!
//! These calls need headers the shared read path does not send (`Idempotency-Key`,
//! `If-None-Match`) and retry rules of their own, so they are made here, on the
//! service's own client:
//! - a write is never coalesced with another request's, never cached, and carries
//!   `X-User-Id` for exactly the user its caller names;
//! - a call with an idempotency key is retried (connection failures, timeouts,
//!   502/503/504) only with that same key and body, so a retry after a lost answer
//!   gets the kept answer, never a second order; the upstream's `409` with
//!   `Retry-After` ("in progress": the first attempt is still being handled) is
//!   waited out, not reported;
//! - calls 20-21 are idempotent by nature and retried like reads.

use std::time::{Duration, Instant};

use reqwest::{
    Method, StatusCode,
    header::{ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH, RETRY_AFTER},
};
use serde::Serialize;

use super::{
    AddressId, ErrorKind, MenuItemId, Order, OrderId, RestaurantId, Service, UpstreamError, Upstreams, UserId,
    http::status_error,
};

/// How many times at most an "in progress" answer is waited out.
const MAX_IN_PROGRESS_WAITS: u32 = 10;
/// The longest wait for an "in progress" key.
const MAX_IN_PROGRESS_WAIT: Duration = Duration::from_secs(2);

/// What call 17 answered.
#[derive(Debug, Clone)]
pub enum OrderRead {
    /// The order as it stands now.
    Current(Box<Order>),
    /// The order has not changed since the version asked about (`304`).
    NotModified,
    /// No such order for this user (`404`: unknown, or another user's).
    NotFound,
}

/// Why the service refused a write (a `4xx` the caller can act on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status (404, 409, 422).
    pub status: u16,
    /// The service's `error` text.
    pub message: String,
    /// For a `422`, the request field it names (`items[0].quantity`).
    pub field: Option<String>,
}

/// A write's result: done, or refused for a reason the caller can act on.
#[derive(Debug, Clone)]
pub enum Written<T> {
    /// The write happened (or had happened: a repeat with the same key).
    Done(T),
    /// The service refused it.
    Refused(Refusal),
}

/// Call 18's body, less `userId` (always the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Where from.
    pub restaurant_id: RestaurantId,
    /// Where to: one of the user's addresses.
    pub address_id: AddressId,
    /// What: menu item and quantity per line.
    pub items: Vec<(MenuItemId, i64)>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewOrderBody {
    user_id: UserId,
    restaurant_id: RestaurantId,
    address_id: AddressId,
    items: Vec<LineBody>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineBody {
    menu_item_id: MenuItemId,
    quantity: i64,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    field: Option<String>,
}

/// One call of this module.
struct Exchange<'a> {
    service: Service,
    route: &'static str,
    method: Method,
    path: &'a [&'a str],
    user: UserId,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
}

/// An answer as it came.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Upstreams {
    /// Call 17: the user's order `id` as it stands now; `NotModified` when its
    /// version is still `known`.
    pub async fn live_order(&self, user: UserId, id: OrderId, known: Option<u64>) -> Result<OrderRead, UpstreamError> {
        let route = "GET /orders/{orderId}";
        let id_text = id.0.to_string();
        let mut headers = Vec::new();
        if let Some(version) = known {
            let tag = HeaderValue::from_str(&format!("\"{version}\"")).expect("a quoted number is a header value");
            headers.push((IF_NONE_MATCH, tag));
        }
        let raw = self
            .exchange(Exchange {
                service: Service::Orders,
                route,
                method: Method::GET,
                path: &["orders", &id_text],
                user,
                headers,
                body: None,
            })
            .await?;
        match raw.status {
            StatusCode::NOT_MODIFIED => Ok(OrderRead::NotModified),
            StatusCode::NOT_FOUND => Ok(OrderRead::NotFound),
            s if s.is_success() => {
                let mut order: Order = decode(Service::Orders, route, &raw.body)?;
                // The `ETag` is the authority on the version.
                if let (Some(tag), Some(tracking)) = (etag_version(&raw.headers), order.tracking.as_mut()) {
                    tracking.version = tag;
                }
                if order.user_id != user {
                    return Ok(OrderRead::NotFound);
                }
                Ok(OrderRead::Current(Box::new(order)))
            }
            s => Err(refused_error(Service::Orders, route, s, &raw.body)),
        }
    }

    /// Call 18: places `order` for `user` under `key`.
    pub async fn place_order(
        &self,
        user: UserId,
        key: &str,
        order: &NewOrder,
    ) -> Result<Written<Order>, UpstreamError> {
        let route = "POST /orders";
        let body = NewOrderBody {
            user_id: user,
            restaurant_id: order.restaurant_id,
            address_id: order.address_id,
            items: order
                .items
                .iter()
                .map(|&(menu_item_id, quantity)| LineBody { menu_item_id, quantity })
                .collect(),
        };
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| UpstreamError::new(Service::Orders, route, ErrorKind::Decode(e.to_string().into())))?;
        let raw = self
            .exchange(Exchange {
                service: Service::Orders,
                route,
                method: Method::POST,
                path: &["orders"],
                user,
                headers: vec![idempotency_key(key, route)?],
                body: Some(bytes),
            })
            .await?;
        written_order(route, raw)
    }

    /// Call 19: cancels the user's order `id` under `key`.
    pub async fn cancel_order(&self, user: UserId, id: OrderId, key: &str) -> Result<Written<Order>, UpstreamError> {
        let route = "POST /orders/{orderId}/cancel";
        let id_text = id.0.to_string();
        let raw = self
            .exchange(Exchange {
                service: Service::Orders,
                route,
                method: Method::POST,
                path: &["orders", &id_text, "cancel"],
                user,
                headers: vec![idempotency_key(key, route)?],
                body: None,
            })
            .await?;
        written_order(route, raw)
    }

    /// Call 20 (`add`) or 21: makes `restaurant` one of the user's favourites, or
    /// no longer one.
    pub async fn set_favorite(
        &self,
        user: UserId,
        restaurant: RestaurantId,
        add: bool,
    ) -> Result<Written<()>, UpstreamError> {
        let (route, method) = if add {
            ("PUT /users/{id}/favorites/{restaurantId}", Method::PUT)
        } else {
            ("DELETE /users/{id}/favorites/{restaurantId}", Method::DELETE)
        };
        let (user_text, restaurant_text) = (user.0.to_string(), restaurant.0.to_string());
        let raw = self
            .exchange(Exchange {
                service: Service::Users,
                route,
                method,
                path: &["users", &user_text, "favorites", &restaurant_text],
                user,
                headers: Vec::new(),
                body: None,
            })
            .await?;
        match raw.status {
            s if s.is_success() => Ok(Written::Done(())),
            s @ (StatusCode::NOT_FOUND | StatusCode::CONFLICT) => Ok(Written::Refused(refusal(s, &raw.body))),
            s => Err(refused_error(Service::Users, route, s, &raw.body)),
        }
    }

    /// Makes the call, retrying what may be retried with the same headers and
    /// body; an answer with any status is returned as it came.
    async fn exchange(&self, call: Exchange<'_>) -> Result<Raw, UpstreamError> {
        let (service, route) = (call.service, call.route);
        let fail = |kind| UpstreamError::new(service, route, kind);
        let (client, base, timeout, http) = self
            .raw_endpoint(service)
            .ok_or_else(|| fail(ErrorKind::Connect("no base URL configured".into())))?;
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| fail(ErrorKind::Connect("base URL cannot have a path".into())))?
            .pop_if_empty()
            .extend(call.path);
        let deadline = self.request().deadline;
        let time_left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let (mut attempt, mut waits) = (1, 0);
        loop {
            let left = time_left();
            if left.is_some_and(|l| l < Duration::from_millis(1)) {
                return Err(fail(ErrorKind::DeadlineExceeded));
            }
            let this_timeout = left.map_or(timeout, |l| l.min(timeout));
            let mut request = client
                .request(call.method.clone(), url.clone())
                .header("x-user-id", call.user.0);
            for (name, value) in &call.headers {
                request = request.header(name, value.clone());
            }
            if let Some(id) = &self.request().request_id {
                request = request.header("x-request-id", id.clone());
            }
            if let Some(body) = &call.body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let sent = async {
                let response = request.send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>(Raw {
                    status,
                    headers,
                    body: body.to_vec(),
                })
            };
            let outcome = match tokio::time::timeout(this_timeout, sent).await {
                Err(_) => Err(fail(ErrorKind::Timeout)),
                Ok(Err(e)) if e.is_timeout() => Err(fail(ErrorKind::Timeout)),
                Ok(Err(e)) => Err(fail(ErrorKind::Connect(e.to_string().into()))),
                Ok(Ok(raw)) => Ok(raw),
            };
            let wait = match &outcome {
                // The first attempt with this key is still being handled: wait
                // for its answer, which the next attempt gets.
                Ok(raw) if raw.status == StatusCode::CONFLICT && in_progress(raw) => {
                    waits += 1;
                    if waits > MAX_IN_PROGRESS_WAITS {
                        return Err(status_error(service, route, raw.status, "in progress"));
                    }
                    retry_after(&raw.headers).min(MAX_IN_PROGRESS_WAIT)
                }
                Ok(raw) if !matches!(raw.status.as_u16(), 502..=504) => return outcome,
                _ if attempt >= http.max_attempts => {
                    return outcome.and_then(|raw| Err(refused_error(service, route, raw.status, &raw.body)));
                }
                Ok(raw) => {
                    attempt += 1;
                    raw.headers
                        .get(RETRY_AFTER)
                        .map(|_| retry_after(&raw.headers))
                        .unwrap_or_else(|| backoff(http.base_backoff, http.max_backoff, attempt))
                }
                Err(_) => {
                    attempt += 1;
                    backoff(http.base_backoff, http.max_backoff, attempt)
                }
            };
            if time_left().is_some_and(|l| l <= wait) {
                return match outcome {
                    Ok(raw) => Err(refused_error(service, route, raw.status, &raw.body)),
                    Err(e) => Err(e),
                };
            }
            tracing::debug!(
                service = service.name(),
                route,
                attempt,
                ?wait,
                "retrying a live-order call"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// The header of an idempotency key, or a `400`-like error for a key the
/// contract would refuse (the GraphQL layer checks keys first).
fn idempotency_key(key: &str, route: &'static str) -> Result<(HeaderName, HeaderValue), UpstreamError> {
    if !valid_idempotency_key(key) {
        return Err(status_error(
            Service::Orders,
            route,
            StatusCode::BAD_REQUEST,
            "malformed Idempotency-Key",
        ));
    }
    let value = HeaderValue::from_str(key).expect("checked characters");
    Ok((HeaderName::from_static("idempotency-key"), value))
}

/// Whether `key` is what the contract accepts: 1-64 of `[A-Za-z0-9_-]`.
pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn written_order(route: &'static str, raw: Raw) -> Result<Written<Order>, UpstreamError> {
    match raw.status {
        s if s.is_success() => Ok(Written::Done(decode(Service::Orders, route, &raw.body)?)),
        s @ (StatusCode::NOT_FOUND | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY) => {
            Ok(Written::Refused(refusal(s, &raw.body)))
        }
        s => Err(refused_error(Service::Orders, route, s, &raw.body)),
    }
}

fn refusal(status: StatusCode, body: &[u8]) -> Refusal {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    Refusal {
        status: status.as_u16(),
        message: parsed.as_ref().map(|b| b.error.clone()).unwrap_or_default(),
        field: parsed.and_then(|b| b.field),
    }
}

fn refused_error(service: Service, route: &'static str, status: StatusCode, body: &[u8]) -> UpstreamError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    status_error(service, route, status, &message)
}

fn decode<T: serde::de::DeserializeOwned>(
    service: Service,
    route: &'static str,
    body: &[u8],
) -> Result<T, UpstreamError> {
    serde_json::from_slice(body)
        .map_err(|e| UpstreamError::new(service, route, ErrorKind::Decode(e.to_string().into())))
}

/// Whether a `409` is the contract's "in progress" (it carries `Retry-After`).
fn in_progress(raw: &Raw) -> bool {
    raw.headers.contains_key(RETRY_AFTER)
        || serde_json::from_slice::<ErrorBody>(&raw.body).is_ok_and(|b| b.error == "in progress")
}

/// `Retry-After` in seconds; one second when absent or unreadable.
fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}

/// The version a strong `ETag` quotes (`"7"`).
fn etag_version(headers: &HeaderMap) -> Option<u64> {
    headers.get(ETAG)?.to_str().ok()?.trim().trim_matches('"').parse().ok()
}

/// Exponential backoff with full jitter.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(max);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_what_the_contract_accepts() {
        for good in ["a", "A-b_9", &"k".repeat(64)] {
            assert!(valid_idempotency_key(good), "{good}");
        }
        for bad in ["", "a b", "ä", "a/b", &"k".repeat(65)] {
            assert!(!valid_idempotency_key(bad), "{bad}");
        }
    }

    #[test]
    fn an_etag_quotes_the_version() {
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("\"7\""));
        assert_eq!(etag_version(&headers), Some(7));
    }
}
