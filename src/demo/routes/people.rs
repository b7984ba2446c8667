//! The per-user services, all 🔒 (`X-User-Id` must name the user): users (calls
//! 1–3 and the favourite changes 20–21), wallet (14) and loyalty (15). Orders
//! (calls 4 and 17–19) are in [`super::orders`].

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};

use crate::demo::Demo;
use crate::demo::access::require_user;
use crate::demo::batch::path_id;
use crate::demo::data;
use crate::demo::reply::{ApiError, Reply, no_content, private};
use crate::demo::store::MAX_FAVOURITES;
use crate::demo::wire::Favorites;

fn unknown_user() -> ApiError {
    ApiError::NotFound("unknown user".to_owned())
}

/// A path's `{id}`, or axum's reason it could not be read (answered as a JSON 400).
type IdPath = Result<Path<String>, PathRejection>;

/// A path's `{id}` and `{restaurantId}`.
type FavouritePath = Result<Path<(String, String)>, PathRejection>;

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

/// `/users/{id}`, `/users/{id}/addresses`, `/users/{id}/favorites`, and `PUT` /
/// `DELETE /users/{id}/favorites/{restaurantId}`.
pub(super) fn users() -> Router<Demo> {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/users/{id}/addresses", get(addresses))
        .route("/users/{id}/favorites", get(favorites))
        .route(
            "/users/{id}/favorites/{restaurantId}",
            put(add_favourite).delete(remove_favourite),
        )
}

async fn user(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::user(demo.seed(), id).map(private).ok_or_else(unknown_user)
}

async fn addresses(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    data::addresses(demo.seed(), id).map(private).ok_or_else(unknown_user)
}

/// Call 3: the generated favourites, or the list as calls 20–21 left it.
async fn favorites(State(demo): State<Demo>, id: IdPath, headers: HeaderMap) -> Reply {
    let id = path_caller(id, &headers)?;
    let generated = data::favorites(demo.seed(), id).ok_or_else(unknown_user)?;
    Ok(match demo.order_store().favourites(id) {
        Some(restaurant_ids) => private(Favorites { restaurant_ids }),
        None => private(generated),
    })
}

/// The caller, their favourites as generated, and the restaurant id of the path.
fn favourite_path(demo: &Demo, path: FavouritePath, headers: &HeaderMap) -> Result<(u64, Vec<u64>, u64), ApiError> {
    let Path((user, restaurant)) = path.map_err(|e| ApiError::bad(e.body_text()))?;
    let user = caller(&user, headers)?;
    let generated = data::favorites(demo.seed(), user).ok_or_else(unknown_user)?;
    Ok((user, generated.restaurant_ids, path_id(&restaurant)?))
}

/// Call 20: the restaurant goes first (already there: unchanged); 404 for an
/// unknown restaurant, 409 past 200 favourites.
async fn add_favourite(State(demo): State<Demo>, path: FavouritePath, headers: HeaderMap) -> Reply {
    let (user, generated, restaurant) = favourite_path(&demo, path, &headers)?;
    if data::restaurant(demo.seed(), restaurant).is_none() {
        return Err(ApiError::NotFound("unknown restaurant".to_owned()));
    }
    demo.order_store().edit_favourites(
        user,
        || generated,
        |list| {
            if list.contains(&restaurant) {
                Ok(())
            } else if list.len() >= MAX_FAVOURITES {
                Err(ApiError::Conflict(format!("at most {MAX_FAVOURITES} favourites")))
            } else {
                list.insert(0, restaurant);
                Ok(())
            }
        },
    )?;
    Ok(no_content())
}

/// Call 21: the restaurant is no favourite any more (204 also when it was none).
async fn remove_favourite(State(demo): State<Demo>, path: FavouritePath, headers: HeaderMap) -> Reply {
    let (user, generated, restaurant) = favourite_path(&demo, path, &headers)?;
    demo.order_store()
        .edit_favourites(user, || generated, |list| list.retain(|&r| r != restaurant));
    Ok(no_content())
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
