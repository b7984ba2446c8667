//! The shared HTTP clients and the one place where upstream requests are made.
//!
//! Every call goes through [`Upstreams::send`] (via `get`, `post_with`, the
//! batches and the cache), which:
//! - stop before starting a call that the request's deadline leaves no time for;
//! - pass the service's [`Guard`] (circuit breaker, bulkhead);
//! - give the call `min(its timeout, time left)`, and cancel it when that passes;
//! - attach `X-User-Id` for private calls;
//! - read at most `max_response_bytes` of the answer;
//! - retry connection failures, timeouts and 502/503/504 with jittered exponential
//!   backoff (or the service's `Retry-After`), while the service's recent calls
//!   mostly succeed, within its retry budget and the time left (every contract
//!   call is a read, so every call is idempotent);
//! - open a span with the service, route, batch size, status and attempt (a child of
//!   the request's span, even from a DataLoader's task), send the W3C trace context
//!   and `X-Request-Id`, and turn every failure into an [`UpstreamError`];
//! - count each attempt in the metrics and the request's [`Waterfall`].

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{
    Client, Method, StatusCode,
    header::{CACHE_CONTROL, HeaderValue, RETRY_AFTER},
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument;
use url::Url;

use super::{
    ErrorKind, Service, UpstreamError, UserId,
    cache::{CacheCounters, EntityCache, MAX_FRESHNESS, RedisStore, StaleLog},
    coalesce::{FlightDeadline, FlightKey, Flights},
    guard::{BreakerState, Guard, GuardSettings, Refusal},
    waterfall::{Attempt, Waterfall},
};
use crate::telemetry::{self, Metrics};

/// How the gateway talks to one service.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// The service's base URL.
    pub base: Url,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of a call, answer included.
    pub timeout: Duration,
    /// Its protections.
    pub guard: GuardSettings,
}

/// Settings shared by every service.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Idle keep-alive connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
    /// Largest answer read from an upstream.
    pub max_response_bytes: usize,
    /// Attempts per call at most (1 = no retries).
    pub max_attempts: u32,
    /// First backoff between attempts; doubles with each retry, fully jittered.
    pub base_backoff: Duration,
    /// Longest backoff, and the longest `Retry-After` honoured.
    pub max_backoff: Duration,
    /// TLS to `https` upstreams (`upstreams.tls`).
    pub tls: crate::config::TlsFiles,
}

/// One service's client, settings and protections.
struct Endpoint {
    client: Client,
    settings: ServiceSettings,
    guard: Guard,
}

struct Shared {
    endpoints: HashMap<Service, Endpoint>,
    http: HttpSettings,
    /// The entity cache (`None` when `cache.enabled` is off).
    cache: Option<EntityCache>,
    /// Identical calls in flight (`None` when coalescing is off).
    flights: Option<Flights>,
    counters: Arc<CacheCounters>,
    redis: Option<Arc<RedisStore>>,
    metrics: Metrics,
}

/// The entity cache, coalescing and the shared store, as [`Upstreams::new`] takes them.
#[derive(Default)]
pub struct Caching {
    /// The entity cache; `None`: off.
    pub cache: Option<EntityCache>,
    /// Share identical calls in flight.
    pub coalesce: bool,
    /// Counters of both (and of Redis trouble).
    pub counters: Arc<CacheCounters>,
    /// The Redis tier replicas share, for others to use too (persisted queries).
    pub redis: Option<Arc<RedisStore>>,
}

/// What one GraphQL request asks of its upstream calls.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// When the request's answer is due; no call runs past it.
    pub deadline: Option<Instant>,
    /// Where the upstream layer notes what it served stale for this request.
    pub stale: Arc<StaleLog>,
    /// Records every attempt (always counted; in detail for `extensions.upstream`).
    pub waterfall: Option<Arc<Waterfall>>,
    /// The span upstream attempts are children of (the GraphQL operation's); calls
    /// made from a DataLoader's task would otherwise have no parent.
    pub span: Option<tracing::Span>,
    /// The client's `traceparent`, passed on as is while trace export is off.
    pub traceparent: Option<HeaderValue>,
    /// The client's `tracestate`, passed on with its `traceparent`.
    pub tracestate: Option<HeaderValue>,
    /// The request's id, sent as `X-Request-Id` on every call.
    pub request_id: Option<HeaderValue>,
}

