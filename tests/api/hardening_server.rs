//! The December 2026 audit's server findings, each with the test that shows it
//! fixed (issue 15): persisted-query registrations go through the limits first
//! (finding 1), slow request bodies (2), the SDL behind the introspection
//! policy (8), `/metrics` and client trace headers (18), work cancelled when
//! its client goes away (18), the cache headers of traced answers (12).

use std::{net::SocketAddr, time::Duration};

use delivery_gateway::{
    auth::Authenticator,
    config::{Config, Mode},
    server::persisted::sha256_hex,
    upstream::UserId,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const REDIS: &str = "redis://127.0.0.1:6379";

/// A POST body that registers `query` under its hash (Apollo APQ).
fn registration(query: &str) -> Value {
    json!({"query": query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}})
}

/// A POST body that runs the document registered under `query`'s hash.
fn by_hash(query: &str) -> Value {
    json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}})
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

async fn require_redis() {
    let reachable = tokio::net::TcpStream::connect("127.0.0.1:6379").await.is_ok();
    assert!(
        reachable,
        "this test needs Redis on 127.0.0.1:6379; start one with `redis-server --daemonize yes --save ''`"
    );
}

/// The keys under `prefix`, each with its time to live in seconds.
async fn redis_keys(prefix: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(REDIS).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut with_ttl = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
        with_ttl.push((key, ttl));
    }
    with_ttl
}

async fn post(app: &TestApp, body: &Value) -> Value {
    app.post_json(&app.url("/graphql"), body).await
}

// Item 1 (audit 1): a persisted-query registration is measured like any document
// before it is parsed or stored.

#[tokio::test]
async fn an_apq_registration_past_the_limits_is_not_kept() {
    let app = spawn_app().await;
    // Too long (16,384 characters is the limit), and short but with too many tokens.
    let too_long = format!("{{ {} b }}", "a ".repeat(10_000));
    let too_many_tokens = format!("{{ {} c }}", "a ".repeat(3_000));
    for (query, refused) in [(&too_long, "DOCUMENT_TOO_LONG"), (&too_many_tokens, "TOO_MANY_TOKENS")] {
        let answer = post(&app, &registration(query)).await;
        assert_eq!(code(&answer), refused, "{answer}");

        let answer = post(&app, &by_hash(query)).await;
        assert_eq!(
            code(&answer),
            "PERSISTED_QUERY_NOT_FOUND",
            "a refused registration was kept: {answer}"
        );
    }
    // A document within the limits still registers and runs by its hash.
    let fine = "{ __typename }";
    assert_eq!(post(&app, &registration(fine)).await["data"]["__typename"], "Query");
    assert_eq!(post(&app, &by_hash(fine)).await["data"]["__typename"], "Query");
}

