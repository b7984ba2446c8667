//! Calls 4 and 17-19 over HTTP: placing, reading, tracking and cancelling orders,
//! idempotency keys, versions, the demo clock, and faults after a commit.
//!
//! The clock is driven through `PUT /_admin/clock` (1,000 runs 180 s of an order's
//! life in 0.18 s; 0 freezes it to compare an answer with the pure functions), and
//! waits poll an observable state with a bounded number of attempts.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Answer, demo, get, get_as, send, send_with};
use crate::demo::wire::{Location, OrderStatus};
use crate::demo::{Demo, DemoConfig, FIRST_PLACED_ORDER_ID, data};

const SEED: u64 = 42;

/// What user 42 can order: an open restaurant serving one of their addresses, and
/// the rest of what the 422 cases need.
struct Fixture {
    restaurant: u64,
    address: u64,
    address_location: Location,
    /// Items of the restaurant's menu: (id, name, price).
    items: Vec<(u64, String, i64)>,
    /// A restaurant serving the address that is closed.
    closed: u64,
    /// An open restaurant whose delivery area the address is outside of.
    elsewhere: u64,
}

fn fixture(user: u64) -> Fixture {
    let addresses = data::addresses(SEED, user).expect("a user");
    let address = &addresses[0];
    let area = data::area_lookup(SEED, address.location.lat, address.location.lng).expect("in an area");
    let serving: Vec<u64> = data::area_restaurants(SEED, &area.area_id)
        .expect("a known area")
        .iter()
        .map(|r| r.restaurant_id)
        .collect();
    let open = |r: u64| data::availability(SEED, r).is_some_and(|a| a.open);
    let restaurant = *serving.iter().find(|&&r| open(r)).expect("an open restaurant");
    let closed = *serving.iter().find(|&&r| !open(r)).expect("a closed restaurant");
    let elsewhere = (1..=data::RESTAURANT_COUNT)
        .find(|r| open(*r) && !serving.contains(r))
        .expect("a restaurant elsewhere");
    let menu = data::menu(SEED, restaurant).expect("a menu");
    let items = menu
        .categories
        .iter()
        .flat_map(|c| &c.items)
        .map(|i| (i.id, i.name.clone(), i.price.amount))
        .collect();
    Fixture {
        restaurant,
        address: address.id,
        address_location: address.location,
        items,
        closed,
        elsewhere,
    }
}

fn order_body(user: u64, f: &Fixture, lines: &[(u64, i64)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(id, quantity)| json!({"menuItemId": id, "quantity": quantity}))
        .collect();
    json!({"userId": user, "restaurantId": f.restaurant, "addressId": f.address, "items": items})
}

/// `POST /orders` as `user` with `key`.
async fn place(demo: &Demo, user: &str, key: &str, body: Value) -> Answer {
    let headers = [("x-user-id", user), ("idempotency-key", key)];
    send_with(demo, "POST", "/orders/orders", &headers, Some(body)).await
}

/// `POST /orders/{id}/cancel` as `user` with `key`.
async fn cancel(demo: &Demo, user: &str, key: &str, id: u64) -> Answer {
    let headers = [("x-user-id", user), ("idempotency-key", key)];
    let uri = format!("/orders/orders/{id}/cancel");
    send_with(demo, "POST", &uri, &headers, None).await
}

/// Places a simple order for user 42 and answers its JSON.
async fn place_one(demo: &Demo, key: &str) -> Value {
    let f = fixture(42);
    let answer = place(demo, "42", key, order_body(42, &f, &[(f.items[0].0, 1)])).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.json()
}

async fn order_of(demo: &Demo, id: u64) -> Value {
    let answer = get_as(demo, &format!("/orders/orders/{id}"), "42").await;
    assert_eq!(answer.status, 200);
    answer.json()
}

async fn set_clock(demo: &Demo, speed: f64) -> Answer {
    send(demo, "PUT", "/_admin/clock", None, Some(json!({ "speed": speed }))).await
}

