//! Issue 15, the upstream layer's share of the December audit: one regression test
//! per finding, each of which fails on the code the audit read.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::helpers::{HOME, RESTAURANT, TestApp, berlin, errors, redis_prefix, spawn_app, spawn_app_with};

/// Polls `probe` until it holds, at most `limit` long (a condition, never a fixed
/// sleep); `false` if it never did.
async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(5));
    while started.elapsed() < limit {
        interval.tick().await;
        if probe().await {
            return true;
        }
    }
    false
}

/// A `restaurant(id:)` query as anonymous clients send it, with a request timeout
/// header when `timeout_ms` is given.
async fn restaurant_name(app: &TestApp, id: u64, timeout_ms: Option<u64>) -> Value {
    let body = json!({"query": format!("{{ restaurant(id: \"{id}\") {{ name }} }}")});
    let mut request = app.graphql_post(&body, None);
    if let Some(ms) = timeout_ms {
        request = request.header("x-request-timeout-ms", ms.to_string());
    }
    app.send_json(request).await.body
}

fn codes(body: &Value) -> Vec<String> {
    errors(body)
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Item 4 (audit 6): a shared call runs under the longest deadline of its callers.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_short_deadline_cannot_fail_another_request_that_shares_its_call() {
    let app = spawn_app().await;
    app.fault(json!({"service": "restaurants", "latencyMs": 800})).await;
    let restaurants = "restaurants GET /restaurants";

    for (round, id) in [2002u64, 2003].into_iter().enumerate() {
        // A: a client that allows itself 250 ms starts the call ...
        let short = {
            let app_url = app.url("/graphql");
            let client = app.client.clone();
            tokio::spawn(async move {
                let body = json!({"query": format!("{{ restaurant(id: \"{id}\") {{ name }} }}")});
                let response = client
                    .post(app_url)
                    .header("x-request-timeout-ms", "250")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                response.json::<Value>().await.unwrap()
            })
        };
        let arrived = eventually(Duration::from_secs(5), || async {
            app.stats().await.calls(restaurants) == round as u64 + 1
        })
        .await;
        assert!(arrived, "the first call never reached the service");

        // ... B, with the server's 2 s, joins it while it is in flight.
        let shared = restaurant_name(&app, id, None).await;
        let short = short.await.unwrap();

        assert!(errors(&shared).is_empty(), "round {round}: {shared}");
        assert!(shared["data"]["restaurant"]["name"].is_string(), "{shared}");
        assert_eq!(codes(&short), ["DEADLINE_EXCEEDED"], "A gives up alone: {short}");
        assert_eq!(
            app.stats().await.calls(restaurants),
            round as u64 + 1,
            "B shared A's call"
        );
    }
}

#[tokio::test]
async fn an_eight_millisecond_client_never_fails_its_neighbour() {
    let app = spawn_app().await;
    app.fault(json!({"service": "restaurants", "latencyMs": 20})).await;

    for id in 2010..2016u64 {
        // The audit's reproduction: A with 8 ms, B a moment later with none.
        let (_, other) = tokio::join!(restaurant_name(&app, id, Some(8)), async {
            tokio::task::yield_now().await;
            restaurant_name(&app, id, None).await
        });
        assert!(errors(&other).is_empty(), "id {id}: {other}");
        assert!(other["data"]["restaurant"]["name"].is_string(), "{other}");
    }
}

// ---------------------------------------------------------------------------
// Item 5 (audit 7, 13, 16): numbers from upstreams, Redis and cursors.
// ---------------------------------------------------------------------------

const REDIS: &str = "redis://127.0.0.1:6379";

/// A `restaurants` service whose answers say `max-age=u64::MAX`, and a `ratings`
/// service that answers `503` with a `Retry-After` too large for any integer
/// type; each counts its calls.
struct Untrusted {
    base: String,
    restaurants: Arc<AtomicU64>,
    ratings: Arc<AtomicU64>,
}

async fn untrusted_upstream() -> Untrusted {
    use axum::{extract::Query, http::header, response::IntoResponse, routing::get};

    let restaurants = Arc::new(AtomicU64::new(0));
    let ratings = Arc::new(AtomicU64::new(0));
    let (r, q) = (restaurants.clone(), ratings.clone());
    let app = axum::Router::new()
        .route(
            "/restaurants",
            get(move |Query(query): Query<HashMap<String, String>>| {
                r.fetch_add(1, Ordering::SeqCst);
                let ids = query.get("ids").cloned().unwrap_or_default();
                let records: Vec<Value> = ids
                    .split(',')
                    .filter_map(|id| id.parse::<u64>().ok())
                    .map(|id| {
                        json!({"id": id, "name": format!("Untrusted {id}"), "cuisines": ["pizza"], "priceLevel": 2,
                            "address": {"street": "Street 1", "city": "Berlin", "postcode": "10115"},
                            "location": {"lat": 52.52, "lng": 13.405}, "imageUrl": "https://img.example/1.jpg"})
                    })
                    .collect();
                async move {
                    (
                        [(header::CACHE_CONTROL, "public, max-age=18446744073709551615")],
                        axum::Json(records),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/ratings",
            get(move || {
                q.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        [
                            (header::RETRY_AFTER, "99999999999999999999999"),
                            (header::CACHE_CONTROL, "private, no-store"),
                        ],
                        axum::Json(json!({"error": "down"})),
                    )
                        .into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Untrusted {
        base: format!("http://{addr}/"),
        restaurants,
        ratings,
    }
}

#[tokio::test]
async fn an_endless_max_age_and_a_huge_retry_after_neither_panic_nor_retry() {
    let upstream = untrusted_upstream().await;
    let app = spawn_app_with(|config| {
        for service in ["restaurants", "ratings"] {
            config
                .upstreams
                .services
                .insert(service.into(), upstream.base.parse().unwrap());
        }
    })
    .await;
    let query = r#"{ restaurant(id: "5") { name rating { average } } }"#;

    for _ in 0..2 {
        let (status, body) = app.query(query, json!({}), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["restaurant"]["name"], "Untrusted 5", "{body}");
        assert_eq!(codes(&body), ["UPSTREAM_UNAVAILABLE"], "{body}");
    }
    // Cached (for a day at most): asked once.
    assert_eq!(upstream.restaurants.load(Ordering::SeqCst), 1);
    // `Retry-After` far above `max_backoff`: the service asked not to be retried.
    assert_eq!(upstream.ratings.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_cursor_at_u64_max_is_bad_input() {
    let app = spawn_app().await;
    let query = r#"query($after: String) { restaurants(near: {lat: 52.52, lng: 13.405}, first: 2, after: $after) { edges { cursor } } }"#;

    // `rd:18446744073709551615`, the audit's cursor.
    let (status, body) = app
        .query(query, json!({"after": "cmQ6MTg0NDY3NDQwNzM3MDk1NTE2MTU"}), None)
        .await;

    assert_eq!(status, 200);
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
}

/// Stores `value` under the gateway's Redis key `key` (its prefix added).
async fn redis_set(prefix: &str, key: &str, value: &str) {
    let client = redis::Client::open(REDIS).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SET")
        .arg(format!("{prefix}{key}"))
        .arg(value)
        .arg("PX")
        .arg(600_000)
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_millis() as u64
}

#[tokio::test]
async fn poisoned_redis_values_are_misses() {
    let prefix = redis_prefix("poisoned");
    let app = spawn_app_with(|config| {
        config.cache.redis_url = Some(REDIS.into());
        config.cache.redis_prefix = prefix.clone();
    })
    .await;
    let record = async |id: u64| {
        let url = app.demo_url(&format!("/restaurants/restaurants?ids={id}"));
        app.get_json(&url).await[0].clone()
    };
    let key = |id: u64| format!("e|restaurants|GET /restaurants||{id}");
    // Restaurant 4322's record, fresh for a minute, under 4323's key.
    redis_set(
        &prefix,
        &key(4323),
        &format!("{}:{}", now_ms() + 60_000, record(4322).await),
    )
    .await;
    // 4321's own record, with a freshness that overflows when added to.
    redis_set(&prefix, &key(4321), &format!("{}:{}", u64::MAX, record(4321).await)).await;

    let expected = [record(4323).await["name"].clone(), record(4321).await["name"].clone()];
    app.reset().await;

    for (id, expected) in [4323u64, 4321].into_iter().zip(expected) {
        let (status, body) = app
            .query(&format!("{{ restaurant(id: \"{id}\") {{ name }} }}"), json!({}), None)
            .await;
        assert_eq!(status, 200);
        assert!(errors(&body).is_empty(), "{body}");
        assert_eq!(body["data"]["restaurant"]["name"], expected, "{id}: {body}");
    }
    // Both were misses: the gateway asked the service.
    assert_eq!(app.stats().await.calls("restaurants GET /restaurants"), 2);
}

// ---------------------------------------------------------------------------
// Item 10: retries stop while a service is plainly down.
// ---------------------------------------------------------------------------

/// Runs `query` once for each of the users 1 to `queries`, signed in as that user
/// (so no two share a private call), `concurrency` at a time; returns the bodies.
async fn signed_in(app: &TestApp, query: &str, variables: &Value, queries: u64, concurrency: usize) -> Vec<Value> {
    use futures_util::{StreamExt, stream};
    stream::iter(1..=queries)
        .map(|user| async move {
            let token = app.token(user);
            let body = json!({"query": query, "variables": variables});
            app.send_json(app.graphql_post(&body, Some(&token))).await.body
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// What reads `service`: the signed-in user's own data for `users` (three
/// calls), the ranked list for `recommendations` (one).
fn reading(service: &str) -> (&'static str, Value) {
    match service {
        "users" => ("{ me { name addresses { street } favorites { id } } }", json!({})),
        _ => (
            "query($location: LocationInput!) { restaurants(near: $location, first: 5, sort: RECOMMENDED) { edges { node { id } } } }",
            json!({"location": {"lat": 52.52, "lng": 13.405}}),
        ),
    }
}

/// Calls `service` gets per query when all is well, and what `queries` queries
/// cost it while it answers `503` to everything: (needed, made).
async fn calls_while_down(service: &str, queries: u64, concurrency: usize) -> (u64, u64) {
    let app = spawn_app().await;
    let (query, variables) = reading(service);
    signed_in(&app, query, &variables, 1, 1).await;
    let per_query = app.stats().await.service(service);
    assert!(per_query > 0, "the query calls {service}");
    app.reset().await;
    app.fault(json!({"service": service, "errorRate": 1.0})).await;

    let bodies = signed_in(&app, query, &variables, queries, concurrency).await;

    assert!(bodies.iter().all(|b| !errors(b).is_empty()));
    (per_query * queries, app.stats().await.service(service))
}

#[tokio::test]
async fn ten_queries_against_a_dead_service_make_at_most_half_again_the_calls_needed() {
    for service in ["users", "recommendations"] {
        let (needed, made) = calls_while_down(service, 10, 1).await;
        eprintln!("{service}, 10 queries: {made} calls, {needed} needed");
        assert!(
            made * 2 <= needed * 3,
            "{service}: {made} calls where {needed} were needed"
        );
    }
}

#[tokio::test]
async fn a_thousand_queries_against_a_dead_service_make_at_most_half_again_the_calls_needed() {
    for service in ["users", "recommendations"] {
        let (needed, made) = calls_while_down(service, 1_000, 8).await;
        eprintln!("{service}, 1000 queries: {made} calls, {needed} needed");
        assert!(
            made * 2 <= needed * 3,
            "{service}: {made} calls where {needed} were needed"
        );
    }
}

/// The same at 10,000 queries: measured by hand (minutes in a debug build), with
/// `cargo test --test api -- --ignored --nocapture ten_thousand_queries`.
#[tokio::test]
#[ignore = "slow: run by hand"]
async fn ten_thousand_queries_against_a_dead_service_make_at_most_half_again_the_calls_needed() {
    for service in ["users", "recommendations"] {
        let (needed, made) = calls_while_down(service, 10_000, 8).await;
        eprintln!("{service}, 10000 queries: {made} calls, {needed} needed");
        assert!(
            made * 2 <= needed * 3,
            "{service}: {made} calls where {needed} were needed"
        );
    }
}

#[tokio::test]
async fn retries_still_hide_a_service_that_fails_one_call_in_five() {
    let app = spawn_app_with(|config| config.cache.enabled = false).await;
    // A gateway that has been running: the service's recent calls hold successes.
    // On a cold start the breaker's window is empty, and a service's second failure
    // before any success stops its retries (the benefit of the doubt is given once,
    // so that a service that is down from the start gets no retry storm): when two
    // of the first few calls failed, the first queries went without retries (seen
    // as 1, 3 and 4 of the first 5 queries incomplete in 3 of 12 runs), which is
    // not what this test measures.
    let warm = signed_in(&app, HOME, &berlin(5), 8, 4).await;
    assert!(warm.iter().all(|body| errors(body).is_empty()), "{warm:?}");
    app.fault(json!({"service": "restaurants", "errorRate": 0.2})).await;
    // 400: the 98 % below then allows 8 incomplete screens where four attempts leave
    // about 1.3 on average (0.2⁴ per call, two calls per screen; 0-3 per 200 seen).
    let queries = 400;

    let bodies = signed_in(&app, HOME, &berlin(5), queries, 4).await;

    let whole = bodies
        .iter()
        .filter(|body| {
            let restaurants_failed = errors(body).iter().any(|e| e["extensions"]["service"] == "restaurants");
            let names = body["data"]["restaurants"]["edges"]
                .as_array()
                .is_some_and(|edges| edges.iter().all(|e| e["node"]["name"].is_string()));
            !restaurants_failed && names && body["data"]["me"]["favorites"].is_array()
        })
        .count() as u64;
    let calls = app.stats().await.calls("restaurants GET /restaurants");
    eprintln!("{whole} of {queries} HomeScreens whole; {calls} calls to restaurants");
    assert!(
        whole * 100 >= queries * 98,
        "{whole} of {queries} HomeScreens had every restaurant field"
    );
}

// ---------------------------------------------------------------------------
// Item 7 (audit 10): Redis off the critical path.
// ---------------------------------------------------------------------------

/// A TCP proxy in front of the test Redis that holds every chunk Redis sends back
/// for `delay` before passing it on: a Redis that is slow but well under its
/// timeout. Returns its `redis://` URL.
async fn slow_redis(delay: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect("127.0.0.1:6379").await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    match server_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            // The latency this proxy exists to add (not a wait
                            // for anything).
                            tokio::time::sleep(delay).await;
                            if client_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    format!("redis://{addr}")
}

/// The time `n` cold `restaurant(id:)` queries take one after another (each id
/// new to the gateway), and whether each answered in full.
async fn cold_queries(app: &TestApp, first_id: u64, n: u64) -> Duration {
    let started = Instant::now();
    for id in first_id..first_id + n {
        let (_, body) = app.query(RESTAURANT, json!({"id": id.to_string()}), None).await;
        assert!(errors(&body).is_empty(), "{body}");
    }
    started.elapsed()
}

#[tokio::test]
async fn a_slow_redis_does_not_slow_cold_queries() {
    let delay = Duration::from_millis(30);
    let n = 10;
    let without = spawn_app().await;
    let slow_url = slow_redis(delay).await;
    let slow = spawn_app_with(|config| {
        config.cache.redis_url = Some(slow_url);
        config.cache.redis_prefix = redis_prefix("slow-redis");
        // Slow, but well under its timeout: connecting through the proxy (a few
        // round trips) must succeed, so that Redis counts as healthy.
        config.cache.redis_timeout = Duration::from_secs(1);
    })
    .await;
    // Warm both up (connections, the first Redis connect) on ids not measured.
    cold_queries(&without, 3000, 1).await;
    cold_queries(&slow, 3000, 1).await;

    let plain = cold_queries(&without, 3001, n).await;
    let through_slow_redis = cold_queries(&slow, 3001, n).await;

    eprintln!(
        "{n} cold Restaurant queries: {plain:?} without Redis, {through_slow_redis:?} through a Redis {delay:?} slow"
    );
    // Waiting for Redis on each miss costs at least a read and a write round
    // trip (2 x 30 ms) per query; off the critical path, at most a read or two
    // in all.
    assert!(
        through_slow_redis < plain + delay * n as u32,
        "{through_slow_redis:?} through a slow Redis, {plain:?} without"
    );
}

/// Waits (polling Redis, never a fixed sleep) until every key of `keys` (without
/// the gateway's `prefix`) is in Redis: entity writes to Redis happen in the
/// background, so a test that checks sharing through Redis waits for them.
pub async fn redis_has_keys(prefix: &str, keys: &[String]) {
    let client = redis::Client::open(REDIS).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    let full: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
    let stored = eventually(Duration::from_secs(5), || {
        let mut connection = connection.clone();
        let full = full.clone();
        async move {
            let found: usize = redis::cmd("EXISTS")
                .arg(&full)
                .query_async(&mut connection)
                .await
                .unwrap_or(0);
            found == full.len()
        }
    })
    .await;
    assert!(stored, "Redis never got {keys:?}");
}

#[tokio::test]
async fn the_answer_does_not_wait_for_redis_writes_but_they_land() {
    let prefix = redis_prefix("background-writes");
    let app = spawn_app_with(|config| {
        config.cache.redis_url = Some(REDIS.into());
        config.cache.redis_prefix = prefix.clone();
    })
    .await;

    let (_, body) = app.query(RESTAURANT, json!({"id": "18"}), None).await;

    assert!(errors(&body).is_empty(), "{body}");
    let keys: Vec<String> = [
        "restaurants GET /restaurants",
        "menus GET /menus",
        "ratings GET /ratings",
    ]
    .iter()
    .map(|r| {
        let (service, route) = r.split_once(' ').unwrap();
        format!("e|{service}|{route}||18")
    })
    .collect();
    redis_has_keys(&prefix, &keys).await;
}

// ---------------------------------------------------------------------------
// Item 8 (audit 11, 14): clients choose neither cache keys nor metric labels.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn locations_a_few_metres_apart_share_their_cache_entries() {
    let app = spawn_app().await;
    let query = "query($at: LocationInput!) { restaurants(near: $at, first: 3) { edges { node { id deliveryEstimate { minutes } } } } }";

    let mut answers = Vec::new();
    for i in 0..20 {
        // Twenty floats, all within a few metres of Berlin Mitte.
        let at = json!({"lat": 52.52 + f64::from(i) * 1e-6, "lng": 13.405 - f64::from(i) * 1e-6});
        let (_, body) = app.query(query, json!({"at": at}), None).await;
        assert!(errors(&body).is_empty(), "{body}");
        answers.push(body["data"].clone());
    }

    assert!(answers.windows(2).all(|w| w[0] == w[1]), "one cell, one answer");
    let stats = app.stats().await;
    assert_eq!(stats.calls("geo GET /areas/lookup"), 1, "{:?}", stats.calls);
    assert_eq!(stats.calls("logistics POST /estimates"), 1, "{:?}", stats.calls);
}

#[tokio::test]
async fn the_first_names_a_client_sends_claim_no_metric_label() {
    let app = spawn_app().await;
    for i in 0..70 {
        app.query(&format!("query Junk{i} {{ __typename }}"), json!({}), None)
            .await;
    }
    let token = app.token(42);
    app.query(HOME, berlin(2), Some(&token)).await;

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("gateway_graphql_requests_total{"))
        .collect();
    assert!(!requests.iter().any(|l| l.contains("Junk")), "{requests:#?}");
    assert!(
        requests
            .iter()
            .any(|l| l.contains(r#"operation="other""#) && l.ends_with(" 70")),
        "{requests:#?}"
    );
    assert!(
        requests.iter().any(|l| l.contains(r#"operation="HomeScreen""#)),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn configured_and_manifest_operations_get_their_own_labels() {
    let dir = std::env::temp_dir().join(format!("dg-labels-{}-{:x}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("manifest.json");
    let body = "query Tracking { __typename }";
    let id = delivery_gateway::server::persisted::sha256_hex(body);
    let file = json!({"format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": id, "name": "Tracking", "type": "query", "body": body}]});
    std::fs::write(&manifest, file.to_string()).unwrap();
    let app = spawn_app_with(|config| {
        config.telemetry.operation_labels = vec!["Checkout".into()];
        config.persisted_queries.manifest = Some(manifest.clone());
    })
    .await;

    for name in ["Checkout", "Tracking", "HomeScreen"] {
        app.query(&format!("query {name} {{ __typename }}"), json!({}), None)
            .await;
    }

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(text.contains(r#"operation="Checkout""#), "{text}");
    assert!(text.contains(r#"operation="Tracking""#), "{text}");
    // Not listed in this configuration: `other`.
    assert!(!text.contains(r#"operation="HomeScreen""#), "{text}");
}