#[tokio::test]
async fn apq_registrations_in_redis_are_within_the_limits_expire_and_are_capped() {
    require_redis().await;
    let prefix = crate::helpers::redis_prefix("apq-bounds");
    let one = spawn_app_with(|config| {
        config.cache.redis_url = Some(REDIS.into());
        config.cache.redis_prefix = prefix.clone();
        config.persisted_queries.redis_writes_per_minute = 2;
    })
    .await;
    let other = one.spawn_replica().await;

    let too_long = format!("{{ {} b }}", "a ".repeat(10_000));
    assert_eq!(code(&post(&one, &registration(&too_long)).await), "DOCUMENT_TOO_LONG");
    assert!(redis_keys(&prefix).await.is_empty(), "a refused document went to Redis");

    let documents: Vec<String> = (0..3).map(|i| format!("{{ __typename t{i}: __typename }}")).collect();
    for document in &documents {
        let answer = post(&one, &registration(document)).await;
        assert_eq!(answer["data"]["__typename"], "Query", "{answer}");
    }
    let keys = redis_keys(&prefix).await;
    assert_eq!(keys.len(), 2, "two writes a minute, no more: {keys:?}");
    let day = 24 * 3600;
    assert!(keys.iter().all(|(_, ttl)| (1..=day).contains(ttl)), "{keys:?}");
    // The third registration runs here by its hash (memory), not on the replica.
    assert_eq!(post(&one, &by_hash(&documents[2])).await["data"]["__typename"], "Query");
    assert_eq!(
        code(&post(&other, &by_hash(&documents[2])).await),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert_eq!(
        post(&other, &by_hash(&documents[0])).await["data"]["__typename"],
        "Query"
    );
}

// Item 2 (audit 2): a slow body neither holds an in-flight slot nor outlives
// `server.body_read_timeout`.

/// What a client that trickles its body saw: the answer's text, and whether the
/// gateway closed the connection after it.
struct Trickled {
    answer: String,
    closed: bool,
}

/// Sends `POST /graphql` headers announcing 1,000 bytes, then one byte every
/// 100 ms (telling `ticks` after each) until the gateway answers; at most 100
/// bytes.
async fn trickle_a_body(addr: SocketAddr, ticks: mpsc::UnboundedSender<()>) -> Trickled {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head =
        "POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    for _ in 0..100 {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        let _ = ticks.send(());
        tokio::select! {
            read = stream.read(&mut buffer) => {
                if let Ok(n) = read {
                    answer.extend_from_slice(&buffer[..n]);
                }
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    // The rest of the answer, then the end of the connection (bounded, generously).
    let rest = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    Trickled {
        answer: String::from_utf8_lossy(&answer).into_owned(),
        closed: matches!(rest, Ok(Ok(_))),
    }
}

#[tokio::test]
async fn slow_bodies_hold_no_in_flight_slot_and_are_cut_off_at_the_body_deadline() {
    let app = spawn_app_with(|config| {
        config.server.max_in_flight = 2;
        config.server.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let (ticks, mut ticked) = mpsc::unbounded_channel();
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(trickle_a_body(app.addr, ticks.clone())))
        .collect();
    drop(ticks);

    // While both trickle, other requests go through: one per byte trickled.
    let mut statuses = Vec::new();
    let mut refused = None;
    let mut count = 0;
    while ticked.recv().await.is_some() {
        count += 1;
        if count > 2 {
            let (status, body) = app.query("{ __typename }", json!({}), None).await;
            if status != 200 {
                refused.get_or_insert(body);
            }
            statuses.push(status.as_u16());
        }
    }
    assert!(statuses.len() >= 4, "the trickle was too short to tell: {statuses:?}");
    assert!(
        refused.is_none(),
        "requests were refused while two bodies trickled in: {statuses:?}, first: {refused:?}"
    );
    for client in slow {
        let trickled = client.await.unwrap();
        assert!(trickled.answer.starts_with("HTTP/1.1 408"), "{}", trickled.answer);
        assert!(trickled.answer.contains("REQUEST_TIMEOUT"), "{}", trickled.answer);
        assert!(trickled.closed, "the connection stayed open: {}", trickled.answer);
    }
}

// Item 6 (audit 8): the introspection policy holds on every door that serves the
// schema.

const INTROSPECTION_SECRET: &str = "an-introspection-secret-0123456789";

fn production(config: &mut Config) {
    config.server.mode = Mode::Production;
    config.auth.jwt_secret = "a-production-secret-that-is-long-enough-0123".into();
    config.graphql.introspection_secret = Some(INTROSPECTION_SECRET.into());
    config.graphql.introspection_scope = Some("schema:read".into());
}

#[tokio::test]
async fn in_production_the_sdl_is_served_only_to_whoever_may_introspect() {
    let app = spawn_app_with(production).await;
    let introspection = json!({"query": "{ __schema { queryType { name } } }"});
    let sdl = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let cache = response.headers().get("cache-control").cloned();
        (status, cache, response.text().await.unwrap())
    };

    // Nobody in particular: neither introspection nor the SDL.
    let answer = app.send_json(app.graphql_post(&introspection, None)).await.body;
    assert_eq!(code(&answer), "INTROSPECTION_DISABLED", "{answer}");
    let (status, _, text) = sdl(app.get("/schema.graphql")).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("INTROSPECTION_DISABLED"), "{text}");
    assert!(!text.contains("type Query"), "{text}");

    // A signed-in user without the scope: no more.
    let user = app.token(7);
    let (status, _, _) = sdl(app.get("/schema.graphql").bearer_auth(&user)).await;
    assert_eq!(status, 403);
    let (status, _, _) = sdl(app.get("/schema.graphql").bearer_auth("not-a-token")).await;
    assert_eq!(status, 401);

    // The secret header, or the scope: both doors open, never to a shared cache.
    let scoped = Authenticator::new(&app.config.auth).mint_with_scopes(UserId(7), &["schema:read"]);
    for request in [
        app.get("/schema.graphql")
            .header("x-introspection-secret", INTROSPECTION_SECRET),
        app.get("/schema.graphql").bearer_auth(&scoped),
    ] {
        let (status, cache, text) = sdl(request).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("type Query"), "{text}");
        assert_eq!(cache.unwrap(), "private, no-store");
    }
    let request = app
        .graphql_post(&introspection, Some(&scoped))
        .header("x-introspection-secret", INTROSPECTION_SECRET);
    let answer = app.send_json(request).await.body;
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query", "{answer}");
}

#[tokio::test]
async fn with_introspection_off_the_sdl_is_not_served_in_development_either() {
    let open = spawn_app().await;
    let response = open.get("/schema.graphql").send().await.unwrap();
    assert_eq!(response.status(), 200);

    let closed = spawn_app_with(|config| config.graphql.introspection = false).await;
    let response = closed.get("/schema.graphql").send().await.unwrap();
    assert_eq!(response.status(), 403);
}

// Item 15 (audit 18): `/metrics` off the public port; a client's trace headers
// passed on only when trusted.

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Runs `{ restaurant(id: "5") { name } }` with a client's trace headers; the
/// answer's `X-Request-Id` and what the demo saw (`/_admin/headers`).
async fn trace_headers_seen(app: &TestApp) -> (String, Value) {
    app.reset().await;
    let request = app
        .graphql_post(&json!({"query": r#"{ restaurant(id: "5") { name } }"#}), None)
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "vendor=1")
        .header("x-request-id", "client-chosen-id");
    let response = app.send_json(request).await;
    assert!(
        response.body["data"]["restaurant"]["name"].is_string(),
        "{}",
        response.body
    );
    let id = response.header("x-request-id").to_owned();
    (id, app.get_json(&app.demo_url("/_admin/headers")).await)
}

#[tokio::test]
async fn in_production_a_client_s_trace_headers_are_not_passed_on_unless_trusted() {
    let untrusted = spawn_app_with(production).await;
    let (id, seen) = trace_headers_seen(&untrusted).await;
    assert!(seen.get("traceparent").is_none(), "{seen}");
    assert!(seen.get("tracestate").is_none(), "{seen}");
    assert_ne!(id, "client-chosen-id");
    assert_eq!(
        seen["x-request-id"],
        json!({ id.clone(): 1 }),
        "the gateway's own id goes on"
    );

    let trusted = spawn_app_with(|config| {
        production(config);
        config.telemetry.trust_client_trace = Some(true);
    })
    .await;
    let (id, seen) = trace_headers_seen(&trusted).await;
    assert_eq!(id, "client-chosen-id");
    assert_eq!(seen["traceparent"], json!({ TRACEPARENT: 1 }));
    assert_eq!(seen["x-request-id"], json!({"client-chosen-id": 1}));

    let development_untrusted = spawn_app_with(|config| config.telemetry.trust_client_trace = Some(false)).await;
    let (_, seen) = trace_headers_seen(&development_untrusted).await;
    assert!(seen.get("traceparent").is_none(), "{seen}");
}

#[tokio::test]
async fn metrics_can_be_served_on_an_admin_port_off_the_public_listener() {
    let demo = spawn_app().await;
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (public_addr, admin_addr) = (public.local_addr().unwrap(), admin.local_addr().unwrap());
    let mut config = demo.config.clone();
    production(&mut config);
    config.telemetry.metrics_listen = Some(admin_addr);
    config.validate().unwrap();
    tokio::spawn(
        async move { delivery_gateway::app::run_with(&config, public, Some(admin), std::future::pending()).await },
    );
    let client = reqwest::Client::new();

    let answer = client
        .post(format!("http://{public_addr}/graphql"))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let public_metrics = client
        .get(format!("http://{public_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public_metrics.status(), 404);

    let metrics = client.get(format!("http://{admin_addr}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("gateway_graphql_requests_total"), "{text}");
    let graphql = client.get(format!("http://{admin_addr}/graphql")).send().await.unwrap();
    assert_eq!(graphql.status(), 404, "the admin port serves the metrics only");
}

#[test]
fn the_metrics_port_must_differ_from_the_public_one() {
    let mut config = Config::default();
    config.telemetry.metrics_listen = Some(config.server.listen);
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("telemetry.metrics_listen"), "{error}");
}

// Item 17 (audit 12): an answer carrying `extensions.upstream` is never public,
// and `Vary` names `X-Upstream-Trace` wherever the header changes the answer.

/// An anonymous GET of `Nearby`, with `X-Upstream-Trace: <trace>` if given:
/// `Cache-Control`, `Vary` and whether the answer holds the waterfall.
async fn nearby_over_get(app: &TestApp, trace: Option<&str>) -> (String, String, bool) {
    let mut request = app.get("/graphql").header("apollo-require-preflight", "true").query(&[
        ("query", crate::helpers::NEARBY.to_owned()),
        ("variables", crate::helpers::berlin(3).to_string()),
    ]);
    if let Some(trace) = trace {
        request = request.header("x-upstream-trace", trace);
    }
    let response = app.send_json(request).await;
    crate::helpers::assert_no_errors(&response.body);
    let traced = response.body["extensions"].get("upstream").is_some();
    (
        response.header("cache-control").to_owned(),
        response.header("vary").to_owned(),
        traced,
    )
}

#[tokio::test]
async fn an_answer_with_the_upstream_waterfall_is_never_public() {
    let app = spawn_app().await;
    let (cache, vary, traced) = nearby_over_get(&app, Some("1")).await;
    assert!(traced, "the waterfall was asked for and allowed");
    assert_eq!(cache, "private, no-store");
    assert!(vary.contains("x-upstream-trace"), "{vary}");

    let (cache, vary, traced) = nearby_over_get(&app, None).await;
    assert!(!traced);
    assert!(cache.starts_with("public, max-age="), "{cache}");
    assert!(
        vary.contains("x-upstream-trace"),
        "a shared cache must key on it: {vary}"
    );

    // In production with the secret header: the operator's waterfall stays private.
    let secret = "an-upstream-trace-secret-0123456789";
    let production_app = spawn_app_with(|config| {
        production(config);
        config.telemetry.upstream_trace = delivery_gateway::config::UpstreamTrace::HeaderSecret;
        config.telemetry.upstream_trace_secret = Some(secret.into());
    })
    .await;
    let (cache, vary, traced) = nearby_over_get(&production_app, Some(secret)).await;
    assert!(traced);
    assert_eq!(cache, "private, no-store");
    assert!(vary.contains("x-upstream-trace"), "{vary}");
}

#[tokio::test]
async fn where_nobody_may_have_the_waterfall_the_header_changes_nothing() {
    let app =
        spawn_app_with(|config| config.telemetry.upstream_trace = delivery_gateway::config::UpstreamTrace::Off).await;
    let (cache, vary, traced) = nearby_over_get(&app, Some("1")).await;
    assert!(!traced);
    assert!(cache.starts_with("public, max-age="), "{cache}");
    assert_eq!(vary, "accept, authorization");
}

// Item 16 (audit 18): when a client goes away, its request's execution and
// upstream calls stop; a call shared with another request goes on for it.

/// A restaurant and how long it takes to deliver to a given place.
const ESTIMATE: &str =
    r#"{ restaurant(id: "5") { name deliveryEstimate(to: {lat: 52.52, lng: 13.405}) { minutes } } }"#;

/// What a proxy in front of an upstream saw of one call.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    /// The gateway's request arrived.
    Arrived,
    /// The gateway closed the connection before the upstream's answer came.
    DroppedBeforeTheAnswer,
    /// The upstream's answer went back to the gateway.
    Answered,
}

/// A TCP proxy to `upstream` that reports each call's fate: the observation
/// point for "no upstream call runs past the disconnect".
async fn watching_proxy(upstream: SocketAddr) -> (SocketAddr, mpsc::UnboundedReceiver<Call>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (calls, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let calls = calls.clone();
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(upstream).await.unwrap();
                let (mut from_gateway, mut from_upstream) = ([0u8; 16384], [0u8; 16384]);
                // Between a request's first bytes and its answer's.
                let mut waiting = false;
                loop {
                    tokio::select! {
                        read = inbound.read(&mut from_gateway) => match read {
                            Ok(0) | Err(_) => {
                                if waiting {
                                    let _ = calls.send(Call::DroppedBeforeTheAnswer);
                                }
                                return;
                            }
                            Ok(n) => {
                                if !waiting {
                                    let _ = calls.send(Call::Arrived);
                                    waiting = true;
                                }
                                outbound.write_all(&from_gateway[..n]).await.unwrap();
                            }
                        },
                        read = outbound.read(&mut from_upstream) => match read {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if waiting {
                                    let _ = calls.send(Call::Answered);
                                    waiting = false;
                                }
                                if inbound.write_all(&from_upstream[..n]).await.is_err() {
                                    return;
                                }
                            }
                        },
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A gateway whose `logistics` service is behind a [`watching_proxy`]. A
/// `deliveryEstimate(to:)` is loaded through the request's DataLoader, on a task
/// of its own (unlike the restaurant's record, which its resolver awaits inline).
struct SlowEstimates {
    /// The gateway under test.
    app: TestApp,
    /// The demo its upstreams are (with a gateway of its own, unused).
    _demo: TestApp,
    /// What the proxy saw.
    calls: mpsc::UnboundedReceiver<Call>,
}

/// A gateway whose `logistics` service is behind a [`watching_proxy`], slow (the
/// demo's `latencyMs`: 3 s), with timeouts that would let the call run on.
async fn slow_estimates(coalesce: bool) -> SlowEstimates {
    let demo = spawn_app().await;
    let (proxy, calls) = watching_proxy(demo.demo_addr).await;
    let mut config = demo.config.clone();
    config
        .upstreams
        .services
        .insert("logistics".into(), format!("http://{proxy}/logistics").parse().unwrap());
    config.upstreams.timeout = Duration::from_secs(30);
    config.upstreams.retry.max_attempts = 1;
    config.server.request_timeout = Duration::from_secs(60);
    config.cache.coalesce = coalesce;
    let app = spawn_app_with(|c| *c = config).await;
    demo.fault(json!({"service": "logistics", "latencyMs": 3000})).await;
    SlowEstimates {
        app,
        _demo: demo,
        calls,
    }
}

/// Sends [`ESTIMATE`] on a connection of its own, and leaves it open.
async fn send_and_hold(app: &TestApp) -> TcpStream {
    let body = json!({ "query": ESTIMATE }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// The next thing the proxy saw (a bound of 20 s, far past the demo's 3 s latency,
/// so that a broken gateway fails the test instead of hanging it).
async fn next_call(calls: &mut mpsc::UnboundedReceiver<Call>) -> Call {
    tokio::time::timeout(Duration::from_secs(20), calls.recv())
        .await
        .expect("the proxy saw nothing more within 20 s")
        .expect("the proxy stopped")
}

/// The value of the metric `name` (one without labels), from `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Waits until the metric `name` reads `want` (polling a state, not timing).
async fn wait_for_metric(app: &TestApp, name: &str, want: u64) {
    while metric(app, name).await != want {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `gateway_graphql_requests_in_flight` reads `want`.
async fn wait_for_in_flight(app: &TestApp, want: u64) {
    wait_for_metric(app, "gateway_graphql_requests_in_flight", want).await;
}

/// A request whose client goes away while its upstream call is under way
/// (coalescing on or off): asserts that the call's connection is dropped before
/// the upstream's answer (3 s away) and that nothing is left in flight.
async fn a_client_leaves_mid_call(coalesce: bool) -> SlowEstimates {
    let SlowEstimates { app, _demo, mut calls } = slow_estimates(coalesce).await;
    let client = send_and_hold(&app).await;
    assert_eq!(next_call(&mut calls).await, Call::Arrived);
    wait_for_in_flight(&app, 1).await;

    drop(client);

    assert_eq!(next_call(&mut calls).await, Call::DroppedBeforeTheAnswer);
    wait_for_in_flight(&app, 0).await;
    SlowEstimates { app, _demo, calls }
}

#[tokio::test]
async fn a_client_that_goes_away_leaves_no_upstream_call_running() {
    let SlowEstimates { app, _demo, .. } = a_client_leaves_mid_call(false).await;
    // And the gateway still serves.
    let (status, body) = app.query("{ __typename }", json!({}), None).await;
    assert_eq!((status.as_u16(), &body["data"]["__typename"]), (200, &json!("Query")));
}

#[tokio::test]
async fn a_call_shared_with_another_request_goes_on_for_it() {
    let SlowEstimates { app, _demo, mut calls } = slow_estimates(true).await;
    let first = send_and_hold(&app).await;
    assert_eq!(next_call(&mut calls).await, Call::Arrived);
    // The second asks for the same restaurant while the first's call is in flight.
    let second = {
        let app_url = app.url("/graphql");
        let client = app.client.clone();
        tokio::spawn(async move {
            let body = json!({ "query": ESTIMATE });
            let response = client.post(app_url).json(&body).send().await.unwrap();
            response.json::<Value>().await.unwrap()
        })
    };
    // In flight at the gateway is not enough: the first call must not be left
    // alone before the second has joined it, or it is rightly cancelled.
    wait_for_metric(&app, "gateway_upstream_coalesced_total", 1).await;
    wait_for_in_flight(&app, 2).await;

    drop(first);
    wait_for_in_flight(&app, 1).await;

    let answer = second.await.unwrap();
    assert!(answer["data"]["restaurant"]["deliveryEstimate"].is_object(), "{answer}");
    assert_eq!(
        next_call(&mut calls).await,
        Call::Answered,
        "the shared call ran to its end"
    );
    assert!(calls.try_recv().is_err(), "one call for both requests");
}

/// With coalescing on (the default) a call runs on the upstream layer's own task
/// (`upstream::coalesce`); when its last caller leaves (here the only one, whose
/// client went away) the task is aborted and its upstream connection closed.
#[tokio::test]
async fn a_coalesced_call_nobody_waits_for_is_cancelled_too() {
    let SlowEstimates { app, _demo, mut calls } = a_client_leaves_mid_call(true).await;
    // And the next request for it makes a call of its own, answered.
    let (status, body) = app.query(ESTIMATE, json!({}), None).await;
    assert_eq!(status.as_u16(), 200);
    assert!(body["data"]["restaurant"]["deliveryEstimate"].is_object(), "{body}");
    assert_eq!(next_call(&mut calls).await, Call::Arrived);
    assert_eq!(next_call(&mut calls).await, Call::Answered);
    assert_eq!(metric(&app, "gateway_upstream_coalesced_total").await, 0);
}
