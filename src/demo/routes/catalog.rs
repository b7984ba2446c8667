//! The shared catalogue: geo (calls 5–6), restaurants (7), menus (8), ratings (9).
//! Public data, cacheable.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;

use super::max_age;
use crate::demo::Demo;
use crate::demo::batch::{Params, answer_order, query_ids};
use crate::demo::data;
use crate::demo::reply::{ApiError, Reply, public};
use crate::demo::wire::AreaRestaurants;

/// Largest batches, per the contract.
const MAX_RESTAURANTS: usize = 100;
const MAX_MENUS: usize = 50;
const MAX_RATINGS: usize = 100;

/// `/areas/lookup?lat=&lng=`, `/areas/{areaId}/restaurants`.
pub(super) fn geo() -> Router<Demo> {
    Router::new()
        .route("/areas/lookup", get(lookup))
        .route("/areas/{areaId}/restaurants", get(area_restaurants))
}

async fn lookup(State(demo): State<Demo>, RawQuery(query): RawQuery) -> Reply {
    let params = Params::parse(query.as_deref());
    let coordinate = |name: &str| -> Result<f64, ApiError> {
        params
            .number::<f64>(name)?
            .filter(|v| v.is_finite())
            .ok_or_else(|| ApiError::bad(format!("{name} must be a finite number")))
    };
    let (lat, lng) = (coordinate("lat")?, coordinate("lng")?);
    data::area_lookup(demo.seed(), lat, lng)
        .map(|area| public(max_age::GEO, area))
        .ok_or_else(|| ApiError::NotFound("no delivery area at this location".to_owned()))
}

async fn area_restaurants(State(demo): State<Demo>, Path(area_id): Path<String>) -> Reply {
    data::area_restaurants(demo.seed(), &area_id)
        .map(|restaurants| public(max_age::GEO, AreaRestaurants { restaurants }))
        .ok_or_else(|| ApiError::NotFound(format!("unknown area {area_id:?}")))
}

/// `/restaurants?ids=`.
pub(super) fn restaurants() -> Router<Demo> {
    Router::new().route("/restaurants", get(restaurant_batch))
}

async fn restaurant_batch(State(demo): State<Demo>, RawQuery(query): RawQuery) -> Reply {
    let ids = query_ids(query.as_deref(), "ids", MAX_RESTAURANTS)?;
    let found = ids.iter().filter_map(|&id| data::restaurant(demo.seed(), id)).collect();
    Ok(public(max_age::CATALOG, answer_order(found, |r| r.id)))
}

/// `/menus?restaurantIds=`.
pub(super) fn menus() -> Router<Demo> {
    Router::new().route("/menus", get(menu_batch))
}

async fn menu_batch(State(demo): State<Demo>, RawQuery(query): RawQuery) -> Reply {
    let ids = query_ids(query.as_deref(), "restaurantIds", MAX_MENUS)?;
    let found = ids.iter().filter_map(|&id| data::menu(demo.seed(), id)).collect();
    Ok(public(max_age::CATALOG, answer_order(found, |m| m.restaurant_id)))
}

/// `/ratings?restaurantIds=`.
pub(super) fn ratings() -> Router<Demo> {
    Router::new().route("/ratings", get(rating_batch))
}

async fn rating_batch(State(demo): State<Demo>, RawQuery(query): RawQuery) -> Reply {
    let ids = query_ids(query.as_deref(), "restaurantIds", MAX_RATINGS)?;
    let found = ids.iter().filter_map(|&id| data::rating(demo.seed(), id)).collect();
    Ok(public(max_age::CATALOG, answer_order(found, |r| r.restaurant_id)))
}