/// The demo clock's time, Unix milliseconds.
async fn clock_ms(demo: &Demo) -> i64 {
    let reading = get(demo, "/_admin/clock").await.json();
    unix_ms(reading["now"].as_str().expect("a time"))
}

fn unix_ms(rfc3339: &str) -> i64 {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).expect("RFC 3339");
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Polls order `id` (at most 1,000 times, 5 ms apart: 5 s) until `done` holds.
async fn wait_for_order(demo: &Demo, id: u64, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1_000 {
        let order = order_of(demo, id).await;
        if done(&order) {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("order {id} never reached the state waited for");
}

fn status(order: &Value) -> &str {
    order["status"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_placed_order_is_201_placed_and_priced_from_the_menu() {
    let demo = demo();
    let f = fixture(42);
    let (a, b) = (&f.items[0], &f.items[1]);
    // The same dish on two lines is two lines; the request names no price.
    let body = order_body(42, &f, &[(a.0, 2), (b.0, 1), (a.0, 3)]);
    let answer = place(&demo, "42", "first", body).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.cache_control(), "private, no-store");
    let order = answer.json();
    assert_eq!(order["id"], FIRST_PLACED_ORDER_ID);
    assert_eq!(
        (order["userId"].as_u64(), order["restaurantId"].as_u64()),
        (Some(42), Some(f.restaurant))
    );
    assert_eq!(status(&order), "PLACED");
    let line = |(id, name, price): &(u64, String, i64), quantity: u32| {
        json!({"menuItemId": id, "name": name, "quantity": quantity,
               "unitPrice": {"amount": price, "currency": "EUR"}})
    };
    assert_eq!(order["items"], json!([line(a, 2), line(b, 1), line(a, 3)]));
    assert_eq!(order["total"], json!({"amount": 5 * a.2 + b.2, "currency": "EUR"}));
    let placed_at = order["placedAt"].as_str().expect("placedAt");
    assert_eq!(placed_at.len(), "2026-10-01T18:22:00.000Z".len(), "{placed_at}");
    assert!(placed_at > "2026-10-01T00:00:00Z", "later than every generated order");
    assert_eq!(
        order["tracking"],
        json!({"etaMinutes": 35, "courier": null, "updatedAt": placed_at, "version": 1})
    );
    let next = place(&demo, "42", "second", order_body(42, &f, &[(a.0, 1)])).await;
    assert_eq!(next.json()["id"], FIRST_PLACED_ORDER_ID + 1);
}

#[tokio::test]
async fn placed_orders_come_first_in_call_4_newest_first() {
    let demo = demo();
    let first = place_one(&demo, "a").await;
    let second = place_one(&demo, "b").await;
    let generated = data::orders(SEED, 42);
    let page = get_as(&demo, "/orders/orders?userId=42&limit=3", "42").await.json();
    assert_eq!(page["total"], generated.len() + 2);
    let orders = page["orders"].as_array().expect("orders");
    assert_eq!(orders[0]["id"], second["id"]);
    assert_eq!(orders[1]["id"], first["id"]);
    assert_eq!(orders[2], serde_json::to_value(&generated[0]).expect("json"));
    assert!(orders.iter().all(|o| o["tracking"]["version"].is_u64()));
    let before = second["id"].as_u64().expect("an id");
    let next = get_as(
        &demo,
        &format!("/orders/orders?userId=42&limit=2&before={before}"),
        "42",
    )
    .await;
    let ids: Vec<u64> = next.json()["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|o| o["id"].as_u64())
        .collect();
    assert_eq!(ids, [first["id"].as_u64().expect("an id"), generated[0].id]);
    // Another user's list does not show them.
    let other = get_as(&demo, "/orders/orders?userId=43", "43").await.json();
    assert_eq!(other["total"], data::orders(SEED, 43).len());
}

#[tokio::test]
async fn a_repeat_with_the_same_key_answers_the_same_result_and_places_nothing() {
    let demo = demo();
    let f = fixture(42);
    let body = order_body(42, &f, &[(f.items[0].0, 1)]);
    let first = place(&demo, "42", "key-1", body.clone()).await;
    // Equal as JSON: the same fields in another order.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"items": {}, "addressId": {}, "restaurantId": {}, "userId": 42}}"#,
        body["items"], f.address, f.restaurant
    ))
    .expect("json");
    let again = place(&demo, "42", "key-1", reordered).await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    let page = get_as(&demo, "/orders/orders?userId=42", "42").await.json();
    assert_eq!(page["total"], data::orders(SEED, 42).len() + 1, "one order, not two");

    let other_body = order_body(42, &f, &[(f.items[0].0, 2)]);
    let mismatch = place(&demo, "42", "key-1", other_body.clone()).await;
    assert_eq!(mismatch.status, 409);
    assert!(mismatch.json()["error"].is_string());
    assert_eq!(mismatch.header("retry-after"), "");
    let fresh = place(&demo, "42", "key-2", other_body).await;
    assert_eq!(fresh.json()["id"], FIRST_PLACED_ORDER_ID + 1);

    // The key is scoped to the user and the route.
    let f43 = fixture(43);
    let theirs = place(&demo, "43", "key-1", order_body(43, &f43, &[(f43.items[0].0, 1)])).await;
    assert_eq!(theirs.status, 201);
    let cancelled = cancel(&demo, "42", "key-1", FIRST_PLACED_ORDER_ID).await;
    assert_eq!(cancelled.status, 200, "a key of call 18 is unrelated to call 19");
    let on_another_order = cancel(&demo, "42", "key-1", FIRST_PLACED_ORDER_ID + 1).await;
    assert_eq!(on_another_order.status, 200, "nor to another order's cancel");
}

#[tokio::test]
async fn idempotency_keys_are_required_and_well_formed() {
    let demo = demo();
    let f = fixture(42);
    let body = order_body(42, &f, &[(f.items[0].0, 1)]);
    let no_key = send(&demo, "POST", "/orders/orders", Some("42"), Some(body.clone())).await;
    assert_eq!(no_key.status, 400);
    for bad in ["has space", "a.b", &"k".repeat(65), "a/b", ""] {
        let answer = place(&demo, "42", bad, body.clone()).await;
        assert_eq!(answer.status, 400, "{bad:?}");
    }
    assert_eq!(place(&demo, "42", &"k".repeat(64), body).await.status, 201);
    let no_key = send(&demo, "POST", "/orders/orders/4200/cancel", Some("42"), None).await;
    assert_eq!(no_key.status, 400);
}

#[tokio::test]
async fn a_key_still_in_flight_answers_409_in_progress_and_is_free_without_an_answer() {
    use crate::demo::idempotency::{Begin, Scope};
    let demo = demo();
    let f = fixture(42);
    let body = order_body(42, &f, &[(f.items[0].0, 1)]);
    let scope = Scope::new(42, "POST /orders", "busy".to_owned());
    let Begin::Run(in_flight) = demo.idempotency().begin(scope, body.clone(), std::time::Instant::now()) else {
        panic!("a new key");
    };
    let answer = place(&demo, "42", "busy", body.clone()).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.header("retry-after"), "1");
    assert_eq!(answer.json(), json!({"error": "in progress"}));
    // The first request ends without an answer: the key is free, a retry runs.
    drop(in_flight);
    assert_eq!(place(&demo, "42", "busy", body).await.status, 201);
}

#[tokio::test]
async fn impossible_orders_are_422_naming_the_field() {
    let demo = demo();
    let f = fixture(42);
    let item = f.items[0].0;
    let other_menu_item = data::menu(SEED, f.elsewhere).expect("a menu").categories[0].items[0].id;
    let others_address = data::addresses(SEED, 43).expect("a user")[0].id;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = order_body(42, &f, &[(item, 1), (item, 2)]);
        change(&mut body);
        body
    };
    let many: Vec<Value> = (0..51).map(|_| json!({"menuItemId": item, "quantity": 1})).collect();
    let cases = [
        (with(&|b| b["restaurantId"] = json!(9_999)), "restaurantId"),
        (with(&|b| b["restaurantId"] = json!(f.closed)), "restaurantId"),
        (with(&|b| b["addressId"] = json!(others_address)), "addressId"),
        (with(&|b| b["addressId"] = json!(1)), "addressId"),
        (with(&|b| b["restaurantId"] = json!(f.elsewhere)), "addressId"),
        (with(&|b| b["items"] = json!([])), "items"),
        (with(&|b| b["items"] = Value::Array(many.clone())), "items"),
        (
            with(&|b| b["items"][1]["menuItemId"] = json!(123)),
            "items[1].menuItemId",
        ),
        (
            with(&|b| b["items"][0]["menuItemId"] = json!(other_menu_item)),
            "items[0].menuItemId",
        ),
        (with(&|b| b["items"][1]["quantity"] = json!(0)), "items[1].quantity"),
        (with(&|b| b["items"][0]["quantity"] = json!(21)), "items[0].quantity"),
        (with(&|b| b["items"][1]["quantity"] = json!(-3)), "items[1].quantity"),
    ];
    for (i, (body, field)) in cases.into_iter().enumerate() {
        let answer = place(&demo, "42", &format!("k{i}"), body.clone()).await;
        assert_eq!(answer.status, 422, "{field}: {body}");
        assert_eq!(answer.json()["field"], field, "{body}");
        assert!(answer.json()["error"].is_string());
        assert_eq!(answer.cache_control(), "private, no-store");
        // A 4xx is kept: the same key and body answer it again.
        let again = place(&demo, "42", &format!("k{i}"), body).await;
        assert_eq!((again.status, &again.body), (answer.status, &answer.body));
    }
    let ok = place(&demo, "42", "ok", with(&|b| b["items"][1]["quantity"] = json!(20))).await;
    assert_eq!(ok.status, 201);
    assert_eq!(ok.json()["id"], FIRST_PLACED_ORDER_ID, "no id was spent on a 422");
}

