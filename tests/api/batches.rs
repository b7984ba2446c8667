//! A batch answers key by key: a failed chunk fails only its own restaurants,
//! and a malformed entry only its own, without counting against the service's
//! circuit breaker.
//!
//! The demo cannot fail one chunk of a batch and answer the other, nor answer
//! one bad entry among good ones, so these tests point the menus service at a
//! small stand-in of their own.
//!
//! The tests marked `ignore` check the GraphQL fields themselves: they need
//! `graphql/restaurant.rs` to read each key's outcome (`loaders::prime_each`,
//! `loaders::load_one`) instead of one result per batch (`loaders::prime`).
//! Until then, a batch with one failed key still fails every field that read
//! it; the upstream layer below (per-chunk caching, the breaker) is checked by
//! the tests that run.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::Query,
    http::{StatusCode, header::CACHE_CONTROL},
    response::IntoResponse,
    routing::get,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, berlin, errors, spawn_app_with};

/// A page of restaurants with their menus.
const MENUS: &str = "query($location: LocationInput!, $first: Int) {
  restaurants(near: $location, first: $first, sort: DISTANCE) {
    edges { node { id name menu { categories { name } } } }
  }
}";

/// What the stand-in does with the restaurant id it is set to.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers `503` to every chunk that contains it.
    FailChunk,
    /// Answers its entry malformed (`categories` is not a list), the others well.
    BadEntry,
}

/// A stand-in for the menus service, and the ids of every call it received.
struct Menus {
    url: url::Url,
    calls: Arc<Mutex<Vec<Vec<u64>>>>,
    target: Arc<Mutex<Option<u64>>>,
}

