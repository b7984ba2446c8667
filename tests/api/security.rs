//! A battery of bad inputs. Each case asserts the status, the error code, that no
//! upstream was called when the request was refused, and that the gateway still
//! answers `HomeScreen` afterwards, while a `/health` probe keeps answering fast.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use delivery_gateway::config::{Config, JwtAlgorithm, Mode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};

use crate::helpers::{HOME, TestApp, assert_no_errors, berlin, errors, header_text, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const PRODUCTION_SECRET: &str = "a-production-secret-that-is-long-enough-0123";
const INTROSPECTION: &str = "{ __schema { queryType { name } } }";

/// Asks `/health` every few milliseconds until stopped, remembering the slowest answer.
struct HealthProbe {
    stop: Arc<AtomicBool>,
    task: JoinHandle<(u32, Duration)>,
}

impl HealthProbe {
    fn start(app: &TestApp) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (client, url, flag) = (app.client.clone(), app.url("/health"), stop.clone());
        let task = tokio::spawn(async move {
            let (mut answers, mut slowest) = (0, Duration::ZERO);
            loop {
                let started = Instant::now();
                let status = client.get(&url).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                assert_eq!(status, 200, "/health stopped answering");
                slowest = slowest.max(started.elapsed());
                answers += 1;
                if flag.load(Ordering::Relaxed) {
                    return (answers, slowest);
                }
                tokio::time::sleep(Duration::from_millis(5)).await; // pacing, not synchronisation
            }
        });
        Self { stop, task }
    }

    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let (answers, slowest) = self.task.await.expect("the health probe panicked");
        assert!(answers >= 1);
        assert!(slowest < Duration::from_secs(2), "/health took {slowest:?}");
    }
}

/// Starts the probe; the case then ends with [`still_serving`].
async fn start(app: TestApp) -> (TestApp, HealthProbe) {
    let probe = HealthProbe::start(&app);
    (app, probe)
}

/// The gateway still answers `HomeScreen`, and `/health` answered fast throughout.
async fn still_serving(app: &TestApp, probe: HealthProbe) {
    let token = app.token(42);
    let (status, body) = app.query(HOME, berlin(20), Some(&token)).await;
    assert_eq!(status, 200);
    assert_no_errors(&body);
    assert_eq!(body["data"]["me"]["id"], "42");
    probe.finish().await;
}

/// Sends `body` to `POST /graphql` with `content_type`; answers status and JSON.
async fn post_raw(app: &TestApp, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let mut request = app.post("/graphql").header("accept", GRAPHQL_RESPONSE).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    app.send_json(request).await.status_and_body()
}

/// POSTs a GraphQL request as JSON, accepting the GraphQL response media type.
async fn post(app: &TestApp, request: Value, token: Option<&str>) -> (u16, Value) {
    let request = app.graphql_post(&request, token).header("accept", GRAPHQL_RESPONSE);
    app.send_json(request).await.status_and_body()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

/// Asserts a refused request: status, code, and not one upstream call.
async fn assert_refused(app: &TestApp, (status, body): (u16, Value), want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(code(&body), want_code, "{body}");
    assert!(body.get("data").is_none() || body["data"].is_null(), "{body}");
    assert_eq!(app.stats().await.total(), 0, "an upstream was called");
}

/// Limits raised so that one particular limit is the one that trips.
fn roomy(config: &mut Config) {
    config.server.max_body_bytes = 512 * 1024;
    config.limits.max_document_chars = 1 << 20;
    config.limits.max_tokens = 100_000;
}

fn production(config: &mut Config) {
    config.server.mode = Mode::Production;
    config.auth.jwt_secret = PRODUCTION_SECRET.into();
}

/// A token with these claims, signed with the gateway's (default) HS256 secret.
fn signed(app: &TestApp, claims: Value) -> String {
    let key = EncodingKey::from_secret(app.config.auth.jwt_secret.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

fn far_future() -> u64 {
    9_999_999_999
}

async fn with_token(app: &TestApp, token: &str) -> (u16, Value) {
    post(app, json!({"query": "{ me { id } }"}), Some(token)).await
}

// --- the HTTP request itself --------------------------------------------------

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
async fn a_gzip_body_is_refused_without_being_inflated() {
    let (app, probe) = start(spawn_app().await).await;
    // The gzip magic and a deflate stream of zeros: a bomb, if anything inflated it.
    let mut body = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
    body.extend(std::iter::repeat_n(0u8, 1024));
    let request = app
        .post("/graphql")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body);
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

// --- batches ------------------------------------------------------------------

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

// --- operation limits -----------------------------------------------------------

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

// --- operation selection and variables ------------------------------------------

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

// --- arguments ------------------------------------------------------------------

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

// --- tokens ---------------------------------------------------------------------

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
    let token = jsonwebtoken::encode(&Header::default(), &json!({"sub": "42", "exp": far_future()}), &key).unwrap();
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

// --- production mode ---------------------------------------------------------------

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

// --- CORS -----------------------------------------------------------------------------

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

// --- asymmetric keys ---------------------------------------------------------------------

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rs256_token(private: &str, kid: Option<&str>, sub: &str) -> String {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture(private)).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &json!({"sub": sub, "exp": far_future()}), &key).unwrap()
}

#[tokio::test]
async fn rs256_with_a_pem_key_accepts_its_tokens_and_refuses_hs256_ones() {
    let (app, probe) = start(
        spawn_app_with(|c| {
            production(c);
            c.auth.algorithm = JwtAlgorithm::RS256;
            c.auth.public_key_file = Some(fixture("rs256-public.pem"));
        })
        .await,
    )
    .await;
    let hs = signed(&app, json!({"sub": "42", "exp": far_future()}));
    let answer = with_token(&app, &hs).await;
    assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    let other = rs256_token("rs256-other-private.pem", None, "42");
    let answer = with_token(&app, &other).await;
    assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    still_serving_rs256(&app, probe).await;
}

/// A tiny JWKS server whose key set can be swapped, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<std::sync::Mutex<Value>>,
    fetches: Arc<std::sync::atomic::AtomicU32>,
}

