//! Faults and statistics over the admin API.

use serde_json::json;

use super::{demo, get, get_as, send};

#[tokio::test]
async fn an_error_rate_of_one_answers_503_for_that_service_only() {
    let demo = demo();
    let set = send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(json!({"service": "menus", "errorRate": 1.0})),
    )
    .await;
    assert_eq!(set.status, 200);
    assert_eq!(set.json()["menus"]["errorRate"], 1.0);
    let failed = get(&demo, "/menus/menus?restaurantIds=1").await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.json(), json!({"error": "injected failure"}));
    assert_eq!(failed.cache_control(), "private, no-store");
    assert_eq!(get(&demo, "/ratings/ratings?restaurantIds=1").await.status, 200);
}

#[tokio::test]
async fn malformed_answers_200_with_a_body_that_is_not_json() {
    let demo = demo();
    send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(json!({"service": "*", "malformed": true})),
    )
    .await;
    for uri in [
        "/restaurants/restaurants?ids=1,2",
        "/geo/areas/lookup?lat=52.52&lng=13.405",
    ] {
        let answer = get(&demo, uri).await;
        assert_eq!(answer.status, 200);
        assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_err());
    }
}

#[tokio::test]
async fn bad_fault_settings_are_400() {
    let demo = demo();
    for body in [
        json!({"service": "nope"}),
        json!({"service": "menus", "errorRate": 2}),
        json!({"service": "menus", "latencyMs": -1}),
        json!({"service": "menus", "typo": true}),
    ] {
        let answer = send(&demo, "PUT", "/_admin/faults", None, Some(body.clone())).await;
        assert_eq!(answer.status, 400, "{body}");
    }
}

#[tokio::test]
async fn stats_count_calls_ids_and_users_and_reset_clears_them() {
    let demo = demo();
    get(&demo, "/restaurants/restaurants?ids=1,2,3").await;
    get(&demo, "/restaurants/restaurants?ids=4,4").await;
    get_as(&demo, "/users/users/42/addresses", "42").await;
    get_as(&demo, "/users/users/43", "43").await;
    let body = json!({"userId": 42, "restaurantIds": [1, 2, 3, 4], "recentRestaurantIds": []});
    send(&demo, "POST", "/recommendations/rank", Some("42"), Some(body)).await;
    get(&demo, "/geo/areas/ber-06/restaurants").await;
    send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(json!({"service": "wallet", "errorRate": 1})),
    )
    .await;
    get_as(&demo, "/wallet/users/42/vouchers", "42").await;

    let stats = get(&demo, "/_admin/stats").await.json();
    assert_eq!(stats["calls"]["restaurants GET /restaurants"], 2);
    assert_eq!(stats["ids"]["restaurants GET /restaurants"], 5);
    assert_eq!(stats["calls"]["users GET /users/{id}/addresses"], 1);
    assert_eq!(stats["ids"]["users GET /users/{id}"], 1);
    assert_eq!(stats["ids"]["recommendations POST /rank"], 4);
    assert_eq!(stats["calls"]["geo GET /areas/{areaId}/restaurants"], 1);
    assert_eq!(stats["calls"]["wallet GET /users/{id}/vouchers"], 1);
    assert_eq!(stats["userIds"], json!({"42": 3, "43": 1}));

    let reset = send(&demo, "POST", "/_admin/reset", None, None).await;
    assert_eq!(reset.status, 204);
    let stats = get(&demo, "/_admin/stats").await.json();
    assert_eq!(stats, json!({"calls": {}, "ids": {}, "userIds": {}}));
    assert_eq!(get_as(&demo, "/wallet/users/42/vouchers", "42").await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn a_hung_call_counts_and_never_answers() {
    let demo = demo();
    send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(json!({"service": "loyalty", "hang": true})),
    )
    .await;
    let call = get_as(&demo, "/loyalty/members/42", "42");
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), call).await;
    assert!(outcome.is_err(), "a hung call answered");
    assert_eq!(demo.stats().calls_to("loyalty GET /members/{userId}"), 1);
}

/// Real time: the demo's delay runs on `async-io`'s timer, which tokio's paused
/// clock does not drive. Only lower bounds are asserted (a loaded machine may
/// answer later, never sooner).
#[tokio::test]
async fn latency_delays_answers_and_reset_restores_the_start_up_latency() {
    let demo = crate::demo::Demo::new(crate::demo::DemoConfig {
        seed: 42,
        latency: std::time::Duration::from_millis(20),
        ..Default::default()
    });
    let start = tokio::time::Instant::now();
    get(&demo, "/ratings/ratings?restaurantIds=1").await;
    assert!(start.elapsed() >= std::time::Duration::from_millis(20));

    send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(json!({"service": "ratings", "latencyMs": 100, "jitterMs": 10})),
    )
    .await;
    let start = tokio::time::Instant::now();
    assert_eq!(get(&demo, "/ratings/ratings?restaurantIds=1").await.status, 200);
    assert!(start.elapsed() >= std::time::Duration::from_millis(100));

    send(&demo, "POST", "/_admin/reset", None, None).await;
    let faults = get(&demo, "/_admin/faults").await.json();
    assert_eq!(faults["ratings"]["latencyMs"], 20);
    assert_eq!(
        faults["menus"],
        json!({"latencyMs": 20, "jitterMs": 0, "errorRate": 0.0, "hang": false, "malformed": false, "afterCommit": false})
    );
}
