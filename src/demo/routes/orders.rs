//! The orders service, all 🔒: a user's orders (call 4), one order with its
//! tracking (17), placing an order (18) and cancelling it (19).
//!
//! Generated orders come from [`data`] and never change; placed orders live in the
//! demo's [store](crate::demo::store) and move on the demo clock. Placed ids
//! (20,000,001 up) are above every generated id, so "newest first" and `before`
//! paging treat both alike, placed orders first.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;

use crate::demo::Demo;
use crate::demo::access::{named_user, require_user};
use crate::demo::batch::{Params, path_id};
use crate::demo::data;
use crate::demo::idempotency::{Begin, Outcome, Scope, request_key};
use crate::demo::reply::{ApiError, PRIVATE, Reply, private};
use crate::demo::store::{CancelRefused, FIRST_PLACED_ORDER_ID, Placed};
use crate::demo::wire::{Location, Order, OrderItem, OrderStatus, OrdersPage, PlaceOrderRequest};

/// Orders per page when `limit` is not given, and the most a page may hold.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;
/// Lines an order may have, and how many of one line.
const MAX_LINES: usize = 50;
const QUANTITIES: std::ops::RangeInclusive<i64> = 1..=20;

/// A path's `{orderId}`, or axum's reason it could not be read.
type IdPath = Result<Path<String>, PathRejection>;

/// `/orders?userId=&limit=&before=` and `POST /orders`, `/orders/{orderId}`,
/// `POST /orders/{orderId}/cancel`.
pub(super) fn orders() -> Router<Demo> {
    Router::new()
        .route("/orders", get(order_page).post(place))
        .route("/orders/{orderId}", get(order))
        .route("/orders/{orderId}/cancel", post(cancel))
}

fn unknown_order() -> ApiError {
    ApiError::NotFound("unknown order".to_owned())
}

fn order_id(path: IdPath) -> Result<u64, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::bad(e.body_text()))?;
    path_id(&raw)
}

