//! The root of every mutation: favourites, placing and cancelling orders.
//!
//! Safe by construction:
//! - every mutation needs a token, and writes only for the token's user;
//! - expected failures (an unknown restaurant, a closed one, an order past
//!   `PLACED`, a reused idempotency key) are `userErrors` in the payload, not
//!   top-level errors;
//! - `placeOrder` and `cancelOrder` take the client's idempotency key and send
//!   it, unchanged, with every attempt (see `upstream/live.rs`): a retry after a
//!   lost answer gets the kept answer, never a second order;
//! - a payload reads the user's data afresh (a new [`Viewer`]): it shows the
//!   state after the write, never what the request had read before it;
//! - root fields run one after another (async-graphql's serial execution of
//!   mutations), and with `onError: HALT` none runs after an error.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::{
    error::{self, UpstreamResultExt},
    order::Order,
    scope::{RequestScope, Viewer},
    shape::OnError,
    user::{self, User},
};
use crate::upstream::{
    self, AddressId, MenuItemId, NewOrder, OrderId, Refusal, RestaurantId, Written, valid_idempotency_key,
};

/// What the app can change.
pub struct Mutation;

/// Why a mutation did not do what it was asked: an expected outcome the app
/// shows to the user, not a failure of the gateway.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum UserErrorCode {
    /// What the mutation names does not exist (or is not the user's).
    NotFound,
    /// An argument is malformed or not possible (a quantity out of range, a
    /// dish of another restaurant, an address outside the delivery area).
    InvalidInput,
    /// The restaurant is closed now.
    RestaurantClosed,
    /// The order is past `PLACED` (or was not placed through the app) and can
    /// no longer be cancelled.
    NotCancellable,
    /// The idempotency key was used before with a different request: use a new
    /// key for a new request.
    IdempotencyKeyReused,
    /// The user has as many favourites as allowed.
    LimitReached,
}

/// An expected failure of a mutation.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// The path of the argument at fault, from the mutation's arguments (e.g.
    /// `["input", "items", "0", "quantity"]`); null when no one argument is.
    pub field: Option<Vec<String>>,
    /// What went wrong, for people.
    pub message: String,
    /// What went wrong, for programs.
    pub code: UserErrorCode,
}

impl UserError {
    fn new(field: &[&str], message: impl Into<String>, code: UserErrorCode) -> Self {
        Self {
            field: (!field.is_empty()).then(|| field.iter().map(|s| (*s).to_owned()).collect()),
            message: message.into(),
            code,
        }
    }
}

/// What to order: where from, where to, and what.
#[derive(InputObject, Debug)]
pub struct PlaceOrderInput {
    /// The restaurant to order from; it must be open and deliver to the address.
    pub restaurant_id: ID,
    /// One of the user's addresses (`me.addresses`).
    pub address_id: ID,
    /// The lines of the order, 1 to 50; the same dish on two lines is two lines.
    pub items: Vec<OrderItemInput>,
}

/// A line of an order to place.
#[derive(InputObject, Debug)]
pub struct OrderItemInput {
    /// A dish of the restaurant's menu.
    pub menu_item_id: ID,
    /// How many, 1 to 20.
    pub quantity: i32,
}

/// What `placeOrder` did.
#[derive(SimpleObject)]
pub struct PlaceOrderPayload {
    /// The order placed (the same one again for a repeat with the same key);
    /// null when it was not placed.
    pub order: Option<Order>,
    /// Why it was not placed; empty when it was.
    pub user_errors: Vec<UserError>,
}

/// What `cancelOrder` did.
#[derive(SimpleObject)]
pub struct CancelOrderPayload {
    /// The order, cancelled; null when it was not cancelled.
    pub order: Option<Order>,
    /// Why it was not cancelled; empty when it was.
    pub user_errors: Vec<UserError>,
}

/// What `addFavorite` or `removeFavorite` did.
pub struct FavoritePayload {
    viewer: Arc<Viewer>,
    user_errors: Vec<UserError>,
}

/// What `addFavorite` or `removeFavorite` did.
#[Object]
impl FavoritePayload {
    /// The signed-in user as they are after the change: select
    /// `favorites { id }` to refresh a client's cache.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let profile = user::prefetch(ctx, &self.viewer).await?;
        Ok(profile.map(|p| User::new(self.viewer.clone(), p)))
    }

    /// Why nothing changed; empty when the change was made.
    async fn user_errors(&self) -> &[UserError] {
        &self.user_errors
    }
}

