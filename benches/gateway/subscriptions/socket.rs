//! One WebSocket connection of the scenario (`graphql-transport-ws`): sign in as its
//! user, subscribe to each of the user's orders `per_order` times, each order at
//! its own instant of a schedule, and time every event against the demo instant of
//! the change it reports.

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

use delivery_gateway::demo::data::{COURIER_STEP_MS, DELIVERED_AFTER_MS, ON_THE_WAY_AFTER_MS, PREPARING_AFTER_MS};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{json, value::RawValue};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue};

use super::{clock::ClockMap, orders::Placed};

/// What each subscription asks for: what an order-tracking screen shows.
const FOLLOW: &str = "subscription Follow($id: ID!) { orderUpdated(id: $id) { id status tracking { etaMinutes \
                      courier { location { lat lng } } updatedAt } } }";
/// Error messages kept per connection.
const KEPT_ERRORS: usize = 3;
/// Bytes of an error kept in its message.
const SNIPPET: usize = 300;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What one connection does.
pub struct Plan {
    /// `ws://<gateway>/graphql`.
    pub url: String,
    /// Its user's token.
    pub token: String,
    /// Its user's orders.
    pub orders: Vec<Placed>,
    /// Subscriptions to each order.
    pub per_order: usize,
    /// When to subscribe to the first order.
    pub first_at: Instant,
    /// Then to each next one after this.
    pub every: Duration,
    /// The demo clock, mapped onto this process's.
    pub map: ClockMap,
}

/// One event after a subscription's first.
pub struct Event {
    /// When it was read from the socket.
    pub arrived: Instant,
    /// Milliseconds from the change it reports (its `updatedAt`) to `arrived`.
    pub delay_ms: f64,
    /// Changes of the schedule between the previous event's and this one's.
    pub skipped: u64,
}

/// What one connection saw.
#[derive(Default)]
pub struct Recorded {
    /// Every event after each subscription's first.
    pub events: Vec<Event>,
    /// Subscriptions that ended (`complete`, `error`, or the socket closing).
    pub ended: u64,
    /// The first few error messages.
    pub errors: Vec<String>,
}

impl Recorded {
    /// Keeps `message` if there is room.
    fn error(&mut self, message: String) {
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push(message);
        }
    }
}

/// A message of the server, the parts read here.
#[derive(Deserialize)]
struct Incoming<'a> {
    /// `next`, `complete`, `error`, `ping`, ...
    #[serde(rename = "type")]
    kind: &'a str,
    /// The subscription's id.
    id: Option<&'a str>,
    /// `next`: the answer; `error`: the errors.
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

/// A `next` payload, the parts read here.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    data: Option<Data<'a>>,
    #[serde(borrow)]
    errors: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "orderUpdated", borrow)]
    order_updated: Option<OrderEvent<'a>>,
}

#[derive(Deserialize)]
struct OrderEvent<'a> {
    #[serde(borrow)]
    tracking: Option<Tracking<'a>>,
}

#[derive(Deserialize)]
struct Tracking<'a> {
    #[serde(rename = "updatedAt")]
    updated_at: &'a str,
}