#[tokio::test]
async fn bodies_not_of_the_shape_are_400_and_another_users_body_is_403() {
    let demo = demo();
    let f = fixture(42);
    let good = order_body(42, &f, &[(f.items[0].0, 1)]);
    let mut bodies = vec![json!({}), json!([]), json!("order"), json!(null)];
    for (path, value) in [
        ("/userId", json!("42")),
        ("/restaurantId", json!(-1)),
        ("/items", json!({"menuItemId": 1})),
        ("/items/0/quantity", json!(1.5)),
        ("/items/0/quantity", json!("2")),
        ("/items/0/menuItemId", json!(null)),
    ] {
        let mut body = good.clone();
        *body.pointer_mut(path).expect("a field") = value;
        bodies.push(body);
    }
    let mut extra = good.clone();
    extra["total"] = json!(1);
    bodies.push(extra);
    let mut missing = good.clone();
    missing.as_object_mut().expect("an object").remove("addressId");
    bodies.push(missing);
    for (i, body) in bodies.into_iter().enumerate() {
        let answer = place(&demo, "42", &format!("b{i}"), body.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.json()["error"].is_string());
    }
    let not_json = send_with(
        &demo,
        "POST",
        "/orders/orders",
        &[("x-user-id", "42"), ("idempotency-key", "nj")],
        None,
    )
    .await;
    assert_eq!(not_json.status, 400);

    assert_eq!(place(&demo, "7", "other", good.clone()).await.status, 403);
    let anonymous = send_with(
        &demo,
        "POST",
        "/orders/orders",
        &[("idempotency-key", "anon")],
        Some(good),
    )
    .await;
    assert_eq!(anonymous.status, 403);
    let page = get_as(&demo, "/orders/orders?userId=42", "42").await.json();
    assert_eq!(page["total"], data::orders(SEED, 42).len(), "nothing was placed");
}

