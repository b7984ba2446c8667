//! Batches: refused past the configured size, answered in order below it.

use serde_json::{Value, json};

use super::{assert_refused, post, start, still_serving};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_batch_of_1000_operations_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({"query": "{ restaurant(id: \"1\") { id } }"}))
        .collect();
    let answer = post(&app, Value::Array(batch), None).await;
    assert_refused(&app, answer, 400, "BATCHING_NOT_SUPPORTED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_batch_past_the_configured_size_is_refused_and_a_small_one_runs() {
    let (app, probe) = start(spawn_app_with(|c| c.limits.max_batch = 10).await).await;
    let batch: Vec<Value> = (0..11).map(|_| json!({"query": "{ __typename }"})).collect();
    let answer = post(&app, Value::Array(batch), None).await;
    assert_refused(&app, answer, 400, "TOO_MANY_OPERATIONS").await;

    let small = json!([
        {"query": "{ restaurant(id: \"17\") { id } }"},
        {"query": "{ a: __typename a: __typename b: __typename c: __typename a1: __typename a2: __typename a3: __typename a4: __typename a5: __typename a6: __typename a7: __typename }"},
    ]);
    let (status, body) = post(&app, small, None).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["data"]["restaurant"]["id"], "17");
    assert_eq!(body[1]["errors"][0]["extensions"]["code"], "TOO_MANY_ROOT_FIELDS");
    still_serving(&app, probe).await;
}

/// The keys of each answer in a batch come in the order the selection asked for
/// them, as in a single answer (they used to be sorted).
#[tokio::test]
async fn a_batchs_answers_keep_the_order_of_their_selections() {
    let app = spawn_app_with(|c| c.limits.max_batch = 10).await;
    let query = "{ restaurant(id: \"17\") { name id priceLevel cuisines } }";
    let text = app.post_text(json!([{"query": query}, {"query": query}]), None).await;
    let one = r#"{"data":{"restaurant":{"name":"#;
    assert!(text.starts_with(&format!("[{one}")), "{text}");
    assert_eq!(text.matches(one).count(), 2, "{text}");
    let name = text.find(r#""name""#).unwrap();
    assert!(
        name < text.find(r#""id""#).unwrap() && text.find(r#""id""#).unwrap() < text.find(r#""priceLevel""#).unwrap()
    );
}
