//! The scenario's users, their tokens and their orders: users who can order (an
//! open restaurant delivers to their first address), found with the demo's data
//! functions as the tests find them; tokens minted as the tests and the `token`
//! command mint them; orders placed with call 18 straight on the demo.

use std::path::Path;

use anyhow::{Context as _, ensure};
use delivery_gateway::{
    auth::Authenticator,
    config::{self, Config},
    demo::{
        data::{self, DEFAULT_SEED as SEED},
        wire::{Order, PlaceOrderLine, PlaceOrderRequest},
    },
    upstream::UserId,
};
use futures_util::{StreamExt as _, stream};

use super::clock::unix_ms;

/// Orders placed at once.
const PLACING_CONCURRENCY: usize = 32;

/// A user who can order, and what they order.
pub struct User {
    /// The user's id.
    id: u64,
    /// An open restaurant that delivers to `address`.
    restaurant: u64,
    /// The user's first address.
    address: u64,
    /// A dish of `restaurant`.
    dish: u64,
}

/// An order placed through call 18.
#[derive(Clone, Copy)]
pub struct Placed {
    /// Its id.
    pub id: u64,
    /// Its `placedAt`, demo clock, Unix milliseconds.
    pub placed_ms: i64,
}

/// The first `count` users (by id) who can order.
pub fn users(count: usize) -> anyhow::Result<Vec<User>> {
    let users: Vec<User> = (1..=data::USER_COUNT).filter_map(can_order).take(count).collect();
    ensure!(users.len() == count, "only {} demo users can order", users.len());
    Ok(users)
}

/// What `user` can order, if anything.
fn can_order(user: u64) -> Option<User> {
    let address = data::addresses(SEED, user)?.into_iter().next()?;
    let area = data::area_lookup(SEED, address.location.lat, address.location.lng)?;
    let restaurant = data::area_restaurants(SEED, &area.area_id)?
        .into_iter()
        .map(|r| r.restaurant_id)
        .find(|&r| data::availability(SEED, r).is_some_and(|a| a.open))?;
    let dish = data::menu(SEED, restaurant)?
        .categories
        .into_iter()
        .flat_map(|c| c.items)
        .next()?
        .id;
    Some(User {
        id: user,
        restaurant,
        address: address.id,
        dish,
    })
}

/// A token for each of `users` that the gateway configured by `config_file` (and
/// this process's `GATEWAY_*` variables, which the gateway inherits) accepts.
pub fn tokens(config_file: &Path, users: &[User]) -> anyhow::Result<Vec<String>> {
    let loaded =
        Config::read(Some(config_file), config::process_env()).context("reading the gateway's configuration")?;
    let auth = Authenticator::new(&loaded.config.auth);
    ensure!(
        auth.can_mint(),
        "the gateway's auth.algorithm verifies with a public key: the benchmark cannot mint tokens"
    );
    Ok(users.iter().map(|u| auth.mint(UserId(u.id))).collect())
}

/// Places `per_user` orders for each of `users` on the demo at `demo_url`; the
/// orders of each user, in the order of `users`.
pub async fn place(
    client: &reqwest::Client,
    demo_url: &str,
    users: &[User],
    per_user: usize,
) -> anyhow::Result<Vec<Vec<Placed>>> {
    let url = format!("{demo_url}/orders/orders");
    let calls = users
        .iter()
        .enumerate()
        .flat_map(|(i, user)| (0..per_user).map(move |k| (i, user, k)))
        .map(|(i, user, k)| {
            let (client, url) = (client.clone(), url.clone());
            async move { (i, place_one(&client, &url, user, k).await) }
        });
    let mut placed = vec![Vec::with_capacity(per_user); users.len()];
    let mut answers = stream::iter(calls).buffer_unordered(PLACING_CONCURRENCY);
    while let Some((i, order)) = answers.next().await {
        placed[i].push(order?);
    }
    Ok(placed)
}

/// Places order `k` of `user` (one dish) with call 18 at `url`.
async fn place_one(client: &reqwest::Client, url: &str, user: &User, k: usize) -> anyhow::Result<Placed> {
    let body = PlaceOrderRequest {
        user_id: user.id,
        restaurant_id: user.restaurant,
        address_id: user.address,
        items: vec![PlaceOrderLine {
            menu_item_id: user.dish,
            quantity: 1,
        }],
    };
    let response = client
        .post(url)
        .header("x-user-id", user.id.to_string())
        .header("idempotency-key", format!("bench-{}-{k}", user.id))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body)?)
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    ensure!(
        status == reqwest::StatusCode::CREATED,
        "placing an order for user {} answered {status}: {}",
        user.id,
        String::from_utf8_lossy(&bytes)
    );
    let order: Order = serde_json::from_slice(&bytes).context("reading call 18's answer")?;
    let placed_ms = unix_ms(&order.placed_at).with_context(|| format!("placedAt {:?}", order.placed_at))?;
    Ok(Placed {
        id: order.id,
        placed_ms,
    })
}