/// A decoded answer and its freshness.
pub(super) struct Answer<V> {
    /// What the body decoded to.
    pub value: V,
    /// `max-age` of a `public` answer without `no-store`/`private`; else `None`.
    pub max_age: Option<Duration>,
}

/// Turns an answer's body into a value (a plain `fn`, so a shared call can own it).
pub(super) type Decode<V> = fn(&[u8]) -> Result<V, String>;

/// Where an attempt hands the body of a successful answer to be decoded: the
/// decoder of one answer type behind a `dyn`, keeping the value it made.
type Sink<'a> = &'a mut (dyn FnMut(&[u8]) -> Result<(), String> + Send);

/// A successful answer's freshness, its value left with the [`Sink`].
struct Fresh {
    /// As [`Answer::max_age`].
    max_age: Option<Duration>,
}

/// The JSON decoder of `T`.
///
/// The body's UTF-8 is checked once, up front, and serde_json then reads a `&str`,
/// which it does not check again. Reading bytes, it checks every string on its
/// own, and those checks were 8 % of `HomeScreen`'s instructions (callgrind; menus
/// are mostly strings). A body that is not UTF-8 is refused either way.
pub(super) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The owned facts of a call that its attempts need.
#[derive(Clone, Copy)]
pub(super) struct Sent {
    pub service: Service,
    pub route: &'static str,
    pub user: Option<UserId>,
    pub batch: usize,
}

/// Handles to all thirteen services. Cheap to clone.
///
/// [`Upstreams::for_request`] gives a copy bound to one request's
/// [`RequestContext`]; the per-service methods live next to their wire types in
/// this module's files (`catalog.rs`, `users.rs`, ...).
#[derive(Clone)]
pub struct Upstreams {
    shared: Arc<Shared>,
    request: Arc<RequestContext>,
    /// Set on the copy that runs a shared call: its deadline, which followers
    /// extend, replaces the first caller's.
    flight_deadline: Option<Arc<FlightDeadline>>,
}

/// One request about to be made.
pub(super) struct Call<'a> {
    pub service: Service,
    /// Route template, e.g. `GET /restaurants` (for spans, stats and errors).
    pub route: &'static str,
    /// Path segments below the service's base URL, e.g. `["restaurants"]`; each is
    /// percent-encoded, so an id can never add a segment.
    pub path: &'a [&'a str],
    /// Query parameters.
    pub query: &'a [(&'a str, String)],
    /// The user whose private data this call reads, if any.
    pub user: Option<UserId>,
    /// Ids asked for (for the span).
    pub batch: usize,
}

