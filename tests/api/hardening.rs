//! Hardening of start-up and shipped defaults: the environment Kubernetes gives a pod,
//! standard tokens and key sets, a quiet start, GraphiQL against real upstreams, and
//! production mode as the image runs it.
//!
//! Some tests run the built binary with an environment of their own
//! (`Command::env_clear`), so the test process's environment is never changed.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Command, ExitStatus, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use delivery_gateway::{
    app,
    config::{Config, JwtAlgorithm, Mode},
    server::{self, AppState},
    upstream::UserId,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::{rs256_jwk, sign_jwt, spawn_app_with};

/// What Kubernetes puts in every pod's environment for a Service named `gateway`.
const KUBERNETES_ENV: [(&str, &str); 8] = [
    ("GATEWAY_PORT", "tcp://10.96.0.17:4000"),
    ("GATEWAY_PORT_4000_TCP", "tcp://10.96.0.17:4000"),
    ("GATEWAY_PORT_4000_TCP_ADDR", "10.96.0.17"),
    ("GATEWAY_PORT_4000_TCP_PORT", "4000"),
    ("GATEWAY_PORT_4000_TCP_PROTO", "tcp"),
    ("GATEWAY_SERVICE_HOST", "10.96.0.17"),
    ("GATEWAY_SERVICE_PORT", "4000"),
    ("GATEWAY_SERVICE_PORT_HTTP", "4000"),
];

/// How a run of the binary ended.
#[derive(Debug)]
enum Run {
    /// It logged that it serves GraphQL (and was then stopped). Its log lines up to
    /// then, parsed from JSON.
    Started(Vec<Value>),
    /// It exited by itself, with this status and standard error.
    Exited(ExitStatus, String),
}

/// Runs `delivery-gateway <args>` with only `env` (and JSON logs) in its environment,
/// until it logs "GraphQL at" or exits.
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_delivery-gateway"))
        .args(args)
        .env_clear()
        .env("GATEWAY_LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the gateway binary");
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                let started = line.contains("GraphQL at");
                seen.push(line);
                if started {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    let log = seen
                        .iter()
                        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
                        .collect();
                    return Run::Started(log);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                return Run::Exited(status, seen.join("\n"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "the gateway neither started nor exited within 30 s:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
}

fn started(run: Run) -> Vec<Value> {
    match run {
        Run::Started(log) => log,
        Run::Exited(status, stderr) => panic!("the gateway exited ({status}):\n{stderr}"),
    }
}

// --- item 11: environment overrides that survive Kubernetes ------------------------

#[test]
fn the_gateway_starts_among_kubernetes_service_variables_and_warns_once_listing_them() {
    let mut env = KUBERNETES_ENV.to_vec();
    env.push(("GATEWAY_DEMO__LATENCY", "0ms"));
    let log = started(run_binary(&["serve", "--listen", "127.0.0.1:0"], &env));

    let warnings: Vec<&Value> = log.iter().filter(|l| l["level"] == "WARN").collect();
    assert_eq!(warnings.len(), 1, "{log:#?}");
    let listed = warnings[0]["variables"].as_str().unwrap();
    for (name, _) in KUBERNETES_ENV {
        assert!(listed.contains(name), "{name} is not listed: {listed}");
    }
    assert!(!listed.contains("10.96.0.17"), "a value is logged: {listed}");
    assert!(!listed.contains("GATEWAY_DEMO__LATENCY"), "{listed}");
}

// --- item 9: standard-conformant tokens and key sets -------------------------------

/// A key-set server: `/jwks.json` serves the set, `/moved` redirects to it; each
/// counts its requests.
struct RedirectingJwks {
    base: String,
    served: Arc<AtomicU32>,
    redirected: Arc<AtomicU32>,
}

async fn redirecting_jwks(keys: Value) -> RedirectingJwks {
    use axum::{Json, Router, http::header, response::IntoResponse, routing::get};
    let served = Arc::new(AtomicU32::new(0));
    let redirected = Arc::new(AtomicU32::new(0));
    let (s, r) = (served.clone(), redirected.clone());
    let router = Router::new()
        .route(
            "/jwks.json",
            get(move || {
                s.fetch_add(1, Ordering::SeqCst);
                let keys = keys.clone();
                async move { Json(keys) }
            }),
        )
        .route(
            "/moved",
            get(move || {
                r.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::FOUND, [(header::LOCATION, "/jwks.json")]).into_response() }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    RedirectingJwks {
        base,
        served,
        redirected,
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rs256_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture("rs256-private.pem")).unwrap()).unwrap()
}

fn rs256_token(claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("one".into());
    sign_jwt(&header, &claims, &rs256_key())
}

#[tokio::test]
async fn the_key_set_client_follows_no_redirect() {
    let jwk = rs256_jwk(&rs256_key(), "one");
    let jwks = redirecting_jwks(json!({ "keys": [jwk] })).await;
    let moved = format!("{}/moved", jwks.base);
    let app = spawn_app_with(move |c| {
        c.auth.algorithm = JwtAlgorithm::RS256;
        c.auth.jwks_url = Some(moved.parse().unwrap());
    })
    .await;

    let token = rs256_token(json!({"sub": "42", "exp": 9_999_999_999u64}));
    let (status, body) = app.query("{ me { id } }", json!({}), Some(&token)).await;

    assert_eq!(status, 401, "{body}");
    assert!(
        jwks.redirected.load(Ordering::SeqCst) >= 1,
        "the key set was never asked for"
    );
    assert_eq!(jwks.served.load(Ordering::SeqCst), 0, "the redirect was followed");
}

#[tokio::test]
async fn a_token_whose_audience_is_an_array_holding_ours_is_accepted() {
    let app = spawn_app_with(|c| c.auth.audience = Some("delivery".into())).await;
    let key = EncodingKey::from_secret(app.config.auth.jwt_secret.as_bytes());
    let sign = |aud: Value| {
        let claims = json!({"sub": "42", "exp": 9_999_999_999u64, "aud": aud});
        sign_jwt(&Header::default(), &claims, &key)
    };

    let (status, body) = app
        .query("{ me { id } }", json!({}), Some(&sign(json!(["delivery", "other"]))))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "42");

    let (status, _) = app
        .query("{ me { id } }", json!({}), Some(&sign(json!(["other"]))))
        .await;
    assert_eq!(status, 401);
}

// --- item 13: quiet start ---------------------------------------------------------

#[test]
fn the_start_logs_each_fact_once_and_no_breaker_states() {
    let log = started(run_binary(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("GATEWAY_DEMO__LATENCY", "0ms")],
    ));

    let messages: Vec<&str> = log.iter().map(|l| l["message"].as_str().unwrap_or("")).collect();
    assert!(
        !messages.iter().any(|m| m.contains("circuit breaker")),
        "breakers that never changed state were logged: {messages:#?}"
    );
    let mut distinct = messages.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), messages.len(), "a line repeats: {messages:#?}");
    // The embedded demo, then where GraphQL is served.
    assert_eq!(messages.len(), 2, "{messages:#?}");
}

