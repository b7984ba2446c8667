//! Production mode: its secret, introspection and suggestions.

use delivery_gateway::config::{Config, Mode};
use serde_json::json;

use super::{assert_refused, code, post, production, start, still_serving};
use crate::helpers::{spawn_app, spawn_app_with};

const INTROSPECTION: &str = "{ __schema { queryType { name } } }";

#[tokio::test]
async fn production_refuses_the_development_secret() {
    let mut config = Config::default();
    config.server.mode = Mode::Production;
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("auth.jwt_secret"), "{error}");
    let (app, probe) = start(spawn_app_with(production).await).await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn introspection_in_production_needs_the_secret_or_a_scope() {
    let secret = "let-me-see-the-schema-please";
    let (app, probe) = start(
        spawn_app_with(|c| {
            production(c);
            c.graphql.introspection_secret = Some(secret.into());
            c.graphql.introspection_scope = Some("schema:read".into());
        })
        .await,
    )
    .await;
    let answer = post(&app, json!({ "query": INTROSPECTION }), None).await;
    assert_refused(&app, answer, 400, "INTROSPECTION_DISABLED").await;
    let hidden = "{ restaurant(id: \"1\") { ... on Restaurant { __type(name: \"Query\") { name } } } }";
    let (status, body) = post(&app, json!({ "query": hidden }), None).await;
    assert_eq!((status, code(&body)), (400, "INTROSPECTION_DISABLED"));

    let request = app.graphql_post(&json!({ "query": INTROSPECTION }), None);
    let with_secret = app.send_json(request.header("x-introspection-secret", secret)).await;
    assert_eq!(with_secret.status, 200);
    assert_eq!(with_secret.body["data"]["__schema"]["queryType"]["name"], "Query");

    let auth = delivery_gateway::auth::Authenticator::new(&app.config.auth);
    let scoped = auth.mint_with_scopes(delivery_gateway::upstream::UserId(42), &["schema:read"]);
    let (status, body) = post(&app, json!({ "query": INTROSPECTION }), Some(&scoped)).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let (status, body) = post(&app, json!({ "query": INTROSPECTION }), Some(&app.token(42))).await;
    assert_eq!((status, code(&body)), (400, "INTROSPECTION_DISABLED"));
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn production_gives_no_suggestions_and_development_does() {
    let (app, probe) = start(spawn_app_with(production).await).await;
    let (status, body) = post(&app, json!({"query": "{ restaurnt(id: \"1\") { id } }"}), None).await;
    assert_eq!((status, code(&body)), (400, "GRAPHQL_VALIDATION_FAILED"));
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    let dev = spawn_app().await;
    let (_, body) = post(&dev, json!({"query": "{ restaurnt(id: \"1\") { id } }"}), None).await;
    assert!(body.to_string().contains("Did you mean"), "{body}");
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn introspection_in_development_answers() {
    let (app, probe) = start(spawn_app().await).await;
    let (status, body) = post(&app, json!({ "query": INTROSPECTION }), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    still_serving(&app, probe).await;
}
