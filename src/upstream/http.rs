//! The shared HTTP client and the one place where upstream requests are made.
//!
//! Every call goes through [`Upstreams::get`] or [`Upstreams::post`], which attach
//! `X-User-Id` for private calls, apply the timeout, open a span with the service,
//! route and batch size, and turn every failure into an [`UpstreamError`].

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::future::try_join_all;
use reqwest::{Client, Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument;
use url::Url;

use super::{ErrorKind, RestaurantId, Service, UpstreamError, UserId};

/// How the shared client talks to the upstreams.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole call, answer included.
    pub timeout: Duration,
    /// Idle keep-alive connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
}

/// Handles to all thirteen services: one shared client and a base URL for each.
///
/// Cheap to clone. The per-service methods live next to their wire types in this
/// module's files (`catalog.rs`, `users.rs`, ...).
#[derive(Clone)]
pub struct Upstreams {
    client: Client,
    bases: Arc<HashMap<Service, Url>>,
    timeout: Duration,
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
    /// Builds the clients. `bases` must name every service.
    pub fn new(bases: HashMap<Service, Url>, settings: &HttpSettings) -> reqwest::Result<Self> {
        let client = Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(concat!("delivery-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            bases: Arc::new(bases),
            timeout: settings.timeout,
        })
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, UpstreamError> {
        let base = self.bases.get(&call.service).ok_or_else(|| {
            UpstreamError::new(
                call.service,
                call.route,
                ErrorKind::Connect("no base URL configured".into()),
            )
        })?;
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                UpstreamError::new(
                    call.service,
                    call.route,
                    ErrorKind::Connect("base URL cannot have a path".into()),
                )
            })?
            .pop_if_empty()
            .extend(call.path);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query);
        }
        Ok(url)
    }

    /// `GET`s a JSON answer. `Ok(None)` when the service answers `404`.
    pub(super) async fn get<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Option<T>, UpstreamError> {
        self.send(Method::GET, call, None::<&()>).await
    }

    /// `POST`s a JSON body and reads a JSON answer.
    pub(super) async fn post<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        body: &B,
    ) -> Result<T, UpstreamError> {
        let (service, route) = (call.service, call.route);
        self.send(Method::POST, call, Some(body))
            .await?
            .ok_or_else(|| status_error(service, route, StatusCode::NOT_FOUND, ""))
    }

    async fn send<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        call: Call<'_>,
        body: Option<&B>,
    ) -> Result<Option<T>, UpstreamError> {
        let (service, route) = (call.service, call.route);
        let span = tracing::debug_span!(
            "upstream",
            service = service.name(),
            route,
            batch = call.batch,
            status = tracing::field::Empty,
        );
        async move {
            let url = self.url(&call)?;
            let mut request = self.client.request(method, url).timeout(self.timeout);
            if let Some(user) = call.user {
                request = request.header("x-user-id", user.0);
            }
            if let Some(body) = body {
                let bytes = serde_json::to_vec(body)
                    .map_err(|e| UpstreamError::new(service, route, ErrorKind::Decode(e.to_string().into())))?;
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes);
            }
            let response = request.send().await.map_err(|e| transport_error(service, route, &e))?;
            let status = response.status();
            tracing::Span::current().record("status", status.as_u16());
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport_error(service, route, &e))?;
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                let message = serde_json::from_slice::<ErrorBody>(&bytes)
                    .map(|b| b.error)
                    .unwrap_or_default();
                return Err(status_error(service, route, status, &message));
            }
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| UpstreamError::new(service, route, ErrorKind::Decode(e.to_string().into())))
        }
        .instrument(span)
        .await
    }

    /// Asks a batch endpoint for `ids`, split into chunks of at most `max` that go
    /// out concurrently, and concatenates the answers.
    pub(super) async fn batch<'a, I: Sync, T, F, Fut>(
        &self,
        ids: &'a [I],
        max: usize,
        fetch: F,
    ) -> Result<Vec<T>, UpstreamError>
    where
        F: Fn(&'a [I]) -> Fut,
        Fut: Future<Output = Result<Vec<T>, UpstreamError>>,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() <= max {
            return fetch(ids).await;
        }
        let chunks = try_join_all(ids.chunks(max).map(&fetch)).await?;
        Ok(chunks.into_iter().flatten().collect())
    }
}

/// A `GET` batch endpoint: ids comma-separated in `param`, plus `extra` query
/// parameters.
pub(super) struct BatchGet<'a> {
    pub service: Service,
    /// Route template, e.g. `GET /menus`.
    pub route: &'static str,
    /// Path below the service's base URL, one segment.
    pub path: &'a str,
    /// The query parameter that carries the ids.
    pub param: &'a str,
    /// The contract's maximum batch size.
    pub max: usize,
    /// Other query parameters.
    pub extra: &'a [(&'a str, String)],
    /// The user whose private data this reads, if any.
    pub user: Option<UserId>,
}

impl Upstreams {
    /// Asks a `GET` batch endpoint for `ids`, in chunks of at most its maximum.
    pub(super) async fn batch_get<T: DeserializeOwned>(
        &self,
        endpoint: &BatchGet<'_>,
        ids: &[RestaurantId],
    ) -> Result<Vec<T>, UpstreamError> {
        self.batch(ids, endpoint.max, |chunk| self.batch_get_chunk(endpoint, chunk))
            .await
    }

    async fn batch_get_chunk<T: DeserializeOwned>(
        &self,
        endpoint: &BatchGet<'_>,
        ids: &[RestaurantId],
    ) -> Result<Vec<T>, UpstreamError> {
        let (service, route) = (endpoint.service, endpoint.route);
        let mut query: Vec<(&str, String)> = Vec::with_capacity(endpoint.extra.len() + 1);
        query.push((endpoint.param, join_ids(ids)));
        query.extend(endpoint.extra.iter().cloned());
        let call = Call {
            service,
            route,
            path: &[endpoint.path],
            query: &query,
            user: endpoint.user,
            batch: ids.len(),
        };
        self.get(call)
            .await?
            .ok_or_else(|| status_error(service, route, StatusCode::NOT_FOUND, ""))
    }
}

/// Comma-separated ids, as the batch endpoints take them.
pub(super) fn join_ids<I: std::fmt::Display>(ids: &[I]) -> String {
    let mut out = String::with_capacity(ids.len() * 5);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
}

fn status_error(service: Service, route: &'static str, status: StatusCode, message: &str) -> UpstreamError {
    UpstreamError::new(
        service,
        route,
        ErrorKind::Status {
            status: status.as_u16(),
            message: message.into(),
        },
    )
}

fn transport_error(service: Service, route: &'static str, error: &reqwest::Error) -> UpstreamError {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        // The source chain says what broke (refused, reset, ...).
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        ErrorKind::Connect(text.into())
    };
    UpstreamError::new(service, route, kind)
}
