//! Wire types of the per-user services: users, orders, wallet and loyalty (all 🔒).

use serde::{Deserialize, Serialize};

use super::{Location, Money};

/// Call 1: `GET /users/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id (1..=100,000 in the demo).
    pub id: u64,
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// BCP 47 locale, e.g. `de-DE`.
    pub locale: String,
    /// The day the user signed up, `YYYY-MM-DD`.
    pub member_since: String,
}

/// Call 2: one entry of `GET /users/{id}/addresses`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Address id, unique across users.
    pub id: u64,
    /// The user's label: `Home`, `Work`, ...
    pub label: String,
    /// Street and house number.
    pub street: String,
    /// City name.
    pub city: String,
    /// Five-digit German postcode.
    pub postcode: String,
    /// Where the address is.
    pub location: Location,
}

/// Call 3: `GET /users/{id}/favorites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Favorites {
    /// Favourite restaurants, in the user's order.
    pub restaurant_ids: Vec<u64>,
}

/// The life-cycle state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted, not yet being prepared.
    Placed,
    /// In the restaurant's kitchen.
    Preparing,
    /// With a courier.
    OnTheWay,
    /// Handed over.
    Delivered,
    /// Cancelled before delivery.
    Cancelled,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The menu item ordered (an id of the restaurant's menu).
    pub menu_item_id: u64,
    /// The item's name at the time of ordering.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// Price of one.
    pub unit_price: Money,
}

/// An order (calls 4, 17, 18 and 19).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Order id, unique across users: `user_id * 100 + k` for generated orders,
    /// 20,000,001 up for orders placed through call 18.
    pub id: u64,
    /// Who ordered.
    pub user_id: u64,
    /// Where from.
    pub restaurant_id: u64,
    /// When, RFC 3339 UTC.
    pub placed_at: String,
    /// Current state.
    pub status: OrderStatus,
    /// What was ordered.
    pub items: Vec<OrderItem>,
    /// Sum of `quantity * unitPrice` over the items.
    pub total: Money,
    /// Where the order is now.
    pub tracking: Tracking,
}

/// An order's live state: `{"etaMinutes", "courier", "updatedAt", "version"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracking {
    /// Minutes until delivery: 35 at placement, one less each full minute after it,
    /// `0` once delivered, `null` when cancelled.
    pub eta_minutes: Option<u32>,
    /// The courier, only while the order is `ON_THE_WAY`.
    pub courier: Option<Courier>,
    /// When the state last changed (demo clock), RFC 3339 UTC with milliseconds.
    pub updated_at: String,
    /// 1 at placement, one more at every change of status, eta or courier location.
    pub version: u64,
}

/// The courier carrying an order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Courier {
    /// Where the courier is.
    pub location: Location,
}

/// Call 18's body: `POST /orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// Who orders (must be the `X-User-Id`).
    pub user_id: u64,
    /// Where from.
    pub restaurant_id: u64,
    /// Where to: one of the user's addresses.
    pub address_id: u64,
    /// What: 1–50 lines.
    pub items: Vec<PlaceOrderLine>,
}

/// One line of call 18's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderLine {
    /// An item of the restaurant's menu.
    pub menu_item_id: u64,
    /// How many (1–20 are possible; any integer is well-formed).
    pub quantity: i64,
}

/// Call 4: `GET /orders?userId=&limit=&before=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersPage {
    /// One page of orders, newest first.
    pub orders: Vec<Order>,
    /// How many orders the user has in all.
    pub total: u64,
}

/// Call 14: one entry of `GET /users/{id}/vouchers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Voucher {
    /// The code to redeem.
    pub code: String,
    /// What it is worth.
    pub value: Money,
    /// When it lapses, RFC 3339 UTC.
    pub expires_at: String,
}

/// A loyalty tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    /// Under 2,000 points.
    Bronze,
    /// 2,000 to 7,999 points.
    Silver,
    /// 8,000 points or more.
    Gold,
}

/// Call 15: `GET /members/{userId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Loyalty {
    /// Points collected.
    pub points: u64,
    /// The tier those points earn.
    pub tier: Tier,
}
