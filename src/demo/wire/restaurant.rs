//! Wire types of the catalogue services: geo, restaurants, menus and ratings.

use serde::{Deserialize, Serialize};

use super::{Location, Money};

/// Call 5: `GET /areas/lookup?lat=&lng=`, the delivery area around a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Area {
    /// Area id such as `ber-06`.
    pub area_id: String,
    /// City name.
    pub city: String,
    /// District name.
    pub name: String,
}

/// One restaurant serving an area, with its distance from the area's centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaRestaurant {
    /// The restaurant.
    pub restaurant_id: u64,
    /// Great-circle distance from the area's centre, in metres.
    pub distance_meters: u32,
}

/// Call 6: `GET /areas/{areaId}/restaurants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaRestaurants {
    /// The restaurants serving the area, nearest first.
    pub restaurants: Vec<AreaRestaurant>,
}

/// A street address without coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostalAddress {
    /// Street and house number.
    pub street: String,
    /// City name.
    pub city: String,
    /// Five-digit postcode.
    pub postcode: String,
}

/// Call 7: one entry of `GET /restaurants?ids=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restaurant {
    /// Restaurant id, 1..=5,000.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// One to three cuisines.
    pub cuisines: Vec<String>,
    /// 1 (cheap) to 4 (expensive).
    pub price_level: u8,
    /// Where it is.
    pub address: PostalAddress,
    /// Its coordinates (inside its home area).
    pub location: Location,
    /// A picture.
    pub image_url: String,
}

/// One dish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuItem {
    /// Item id, unique across menus (`restaurant_id * 100 + j`).
    pub id: u64,
    /// Dish name.
    pub name: String,
    /// One sentence about it.
    pub description: String,
    /// Its price.
    pub price: Money,
    /// Whether it is vegetarian.
    pub vegetarian: bool,
}

/// A section of a menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuCategory {
    /// Section title, e.g. `Mains`.
    pub name: String,
    /// Its dishes.
    pub items: Vec<MenuItem>,
}

/// Call 8: one entry of `GET /menus?restaurantIds=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Menu {
    /// Whose menu.
    pub restaurant_id: u64,
    /// Two to six sections with 10 to 60 items in all.
    pub categories: Vec<MenuCategory>,
}

/// Call 9: one entry of `GET /ratings?restaurantIds=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// Which restaurant.
    pub restaurant_id: u64,
    /// Average stars, 1.0 to 5.0 with one decimal.
    pub average: f64,
    /// How many ratings.
    pub count: u32,
}
