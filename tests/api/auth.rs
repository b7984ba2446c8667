//! Who may read what.

use serde_json::{Value, json};

use crate::helpers::{HOME, assert_no_errors, berlin, errors, spawn_app};

const PRIVATE_SERVICES: [&str; 5] = ["users", "orders", "wallet", "loyalty", "recommendations"];

#[tokio::test]
async fn without_a_token_me_is_null_and_public_fields_still_answer() {
    let app = spawn_app().await;
    let query = "query($location: LocationInput!) {
        me { id name }
        restaurants(near: $location, first: 3) { edges { node { name } } }
    }";

    let (status, body) = app.query(query, berlin(3), None).await;

    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"], Value::Null);
    let errors = errors(&body);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(errors[0]["path"], json!(["me"]));
    assert_eq!(body["data"]["restaurants"]["edges"].as_array().unwrap().len(), 3);
    let stats = app.stats().await;
    for service in PRIVATE_SERVICES {
        assert_eq!(stats.service(service), 0, "{service} was called: {:?}", stats.calls);
    }
    assert!(stats.user_ids.is_empty(), "{:?}", stats.user_ids);
}

#[tokio::test]
async fn a_ranking_needs_a_token_and_calls_nothing_without_one() {
    let app = spawn_app().await;
    let query = "query($location: LocationInput!) {
        restaurants(near: $location, first: 3, sort: RECOMMENDED) { edges { node { id } } }
    }";

    let (_, body) = app.query(query, berlin(3), None).await;

    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(app.stats().await.total(), 0);
}

#[tokio::test]
async fn a_users_token_reads_only_that_users_data() {
    let app = spawn_app().await;
    let token = app.token(42);

    let (_, body) = app.query(HOME, berlin(20), Some(&token)).await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["me"]["id"], "42");
    let stats = app.stats().await;
    let seen: Vec<&String> = stats.user_ids.keys().collect();
    assert_eq!(seen, vec!["42"], "the demo saw X-User-Id values {seen:?}");
}

#[tokio::test]
async fn an_invalid_token_is_refused_before_any_upstream_call() {
    let app = spawn_app().await;
    for token in [
        "not-a-jwt",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiIsImV4cCI6OTk5OTk5OTk5OX0.",
    ] {
        let request = app.graphql_post(&json!({"query": "{ me { id } }"}), Some(token));
        let response = app.send_json(request).await;

        assert_eq!(response.status, 401);
        assert!(response.header("www-authenticate").starts_with("Bearer"));
        assert_eq!(response.body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    assert_eq!(app.stats().await.total(), 0);
}

#[tokio::test]
async fn a_token_for_a_user_who_does_not_exist_gives_a_null_me() {
    let app = spawn_app().await;
    let token = app.token(100_001);

    let (_, body) = app.query("{ me { id name } }", json!({}), Some(&token)).await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["me"], Value::Null);
}
