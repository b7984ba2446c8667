//! Operation selection and variables.

use serde_json::json;

use super::{assert_refused, post, start, still_serving};
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_unknown_operation_name_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let request = json!({"query": "query A { __typename } query B { __typename }", "operationName": "C"});
    let answer = post(&app, request, None).await;
    assert_refused(&app, answer, 400, "GRAPHQL_VALIDATION_FAILED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn several_operations_without_an_operation_name_are_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post(
        &app,
        json!({"query": "query A { __typename } query B { __typename }"}),
        None,
    )
    .await;
    assert_refused(&app, answer, 400, "GRAPHQL_VALIDATION_FAILED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn operation_name_selects_among_several() {
    let (app, probe) = start(spawn_app().await).await;
    let query = "query A { a: restaurant(id: \"17\") { id } } query B { b: restaurant(id: \"18\") { id } }";
    let (status, body) = post(&app, json!({"query": query, "operationName": "B"}), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!({"b": {"id": "18"}}));
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_variable_of_the_wrong_type_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = "query($id: ID!) { restaurant(id: $id) { id } }";
    let answer = post(
        &app,
        json!({"query": query, "variables": {"id": {"nested": true}}}),
        None,
    )
    .await;
    assert_refused(&app, answer, 400, "GRAPHQL_VALIDATION_FAILED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_missing_required_variable_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = "query($id: ID!) { restaurant(id: $id) { id } }";
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    let answer = post(&app, json!({"query": query, "variables": {"id": null}}), None).await;
    assert_refused(&app, answer, 400, "BAD_USER_INPUT").await;
    still_serving(&app, probe).await;
}
