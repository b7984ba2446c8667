//! The per-user services, all 🔒 (`X-User-Id` must name the user): users (calls
//! 1–3), orders (4), wallet (14) and loyalty (15).

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;

use crate::demo::Demo;
use crate::demo::access::require_user;
use crate::demo::batch::{Params, path_id};
use crate::demo::data;
use crate::demo::reply::{ApiError, Reply, private};

/// Orders per page when `limit` is not given, and the most a page may hold.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;

fn unknown_user() -> ApiError {
    ApiError::NotFound("unknown user".to_owned())
}

/// A path's `{id}`, or axum's reason it could not be read (answered as a JSON 400).
type IdPath = Result<Path<String>, PathRejection>;

/// The user a private path names, once `X-User-Id` proves it is the caller.
fn path_caller(path: IdPath, headers: &HeaderMap) -> Result<u64, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::bad(e.body_text()))?;
    caller(&raw, headers)
}

/// The user a raw id names, once `X-User-Id` proves it is the caller.
fn caller(raw_id: &str, headers: &HeaderMap) -> Result<u64, ApiError> {
    let id = path_id(raw_id)?;
    require_user(headers, id)?;
    Ok(id)
}

/// `/users/{id}`, `/users/{id}/addresses`, `/users/{id}/favorites`.
pub(super) fn users() -> Router<Demo> {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/users/{id}/addresses", get(addresses))
        .route("/users/{id}/favorites", get(favorites))
}

async fn user(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::user(demo.seed(), id).map(private).ok_or_else(unknown_user)
}

async fn addresses(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::addresses(demo.seed(), id).map(private).ok_or_else(unknown_user)
}

async fn favorites(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::favorites(demo.seed(), id).map(private).ok_or_else(unknown_user)
}

/// `/orders?userId=&limit=&before=`.
pub(super) fn orders() -> Router<Demo> {
    Router::new().route("/orders", get(order_page))
}

async fn order_page(State(demo): State<Demo>, RawQuery(query): RawQuery, headers: HeaderMap) -> Reply {
    let params = Params::parse(query.as_deref());
    let user_id = caller(params.required("userId")?, &headers)?;
    let limit = params.number::<usize>("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let before = params.number::<u64>("before")?;
    if data::user(demo.seed(), user_id).is_none() {
        return Err(unknown_user());
    }
    Ok(private(data::orders_page(demo.seed(), user_id, limit, before)))
}

/// `/users/{id}/vouchers`.
pub(super) fn wallet() -> Router<Demo> {
    Router::new().route("/users/{id}/vouchers", get(vouchers))
}

async fn vouchers(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::vouchers(demo.seed(), id).map(private).ok_or_else(unknown_user)
}

/// `/members/{userId}`.
pub(super) fn loyalty() -> Router<Demo> {
    Router::new().route("/members/{userId}", get(member))
}

async fn member(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::loyalty(demo.seed(), id).map(private).ok_or_else(unknown_user)
}