/// Runs one connection: opens it, subscribes on schedule, reports on `ready` once
/// every subscription has had its first event (or the error that prevented it),
/// then records events until `stop`.
pub async fn follow(plan: Plan, ready: mpsc::Sender<Result<(), String>>, mut stop: watch::Receiver<bool>) -> Recorded {
    let mut recorded = Recorded::default();
    let mut ready = Some(ready);
    let mut socket = match open(&plan).await {
        Ok(socket) => socket,
        Err(message) => {
            refuse(&mut ready, &message).await;
            recorded.error(message);
            return recorded;
        }
    };
    let subscriptions = plan.orders.len() * plan.per_order;
    // The `updatedAt` of each subscription's latest event, as milliseconds after
    // its order's placement.
    let mut latest: Vec<Option<i64>> = vec![None; subscriptions];
    let mut waiting = subscriptions;
    // The next order to subscribe to.
    let mut next = 0;
    loop {
        let due = (next < plan.orders.len()).then(|| plan.first_at + plan.every * next as u32);
        let message = tokio::select! {
            message = socket.next() => Some(message),
            () = at(due) => None,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let Some(message) = message else {
            // The next order is due.
            if let Err(message) = subscribe(&mut socket, &plan, next).await {
                recorded.error(message);
                break;
            }
            next += 1;
            continue;
        };
        let arrived = Instant::now();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                recorded.error(format!("the gateway closed the socket: {frame:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                recorded.error(format!("the socket failed: {e}"));
                break;
            }
            None => {
                recorded.error("the socket ended".to_owned());
                break;
            }
        };
        let Ok(incoming) = serde_json::from_str::<Incoming>(&text) else {
            recorded.error(format!("not a protocol message: {}", snippet(&text)));
            continue;
        };
        let index = incoming
            .id
            .and_then(|id| id.parse::<usize>().ok())
            .filter(|&i| i < subscriptions);
        match (incoming.kind, index) {
            ("next", Some(index)) => {
                let order = plan.orders[index / plan.per_order];
                let updated_ms = match updated_at(incoming.payload) {
                    Ok(ms) => ms,
                    Err(message) => {
                        refuse(&mut ready, &message).await;
                        recorded.error(message);
                        continue;
                    }
                };
                let offset = updated_ms - order.placed_ms;
                match latest[index].replace(offset) {
                    None => {
                        waiting -= 1;
                        if waiting == 0
                            && let Some(ready) = ready.take()
                        {
                            let _ = ready.send(Ok(())).await;
                        }
                    }
                    Some(previous) => recorded.events.push(Event {
                        arrived,
                        delay_ms: plan.map.delay_ms(arrived, updated_ms),
                        skipped: changes_between(previous, offset),
                    }),
                }
            }
            ("complete", Some(_)) => {
                recorded.ended += 1;
                let message = "a subscription completed".to_owned();
                refuse(&mut ready, &message).await;
                recorded.error(message);
            }
            ("error", _) => {
                recorded.ended += 1;
                let message = format!("error: {}", snippet(incoming.payload.map_or("", |p| p.get())));
                refuse(&mut ready, &message).await;
                recorded.error(message);
            }
            ("ping", _) => {
                let pong = json!({"type": "pong"}).to_string();
                if socket.send(Message::Text(pong.into())).await.is_err() {
                    recorded.error("the socket failed".to_owned());
                    break;
                }
            }
            _ => {}
        }
    }
    let message = recorded.errors.first().cloned().unwrap_or_default();
    refuse(&mut ready, &message).await;
    let _ = socket.close(None).await;
    recorded
}

/// While the subscriptions are opening (`ready` not yet used), reports `message`
/// as the reason they could not all open.
async fn refuse(ready: &mut Option<mpsc::Sender<Result<(), String>>>, message: &str) {
    if let Some(ready) = ready.take() {
        let _ = ready.send(Err(message.to_owned())).await;
    }
}

/// Connects to the gateway and signs in.
async fn open(plan: &Plan) -> Result<Socket, String> {
    let mut request = plan.url.as_str().into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("connecting to {}: {e}", plan.url))?;
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", plan.token)}});
    send(&mut socket, init.to_string()).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"connection_ack\"") => break,
            Some(Ok(Message::Text(text))) => return Err(format!("before connection_ack: {}", snippet(&text))),
            Some(Ok(Message::Close(frame))) => return Err(format!("closed at connection_init: {frame:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("at connection_init: {e}")),
            None => return Err("the socket ended at connection_init".to_owned()),
        }
    }
    Ok(socket)
}

/// Resolves at `due`, or never.
async fn at(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// Subscribes `per_order` times to the `order`th of the plan's orders; the
/// subscriptions' ids are their indexes.
async fn subscribe(socket: &mut Socket, plan: &Plan, order: usize) -> Result<(), String> {
    let id = plan.orders[order].id.to_string();
    for index in order * plan.per_order..(order + 1) * plan.per_order {
        let subscribe = json!({
            "id": index.to_string(),
            "type": "subscribe",
            "payload": {"query": FOLLOW, "variables": {"id": id}},
        });
        socket
            .feed(Message::Text(subscribe.to_string().into()))
            .await
            .map_err(|e| format!("subscribing: {e}"))?;
    }
    socket.flush().await.map_err(|e| format!("subscribing: {e}"))
}

/// Sends one text message.
async fn send(socket: &mut Socket, text: String) -> Result<(), String> {
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("sending: {e}"))
}

/// The `updatedAt` of a `next` payload, Unix milliseconds; an error message for a
/// payload with errors or without it.
fn updated_at(payload: Option<&RawValue>) -> Result<i64, String> {
    let raw = payload.map_or("", RawValue::get);
    let answer: Answer = serde_json::from_str(raw).map_err(|_| format!("not an answer: {}", snippet(raw)))?;
    if let Some(errors) = answer.errors {
        return Err(format!("errors: {}", snippet(errors.get())));
    }
    answer
        .data
        .and_then(|d| d.order_updated)
        .and_then(|o| o.tracking)
        .and_then(|t| super::clock::unix_ms(t.updated_at))
        .ok_or_else(|| format!("no tracking.updatedAt: {}", snippet(raw)))
}

/// The instants (milliseconds after placement) at which a placed order changes:
/// the status changes, the eta's minutes and the courier's steps
/// (`docs/upstreams.md`, calls 17-21).
static SCHEDULE: LazyLock<Vec<i64>> = LazyLock::new(|| {
    let mut schedule = vec![PREPARING_AFTER_MS, DELIVERED_AFTER_MS];
    schedule.extend((1..).map(|m| m * 60_000).take_while(|&t| t < DELIVERED_AFTER_MS));
    schedule.extend((ON_THE_WAY_AFTER_MS..DELIVERED_AFTER_MS).step_by(COURIER_STEP_MS as usize));
    schedule.sort_unstable();
    schedule.dedup();
    schedule
});

/// How many changes of the [`SCHEDULE`] fall strictly between `from` and `to`.
fn changes_between(from: i64, to: i64) -> u64 {
    SCHEDULE.iter().filter(|&&t| from < t && t < to).count() as u64
}

/// The start of `text`, for a message.
fn snippet(text: &str) -> String {
    let mut end = text.len().min(SNIPPET);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
