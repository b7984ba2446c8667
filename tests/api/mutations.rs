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
