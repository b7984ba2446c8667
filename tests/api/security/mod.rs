//! A battery of bad inputs. Each case asserts the status, the error code, that no
//! upstream was called when the request was refused, and that the gateway still
//! answers `HomeScreen` afterwards, while a `/health` probe keeps answering fast.

mod arguments;
mod asymmetric_keys;
mod batches;
mod cors;
mod limits;
mod production;
mod request;
mod selection;
mod tokens;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use delivery_gateway::config::{Config, Mode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{HOME, TestApp, assert_no_errors, berlin, sign_jwt};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const PRODUCTION_SECRET: &str = "a-production-secret-that-is-long-enough-0123";

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

fn production(config: &mut Config) {
    config.server.mode = Mode::Production;
    config.auth.jwt_secret = PRODUCTION_SECRET.into();
}

/// A token with these claims, signed with the gateway's (default) HS256 secret.
fn signed(app: &TestApp, claims: Value) -> String {
    let key = EncodingKey::from_secret(app.config.auth.jwt_secret.as_bytes());
    sign_jwt(&Header::new(Algorithm::HS256), &claims, &key)
}

fn far_future() -> u64 {
    9_999_999_999
}

async fn with_token(app: &TestApp, token: &str) -> (u16, Value) {
    post(app, json!({"query": "{ me { id } }"}), Some(token)).await
}
