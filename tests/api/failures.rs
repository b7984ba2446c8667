//! A failing upstream nulls the fields that depend on it, and only those.

use serde_json::{Value, json};

use crate::helpers::{HOME, NEARBY, berlin, errors, spawn_app};

#[tokio::test]
async fn ratings_down_nulls_ratings_and_keeps_the_rest() {
    let app = spawn_app().await;
    app.fault(json!({"service": "ratings", "errorRate": 1.0})).await;

    let (status, body) = app.query(NEARBY, berlin(5), None).await;

    assert_eq!(status, 200);
    let edges = body["data"]["restaurants"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5);
    for edge in edges {
        assert_eq!(edge["node"]["rating"], Value::Null);
        assert!(edge["node"]["name"].is_string());
        assert!(edge["node"]["deliveryFee"]["amount"].is_i64());
    }
    let errors = errors(&body);
    assert_eq!(errors.len(), 5, "{errors:?}");
    for error in &errors {
        assert_eq!(error["extensions"]["code"], "UPSTREAM_UNAVAILABLE");
        assert_eq!(error["extensions"]["service"], "ratings");
        assert_eq!(error["extensions"]["retryable"], true);
        assert_eq!(error["path"].as_array().unwrap().last().unwrap(), "rating");
        let message = error["message"].as_str().unwrap();
        assert!(
            !message.contains("127.0.0.1"),
            "the message leaks an address: {message}"
        );
    }
    // One failed batch (tried at most `max_attempts` times), not a call per restaurant.
    let calls = app.stats().await.calls("ratings GET /ratings");
    assert!((1..=3).contains(&calls), "{calls} calls to ratings");
}

#[tokio::test]
async fn a_malformed_menu_answer_is_a_bad_response_on_menu_only() {
    let app = spawn_app().await;
    app.fault(json!({"service": "menus", "malformed": true})).await;
    let token = app.token(42);

    let (_, body) = app.query(HOME, berlin(3), Some(&token)).await;

    let errors = errors(&body);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "UPSTREAM_BAD_RESPONSE")
    );
    assert!(
        errors
            .iter()
            .all(|e| e["path"].as_array().unwrap().last().unwrap() == "menu")
    );
    assert_eq!(body["data"]["me"]["id"], "42");
    assert!(body["data"]["restaurants"]["edges"][0]["node"]["rating"]["average"].is_f64());
}

#[tokio::test]
async fn the_geo_service_down_nulls_the_list_but_not_the_user() {
    let app = spawn_app().await;
    app.fault(json!({"service": "geo", "errorRate": 1.0})).await;
    let token = app.token(42);

    let (status, body) = app.query(HOME, berlin(3), Some(&token)).await;

    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"]["id"], "42");
    let restaurants = &body["data"]["restaurants"];
    // The list could not be made: no page, rather than a made-up "no next page".
    assert!(restaurants.get("edges").is_some_and(Value::is_null), "{body}");
    assert!(restaurants.get("pageInfo").is_some_and(Value::is_null), "{body}");
    assert!(errors(&body).iter().any(|e| e["extensions"]["service"] == "geo"));
    assert!(
        errors(&body)
            .iter()
            .any(|e| e["path"] == json!(["restaurants", "pageInfo"]))
    );
}
