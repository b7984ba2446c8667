//! Subscriptions: `orderUpdated` over WebSocket (`graphql-transport-ws`) and
//! Server-Sent Events, the shared poll, ownership, Origin and shutdown; their
//! limits and the end of an expired token's subscriptions are in `limits`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

use crate::helpers::{TestApp, spawn_app_with};
use crate::mutations::{fixture, input, place, set_clock};

mod limits;

const FOLLOW: &str =
    "subscription Follow($id: ID!) { orderUpdated(id: $id) { id status tracking { etaMinutes updatedAt } } }";

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A gateway polling every 50 ms, on a demo whose clock runs 200 times faster.
async fn fast_app() -> TestApp {
    let app = spawn_app_with(|c| c.subscriptions.poll_interval = Duration::from_millis(50)).await;
    set_clock(&app, 200.0).await;
    app
}

/// Places an order for user 42 and answers its id.
async fn placed_order(app: &TestApp) -> String {
    let f = fixture(42);
    let key = format!("k{}", fastrand::u64(..));
    let payload = place(app, &app.token(42), input(&f, &[(f.items[0], 1)]), &key).await;
    payload["order"]["id"].as_str().expect("an id").to_owned()
}

async fn connect(app: &TestApp, origin: Option<&str>) -> Result<Socket, tungstenite::Error> {
    connect_to(app.addr, origin).await
}

pub(crate) async fn connect_to(addr: std::net::SocketAddr, origin: Option<&str>) -> Result<Socket, tungstenite::Error> {
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// The next protocol message (pings skipped); `None` when the socket closed,
/// with the close frame's code in `closed`.
pub(crate) async fn receive(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// Opens a socket signed in as `user` (in `connection_init`) and subscribes
/// to order `id`.
async fn subscribe(app: &TestApp, user: u64, id: &str) -> Socket {
    subscribe_at(app.addr, &app.token(user), id).await
}

async fn subscribe_at(addr: std::net::SocketAddr, token: &str, id: &str) -> Socket {
    let mut socket = connect_to(addr, None).await.expect("connected");
    let token = format!("Bearer {token}");
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": token}}),
    )
    .await;
    assert_eq!(receive(&mut socket).await.unwrap()["type"], "connection_ack");
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}}),
    )
    .await;
    socket
}

/// Every event of subscription "1" until `complete`: the `payload`s.
async fn events(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let message = receive(socket).await.expect("the socket stays open until complete");
        match message["type"].as_str() {
            Some("next") => events.push(message["payload"].clone()),
            Some("complete") => return events,
            Some("error") => panic!("{message}"),
            _ => {}
        }
    }
}

/// The statuses of `events`, checking each is one new state.
fn statuses(events: &[Value]) -> Vec<String> {
    let mut seen: Vec<Value> = Vec::new();
    for event in events {
        assert!(event.get("errors").is_none(), "{event}");
        let order = event["data"]["orderUpdated"].clone();
        assert!(!seen.contains(&order), "a repeat: {order}");
        seen.push(order);
    }
    seen.iter()
        .map(|o| o["status"].as_str().expect("a status").to_owned())
        .collect()
}

fn assert_placed_to_delivered(statuses: &[String]) {
    assert_eq!(statuses.first().map(String::as_str), Some("PLACED"), "{statuses:?}");
    assert_eq!(statuses.last().map(String::as_str), Some("DELIVERED"), "{statuses:?}");
    let rank = |s: &str| {
        ["PLACED", "PREPARING", "ON_THE_WAY", "DELIVERED"]
            .iter()
            .position(|x| *x == s)
    };
    let ranks: Vec<_> = statuses.iter().map(|s| rank(s).expect("a live status")).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "in order: {statuses:?}");
}

#[tokio::test]
async fn a_websocket_subscription_follows_an_order_from_placed_to_delivered() {
    let app = fast_app().await;
    set_clock(&app, 0.0).await;
    let id = placed_order(&app).await;
    let mut socket = subscribe(&app, 42, &id).await;
    let first = receive(&mut socket).await.unwrap();
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["payload"]["data"]["orderUpdated"]["status"], "PLACED");
    set_clock(&app, 200.0).await;
    let mut all = vec![first["payload"].clone()];
    all.extend(events(&mut socket).await);
    assert_placed_to_delivered(&statuses(&all));
}

/// One event of a `graphql-sse` stream.
#[derive(Debug)]
enum SseEvent {
    /// `event: next`, with its answer.
    Next(Value),
    /// `event: complete`.
    Complete,
}

/// Reads the events of an SSE response, skipping keep-alive comments.
struct SseStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    text: String,
}

impl SseStream {
    /// The stream of `response`, after checking it is one.
    fn of(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self {
            body: response.bytes_stream().boxed(),
            text: String::new(),
        }
    }

