//! The HTTP request itself: malformed, mistyped, oversized, slow or
//! unacceptable requests, and the CSRF check on GET.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{GRAPHQL_RESPONSE, HealthProbe, assert_refused, post, post_raw, start, still_serving};
use crate::helpers::{header_text, spawn_app};

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post_raw(&app, Some("application/json"), "{\"query\": \"{ __typename }\"").await;
    assert_refused(&app, answer, 400, "BAD_REQUEST").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_body_of_the_wrong_type_is_400() {
    let (app, probe) = start(spawn_app().await).await;
    for body in [
        "42",
        "\"{ __typename }\"",
        "{\"query\": 5}",
        "{\"query\": \"{ a }\", \"variables\": [1]}",
        "null",
    ] {
        let answer = post_raw(&app, Some("application/json"), body).await;
        assert_refused(&app, answer, 400, "BAD_REQUEST").await;
    }
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn an_empty_body_is_400() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post_raw(&app, Some("application/json"), "").await;
    assert_refused(&app, answer, 400, "BAD_REQUEST").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_query_of_one_megabyte_is_413() {
    let (app, probe) = start(spawn_app().await).await;
    let query = format!("{{ __typename }} # {}", "x".repeat(1 << 20));
    let answer = post(&app, json!({ "query": query }), None).await;
    assert_refused(&app, answer, 413, "PAYLOAD_TOO_LARGE").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn invalid_utf8_in_the_body_is_400() {
    let (app, probe) = start(spawn_app().await).await;
    let mut body = b"{\"query\": \"{ restaurant(id: \\\"".to_vec();
    body.extend_from_slice(&[0xFF, 0xFE, 0xC0]);
    body.extend_from_slice(b"\\\") { id } }\"}");
    let answer = post_raw(&app, Some("application/json"), body).await;
    assert_refused(&app, answer, 400, "BAD_REQUEST").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_post_as_text_plain_is_415() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post_raw(&app, Some("text/plain"), r#"{"query":"{ __typename }"}"#).await;
    assert_refused(&app, answer, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_form_body_is_415() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post_raw(
        &app,
        Some("application/x-www-form-urlencoded"),
        "query=%7B__typename%7D",
    )
    .await;
    assert_refused(&app, answer, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let answer = post_raw(&app, Some("multipart/form-data; boundary=x"), "--x--").await;
    assert_refused(&app, answer, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_post_without_a_content_type_is_415() {
    let (app, probe) = start(spawn_app().await).await;
    let answer = post_raw(&app, None, r#"{"query":"{ __typename }"}"#).await;
    assert_refused(&app, answer, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_gzip_bomb_is_413_and_other_encodings_415() {
    // gzip bodies are inflated (server/transport.rs) up to server.max_body_bytes:
    // 16 MiB of spaces, about 16 KiB compressed, stops at the limit.
    let (app, probe) = start(spawn_app().await).await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut encoder, &vec![b' '; 16 << 20]).unwrap();
    let bomb = encoder.finish().unwrap();
    let request = app
        .post("/graphql")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb);
    let answer = app.send_json(request).await.status_and_body();
    assert_refused(&app, answer, 413, "PAYLOAD_TOO_LARGE").await;
    let request = app
        .post("/graphql")
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body(vec![0u8; 64]);
    let answer = app.send_json(request).await.status_and_body();
    assert_refused(&app, answer, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_chunked_body_of_200_kib_is_413() {
    let (app, probe) = start(spawn_app().await).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
    for _ in 0..25 {
        // The gateway may answer and close before the last chunk: that is the point.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    assert_eq!(app.stats().await.total(), 0);
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_client_that_sends_its_headers_one_byte_at_a_time_is_closed() {
    let app = spawn_app().await;
    // A second gateway on the same upstreams with a short header timeout.
    let mut config = app.config.clone();
    config.server.header_read_timeout = Duration::from_millis(300);
    let wiring = delivery_gateway::app::wire(&config).await.unwrap();
    let state = delivery_gateway::server::AppState::new(&config, wiring.upstreams, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = delivery_gateway::server::router(state, config.server.max_body_bytes, config.server.max_in_flight);
    tokio::spawn(delivery_gateway::server::serve_with(
        listener,
        router,
        std::future::pending(),
        config.server.header_read_timeout,
    ));
    let probe = HealthProbe::start(&app);

    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = b"GET /health HTTP/1.1\r\nhost: gateway\r\nx-slow: ";
    let mut closed = false;
    for byte in request.iter().chain(std::iter::repeat(&b'a')).take(200) {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        // Is the connection closed yet? A read returns 0 (or an error) once it is.
        let mut buffer = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {} // an error response (408) before closing
            Err(_) => {}    // still open: send the next byte
        }
    }
    assert!(closed, "the connection was still open after 200 slow bytes");
    assert!(started.elapsed() < Duration::from_secs(9), "{:?}", started.elapsed());
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_mutation_over_get_is_405() {
    let (app, probe) = start(spawn_app().await).await;
    let request = app
        .get("/graphql")
        .query(&[("query", "mutation { anything }")])
        .header("accept", GRAPHQL_RESPONSE)
        .header("x-requested-with", "test");
    let response = app.send_json(request).await;
    assert_eq!(response.header("allow"), "POST");
    assert_refused(&app, response.status_and_body(), 405, "METHOD_NOT_ALLOWED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_get_from_a_simple_form_is_refused_as_csrf() {
    let (app, probe) = start(spawn_app().await).await;
    let request = app
        .get("/graphql")
        .query(&[("query", "{ restaurant(id: \"17\") { id } }")])
        .header("content-type", "text/plain");
    let answer = app.send_json(request).await.status_and_body();
    assert_refused(&app, answer, 400, "CSRF_PREVENTED").await;
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn a_get_with_a_preflight_header_answers_and_the_graphiql_page_still_opens() {
    let (app, probe) = start(spawn_app().await).await;
    let page = app.get("/graphql").header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(header_text(page.headers(), "content-type").starts_with("text/html"));
    for (name, value) in [
        ("apollo-require-preflight", "true"),
        ("content-type", "application/json"),
    ] {
        let request = app
            .get("/graphql")
            .query(&[("query", "{ restaurant(id: \"17\") { id } }")])
            .header(name, value);
        let response = app.send_json(request).await;
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(response.body["data"]["restaurant"]["id"], "17", "{name}");
    }
    still_serving(&app, probe).await;
}

#[tokio::test]
async fn an_answer_nobody_accepts_is_406() {
    let (app, probe) = start(spawn_app().await).await;
    let request = app.graphql_post(&json!({"query": "{ __typename }"}), None);
    let answer = app
        .send_json(request.header("accept", "text/html"))
        .await
        .status_and_body();
    assert_refused(&app, answer, 406, "NOT_ACCEPTABLE").await;
    still_serving(&app, probe).await;
}