/// What the app can change. Every mutation needs `Authorization: Bearer <token>`
/// and changes only the signed-in user's data.
#[Object]
impl Mutation {
    /// Makes a restaurant one of the user's favourites (first in the list). A
    /// restaurant already there stays where it is.
    async fn add_favorite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The restaurant's id.")] restaurant_id: ID,
    ) -> async_graphql::Result<FavoritePayload> {
        favorite(ctx, restaurant_id, true).await
    }

    /// Removes a restaurant from the user's favourites (nothing to do when it is
    /// not one).
    async fn remove_favorite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The restaurant's id.")] restaurant_id: ID,
    ) -> async_graphql::Result<FavoritePayload> {
        favorite(ctx, restaurant_id, false).await
    }

    /// Places an order. Prices and the total come from the menu. Send the same
    /// `idempotencyKey` again to retry (after a lost answer, say): the answer is
    /// the same order, never a second one. A key used with a different input is
    /// an `IDEMPOTENCY_KEY_REUSED` user error.
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to order.")] input: PlaceOrderInput,
        #[graphql(desc = "A new key for each new order (1-64 of `A-Z a-z 0-9 _ -`), reused only to retry it.")]
        idempotency_key: String,
    ) -> async_graphql::Result<PlaceOrderPayload> {
        let viewer = begin(ctx)?;
        let refused = |e: UserError| PlaceOrderPayload {
            order: None,
            user_errors: vec![e],
        };
        if !valid_idempotency_key(&idempotency_key) {
            return Ok(refused(bad_key()));
        }
        let order = match new_order(&input) {
            Ok(order) => order,
            Err(e) => return Ok(refused(e)),
        };
        let upstreams = viewer.upstreams();
        match upstreams.place_order(viewer.id, &idempotency_key, &order).await.gql()? {
            Written::Done(placed) => Ok(PlaceOrderPayload {
                order: Some(Order::new(placed)),
                user_errors: Vec::new(),
            }),
            Written::Refused(refusal) => Ok(refused(place_refusal(upstreams, &order, refusal).await)),
        }
    }

    /// Cancels an order that is still `PLACED`. Send the same `idempotencyKey`
    /// again to retry; the answer is the same.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] id: ID,
        #[graphql(desc = "A new key for each new cancellation (1-64 of `A-Z a-z 0-9 _ -`), reused only to retry it.")]
        idempotency_key: String,
    ) -> async_graphql::Result<CancelOrderPayload> {
        let viewer = begin(ctx)?;
        let refused = |e: UserError| CancelOrderPayload {
            order: None,
            user_errors: vec![e],
        };
        if !valid_idempotency_key(&idempotency_key) {
            return Ok(refused(bad_key()));
        }
        let Some(id) = positive(&id) else {
            return Ok(refused(UserError::new(
                &["id"],
                "not an order id",
                UserErrorCode::NotFound,
            )));
        };
        let written = viewer
            .upstreams()
            .cancel_order(viewer.id, OrderId(id), &idempotency_key)
            .await
            .gql()?;
        Ok(match written {
            Written::Done(order) => CancelOrderPayload {
                order: Some(Order::new(order)),
                user_errors: Vec::new(),
            },
            Written::Refused(Refusal { status: 404, .. }) => refused(UserError::new(
                &["id"],
                "you have no order with this id",
                UserErrorCode::NotFound,
            )),
            Written::Refused(Refusal {
                status: 409, message, ..
            }) => refused(UserError::new(
                &["id"],
                if message.is_empty() {
                    "this order can no longer be cancelled".to_owned()
                } else {
                    message
                },
                UserErrorCode::NotCancellable,
            )),
            Written::Refused(refusal) => refused(UserError::new(&[], refusal.message, UserErrorCode::InvalidInput)),
        })
    }
}

/// The viewer of a mutation about to run; an error when signed out, or when an
/// earlier root field failed under `onError: HALT` (the answer is then that
/// first error; this field does not run).
fn begin(ctx: &Context<'_>) -> async_graphql::Result<Arc<Viewer>> {
    let halt = ctx.data_opt::<OnError>().is_some_and(|e| *e == OnError::Halt);
    let failed_before = halt && !ctx.query_env.errors.lock().map(|e| e.is_empty()).unwrap_or(false);
    if failed_before {
        return Err(error::coded(
            error::Code::Halted,
            "not run: an earlier field failed and the request asked for onError: HALT",
        ));
    }
    Ok(RequestScope::of(ctx).viewer()?.clone())
}