impl Upstreams {
    /// Builds a client per service. `services` must name every service.
    pub fn new(
        services: HashMap<Service, ServiceSettings>,
        http: HttpSettings,
        caching: Caching,
    ) -> anyhow::Result<Self> {
        let Caching {
            cache,
            coalesce,
            counters,
            redis,
        } = caching;
        let mut endpoints = HashMap::with_capacity(services.len());
        for (service, settings) in services {
            // TLS (rustls on `ring`): the platform's roots plus `upstreams.tls.ca_file`,
            // an optional client certificate; HTTP/2 when the upstream offers it by
            // ALPN. One client, so one pool, per service.
            let client = crate::tls::client_builder(Client::builder(), &http.tls)?
                .connect_timeout(settings.connect_timeout)
                .pool_max_idle_per_host(http.pool_max_idle_per_host)
                // An upstream's redirect is an error, never followed: reqwest would
                // carry `X-User-Id` to wherever the `Location` points, another host
                // included (it strips only the standard credential headers).
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true)
                .user_agent(concat!("delivery-gateway/", env!("CARGO_PKG_VERSION")))
                .build()?;
            let guard = Guard::new(service, &settings.guard);
            endpoints.insert(
                service,
                Endpoint {
                    client,
                    settings,
                    guard,
                },
            );
        }
        let metrics = Metrics::new();
        CacheCounters::export(&counters, &metrics)?;
        Ok(Self {
            shared: Arc::new(Shared {
                endpoints,
                http,
                cache,
                flights: coalesce.then(Flights::default),
                counters,
                redis,
                metrics,
            }),
            request: Arc::new(RequestContext::default()),
            flight_deadline: None,
        })
    }

    /// The cache's and coalescing's counters (hits, misses, stale, Redis errors),
    /// for metrics.
    pub fn cache_counters(&self) -> &Arc<CacheCounters> {
        &self.shared.counters
    }

    /// The Redis tier replicas share, when configured.
    pub fn redis(&self) -> Option<&Arc<RedisStore>> {
        self.shared.redis.as_ref()
    }

    pub(super) fn cache(&self) -> Option<&EntityCache> {
        self.shared.cache.as_ref()
    }

    pub(super) fn request(&self) -> &RequestContext {
        &self.request
    }

    /// A copy whose calls obey `request` (its deadline).
    pub fn for_request(&self, request: RequestContext) -> Self {
        Self {
            shared: self.shared.clone(),
            request: Arc::new(request),
            flight_deadline: None,
        }
    }

    /// A copy that runs a shared call, under the call's own deadline.
    fn for_flight(&self, deadline: Arc<FlightDeadline>) -> Self {
        Self {
            shared: self.shared.clone(),
            request: self.request.clone(),
            flight_deadline: Some(deadline),
        }
    }

    /// The metrics registry these clients count into; the server adds its own
    /// metrics to it and serves it at `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The circuit breakers that are not closed, for readiness reports.
    pub fn breakers_not_closed(&self) -> Vec<(Service, BreakerState)> {
        let mut states: Vec<_> = self
            .shared
            .endpoints
            .iter()
            .map(|(s, e)| (*s, e.guard.breaker_state()))
            .filter(|(_, state)| *state != BreakerState::Closed)
            .collect();
        states.sort_by_key(|(s, _)| *s);
        states
    }

    /// The client, base URL and per-attempt timeout of `service`, with the retry
    /// settings: for the calls of `live.rs` that need headers of their own
    /// (`Idempotency-Key`, `If-None-Match`) and their own retry rules.
    pub(super) fn raw_endpoint(&self, service: Service) -> Option<(&Client, &Url, Duration, &HttpSettings)> {
        let endpoint = self.shared.endpoints.get(&service)?;
        Some((
            &endpoint.client,
            &endpoint.settings.base,
            endpoint.settings.timeout,
            &self.shared.http,
        ))
    }

    /// `GET`s a JSON answer. `Ok(None)` when the service answers `404`.
    pub(super) async fn get<T>(&self, call: Call<'_>) -> Result<Option<T>, UpstreamError>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let answer = self.send(Method::GET, call, None, json::<T>).await?;
        // Shared only when another request joined the call.
        Ok(answer.map(|a| Arc::try_unwrap(a).map_or_else(|a| a.value.clone(), |a| a.value)))
    }

    /// `POST`s a JSON body and decodes the answer with `decode`.
    pub(super) async fn post_with<B: Serialize + Sync, V: Send + Sync + 'static>(
        &self,
        call: Call<'_>,
        body: &B,
        decode: Decode<V>,
    ) -> Result<Arc<Answer<V>>, UpstreamError> {
        let (service, route) = (call.service, call.route);
        let bytes =
            serde_json::to_vec(body).map_err(|e| error(service, route, ErrorKind::Decode(e.to_string().into())))?;
        self.send(Method::POST, call, Some(bytes), decode)
            .await?
            .ok_or_else(|| status_error(service, route, StatusCode::NOT_FOUND, ""))
    }

    /// The client, settings and guard of `service`.
    fn endpoint(&self, service: Service, route: &'static str) -> Result<&Endpoint, UpstreamError> {
        self.shared
            .endpoints
            .get(&service)
            .ok_or_else(|| error(service, route, ErrorKind::Connect("no base URL configured".into())))
    }

    /// The call, shared with an identical one in flight where that is allowed:
    /// `GET`s (keyed with the user, so private answers are shared only between
    /// requests of the same user) and `POST`s without a user.
    pub(super) async fn send<V: Send + Sync + 'static>(
        &self,
        method: Method,
        call: Call<'_>,
        body: Option<Vec<u8>>,
        decode: Decode<V>,
    ) -> Result<Option<Arc<Answer<V>>>, UpstreamError> {
        let (service, route) = (call.service, call.route);
        let endpoint = self.endpoint(service, route)?;
        let url = url(&endpoint.settings.base, &call).map_err(|kind| error(service, route, kind))?;
        let sent = Sent {
            service,
            route,
            user: call.user,
            batch: call.batch,
        };
        let shareable = method == Method::GET || call.user.is_none();
        match &self.shared.flights {
            Some(flights) if shareable => {
                let key = FlightKey {
                    method: &method,
                    url: &url,
                    body: body.as_deref(),
                    user: call.user,
                }
                .text::<V>();
                let deadline = self.request.deadline;
                let join = |key: String| {
                    let (this, method, url, body) = (self.clone(), method.clone(), url.clone(), body.clone());
                    flights.join(
                        &self.shared.counters,
                        (service, route),
                        key,
                        deadline,
                        move |flight_deadline| async move {
                            this.for_flight(flight_deadline)
                                .send_now(method, sent, url, body, decode)
                                .await
                        },
                    )
                };
                match join(key.clone()).await {
                    // The shared call ran out of time before this request did (it
                    // ended just as this one joined): one call of its own.
                    Err(e)
                        if matches!(e.kind, ErrorKind::DeadlineExceeded)
                            && self.time_left().is_some_and(|left| left >= Duration::from_millis(1)) =>
                    {
                        join(key).await
                    }
                    outcome => outcome,
                }
            }
            _ => self.send_now(method, sent, url, body, decode).await,
        }
    }

    /// The call with its retries, its answer decoded with `decode`.
    ///
    /// This shell is compiled once per answer type (sixteen); the retries and
    /// attempts below it ([`Upstreams::send_raw`]) reach the decoder through a
    /// `dyn` [`Sink`], so they are compiled once for all of them (the library's
    /// LLVM IR: 2,907,024 lines before, 2,828,787 after).
    async fn send_now<V: Send>(
        &self,
        method: Method,
        call: Sent,
        url: Url,
        body: Option<Vec<u8>>,
        decode: Decode<V>,
    ) -> Result<Option<Arc<Answer<V>>>, UpstreamError> {
        let mut value = None;
        let mut sink = |bytes: &[u8]| decode(bytes).map(|decoded| value = Some(decoded));
        let Some(Fresh { max_age }) = self.send_raw(method, call, url, body, &mut sink).await? else {
            return Ok(None);
        };
        // A success is the sink's: it kept the value it decoded.
        let value =
            value.ok_or_else(|| error(call.service, call.route, ErrorKind::Decode("no value decoded".into())))?;
        Ok(Some(Arc::new(Answer { value, max_age })))
    }

    /// The retry loop of [`Upstreams::send_now`], for any answer type.
    async fn send_raw(
        &self,
        method: Method,
        call: Sent,
        url: Url,
        body: Option<Vec<u8>>,
        sink: Sink<'_>,
    ) -> Result<Option<Fresh>, UpstreamError> {
        let (service, route) = (call.service, call.route);
        let endpoint = self.endpoint(service, route)?;
        let http = &self.shared.http;
        endpoint.guard.deposit();
        let mut attempt = 1;
        loop {
            let outcome = self
                .attempt(endpoint, &method, url.clone(), &call, body.clone(), attempt, &mut *sink)
                .await;
            let (result, retry_after) = match outcome {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let retryable = result.may_retry() && attempt < http.max_attempts;
            let backoff = retry_after.unwrap_or_else(|| full_jitter(http.base_backoff, http.max_backoff, attempt));
            // A retry must be able to start and finish before the deadline.
            let time_left = self.time_left();
            let fits = backoff <= http.max_backoff && time_left.is_none_or(|left| left > backoff);
            // Only while the service mostly succeeds (a service that is plainly
            // down gets no retries), then only within its budget.
            if !(retryable && fits && endpoint.guard.worth_retrying() && endpoint.guard.withdraw()) {
                return Err(result);
            }
            tracing::debug!(service = service.name(), route, attempt, ?backoff, error = %result.kind, "retrying");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    /// When this call must end: the request's deadline, or a shared call's own.
    fn deadline(&self) -> Option<Instant> {
        match &self.flight_deadline {
            Some(flight) => flight.get(),
            None => self.request.deadline,
        }
    }

    /// The time left before this call's deadline (`None`: no deadline).
    pub(super) fn time_left(&self) -> Option<Duration> {
        self.deadline()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Resolves once the deadline has passed, following it when a shared call's
    /// deadline moves later while waiting; never without a deadline.
    async fn deadline_passed(&self) {
        loop {
            match self.deadline() {
                None => std::future::pending::<()>().await,
                Some(deadline) if Instant::now() >= deadline => return,
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
            }
        }
    }

    /// One attempt, counted in the metrics and the request's waterfall. On failure,
    /// the error and the service's `Retry-After`.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        url: Url,
        call: &Sent,
        body: Option<Vec<u8>>,
        attempt: u32,
        sink: Sink<'_>,
    ) -> Result<Option<Fresh>, (UpstreamError, Option<Duration>)> {
        let started = Instant::now();
        let mut status = None;
        let ids = self
            .request
            .waterfall
            .as_ref()
            .filter(|w| w.detailed())
            .and_then(|_| ids_of(&url));
        let outcome = self
            .attempt_inner(endpoint, method, url, call, body, attempt, sink, &mut status)
            .await;
        let label = match &outcome {
            Ok(Some(_)) => "ok",
            Ok(None) => "not_found",
            Err((error, _)) => error_label(&error.kind),
        };
        let service = call.service.name();
        self.shared
            .metrics
            .upstream(service, call.route, label, call.batch, started.elapsed());
        if let Some(waterfall) = &self.request.waterfall {
            waterfall.record(Attempt {
                service: call.service,
                method: if *method == Method::POST { "POST" } else { "GET" },
                route: call.route,
                batch: call.batch,
                ids,
                started,
                status,
                error: outcome.as_ref().err().map(|(e, _)| error_label(&e.kind)),
                attempt,
            });
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt_inner(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        url: Url,
        call: &Sent,
        body: Option<Vec<u8>>,
        attempt: u32,
        sink: Sink<'_>,
        status_seen: &mut Option<u16>,
    ) -> Result<Option<Fresh>, (UpstreamError, Option<Duration>)> {
        let (service, route) = (call.service, call.route);
        let fail = |kind| (error(service, route, kind), None);
        let time_left = self.time_left();
        if time_left.is_some_and(|left| left < Duration::from_millis(1)) {
            return Err(fail(ErrorKind::DeadlineExceeded));
        }
        let _permit = endpoint
            .guard
            .admit(time_left.unwrap_or(Duration::MAX))
            .await
            .map_err(|refusal| {
                fail(match refusal {
                    Refusal::CircuitOpen => ErrorKind::CircuitOpen,
                    Refusal::Busy => ErrorKind::Busy,
                })
            })?;
        let parent = (self.request.span.as_ref())
            .and_then(tracing::Span::id)
            .or_else(|| tracing::Span::current().id());
        let span = tracing::debug_span!(
            parent: parent,
            "upstream",
            otel.name = route,
            otel.kind = "client",
            service = service.name(),
            route,
            batch = call.batch,
            attempt,
            cache_hit = false,
            status = tracing::field::Empty,
        );
        let trace_context = telemetry::outgoing_trace_context(&span);
        let exchange = async {
            let mut request = endpoint.client.request(method.clone(), url);
            if let Some(user) = call.user {
                request = request.header("x-user-id", user.0);
            }
            request = match trace_context {
                // Export is on: the upstream's parent is this attempt's span.
                Some((traceparent, tracestate)) => {
                    request = request.header("traceparent", traceparent);
                    match tracestate {
                        Some(tracestate) => request.header("tracestate", tracestate),
                        None => request,
                    }
                }
                // Export is off: pass the client's context on untouched.
                None => match &self.request.traceparent {
                    Some(traceparent) => {
                        request = request.header("traceparent", traceparent.clone());
                        match &self.request.tracestate {
                            Some(tracestate) => request.header("tracestate", tracestate.clone()),
                            None => request,
                        }
                    }
                    None => request,
                },
            };
            if let Some(id) = &self.request.request_id {
                request = request.header("x-request-id", id.clone());
            }
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
            }
            let mut response = request.send().await.map_err(|e| transport_error(&e))?;
            let status = response.status();
            tracing::Span::current().record("status", status.as_u16());
            let retry_after = retry_after(&response);
            let max_age = public_max_age(&response);
            let bytes = read_limited(&mut response, self.shared.http.max_response_bytes).await?;
            Ok::<_, ErrorKind>((status, (retry_after, max_age), bytes))
        };
        // The service's timeout or the deadline, whichever comes first, cuts the
        // attempt short; the deadline is read again when it passes, because a
        // shared call's deadline moves later when a request joins it.
        let exchange = tokio::time::timeout(endpoint.settings.timeout, exchange).instrument(span);
        let result = tokio::select! {
            result = exchange => result.unwrap_or(Err(ErrorKind::Timeout)),
            () = self.deadline_passed() => Err(ErrorKind::DeadlineExceeded),
        };
        if let Ok((status, _, _)) = &result {
            *status_seen = Some(status.as_u16());
        }
        let outcome = match result {
            Err(kind) => Err(fail(kind)),
            Ok((StatusCode::NOT_FOUND, _, _)) => Ok(None),
            Ok((status, (retry_after, _), bytes)) if !status.is_success() => {
                let message = serde_json::from_slice::<ErrorBody>(&bytes)
                    .map(|b| b.error)
                    .unwrap_or_default();
                Err((status_error(service, route, status, &message), retry_after))
            }
            Ok((_, (_, max_age), bytes)) => sink(&bytes)
                .map(|()| Some(Fresh { max_age }))
                .map_err(|e| fail(ErrorKind::Decode(e.into()))),
        };
        let healthy = match &outcome {
            Ok(_) => true,
            Err((e, _)) => !e.is_service_failure(),
        };
        // A call the deadline cut short says nothing about the service.
        if !matches!(&outcome, Err((e, _)) if matches!(e.kind, ErrorKind::DeadlineExceeded)) {
            endpoint.guard.record(healthy);
        }
        outcome
    }
}

/// The metrics' and waterfall's name for how an attempt failed (a closed set).
fn error_label(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Connect(_) => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Status { status, .. } if *status >= 500 => "http_5xx",
        ErrorKind::Status { .. } => "http_4xx",
        ErrorKind::Decode(_) => "bad_response",
        ErrorKind::CircuitOpen => "circuit_open",
        ErrorKind::Busy => "busy",
        ErrorKind::DeadlineExceeded => "deadline",
    }
}

/// The ids a batch call asks for, as its URL carries them (`ids`, `restaurantIds`).
fn ids_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(name, _)| matches!(name.as_ref(), "ids" | "restaurantIds"))
        .map(|(_, ids)| ids.into_owned())
}

