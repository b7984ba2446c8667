//! Tokens: unsigned, forged, expired or empty ones, and one user reaching
//! for another's data.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::{assert_refused, code, far_future, post, signed, start, still_serving, with_token};
use crate::helpers::{sign_jwt, spawn_app};

#[tokio::test]
async fn alg_none_is_401() {
    let (app, probe) = start(spawn_app().await).await;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "42", "exp": far_future()}).to_string());
    let answer = with_token(&app, &format!("{header}.{claims}.")).await;
    assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_401() {
    let (app, probe) = start(spawn_app().await).await;
    let key = EncodingKey::from_secret(b"another-secret-that-is-long-enough-to-pass");
    let token = sign_jwt(&Header::default(), &json!({"sub": "42", "exp": far_future()}), &key);
    let answer = with_token(&app, &token).await;
    assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn an_expired_token_is_401_with_www_authenticate() {
    let (app, probe) = start(spawn_app().await).await;
    let token = signed(&app, json!({"sub": "42", "exp": 1_000_000}));
    let request = app.graphql_post(&json!({"query": "{ me { id } }"}), Some(&token));
    let response = app.send_json(request).await;
    assert!(response.header("www-authenticate").starts_with("Bearer"));
    assert_refused(&app, response.status_and_body(), 401, "UNAUTHENTICATED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_token_for_user_zero_or_a_huge_id_is_401() {
    let (app, probe) = start(spawn_app().await).await;
    for sub in ["0", "99999999999999999999999", "-7", "8 "] {
        let answer = with_token(&app, &signed(&app, json!({"sub": sub, "exp": far_future()}))).await;
        assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    }
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_token_without_sub_is_401() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = with_token(&app, &signed(&app, json!({"exp": far_future()}))).await;
    assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    let answer = with_token(&app, &signed(&app, json!({"sub": "42", "exp": "9999999999x"}))).await;
    assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn user_7_cannot_reach_user_8s_data() {
    let (app, probe) = start(spawn_app().await).await;
    let orders = "query($after: String) { me { orderHistory { orders(first: 2, after: $after) {
        edges { node { id } } pageInfo { endCursor } } } } }";
    let (_, eight) = app.query(orders, json!({}), Some(&app.token(8))).await;
    let cursor = eight["data"]["me"]["orderHistory"]["orders"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("user 8 has orders")
        .to_owned();
    app.reset().await;

    // User 7 pages with user 8's cursor, and tries arguments that name a user.
    let token = app.token(7);
    let (status, body) = app.query(orders, json!({"after": cursor}), Some(&token)).await;
    assert_eq!(status, 200);
    for node in body["data"]["me"]["orderHistory"]["orders"]["edges"]
        .as_array()
        .unwrap_or(&vec![])
    {
        assert!(node["node"]["id"].is_string());
    }
    let answer = post(&app, json!({"query": "{ me(id: 8) { id } }"}), Some(&token)).await;
    assert_eq!(answer.0, 400);
    assert_eq!(code(&answer.1), "GRAPHQL_VALIDATION_FAILED");

    let stats = app.stats().await;
    let seen: Vec<&String> = stats.user_ids.keys().collect();
    assert_eq!(seen, vec!["7"], "the demo saw X-User-Id values {seen:?}");
    still_serving(&app, probe).await;
}
