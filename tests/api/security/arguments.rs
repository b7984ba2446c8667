//! Arguments: page sizes, cursors, ids and strings the resolvers refuse.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;

use super::{assert_refused, code, post, start, still_serving};
use crate::helpers::{TestApp, spawn_app};

async fn assert_bad_input(app: &TestApp, query: &str) {
    let (status, body) = post(app, json!({ "query": query }), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(app.stats().await.total(), 0, "an upstream was called");
}

const NEAR: &str = "near: {lat: 52.52, lng: 13.405}";

#[tokio::test]
async fn first_minus_one_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ restaurants({NEAR}, first: -1) {{ edges {{ cursor }} }} }}");
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    // The resolvers check too: a variable past the page size never reaches an upstream.
    let query = "query($n: Int!) { me { orderHistory { orders(first: $n) { totalCount } } } }";
    let answer = post(
        &app,
        json!({"query": query, "variables": {"n": 0}}),
        Some(&app.token(42)),
    )
    .await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn first_a_million_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ restaurants({NEAR}, first: 1000000) {{ edges {{ cursor }} }} }}");
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn first_two_to_the_53_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ restaurants({NEAR}, first: 9007199254740992) {{ edges {{ cursor }} }} }}");
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    let query = "query($n: Int) { restaurants(near: {lat: 52.52, lng: 13.405}, first: $n) { edges { cursor } } }";
    let answer = post(
        &app,
        json!({"query": query, "variables": {"n": 9007199254740992u64}}),
        None,
    )
    .await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_cursor_that_is_not_ours_is_bad_input() {
    let (app, probe) = start(spawn_app().await).await;
    let forged = URL_SAFE_NO_PAD.encode("r:-5");
    for cursor in ["not-a-cursor", forged.as_str(), &"A".repeat(5_000)] {
        let query = format!("{{ restaurants({NEAR}, after: \"{cursor}\") {{ edges {{ cursor }} }} }}");
        assert_bad_input(&app, &query).await;
    }
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn ids_that_are_not_numbers_are_bad_input() {
    let (app, probe) = start(spawn_app().await).await;
    for id in ["abc", "-1", "0", "1e3", "99999999999999999999999"] {
        assert_bad_input(&app, &format!("{{ restaurant(id: \"{id}\") {{ id }} }}")).await;
    }
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn nul_bytes_in_strings_are_bad_input() {
    let (app, probe) = start(spawn_app().await).await;
    let query = "query($id: ID!) { restaurant(id: $id) { id } }";
    let (status, body) = post(&app, json!({"query": query, "variables": {"id": "1\u{0}2"}}), None).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let answer = post(&app, json!({"query": "{ restaurant(id: \"1\u{0}\") { id } }"}), None).await;
    assert!(
        matches!(code(&answer.1), "GRAPHQL_PARSE_FAILED" | "BAD_USER_INPUT"),
        "{}",
        answer.1
    );
    assert_eq!(app.stats().await.total(), 0);
    still_serving(&app, probe).await;
}
