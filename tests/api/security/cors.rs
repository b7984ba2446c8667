//! CORS: only listed origins, and none by default.

use serde_json::json;

use super::{start, still_serving};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn cors_answers_only_listed_origins_with_credentials() {
    let (app, probe) =
        start(spawn_app_with(|c| c.browser.cors_origins = vec!["https://app.example".into()]).await).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .send()
    };
    let listed = preflight("https://app.example").await.unwrap();
    assert_eq!(listed.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(listed.headers()["access-control-allow-credentials"], "true");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(other.headers().get("access-control-allow-credentials").is_none());
    assert_eq!(app.stats().await.total(), 0);
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let (app, probe) = start(spawn_app().await).await;
    let response = app
        .graphql_post(&json!({"query": "{ __typename }"}), None)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("access-control-allow-origin").is_none());
    still_serving(&app, probe).await;
}