impl Menus {
    async fn start(fault: Fault) -> Menus {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let target: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
        let (seen, aim) = (calls.clone(), target.clone());
        let app = Router::new().route(
            "/menus",
            get(move |Query(query): Query<HashMap<String, String>>| {
                let (seen, aim) = (seen.clone(), aim.clone());
                async move {
                    let ids: Vec<u64> = query
                        .get("restaurantIds")
                        .map(|ids| ids.split(',').filter_map(|id| id.parse().ok()).collect())
                        .unwrap_or_default();
                    seen.lock().unwrap().push(ids.clone());
                    let target = *aim.lock().unwrap();
                    if let (Fault::FailChunk, Some(target)) = (fault, target)
                        && ids.contains(&target)
                    {
                        let body = axum::Json(json!({"error": "this chunk is down"}));
                        return (StatusCode::SERVICE_UNAVAILABLE, [(CACHE_CONTROL, "private, no-store")], body)
                            .into_response();
                    }
                    let entries: Vec<Value> = ids
                        .iter()
                        .map(|&id| match fault {
                            Fault::BadEntry if Some(id) == target => {
                                json!({"restaurantId": id, "categories": "not a list"})
                            }
                            _ => json!({"restaurantId": id, "categories": [{"name": format!("Mains of {id}"), "items": []}]}),
                        })
                        .collect();
                    (StatusCode::OK, [(CACHE_CONTROL, "public, max-age=60")], axum::Json(entries)).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Menus { url, calls, target }
    }

    fn aim_at(&self, id: u64) {
        *self.target.lock().unwrap() = Some(id);
    }

    /// The calls received so far (and forgets them).
    fn take_calls(&self) -> Vec<Vec<u64>> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

/// A gateway whose menus service is `menus`; the rest is the demo.
async fn gateway(menus: &Menus, adjust: impl FnOnce(&mut delivery_gateway::config::Config)) -> TestApp {
    let url = menus.url.clone();
    spawn_app_with(move |c| {
        c.upstreams.services.insert("menus".into(), url);
        adjust(c);
    })
    .await
}

/// The restaurant ids of a page, in order.
fn page_ids(body: &Value) -> Vec<u64> {
    body["data"]["restaurants"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges: {body}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The ids of the restaurants the page's errors name, checking that every error
/// is a menus error on a `menu` field.
fn menu_errors(body: &Value, code: &str) -> HashSet<u64> {
    let ids = page_ids(body);
    errors(body)
        .iter()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], code, "{e}");
            assert_eq!(e["extensions"]["service"], "menus", "{e}");
            let path = e["path"].as_array().unwrap_or_else(|| panic!("no path: {e}"));
            assert_eq!(path.len(), 5, "{e}");
            assert_eq!(path[..2], [json!("restaurants"), json!("edges")], "{e}");
            assert_eq!(path[3..], [json!("node"), json!("menu")], "{e}");
            ids[path[2].as_u64().unwrap() as usize]
        })
        .collect()
}

/// Asserts that every restaurant of the page not in `failed` has its own menu,
/// and that those in `failed` have none (null or, while async-graphql leaves a
/// failed field out, absent).
fn assert_menus(body: &Value, failed: &HashSet<u64>) {
    for edge in body["data"]["restaurants"]["edges"].as_array().unwrap() {
        let node = &edge["node"];
        let id: u64 = node["id"].as_str().unwrap().parse().unwrap();
        assert!(node["name"].is_string(), "{node}");
        if failed.contains(&id) {
            assert!(node.get("menu").is_none_or(Value::is_null), "{node}");
        } else {
            let menu = node.get("menu").unwrap_or_else(|| panic!("no menu: {node}"));
            assert_eq!(menu["categories"][0]["name"], format!("Mains of {id}"), "{node}");
        }
    }
}

/// A page of 100 restaurants is two menus chunks of 50; the stand-in fails the
/// one that holds the page's first restaurant. The chunks go out sorted by id
/// (the entity cache asks for its misses in order).
async fn page_with_a_failing_chunk() -> (Menus, TestApp, Value, Vec<u64>) {
    // Room for an error per restaurant.
    let roomy = |c: &mut delivery_gateway::config::Config| c.limits.max_errors = 200;
    let menus = Menus::start(Fault::FailChunk).await;
    let app = gateway(&menus, roomy).await;
    let (_, body) = app.query(MENUS, berlin(100), None).await;
    let ids = page_ids(&body);
    assert_eq!(ids.len(), 100, "{body}");
    app.reset().await;
    // A fresh gateway, so that nothing of the first page is cached.
    let menus_down = Menus::start(Fault::FailChunk).await;
    menus_down.aim_at(ids[0]);
    let app = gateway(&menus_down, roomy).await;
    let (status, body) = app.query(MENUS, berlin(100), None).await;
    assert_eq!(status, 200, "{body}");
    (menus_down, app, body, ids)
}

/// The chunk that the stand-in failed: the 50 lowest ids of the page, or the 50
/// highest, whichever holds `target`.
fn failing_chunk(ids: &[u64], target: u64) -> HashSet<u64> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let (low, high) = sorted.split_at(50);
    if low.contains(&target) { low } else { high }.iter().copied().collect()
}

#[tokio::test]
async fn a_failed_menus_chunk_costs_the_other_chunk_nothing_upstream() {
    let (menus, app, body, ids) = page_with_a_failing_chunk().await;
    let failing = failing_chunk(&ids, ids[0]);

    // One call per chunk of 50 (the failing one retried), one call for the
    // restaurants: batched.
    let calls = menus.take_calls();
    assert!(calls.iter().all(|c| c.len() == 50), "{calls:?}");
    let (down, up): (Vec<_>, Vec<_>) = calls.iter().partition(|c| c.contains(&ids[0]));
    assert_eq!(up.len(), 1, "{calls:?}");
    assert!((1..=3).contains(&down.len()), "{calls:?}");
    assert_eq!(app.stats().await.calls("restaurants GET /restaurants"), 1);
    // Every error is the menus service's, on a `menu` field, and names a
    // restaurant of the failing chunk.
    let named = menu_errors(&body, "UPSTREAM_UNAVAILABLE");
    assert!(
        !named.is_empty() && named.is_subset(&ids.iter().copied().collect()),
        "{named:?}"
    );

    // The good chunk was cached: asked again, the gateway asks only for the
    // failing chunk's restaurants.
    let (_, again) = app.query(MENUS, berlin(100), None).await;
    assert_eq!(page_ids(&again), ids);
    let calls = menus.take_calls();
    assert!(!calls.is_empty());
    for call in &calls {
        let asked: HashSet<u64> = call.iter().copied().collect();
        assert_eq!(asked, failing, "asked again for a chunk that had answered");
    }
}

#[tokio::test]
async fn a_failed_menus_chunk_nulls_only_its_own_menus() {
    let (_menus, _app, body, ids) = page_with_a_failing_chunk().await;
    let failing = failing_chunk(&ids, ids[0]);

    assert_eq!(menu_errors(&body, "UPSTREAM_UNAVAILABLE"), failing, "{body}");
    assert_eq!(errors(&body).len(), 50, "{body}");
    assert_menus(&body, &failing);
}

/// A page of 10 restaurants whose menus answer holds one malformed entry, for
/// the page's third restaurant; the breaker judges a window of one second.
async fn page_with_a_bad_entry() -> (Menus, TestApp, Vec<u64>) {
    let menus = Menus::start(Fault::BadEntry).await;
    let app = gateway(&menus, |c| {
        c.upstreams.breaker.min_calls = 5;
        c.upstreams.breaker.window = Duration::from_secs(1);
    })
    .await;
    let (_, body) = app.query(MENUS, berlin(10), None).await;
    let ids = page_ids(&body);
    assert_eq!(ids.len(), 10, "{body}");
    menus.aim_at(ids[2]);
    (menus, app, ids)
}

/// The menus breaker's state, when it is not closed.
async fn menus_breaker(app: &TestApp) -> Option<String> {
    let ready: Value = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["breakers"]["menus"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_malformed_entry_is_a_bad_response_for_its_restaurant_and_never_opens_the_breaker() {
    let (menus, app, ids) = page_with_a_bad_entry().await;
    let bad = ids[2];
    // A cold cache: the first page was cached with a good entry for `bad`.
    let app = {
        drop(app);
        gateway(&menus, |c| {
            c.upstreams.breaker.min_calls = 5;
            c.upstreams.breaker.window = Duration::from_secs(1);
        })
        .await
    };
    menus.take_calls();

    // Well past the breaker's window and minimum of calls: every request asks
    // for the bad entry again (it is never cached), and each of those calls is
    // answered.
    let started = Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_millis(2500) || requests < 30 {
        let (status, body) = app.query(MENUS, berlin(10), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(page_ids(&body), ids);
        let named = menu_errors(&body, "UPSTREAM_BAD_RESPONSE");
        assert!(named.contains(&bad), "{body}");
        requests += 1;
    }
    let calls = menus.take_calls();
    assert!(calls.len() >= requests, "{} calls for {requests} requests", calls.len());
    assert!(
        calls[1..].iter().all(|c| c == &[bad]),
        "only the bad entry is asked again"
    );
    assert_eq!(menus_breaker(&app).await, None, "the menus breaker is not closed");

    // Another restaurant's menu still comes from the service.
    let good = ids[0];
    let (_, body) = app
        .query(
            "query($id: ID!) { restaurant(id: $id) { id menu { categories { name } } } }",
            json!({"id": good.to_string()}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["restaurant"]["menu"]["categories"][0]["name"],
        format!("Mains of {good}"),
        "{body}"
    );
}

#[tokio::test]
async fn a_malformed_entry_nulls_only_its_own_menu() {
    let (_menus, app, ids) = page_with_a_bad_entry().await;
    let bad = ids[2];
    // The first page cached the other menus: ask a fresh gateway.
    let menus = Menus::start(Fault::BadEntry).await;
    menus.aim_at(bad);
    drop(app);
    let app = gateway(&menus, |_| {}).await;

    for _ in 0..3 {
        let (status, body) = app.query(MENUS, berlin(10), None).await;
        assert_eq!(status, 200, "{body}");
        let failed = HashSet::from([bad]);
        assert_eq!(menu_errors(&body, "UPSTREAM_BAD_RESPONSE"), failed, "{body}");
        assert_eq!(errors(&body).len(), 1, "{body}");
        assert_menus(&body, &failed);
    }
}
