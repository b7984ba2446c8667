//! The contract's records, as the gateway reads them.
//!
//! Field names follow the contract (`camelCase` on the wire). Ids are newtypes so a
//! restaurant id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

pub use crate::contract::{AddressId, AreaId, MenuItemId, OrderId, PromotionId, RestaurantId, UserId};

/// An amount of money in minor units (cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units, e.g. 1250 for 12.50.
    pub amount: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
}

/// A point on the map (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lng: f64,
}

/// A restaurant's postal address.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostalAddress {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postcode.
    pub postcode: String,
}

/// Call 7: a restaurant's master data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restaurant {
    /// Its id.
    pub id: RestaurantId,
    /// Display name.
    pub name: String,
    /// Cuisines, e.g. `["italian", "pizza"]`.
    pub cuisines: Vec<String>,
    /// 1 (cheap) to 4 (expensive).
    pub price_level: u8,
    /// Postal address.
    pub address: PostalAddress,
    /// Where it is.
    pub location: Location,
    /// A picture.
    pub image_url: String,
}

/// Call 8: a restaurant's menu.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Menu {
    /// The restaurant it belongs to.
    pub restaurant_id: RestaurantId,
    /// Sections of the menu, in display order.
    pub categories: Vec<MenuCategory>,
}

/// A section of a menu.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MenuCategory {
    /// E.g. "Starters".
    pub name: String,
    /// The dishes in it.
    pub items: Vec<MenuItem>,
}

/// A dish.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MenuItem {
    /// Its id.
    pub id: MenuItemId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price.
    pub price: Money,
    /// Whether it is vegetarian.
    pub vegetarian: bool,
}

/// Call 9: a restaurant's rating.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// 1.0 to 5.0.
    pub average: f64,
    /// Number of ratings.
    pub count: u32,
}

/// Call 10: a delivery estimate from one location.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// Minutes until delivery.
    pub minutes: u32,
    /// Distance to the location.
    pub distance_meters: u32,
}

/// Call 11: what delivery costs in one area.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// Delivery fee.
    pub delivery_fee: Money,
    /// Minimum order value.
    pub minimum_order: Money,
}

/// Call 12: whether a restaurant is open.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// Open now.
    pub open: bool,
    /// When `open` next changes.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_change_at: Option<OffsetDateTime>,
}

/// Call 13: a restaurant's promotions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotions {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// Its promotions (for a signed-in user, including personal offers).
    pub promotions: Vec<Promotion>,
}

/// One promotion.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    /// Its id.
    pub id: PromotionId,
    /// What it says.
    pub title: String,
    /// Discount, percent.
    pub discount_percent: u32,
}

/// Call 1: a user's profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// BCP 47 locale, e.g. `de-DE`.
    pub locale: String,
    /// When they signed up.
    pub member_since: Date,
}

/// Call 2: one of a user's delivery addresses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Address {
    /// Its id.
    pub id: AddressId,
    /// E.g. "Home".
    pub label: String,
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postcode.
    pub postcode: String,
    /// Where it is.
    pub location: Location,
}

/// Call 4: one page of a user's orders.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrdersPage {
    /// Newest first.
    pub orders: Vec<Order>,
    /// The user's total number of orders.
    pub total: u32,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Who placed it.
    pub user_id: UserId,
    /// Where from.
    pub restaurant_id: RestaurantId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// What was ordered.
    pub items: Vec<OrderItem>,
    /// What it cost.
    pub total: Money,
    /// Where it is on its way (calls 4, 17, 18, 19); absent from an upstream
    /// that predates calls 17-21.
    #[serde(default)]
    pub tracking: Option<Tracking>,
}

impl Order {
    /// Whether the order can no longer change (`DELIVERED` or `CANCELLED`).
    pub fn is_final(&self) -> bool {
        matches!(self.status, OrderStatus::Delivered | OrderStatus::Cancelled)
    }

