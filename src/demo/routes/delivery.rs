//! What ordering from a restaurant involves: logistics (call 10), pricing (11),
//! availability (12), promotions (13) and recommendations (16).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::max_age;
use crate::demo::Demo;
use crate::demo::access::require_user;
use crate::demo::batch::{Params, answer_order, distinct, query_ids};
use crate::demo::data;
use crate::demo::reply::{ApiError, Reply, private, public};
use crate::demo::wire::{EstimatesRequest, RankRequest};

/// Largest batches, per the contract.
const MAX_ESTIMATES: usize = 100;
const MAX_FEES: usize = 100;
const MAX_AVAILABILITY: usize = 100;
const MAX_PROMOTIONS: usize = 100;
const MAX_RANK: usize = 500;

/// A JSON body, or 400.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid body: {e}")))
}

/// `POST /estimates`.
pub(super) fn logistics() -> Router<Demo> {
    Router::new().route("/estimates", post(estimates))
}

async fn estimates(State(demo): State<Demo>, body: Bytes) -> Reply {
    let request: EstimatesRequest = json_body(&body)?;
    if !request.location.is_valid() {
        return Err(ApiError::bad("location must hold a valid lat and lng"));
    }
    let ids = distinct(&request.restaurant_ids, MAX_ESTIMATES)?;
    let at = request.location;
    let found = ids
        .iter()
        .filter_map(|&id| data::estimate(demo.seed(), at.lat, at.lng, id))
        .collect();
    Ok(public(max_age::ESTIMATES, answer_order(found, |e| e.restaurant_id)))
}

/// `GET /fees?areaId=&restaurantIds=`.
pub(super) fn pricing() -> Router<Demo> {
    Router::new().route("/fees", get(fees))
}

async fn fees(State(demo): State<Demo>, RawQuery(query): RawQuery) -> Reply {
    let area_id = Params::parse(query.as_deref()).required("areaId")?.to_owned();
    let ids = query_ids(query.as_deref(), "restaurantIds", MAX_FEES)?;
    if data::area_restaurants(demo.seed(), &area_id).is_none() {
        return Err(ApiError::NotFound(format!("unknown area {area_id:?}")));
    }
    let found = ids
        .iter()
        .filter_map(|&id| data::fees(demo.seed(), &area_id, id))
        .collect();
    Ok(public(max_age::CATALOG, answer_order(found, |f| f.restaurant_id)))
}

/// `GET /availability?restaurantIds=`.
pub(super) fn availability() -> Router<Demo> {
    Router::new().route("/availability", get(availability_batch))
}

async fn availability_batch(State(demo): State<Demo>, RawQuery(query): RawQuery) -> Reply {
    let ids = query_ids(query.as_deref(), "restaurantIds", MAX_AVAILABILITY)?;
    let found = ids
        .iter()
        .filter_map(|&id| data::availability(demo.seed(), id))
        .collect();
    Ok(public(max_age::AVAILABILITY, answer_order(found, |a| a.restaurant_id)))
}

/// `GET /promotions?restaurantIds=&userId=` (🔒 with `userId`).
pub(super) fn promotions() -> Router<Demo> {
    Router::new().route("/promotions", get(promotion_batch))
}

async fn promotion_batch(State(demo): State<Demo>, RawQuery(query): RawQuery, headers: HeaderMap) -> Reply {
    let ids = query_ids(query.as_deref(), "restaurantIds", MAX_PROMOTIONS)?;
    let user_id = Params::parse(query.as_deref()).number::<u64>("userId")?;
    if let Some(user_id) = user_id {
        require_user(&headers, user_id)?;
    }
    let found = ids
        .iter()
        .filter_map(|&id| data::promotions(demo.seed(), id, user_id))
        .collect();
    let answer = answer_order(found, |p| p.restaurant_id);
    Ok(match user_id {
        Some(_) => private(answer),
        None => public(max_age::CATALOG, answer),
    })
}

/// `POST /rank` (🔒).
pub(super) fn recommendations() -> Router<Demo> {
    Router::new().route("/rank", post(rank))
}

async fn rank(State(demo): State<Demo>, headers: HeaderMap, body: Bytes) -> Reply {
    let request: RankRequest = json_body(&body)?;
    require_user(&headers, request.user_id)?;
    let ids = distinct(&request.restaurant_ids, MAX_RANK)?;
    let recent = distinct(&request.recent_restaurant_ids, MAX_RANK)?;
    let ranked = data::rank(demo.seed(), request.user_id, &ids, &recent);
    Ok(private(answer_order(ranked, |r| r.restaurant_id)))
}
