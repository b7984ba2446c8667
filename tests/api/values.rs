//! The answers agree with the demo's data, computed here from the same pure
//! functions the demo serves (`delivery_gateway::demo::data`).

use delivery_gateway::demo::data::{self, DEFAULT_SEED as SEED};
use serde_json::{Value, json};

use crate::helpers::{HOME, NEARBY, RESTAURANT, assert_no_errors, berlin, spawn_app};

/// The variables of a query whose one variable is `$location`: Berlin, Mitte, as
/// [`berlin`] has it.
fn mitte() -> Value {
    json!({"location": {"lat": 52.52, "lng": 13.405}})
}

fn money(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[tokio::test]
async fn restaurant_fields_are_the_demos() {
    let app = spawn_app().await;

    let (_, body) = app.query(RESTAURANT, json!({"id": "17"}), None).await;

    assert_no_errors(&body);
    let got = &body["data"]["restaurant"];
    let restaurant = data::restaurant(SEED, 17).unwrap();
    assert_eq!(got["name"], restaurant.name);
    assert_eq!(got["cuisines"], json!(restaurant.cuisines));
    assert_eq!(got["priceLevel"], restaurant.price_level);
    assert_eq!(got["address"]["postcode"], restaurant.address.postcode);
    assert_eq!(got["location"]["lat"], restaurant.location.lat);
    let rating = data::rating(SEED, 17).unwrap();
    assert_eq!(got["rating"], json!({"average": rating.average, "count": rating.count}));
    assert_eq!(got["isOpen"], data::availability(SEED, 17).unwrap().open);
    let menu = data::menu(SEED, 17).unwrap();
    let categories = got["menu"]["categories"].as_array().unwrap();
    assert_eq!(categories.len(), menu.categories.len());
    for (got, want) in categories.iter().zip(&menu.categories) {
        assert_eq!(got["name"], want.name);
        let items = got["items"].as_array().unwrap();
        assert_eq!(items.len(), want.items.len());
        for (got, want) in items.iter().zip(&want.items) {
            assert_eq!(got["id"], want.id.to_string());
            assert_eq!(got["name"], want.name);
            assert_eq!(got["description"], want.description);
            assert_eq!(got["price"], money(&want.price));
            assert_eq!(got["vegetarian"], want.vegetarian);
        }
    }
}

#[tokio::test]
async fn nearby_lists_the_areas_restaurants_in_the_geo_services_order() {
    let app = spawn_app().await;

    let (_, body) = app.query(NEARBY, berlin(10), None).await;

    assert_no_errors(&body);
    let area = data::area_lookup(SEED, 52.52, 13.405).unwrap();
    let listing = &body["data"]["restaurants"];
    assert_eq!(
        listing["area"],
        json!({"id": area.area_id, "city": area.city, "name": area.name})
    );
    let expected: Vec<u64> = data::area_restaurants(SEED, &area.area_id)
        .unwrap()
        .iter()
        .take(10)
        .map(|r| r.restaurant_id)
        .collect();
    let edges = listing["edges"].as_array().unwrap();
    let got: Vec<u64> = edges
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, expected);
    for (edge, id) in edges.iter().zip(&expected) {
        let node = &edge["node"];
        let fees = data::fees(SEED, &area.area_id, *id).unwrap();
        assert_eq!(node["deliveryFee"], money(&fees.delivery_fee));
        let estimate = data::estimate(SEED, 52.52, 13.405, *id).unwrap();
        assert_eq!(node["deliveryEstimate"]["minutes"], estimate.minutes);
        let promotions = data::promotions(SEED, *id, None).unwrap();
        let titles: Vec<&str> = promotions.promotions.iter().map(|p| p.title.as_str()).collect();
        let got: Vec<&str> = node["promotions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap())
            .collect();
        assert_eq!(got, titles);
    }
}

#[tokio::test]
async fn home_screen_shows_user_42s_own_data_ranked_for_them() {
    let app = spawn_app().await;
    let token = app.token(42);

    let (_, body) = app.query(HOME, berlin(10), Some(&token)).await;

    assert_no_errors(&body);
    let me = &body["data"]["me"];
    let user = data::user(SEED, 42).unwrap();
    assert_eq!(me["name"], user.name);
    let addresses = data::addresses(SEED, 42).unwrap();
    let labels: Vec<&str> = addresses.iter().map(|a| a.label.as_str()).collect();
    let got: Vec<&str> = me["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert_eq!(got, labels);
    let loyalty = serde_json::to_value(data::loyalty(SEED, 42).unwrap()).unwrap();
    assert_eq!(me["loyalty"], loyalty);
    let vouchers = data::vouchers(SEED, 42).unwrap();
    assert_eq!(me["vouchers"].as_array().unwrap().len(), vouchers.len());
    let favorites = data::favorites(SEED, 42).unwrap().restaurant_ids;
    let got: Vec<String> = me["favorites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, favorites.iter().map(u64::to_string).collect::<Vec<_>>());

    let orders = data::orders(SEED, 42);
    let history = &me["orderHistory"];
    assert_eq!(history["totalCount"], orders.len());
    let shown = history["orders"]["edges"].as_array().unwrap();
    assert_eq!(shown.len(), 5);
    for (edge, order) in shown.iter().zip(&orders) {
        assert_eq!(edge["node"]["id"], order.id.to_string());
        assert_eq!(edge["node"]["total"], money(&order.total));
        assert_eq!(edge["node"]["restaurant"]["id"], order.restaurant_id.to_string());
    }
    assert_eq!(history["orders"]["pageInfo"]["hasNextPage"], orders.len() > 5);

    // The ranking: every restaurant of the area, scored from the ten newest orders.
    let area = data::area_lookup(SEED, 52.52, 13.405).unwrap();
    let candidates: Vec<u64> = data::area_restaurants(SEED, &area.area_id)
        .unwrap()
        .iter()
        .map(|r| r.restaurant_id)
        .collect();
    let mut recent: Vec<u64> = Vec::new();
    for order in orders.iter().take(10) {
        if !recent.contains(&order.restaurant_id) {
            recent.push(order.restaurant_id);
        }
    }
    let mut ranked = data::rank(SEED, 42, &candidates, &recent);
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    let got: Vec<u64> = body["data"]["restaurants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let scores_of = |ids: &[u64]| -> Vec<f64> {
        ids.iter()
            .map(|id| ranked.iter().find(|r| r.restaurant_id == *id).unwrap().score)
            .collect()
    };
    let expected: Vec<u64> = ranked.iter().take(10).map(|r| r.restaurant_id).collect();
    // Ties may fall either way; the scores must match position by position.
    assert_eq!(scores_of(&got), scores_of(&expected));
}

/// `deliveryEstimate(to:)` in a list is answered by the field's resolver (a page's
/// restaurants are otherwise answered from what was fetched with them): the
/// estimate is to the argument's location, fetched in one more batch for the page.
#[tokio::test]
async fn an_estimate_to_another_location_is_to_that_location_for_every_restaurant() {
    let app = spawn_app().await;
    let query = "query($location: LocationInput!) { restaurants(near: $location, first: 5) { edges { node { \
                 id name here: deliveryEstimate { minutes } there: deliveryEstimate(to: {lat: 52.5, lng: 13.3}) { minutes } } } } }";

    let (_, body) = app.query(query, mitte(), None).await;

    assert_no_errors(&body);
    let edges = body["data"]["restaurants"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5);
    for edge in edges {
        let node = &edge["node"];
        let id: u64 = node["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(node["name"], data::restaurant(SEED, id).unwrap().name);
        let here = data::estimate(SEED, 52.52, 13.405, id).unwrap();
        let there = data::estimate(SEED, 52.5, 13.3, id).unwrap();
        assert_eq!(node["here"]["minutes"], here.minutes);
        assert_eq!(node["there"]["minutes"], there.minutes);
    }
    // One batch to the list's location, one to the argument's, for the whole page.
    assert_eq!(app.stats().await.service("logistics"), 2);
}

/// The restaurants of a page share the plan compiled for their `node` field, but
/// each alias of a field has its own: two lists in one request, each asking for
/// different fields of its restaurants (and its menus), get what each asked for.
#[tokio::test]
async fn two_aliased_lists_in_one_request_each_get_their_own_fields() {
    let app = spawn_app().await;
    let query = "query($location: LocationInput!) { \
                 ids: restaurants(near: $location, first: 3) { edges { node { id } } } \
                 names: restaurants(near: $location, first: 3) { edges { node { name menu { categories { name } } } } } }";

    let (_, body) = app.query(query, mitte(), None).await;

    assert_no_errors(&body);
    let nodes = |list: &str| -> Vec<Value> {
        body["data"][list]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"].clone())
            .collect()
    };
    let area = data::area_lookup(SEED, 52.52, 13.405).unwrap();
    let ids: Vec<u64> = data::area_restaurants(SEED, &area.area_id)
        .unwrap()
        .iter()
        .take(3)
        .map(|r| r.restaurant_id)
        .collect();
    for (node, id) in nodes("ids").iter().zip(&ids) {
        assert_eq!(node, &json!({"id": id.to_string()}));
    }
    for (node, id) in nodes("names").iter().zip(&ids) {
        let categories: Vec<Value> = data::menu(SEED, *id)
            .unwrap()
            .categories
            .iter()
            .map(|c| json!({"name": c.name}))
            .collect();
        let want = json!({"name": data::restaurant(SEED, *id).unwrap().name, "menu": {"categories": categories}});
        assert_eq!(node, &want);
    }
}

/// Menus are answered as pre-serialised JSON, which async-graphql cannot merge:
/// a list selected twice under one key (here through a fragment) must still get
/// both selections' fields in every menu.
#[tokio::test]
async fn a_list_selected_twice_under_one_key_merges_its_menus() {
    let app = spawn_app().await;
    let query = "query($location: LocationInput!) { \
                 restaurants(near: $location, first: 3) { edges { node { id menu { categories { name } } } } } \
                 ...More } \
                 fragment More on Query { \
                 restaurants(near: $location, first: 3) { edges { node { menu { categories { items { id } } } } } } }";

    let (_, body) = app.query(query, mitte(), None).await;

    assert_no_errors(&body);
    let edges = body["data"]["restaurants"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    for edge in edges {
        let id: u64 = edge["node"]["id"].as_str().unwrap().parse().unwrap();
        let categories: Vec<Value> = data::menu(SEED, id)
            .unwrap()
            .categories
            .iter()
            .map(|c| {
                let items: Vec<Value> = c.items.iter().map(|i| json!({"id": i.id.to_string()})).collect();
                json!({"name": c.name, "items": items})
            })
            .collect();
        assert_eq!(
            edge["node"]["menu"],
            json!({"categories": categories}),
            "restaurant {id}"
        );
    }
}

/// Keys come back in the order the query asked for them (the spec's
/// serialisation order), even where fields complete in another order: `me`
/// needs one upstream wave and `restaurants` three, and async-graphql inserts
/// fields as they complete.
#[tokio::test]
async fn keys_come_back_in_the_order_they_were_asked_for() {
    let app = spawn_app().await;
    let query = "query($location: LocationInput!) { \
                 restaurants(near: $location, first: 2) { edges { node { name id } } pageInfo { hasNextPage } area { id } } \
                 me { name id } }";
    let token = app.token(42);
    let body = json!({"query": query, "variables": mitte()});
    let text = app.post_text(body, Some(&token)).await;
    let at = |key: &str| {
        text.find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{key} in {text}"))
    };
    for (first, then) in [
        ("restaurants", "me"),
        ("edges", "pageInfo"),
        ("pageInfo", "area"),
        ("hasNextPage", "area"),
    ] {
        assert!(at(first) < at(then), "{first} before {then}: {text}");
    }
    assert!(
        text.starts_with(r#"{"data":{"restaurants":{"edges":[{"node":{"name":"#),
        "{text}"
    );
}