    /// Its version (call 17's `ETag`), 0 when it has no tracking.
    pub fn version(&self) -> u64 {
        self.tracking.as_ref().map_or(0, |t| t.version)
    }
}

/// Where an order is on its way.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracking {
    /// Minutes until delivery; `0` once delivered, `None` when cancelled.
    pub eta_minutes: Option<u32>,
    /// The courier, only while the order is on its way.
    pub courier: Option<Courier>,
    /// When the state last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Grows by one with every change; call 17's `ETag` quotes it.
    pub version: u64,
}

/// The courier carrying an order.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Courier {
    /// Where the courier is.
    pub location: Location,
}

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed, not yet accepted.
    Placed,
    /// Being prepared.
    Preparing,
    /// On its way.
    OnTheWay,
    /// Delivered.
    Delivered,
    /// Cancelled.
    Cancelled,
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The dish.
    pub menu_item_id: MenuItemId,
    /// Its name when ordered.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// Price of one when ordered.
    pub unit_price: Money,
}

/// Call 5: the delivery area around a point.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Area {
    /// Its id.
    pub area_id: AreaId,
    /// The city it is in.
    pub city: String,
    /// Its name.
    pub name: String,
}

/// Call 6: one restaurant that delivers into an area.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaRestaurant {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// Its distance from the area's centre.
    pub distance_meters: u32,
}

/// Call 14: a voucher in a user's wallet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Voucher {
    /// The code to redeem.
    pub code: String,
    /// What it is worth.
    pub value: Money,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Call 15: a user's standing in the loyalty programme.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Loyalty {
    /// Points collected.
    pub points: u64,
    /// Tier.
    pub tier: LoyaltyTier,
}

/// A loyalty tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoyaltyTier {
    /// Entry tier.
    Bronze,
    /// Middle tier.
    Silver,
    /// Top tier.
    Gold,
}

/// Call 16: how well a restaurant suits a user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    /// The restaurant.
    pub restaurant_id: RestaurantId,
    /// 0.0 to 1.0, higher is better.
    pub score: f64,
}

/// A record of a batch endpoint: it answers for one id, of whatever type the
/// endpoint is asked by (a restaurant's, a dish's, an order's).
///
/// The batch machinery (chunking, the entity cache, per-id outcomes) is generic
/// over it: a batch endpoint keyed by another id is one `BatchGet` and one impl.
pub trait Keyed {
    /// The id the endpoint is asked by and the record names.
    type Id: Clone
        + Eq
        + std::hash::Hash
        + Ord
        + std::fmt::Display
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static;

    /// The JSON field that carries the id, e.g. `restaurantId`: an entry that does
    /// not decode still names its id there, so only that id fails.
    const ID_FIELD: &'static str;

    /// The id this record answers for.
    fn id(&self) -> Self::Id;
}

macro_rules! keyed {
    ($($t:ty => $field:ident as $json:literal: $id:ty),* $(,)?) => {
        $(impl Keyed for $t {
            type Id = $id;
            const ID_FIELD: &'static str = $json;

            fn id(&self) -> $id {
                self.$field
            }
        })*
    };
}

keyed!(
    Restaurant => id as "id": RestaurantId,
    Menu => restaurant_id as "restaurantId": RestaurantId,
    Rating => restaurant_id as "restaurantId": RestaurantId,
    Estimate => restaurant_id as "restaurantId": RestaurantId,
    Fees => restaurant_id as "restaurantId": RestaurantId,
    Availability => restaurant_id as "restaurantId": RestaurantId,
    Promotions => restaurant_id as "restaurantId": RestaurantId,
    Score => restaurant_id as "restaurantId": RestaurantId,
);

impl<T: Keyed> Keyed for std::sync::Arc<T> {
    type Id = T::Id;
    const ID_FIELD: &'static str = T::ID_FIELD;

    fn id(&self) -> T::Id {
        (**self).id()
    }
}
