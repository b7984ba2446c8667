//! The contract's conventions over HTTP: batches, privacy, errors, caching.

use serde_json::json;

use super::{demo, get, get_as, send};
use crate::demo::data;

#[tokio::test]
async fn a_restaurant_batch_answers_known_ids_once_and_not_in_request_order() {
    let demo = demo();
    let answer = get(&demo, "/restaurants/restaurants?ids=1,2,3,2,9999,4").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.cache_control(), "public, max-age=60");
    let mut ids = answer.ids();
    assert_ne!(ids, [1, 2, 3, 4]);
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3, 4]);
    let first = answer.json()[0].clone();
    let id = first["id"].as_u64().expect("id");
    assert_eq!(first, serde_json::to_value(data::restaurant(42, id)).expect("json"));
}

#[tokio::test]
async fn batches_over_the_limit_or_malformed_are_400_and_private() {
    let demo = demo();
    let too_many: Vec<String> = (1..=51).map(|i| i.to_string()).collect();
    let uri = format!("/menus/menus?restaurantIds={}", too_many.join(","));
    for uri in [
        uri.as_str(),
        "/ratings/ratings?restaurantIds=",
        "/ratings/ratings?restaurantIds=1,x",
        "/ratings/ratings",
    ] {
        let answer = get(&demo, uri).await;
        assert_eq!(answer.status, 400, "{uri}");
        assert!(answer.json()["error"].is_string());
        assert_eq!(answer.cache_control(), "private, no-store");
    }
    let ids: Vec<u64> = (1..=501).collect();
    let body = json!({"userId": 42, "restaurantIds": ids});
    let answer = send(&demo, "POST", "/recommendations/rank", Some("42"), Some(body)).await;
    assert_eq!(answer.status, 400);
}

#[tokio::test]
async fn private_endpoints_need_the_named_user() {
    let demo = demo();
    for uri in [
        "/users/users/42",
        "/users/users/42/addresses",
        "/users/users/42/favorites",
        "/orders/orders?userId=42",
        "/wallet/users/42/vouchers",
        "/loyalty/members/42",
        "/promotions/promotions?restaurantIds=1,2&userId=42",
    ] {
        assert_eq!(get(&demo, uri).await.status, 403, "{uri} without a header");
        assert_eq!(get_as(&demo, uri, "7").await.status, 403, "{uri} as another user");
        let answer = get_as(&demo, uri, "42").await;
        assert_eq!(answer.status, 200, "{uri} as the user");
        assert_eq!(answer.cache_control(), "private, no-store");
    }
    let body = json!({"userId": 42, "restaurantIds": [1, 2], "recentRestaurantIds": [3]});
    let other = send(&demo, "POST", "/recommendations/rank", Some("7"), Some(body.clone())).await;
    assert_eq!(other.status, 403);
    let mine = send(&demo, "POST", "/recommendations/rank", Some("42"), Some(body)).await;
    assert_eq!(mine.ids().len(), 2);
}

#[tokio::test]
async fn unknown_single_resources_are_404() {
    let demo = demo();
    assert_eq!(get_as(&demo, "/users/users/100001", "100001").await.status, 404);
    assert_eq!(get(&demo, "/geo/areas/lookup?lat=0&lng=0").await.status, 404);
    assert_eq!(get(&demo, "/geo/areas/xyz-01/restaurants").await.status, 404);
    assert_eq!(get(&demo, "/nowhere").await.status, 404);
    assert_eq!(get_as(&demo, "/users/users/abc", "42").await.status, 400);
}

#[tokio::test]
async fn geo_finds_berlin_mitte_and_its_restaurants() {
    let demo = demo();
    let area = get(&demo, "/geo/areas/lookup?lat=52.52&lng=13.405").await;
    assert_eq!(area.cache_control(), "public, max-age=300");
    assert_eq!(
        area.json(),
        json!({"areaId": "ber-06", "city": "Berlin", "name": "Mitte"})
    );
    let list = get(&demo, "/geo/areas/ber-06/restaurants").await.json();
    let list = list["restaurants"].as_array().expect("a list").len();
    assert!((100..=400).contains(&list));
}

#[tokio::test]
async fn orders_page_by_limit_and_before() {
    let demo = demo();
    let page = get_as(&demo, "/orders/orders?userId=42&limit=3", "42").await.json();
    let all = data::orders(42, 42);
    assert_eq!(page["total"], all.len());
    assert_eq!(page["orders"], serde_json::to_value(&all[..3]).expect("json"));
    let before = all[2].id;
    let next = get_as(
        &demo,
        &format!("/orders/orders?userId=42&limit=3&before={before}"),
        "42",
    )
    .await;
    assert_eq!(next.json()["orders"], serde_json::to_value(&all[3..6]).expect("json"));
    for bad in ["limit=0", "limit=51", "limit=x", "before=x"] {
        let answer = get_as(&demo, &format!("/orders/orders?userId=42&{bad}"), "42").await;
        assert_eq!(answer.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn estimates_fees_availability_and_promotions_answer_their_shapes() {
    let demo = demo();
    let body = json!({"location": {"lat": 52.52, "lng": 13.405}, "restaurantIds": [5, 6, 5]});
    let estimates = send(&demo, "POST", "/logistics/estimates", None, Some(body)).await;
    assert_eq!(estimates.cache_control(), "public, max-age=30");
    assert_eq!(estimates.ids().len(), 2);
    let fees = get(&demo, "/pricing/fees?areaId=ber-06&restaurantIds=5,6").await;
    assert_eq!((fees.status.as_u16(), fees.ids().len()), (200, 2));
    assert_eq!(
        get(&demo, "/pricing/fees?areaId=nope&restaurantIds=5").await.status,
        404
    );
    let open = get(&demo, "/availability/availability?restaurantIds=5").await;
    assert_eq!(open.cache_control(), "public, max-age=15");
    let promos = get(&demo, "/promotions/promotions?restaurantIds=5").await;
    assert_eq!(promos.cache_control(), "public, max-age=60");
    let bad = send(&demo, "POST", "/logistics/estimates", None, Some(json!({"nope": 1}))).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn another_seed_serves_other_data() {
    let other = crate::demo::Demo::new(crate::demo::DemoConfig {
        seed: 7,
        ..Default::default()
    });
    let a = get(&demo(), "/restaurants/restaurants?ids=17").await.json();
    let b = get(&other, "/restaurants/restaurants?ids=17").await.json();
    assert_ne!(a, b);
    assert_eq!(b[0], serde_json::to_value(data::restaurant(7, 17)).expect("json"));
}
