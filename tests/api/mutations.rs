//! Reading one order, and the mutations: favourites, placing and cancelling
//! orders, with idempotency keys (issue 17, items 2 and 3).

use delivery_gateway::demo::data::{self, DEFAULT_SEED as SEED};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_no_errors, errors, spawn_app};

/// What user 42 can order: an open restaurant that delivers to their first
/// address, a closed one, and dishes of the open one.
pub struct Fixture {
    pub restaurant: u64,
    pub closed: u64,
    pub address: u64,
    pub items: Vec<u64>,
}

pub fn fixture(user: u64) -> Fixture {
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
    let menu = data::menu(SEED, restaurant).expect("a menu");
    let items = menu.categories.iter().flat_map(|c| &c.items).map(|i| i.id).collect();
    Fixture {
        restaurant,
        closed,
        address: address.id,
        items,
    }
}

pub const PLACE: &str = "mutation Place($input: PlaceOrderInput!, $key: String!) {
  placeOrder(input: $input, idempotencyKey: $key) {
    order { id status total { amount } tracking { etaMinutes courier { location { lat } } updatedAt } }
    userErrors { field message code }
  }
}";

const CANCEL: &str = "mutation Cancel($id: ID!, $key: String!) {
  cancelOrder(id: $id, idempotencyKey: $key) {
    order { id status }
    userErrors { field message code }
  }
}";

/// `placeOrder`'s input for `f`, with `lines` of (dish, quantity).
pub fn input(f: &Fixture, lines: &[(u64, i64)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(id, quantity)| json!({"menuItemId": id.to_string(), "quantity": quantity}))
        .collect();
    json!({"restaurantId": f.restaurant.to_string(), "addressId": f.address.to_string(), "items": items})
}