/// The URL of `call` below `base`.
fn url(base: &Url, call: &Call<'_>) -> Result<Url, ErrorKind> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| ErrorKind::Connect("base URL cannot have a path".into()))?
        .pop_if_empty()
        .extend(call.path);
    if !call.query.is_empty() {
        url.set_query(Some(&query_text(call.query)));
    }
    Ok(url)
}

/// `query` form-encoded, but with commas as they are: the contract writes id
/// lists as `?restaurantIds=4,8,15`, a comma needs no escaping in a query, and
/// every `%2C` made the URL that reqwest parses twice per call longer.
fn query_text(query: &[(&str, String)]) -> String {
    let mut text = String::with_capacity(query.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (name, value)) in query.iter().enumerate() {
        if i > 0 {
            text.push('&');
        }
        text.extend(url::form_urlencoded::byte_serialize(name.as_bytes()));
        text.push('=');
        for part in url::form_urlencoded::byte_serialize(value.as_bytes()) {
            text.push_str(if part == "%2C" { "," } else { part });
        }
    }
    text
}

/// Reads the body, refusing more than `limit` bytes.
async fn read_limited(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, ErrorKind> {
    let too_large = || ErrorKind::Decode(format!("answer larger than {limit} bytes").into());
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the contract).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    parse_retry_after(response.headers().get(RETRY_AFTER)?.to_str().ok()?)
}