#[tokio::test]
async fn call_17_answers_an_etag_and_304_when_if_none_match_names_it() {
    let demo = demo();
    let generated = data::orders(SEED, 42)[3].clone();
    let uri = format!("/orders/orders/{}", generated.id);
    let answer = get_as(&demo, &uri, "42").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), serde_json::to_value(&generated).expect("json"));
    assert_eq!(answer.header("etag"), "\"1\"");
    assert_eq!(answer.cache_control(), "private, no-store");
    for tag in ["\"1\"", "\"0\", \"1\"", "*", "W/\"1\""] {
        let headers = [("x-user-id", "42"), ("if-none-match", tag)];
        let cached = send_with(&demo, "GET", &uri, &headers, None).await;
        assert_eq!(cached.status, 304, "{tag}");
        assert!(cached.body.is_empty());
        assert_eq!(cached.header("etag"), "\"1\"");
        assert_eq!(cached.cache_control(), "private, no-store");
    }
    let headers = [("x-user-id", "42"), ("if-none-match", "\"2\", \"3\"")];
    assert_eq!(send_with(&demo, "GET", &uri, &headers, None).await.status, 200);

    // The version of a placed order moves, and with it the tag.
    let placed = place_one(&demo, "k").await;
    let id = placed["id"].as_u64().expect("an id");
    let uri = format!("/orders/orders/{id}");
    let headers = [("x-user-id", "42"), ("if-none-match", "\"1\"")];
    assert_eq!(send_with(&demo, "GET", &uri, &headers, None).await.status, 304);
    set_clock(&demo, 200.0).await;
    let moved = wait_for_order(&demo, id, |o| o["tracking"]["version"] != 1).await;
    let answer = send_with(&demo, "GET", &uri, &headers, None).await;
    assert_eq!(answer.status, 200);
    assert!(answer.json()["tracking"]["version"].as_u64() >= moved["tracking"]["version"].as_u64());
    let tag = format!("\"{}\"", answer.json()["tracking"]["version"]);
    assert_eq!(answer.header("etag"), tag);
}