/// Call 4: the user's placed orders (newest first), then the generated ones.
async fn order_page(State(demo): State<Demo>, RawQuery(query): RawQuery, headers: HeaderMap) -> Reply {
    let params = Params::parse(query.as_deref());
    let user_id = path_id(params.required("userId")?)?;
    require_user(&headers, user_id)?;
    let limit = params.number::<usize>("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let before = params.number::<u64>("before")?;
    if data::user(demo.seed(), user_id).is_none() {
        return Err(ApiError::NotFound("unknown user".to_owned()));
    }
    let (placed, placed_total) = demo.order_store().page(user_id, before, limit);
    let now = demo.clock_now_ms();
    let mut orders: Vec<Order> = placed.iter().map(|p| p.at(now)).collect();
    let generated = data::orders(demo.seed(), user_id);
    let total = (placed_total + generated.len()) as u64;
    let room = limit - orders.len();
    orders.extend(
        generated
            .into_iter()
            .filter(|o| before.is_none_or(|b| o.id < b))
            .take(room),
    );
    Ok(private(OrdersPage { orders, total }))
}

/// The user's order `id` as it stands now, placed or generated.
fn find(demo: &Demo, user: u64, id: u64) -> Option<Order> {
    if id >= FIRST_PLACED_ORDER_ID {
        let placed = demo.order_store().get(user, id)?;
        Some(placed.at(demo.clock_now_ms()))
    } else {
        data::order(demo.seed(), id).filter(|o| o.user_id == user)
    }
}

/// Call 17: one order with a strong `ETag` of its version; `304` when
/// `If-None-Match` names it.
async fn order(State(demo): State<Demo>, path: IdPath, headers: HeaderMap) -> Reply {
    let user = named_user(&headers)?;
    let id = order_id(path)?;
    let order = find(&demo, user, id).ok_or_else(unknown_order)?;
    let version = order.tracking.version;
    let etag = HeaderValue::from_str(&format!("\"{version}\"")).map_err(|_| unknown_order())?;
    let mut response = if names_version(&headers, version) {
        (StatusCode::NOT_MODIFIED, [(header::CACHE_CONTROL, PRIVATE)]).into_response()
    } else {
        private(order)
    };
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// Whether `If-None-Match` (one tag, a list, or `*`, over one or more headers)
/// names `version`. Weak comparison, as RFC 9110 asks for `If-None-Match`.
fn names_version(headers: &HeaderMap, version: u64) -> bool {
    let current = format!("\"{version}\"");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

/// Runs `handle` under the request's idempotency key for `route`, or answers a
/// repeat, a mismatch or a request in flight.
fn idempotent(
    demo: &Demo,
    user: u64,
    route: String,
    headers: &HeaderMap,
    body: Value,
    handle: impl FnOnce() -> Outcome,
) -> Reply {
    let key = request_key(headers)?;
    match demo
        .idempotency()
        .begin(Scope::new(user, route, key), body, Instant::now())
    {
        Begin::Run(ticket) => Ok(ticket.finish(handle())),
        Begin::Replay(outcome) => Ok(outcome.into_response()),
        Begin::Mismatch => Err(ApiError::Conflict(
            "this Idempotency-Key was used with another body".to_owned(),
        )),
        Begin::InProgress => Err(ApiError::InProgress),
    }
}

/// Call 18: place an order (`201`), under an idempotency key.
async fn place(State(demo): State<Demo>, headers: HeaderMap, body: Bytes) -> Reply {
    let user = named_user(&headers)?;
    request_key(&headers)?;
    let json: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid body: {e}")))?;
    idempotent(&demo, user, "POST /orders".to_owned(), &headers, json.clone(), || {
        Outcome::of(place_order(&demo, user, json).map(|order| (StatusCode::CREATED, order)))
    })
}

fn place_order(demo: &Demo, user: u64, json: Value) -> Result<Order, ApiError> {
    let request: PlaceOrderRequest =
        serde_json::from_value(json).map_err(|e| ApiError::bad(format!("invalid order: {e}")))?;
    if request.user_id != user {
        return Err(ApiError::Forbidden);
    }
    let checked = check_order(demo.seed(), &request)?;
    let now = demo.clock_now_ms();
    let total = checked
        .items
        .iter()
        .map(|i| i64::from(i.quantity) * i.unit_price.amount)
        .sum();
    let placed = demo.order_store().place(|id| {
        let state = data::live_state(0, None, now, checked.from, checked.to);
        Placed {
            order: Order {
                id,
                user_id: user,
                restaurant_id: request.restaurant_id,
                placed_at: data::timestamp_ms(now),
                status: OrderStatus::Placed,
                items: checked.items,
                total: crate::demo::wire::Money::eur(total),
                tracking: state.tracking,
            },
            placed_ms: now,
            cancelled_after_ms: None,
            from: checked.from,
            to: checked.to,
        }
    });
    tracing::debug!(id = placed.order.id, user, "demo order placed");
    Ok(placed.at(now))
}

/// A possible order: its lines priced from the menu, where from and where to.
struct Checked {
    items: Vec<OrderItem>,
    from: Location,
    to: Location,
}

/// Whether the order is possible; a 422 naming the field when it is not, checked
/// in the contract's order: restaurant, address, lines, then each line's item and
/// quantity.
fn check_order(seed: u64, request: &PlaceOrderRequest) -> Result<Checked, ApiError> {
    let restaurant = request.restaurant_id;
    let availability = data::availability(seed, restaurant)
        .ok_or_else(|| ApiError::unprocessable("restaurantId", "unknown restaurant"))?;
    if !availability.open {
        return Err(ApiError::unprocessable("restaurantId", "the restaurant is closed now"));
    }
    let address = data::addresses(seed, request.user_id)
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.id == request.address_id)
        .ok_or_else(|| ApiError::unprocessable("addressId", "not one of the user's addresses"))?;
    let to = address.location;
    let served = data::area_lookup(seed, to.lat, to.lng)
        .and_then(|area| data::area_restaurants(seed, &area.area_id))
        .is_some_and(|list| list.iter().any(|r| r.restaurant_id == restaurant));
    if !served {
        return Err(ApiError::unprocessable(
            "addressId",
            "the address is outside the restaurant's delivery area",
        ));
    }
    if request.items.is_empty() || request.items.len() > MAX_LINES {
        return Err(ApiError::unprocessable(
            "items",
            format!("an order has 1 to {MAX_LINES} lines"),
        ));
    }
    let menu = data::menu(seed, restaurant).unwrap_or_else(|| crate::demo::wire::Menu {
        restaurant_id: restaurant,
        categories: Vec::new(),
    });
    let mut items = Vec::with_capacity(request.items.len());
    for (i, line) in request.items.iter().enumerate() {
        let item = menu
            .categories
            .iter()
            .flat_map(|c| &c.items)
            .find(|item| item.id == line.menu_item_id)
            .ok_or_else(|| {
                ApiError::unprocessable(format!("items[{i}].menuItemId"), "not on this restaurant's menu")
            })?;
        let quantity = u32::try_from(line.quantity)
            .ok()
            .filter(|_| QUANTITIES.contains(&line.quantity))
            .ok_or_else(|| ApiError::unprocessable(format!("items[{i}].quantity"), "a quantity is 1 to 20"))?;
        items.push(OrderItem {
            menu_item_id: item.id,
            name: item.name.clone(),
            quantity,
            unit_price: item.price.clone(),
        });
    }
    Ok(Checked {
        items,
        from: data::restaurant_location(seed, restaurant),
        to,
    })
}

/// Call 19: cancel a placed order still `PLACED` (`200`), under an idempotency key.
async fn cancel(State(demo): State<Demo>, path: IdPath, headers: HeaderMap, body: Bytes) -> Reply {
    let user = named_user(&headers)?;
    request_key(&headers)?;
    let id = order_id(path)?;
    let json: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid body: {e}")))?
    };
    let route = format!("POST /orders/{id}/cancel");
    idempotent(&demo, user, route, &headers, json, || {
        Outcome::of(cancel_order(&demo, user, id).map(|order| (StatusCode::OK, order)))
    })
}

fn cancel_order(demo: &Demo, user: u64, id: u64) -> Result<Order, ApiError> {
    if id < FIRST_PLACED_ORDER_ID {
        return match data::order(demo.seed(), id).filter(|o| o.user_id == user) {
            Some(_) => Err(ApiError::Conflict(
                "only an order placed through POST /orders can be cancelled".to_owned(),
            )),
            None => Err(unknown_order()),
        };
    }
    let now = demo.clock_now_ms();
    match demo.order_store().cancel(user, id, now) {
        Ok(placed) => Ok(placed.at(now)),
        Err(CancelRefused::Unknown) => Err(unknown_order()),
        Err(CancelRefused::NotPlaced) => Err(ApiError::Conflict("only a PLACED order can be cancelled".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_takes_one_tag_a_list_or_a_star() {
        let matches = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).expect("a value"));
            names_version(&headers, 7)
        };
        for yes in ["\"7\"", "\"3\", \"7\"", "*", "W/\"7\"", " \"1\",\"7\" "] {
            assert!(matches(yes), "{yes}");
        }
        for no in ["\"8\"", "7", "\"17\"", "\"3\", \"8\"", ""] {
            assert!(!matches(no), "{no}");
        }
        assert!(!names_version(&HeaderMap::new(), 7));
    }
}