    /// The next event; `None` when the stream ended.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let event: String = self.text.drain(..end + 2).collect();
                if event.starts_with("event: complete") {
                    return Some(SseEvent::Complete);
                }
                if let Some(data) = event.strip_prefix("event: next\ndata: ") {
                    return Some(SseEvent::Next(serde_json::from_str(data.trim()).unwrap()));
                }
            }
            let chunk = self.body.next().await?.unwrap();
            self.text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Every event until `complete` (starting the demo's clock after the first),
    /// and that the stream ends right after it.
    async fn until_complete(mut self, app: &TestApp) -> Vec<Value> {
        let mut events = Vec::new();
        while let SseEvent::Next(event) = self.next().await.expect("the stream ends with complete") {
            events.push(event);
            if events.len() == 1 {
                set_clock(app, 200.0).await;
            }
        }
        assert!(self.next().await.is_none(), "nothing after complete");
        events
    }
}

#[tokio::test]
async fn an_sse_subscription_follows_an_order_from_placed_to_delivered() {
    let app = fast_app().await;
    set_clock(&app, 0.0).await;
    let id = placed_order(&app).await;
    let response = app
        .graphql_post(&json!({"query": FOLLOW, "variables": {"id": id}}), Some(&app.token(42)))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let events = SseStream::of(response).until_complete(&app).await;
    assert_placed_to_delivered(&statuses(&events));
}

#[tokio::test]
async fn an_sse_subscription_over_get_with_the_query_in_the_url_follows_an_order() {
    let app = fast_app().await;
    set_clock(&app, 0.0).await;
    let id = placed_order(&app).await;
    let variables = json!({"id": id}).to_string();
    let response = app
        .get("/graphql")
        .query(&[("query", FOLLOW), ("variables", variables.as_str())])
        .header("accept", "text/event-stream")
        .bearer_auth(app.token(42))
        .send()
        .await
        .unwrap();
    let events = SseStream::of(response).until_complete(&app).await;
    assert_placed_to_delivered(&statuses(&events));
}

#[tokio::test]
async fn fifty_subscribers_share_one_poll() {
    let app = spawn_app_with(|c| {
        c.subscriptions.poll_interval = Duration::from_millis(100);
        c.subscriptions.max_connections_per_user = 50;
    })
    .await;
    set_clock(&app, 0.0).await;
    let id = placed_order(&app).await;
    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut socket = subscribe(&app, 42, &id).await;
        assert_eq!(receive(&mut socket).await.unwrap()["type"], "next");
        sockets.push(socket);
    }
    // (A reset would clear the demo's placed orders: count from here instead.)
    let before = app.stats().await.calls("orders GET /orders/{orderId}");
    let started = Instant::now();
    set_clock(&app, 200.0).await;
    for socket in &mut sockets {
        let rest = events(socket).await;
        assert_eq!(rest.last().unwrap()["data"]["orderUpdated"]["status"], "DELIVERED");
    }
    let intervals = started.elapsed().as_millis() as u64 / 100;
    let polls = app.stats().await.calls("orders GET /orders/{orderId}") - before;
    assert!(
        polls <= intervals + 2,
        "{polls} polls in {intervals} intervals for 50 subscribers"
    );
}

#[tokio::test]
async fn another_users_order_is_an_error_even_while_its_owner_follows_it() {
    let app = fast_app().await;
    set_clock(&app, 0.0).await;
    let id = placed_order(&app).await;
    let mut owner = subscribe(&app, 42, &id).await;
    assert_eq!(receive(&mut owner).await.unwrap()["type"], "next");

    let mut other = subscribe(&app, 43, &id).await;
    let message = receive(&mut other).await.unwrap();
    let payload = &message["payload"];
    assert!(payload["data"].is_null() || message["type"] == "error", "{message}");
    let errors = if message["type"] == "error" {
        payload.clone()
    } else {
        payload["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{message}");
    assert!(!message.to_string().contains("PLACED"), "no data leaks: {message}");
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_is_refused() {
    let app = spawn_app_with(|c| c.browser.cors_origins = vec!["https://app.example".to_owned()]).await;
    match connect(&app, Some("https://evil.example")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
    assert!(connect(&app, Some("https://app.example")).await.is_ok());
    let own = format!("http://{}", app.addr);
    assert!(connect(&app, Some(&own)).await.is_ok());
    assert!(connect(&app, None).await.is_ok());
}

#[tokio::test]
async fn connections_past_the_per_user_limit_are_refused() {
    let app = spawn_app_with(|c| c.subscriptions.max_connections_per_user = 1).await;
    let id = placed_order(&app).await;
    let _first = subscribe(&app, 42, &id).await;
    let mut second = connect(&app, None).await.expect("connected");
    let token = format!("Bearer {}", app.token(42));
    send(
        &mut second,
        json!({"type": "connection_init", "payload": {"Authorization": token}}),
    )
    .await;
    assert!(receive(&mut second).await.is_err(), "the second connection is closed");
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1012() {
    let demo = fast_app().await;
    let id = placed_order(&demo).await;
    set_clock(&demo, 0.0).await;
    let mut config = demo.config.clone();
    config.server.shutdown_grace = Duration::from_secs(5);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        delivery_gateway::app::run(&config, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let mut socket = subscribe_at(addr, &demo.token(42), &id).await;
    assert_eq!(receive(&mut socket).await.unwrap()["type"], "next");
    stop.send(()).unwrap();
    assert_eq!(receive(&mut socket).await, Err(Some(1012)));
    run.await.unwrap().unwrap();
}
