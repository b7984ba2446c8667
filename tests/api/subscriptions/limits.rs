//! The limits of subscriptions (`subscriptions.init_timeout`, `max_open`) and
//! the end of an expired token's subscriptions, each watched by what a client
//! sees. Every wait is bounded, so a missing behaviour fails instead of hanging.

use std::time::Duration;

use serde_json::{Value, json};

use super::{FOLLOW, Socket, connect, placed_order, receive, send, subscribe};
use crate::helpers::{TestApp, spawn_app_with};
use crate::mutations::set_clock;

/// How long a test waits for what it expects before failing.
const PATIENCE: Duration = Duration::from_secs(30);

/// The next message of `socket`, failing the test after [`PATIENCE`].
async fn next_message(socket: &mut Socket, what: &str) -> Result<Value, Option<u16>> {
    tokio::time::timeout(PATIENCE, receive(socket))
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

/// A gateway polling every 50 ms, configured further by `adjust`, whose demo
/// clock stands still (a placed order stays `PLACED`), and one order of user 42.
async fn still_app(adjust: impl FnOnce(&mut delivery_gateway::config::Config)) -> (TestApp, String) {
    let app = spawn_app_with(|c| {
        c.subscriptions.poll_interval = Duration::from_millis(50);
        adjust(c);
    })
    .await;
    set_clock(&app, 0.0).await;
    let id = placed_order(&app).await;
    (app, id)
}

/// Asserts `message` is subscription `id`'s one error with `code`, and no data.
fn assert_error(message: &Value, id: &str, code: &str) {
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    assert!(message["payload"]["data"].is_null(), "{message}");
    assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], code, "{message}");
}

#[tokio::test]
async fn a_token_that_expires_ends_its_subscriptions_with_unauthenticated() {
    let (app, id) = still_app(|c| {
        c.auth.leeway = Duration::ZERO;
        // A token minted now is accepted for two to three seconds (`exp` counts
        // whole seconds).
        c.auth.token_ttl = Duration::from_secs(2);
        c.subscriptions.keep_alive = Duration::from_millis(100);
    })
    .await;
    let mut socket = subscribe(&app, 42, &id).await;
    let first = next_message(&mut socket, "the first event").await.unwrap();
    assert_eq!(first["payload"]["data"]["orderUpdated"]["status"], "PLACED", "{first}");

    // The order does not change: only the token's expiry can end this.
    let ended = next_message(&mut socket, "the end of the token").await.unwrap();
    assert_error(&ended, "1", "UNAUTHENTICATED");
    let complete = next_message(&mut socket, "complete").await.unwrap();
    assert_eq!(complete, json!({"id": "1", "type": "complete"}));
}

#[tokio::test]
async fn a_subscription_started_after_the_token_expired_is_refused_at_once() {
    let (app, id) = still_app(|c| {
        c.auth.leeway = Duration::ZERO;
        c.auth.token_ttl = Duration::from_secs(2);
        // Far longer than the test: no keep-alive check ends anything here.
        c.subscriptions.keep_alive = Duration::from_secs(600);
    })
    .await;
    let token = app.token(42);
    let mut socket = connect(&app, None).await.expect("connected");
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(
        next_message(&mut socket, "the ack").await.unwrap()["type"],
        "connection_ack"
    );
    // Wait until the gateway refuses the token over HTTP.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.query("{ me { id } }", json!({}), Some(&token)).await.0 != 401 {
        assert!(tokio::time::Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}}),
    )
    .await;
    assert_error(
        &next_message(&mut socket, "the refusal").await.unwrap(),
        "1",
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_socket_that_sends_no_connection_init_in_time_is_closed_with_4408() {
    let (app, id) = still_app(|c| c.subscriptions.init_timeout = Duration::from_millis(300)).await;
    // Opened first and initialised at once: the timeout is not for it.
    let mut prompt = connect(&app, None).await.expect("connected");
    let token = format!("Bearer {}", app.token(42));
    send(
        &mut prompt,
        json!({"type": "connection_init", "payload": {"Authorization": token}}),
    )
    .await;
    assert_eq!(
        next_message(&mut prompt, "the ack").await.unwrap()["type"],
        "connection_ack"
    );

    let mut silent = connect(&app, None).await.expect("connected");
    assert_eq!(next_message(&mut silent, "the close").await, Err(Some(4408)));

    // The prompt socket's timeout has passed too, and it still serves.
    send(
        &mut prompt,
        json!({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}}),
    )
    .await;
    let event = next_message(&mut prompt, "an event").await.unwrap();
    assert_eq!(event["payload"]["data"]["orderUpdated"]["status"], "PLACED", "{event}");
}

#[tokio::test]
async fn one_subscription_past_the_process_limit_is_refused_until_one_ends() {
    let (app, id) = still_app(|c| c.subscriptions.max_open = 2).await;
    let mut first = subscribe(&app, 42, &id).await;
    let mut second = subscribe(&app, 42, &id).await;
    for socket in [&mut first, &mut second] {
        let event = next_message(socket, "an event").await.unwrap();
        assert_eq!(event["payload"]["data"]["orderUpdated"]["status"], "PLACED", "{event}");
    }

    let mut third = subscribe(&app, 42, &id).await;
    assert_error(
        &next_message(&mut third, "the refusal").await.unwrap(),
        "1",
        "LIMIT_EXCEEDED",
    );
    assert_eq!(
        next_message(&mut third, "complete").await.unwrap(),
        json!({"id": "1", "type": "complete"})
    );

    // The first one ends: its place is free again.
    send(&mut first, json!({"id": "1", "type": "complete"})).await;
    assert_eq!(next_message(&mut first, "complete").await.unwrap()["type"], "complete");
    send(
        &mut third,
        json!({"id": "2", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}}),
    )
    .await;
    let event = next_message(&mut third, "an event").await.unwrap();
    assert_eq!(event["id"], "2", "{event}");
    assert_eq!(event["payload"]["data"]["orderUpdated"]["status"], "PLACED", "{event}");
}