#[tokio::test]
async fn another_users_order_is_404_never_403() {
    let demo = demo();
    let placed = place_one(&demo, "k").await;
    let generated = data::orders(SEED, 42)[0].id;
    for id in [placed["id"].as_u64().expect("an id"), generated] {
        let uri = format!("/orders/orders/{id}");
        assert_eq!(get_as(&demo, &uri, "43").await.status, 404, "{uri}");
        assert_eq!(cancel(&demo, "43", "c", id).await.status, 404, "{uri}");
        assert_eq!(get(&demo, &uri).await.status, 403, "{uri} without X-User-Id");
    }
    for unknown in [4_299, FIRST_PLACED_ORDER_ID + 5, 1] {
        assert_eq!(
            get_as(&demo, &format!("/orders/orders/{unknown}"), "42").await.status,
            404
        );
    }
    assert_eq!(get_as(&demo, "/orders/orders/abc", "42").await.status, 400);
}

#[tokio::test]
async fn generated_orders_never_change_and_cannot_be_cancelled() {
    let demo = demo();
    let (user, newest) = (1..=100)
        .map(|u| (u, data::orders(SEED, u)[0].clone()))
        .find(|(_, o)| o.status == OrderStatus::OnTheWay)
        .expect("a test subject whose newest order is on its way");
    assert_eq!(newest.tracking.version, 1);
    assert_eq!(newest.tracking.eta_minutes, Some(35));
    let courier = newest.tracking.courier.expect("a courier").location;
    assert_eq!(courier, data::restaurant_location(SEED, newest.restaurant_id));
    set_clock(&demo, 1_000.0).await;
    let start = clock_ms(&demo).await;
    let user = user.to_string();
    let uri = format!("/orders/orders/{}", newest.id);
    // Ten minutes of demo time later (0.6 s of wall time; polled for up to 10 s).
    for _ in 0..2_000 {
        if clock_ms(&demo).await > start + 600_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(clock_ms(&demo).await > start + 600_000);
    let later = get_as(&demo, &uri, &user).await.json();
    assert_eq!(later, serde_json::to_value(&newest).expect("json"));
    let answer = cancel(&demo, &user, "c", newest.id).await;
    assert_eq!(answer.status, 409);
    assert!(answer.json()["error"].is_string());
    let delivered = data::orders(SEED, 42)
        .into_iter()
        .find(|o| o.status == OrderStatus::Delivered)
        .expect("a delivered order");
    assert_eq!(delivered.tracking.eta_minutes, Some(0));
    assert_eq!(cancel(&demo, "42", "d", delivered.id).await.status, 409);
}

#[tokio::test]
async fn a_placed_order_moves_on_the_demo_clock() {
    let demo = demo();
    let f = fixture(42);
    let placed = place_one(&demo, "k").await;
    let id = placed["id"].as_u64().expect("an id");
    let placed_ms = unix_ms(placed["placedAt"].as_str().expect("placedAt"));
    let expected = |now: i64| {
        let state = data::live_state(
            now - placed_ms,
            None,
            placed_ms,
            data::restaurant_location(SEED, f.restaurant),
            f.address_location,
        );
        let mut order = placed.clone();
        order["status"] = serde_json::to_value(state.status).expect("json");
        order["tracking"] = serde_json::to_value(state.tracking).expect("json");
        order
    };

    // 100: the 120 s ride takes 1.2 s of wall time, long enough to be seen riding.
    set_clock(&demo, 100.0).await;
    let mut versions = vec![1];
    for wanted in ["PREPARING", "ON_THE_WAY"] {
        let seen = wait_for_order(&demo, id, |o| status(o) == wanted).await;
        versions.push(seen["tracking"]["version"].as_u64().expect("a version"));
    }
    // Frozen mid-ride: the answer is the pure function of the elapsed demo time.
    set_clock(&demo, 0.0).await;
    let now = clock_ms(&demo).await;
    let riding = order_of(&demo, id).await;
    assert_eq!(riding, expected(now));
    assert_eq!(status(&riding), "ON_THE_WAY");
    let courier = &riding["tracking"]["courier"]["location"];
    assert!(courier["lat"].is_f64() && courier["lng"].is_f64());
    assert_eq!(order_of(&demo, id).await, riding, "a stopped clock changes nothing");

    set_clock(&demo, 100.0).await;
    // The courier moves on (or, on a starved machine, has already arrived).
    let moved = wait_for_order(&demo, id, |o| o["tracking"]["courier"] != riding["tracking"]["courier"]).await;
    versions.push(moved["tracking"]["version"].as_u64().expect("a version"));
    let delivered = wait_for_order(&demo, id, |o| status(o) == "DELIVERED").await;
    versions.push(delivered["tracking"]["version"].as_u64().expect("a version"));
    versions.dedup();
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]) && versions.len() >= 4,
        "{versions:?}"
    );
    assert_eq!(delivered["tracking"]["etaMinutes"], 0);
    assert_eq!(delivered["tracking"]["courier"], Value::Null);
    assert_eq!(delivered["tracking"]["version"], 27);
    let delivered_at = unix_ms(delivered["tracking"]["updatedAt"].as_str().expect("a time"));
    assert_eq!(delivered_at, placed_ms + data::DELIVERED_AFTER_MS);
    assert_eq!(delivered, expected(clock_ms(&demo).await));
}