async fn jwks_server() -> JwksServer {
    use axum::{Json, Router, routing::get};
    let keys = Arc::new(std::sync::Mutex::new(json!({"keys": []})));
    let fetches = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let router = Router::new().route(
        "/jwks.json",
        get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                Json(k.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    JwksServer { url, keys, fetches }
}

fn jwk(private: &str, kid: &str) -> Value {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture(private)).unwrap()).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    serde_json::to_value(jwk).unwrap()
}

#[tokio::test]
async fn jwks_keys_are_fetched_cached_and_refreshed_on_an_unknown_kid_at_a_bounded_rate() {
    let jwks = jwks_server().await;
    *jwks.keys.lock().unwrap() = json!({"keys": [jwk("rs256-private.pem", "one")]});
    let url = jwks.url.clone();
    let (app, probe) = start(
        spawn_app_with(move |c| {
            production(c);
            c.auth.algorithm = JwtAlgorithm::RS256;
            c.auth.jwks_url = Some(url.parse().unwrap());
            c.auth.jwks_cooldown = Duration::from_secs(60);
        })
        .await,
    )
    .await;
    // The start-up fetch has begun (a request arriving now waits for it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while jwks.fetches.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the key set was not fetched at start");
        tokio::task::yield_now().await;
    }

    let (status, body) = with_token(&app, &rs256_token("rs256-private.pem", Some("one"), "42")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "42");
    let (status, _) = with_token(&app, &rs256_token("rs256-private.pem", Some("one"), "42")).await;
    assert_eq!(status, 200);
    let after_known = jwks.fetches.load(Ordering::SeqCst);
    assert_eq!(after_known, 1, "cached keys were fetched again");

    // A rotated key: the first token with its kid makes the gateway fetch again.
    *jwks.keys.lock().unwrap() =
        json!({"keys": [jwk("rs256-private.pem", "one"), jwk("rs256-other-private.pem", "two")]});
    let (status, body) = with_token(&app, &rs256_token("rs256-other-private.pem", Some("two"), "42")).await;
    assert_eq!(status, 200, "{body}");
    let after_rotation = jwks.fetches.load(Ordering::SeqCst);
    assert!(after_rotation > after_known);

    // Forged kids: refused, and within the cooldown no further fetch.
    app.reset().await;
    for i in 0..20 {
        let answer = with_token(
            &app,
            &rs256_token("rs256-private.pem", Some(&format!("forged-{i}")), "42"),
        )
        .await;
        assert_refused(&app, answer, 401, "UNAUTHENTICATED").await;
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), after_rotation);
    still_serving_rs256(&app, probe).await;
}

async fn still_serving_rs256(app: &TestApp, probe: HealthProbe) {
    let token = rs256_token("rs256-private.pem", Some("one"), "42");
    let (status, body) = post(app, json!({"query": HOME, "variables": berlin(20)}), Some(&token)).await;
    assert_eq!(status, 200);
    assert_no_errors(&body);
    probe.finish().await;
}

#[tokio::test]
async fn jwks_keys_are_refreshed_on_a_timer() {
    let jwks = jwks_server().await;
    *jwks.keys.lock().unwrap() = json!({"keys": [jwk("rs256-private.pem", "one")]});
    let url = jwks.url.clone();
    let (app, probe) = start(
        spawn_app_with(move |c| {
            c.auth.algorithm = JwtAlgorithm::RS256;
            c.auth.jwks_url = Some(url.parse().unwrap());
            c.auth.jwks_refresh = Duration::from_secs(1);
        })
        .await,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while jwks.fetches.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the key set was not fetched again on the timer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling an outside counter
    }
    still_serving_rs256(&app, probe).await;
}

/// A stand-in for the loyalty service that redirects every call to a second
/// server, and the list of calls that second server received (with the
/// `X-User-Id` each carried).
async fn redirecting_loyalty() -> (url::Url, Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    use axum::{
        Router,
        http::{HeaderMap, StatusCode, header::LOCATION},
        routing::get,
    };
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let target = Router::new().fallback(move |headers: HeaderMap| {
        let record = record.clone();
        async move {
            let user = headers
                .get("x-user-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            record.lock().unwrap().push(user);
            axum::Json(json!({"points": 1, "tier": "GOLD"}))
        }
    });
    let target_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(target_listener, target).await });

    let redirect = Router::new().route(
        "/members/{id}",
        get(move || async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(LOCATION, format!("http://{target_addr}/members/42"))],
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirect).await });
    (url, seen)
}

#[tokio::test]
async fn an_upstream_redirect_is_an_error_and_never_carries_the_user_elsewhere() {
    let (loyalty, seen) = redirecting_loyalty().await;
    let app = spawn_app_with(move |c| {
        c.upstreams.services.insert("loyalty".into(), loyalty);
    })
    .await;
    let token = app.token(42);
    let (status, body) = app
        .query("{ me { id loyalty { points } } }", json!({}), Some(&token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "42", "{body}");
    assert_eq!(body["data"]["me"]["loyalty"], Value::Null, "{body}");
    let errors = errors(&body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["me", "loyalty"]));
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_ERROR");
    assert_eq!(errors[0]["extensions"]["service"], "loyalty");
    assert_eq!(errors[0]["extensions"]["upstreamStatus"], 307);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        seen.lock().unwrap()
    );
}