// --- item 12: GraphiQL against real upstreams --------------------------------------

/// A gateway started as `serve` starts it (`app::run`), on upstreams at a URL (a demo
/// of its own, standing in for real services), configured by `adjust`.
async fn run_on_real_upstreams(adjust: impl FnOnce(&mut Config)) -> SocketAddr {
    let demo_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_addr = demo_listener.local_addr().unwrap();
    app::spawn_demo(demo_listener, Default::default());
    let mut config = Config::default();
    config.upstreams.base_url = Some(format!("http://{demo_addr}").parse().unwrap());
    adjust(&mut config);
    config.validate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { app::run(&config, listener, std::future::pending()).await });
    addr
}

/// The GraphiQL page at `addr` and its configuration block, parsed.
async fn graphiql_page(addr: SocketAddr) -> (String, Value) {
    let html = reqwest::Client::new()
        .get(format!("http://{addr}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open = r#"<script id="graphiql-config" type="application/json">"#;
    let start = html.find(open).expect("config block") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let config = serde_json::from_str(&html[start..end]).unwrap();
    (html, config)
}

#[tokio::test]
async fn graphiql_on_real_upstreams_sends_no_placeholder_token_and_says_where_one_goes() {
    let addr = run_on_real_upstreams(|_| {}).await;

    let (html, page) = graphiql_page(addr).await;

    let default_headers = page["defaultHeaders"].as_str().unwrap();
    assert!(!default_headers.contains("Authorization"), "{default_headers}");
    assert!(!html.contains("Bearer ey") && !html.contains("<token"), "{html}");
    let notice = html.split("class=\"graphiql-notice\">").nth(1).expect("a notice line");
    assert!(
        notice.contains("Authorization") && notice.contains("Bearer"),
        "{notice}"
    );
    // What the headers pane sends, `{ __typename }` with it answers.
    let headers: serde_json::Map<String, Value> = serde_json::from_str(default_headers).unwrap();
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&json!({"query": "{ __typename }"}));
    for (name, value) in &headers {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
    for tab in page["tabs"].as_array().unwrap() {
        assert_eq!(tab["headers"], page["defaultHeaders"]);
    }
}

// --- item 3: safe shipped defaults --------------------------------------------------

/// The final stage's `ENV` settings and `CMD` arguments of the repository's
/// Dockerfile: what `docker run` of the image starts the binary with.
fn dockerfile_env_and_cmd() -> (Vec<(String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let last_stage = joined.rsplit("\nFROM ").next().unwrap();
    let mut env = Vec::new();
    let mut cmd = Vec::new();
    for line in last_stage.lines().map(str::trim) {
        if let Some(settings) = line.strip_prefix("ENV ") {
            for setting in settings.split_whitespace() {
                let (key, value) = setting.split_once('=').expect("ENV KEY=VALUE");
                env.push((key.to_owned(), value.to_owned()));
            }
        } else if let Some(args) = line.strip_prefix("CMD ") {
            cmd = serde_json::from_str(args).expect("CMD in exec form");
        }
    }
    (env, cmd)
}

/// Runs the binary as the image does, plus `extra` variables, listening on a free
/// loopback port instead of 0.0.0.0:4000.
fn run_as_the_image(extra: &[(&str, &str)]) -> Run {
    let (image_env, cmd) = dockerfile_env_and_cmd();
    assert!(
        !cmd.iter().any(|a| a == "--listen"),
        "the test overrides the address through GATEWAY_SERVER__LISTEN"
    );
    let mut env: Vec<(&str, &str)> = image_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("GATEWAY_SERVER__LISTEN", "127.0.0.1:0"));
    env.extend_from_slice(extra);
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    run_binary(&args, &env)
}

fn refused(run: Run) -> String {
    match run {
        Run::Exited(status, stderr) => {
            assert!(!status.success(), "exited 0:\n{stderr}");
            stderr
        }
        Run::Started(log) => panic!("the image started: {log:#?}"),
    }
}

const SECRET: &str = "a-production-secret-that-is-long-enough-0123";

#[test]
fn the_image_runs_production_mode_and_says_what_to_set_without_secret_or_upstreams() {
    let (env, _) = dockerfile_env_and_cmd();
    assert!(
        env.contains(&("GATEWAY_SERVER__MODE".into(), "production".into())),
        "{env:?}"
    );

    let stderr = refused(run_as_the_image(&[]));
    for name in ["GATEWAY_AUTH__JWT_SECRET", "GATEWAY_UPSTREAMS__BASE_URL"] {
        assert!(stderr.contains(name), "{name} not named:\n{stderr}");
    }

    let stderr = refused(run_as_the_image(&[("GATEWAY_AUTH__JWT_SECRET", SECRET)]));
    assert!(stderr.contains("GATEWAY_UPSTREAMS__BASE_URL"), "{stderr}");
    assert!(!stderr.contains("GATEWAY_AUTH__JWT_SECRET"), "{stderr}");

    let stderr = refused(run_as_the_image(&[(
        "GATEWAY_UPSTREAMS__BASE_URL",
        "http://127.0.0.1:9",
    )]));
    assert!(stderr.contains("GATEWAY_AUTH__JWT_SECRET"), "{stderr}");

    // Given both, it starts.
    started(run_as_the_image(&[
        ("GATEWAY_AUTH__JWT_SECRET", SECRET),
        ("GATEWAY_UPSTREAMS__BASE_URL", "http://127.0.0.1:9"),
    ]));
}

#[tokio::test]
async fn production_mode_never_starts_the_embedded_demo() {
    let mut config = Config::default();
    config.server.mode = Mode::Production;
    config.auth.jwt_secret = SECRET.into();
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("upstreams.base_url"), "{error}");

    // Nor when a caller skips validation.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(10),
        app::run(&config, listener, std::future::pending()),
    )
    .await
    .expect("app::run started serving");
    let error = format!("{:#}", run.unwrap_err());
    assert!(error.contains("upstreams.base_url"), "{error}");
}

#[tokio::test]
async fn production_mode_mints_no_token_in_the_graphiql_page() {
    // Even when handed a demo user, as the embedded demo would.
    let demo_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_addr = demo_listener.local_addr().unwrap();
    app::spawn_demo(demo_listener, Default::default());
    let mut config = Config::default();
    config.server.mode = Mode::Production;
    config.auth.jwt_secret = SECRET.into();
    config.upstreams.base_url = Some(format!("http://{demo_addr}").parse().unwrap());
    config.validate().unwrap();
    let wiring = app::wire(&config).await.unwrap();
    let state = AppState::new(&config, wiring.upstreams, Some(app::demo_page(&config, UserId(42))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server::router(state, config.server.max_body_bytes, config.server.max_in_flight);
    tokio::spawn(server::serve(listener, router, std::future::pending()));

    let (html, page) = graphiql_page(addr).await;

    assert!(!html.contains("Bearer ey"), "a token in the page: {html}");
    assert!(!page["defaultHeaders"].as_str().unwrap().contains("Authorization"));
    assert!(html.contains("graphiql-notice"), "no line saying where a token goes");
}
