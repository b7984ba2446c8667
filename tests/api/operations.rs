//! The acceptance operations: answers, upstream calls, waves.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    HOME, NEARBY, RESTAURANT, RESTAURANT_ROUTES, assert_no_errors, berlin, spawn_app, spawn_app_with,
};

/// The sixteen calls of the REST sequence, plus one restaurants batch for the
/// past orders and favourites.
const HOME_ROUTES: [(&str, u64); 16] = [
    ("users GET /users/{id}", 1),
    ("users GET /users/{id}/addresses", 1),
    ("users GET /users/{id}/favorites", 1),
    ("orders GET /orders", 1),
    ("geo GET /areas/lookup", 1),
    ("geo GET /areas/{areaId}/restaurants", 1),
    ("restaurants GET /restaurants", 2),
    ("menus GET /menus", 1),
    ("ratings GET /ratings", 1),
    ("logistics POST /estimates", 1),
    ("pricing GET /fees", 1),
    ("availability GET /availability", 1),
    ("promotions GET /promotions", 1),
    ("wallet GET /users/{id}/vouchers", 1),
    ("loyalty GET /members/{userId}", 1),
    ("recommendations POST /rank", 1),
];

#[tokio::test]
async fn home_screen_answers_with_seventeen_upstream_calls() {
    let app = spawn_app().await;
    let token = app.token(42);

    let (status, body) = app.query(HOME, berlin(20), Some(&token)).await;

    assert_eq!(status, 200);
    assert_no_errors(&body);
    assert_eq!(body["data"]["me"]["id"], "42");
    let edges = body["data"]["restaurants"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 20);
    for edge in edges {
        let node = &edge["node"];
        assert!(node["name"].as_str().is_some_and(|n| !n.is_empty()), "{node}");
        assert!(
            node["menu"]["categories"].as_array().is_some_and(|c| !c.is_empty()),
            "{node}"
        );
        assert!(node["deliveryEstimate"]["minutes"].as_u64().is_some(), "{node}");
        assert!(node["deliveryFee"]["amount"].as_i64().is_some(), "{node}");
    }
    let stats = app.stats().await;
    for (route, calls) in HOME_ROUTES {
        assert_eq!(stats.calls(route), calls, "{route} in {:?}", stats.calls);
    }
    assert_eq!(stats.total(), 17, "{:?}", stats.calls);
}

#[tokio::test]
async fn home_screen_calls_do_not_grow_with_the_page_size() {
    // Batching per query is what this counts: with the entity cache on, the second
    // page size would find most restaurants cached (`caching.rs` covers that).
    let app = spawn_app_with(|config| config.cache.enabled = false).await;
    let token = app.token(42);
    for first in [5, 20, 50] {
        app.reset().await;

        let (_, body) = app.query(HOME, berlin(first), Some(&token)).await;

        assert_no_errors(&body);
        let edges = body["data"]["restaurants"]["edges"].as_array().unwrap().len();
        assert_eq!(edges, first as usize);
        let stats = app.stats().await;
        assert_eq!(stats.total(), 17, "first = {first}: {:?}", stats.calls);
        assert_eq!(stats.ids["menus GET /menus"], u64::from(first));
    }
}

#[tokio::test]
async fn home_screen_runs_in_four_waves_not_sixteen_steps() {
    // Without the entity cache: the warm-up would otherwise answer waves from it.
    let app = spawn_app_with(|config| config.cache.enabled = false).await;
    let token = app.token(42);
    // Warm the connection pool so the measurement is of the waves alone.
    app.query(HOME, berlin(20), Some(&token)).await;
    app.fault(json!({"service": "*", "latencyMs": 100})).await;

    let started = Instant::now();
    let (_, body) = app.query(HOME, berlin(20), Some(&token)).await;
    let took = started.elapsed();

    assert_no_errors(&body);
    // Four waves take 400 ms; the sixteen calls one after another would take
    // 1,600 ms. The margin is for a debug build on a loaded 2-core machine.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_millis(1200), "HomeScreen took {took:?}");
}

#[tokio::test]
async fn nearby_answers_anonymously_with_eight_upstream_calls() {
    let app = spawn_app().await;

    let (status, body) = app.query(NEARBY, berlin(20), None).await;

    assert_eq!(status, 200);
    assert_no_errors(&body);
    let listing = &body["data"]["restaurants"];
    assert_eq!(listing["area"]["city"], "Berlin");
    assert_eq!(listing["edges"].as_array().unwrap().len(), 20);
    assert_eq!(listing["pageInfo"]["hasNextPage"], true);
    let stats = app.stats().await;
    assert_eq!(stats.total(), 8, "{:?}", stats.calls);
    assert_eq!(
        stats.service("users") + stats.service("orders") + stats.service("recommendations"),
        0
    );
    assert!(
        stats.user_ids.is_empty(),
        "anonymous request sent X-User-Id: {:?}",
        stats.user_ids
    );
}

#[tokio::test]
async fn nearby_pages_continue_where_the_last_one_ended() {
    let app = spawn_app().await;
    let (_, first) = app.query(NEARBY, berlin(5), None).await;
    let end = first["data"]["restaurants"]["pageInfo"]["endCursor"].clone();
    let mut variables = berlin(5);
    variables["after"] = end;
    let (_, second) = app.query(NEARBY, variables, None).await;
    let (_, both) = app.query(NEARBY, berlin(10), None).await;

    assert_no_errors(&second);
    let ids = |body: &Value| -> Vec<Value> {
        body["data"]["restaurants"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].clone())
            .collect()
    };
    let mut paged = ids(&first);
    paged.extend(ids(&second));
    assert_eq!(paged, ids(&both));
}

#[tokio::test]
async fn restaurant_answers_in_one_wave_of_four_calls() {
    let app = spawn_app().await;

    let (_, body) = app.query(RESTAURANT, json!({"id": "17"}), None).await;

    assert_no_errors(&body);
    let restaurant = &body["data"]["restaurant"];
    assert_eq!(restaurant["id"], "17");
    assert!(
        restaurant["menu"]["categories"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    let stats = app.stats().await;
    stats.assert_called_once(&RESTAURANT_ROUTES);
    assert_eq!(stats.total(), 4);
}

#[tokio::test]
async fn an_unknown_restaurant_is_null_without_an_error() {
    let app = spawn_app().await;

    let (_, body) = app.query(RESTAURANT, json!({"id": "999999"}), None).await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurant"], Value::Null);
}

#[tokio::test]
async fn a_location_outside_every_area_gives_an_empty_list() {
    let app = spawn_app().await;
    let variables = json!({"location": {"lat": 0.0, "lng": 0.0}, "first": 5});

    let (_, body) = app.query(NEARBY, variables, None).await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurants"]["area"], Value::Null);
    assert_eq!(body["data"]["restaurants"]["edges"], json!([]));
    assert_eq!(body["data"]["restaurants"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn first_past_the_maximum_is_a_clear_error() {
    let app = spawn_app().await;

    let (_, body) = app.query(NEARBY, berlin(101), None).await;

    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("100"));
    assert_eq!(app.stats().await.total(), 0);
}
