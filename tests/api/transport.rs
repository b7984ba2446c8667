//! Transport: response compression negotiated by `Accept-Encoding`, gzip request
//! bodies, and the drain window on shutdown.

use std::io::Read as _;

use serde_json::{Value, json};

use crate::helpers::{HOME, assert_no_errors, berlin, header_text, spawn_app};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, bytes).unwrap();
    encoder.finish().unwrap()
}

/// HomeScreen's raw answer, asked for with `accept_encoding`.
async fn home(app: &crate::helpers::TestApp, accept_encoding: Option<&str>) -> reqwest::Response {
    let token = app.token(42);
    let mut request = app.graphql_post(&json!({"query": HOME, "variables": berlin(20)}), Some(&token));
    if let Some(value) = accept_encoding {
        request = request.header("accept-encoding", value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn a_large_answer_is_compressed_as_the_client_accepts() {
    let app = spawn_app().await;
    let plain = home(&app, None).await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain: Value = plain.json().await.unwrap();
    assert_no_errors(&plain);

    let gz = home(&app, Some("gzip")).await;
    assert_eq!(header_text(gz.headers(), "content-encoding"), "gzip");
    let vary: Vec<String> = gz
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(vary.iter().any(|v| v.contains("accept-encoding")), "{vary:?}");
    let compressed = gz.bytes().await.unwrap();
    let inflated: Value = serde_json::from_slice(&gunzip(&compressed)).unwrap();
    assert_eq!(inflated, plain);
    let plain_len = serde_json::to_vec(&plain).unwrap().len();
    assert!(compressed.len() * 4 < plain_len, "{} of {plain_len}", compressed.len());

    // The server's order when several are offered: zstd, then br, then gzip.
    let any = home(&app, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(header_text(any.headers(), "content-encoding"), "zstd");
    let br = home(&app, Some("gzip;q=0, br")).await;
    assert_eq!(header_text(br.headers(), "content-encoding"), "br");
    // Nothing the gateway speaks: as it is.
    let other = home(&app, Some("compress, identity")).await;
    assert!(other.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn a_small_answer_is_not_compressed() {
    let app = spawn_app().await;
    let response = app
        .graphql_post(&json!({"query": "{ __typename }"}), None)
        .header("accept-encoding", "gzip, br, zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let app = crate::helpers::spawn_app_with(|c| c.server.compression.enabled = false).await;
    let response = home(&app, Some("gzip, br, zstd")).await;
    assert!(response.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn a_gzip_request_body_is_accepted() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&json!({"query": r#"{ restaurant(id: "17") { id } }"#})).unwrap();
    let response = app
        .post("/graphql")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurant"]["id"], "17");
}