#[tokio::test]
async fn a_placed_order_cancels_only_while_placed() {
    let demo = demo();
    set_clock(&demo, 0.0).await;
    let placed = place_one(&demo, "p1").await;
    let id = placed["id"].as_u64().expect("an id");
    let answer = cancel(&demo, "42", "c1", id).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.cache_control(), "private, no-store");
    let cancelled = answer.json();
    assert_eq!(status(&cancelled), "CANCELLED");
    let tracking = &cancelled["tracking"];
    assert_eq!(
        (&tracking["etaMinutes"], &tracking["courier"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(tracking["version"], 2);
    assert_eq!(
        tracking["updatedAt"], placed["placedAt"],
        "cancelled at the same (stopped) instant"
    );
    let replay = cancel(&demo, "42", "c1", id).await;
    assert_eq!((replay.status, &replay.body), (answer.status, &answer.body));
    assert_eq!(cancel(&demo, "42", "c2", id).await.status, 409, "no longer PLACED");

    // It never moves again.
    set_clock(&demo, 1_000.0).await;
    let second = place_one(&demo, "p2").await;
    let second_id = second["id"].as_u64().expect("an id");
    wait_for_order(&demo, second_id, |o| status(o) == "PREPARING").await;
    assert_eq!(order_of(&demo, id).await, cancelled);
    let late = cancel(&demo, "42", "c3", second_id).await;
    assert_eq!(late.status, 409);
    assert!(late.json()["error"].is_string());
    assert_eq!(cancel(&demo, "42", "c4", FIRST_PLACED_ORDER_ID + 99).await.status, 404);
}

#[tokio::test]
async fn the_clock_reads_changes_speed_and_reset_sets_speed_1() {
    let demo = Demo::new(DemoConfig {
        clock_speed: 10.0,
        ..DemoConfig::default()
    });
    let reading = get(&demo, "/_admin/clock").await;
    assert_eq!(reading.status, 200);
    assert_eq!(reading.json()["speed"], 10.0);
    let now = reading.json()["now"].as_str().expect("a time").to_owned();
    assert_eq!(now.len(), "2026-10-01T18:22:00.000Z".len(), "{now}");
    let wall = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    assert!((unix_ms(&now) - wall).abs() < 60_000, "starts at the wall clock");

    let stopped = set_clock(&demo, 0.0).await;
    assert_eq!(stopped.status, 200);
    assert_eq!(stopped.json()["speed"], 0.0);
    let at = clock_ms(&demo).await;
    assert_eq!(clock_ms(&demo).await, at);
    set_clock(&demo, 1_000.0).await;
    let mut advanced = false;
    for _ in 0..1_000 {
        if clock_ms(&demo).await > at + 1_000 {
            advanced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(advanced);
    for bad in [
        json!({"speed": -1}),
        json!({"speed": 1000.5}),
        json!({"speed": "fast"}),
        json!({}),
        json!({"speed": 2, "extra": true}),
    ] {
        let answer = send(&demo, "PUT", "/_admin/clock", None, Some(bad.clone())).await;
        assert_eq!(answer.status, 400, "{bad}");
    }
    let before_reset = clock_ms(&demo).await;
    assert_eq!(send(&demo, "POST", "/_admin/reset", None, None).await.status, 204);
    let after = get(&demo, "/_admin/clock").await.json();
    assert_eq!(after["speed"], 1.0, "reset sets speed 1, whatever the start-up speed");
    assert!(
        unix_ms(after["now"].as_str().expect("a time")) >= before_reset,
        "continuous"
    );
}

#[tokio::test]
async fn faults_before_the_call_write_nothing_and_after_commit_keep_the_write() {
    let demo = demo();
    let f = fixture(42);
    let body = order_body(42, &f, &[(f.items[0].0, 1)]);
    let fault = |extra: Value| {
        let mut settings = json!({"service": "orders"});
        settings
            .as_object_mut()
            .expect("an object")
            .extend(extra.as_object().cloned().unwrap_or_default());
        settings
    };
    let count = |demo: &Demo| {
        let demo = demo.clone();
        async move {
            let page = get_as(&demo, "/orders/orders?userId=42", "42").await.json();
            page["total"].as_u64().expect("a total") - data::orders(SEED, 42).len() as u64
        }
    };

    send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(fault(json!({"errorRate": 1}))),
    )
    .await;
    assert_eq!(place(&demo, "42", "k1", body.clone()).await.status, 503);
    send(&demo, "PUT", "/_admin/faults", None, Some(fault(json!({})))).await;
    assert_eq!(count(&demo).await, 0, "a fault before the call writes nothing");
    let retried = place(&demo, "42", "k1", body.clone()).await;
    assert_eq!(retried.status, 201, "after a 5xx the key is free");

    let set = send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(fault(json!({"errorRate": 1, "afterCommit": true}))),
    )
    .await;
    assert_eq!(set.json()["orders"]["afterCommit"], true);
    let lost = place(&demo, "42", "k2", body.clone()).await;
    assert_eq!(lost.status, 503);
    assert_eq!(lost.json(), json!({"error": "injected failure"}));
    send(&demo, "PUT", "/_admin/faults", None, Some(fault(json!({})))).await;
    assert_eq!(count(&demo).await, 2, "the write was kept");
    let again = place(&demo, "42", "k2", body.clone()).await;
    assert_eq!(again.status, 201, "the retry gets the kept answer");
    assert_eq!(again.json()["id"], FIRST_PLACED_ORDER_ID + 1);
    assert_eq!(count(&demo).await, 2, "and places nothing more");

    send(
        &demo,
        "PUT",
        "/_admin/faults",
        None,
        Some(fault(json!({"malformed": true, "afterCommit": true}))),
    )
    .await;
    let garbled = place(&demo, "42", "k3", body).await;
    assert_eq!(garbled.status, 200);
    assert!(serde_json::from_slice::<Value>(&garbled.body).is_err());
    send(&demo, "PUT", "/_admin/faults", None, Some(fault(json!({})))).await;
    assert_eq!(count(&demo).await, 3);
    let cancelled_later = cancel(&demo, "42", "k4", FIRST_PLACED_ORDER_ID + 2).await;
    assert_eq!(cancelled_later.status, 200);
}

#[tokio::test]
async fn stats_count_the_order_routes_as_templates() {
    let demo = demo();
    let placed = place_one(&demo, "k").await;
    let id = placed["id"].as_u64().expect("an id");
    order_of(&demo, id).await;
    order_of(&demo, id).await;
    cancel(&demo, "42", "c", id).await;
    get_as(&demo, "/orders/orders?userId=42", "42").await;
    let stats = get(&demo, "/_admin/stats").await.json();
    assert_eq!(stats["calls"]["orders POST /orders"], 1);
    assert_eq!(stats["ids"]["orders POST /orders"], 1);
    assert_eq!(stats["calls"]["orders GET /orders/{orderId}"], 2);
    assert_eq!(stats["calls"]["orders POST /orders/{orderId}/cancel"], 1);
    assert_eq!(stats["calls"]["orders GET /orders"], 1);
    assert_eq!(stats["userIds"]["42"], 5);
}

#[tokio::test]
async fn reset_forgets_placed_orders_and_keys_but_ids_keep_counting() {
    let demo = demo();
    let f = fixture(42);
    let placed = place_one(&demo, "k").await;
    send(&demo, "POST", "/_admin/reset", None, None).await;
    let id = placed["id"].as_u64().expect("an id");
    assert_eq!(get_as(&demo, &format!("/orders/orders/{id}"), "42").await.status, 404);
    let page = get_as(&demo, "/orders/orders?userId=42", "42").await.json();
    assert_eq!(page["total"], data::orders(SEED, 42).len());
    // The key is forgotten: another body under it is a new order, not a 409.
    let next = place(&demo, "42", "k", order_body(42, &f, &[(f.items[1].0, 4)])).await;
    assert_eq!(next.status, 201);
    assert_eq!(next.json()["id"], id + 1, "never reused within a process");
}

#[tokio::test]
async fn placed_orders_are_bounded_the_oldest_dropped() {
    use crate::demo::MAX_PLACED_ORDERS;
    let demo = demo();
    let first = place_one(&demo, "first").await;
    let template = demo
        .order_store()
        .get(42, first["id"].as_u64().expect("an id"))
        .expect("stored");
    for _ in 0..MAX_PLACED_ORDERS {
        demo.order_store().place(|id| {
            let mut placed = template.clone();
            placed.order.id = id;
            placed
        });
    }
    let oldest = format!("/orders/orders/{}", first["id"]);
    assert_eq!(get_as(&demo, &oldest, "42").await.status, 404);
    let newest = format!("/orders/orders/{}", FIRST_PLACED_ORDER_ID + MAX_PLACED_ORDERS as u64);
    assert_eq!(get_as(&demo, &newest, "42").await.status, 200);
    let page = get_as(&demo, "/orders/orders?userId=42&limit=1", "42").await.json();
    assert_eq!(page["total"], data::orders(SEED, 42).len() + MAX_PLACED_ORDERS);
}