/// `Retry-After`'s delay-seconds. A number too large for a `u64` saturates
/// (it is then far above `max_backoff`, so the call is not retried, as the
/// service asked); anything but digits is ignored.
fn parse_retry_after(value: &str) -> Option<Duration> {
    delta_seconds(value.trim()).map(Duration::from_secs)
}

/// An HTTP delta-seconds value (`1*DIGIT`), saturating at `u64::MAX`.
fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// `max-age` of a `Cache-Control: public, max-age=N` answer; `None` for anything
/// `private`, `no-store`, `no-cache` or not marked `public`.
fn public_max_age(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(CACHE_CONTROL)?.to_str().ok()?;
    parse_public_max_age(value)
}

/// The parser behind [`public_max_age`]: a `max-age` of any size is clamped to
/// the cache's [`MAX_FRESHNESS`] (RFC 9111 asks a cache to read one too large to
/// represent as a very long time, never as an error), so no freshness computed
/// from it can overflow.
fn parse_public_max_age(value: &str) -> Option<Duration> {
    let mut public = false;
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        match directive.as_str() {
            "public" => public = true,
            "private" | "no-store" | "no-cache" => return None,
            d => {
                if let Some(n) = d.strip_prefix("max-age=") {
                    max_age = delta_seconds(n.trim_matches('"')).map(|n| Duration::from_secs(n).min(MAX_FRESHNESS));
                }
            }
        }
    }
    if public { max_age } else { None }
}

