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
use reqwest::StatusCode;
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
    let state = AppState::new(config, wiring.upstreams, Some(UserId(42)));
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

    /// POSTs a GraphQL request as JSON; `token` signs it in.
    pub async fn query(&self, query: &str, variables: Value, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json::<Value>().await.unwrap();
        (status, body)
    }

    /// POSTs `body` (a request or a batch) as JSON and returns the answer's text
    /// as it came, for checks on its bytes (key order) that a parsed `Value` hides.
    pub async fn post_text(&self, body: Value, token: Option<&str>) -> String {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().text().await.unwrap()
    }

    /// The demo's counters since the last reset.
    pub async fn stats(&self) -> Stats {
        let body: Value = self
            .client
            .get(format!("http://{}/_admin/stats", self.demo_addr))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
        let status = self
            .client
            .post(format!("http://{}/_admin/reset", self.demo_addr))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }

    /// Sets a fault on the demo (`{"service": .., "latencyMs": .., ...}`).
    pub async fn fault(&self, fault: Value) {
        let status = self
            .client
            .put(format!("http://{}/_admin/faults", self.demo_addr))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status();
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
