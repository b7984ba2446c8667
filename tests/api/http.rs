//! GraphQL over HTTP: methods, media types, status codes.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_query_over_get_answers() {
    let app = spawn_app().await;

    let request = app
        .get("/graphql")
        .query(&[("query", "{ restaurant(id: \"17\") { id name } }")])
        .header("accept", "application/graphql-response+json")
        .header("apollo-require-preflight", "true");
    let response = app.send_json(request).await;

    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .starts_with("application/graphql-response+json")
    );
    assert_eq!(response.body["data"]["restaurant"]["id"], "17");
}

#[tokio::test]
async fn a_mutation_over_get_is_not_allowed() {
    let app = spawn_app().await;

    let response = app
        .get("/graphql")
        .query(&[("query", "mutation { x }")])
        .header("apollo-require-preflight", "true")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn other_content_types_are_unsupported() {
    let app = spawn_app().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let request = app
            .post("/graphql")
            .header("content-type", content_type)
            .body(r#"{"query":"{ __typename }"}"#);
        let response = app.send_json(request).await;

        assert_eq!(response.status, 415, "{content_type}");
        assert_eq!(
            response.body["errors"][0]["extensions"]["code"],
            "UNSUPPORTED_MEDIA_TYPE"
        );
    }
}

#[tokio::test]
async fn a_document_that_does_not_validate_is_400_under_the_graphql_media_type() {
    let app = spawn_app().await;
    let send = |accept: &'static str| {
        let request = app.graphql_post(&json!({"query": "{ noSuchField }"}), None);
        app.send_json(request.header("accept", accept))
    };

    let modern = send("application/graphql-response+json").await;
    let legacy = send("application/json").await;

    assert_eq!(modern.status, 400);
    assert_eq!(legacy.status, 200);
    let body = modern.body;
    assert!(body.get("data").is_none(), "a request error has no data: {body}");
}

#[tokio::test]
async fn malformed_json_and_batches_are_refused_as_json() {
    let app = spawn_app().await;
    for body in ["{\"query\": ", "[{\"query\": \"{ __typename }\"}]", "42", ""] {
        let request = app
            .post("/graphql")
            .header("content-type", "application/json")
            .body(body);
        let response = app.send_json(request).await;

        assert_eq!(response.status, 400, "{body}");
        let answer = response.body;
        assert!(answer["errors"][0]["extensions"]["code"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let query = format!("{{ __typename }} # {}", "x".repeat(100 * 1024));

    let response = app.graphql_post(&json!({"query": query}), None).send().await.unwrap();

    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn health_answers() {
    let app = spawn_app().await;

    let response = app.send_json(app.get("/health")).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.body["status"], "ok");
}
