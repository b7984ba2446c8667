//! Operation limits: depth, length, aliases, tokens, directives, root fields,
//! fragments and complexity, each tripping on its own.

use std::time::{Duration, Instant};

use delivery_gateway::config::Config;
use serde_json::{Value, json};

use super::{GRAPHQL_RESPONSE, assert_refused, post, start, still_serving};
use crate::helpers::{assert_no_errors, errors, spawn_app, spawn_app_with};

/// Limits raised so that one particular limit is the one that trips.
fn roomy(config: &mut Config) {
    config.server.max_body_bytes = 512 * 1024;
    config.limits.max_document_chars = 1 << 20;
    config.limits.max_tokens = 100_000;
}

#[tokio::test]
async fn nesting_10000_deep_is_refused_as_too_deep() {
    let (app, probe) = start(spawn_app_with(roomy).await).await;
    let query = format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000));
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "QUERY_TOO_DEEP").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_limit_is_a_200_under_plain_json() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
    let answer = app.query(&query, json!({}), None).await;
    assert_refused(&app, (answer.0.as_u16(), answer.1), 200, "QUERY_TOO_DEEP").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_document_past_the_character_limit_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ __typename }} # {}", "x".repeat(20_000));
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "DOCUMENT_TOO_LONG").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn five_thousand_aliases_of_one_field_are_refused() {
    let (app, probe) = start(spawn_app_with(roomy).await).await;
    let aliases: String = (0..5_000).map(|i| format!("a{i}: id ")).collect();
    let query = format!("{{ restaurant(id: \"1\") {{ {aliases} }} }}");
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "TOO_MANY_ALIASES").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn five_thousand_typename_aliases_are_refused() {
    let (app, probe) = start(spawn_app_with(roomy).await).await;
    let aliases: String = (0..5_000).map(|i| format!("t{i}: __typename ")).collect();
    let answer = post(&app, json!({ "query": format!("{{ {aliases} }}") }), None).await;
    assert_refused(&app, answer, 400, "TOO_MANY_ALIASES").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_field_repeated_10000_times_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ restaurant(id: \"1\") {{ {} }} }}", "id ".repeat(10_000));
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "DOCUMENT_TOO_LONG").await;
    // And with the size limits out of the way, its cost still trips.
    let roomy_app = spawn_app_with(roomy).await;
    let answer = post(&roomy_app, json!({ "query": query }), None).await;
    assert_refused(&roomy_app, answer, 400, "QUERY_TOO_COMPLEX").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn too_many_tokens_are_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ restaurant(id: \"1\") {{ {} }} }}", "id,".repeat(2_500));
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "TOO_MANY_TOKENS").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_thousand_directives_are_refused() {
    let (app, probe) = start(spawn_app_with(roomy).await).await;
    let query = format!("{{ __typename {} }}", "@include(if: true) ".repeat(1_000));
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "TOO_MANY_DIRECTIVES").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn twenty_thousand_directives_on_an_inline_fragment_give_one_small_error() {
    let (app, probe) = start(spawn_app_with(roomy).await).await;
    let query = format!("{{ ... {} {{ __typename }} }}", "@a ".repeat(20_000));
    let request = app.graphql_post(&json!({ "query": query }), None);
    let response = request.header("accept", GRAPHQL_RESPONSE).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(text.len() < 1024, "{} bytes", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(errors(&body).len(), 1);
    assert_refused(&app, (status, body), 400, "TOO_MANY_DIRECTIVES").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn too_many_root_fields_are_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let roots: String = (0..11)
        .map(|i| format!("r{i}: restaurant(id: \"{i}\") {{ id }} "))
        .collect();
    let answer = post(&app, json!({ "query": format!("{{ {roots} }}") }), None).await;
    assert_refused(&app, answer, 400, "TOO_MANY_ROOT_FIELDS").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_fragment_fan_out_is_refused_in_milliseconds() {
    let (app, probe) = start(spawn_app().await).await;
    let mut query = String::from("query { ...A }\n");
    for i in 0..25u8 {
        let (this, next) = ((b'A' + i) as char, (b'A' + i + 1) as char);
        query.push_str(&format!("fragment {this} on Query {{ ...{next} ...{next} }}\n"));
    }
    query.push_str("fragment Z on Query { __typename }\n");
    assert!(query.len() < 1200);

    let started = Instant::now();
    let answer = post(&app, json!({ "query": query }), None).await;
    let took = started.elapsed();

    assert_refused(&app, answer, 400, "QUERY_TOO_COMPLEX").await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_fragment_cycle_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let query = "{ ...A } fragment A on Query { restaurant(id: \"1\") { id } ...B } fragment B on Query { ...A }";
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 400, "GRAPHQL_VALIDATION_FAILED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_document_that_does_not_parse_is_refused() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post(&app, json!({"query": "{ restaurant(id: \"1\") { id "}), None).await;
    assert_refused(&app, answer, 400, "GRAPHQL_PARSE_FAILED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn complexity_counts_first() {
    let (app, probe) = start(spawn_app_with(|c| c.limits.max_complexity = 200).await).await;
    let query =
        "query($n: Int!) { restaurants(near: {lat: 52.52, lng: 13.405}, first: $n) { edges { node { id name } } } }";
    let answer = post(&app, json!({"query": query, "variables": {"n": 100}}), None).await;
    assert_refused(&app, answer, 400, "QUERY_TOO_COMPLEX").await;
    let (status, body) = post(&app, json!({"query": query, "variables": {"n": 5}}), None).await;
    assert_eq!(status, 200);
    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurants"]["edges"].as_array().unwrap().len(), 5);
    probe.finish().await;
}

#[tokio::test]
async fn errors_past_the_cap_are_summed_up_in_one() {
    let (app, probe) = start(
        spawn_app_with(|c| {
            c.limits.max_aliases = 100;
            c.limits.max_root_fields = 100;
        })
        .await,
    )
    .await;
    let fields: String = (0..60)
        .map(|i| format!("r{i}: restaurant(id: \"x{i}\") {{ id }} "))
        .collect();
    let (status, body) = post(&app, json!({ "query": format!("{{ {fields} }}") }), None).await;
    assert_eq!(status, 200);
    let errors = errors(&body);
    assert_eq!(errors.len(), 50);
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(errors[49]["extensions"]["code"], "TOO_MANY_ERRORS");
    still_serving(&app, probe).await;
}
