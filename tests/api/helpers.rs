//! The one test harness: a demo and a gateway, in-process on ephemeral ports,
//! spoken to over HTTP.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use delivery_gateway::{
    app,
    auth::Authenticator,
    config::Config,
    demo::{self, Demo, DemoConfig},
    server::{self, AppState},
    telemetry,
    upstream::UserId,
};
use reqwest::{RequestBuilder, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The acceptance operations, as the repository holds them.
pub const HOME: &str = include_str!("../../schema/operations/home.graphql");
pub const NEARBY: &str = include_str!("../../schema/operations/nearby.graphql");
pub const RESTAURANT: &str = include_str!("../../schema/operations/restaurant.graphql");

/// The four calls of the `Restaurant` operation.
pub const RESTAURANT_ROUTES: [&str; 4] = [
    "restaurants GET /restaurants",
    "menus GET /menus",
    "ratings GET /ratings",
    "availability GET /availability",
];

/// A JWT: `claims` signed with `key` for `header.alg`. jsonwebtoken signs with the
/// gateway's provider (`auth::ring_jwt`), installed here because a test may sign
/// before it starts a gateway.
pub fn sign_jwt(header: &jsonwebtoken::Header, claims: &Value, key: &jsonwebtoken::EncodingKey) -> String {
    delivery_gateway::auth::ring_jwt::install();
    jsonwebtoken::encode(header, claims, key).unwrap()
}

/// The public JWK of an RS256 private key, named `kid`.
pub fn rs256_jwk(key: &jsonwebtoken::EncodingKey, kid: &str) -> jsonwebtoken::jwk::Jwk {
    delivery_gateway::auth::ring_jwt::install();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, jsonwebtoken::Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

/// Where the acceptance operations look for restaurants: Berlin, Mitte.
pub fn berlin(first: u32) -> Value {
    json!({"location": {"lat": 52.52, "lng": 13.405}, "first": first})
}

/// A running demo and gateway.
pub struct TestApp {
    /// The gateway's address.
    pub addr: SocketAddr,
    /// The demo upstreams' address.
    pub demo_addr: SocketAddr,
    /// The gateway's configuration.
    pub config: Config,
    /// A client for both.
    pub client: reqwest::Client,
    /// Stops the demo (see [`TestApp::stop_demo`]).
    demo_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Call counts from the demo's `/_admin/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls per `"<service> <METHOD> <route>"`.
    pub calls: HashMap<String, u64>,
    /// Ids asked for per route.
    pub ids: HashMap<String, u64>,
    /// `X-User-Id` values the demo saw, with counts.
    pub user_ids: HashMap<String, u64>,
}

impl Stats {
    /// All calls, every route.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Calls to one route, e.g. `"menus GET /menus"`.
    pub fn calls(&self, route: &str) -> u64 {
        self.calls.get(route).copied().unwrap_or(0)
    }

    /// Asserts that each of `routes` was called exactly once.
    pub fn assert_called_once(&self, routes: &[&str]) {
        for route in routes {
            assert_eq!(self.calls(route), 1, "{route}: {:?}", self.calls);
        }
    }

    /// Calls to the routes of one service.
    pub fn service(&self, service: &str) -> u64 {
        let prefix = format!("{service} ");
        self.calls
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .sum()
    }
}

/// What a request answered: its status and headers, and its body parsed as JSON.
#[derive(Debug)]
pub struct JsonResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers (for a check that one is absent: `headers.get(name).is_none()`).
    pub headers: HeaderMap,
    /// The body, parsed as JSON.
    pub body: Value,
}

/// The value of the header `name` as text. Panics when there is no such header,
/// as indexing the [`HeaderMap`] does, or when its value is not text.
pub fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers[name]
        .to_str()
        .unwrap_or_else(|_| panic!("header {name} is not text: {:?}", headers[name]))
}

impl JsonResponse {
    /// The value of the header `name` as text; see [`header_text`].
    pub fn header(&self, name: &str) -> &str {
        header_text(&self.headers, name)
    }

    /// The status as a number, and the body: the pair the security cases check.
    pub fn status_and_body(self) -> (u16, Value) {
        (self.status.as_u16(), self.body)
    }
}

/// A demo and a gateway with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A demo and a gateway whose configuration `adjust` may change.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        telemetry::init(&Default::default());
    }
    let demo_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_addr = demo_listener.local_addr().unwrap();
    let demo_stop = start_demo(demo_listener);

    let mut config = Config::default();
    config.upstreams.base_url = Some(format!("http://{demo_addr}").parse().unwrap());
    adjust(&mut config);
    let addr = start_gateway(&config).await;

    TestApp {
        addr,
        demo_addr,
        config,
        client: reqwest::Client::new(),
        demo_stop: Some(demo_stop),
    }
}