async fn favorite(ctx: &Context<'_>, restaurant: ID, add: bool) -> async_graphql::Result<FavoritePayload> {
    let viewer = begin(ctx)?;
    let Some(id) = positive(&restaurant) else {
        return Ok(FavoritePayload {
            viewer,
            user_errors: vec![UserError::new(
                &["restaurantId"],
                "not a restaurant id",
                UserErrorCode::NotFound,
            )],
        });
    };
    let written = viewer
        .upstreams()
        .set_favorite(viewer.id, RestaurantId(id), add)
        .await
        .gql()?;
    let user_errors = match written {
        Written::Done(()) => Vec::new(),
        Written::Refused(Refusal {
            status: 409, message, ..
        }) => {
            vec![UserError::new(&["restaurantId"], message, UserErrorCode::LimitReached)]
        }
        Written::Refused(_) => vec![UserError::new(
            &["restaurantId"],
            "there is no restaurant with this id",
            UserErrorCode::NotFound,
        )],
    };
    // The payload reads the user afresh: it shows the favourites after the write.
    Ok(FavoritePayload {
        viewer: Arc::new(viewer.fresh()),
        user_errors,
    })
}

fn positive(id: &ID) -> Option<u64> {
    id.parse::<u64>().ok().filter(|n| *n > 0)
}

fn bad_key() -> UserError {
    UserError::new(
        &["idempotencyKey"],
        "an idempotency key is 1 to 64 of A-Z, a-z, 0-9, `_` and `-`",
        UserErrorCode::InvalidInput,
    )
}

/// The write call's body, or a user error naming the argument that is not an id.
fn new_order(input: &PlaceOrderInput) -> Result<NewOrder, UserError> {
    let not_an_id = |path: &[&str]| UserError::new(path, "not an id", UserErrorCode::InvalidInput);
    let restaurant_id = positive(&input.restaurant_id).ok_or_else(|| not_an_id(&["input", "restaurantId"]))?;
    let address_id = positive(&input.address_id).ok_or_else(|| not_an_id(&["input", "addressId"]))?;
    let mut items = Vec::with_capacity(input.items.len());
    for (i, line) in input.items.iter().enumerate() {
        let index = i.to_string();
        let id = positive(&line.menu_item_id).ok_or_else(|| not_an_id(&["input", "items", &index, "menuItemId"]))?;
        items.push((MenuItemId(id), i64::from(line.quantity)));
    }
    Ok(NewOrder {
        restaurant_id: RestaurantId(restaurant_id),
        address_id: AddressId(address_id),
        items,
    })
}

/// The user error for call 18's refusal.
async fn place_refusal(upstreams: &upstream::Upstreams, order: &NewOrder, refusal: Refusal) -> UserError {
    let Refusal { status, message, field } = refusal;
    if status == 409 {
        return UserError::new(
            &["idempotencyKey"],
            "this idempotency key was used with a different order: use a new key for a new order",
            UserErrorCode::IdempotencyKeyReused,
        );
    }
    let path = field.as_deref().map(input_path).unwrap_or_default();
    let path_refs: Vec<&str> = path.iter().map(String::as_str).collect();
    let code = match (status, field.as_deref()) {
        (404, _) => UserErrorCode::NotFound,
        // Unknown, or closed now (call 12 tells which).
        (422, Some("restaurantId")) => {
            let open = upstreams
                .availability(&[order.restaurant_id])
                .await
                .into_result()
                .ok()
                .and_then(|found| found.first().map(|a| a.open));
            match open {
                Some(false) => UserErrorCode::RestaurantClosed,
                Some(true) => UserErrorCode::InvalidInput,
                None => UserErrorCode::NotFound,
            }
        }
        _ => UserErrorCode::InvalidInput,
    };
    UserError::new(&path_refs, message, code)
}

/// The contract's `field` (`items[0].quantity`) as a path from the mutation's
/// arguments (`["input", "items", "0", "quantity"]`).
fn input_path(field: &str) -> Vec<String> {
    let mut path = vec!["input".to_owned()];
    for part in field.split('.') {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next().filter(|n| !n.is_empty()) {
            path.push(name.to_owned());
        }
        for index in pieces {
            path.push(index.trim_end_matches(']').to_owned());
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_field_becomes_a_path_from_the_arguments() {
        assert_eq!(input_path("items[0].quantity"), ["input", "items", "0", "quantity"]);
        assert_eq!(input_path("restaurantId"), ["input", "restaurantId"]);
        assert_eq!(input_path("items"), ["input", "items"]);
    }
}
