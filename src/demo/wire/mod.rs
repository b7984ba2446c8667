//! The demo's wire types: the JSON shapes of `upstreams.md`, field for field.
//!
//! Every type serializes to exactly the contract's `camelCase` JSON, so the gateway's
//! tests can compute an expected answer with [`super::data`] and compare it with what
//! the gateway returned. These types hold no behaviour beyond small constructors.

mod delivery;
mod restaurant;
mod user;

pub use delivery::{
    Availability, Estimate, EstimatesRequest, Fees, Promotion, RankRequest, RankedRestaurant, RestaurantPromotions,
};
pub use restaurant::{
    Area, AreaRestaurant, AreaRestaurants, Menu, MenuCategory, MenuItem, PostalAddress, Rating, Restaurant,
};
pub use user::{
    Address, Courier, Favorites, Loyalty, Order, OrderItem, OrderStatus, OrdersPage, PlaceOrderLine, PlaceOrderRequest,
    Tier, Tracking, User, Voucher,
};

use serde::{Deserialize, Serialize};

/// The only currency the demo uses.
pub const CURRENCY: &str = "EUR";

/// An amount of money in minor units: `{"amount": 1250, "currency": "EUR"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    /// The amount in cents.
    pub amount: i64,
    /// ISO 4217 currency code (always `EUR` in the demo).
    pub currency: String,
}

impl Money {
    /// An amount in euro cents.
    pub fn eur(cents: i64) -> Money {
        Money {
            amount: cents,
            currency: CURRENCY.to_owned(),
        }
    }
}

/// A point on the map, in degrees (WGS 84): `{"lat": 52.52, "lng": 13.405}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Latitude in degrees, -90 to 90.
    pub lat: f64,
    /// Longitude in degrees, -180 to 180.
    pub lng: f64,
}

impl Location {
    /// Whether both coordinates are finite and within the globe's ranges.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lng.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lng)
    }
}

/// The body of every error answer: `{"error": "<message>"}`, plus `"field"` on a
/// `422` of call 18.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// The request field that made it impossible (`items[0].quantity`), on `422`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
