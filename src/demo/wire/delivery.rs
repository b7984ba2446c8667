//! Wire types of the per-order services: logistics, pricing, availability,
//! promotions and recommendations, with the two `POST` request bodies.

use serde::{Deserialize, Serialize};

use super::{Location, Money};

/// Call 10's body: `POST /estimates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimatesRequest {
    /// Where to deliver to.
    pub location: Location,
    /// Up to 100 restaurants.
    pub restaurant_ids: Vec<u64>,
}

/// Call 10: one entry of the answer to `POST /estimates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// Which restaurant.
    pub restaurant_id: u64,
    /// Minutes from ordering to the door.
    pub minutes: u32,
    /// Distance from the restaurant to the location, in metres.
    pub distance_meters: u32,
}

/// Call 11: one entry of `GET /fees?areaId=&restaurantIds=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    /// Which restaurant.
    pub restaurant_id: u64,
    /// What delivery to the area costs.
    pub delivery_fee: Money,
    /// The smallest order the restaurant delivers to the area.
    pub minimum_order: Money,
}

/// Call 12: one entry of `GET /availability?restaurantIds=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// Which restaurant.
    pub restaurant_id: u64,
    /// Whether it takes orders now.
    pub open: bool,
    /// When `open` flips next, RFC 3339 UTC.
    pub next_change_at: String,
}

/// One offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    /// Offer id (public offers `restaurant_id * 10 + k`, personal ones above 10⁹).
    pub id: u64,
    /// Headline.
    pub title: String,
    /// Discount, 5 to 30 percent.
    pub discount_percent: u32,
}

/// Call 13: one entry of `GET /promotions?restaurantIds=&userId=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestaurantPromotions {
    /// Which restaurant.
    pub restaurant_id: u64,
    /// Its public offers, then the user's personal ones (may be empty).
    pub promotions: Vec<Promotion>,
}

/// Call 16's body: `POST /rank`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankRequest {
    /// For whom (must match `X-User-Id`).
    pub user_id: u64,
    /// Up to 500 candidates.
    pub restaurant_ids: Vec<u64>,
    /// Restaurants the user ordered from recently (optional).
    #[serde(default)]
    pub recent_restaurant_ids: Vec<u64>,
}

/// Call 16: one entry of the answer to `POST /rank`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedRestaurant {
    /// Which restaurant.
    pub restaurant_id: u64,
    /// 0.0 to 1.0, higher is better.
    pub score: f64,
}