/// Starts a gateway configured by `config` and returns its address.
async fn start_gateway(config: &Config) -> SocketAddr {
    config.validate().expect("test configuration is valid");
    let wiring = app::wire(config).await.unwrap();
    let state = AppState::new(config, wiring.upstreams, Some(app::demo_page(config, UserId(42))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server::router(state, config.server.max_body_bytes, config.server.max_in_flight);
    tokio::spawn(server::serve(listener, router, std::future::pending()));
    addr
}

/// A Redis key prefix of its own for one test, so tests sharing the machine's
/// Redis never see each other's entries.
pub fn redis_prefix(test: &str) -> String {
    format!("dg-test:{test}:{}:{:016x}:", std::process::id(), fastrand::u64(..))
}

/// Serves a demo on `listener` until the returned sender fires.
fn start_demo(listener: TcpListener) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let demo = Demo::new(DemoConfig::default());
    tokio::spawn(demo::serve(listener, demo, async {
        let _ = stopped.await;
    }));
    stop
}

impl TestApp {
    /// A second gateway (a replica) on the same demo upstreams, with this one's
    /// configuration as `adjust` leaves it (keep `cache.redis_*` to share Redis).
    pub async fn spawn_replica(&self) -> TestApp {
        let config = self.config.clone();
        let addr = start_gateway(&config).await;
        TestApp {
            addr,
            demo_addr: self.demo_addr,
            config,
            client: reqwest::Client::new(),
            demo_stop: None,
        }
    }

    /// Stops the demo upstreams: every call to them fails from now on.
    pub fn stop_demo(&mut self) {
        if let Some(stop) = self.demo_stop.take() {
            let _ = stop.send(());
        }
    }

    /// Starts the demo upstreams again on the same address (fresh counters).
    pub async fn restart_demo(&mut self) {
        // The old listener closes once its server task has seen the stop signal:
        // poll for the address, a bounded number of times.
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.demo_addr).await {
                Ok(listener) => break listener,
                Err(error) => {
                    attempts += 1;
                    assert!(attempts < 200, "rebinding the demo's address: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        self.demo_stop = Some(start_demo(listener));
    }

    /// The gateway's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A token for `user` that this gateway accepts.
    pub fn token(&self, user: u64) -> String {
        Authenticator::new(&self.config.auth).mint(UserId(user))
    }

    /// The demo's URL for `path`, e.g. `/_admin/stats`.
    pub fn demo_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.demo_addr)
    }

    /// A GET of the gateway's `path`, for headers or a query string to be added
    /// before it is sent (with [`TestApp::send_json`], say).
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    /// A POST to the gateway's `path`, for a body and headers to be added before it
    /// is sent (with [`TestApp::send_json`], say).
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    /// A POST of `body` (a request or a batch) to `/graphql` as JSON, signed in with
    /// `token` when there is one; headers may be added before it is sent.
    pub fn graphql_post(&self, body: &Value, token: Option<&str>) -> RequestBuilder {
        let request = self.post("/graphql").json(body);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request` and returns its status, headers and body, whatever the
    /// status. Panics, showing the status and the body's text, when the body is
    /// not JSON.
    pub async fn send_json(&self, request: RequestBuilder) -> JsonResponse {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!(
                "{status}: the body is not JSON ({error}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        JsonResponse { status, headers, body }
    }

    /// GETs `url` (the gateway's [`TestApp::url`] or the demo's
    /// [`TestApp::demo_url`]) and returns its body as JSON, whatever the status.
    pub async fn get_json(&self, url: &str) -> Value {
        self.send_json(self.client.get(url)).await.body
    }

    /// POSTs `body` as JSON to `url` (the gateway's [`TestApp::url`] or the demo's
    /// [`TestApp::demo_url`]) and returns the answer's body as JSON, whatever the
    /// status.
    pub async fn post_json(&self, url: &str, body: &Value) -> Value {
        self.send_json(self.client.post(url).json(body)).await.body
    }

    /// POSTs a GraphQL request as JSON; `token` signs it in.
    pub async fn query(&self, query: &str, variables: Value, token: Option<&str>) -> (StatusCode, Value) {
        let request = self.graphql_post(&json!({"query": query, "variables": variables}), token);
        let response = self.send_json(request).await;
        (response.status, response.body)
    }

    /// POSTs `body` (a request or a batch) as JSON and returns the answer's text
    /// as it came, for checks on its bytes (key order) that a parsed `Value` hides.
    pub async fn post_text(&self, body: Value, token: Option<&str>) -> String {
        let response = self.graphql_post(&body, token).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// The demo's counters since the last reset.
    pub async fn stats(&self) -> Stats {
        let body = self.get_json(&self.demo_url("/_admin/stats")).await;
        let counts = |key: &str| -> HashMap<String, u64> {
            body[key]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
                .unwrap_or_default()
        };
        Stats {
            calls: counts("calls"),
            ids: counts("ids"),
            user_ids: counts("userIds"),
        }
    }

    /// Zeroes the demo's counters and clears its faults.
    pub async fn reset(&self) {
        let reset = self.client.post(self.demo_url("/_admin/reset"));
        let status = reset.send().await.unwrap().status();
        assert!(status.is_success());
    }

    /// Sets a fault on the demo (`{"service": .., "latencyMs": .., ...}`).
    pub async fn fault(&self, fault: Value) {
        let request = self.client.put(self.demo_url("/_admin/faults")).json(&fault);
        let status = request.send().await.unwrap().status();
        assert!(status.is_success(), "setting fault {fault}: {status}");
    }
}

/// The errors of a response, or an empty list.
pub fn errors(body: &Value) -> Vec<Value> {
    body["errors"].as_array().cloned().unwrap_or_default()
}

/// Asserts that a response has no errors, showing them if it has.
pub fn assert_no_errors(body: &Value) {
    assert!(errors(body).is_empty(), "unexpected errors: {:#}", body["errors"]);
}