/// Places an order as user 42 and answers `placeOrder`'s payload.
pub async fn place(app: &TestApp, token: &str, input: Value, key: &str) -> Value {
    let (status, body) = app.query(PLACE, json!({"input": input, "key": key}), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert_no_errors(&body);
    body["data"]["placeOrder"].clone()
}

/// How many orders user 42 has in all.
async fn order_count(app: &TestApp, token: &str) -> u64 {
    let (_, body) = app
        .query("{ me { orderHistory { totalCount } } }", json!({}), Some(token))
        .await;
    assert_no_errors(&body);
    body["data"]["me"]["orderHistory"]["totalCount"]
        .as_u64()
        .expect("a count")
}

#[tokio::test]
async fn order_history_shows_tracking_without_another_call_and_me_order_reads_one_order() {
    let app = spawn_app().await;
    let token = app.token(42);
    let history = "{ me { orderHistory { orders(first: 5) { edges { node { id status tracking { etaMinutes updatedAt courier { location { lat lng } } } } } } } } }";
    let (_, body) = app.query(history, json!({}), Some(&token)).await;
    assert_no_errors(&body);
    let edges = body["data"]["me"]["orderHistory"]["orders"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert!(!edges.is_empty());
    for edge in &edges {
        let tracking = &edge["node"]["tracking"];
        assert!(tracking["updatedAt"].is_string(), "{edge}");
        match edge["node"]["status"].as_str() {
            Some("CANCELLED") => assert!(tracking["etaMinutes"].is_null()),
            Some("DELIVERED") => assert_eq!(tracking["etaMinutes"], 0),
            _ => assert!(tracking["etaMinutes"].as_u64().is_some(), "{edge}"),
        }
    }
    let stats = app.stats().await;
    assert_eq!(stats.calls("orders GET /orders"), 1);
    assert_eq!(stats.calls("orders GET /orders/{orderId}"), 0);

    let id = edges[0]["node"]["id"].as_str().expect("an id").to_owned();
    let one = "query One($id: ID!) { me { order(id: $id) { id status tracking { etaMinutes } } } }";
    let (_, body) = app.query(one, json!({"id": id}), Some(&token)).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["me"]["order"]["id"], id.as_str());
    assert_eq!(body["data"]["me"]["order"]["status"], edges[0]["node"]["status"]);

    // Another user's order: null, as for one that does not exist.
    let (_, body) = app.query(one, json!({"id": id}), Some(&app.token(43))).await;
    assert_no_errors(&body);
    assert!(body["data"]["me"].get("order").is_some_and(Value::is_null), "{body}");
}

/// Polls `me.order(id)` until its status is no longer `PLACED` (a bounded number
/// of tries; the demo clock runs fast).
async fn wait_past_placed(app: &TestApp, token: &str, id: &str) -> String {
    let one = "query One($id: ID!) { me { order(id: $id) { status } } }";
    for _ in 0..500 {
        let (_, body) = app.query(one, json!({"id": id}), Some(token)).await;
        let status = body["data"]["me"]["order"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != "PLACED" {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("order {id} stayed PLACED");
}

pub async fn set_clock(app: &TestApp, speed: f64) {
    let request = app
        .client
        .put(app.demo_url("/_admin/clock"))
        .json(&json!({"speed": speed}));
    assert!(request.send().await.unwrap().status().is_success());
}

#[tokio::test]
async fn the_same_key_places_one_order_and_another_body_with_it_is_a_user_error() {
    let app = spawn_app().await;
    let token = app.token(42);
    let f = fixture(42);
    let before = order_count(&app, &token).await;

    let first = place(&app, &token, input(&f, &[(f.items[0], 2)]), "key-1").await;
    assert_eq!(first["userErrors"], json!([]));
    let order = &first["order"];
    assert_eq!(order["status"], "PLACED");
    assert_eq!(order["tracking"]["etaMinutes"], 35);
    assert!(order["tracking"]["courier"].is_null());
    let again = place(&app, &token, input(&f, &[(f.items[0], 2)]), "key-1").await;
    assert_eq!(again["order"]["id"], order["id"], "the same key answers the same order");
    assert_eq!(order_count(&app, &token).await, before + 1);

    let other = place(&app, &token, input(&f, &[(f.items[1], 1)]), "key-1").await;
    assert!(other["order"].is_null());
    assert_eq!(other["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(other["userErrors"][0]["field"], json!(["idempotencyKey"]));
    assert_eq!(order_count(&app, &token).await, before + 1);
    assert_eq!(app.stats().await.calls("orders POST /orders"), 3);
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_cannot_place_a_second_order() {
    let app = spawn_app().await;
    let token = app.token(42);
    let f = fixture(42);
    let before = order_count(&app, &token).await;
    app.fault(json!({"service": "orders", "errorRate": 1, "afterCommit": true}))
        .await;
    let (_, lost) = app
        .query(
            PLACE,
            json!({"input": input(&f, &[(f.items[0], 1)]), "key": "lost-1"}),
            Some(&token),
        )
        .await;
    assert_eq!(errors(&lost)[0]["extensions"]["code"], "UPSTREAM_UNAVAILABLE", "{lost}");
    let attempts = app.stats().await.calls("orders POST /orders");
    assert!(attempts >= 2, "the write was retried, with its key: {attempts}");
    app.fault(json!({"service": "orders"})).await;

    let retried = place(&app, &token, input(&f, &[(f.items[0], 1)]), "lost-1").await;
    assert_eq!(retried["userErrors"], json!([]));
    assert_eq!(order_count(&app, &token).await, before + 1, "the order exists once");
}

#[tokio::test]
async fn an_order_past_placed_cannot_be_cancelled_and_a_placed_one_can() {
    let app = spawn_app().await;
    let token = app.token(42);
    let f = fixture(42);
    let cancel = |id: Value, key: &str| json!({"id": id, "key": key});

    let placed = place(&app, &token, input(&f, &[(f.items[0], 1)]), "p1").await;
    let (_, body) = app
        .query(CANCEL, cancel(placed["order"]["id"].clone(), "c1"), Some(&token))
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["cancelOrder"]["order"]["status"], "CANCELLED");
    assert_eq!(body["data"]["cancelOrder"]["userErrors"], json!([]));

    let (_, body) = app
        .query(
            CANCEL,
            cancel(placed["order"]["id"].clone(), "c1"),
            Some(&app.token(43)),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["cancelOrder"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );

    set_clock(&app, 200.0).await;
    let moving = place(&app, &token, input(&f, &[(f.items[0], 1)]), "p2").await;
    let id = moving["order"]["id"].as_str().expect("an id").to_owned();
    let status = wait_past_placed(&app, &token, &id).await;
    assert_ne!(status, "CANCELLED");
    let (_, body) = app.query(CANCEL, cancel(json!(id), "c2"), Some(&token)).await;
    assert_no_errors(&body);
    let payload = &body["data"]["cancelOrder"];
    assert!(payload["order"].is_null());
    assert_eq!(payload["userErrors"][0]["code"], "NOT_CANCELLABLE");
    assert_eq!(payload["userErrors"][0]["field"], json!(["id"]));
}

#[tokio::test]
async fn favourites_added_and_removed_show_in_the_payload() {
    let app = spawn_app().await;
    let token = app.token(42);
    let f = fixture(42);
    let restaurant = f.restaurant.to_string();
    let add = "mutation Add($id: ID!) { addFavorite(restaurantId: $id) { user { id favorites { id } } userErrors { code } } }";
    let remove = "mutation Remove($id: ID!) { removeFavorite(restaurantId: $id) { user { favorites { id } } userErrors { code } } }";
    let ids = |payload: &Value| -> Vec<String> {
        payload["user"]["favorites"]
            .as_array()
            .expect("favourites")
            .iter()
            .map(|r| r["id"].as_str().expect("an id").to_owned())
            .collect()
    };

    let (_, body) = app.query(add, json!({"id": restaurant}), Some(&token)).await;
    assert_no_errors(&body);
    let added = ids(&body["data"]["addFavorite"]);
    assert_eq!(added.first(), Some(&restaurant), "first in the list: {added:?}");
    assert_eq!(body["data"]["addFavorite"]["user"]["id"], "42");

    let (_, body) = app.query(remove, json!({"id": restaurant}), Some(&token)).await;
    assert_no_errors(&body);
    assert!(!ids(&body["data"]["removeFavorite"]).contains(&restaurant));

    let (_, body) = app.query(add, json!({"id": "999999999"}), Some(&token)).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["addFavorite"]["userErrors"][0]["code"], "NOT_FOUND");
    // Only the token's user was ever written for.
    let stats = app.stats().await;
    assert_eq!(
        stats.user_ids.keys().collect::<Vec<_>>(),
        ["42"],
        "{:?}",
        stats.user_ids
    );
}

#[tokio::test]
async fn impossible_orders_are_user_errors_with_a_path() {
    let app = spawn_app().await;
    let token = app.token(42);
    let f = fixture(42);

    let quantity = place(&app, &token, input(&f, &[(f.items[0], 1), (f.items[1], 0)]), "q").await;
    let error = &quantity["userErrors"][0];
    assert_eq!(error["code"], "INVALID_INPUT");
    assert_eq!(error["field"], json!(["input", "items", "1", "quantity"]));

    let mut closed = input(&f, &[(f.items[0], 1)]);
    closed["restaurantId"] = json!(f.closed.to_string());
    let closed = place(&app, &token, closed, "c").await;
    assert_eq!(closed["userErrors"][0]["code"], "RESTAURANT_CLOSED");
    assert_eq!(closed["userErrors"][0]["field"], json!(["input", "restaurantId"]));

    let bad_key = place(&app, &token, input(&f, &[(f.items[0], 1)]), "not a key").await;
    assert_eq!(bad_key["userErrors"][0]["field"], json!(["idempotencyKey"]));

    let (_, anonymous) = app
        .query(PLACE, json!({"input": input(&f, &[(f.items[0], 1)]), "key": "a"}), None)
        .await;
    assert_eq!(errors(&anonymous)[0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(app.stats().await.calls("orders POST /orders"), 2);
}

#[tokio::test]
async fn with_on_error_halt_no_root_mutation_runs_after_an_error() {
    let app = spawn_app().await;
    let token = app.token(42);
    let f = fixture(42);
    app.fault(json!({"service": "orders", "errorRate": 1})).await;
    let document = "mutation Two($input: PlaceOrderInput!, $id: ID!) {
      placeOrder(input: $input, idempotencyKey: \"h1\") { order { id } }
      addFavorite(restaurantId: $id) { userErrors { code } }
    }";
    let variables = json!({"input": input(&f, &[(f.items[0], 1)]), "id": f.restaurant.to_string()});
    let body = json!({"query": document, "variables": variables, "onError": "HALT"});
    let answer = app.send_json(app.graphql_post(&body, Some(&token))).await;
    assert!(answer.body["data"].is_null(), "{}", answer.body);
    assert_eq!(errors(&answer.body).len(), 1);
    assert_eq!(app.stats().await.service("users"), 0, "addFavorite did not run");

    // Without HALT, the second runs (and `data` is null all the same: the
    // first's payload is Non-Null).
    let body = json!({"query": document, "variables": variables});
    app.send_json(app.graphql_post(&body, Some(&token))).await;
    assert_eq!(
        app.stats()
            .await
            .calls("users PUT /users/{id}/favorites/{restaurantId}"),
        1
    );
}