/// Exponential backoff with full jitter: uniform in `0..=min(max, base * 2^(attempt-1))`.
fn full_jitter(base: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(max);
    ceiling.mul_f64(fastrand::f64())
}

/// Query parameters as `k=v&k=v` (for cache keys).
pub(super) fn join_query(query: &[(&str, String)]) -> String {
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
}

fn error(service: Service, route: &'static str, kind: ErrorKind) -> UpstreamError {
    UpstreamError::new(service, route, kind)
}

pub(super) fn status_error(service: Service, route: &'static str, status: StatusCode, message: &str) -> UpstreamError {
    error(
        service,
        route,
        ErrorKind::Status {
            status: status.as_u16(),
            message: message.into(),
        },
    )
}

fn transport_error(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    // The source chain says what broke (refused, reset, ...).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ErrorKind::Connect(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let (base, max) = (Duration::from_millis(20), Duration::from_millis(200));
        for attempt in 1..20 {
            let ceiling = base.saturating_mul(1 << (attempt - 1).min(16)).min(max);
            let backoff = full_jitter(base, max, attempt);
            assert!(backoff <= ceiling, "attempt {attempt}: {backoff:?}");
        }
    }

    #[test]
    fn cache_control_of_any_size_is_clamped() {
        let max = Some(MAX_FRESHNESS);
        assert_eq!(parse_public_max_age("public, max-age=18446744073709551615"), max);
        assert_eq!(parse_public_max_age("public, max-age=99999999999999999999999999"), max);
        assert_eq!(
            parse_public_max_age("public, max-age=60"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_public_max_age("Public, Max-Age=\"30\""),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_public_max_age("max-age=60"), None);
        assert_eq!(parse_public_max_age("public, max-age=60, private"), None);
        assert_eq!(parse_public_max_age("public, max-age=-1"), None);
        assert_eq!(parse_public_max_age("public, max-age=+5"), None);
    }

    #[test]
    fn a_huge_retry_after_saturates_and_is_not_honoured() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        let huge = parse_retry_after("99999999999999999999999").unwrap();
        assert_eq!(huge, Duration::from_secs(u64::MAX));
        assert!(huge > Duration::from_millis(250), "above any max_backoff: no retry");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    proptest::proptest! {
        #[test]
        fn any_cache_control_parses_without_panic_into_at_most_a_day(value in ".{0,80}") {
            if let Some(max_age) = parse_public_max_age(&value) {
                proptest::prop_assert!(max_age <= MAX_FRESHNESS);
            }
        }

        #[test]
        fn any_max_age_number_is_clamped(digits in "[0-9]{1,40}") {
            let max_age = parse_public_max_age(&format!("public, max-age={digits}")).unwrap();
            proptest::prop_assert!(max_age <= MAX_FRESHNESS);
            if let Ok(n) = digits.parse::<u64>() {
                proptest::prop_assert_eq!(max_age, Duration::from_secs(n).min(MAX_FRESHNESS));
            }
        }

        #[test]
        fn any_retry_after_parses_without_panic(value in ".{0,40}", digits in "[0-9]{1,40}") {
            let _ = parse_retry_after(&value);
            let delay = parse_retry_after(&digits).unwrap();
            if let Ok(n) = digits.parse::<u64>() {
                proptest::prop_assert_eq!(delay, Duration::from_secs(n));
            } else {
                proptest::prop_assert_eq!(delay, Duration::from_secs(u64::MAX));
            }
        }
    }

    #[test]
    fn a_batch_url_carries_its_ids_as_the_contract_writes_them() {
        let base = Url::parse("http://127.0.0.1:4001/base/").unwrap();
        let query = [("restaurantIds", "4,8,15".to_owned()), ("areaId", "B 3&x=ü".to_owned())];
        let call = Call {
            service: Service::Pricing,
            route: "GET /fees",
            path: &["fees"],
            query: &query,
            user: None,
            batch: 3,
        };
        let url = url(&base, &call).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:4001/base/fees?restaurantIds=4,8,15&areaId=B+3%26x%3D%C3%BC"
        );
        let decoded: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(decoded, query.map(|(k, v)| (k.to_owned(), v)));
    }
}
