//! Transport: response compression negotiated by `Accept-Encoding`, gzip request
//! bodies, and the drain window on shutdown.

use std::{
    io::Read as _,
    net::SocketAddr,
    time::{Duration, Instant},
};

use delivery_gateway::{app, config::Config, demo::Fault};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

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

    // The server's order when several are offered: zstd, then gzip, then br (the
    // cheapest per byte saved first; docs/production.md has the figures).
    let any = home(&app, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(header_text(any.headers(), "content-encoding"), "zstd");
    let gzip_or_br = home(&app, Some("br, gzip")).await;
    assert_eq!(header_text(gzip_or_br.headers(), "content-encoding"), "gzip");
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

/// A gateway on demo upstreams under `app::run`, as the binary runs it, with
/// `adjust` applied; the sender is its shutdown signal.
async fn running_gateway(
    adjust: impl FnOnce(&mut Config),
) -> (
    SocketAddr,
    delivery_gateway::demo::Demo,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let demo_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_addr = demo_listener.local_addr().unwrap();
    let demo = app::spawn_demo(demo_listener, Default::default());
    let mut config = Config::default();
    config.upstreams.base_url = Some(format!("http://{demo_addr}").parse().unwrap());
    adjust(&mut config);
    config.validate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (terminate, terminated) = tokio::sync::oneshot::channel::<()>();
    let gateway = tokio::spawn(async move {
        app::run(&config, listener, async {
            let _ = terminated.await;
        })
        .await
    });
    (addr, demo, terminate, gateway)
}

/// Polls `check` every 10 ms until it holds; panics after `within`.
async fn until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn on_a_shutdown_signal_the_gateway_drains_then_finishes_what_is_in_flight() {
    // Long enough for the checks inside the window on a loaded machine.
    let drain = Duration::from_secs(3);
    let (addr, demo, terminate, gateway) = running_gateway(|c| {
        c.server.drain_delay = drain;
        c.server.shutdown_grace = Duration::from_secs(10);
    })
    .await;
    let client = reqwest::Client::new();
    let ready = |client: reqwest::Client| async move {
        client
            .get(format!("http://{addr}/health/ready"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(ready(client.clone()).await, 200);

    let signalled = Instant::now();
    terminate.send(()).unwrap();
    // Readiness turns at once.
    until(Duration::from_millis(500), "/health/ready answers 503", || async {
        ready(reqwest::Client::new()).await == 503
    })
    .await;
    let ready_turned = signalled.elapsed();

    // Still accepting: a new connection is served, and told to close.
    let fresh = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&json!({"query": r#"{ restaurant(id: "17") { id } }"#}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(header_text(fresh.headers(), "connection"), "close");
    assert!(
        signalled.elapsed() < drain,
        "the check ran after the drain window: make it longer"
    );

    // A slow request that starts in the window finishes after accepting stops.
    demo.set_all_faults(Fault::latency(Duration::from_millis(800)));
    let slow = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .json(&json!({"query": r#"{ restaurant(id: "18") { id } }"#}))
            .send(),
    );
    until(Duration::from_secs(2), "the slow call reached the demo", || async {
        demo.stats().total_calls() >= 2
    })
    .await;

    until(drain + Duration::from_secs(2), "new connections refused", || async {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    let stopped_accepting = signalled.elapsed();
    assert!(
        stopped_accepting >= drain,
        "stopped accepting after {stopped_accepting:?}"
    );

    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), 200);
    let body: Value = slow.json().await.unwrap();
    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurant"]["id"], "18");
    gateway.await.unwrap().unwrap();
    assert!(ready_turned < Duration::from_millis(500), "{ready_turned:?}");
}
