//! Subscriptions over GraphQL over WebSocket (`graphql-transport-ws`, an upgrade
//! of `GET /graphql`) and over Server-Sent Events (the `graphql-sse` protocol's
//! distinct-connections mode: `Accept: text/event-stream` on `POST /graphql`, or
//! on `GET /graphql` with the operation in the URL, for `EventSource`).
//!
//! Both run operations through [`crate::graphql::Executor::execute_stream`], so
//! every event is shaped like any other answer. The shared polls of live orders
//! are in [`crate::graphql`]'s subscription module; this module owns the
//! transports and their limits:
//! - authentication in `connection_init` (`{"Authorization": "Bearer ..."}`) or
//!   the upgrade's (or the SSE request's) `Authorization` header;
//! - `subscriptions.max_per_connection`, `max_connections_per_user`, `max_open`,
//!   `init_timeout` (close `4408`), `keep_alive` (a WebSocket ping, an SSE comment);
//! - the `Origin` of an upgrade: none, the gateway's own, or one of
//!   `browser.cors_origins` (else `403`);
//! - on shutdown, every socket is closed with `1012` and every SSE stream ends
//!   without `complete`;
//! - a token is checked when an operation starts and again at every keep-alive:
//!   once refused (expired), its subscriptions end with `UNAUTHENTICATED`, and one
//!   started on a socket that outlived its token gets that error and no event.
//!
//! Streams do not hold a `server.max_in_flight` slot: the slot is released when
//! the upgrade (or the SSE response's head) is answered.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use async_graphql::{Data, ErrorExtensions, Response as GqlResponse, http::WebSocketProtocols};
use axum::{
    body::{Body, Bytes},
    extract::{
        FromRequest, FromRequestParts, RawQuery, Request, State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt, StreamExt, stream::BoxStream};
use tokio::sync::watch;

use super::{AppState, endpoint, limits};
use crate::{
    auth::Identity,
    config::{Config, SubscriptionsConfig},
    graphql::{OnError, Polls, RequestScope},
    upstream::{RequestContext, Upstreams, UserId},
};

/// The transports' shared state: the polls, the counts their limits need, and
/// the shutdown signal.
pub struct Live {
    /// The shared polls of live orders.
    pub polls: Polls,
    settings: SubscriptionsConfig,
    cors_origins: Vec<String>,
    open: Arc<AtomicUsize>,
    per_user: Arc<Mutex<HashMap<UserId, usize>>>,
    stopping: watch::Sender<bool>,
}

impl Live {
    /// The transports' state for `config`, polling through `upstreams`.
    pub fn new(config: &Config, upstreams: Upstreams) -> Self {
        let s = &config.subscriptions;
        Self {
            polls: Polls::new(upstreams, s.poll_interval, s.max_poll_failures),
            settings: s.clone(),
            cors_origins: config.browser.cors_origins.clone(),
            open: Arc::default(),
            per_user: Arc::default(),
            stopping: watch::channel(false).0,
        }
    }

    /// Ends every stream: sockets close with `1012`, SSE streams end.
    pub fn shut_down(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    /// A place for one more connection of `user`, or `None` past the limit.
    fn connect(&self, user: UserId) -> Option<UserSlot> {
        let mut map = self.per_user.lock().expect("never poisoned");
        let count = map.entry(user).or_default();
        if *count >= self.settings.max_connections_per_user {
            return None;
        }
        *count += 1;
        Some(UserSlot {
            user,
            map: self.per_user.clone(),
        })
    }

    /// A place for one more open subscription, or `None` past the limit.
    fn open_one(&self) -> Option<OpenSlot> {
        let previous = self.open.fetch_add(1, Ordering::AcqRel);
        let slot = OpenSlot(self.open.clone());
        (previous < self.settings.max_open).then_some(slot)
    }
}

/// One connection of a user, counted until dropped.
struct UserSlot {
    user: UserId,
    map: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.map.lock()
            && let Some(count) = map.get_mut(&self.user)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// One open subscription, counted until dropped.
struct OpenSlot(Arc<AtomicUsize>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer of one error with `code`.
fn error_response(code: &'static str, message: &str) -> GqlResponse {
    let error = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code));
    GqlResponse::from_errors(vec![error.into_server_error(async_graphql::Pos::default())])
}

fn one(response: GqlResponse) -> BoxStream<'static, GqlResponse> {
    futures_util::stream::once(async move { response }).boxed()
}

/// Runs `request` as `identity` (with the raw `token` to check again at every
/// keep-alive): its answers, a stream.
fn run(
    state: &AppState,
    identity: Option<&Identity>,
    token: Option<Vec<u8>>,
    request: async_graphql::Request,
) -> BoxStream<'static, GqlResponse> {
    let inner = &state.inner;
    let on_error = match request.extensions.get("onError") {
        None => OnError::default(),
        Some(async_graphql::Value::String(name)) => match OnError::parse(name) {
            Some(on_error) => on_error,
            None => return one(error_response("BAD_REQUEST", "onError must be PROPAGATE, NULL or HALT")),
        },
        Some(_) => return one(error_response("BAD_REQUEST", "onError must be PROPAGATE, NULL or HALT")),
    };
    let documents = &inner.documents;
    let (document, measures) =
        match limits::check_with(&request.query, &request.variables, &inner.document_limits, documents) {
            Ok(checked) => checked,
            Err(error) => return one(error_response(error.code(), &error.to_string())),
        };
    let mut request = request;
    if !inner.introspection.allows(&HeaderMap::new(), identity) {
        if measures.introspection {
            return one(error_response(
                "INTROSPECTION_DISABLED",
                "introspection is not allowed here",
            ));
        }
        request = request.disable_introspection();
    }
    let Some(slot) = inner.live.open_one() else {
        return one(error_response(
            "LIMIT_EXCEEDED",
            "too many subscriptions are open; try again later",
        ));
    };
    let upstreams = inner.upstreams.for_request(RequestContext::default());
    let scope = RequestScope::new(upstreams, identity.map(|i| i.user), inner.limits, inner.batch_delay);
    let request = request.data(inner.live.polls.clone());
    let answers = inner.graphql.execute_stream(request, document, scope, on_error).boxed();
    // The token is checked when the operation starts (a socket outlives its
    // token: a subscription started after it expired gets no event) and again at
    // every keep-alive; once refused, the stream ends with UNAUTHENTICATED.
    let expired = {
        let state = state.clone();
        let every = inner.live.settings.keep_alive;
        async move {
            let Some(token) = token else {
                return std::future::pending().await;
            };
            loop {
                if state.inner.auth.authenticate(Some(&token)).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
    };
    let running = Running {
        answers,
        expired: Box::pin(expired),
        done: false,
        _slot: slot,
    };
    futures_util::stream::unfold(running, |mut running| async move {
        if running.done {
            return None;
        }
        tokio::select! {
            // The token first: no event goes out once it is refused.
            biased;
            () = &mut running.expired => {
                running.done = true;
                let ended = error_response("UNAUTHENTICATED", "the token expired: sign in again to follow updates");
                Some((ended, running))
            }
            next = running.answers.next() => next.map(|answer| (answer, running)),
        }
    })
    .boxed()
}

/// An operation's answers, until its token is refused.
struct Running {
    answers: BoxStream<'static, GqlResponse>,
    expired: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
    _slot: OpenSlot,
}

/// Whether a WebSocket upgrade from `headers` may proceed: no `Origin`, the
/// gateway's own (its `Host`), or one of `browser.cors_origins`.
fn origin_allowed(headers: &HeaderMap, cors_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return headers.get(header::ORIGIN).is_none();
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
    own || cors_origins.iter().any(|o| o.trim_end_matches('/') == origin)
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim().starts_with("text/event-stream")))
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql`: a WebSocket upgrade, an SSE stream, or the HTTP endpoint.
pub async fn get(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let headers = parts.headers.clone();
    if is_upgrade(&headers) {
        if !origin_allowed(&headers, &state.inner.live.cors_origins) {
            return (StatusCode::FORBIDDEN, "this Origin may not open a WebSocket here").into_response();
        }
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => upgrade,
            Err(rejection) => return rejection.into_response(),
        };
        return upgrade
            .protocols(["graphql-transport-ws"])
            .on_upgrade(move |socket| serve_socket(state, headers, socket));
    }
    let raw = RawQuery(parts.uri.query().map(str::to_owned));
    if wants_event_stream(&headers) {
        let request = match async_graphql::http::parse_query_string(raw.0.as_deref().unwrap_or("")) {
            Ok(request) => request,
            Err(_) => return bad_request("the URL parameters could not be read"),
        };
        return sse(state, headers, request).await;
    }
    endpoint::get(State(state), headers, raw).await
}

/// `POST /graphql`: an SSE stream when the client accepts only events, else the
/// HTTP endpoint.
pub async fn post(State(state): State<AppState>, request: Request) -> Response {
    // The headers are taken, not copied: reading the body needs only its limit
    // (an extension).
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let body = Bytes::from_request(Request::from_parts(parts, body), &state).await;
    if wants_event_stream(&headers) && !headers.get(header::ACCEPT).is_some_and(accepts_json) {
        let Ok(bytes) = body else {
            return bad_request("the body could not be read");
        };
        let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
            Ok(request) => request,
            Err(_) => return bad_request("the body is not a GraphQL request"),
        };
        return sse(state, headers, request).await;
    }
    endpoint::post(State(state), headers, body).await
}

fn accepts_json(value: &HeaderValue) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.contains("application/json") || v.contains("application/graphql-response+json"))
}

fn bad_request(message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// The `graphql-sse` distinct-connections mode: `next` events, then `complete`
/// (none when the gateway shuts down).
async fn sse(state: AppState, headers: HeaderMap, request: async_graphql::Request) -> Response {
    let token = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let identity = match state.inner.auth.authenticate(token.as_deref()).await {
        Ok(identity) => identity,
        Err(error) => {
            let body = serde_json::json!({"errors": [{"message": error.to_string(), "extensions": {"code": "UNAUTHENTICATED"}}]});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    };
    let slot = match &identity {
        Some(identity) => match state.inner.live.connect(identity.user) {
            Some(slot) => Some(slot),
            None => return too_many_connections(),
        },
        None => None,
    };
    let live = &state.inner.live;
    let mut ping = tokio::time::interval(live.settings.keep_alive);
    ping.reset();
    let streaming = Streaming {
        events: run(&state, identity.as_ref(), token, request),
        ping,
        stopped: Box::pin(live.stopped()),
        done: false,
        _slot: slot,
    };
    let body = futures_util::stream::unfold(streaming, |mut s| async move {
        if s.done {
            return None;
        }
        let bytes = tokio::select! {
            next = s.events.next() => match next {
                Some(response) => {
                    let json = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
                    Bytes::from(format!("event: next\ndata: {json}\n\n"))
                }
                None => {
                    s.done = true;
                    Bytes::from_static(b"event: complete\ndata:\n\n")
                }
            },
            _ = s.ping.tick() => Bytes::from_static(b":\n\n"),
            // Shutdown: the stream ends without `complete`.
            () = &mut s.stopped => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(bytes), s))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// An SSE response's state.
struct Streaming {
    events: BoxStream<'static, GqlResponse>,
    ping: tokio::time::Interval,
    stopped: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
    _slot: Option<UserSlot>,
}

fn too_many_connections() -> Response {
    let body = serde_json::json!({"errors": [{"message": "too many subscription connections for this user", "extensions": {"code": "LIMIT_EXCEEDED"}}]});
    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
}

/// Who a connection is, once known (from the upgrade's header or
/// `connection_init`), and its subscriptions.
struct Connection {
    identity: Mutex<Option<(Identity, Vec<u8>)>>,
    slot: Mutex<Option<UserSlot>>,
    open: AtomicUsize,
    initialised: watch::Sender<bool>,
}

/// The executor a socket's operations run on.
#[derive(Clone)]
struct SocketExecutor {
    state: AppState,
    connection: Arc<Connection>,
}

impl async_graphql::Executor for SocketExecutor {
    async fn execute(&self, request: async_graphql::Request) -> GqlResponse {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_else(|| error_response("INTERNAL", "no answer"))
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        _session: Option<Arc<Data>>,
    ) -> BoxStream<'static, GqlResponse> {
        let connection = &self.connection;
        let max = self.state.inner.live.settings.max_per_connection;
        if connection.open.fetch_add(1, Ordering::AcqRel) >= max {
            connection.open.fetch_sub(1, Ordering::AcqRel);
            return one(error_response(
                "LIMIT_EXCEEDED",
                "too many subscriptions on this connection",
            ));
        }
        let counted = SubscriptionCount(connection.clone());
        let (identity, token) = match connection.identity.lock().expect("never poisoned").clone() {
            Some((identity, token)) => (Some(identity), Some(token)),
            None => (None, None),
        };
        run(&self.state, identity.as_ref(), token, request)
            .scan(counted, |_counted, r| std::future::ready(Some(r)))
            .boxed()
    }
}

struct SubscriptionCount(Arc<Connection>);

impl Drop for SubscriptionCount {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one socket until it closes, the init timeout passes, or shutdown.
async fn serve_socket(state: AppState, headers: HeaderMap, socket: WebSocket) {
    let live = &state.inner.live;
    let connection = Arc::new(Connection {
        identity: Mutex::new(None),
        slot: Mutex::new(None),
        open: AtomicUsize::new(0),
        initialised: watch::channel(false).0,
    });
    let header_token = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let executor = SocketExecutor {
        state: state.clone(),
        connection: connection.clone(),
    };
    let on_init = {
        let state = state.clone();
        let connection = connection.clone();
        move |payload: serde_json::Value| async move {
            let from_payload = payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
                .and_then(|v| v.as_str())
                .map(|v| v.as_bytes().to_vec());
            let token = from_payload.or(header_token);
            let identity = state
                .inner
                .auth
                .authenticate(token.as_deref())
                .await
                .map_err(|e| async_graphql::Error::new(format!("unauthenticated: {e}")))?;
            if let (Some(identity), Some(token)) = (identity, token) {
                let slot = state
                    .inner
                    .live
                    .connect(identity.user)
                    .ok_or_else(|| async_graphql::Error::new("too many subscription connections for this user"))?;
                *connection.slot.lock().expect("never poisoned") = Some(slot);
                *connection.identity.lock().expect("never poisoned") = Some((identity, token));
            }
            connection.initialised.send_replace(true);
            Ok(Data::default())
        }
    };
    let (mut sink, source) = socket.split();
    let input = source.take_while(|m| std::future::ready(m.is_ok())).filter_map(|m| {
        std::future::ready(match m {
            Ok(Message::Text(text)) => Some(text.as_str().as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
            _ => None,
        })
    });
    let mut output =
        async_graphql::http::WebSocket::new(executor, input, WebSocketProtocols::GraphQLWS).on_connection_init(on_init);
    let mut stopped = std::pin::pin!(live.stopped());
    let init_timeout = tokio::time::sleep(live.settings.init_timeout);
    let mut init_timeout = std::pin::pin!(init_timeout);
    let mut initialised = connection.initialised.subscribe();
    let mut ping = tokio::time::interval(live.settings.keep_alive);
    ping.tick().await;
    loop {
        let waiting_for_init = !*initialised.borrow();
        tokio::select! {
            message = output.next() => match message {
                Some(async_graphql::http::WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(async_graphql::http::WsMessage::Close(code, reason)) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            () = &mut stopped => {
                let frame = CloseFrame { code: 1012, reason: "the gateway is restarting".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            () = &mut init_timeout, if waiting_for_init => {
                let frame = CloseFrame { code: 4408, reason: "Connection initialisation timeout".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            _ = initialised.changed(), if waiting_for_init => {}
            _ = ping.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
}
