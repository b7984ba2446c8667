//! Asymmetric keys: RS256 with a PEM key or a JWKS, and (at the end) an
//! upstream redirect that must not carry the user elsewhere.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use delivery_gateway::config::JwtAlgorithm;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{HealthProbe, assert_refused, far_future, post, production, signed, start, with_token};
use crate::helpers::{HOME, TestApp, assert_no_errors, berlin, errors, rs256_jwk, sign_jwt, spawn_app_with};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rs256_token(private: &str, kid: Option<&str>, sub: &str) -> String {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture(private)).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    sign_jwt(&header, &json!({"sub": sub, "exp": far_future()}), &key)
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
    serde_json::to_value(rs256_jwk(&key, kid)).unwrap()
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
